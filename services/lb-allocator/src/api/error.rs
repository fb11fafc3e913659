//! `LbError` as an RFC 9457 problem; the `type` slug is the error's stable name.

use actix_web::http::StatusCode;
use mesh_runtime::problem::Problem;

use crate::core::error::LbError;

pub fn problem(e: &LbError) -> Problem {
    let (status, title) = match e {
        LbError::Invalid(_) => (StatusCode::BAD_REQUEST, "Invalid request"),
        LbError::NoDefaultNetwork => (StatusCode::UNPROCESSABLE_ENTITY, "No default network"),
        LbError::NotAllocated { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "IP not allocated"),
        LbError::NetworkNotAllowed { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Network not allowed")
        }
        LbError::AcquireFailed { .. } => {
            (StatusCode::UNPROCESSABLE_ENTITY, "IP allocation refused")
        }
        LbError::Ambiguous { .. } => (StatusCode::CONFLICT, "IP ambiguous"),
        LbError::Reserved { .. } => (StatusCode::CONFLICT, "IP reserved"),
        LbError::Exhausted { .. } => (StatusCode::CONFLICT, "No free IP left"),
        LbError::MetalApi(_) => (StatusCode::BAD_GATEWAY, "metal-api unavailable"),
        LbError::Config(_) => (StatusCode::SERVICE_UNAVAILABLE, "Configuration not written"),
        LbError::NotLeader => (StatusCode::SERVICE_UNAVAILABLE, "Not the leader"),
    };
    Problem::new(e.slug(), title, status).with_detail(e.to_string())
}

pub fn from_mailbox(e: actix::MailboxError) -> Problem {
    Problem::new(
        "actor-unavailable",
        "Service restarting",
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .with_detail(e.to_string())
}
