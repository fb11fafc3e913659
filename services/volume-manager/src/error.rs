//! The driver's errors, each with the gRPC code the CSI spec prescribes for it.

use tonic::{Code, Status};

use crate::core::plan::PlanError;
use crate::core::size::SizeError;
use crate::lvm::{Failure, LvmError};

#[derive(Debug, Clone, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Exhausted(String),
    #[error("{0}")]
    OutOfRange(String),
    #[error("{0}")]
    Precondition(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl OpError {
    pub fn code(&self) -> Code {
        match self {
            OpError::Invalid(_) => Code::InvalidArgument,
            OpError::NotFound(_) => Code::NotFound,
            OpError::AlreadyExists(_) => Code::AlreadyExists,
            OpError::Exhausted(_) => Code::ResourceExhausted,
            OpError::OutOfRange(_) => Code::OutOfRange,
            OpError::Precondition(_) => Code::FailedPrecondition,
            OpError::Aborted(_) => Code::Aborted,
            OpError::Unavailable(_) => Code::Unavailable,
            OpError::Internal(_) => Code::Internal,
        }
    }

    /// A short name of the kind, for metrics and the REST API.
    pub fn kind(&self) -> &'static str {
        match self {
            OpError::Invalid(_) => "invalid_argument",
            OpError::NotFound(_) => "not_found",
            OpError::AlreadyExists(_) => "already_exists",
            OpError::Exhausted(_) => "resource_exhausted",
            OpError::OutOfRange(_) => "out_of_range",
            OpError::Precondition(_) => "failed_precondition",
            OpError::Aborted(_) => "aborted",
            OpError::Unavailable(_) => "unavailable",
            OpError::Internal(_) => "internal",
        }
    }
}

impl From<OpError> for Status {
    fn from(e: OpError) -> Status {
        Status::new(e.code(), e.to_string())
    }
}

impl From<LvmError> for OpError {
    fn from(e: LvmError) -> OpError {
        match e.failure {
            Failure::NoSpace => OpError::Exhausted(e.stderr),
            Failure::NeedsDeviceMapper => OpError::Precondition(format!(
                "{}: this needs the device-mapper kernel driver, which this node does not have \
                 (or runs with --no-activation)",
                e.stderr
            )),
            Failure::NotStarted => OpError::Unavailable(e.to_string()),
            _ => OpError::Internal(e.to_string()),
        }
    }
}

impl From<PlanError> for OpError {
    fn from(e: PlanError) -> OpError {
        match e {
            PlanError::AlreadyExists(m) => OpError::AlreadyExists(m),
            PlanError::Exhausted(m) => OpError::Exhausted(m),
            PlanError::Invalid(m) => OpError::Invalid(m),
            PlanError::Size(SizeError::Invalid(m)) => {
                OpError::Invalid(format!("capacity_range: {m}"))
            }
            PlanError::Size(SizeError::OutOfRange(m)) => {
                OpError::OutOfRange(format!("capacity_range: {m}"))
            }
        }
    }
}

pub type OpResult<T> = Result<T, OpError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn lvm_error(failure: Failure) -> LvmError {
        LvmError {
            command: "lvm vgs".into(),
            status: "exit status: 5".into(),
            stderr: "it went wrong".into(),
            failure,
        }
    }

    #[test]
    fn lvm_failures_get_the_codes_callers_act_on() {
        let code = |f| OpError::from(lvm_error(f)).code();
        assert_eq!(code(Failure::NoSpace), Code::ResourceExhausted);
        assert_eq!(code(Failure::NeedsDeviceMapper), Code::FailedPrecondition);
        // lvm missing is the node's state, not a bug: callers retry (REST: 503).
        assert_eq!(code(Failure::NotStarted), Code::Unavailable);
        assert_eq!(code(Failure::Other), Code::Internal);
        let message = OpError::from(lvm_error(Failure::NeedsDeviceMapper)).to_string();
        assert!(message.contains("device-mapper"), "{message}");
    }
}
