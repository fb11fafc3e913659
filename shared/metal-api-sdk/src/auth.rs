//! metal-api's HMAC scheme (metal-stack/security `mac.go`), shared by the client, which signs,
//! and the embedded server, which verifies.
//!
//! A request carries `X-Date`, `X-Data-Salt` and `Authorization: <type> <hex mac>`, where the
//! MAC covers date ‖ method ‖ salt. Neither path nor body is signed: the MAC only proves that
//! the caller knows the key and signed recently, so the transport must be TLS.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

pub const HEADER_DATE: &str = "X-Date";
pub const HEADER_SALT: &str = "X-Data-Salt";

const SALT_LEN: usize = 24;
const SALT_LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// The HMAC user types; each has its own key and permission group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HmacKind {
    View,
    Edit,
    Admin,
}

impl HmacKind {
    /// The type as sent in the `Authorization` header.
    pub fn as_str(self) -> &'static str {
        match self {
            HmacKind::View => "Metal-View",
            HmacKind::Edit => "Metal-Edit",
            HmacKind::Admin => "Metal-Admin",
        }
    }

    /// The inverse of [`HmacKind::as_str`]; case-sensitive like upstream.
    pub fn parse(s: &str) -> Option<Self> {
        [HmacKind::View, HmacKind::Edit, HmacKind::Admin]
            .into_iter()
            .find(|kind| kind.as_str() == s)
    }

    /// Whether a user of this kind is in the group `required`: Admin ⊇ Edit ⊇ View.
    pub fn allows(self, required: HmacKind) -> bool {
        self.level() >= required.level()
    }

    fn level(self) -> u8 {
        match self {
            HmacKind::View => 0,
            HmacKind::Edit => 1,
            HmacKind::Admin => 2,
        }
    }
}

/// The three header values that authenticate one request.
#[derive(Debug, Clone)]
pub struct HmacHeaders {
    pub date: String,
    pub salt: String,
    pub authorization: String,
}

/// 24 random ASCII letters [a-zA-Z].
pub fn new_salt() -> String {
    (0..SALT_LEN)
        .map(|_| char::from(SALT_LETTERS[rand::random_range(0..SALT_LETTERS.len())]))
        .collect()
}

/// hex(HMAC-SHA256(key, date ‖ METHOD ‖ salt)), no separators, METHOD upper-cased.
pub fn mac(key: &[u8], date: &str, method: &str, salt: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(date.as_bytes());
    mac.update(method.to_ascii_uppercase().as_bytes());
    mac.update(salt.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Headers for one request at `now` (date formatted RFC3339 UTC, second precision, "Z" suffix,
/// e.g. 2026-01-02T03:04:05Z).
pub fn sign(kind: HmacKind, key: &[u8], method: &str, now: DateTime<Utc>) -> HmacHeaders {
    let date = format_date(now);
    let salt = new_salt();
    let authorization = format!("{} {}", kind.as_str(), mac(key, &date, method, &salt));
    HmacHeaders {
        date,
        salt,
        authorization,
    }
}

/// Go's `time.RFC3339` layout for a UTC time, which is what upstream signs and re-signs.
fn format_date(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Why credentials that were present did not authenticate (the server answers 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {HEADER_DATE} header is missing")]
    MissingDate,
    #[error("the {HEADER_DATE} header {0:?} is not an RFC 3339 timestamp")]
    BadDate(String),
    #[error(
        "the {HEADER_DATE} timestamp is {age_secs}s old, beyond the allowed lifetime; check time synchronization"
    )]
    Expired { age_secs: i64 },
    #[error("wrong HMAC")]
    BadSignature,
    #[error("malformed Authorization header, expected \"<type> <hmac>\"")]
    MalformedAuthorization,
}

/// The server side: keys per kind (a kind without a configured key never authenticates),
/// lifetime (`Duration::ZERO` = no check).
#[derive(Clone)]
pub struct HmacVerifier {
    keys: HashMap<HmacKind, Vec<u8>>,
    lifetime: Duration,
}

impl HmacVerifier {
    /// Empty keys count as not configured: otherwise anyone could sign with the empty key.
    pub fn new(keys: impl IntoIterator<Item = (HmacKind, Vec<u8>)>, lifetime: Duration) -> Self {
        let keys = keys
            .into_iter()
            .filter(|(_, key)| !key.is_empty())
            .collect();
        HmacVerifier { keys, lifetime }
    }

    /// Checks the `Authorization`, `X-Date` and `X-Data-Salt` header values of a request.
    ///
    /// `Ok(None)`: no HMAC credentials (header missing, not a `Metal-*` type, or a type without
    /// a configured key); like upstream the caller falls through to anonymous.
    /// `Ok(Some(kind))`: authenticated as `kind`.
    /// `Err`: credentials present but wrong (bad MAC, expired or unparsable date, malformed header).
    pub fn verify(
        &self,
        authorization: Option<&str>,
        date: Option<&str>,
        salt: Option<&str>,
        method: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<HmacKind>, VerifyError> {
        let Some(authorization) = authorization else {
            return Ok(None);
        };
        // Upstream splits at single spaces and wants exactly "<type> <mac>".
        let mut parts = authorization.split(' ');
        let Some(kind) = parts.next().and_then(|t| HmacKind::parse(t.trim())) else {
            return Ok(None);
        };
        let Some(key) = self.keys.get(&kind) else {
            return Ok(None);
        };
        let (Some(given), None) = (parts.next(), parts.next()) else {
            return Err(VerifyError::MalformedAuthorization);
        };

        let date = date.ok_or(VerifyError::MissingDate)?;
        let signed_at = DateTime::parse_from_rfc3339(date)
            .map_err(|_| VerifyError::BadDate(date.to_owned()))?
            .with_timezone(&Utc);
        if !self.lifetime.is_zero() {
            let lifetime = TimeDelta::from_std(self.lifetime).unwrap_or(TimeDelta::MAX);
            let age = now - signed_at;
            if age > lifetime {
                return Err(VerifyError::Expired {
                    age_secs: age.num_seconds(),
                });
            }
        }

        // Upstream recomputes over the re-formatted parsed date, not the raw header text.
        let expected = mac(
            key,
            &format_date(signed_at),
            method,
            salt.unwrap_or_default(),
        );
        if bool::from(expected.as_bytes().ct_eq(given.trim().as_bytes())) {
            Ok(Some(kind))
        } else {
            Err(VerifyError::BadSignature)
        }
    }
}
