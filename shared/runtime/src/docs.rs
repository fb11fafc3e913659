//! The service's OpenAPI document (`/openapi.json`) and a self-contained page rendering it
//! (`/docs`). The page loads nothing from the network, so it works on air-gapped machines.

use actix_web::{HttpResponse, http::header::ContentType, web};

/// The docs page: inline CSS and vanilla JS that fetch `./openapi.json` and render it by tag.
const DOCS_PAGE: &str = include_str!("docs.html");

/// Registers `GET /openapi.json` (serving `openapi_json`, serialized once at startup) and
/// `GET /docs`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, openapi_json: web::Bytes) {
    cfg.route(
        "/openapi.json",
        web::get().to(move || {
            let body = openapi_json.clone();
            async move {
                HttpResponse::Ok()
                    .content_type(ContentType::json())
                    .body(body)
            }
        }),
    )
    .route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::Ok()
                .content_type(ContentType::html())
                .body(DOCS_PAGE)
        }),
    );
}
