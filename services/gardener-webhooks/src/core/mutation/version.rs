//! Kubernetes versions as upstream reads them (Masterminds' `semver.NewVersion`, which is
//! lenient: a leading `v`, a missing minor or patch, a pre-release and build metadata pass).

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl Version {
    /// Whether the version is below `major.minor` whatever its patch and pre-release, as
    /// Gardener's `< 1.31-0` constraints are.
    pub fn below(self, major: u64, minor: u64) -> bool {
        (self.major, self.minor) < (major, minor)
    }
}

fn identifiers_ok(s: &str) -> bool {
    s.split('.')
        .all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn number(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

pub fn parse(text: &str) -> Result<Version, String> {
    let invalid = || format!("{text:?}: Invalid Semantic Version");
    let s = text.strip_prefix('v').unwrap_or(text);
    let (s, build) = match s.split_once('+') {
        Some((s, build)) => (s, Some(build)),
        None => (s, None),
    };
    let (core, pre) = match s.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (s, None),
    };
    if build.is_some_and(|b| !identifiers_ok(b)) || pre.is_some_and(|p| !identifiers_ok(p)) {
        return Err(invalid());
    }
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() > 3 {
        return Err(invalid());
    }
    let mut numbers = [0u64; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        *slot = number(part).ok_or_else(invalid)?;
    }
    let [major, minor, patch] = numbers;
    Ok(Version {
        major,
        minor,
        patch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_leniently() {
        let v = |major, minor, patch| Version {
            major,
            minor,
            patch,
        };
        for (text, want) in [
            ("1.30.4", v(1, 30, 4)),
            ("v1.31.0", v(1, 31, 0)),
            ("1.30", v(1, 30, 0)),
            ("1.31.0-rc.1+build.5", v(1, 31, 0)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
        for text in ["", "x", "1.2.3.4", "1..2", "1.2.3-", "1.2.3-a..b"] {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn below_ignores_patch_and_pre_release() {
        // Gardener's own cases for `ConstraintK8sLess131` (pkg/utils/version/version_test.go).
        assert!(parse("1.30.1").unwrap().below(1, 31));
        assert!(!parse("1.31.0").unwrap().below(1, 31));
        assert!(parse("v1.30.1-foo.12").unwrap().below(1, 31));
        assert!(!parse("v1.31.0-foo.12").unwrap().below(1, 31));
    }
}
