//! `/v1/health` and `/v1/version`: no authentication, as upstream.

use actix_web::{HttpResponse, get, web};
use metal_api_sdk::model::{HealthResponse, HttpErrorResponse, Version};

use super::Inv;
use crate::actors::inventory::exec;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(health).service(version);
}

/// perform a healthcheck
#[utoipa::path(get, path = "/v1/health", tag = "health", operation_id = "health",
    params(("service" = Option<String>, Query, description = "return health for this specific service only")),
    responses((status = 200, description = "OK", body = HealthResponse), (status = 500, description = "Unhealthy", body = HealthResponse), (status = "default", description = "Error", body = HttpErrorResponse)))]
#[get("/v1/health")]
pub async fn health(inv: Inv) -> HttpResponse {
    match exec(&inv, |_, _| Ok(())).await {
        Ok(()) => HttpResponse::Ok().json(HealthResponse {
            status: "healthy".into(),
            message: "metal-api is healthy".into(),
            services: Default::default(),
        }),
        Err(e) => HttpResponse::InternalServerError().json(HealthResponse {
            status: "unhealthy".into(),
            message: e.message,
            services: Default::default(),
        }),
    }
}

/// returns the current version information of this module
#[utoipa::path(get, path = "/v1/version", tag = "version", operation_id = "info",
    responses((status = 200, description = "OK", body = Version), (status = "default", description = "Error", body = HttpErrorResponse)))]
#[get("/v1/version")]
pub async fn version() -> web::Json<Version> {
    web::Json(Version {
        name: "metal-api".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        revision: "metal-mesh".into(),
        gitsha1: option_env!("METAL_MESH_GIT_SHA")
            .unwrap_or("unknown")
            .into(),
        builddate: option_env!("METAL_MESH_BUILD_DATE")
            .unwrap_or("unknown")
            .into(),
        min_client_version: "v0.0.0".into(),
        release_version: None,
    })
}
