//! `/v1/network`: thin handlers over `core::networks`.

use actix_web::{HttpResponse, delete, get, post, put, web};
use metal_api_sdk::model::{
    HttpErrorResponse, NetworkAllocateRequest, NetworkCreateRequest, NetworkFindRequest,
    NetworkResponse,
};

use super::Inv;
use super::auth::{Admin, Edit, View};
use crate::actors::inventory::exec;
use crate::core::{ApiError, filters, networks, render};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_networks)
        .service(find_networks)
        .service(allocate_network)
        .service(free_network)
        .service(create_network)
        .service(delete_network)
        .service(find_network);
}

/// get network by id
#[utoipa::path(get, path = "/v1/network/{id}", tag = "network", operation_id = "findNetwork",
    params(("id" = String, Path, description = "identifier of the network")),
    responses((status = 200, description = "OK", body = NetworkResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/network/{id}")]
pub async fn find_network(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<NetworkResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| {
        networks::get(s, &id).map(|n| render::network(s, &n))
    })
    .await
    .map(web::Json)
}

/// get all networks
#[utoipa::path(get, path = "/v1/network", tag = "network", operation_id = "listNetworks",
    responses((status = 200, description = "OK", body = [NetworkResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/network")]
pub async fn list_networks(_: View, inv: Inv) -> Result<web::Json<Vec<NetworkResponse>>, ApiError> {
    exec(&inv, |s, _| {
        Ok(s.networks.values().map(|n| render::network(s, n)).collect())
    })
    .await
    .map(web::Json)
}

/// get all networks that match given properties
#[utoipa::path(post, path = "/v1/network/find", tag = "network", operation_id = "findNetworks", request_body = NetworkFindRequest,
    responses((status = 200, description = "OK", body = [NetworkResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/network/find")]
pub async fn find_networks(
    _: View,
    inv: Inv,
    body: web::Json<NetworkFindRequest>,
) -> Result<web::Json<Vec<NetworkResponse>>, ApiError> {
    let f = body.into_inner();
    exec(&inv, move |s, _| {
        filters::networks(s, &f).map(|v| v.iter().map(|n| render::network(s, n)).collect())
    })
    .await
    .map(web::Json)
}

/// allocates a child network from a partition's private super network
#[utoipa::path(post, path = "/v1/network/allocate", tag = "network", operation_id = "allocateNetwork", request_body = NetworkAllocateRequest,
    responses((status = 201, description = "Created", body = NetworkResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/network/allocate")]
pub async fn allocate_network(
    _: Edit,
    inv: Inv,
    body: web::Json<NetworkAllocateRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let n = exec(&inv, move |s, ctx| {
        networks::allocate(s, ctx, &req).map(|n| render::network(s, &n))
    })
    .await?;
    Ok(HttpResponse::Created().json(n))
}

/// frees a network
#[utoipa::path(delete, path = "/v1/network/free/{id}", tag = "network", operation_id = "freeNetwork",
    params(("id" = String, Path, description = "identifier of the network")),
    responses((status = 200, description = "OK", body = NetworkResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[delete("/v1/network/free/{id}")]
pub async fn free_network(
    _: Edit,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<NetworkResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| {
        networks::free(s, &id).map(|n| render::network(s, &n))
    })
    .await
    .map(web::Json)
}

/// create a network. if the given ID already exists a conflict is returned
#[utoipa::path(put, path = "/v1/network", tag = "network", operation_id = "createNetwork", request_body = NetworkCreateRequest,
    responses((status = 201, description = "Created", body = NetworkResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[put("/v1/network")]
pub async fn create_network(
    _: Admin,
    inv: Inv,
    body: web::Json<NetworkCreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let n = exec(&inv, move |s, ctx| {
        networks::create(s, ctx, &req).map(|n| render::network(s, &n))
    })
    .await?;
    Ok(HttpResponse::Created().json(n))
}

/// deletes a network and returns the deleted entity
#[utoipa::path(delete, path = "/v1/network/{id}", tag = "network", operation_id = "deleteNetwork",
    params(("id" = String, Path, description = "identifier of the network")),
    responses((status = 200, description = "OK", body = NetworkResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[delete("/v1/network/{id}")]
pub async fn delete_network(
    _: Admin,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<NetworkResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| {
        networks::delete(s, &id).map(|n| render::network(s, &n))
    })
    .await
    .map(web::Json)
}
