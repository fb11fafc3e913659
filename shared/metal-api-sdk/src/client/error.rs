//! The client's error type and how HTTP failures map onto it.

use crate::model::HttpErrorResponse;

/// Raw (non-JSON) error bodies are cut to this many characters, e.g. a proxy's HTML page.
const MAX_RAW_MESSAGE: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found: {0}")]
    NotFound(String),
    /// Lost an optimistic-concurrency race, or the entity (e.g. a specific IP) is taken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Capacity exhaustion: 500 "no ips left", "no more child prefixes", 422 "no machine available".
    #[error("exhausted: {0}")]
    Exhausted(String),
    /// 401/403; metal-api itself answers 403 for both failed authentication and missing groups.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 400, 422 (metal-api's "anything else") and other 4xx.
    #[error("bad request ({status}): {message}")]
    BadRequest { status: u16, message: String },
    /// Connection errors, timeouts, 502/503/504 and metal-api's "try again later".
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// A body could not be encoded or decoded.
    #[error("decode: {0}")]
    Decode(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The HTTP status this error stands for, where the variant determines it.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::NotFound(_) => Some(404),
            Error::Conflict(_) => Some(409),
            Error::Forbidden(_) => Some(403),
            Error::BadRequest { status, .. } | Error::Server { status, .. } => Some(*status),
            Error::Exhausted(_) | Error::Unavailable(_) | Error::Decode(_) | Error::Config(_) => {
                None
            }
        }
    }

    /// Whether the same call may succeed later unchanged: a lost race, capacity that may free
    /// up, transport trouble or a server fault. Callers retry these with their own backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Conflict(_) | Error::Exhausted(_) | Error::Unavailable(_) | Error::Server { .. }
        )
    }
}

/// The error for a non-success response. The body is metal-api's `{statuscode, message}`, or
/// anything else (a proxy's page), in which case the HTTP status and raw text are used.
pub(super) fn from_response(http_status: u16, body: &[u8]) -> Error {
    let (status, message) = match serde_json::from_slice::<HttpErrorResponse>(body) {
        Ok(e) => {
            let status = u16::try_from(e.statuscode)
                .ok()
                .filter(|s| (400..=599).contains(s))
                .unwrap_or(http_status);
            (status, e.message)
        }
        Err(_) => (http_status, raw_message(http_status, body)),
    };
    classify(status, message)
}

fn classify(status: u16, message: String) -> Error {
    let lower = message.to_lowercase();
    match status {
        401 | 403 => Error::Forbidden(message),
        404 => Error::NotFound(message),
        409 => Error::Conflict(message),
        422 if lower.contains("no machine available") => Error::Exhausted(message),
        // Upstream's per-partition allocation lock timed out: "try again later".
        422 if lower.contains("too many parallel") => Error::Unavailable(message),
        500 if ["no ips left", "no more", "exhausted"]
            .iter()
            .any(|s| lower.contains(s)) =>
        {
            Error::Exhausted(message)
        }
        408 | 429 | 502..=504 => Error::Unavailable(format!("HTTP {status}: {message}")),
        400..=499 => Error::BadRequest { status, message },
        _ => Error::Server { status, message },
    }
}

fn raw_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no message")
            .to_owned();
    }
    text.chars().take(MAX_RAW_MESSAGE).collect()
}

/// A request that got no (complete) response.
pub(super) fn transport(error: reqwest::Error) -> Error {
    let message = chain(&error);
    if error.is_builder() {
        Error::Config(message)
    } else {
        Error::Unavailable(message)
    }
}

