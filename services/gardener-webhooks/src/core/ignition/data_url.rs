//! `data:` URLs for Ignition file contents, byte for byte as the Container Linux Config
//! transpiler wrote them for upstream: `data:,` and the content with every byte outside RFC 2396's
//! unreserved set (`A-Z a-z 0-9 - _ . ! ~ * ' ( )`) as `%XX`, upper-case hex.
//!
//! For the placeholders machine-controller-manager replaces this is exactly Go's
//! `url.QueryEscape` form (`<<BOOTSTRAP_TOKEN>>` → `%3C%3CBOOTSTRAP_TOKEN%3E%3E`), the form MCM
//! looks for in Ignition userdata.

const PREFIX: &str = "data:,";

/// RFC 2396's unreserved characters, the bytes that stay literal.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8, b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9'
            | b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')');
        b += 1;
    }
    table
};

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Table-driven rather than through `percent_encoding`'s per-run chunks: userdata of hundreds of
/// large files spends most of its time here.
pub(super) fn encode(data: &[u8]) -> String {
    let escaped = data
        .iter()
        .filter(|b| !UNRESERVED[usize::from(**b)])
        .count();
    let mut url = vec![0; PREFIX.len() + data.len() + 2 * escaped];
    url[..PREFIX.len()].copy_from_slice(PREFIX.as_bytes());
    let mut at = PREFIX.len();
    for &b in data {
        if UNRESERVED[usize::from(b)] {
            url[at] = b;
            at += 1;
        } else {
            url[at..at + 3].copy_from_slice(&[
                b'%',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xF)],
            ]);
            at += 3;
        }
    }
    String::from_utf8(url).expect("a data URL is ASCII")
}

/// Decodes a `data:,` URL the way Ignition does (vincent-petithory/dataurl): only `%XX` is
/// special, `+` stays `+`, anything outside ASCII is an error.
#[cfg(test)]
pub(super) fn decode(url: &str) -> Result<Vec<u8>, String> {
    let escaped = url
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("{url:?} is not a plain data URL"))?;
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("bad escape at {i} in {url:?}"))?;
                out.push(hex);
                i += 3;
            }
            b if b.is_ascii() => {
                out.push(b);
                i += 1;
            }
            _ => return Err(format!("non-ASCII byte at {i} in {url:?}")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_come_out_in_gos_query_escape_form() {
        // url.QueryEscape("<<BOOTSTRAP_TOKEN>>") and url.QueryEscape("<<MACHINE_NAME>>") in Go.
        assert_eq!(
            encode(b"<<BOOTSTRAP_TOKEN>>"),
            "data:,%3C%3CBOOTSTRAP_TOKEN%3E%3E"
        );
        assert_eq!(
            encode(b"<<MACHINE_NAME>>"),
            "data:,%3C%3CMACHINE_NAME%3E%3E"
        );
    }

    #[test]
    fn only_rfc2396_unreserved_characters_stay_literal() {
        assert_eq!(encode(b""), "data:,");
        assert_eq!(
            encode(b"aZ09-_.!~*'()"),
            "data:,aZ09-_.!~*'()",
            "unreserved"
        );
        assert_eq!(
            encode(b" +/:;=?&#%\"\n"),
            "data:,%20%2B%2F%3A%3B%3D%3F%26%23%25%22%0A"
        );
        assert_eq!(encode("ä".as_bytes()), "data:,%C3%A4");
        assert_eq!(encode(&[0x00, 0xff]), "data:,%00%FF");
    }

    #[test]
    fn the_table_escapes_what_percent_encoding_with_the_rfc2396_set_escapes() {
        use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};
        const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'!')
            .remove(b'~')
            .remove(b'*')
            .remove(b'\'')
            .remove(b'(')
            .remove(b')');
        let data: Vec<u8> = (0..=255).collect();
        assert_eq!(
            encode(&data),
            format!("data:,{}", percent_encode(&data, RESERVED))
        );
    }

    #[test]
    fn decoding_inverts_encoding() {
        let data: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&data)).unwrap(), data);
        assert_eq!(decode("data:,a+b").unwrap(), b"a+b");
        assert!(decode("data:,%4").is_err());
        assert!(decode("data:;base64,AA==").is_err());
    }
}
