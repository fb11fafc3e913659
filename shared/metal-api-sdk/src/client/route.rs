//! URLs: the configured base (which carries the deployment's base path, e.g. `/metal`) plus
//! `/v1/…` with percent-encoded segments.

use reqwest::Url;

use super::Error;

/// The API root without a trailing slash, so `/v1/…` paths can be appended.
pub(super) fn base(url: &str) -> Result<String, Error> {
    let parsed = Url::parse(url).map_err(|e| Error::Config(format!("url {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::Config(format!(
            "url {url:?}: scheme must be http or https"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::Config(format!(
            "url {url:?}: query and fragment are not allowed"
        )));
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

/// `/v1/` followed by the segments, each percent-encoded.
pub(super) fn path(segments: &[&str]) -> String {
    segments
        .iter()
        .fold(String::from("/v1"), |mut path, segment| {
            path.push('/');
            encode_segment(segment, &mut path);
            path
        })
}

/// Keeps RFC 3986 unreserved characters and ':' (IPv6 addresses are path segments here).
fn encode_segment(segment: &str, out: &mut String) {
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(base_url: &str, segments: &[&str]) -> String {
        base(base_url).unwrap() + &path(segments)
    }

    #[test]
    fn joins_without_base_path() {
        assert_eq!(
            url("http://127.0.0.1:8080", &["ip"]),
            "http://127.0.0.1:8080/v1/ip"
        );
        assert_eq!(
            url("http://127.0.0.1:8080/", &["ip"]),
            "http://127.0.0.1:8080/v1/ip"
        );
    }

    #[test]
    fn keeps_base_path_with_or_without_trailing_slash() {
        let expected = "https://api.example/metal/v1/ip/find";
        assert_eq!(url("https://api.example/metal", &["ip", "find"]), expected);
        assert_eq!(url("https://api.example/metal/", &["ip", "find"]), expected);
        assert_eq!(
            url("https://api.example/metal//", &["ip", "find"]),
            expected
        );
    }

    #[test]
    fn encodes_segments_but_keeps_ipv6_colons() {
        assert_eq!(path(&["ip", "2001:db8::1"]), "/v1/ip/2001:db8::1");
        assert_eq!(path(&["ip", "10.0.0.1"]), "/v1/ip/10.0.0.1");
        assert_eq!(
            path(&["machine", "a b/c%?#", "free"]),
            "/v1/machine/a%20b%2Fc%25%3F%23/free"
        );
        assert_eq!(
            path(&["image", "ubuntu-24.04_x~y"]),
            "/v1/image/ubuntu-24.04_x~y"
        );
        assert_eq!(path(&["size", "ü"]), "/v1/size/%C3%BC");
    }

    #[test]
    fn rejects_unusable_base_urls() {
        for bad in [
            "",
            "not a url",
            "ftp://host/metal",
            "http://host/metal?x=1",
            "http://host/#f",
        ] {
            assert!(matches!(base(bad), Err(Error::Config(_))), "{bad:?}");
        }
    }
}