/// reqwest's Display omits the cause ("connection refused"), which is the useful part.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(statuscode: u16, message: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"statuscode": statuscode, "message": message}))
            .unwrap()
    }

    fn map(status: u16, message: &str) -> Error {
        from_response(status, &body(status, message))
    }

    #[test]
    fn maps_metal_api_error_bodies() {
        assert!(matches!(map(404, "no ip 1.2.3.4"), Error::NotFound(m) if m == "no ip 1.2.3.4"));
        assert!(matches!(map(409, "changed"), Error::Conflict(_)));
        assert!(matches!(map(403, "denied"), Error::Forbidden(_)));
        assert!(matches!(map(401, "who"), Error::Forbidden(_)));
        assert!(matches!(
            map(400, "bad"),
            Error::BadRequest { status: 400, .. }
        ));
        assert!(matches!(
            map(422, "image not found"),
            Error::BadRequest { status: 422, .. }
        ));
        assert!(matches!(
            map(405, "method"),
            Error::BadRequest { status: 405, .. }
        ));
        assert!(matches!(
            map(500, "db down"),
            Error::Server { status: 500, .. }
        ));
        assert!(matches!(
            map(501, "nope"),
            Error::Server { status: 501, .. }
        ));
        for status in [502, 503, 504, 429] {
            assert!(
                matches!(map(status, "later"), Error::Unavailable(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn maps_capacity_exhaustion() {
        for (status, message) in [
            (500, "cannot allocate free ip in ipam, no ips left"),
            (500, "no ips left in network internet"),
            (500, "no more child prefixes contained in prefix pool"),
            (500, "acquisition of a value failed for exhausted pool"),
            (422, "no machine available"),
        ] {
            assert!(
                matches!(map(status, message), Error::Exhausted(m) if m == message),
                "{message}"
            );
        }
        // The same words under other statuses are not exhaustion.
        assert!(matches!(map(422, "no ips left"), Error::BadRequest { .. }));
        assert!(matches!(
            map(500, "no machine available"),
            Error::Server { .. }
        ));
    }

    #[test]
    fn allocation_lock_timeout_is_unavailable() {
        let e = map(
            422,
            "too many parallel machine allocations taking place, try again later",
        );
        assert!(matches!(e, Error::Unavailable(_)));
    }

    #[test]
    fn prefers_the_body_statuscode_and_falls_back_to_http() {
        assert!(matches!(
            from_response(500, &body(404, "gone")),
            Error::NotFound(_)
        ));
        let invalid = br#"{"statuscode": 0, "message": "zero"}"#;
        assert!(matches!(from_response(409, invalid), Error::Conflict(m) if m == "zero"));
    }

    #[test]
    fn falls_back_to_raw_text() {
        let e = from_response(502, b"<html>Bad Gateway</html>\n");
        assert!(matches!(&e, Error::Unavailable(m) if m == "HTTP 502: <html>Bad Gateway</html>"));
        let e = from_response(404, b"");
        assert!(matches!(&e, Error::NotFound(m) if m == "Not Found"));
        let e = from_response(418, &[b'x'; 2000]);
        assert!(
            matches!(&e, Error::BadRequest { status: 418, message } if message.len() == MAX_RAW_MESSAGE)
        );
        let e = from_response(500, br#"{"message": "shape without statuscode"}"#);
        assert!(matches!(&e, Error::Server { status: 500, message } if message.contains("shape")));
    }

    #[test]
    fn status_and_retryability() {
        let cases = [
            (Error::NotFound(String::new()), Some(404), false),
            (Error::Conflict(String::new()), Some(409), true),
            (Error::Exhausted(String::new()), None, true),
            (Error::Forbidden(String::new()), Some(403), false),
            (
                Error::BadRequest {
                    status: 422,
                    message: String::new(),
                },
                Some(422),
                false,
            ),
            (Error::Unavailable(String::new()), None, true),
            (
                Error::Server {
                    status: 500,
                    message: String::new(),
                },
                Some(500),
                true,
            ),
            (Error::Decode(String::new()), None, false),
            (Error::Config(String::new()), None, false),
        ];
        for (error, status, retryable) in cases {
            assert_eq!(error.status(), status, "{error:?}");
            assert_eq!(error.is_retryable(), retryable, "{error:?}");
        }
    }
}
