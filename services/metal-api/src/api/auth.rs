//! HMAC authentication and metal-api's permission groups as extractors: a handler that takes
//! [`Edit`] runs only for a request signed as Metal-Edit or Metal-Admin. Anything else is a
//! 403 with the error body (metal-api never answers 401).

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use metal_api_sdk::auth::{HEADER_DATE, HEADER_SALT, HmacKind, HmacVerifier};

use crate::core::ApiError;

fn authenticate(req: &HttpRequest, required: HmacKind) -> Result<HmacKind, ApiError> {
    let verifier = req
        .app_data::<web::Data<HmacVerifier>>()
        .ok_or_else(|| ApiError::internal("authentication is not configured"))?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let kind = verifier
        .verify(
            header("Authorization"),
            header(HEADER_DATE),
            header(HEADER_SALT),
            req.method().as_str(),
            chrono::Utc::now(),
        )
        .map_err(|e| ApiError::forbidden(format!("authentication failed: {e}")))?
        .ok_or_else(|| ApiError::forbidden("access denied: no credentials given"))?;
    if !kind.allows(required) {
        return Err(ApiError::forbidden(format!(
            "access denied: {} is not allowed to do this, it needs {}",
            kind.as_str(),
            required.as_str()
        )));
    }
    Ok(kind)
}

macro_rules! group {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        pub struct $name(pub HmacKind);

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(authenticate(req, $kind).map($name))
            }
        }
    };
}

group!(
    /// Reads: get, list, find.
    View, HmacKind::View);
group!(
    /// Allocations and releases of IPs, networks and machines; IP updates.
    Edit, HmacKind::Edit);
group!(
    /// Machine updates, masterdata and network administration.
    Admin, HmacKind::Admin);

impl Edit {
    /// The creator recorded on allocations; HMAC users are named after their type.
    pub fn user(&self) -> &'static str {
        self.0.as_str()
    }
}
