//! What a file of the OSC holds: inline data decoded by its encoding, the bytes of a Secret's key,
//! or an image to copy it from. A Secret or key that is missing is an error, never an empty file.

use std::borrow::Cow;

use base64::Engine;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

use super::osc::{File, ImageRef};
use super::{RenderError, Secrets};

/// Go's `base64.StdEncoding` (Gardener's `b64` codec, and how the API serves Secret data): padding
/// required, non-zero trailing bits tolerated.
const GO_STD: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
);

pub(super) enum Content<'a> {
    Bytes(Cow<'a, [u8]>),
    Image(&'a ImageRef),
}

pub(super) fn resolve<'a>(
    file: &'a File<'_>,
    secrets: &'a Secrets,
) -> Result<Content<'a>, RenderError> {
    let path = || file.path.to_string();
    let content = &file.content;
    let set = [
        content.inline.is_some(),
        content.secret_ref.is_some(),
        content.image_ref.is_some(),
    ];
    match set.iter().filter(|s| **s).count() {
        0 => return Err(RenderError::NoContent { path: path() }),
        1 => {}
        _ => return Err(RenderError::AmbiguousContent { path: path() }),
    }
    if let Some(inline) = &content.inline {
        return match inline.encoding.as_ref() {
            "" => Ok(Content::Bytes(Cow::Borrowed(inline.data.as_bytes()))),
            "b64" => decode_base64(&inline.data)
                .map(|bytes| Content::Bytes(Cow::Owned(bytes)))
                .map_err(|reason| RenderError::InlineBase64 {
                    path: path(),
                    reason,
                }),
            other => Err(RenderError::UnknownEncoding {
                path: path(),
                encoding: other.to_owned(),
            }),
        };
    }
    if let Some(image) = &content.image_ref {
        return Ok(Content::Image(image));
    }
    let reference = content
        .secret_ref
        .as_ref()
        .expect("exactly one content is set");
    let secret = secrets
        .get(&reference.name)
        .ok_or_else(|| RenderError::MissingSecret {
            path: path(),
            secret: reference.name.clone(),
        })?;
    let value = secret
        .get(&reference.data_key)
        .ok_or_else(|| RenderError::MissingSecretKey {
            path: path(),
            secret: reference.name.clone(),
            key: reference.data_key.clone(),
        })?;
    let secret_error = |reason: String| RenderError::SecretData {
        path: path(),
        secret: reference.name.clone(),
        key: reference.data_key.clone(),
        reason,
    };
    let Value::String(encoded) = value else {
        return Err(secret_error(format!("found {value}")));
    };
    decode_base64(encoded)
        .map(|bytes| Content::Bytes(Cow::Owned(bytes)))
        .map_err(secret_error)
}

/// Like Go's decoder, line breaks inside the data are skipped.
fn decode_base64(data: &str) -> Result<Vec<u8>, String> {
    let data: Cow<str> = if data.contains(['\r', '\n']) {
        Cow::Owned(data.chars().filter(|c| !matches!(c, '\r' | '\n')).collect())
    } else {
        Cow::Borrowed(data)
    };
    GO_STD.decode(data.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_decoded_as_gos_std_encoding() {
        assert_eq!(decode_base64("YmFy").unwrap(), b"bar");
        assert_eq!(decode_base64("YmFy\nYmFy\r\n").unwrap(), b"barbar");
        assert_eq!(decode_base64("").unwrap(), b"");
        // Go accepts non-zero trailing bits ("YR==" decodes to "a").
        assert_eq!(decode_base64("YR==").unwrap(), b"a");
        assert!(decode_base64("YmE").is_err(), "padding is required");
        assert!(decode_base64("Ym!y").is_err());
    }
}
