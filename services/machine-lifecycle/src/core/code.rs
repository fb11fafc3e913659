//! The driver's error codes, fixed on purpose so machine-controller-manager can tell "no
//! machine left" (wait long) from "metal-api briefly down" (retry soon) from "machine gone"
//! (NotFound). Upstream maps every metal-api failure to Internal.
//!
//! | metal-api answer                                  | code                |
//! |---------------------------------------------------|---------------------|
//! | 404                                               | `NotFound`          |
//! | 422 "no machine available" (exhaustion)           | `ResourceExhausted` |
//! | unreachable, timeout, 5xx, "too many parallel"    | `Unavailable`       |
//! | (invalid providerSpec or Secret, before any call) | `InvalidArgument`   |
//! | anything else                                     | `Internal`          |

use std::fmt;

/// MCM's machine codes (gRPC numbering) that this driver answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Code {
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unimplemented,
    Internal,
    Unavailable,
}

impl Code {
    /// The name MCM writes into `status.lastOperation.errorCode`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidArgument => "InvalidArgument",
            Code::NotFound => "NotFound",
            Code::ResourceExhausted => "ResourceExhausted",
            Code::Unimplemented => "Unimplemented",
            Code::Internal => "Internal",
            Code::Unavailable => "Unavailable",
        }
    }

    /// The gRPC status code of the same number.
    pub fn grpc(self) -> tonic::Code {
        match self {
            Code::InvalidArgument => tonic::Code::InvalidArgument,
            Code::NotFound => tonic::Code::NotFound,
            Code::ResourceExhausted => tonic::Code::ResourceExhausted,
            Code::Unimplemented => tonic::Code::Unimplemented,
            Code::Internal => tonic::Code::Internal,
            Code::Unavailable => tonic::Code::Unavailable,
        }
    }

    /// The HTTP status of the REST API (Google's gRPC-to-HTTP mapping).
    pub fn http(self) -> u16 {
        match self {
            Code::InvalidArgument => 400,
            Code::NotFound => 404,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Internal => 500,
            Code::Unavailable => 503,
        }
    }

    /// The code of a metal-api client error.
    pub fn of_metal(error: &metal_api_sdk::client::Error) -> Code {
        use metal_api_sdk::client::Error as E;
        match error {
            E::NotFound(_) => Code::NotFound,
            E::Exhausted(_) => Code::ResourceExhausted,
            E::Unavailable(_) | E::Server { .. } => Code::Unavailable,
            E::Config(_) => Code::InvalidArgument,
            E::Conflict(_) | E::Forbidden(_) | E::BadRequest { .. } | E::Decode(_) => {
                Code::Internal
            }
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed driver call: its code and a message for `lastOperation.description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DriverError {
    pub code: Code,
    pub message: String,
}

impl DriverError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// A metal-api failure while doing `what`, e.g. "allocating machine m1".
    pub fn metal(what: &str, error: &metal_api_sdk::client::Error) -> Self {
        Self::new(Code::of_metal(error), format!("{what}: {error}"))
    }
}

impl From<DriverError> for tonic::Status {
    fn from(e: DriverError) -> Self {
        tonic::Status::new(e.code.grpc(), e.message)
    }
}

#[cfg(test)]
mod tests {
    use metal_api_sdk::client::Error as E;

    use super::*;

    #[test]
    fn metal_api_failures_map_to_the_documented_codes() {
        let cases = [
            (E::NotFound("machine x".into()), Code::NotFound),
            (
                E::Exhausted("no machine available".into()),
                Code::ResourceExhausted,
            ),
            (
                E::Unavailable("connection refused".into()),
                Code::Unavailable,
            ),
            (
                E::Server {
                    status: 500,
                    message: "boom".into(),
                },
                Code::Unavailable,
            ),
            (
                E::BadRequest {
                    status: 422,
                    message: "image is not usable".into(),
                },
                Code::Internal,
            ),
            (E::Forbidden("denied".into()), Code::Internal),
            (E::Conflict("taken".into()), Code::Internal),
        ];
        for (error, code) in cases {
            assert_eq!(Code::of_metal(&error), code, "{error}");
        }
    }

    #[test]
    fn codes_carry_their_grpc_numbers_and_http_statuses() {
        assert_eq!(Code::ResourceExhausted.grpc() as i32, 8);
        assert_eq!(Code::Unavailable.grpc() as i32, 14);
        assert_eq!(Code::NotFound.http(), 404);
        assert_eq!(Code::ResourceExhausted.http(), 429);
        let status: tonic::Status = DriverError::invalid("providerSpec.size is required").into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert_eq!(status.message(), "providerSpec.size is required");
    }

    #[test]
    fn a_metal_error_message_names_what_was_done() {
        let e = DriverError::metal("allocating machine w-1", &E::NotFound("size x".into()));
        assert_eq!(e.code, Code::NotFound);
        assert_eq!(e.message, "allocating machine w-1: not found: size x");
    }
}
