//! The pod-template annotation `checksum/secret-cloudprovider` that rolls the control plane when
//! the credentials change: Gardener's `ComputeChecksum` of the Secret's data, the SHA-256 hex of
//! Go's `json.Marshal` of a `map[string][]byte` (keys sorted, values base64, `null` when empty).

use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

pub const SECRET_NAME: &str = "cloudprovider";
pub const ANNOTATION: &str = "checksum/secret-cloudprovider";

/// The checksum of a Secret's `data` as the API serves it: base64 values, which are exactly
/// what Go's marshalling of the decoded bytes prints again.
pub fn secret_data(data: &Map<String, Value>) -> String {
    hex::encode(Sha256::digest(go_json(data).as_bytes()))
}

/// Go's JSON of the data map. An empty map is `null`: the API omits empty `data`, so the Go
/// client sees a nil map.
fn go_json(data: &Map<String, Value>) -> String {
    if data.is_empty() {
        return "null".to_string();
    }
    let mut entries: Vec<(&String, &str)> = data
        .iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default()))
        .collect();
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::from("{");
    for (i, (key, value)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        go_quote(key, &mut out);
        out.push(':');
        go_quote(value, &mut out);
    }
    out.push('}');
    out
}

/// A JSON string as Go's encoder writes it: HTML-safe (`<`, `>`, `&` escaped) and with U+2028
/// and U+2029 escaped, which `serde_json` does not do.
fn go_quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_checksum_hashes_gos_json_of_the_sorted_data() {
        let data = json!({"metalAPIURL": "aHR0cA==", "metalAPIHMac": "aw=="});
        let data = data.as_object().unwrap();
        assert_eq!(
            go_json(data),
            r#"{"metalAPIHMac":"aw==","metalAPIURL":"aHR0cA=="}"#
        );
        // `sha256sum` of that text.
        assert_eq!(
            secret_data(data),
            "2e98f8a884d5c5afda68f93545a097fb3de282f09525d1bca3afe9b188065e05"
        );
    }

    #[test]
    fn empty_data_hashes_as_null() {
        assert_eq!(
            secret_data(&Map::new()),
            "74234e98afe7498fb5daf1f36ac2d78acc339464f950703b8c019892f982b90b"
        );
    }

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        let mut out = String::new();
        go_quote("a<b>&\"\\\n\u{1}\u{2028}", &mut out);
        assert_eq!(out, r#""a\u003cb\u003e\u0026\"\\\n\u0001\u2028""#);
    }
}
