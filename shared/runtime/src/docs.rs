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

/// The drift check every service's `tests/openapi_drift.rs` runs: `doc` serialized must equal
/// the committed `openapi/<service>.json` under `workspace`; with `UPDATE_OPENAPI` set the file
/// is rewritten instead. Panics with the command that regenerates it.
pub fn assert_openapi_committed(
    doc: &utoipa::openapi::OpenApi,
    workspace: &std::path::Path,
    service: &str,
) {
    let path = workspace.join("openapi").join(format!("{service}.json"));
    let generated = doc.to_pretty_json().expect("serialize OpenAPI") + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date; run UPDATE_OPENAPI=1 cargo test -p {service} --test openapi_drift",
        path.display()
    );
}

/// Every operation of `doc` as `METHOD /path`, sorted: what a contract test compares with the
/// list an issue fixes.
pub fn operations(doc: &utoipa::openapi::OpenApi) -> Vec<String> {
    let doc = serde_json::to_value(doc).expect("OpenAPI as JSON");
    let mut ops: Vec<String> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            item.as_object()
                .into_iter()
                .flatten()
                .map(move |(method, _)| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    ops.sort();
    ops
}

/// The property names of component schema `schema`, sorted.
pub fn schema_fields(doc: &utoipa::openapi::OpenApi, schema: &str) -> Vec<String> {
    let doc = serde_json::to_value(doc).expect("OpenAPI as JSON");
    let mut fields: Vec<String> = doc["components"]["schemas"][schema]["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    fields.sort();
    fields
}
