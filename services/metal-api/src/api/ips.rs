//! `/v1/ip`: thin handlers over `core::ips`.

use actix_web::{HttpResponse, delete, get, post, web};
use metal_api_sdk::model::{
    HttpErrorResponse, IpAllocateRequest, IpFindRequest, IpResponse, IpUpdateRequest,
};

use super::Inv;
use super::auth::{Edit, View};
use crate::actors::inventory::exec;
use crate::core::ips::{self, Wanted};
use crate::core::{ApiError, filters, render};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_ips)
        .service(find_ips)
        .service(allocate_ip)
        .service(allocate_specific_ip)
        .service(update_ip)
        .service(free_ip)
        .service(find_ip);
}

/// get ip by id
#[utoipa::path(get, path = "/v1/ip/{id}", tag = "ip", operation_id = "findIP",
    params(("id" = String, Path, description = "identifier of the ip")),
    responses((status = 200, description = "OK", body = IpResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/ip/{id}")]
pub async fn find_ip(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<IpResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| ips::get(s, &id).map(|ip| render::ip(&ip)))
        .await
        .map(web::Json)
}

/// get all ips
#[utoipa::path(get, path = "/v1/ip", tag = "ip", operation_id = "listIPs",
    responses((status = 200, description = "OK", body = [IpResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/ip")]
pub async fn list_ips(_: View, inv: Inv) -> Result<web::Json<Vec<IpResponse>>, ApiError> {
    exec(&inv, |s, _| Ok(s.ips.values().map(render::ip).collect()))
        .await
        .map(web::Json)
}

/// get all ips that match given properties
#[utoipa::path(post, path = "/v1/ip/find", tag = "ip", operation_id = "findIPs", request_body = IpFindRequest,
    responses((status = 200, description = "OK", body = [IpResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/ip/find")]
pub async fn find_ips(
    _: View,
    inv: Inv,
    body: web::Json<IpFindRequest>,
) -> Result<web::Json<Vec<IpResponse>>, ApiError> {
    let f = body.into_inner();
    exec(&inv, move |s, _| {
        filters::ips(s, &f).map(|v| v.iter().map(render::ip).collect())
    })
    .await
    .map(web::Json)
}

/// allocate an ip in the given network.
#[utoipa::path(post, path = "/v1/ip/allocate", tag = "ip", operation_id = "allocateIP", request_body = IpAllocateRequest,
    responses((status = 201, description = "Created", body = IpResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/ip/allocate")]
pub async fn allocate_ip(
    _: Edit,
    inv: Inv,
    body: web::Json<IpAllocateRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let ip = exec(&inv, move |s, ctx| ips::allocate(s, ctx, &req, Wanted::Any)).await?;
    Ok(HttpResponse::Created().json(render::ip(&ip)))
}

/// allocate a specific ip in the given network.
#[utoipa::path(post, path = "/v1/ip/allocate/{ip}", tag = "ip", operation_id = "allocateSpecificIP", request_body = IpAllocateRequest,
    params(("ip" = String, Path, description = "ip to try to allocate")),
    responses((status = 201, description = "Created", body = IpResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/ip/allocate/{ip}")]
pub async fn allocate_specific_ip(
    _: Edit,
    inv: Inv,
    path: web::Path<String>,
    body: web::Json<IpAllocateRequest>,
) -> Result<HttpResponse, ApiError> {
    let (req, address) = (body.into_inner(), path.into_inner());
    let ip = exec(&inv, move |s, ctx| {
        ips::allocate(s, ctx, &req, Wanted::Specific(address))
    })
    .await?;
    Ok(HttpResponse::Created().json(render::ip(&ip)))
}

/// updates an ip. if the ip was changed since this one was read, a conflict is returned
#[utoipa::path(post, path = "/v1/ip", tag = "ip", operation_id = "updateIP", request_body = IpUpdateRequest,
    responses((status = 200, description = "OK", body = IpResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/ip")]
pub async fn update_ip(
    _: Edit,
    inv: Inv,
    body: web::Json<IpUpdateRequest>,
) -> Result<web::Json<IpResponse>, ApiError> {
    let req = body.into_inner();
    // Read, then write only if nobody wrote in between: upstream's optimistic update, so
    // concurrent updates surface as 409 and clients keep their retry paths.
    let address = req.ipaddress.clone();
    let read = exec(&inv, move |s, _| ips::get(s, &address)).await?;
    exec(&inv, move |s, ctx| {
        ips::update(s, ctx, &req, Some(read.rev))
    })
    .await
    .map(|ip| web::Json(render::ip(&ip)))
}

/// frees an ip
#[utoipa::path(delete, path = "/v1/ip/free/{id}", tag = "ip", operation_id = "freeIP",
    params(("id" = String, Path, description = "identifier of the ip")),
    responses((status = 200, description = "OK", body = IpResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[delete("/v1/ip/free/{id}")]
pub async fn free_ip(
    _: Edit,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<IpResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| ips::free(s, &id))
        .await
        .map(|ip| web::Json(render::ip(&ip)))
}
