//! metal-api's error body `{statuscode, message}` for every failure, including bodies and
//! paths that do not parse.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use metal_api_sdk::model::HttpErrorResponse;

use crate::core::ApiError;

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code()).json(HttpErrorResponse {
            statuscode: i32::from(self.status),
            message: self.message.clone(),
        })
    }
}

/// Extractor configuration: an unreadable body or path is a 400 with the error body.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(4 * 1024 * 1024)
            .error_handler(|err, _| {
                ApiError::bad_request(format!("cannot read request body: {err}")).into()
            }),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::bad_request(format!("invalid path: {err}")).into()),
    );
}
