//! JSON written as Go's `encoding/json` writes it: compact, and `<`, `>`, `&`, U+2028 and U+2029
//! inside strings as `\u003c` etc. Upstream's userdata came out of `json.Marshal`, so this keeps it
//! byte-identical, and it guarantees that no raw `<<PLACEHOLDER>>` appears anywhere in the
//! userdata: machine-controller-manager replaces the raw form *instead of* the escaped one when
//! it finds it, so a raw occurrence (say in a unit's text) would leave the files' placeholders
//! unreplaced.

use std::io;

use serde::Serialize;
use serde_json::ser::{Formatter, Serializer};

struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        // Most text (all data URLs) has none of these; a branch-free scan finds that fast.
        let special = bytes
            .iter()
            .fold(false, |any, b| any | matches!(b, b'<' | b'>' | b'&' | 0xE2));
        if !special {
            return writer.write_all(bytes);
        }
        let mut start = 0;
        let mut i = 0;
        while i < bytes.len() {
            let (escape, len) = match bytes[i] {
                b'<' => ("\\u003c", 1),
                b'>' => ("\\u003e", 1),
                b'&' => ("\\u0026", 1),
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9 in UTF-8.
                0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA8) => {
                    ("\\u2028", 3)
                }
                0xE2 if bytes.get(i + 1) == Some(&0x80) && bytes.get(i + 2) == Some(&0xA9) => {
                    ("\\u2029", 3)
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            writer.write_all(&bytes[start..i])?;
            writer.write_all(escape.as_bytes())?;
            i += len;
            start = i;
        }
        writer.write_all(&bytes[start..])
    }
}

pub(super) fn to_string<T: Serialize>(value: &T) -> String {
    let mut out = Vec::new();
    value
        .serialize(&mut Serializer::with_formatter(&mut out, GoFormatter))
        .expect("the Ignition types have string keys only, so serializing cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn html_sensitive_characters_are_escaped_as_go_does() {
        let text = to_string(&json!({"a": "<<X>> & \u{2028}\u{2029} é \"q\"\n"}));
        assert_eq!(
            text,
            r#"{"a":"\u003c\u003cX\u003e\u003e \u0026 \u2028\u2029 é \"q\"\n"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["a"], "<<X>> & \u{2028}\u{2029} é \"q\"\n");
    }
}
