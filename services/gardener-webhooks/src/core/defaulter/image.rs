//! The latest firewall image of a control plane (upstream's `getLatestImage`).

use std::cmp::Reverse;

/// A version as Masterminds' `semver.NewVersion` reads it leniently: an optional `v`, a major and
/// optional minor and patch (missing ones are 0, leading zeros allowed) and optional build
/// metadata, which does not take part in comparisons. A pre-release cannot occur: the name was
/// split on its last `-`.
fn lenient_version(text: &str) -> Option<(u64, u64, u64)> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (core, build) = match text.split_once('+') {
        Some((core, build)) => (core, Some(build)),
        None => (text, None),
    };
    if build.is_some_and(|b| !is_dotted_identifiers(b)) {
        return None;
    }
    let mut numbers = [0u64; 3];
    let mut parts = core.split('.');
    for (i, part) in parts.by_ref().take(3).enumerate() {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        numbers[i] = part.parse().ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some((numbers[0], numbers[1], numbers[2]))
}

/// Build metadata: dot-separated, non-empty runs of `[0-9A-Za-z-]`.
fn is_dotted_identifiers(text: &str) -> bool {
    text.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

/// `firewall-ubuntu-3.0.20240101` → (`firewall-ubuntu`, 3.0.20240101): split on the last `-`.
fn os_and_version(image: &str) -> Option<(&str, (u64, u64, u64))> {
    let (os, version) = image.rsplit_once('-')?;
    Some((os, lenient_version(version)?))
}

/// The latest image: by OS prefix ascending (byte order), within one OS by version descending;
/// equal versions by name, so the result never depends on the order of the list. Upstream's
/// comparator calls an unparsable name "not less" than anything, which makes its result depend
/// on the order; here unparsable names only count when no name parses, and then the first
/// listed is taken.
pub fn latest_image(images: &[String]) -> Option<&str> {
    let parsable = images.iter().filter_map(|image| {
        os_and_version(image).map(|(os, version)| (os, Reverse(version), image.as_str()))
    });
    parsable
        .min()
        .map(|(_, _, image)| image)
        .or_else(|| images.first().map(String::as_str))
}

#[cfg(test)]
pub(super) mod tests;
