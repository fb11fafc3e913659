//! RFC 9457 problem details (`application/problem+json`), the REST error body of every service
//! except metal-api (which keeps metal-api's own `{statuscode, message}` body).

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Media type of a [`Problem`] body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Base of every problem `type` URI; the slug after it is stable API.
pub const PROBLEM_TYPE_BASE: &str = "https://metal-mesh.dev/problems/";

/// An RFC 9457 problem: return it (or `Result<_, Problem>`) from an actix-web handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, thiserror::Error)]
#[error("{title} ({status}){}", detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
pub struct Problem {
    /// Stable URI identifying the kind of problem, e.g. `https://metal-mesh.dev/problems/ip-exhausted`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the kind of problem; the same for every occurrence.
    pub title: String,
    /// HTTP status code of this occurrence.
    pub status: u16,
    /// What went wrong this time, for a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// URI of this occurrence (often the request path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

impl Problem {
    /// A problem whose `type` is [`PROBLEM_TYPE_BASE`] followed by `slug`.
    pub fn new(slug: &str, title: impl Into<String>, status: StatusCode) -> Self {
        Self {
            type_: format!("{PROBLEM_TYPE_BASE}{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            instance: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_instance(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }

    /// 400: the request is malformed or violates a rule; nothing was changed.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new("bad-request", "Bad request", StatusCode::BAD_REQUEST).with_detail(detail)
    }

    /// 404: the addressed resource does not exist.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new("not-found", "Not found", StatusCode::NOT_FOUND).with_detail(detail)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new("conflict", "Conflict", StatusCode::CONFLICT).with_detail(detail)
    }

    /// 422: the request is well-formed but what it asks cannot be done with this input; `slug`
    /// and `title` name the kind of refusal, `detail` says why.
    pub fn unprocessable(slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Self::new(slug, title, StatusCode::UNPROCESSABLE_ENTITY).with_detail(detail)
    }

    /// 500: a failure on our side; `detail` should not leak internals.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(
            "internal",
            "Internal server error",
            StatusCode::INTERNAL_SERVER_ERROR,
        )
        .with_detail(detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .json(self)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;

    use super::*;

    #[actix_web::test]
    async fn renders_problem_json_with_type_field_and_status() {
        let problem =
            Problem::not_found("ip 10.0.0.1 does not exist").with_instance("/v1/ip/10.0.0.1");
        let response = problem.error_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            PROBLEM_JSON
        );
        let body = to_bytes(response.into_body()).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "https://metal-mesh.dev/problems/not-found",
                "title": "Not found",
                "status": 404,
                "detail": "ip 10.0.0.1 does not exist",
                "instance": "/v1/ip/10.0.0.1",
            })
        );
    }

    #[test]
    fn absent_optional_members_are_omitted_and_display_is_readable() {
        let problem = Problem::new("ip-exhausted", "No free IP", StatusCode::CONFLICT);
        let json = serde_json::to_value(&problem).unwrap();
        assert!(json.get("detail").is_none() && json.get("instance").is_none());
        assert_eq!(problem.to_string(), "No free IP (409)");
        assert_eq!(
            Problem::bad_request("x").to_string(),
            "Bad request (400): x"
        );
    }

    #[test]
    fn unknown_status_falls_back_to_500() {
        let mut problem = Problem::internal("boom");
        problem.status = 42;
        assert_eq!(problem.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
