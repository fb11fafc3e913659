//! `/v1/machine` and `/v1/firewall`: thin handlers over `core::machines`. A firewall is a
//! machine allocated with role "firewall"; it is freed through the machine endpoint.

use actix_web::{HttpResponse, delete, get, post, web};
use metal_api_sdk::model::{
    FirewallResponse, HttpErrorResponse, MachineAllocateRequest, MachineFindRequest,
    MachineRegisterRequest, MachineResponse, MachineRole, MachineUpdateRequest,
};

use super::Inv;
use super::auth::{Admin, Edit, View};
use crate::actors::inventory::exec;
use crate::core::{ApiError, filters, machines, render};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list_machines)
        .service(find_machines)
        .service(allocate_machine)
        .service(update_machine)
        .service(register_machine)
        .service(free_machine)
        .service(find_machine)
        .service(list_firewalls)
        .service(find_firewalls)
        .service(allocate_firewall)
        .service(find_firewall);
}

fn role_filter(role: MachineRole) -> impl Fn(&crate::core::Machine) -> bool {
    move |m| m.allocation.as_ref().is_some_and(|a| a.role == role)
}

/// get machine by id
#[utoipa::path(get, path = "/v1/machine/{id}", tag = "machine", operation_id = "findMachine",
    params(("id" = String, Path, description = "identifier of the machine")),
    responses((status = 200, description = "OK", body = MachineResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/machine/{id}")]
pub async fn find_machine(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<MachineResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| {
        machines::get(s, &id).map(|m| render::machine(s, &m))
    })
    .await
    .map(web::Json)
}

/// get all known machines
#[utoipa::path(get, path = "/v1/machine", tag = "machine", operation_id = "listMachines",
    responses((status = 200, description = "OK", body = [MachineResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/machine")]
pub async fn list_machines(_: View, inv: Inv) -> Result<web::Json<Vec<MachineResponse>>, ApiError> {
    exec(&inv, |s, _| {
        Ok(s.machines.values().map(|m| render::machine(s, m)).collect())
    })
    .await
    .map(web::Json)
}

/// find machines by multiple criteria
#[utoipa::path(post, path = "/v1/machine/find", tag = "machine", operation_id = "findMachines", request_body = MachineFindRequest,
    responses((status = 200, description = "OK", body = [MachineResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/machine/find")]
pub async fn find_machines(
    _: View,
    inv: Inv,
    body: web::Json<MachineFindRequest>,
) -> Result<web::Json<Vec<MachineResponse>>, ApiError> {
    let f = body.into_inner();
    exec(&inv, move |s, _| {
        Ok(filters::machines(s, &f)
            .iter()
            .map(|m| render::machine(s, m))
            .collect())
    })
    .await
    .map(web::Json)
}

/// allocate a machine
#[utoipa::path(post, path = "/v1/machine/allocate", tag = "machine", operation_id = "allocateMachine", request_body = MachineAllocateRequest,
    responses((status = 200, description = "OK", body = MachineResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/machine/allocate")]
pub async fn allocate_machine(
    user: Edit,
    inv: Inv,
    body: web::Json<MachineAllocateRequest>,
) -> Result<web::Json<MachineResponse>, ApiError> {
    let req = body.into_inner();
    let creator = user.user();
    exec(&inv, move |s, ctx| {
        machines::allocate(s, ctx, &req, MachineRole::Machine, creator)
            .map(|m| render::machine(s, &m))
    })
    .await
    .map(web::Json)
}

/// updates a machine. if the machine was changed since this one was read, a conflict is returned
#[utoipa::path(post, path = "/v1/machine", tag = "machine", operation_id = "updateMachine", request_body = MachineUpdateRequest,
    responses((status = 200, description = "OK", body = MachineResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/machine")]
pub async fn update_machine(
    _: Admin,
    inv: Inv,
    body: web::Json<MachineUpdateRequest>,
) -> Result<web::Json<MachineResponse>, ApiError> {
    let req = body.into_inner();
    let id = req.id.clone();
    // Read, then write only if unchanged in between (upstream's optimistic update).
    let read = exec(&inv, move |s, _| machines::get(s, &id)).await?;
    exec(&inv, move |s, ctx| {
        machines::update(s, ctx, &req, Some(read.rev)).map(|m| render::machine(s, &m))
    })
    .await
    .map(web::Json)
}

/// free a machine
#[utoipa::path(delete, path = "/v1/machine/{id}/free", tag = "machine", operation_id = "freeMachine",
    params(("id" = String, Path, description = "identifier of the machine")),
    responses((status = 200, description = "OK", body = MachineResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[delete("/v1/machine/{id}/free")]
pub async fn free_machine(
    _: Edit,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<MachineResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, ctx| {
        machines::free(s, ctx, &id).map(|m| render::machine(s, &m))
    })
    .await
    .map(web::Json)
}

/// register a machine in the inventory of a partition (metal-mesh extension; upstream
/// machines register themselves over gRPC)
#[utoipa::path(post, path = "/v1/machine/register", tag = "machine", operation_id = "registerMachineInventory", request_body = MachineRegisterRequest,
    responses((status = 201, description = "Created", body = MachineResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/machine/register")]
pub async fn register_machine(
    _: Admin,
    inv: Inv,
    body: web::Json<MachineRegisterRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let m = exec(&inv, move |s, ctx| {
        machines::register(s, ctx, &req).map(|m| render::machine(s, &m))
    })
    .await?;
    Ok(HttpResponse::Created().json(m))
}

/// get firewall by id
#[utoipa::path(get, path = "/v1/firewall/{id}", tag = "firewall", operation_id = "findFirewall",
    params(("id" = String, Path, description = "identifier of the firewall")),
    responses((status = 200, description = "OK", body = FirewallResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/firewall/{id}")]
pub async fn find_firewall(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<FirewallResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| {
        machines::get(s, &id)
            .ok()
            .filter(role_filter(MachineRole::Firewall))
            .map(|m| FirewallResponse(render::machine(s, &m)))
            .ok_or_else(|| ApiError::not_found(format!("firewall with id {id:?} not found")))
    })
    .await
    .map(web::Json)
}

/// get all known firewalls
#[utoipa::path(get, path = "/v1/firewall", tag = "firewall", operation_id = "listFirewalls",
    responses((status = 200, description = "OK", body = [FirewallResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/firewall")]
pub async fn list_firewalls(
    _: View,
    inv: Inv,
) -> Result<web::Json<Vec<FirewallResponse>>, ApiError> {
    exec(&inv, |s, _| {
        Ok(s.machines
            .values()
            .filter(|m| role_filter(MachineRole::Firewall)(m))
            .map(|m| FirewallResponse(render::machine(s, m)))
            .collect())
    })
    .await
    .map(web::Json)
}

/// find firewalls by multiple criteria
#[utoipa::path(post, path = "/v1/firewall/find", tag = "firewall", operation_id = "findFirewalls", request_body = MachineFindRequest,
    responses((status = 200, description = "OK", body = [FirewallResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/firewall/find")]
pub async fn find_firewalls(
    _: View,
    inv: Inv,
    body: web::Json<MachineFindRequest>,
) -> Result<web::Json<Vec<FirewallResponse>>, ApiError> {
    let mut f = body.into_inner();
    f.allocation_role = Some("firewall".into());
    exec(&inv, move |s, _| {
        Ok(filters::machines(s, &f)
            .iter()
            .map(|m| FirewallResponse(render::machine(s, m)))
            .collect())
    })
    .await
    .map(web::Json)
}

/// allocate a firewall
#[utoipa::path(post, path = "/v1/firewall/allocate", tag = "firewall", operation_id = "allocateFirewall", request_body = MachineAllocateRequest,
    responses((status = 200, description = "OK", body = FirewallResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/firewall/allocate")]
pub async fn allocate_firewall(
    user: Edit,
    inv: Inv,
    body: web::Json<MachineAllocateRequest>,
) -> Result<web::Json<FirewallResponse>, ApiError> {
    let req = body.into_inner();
    let creator = user.user();
    exec(&inv, move |s, ctx| {
        machines::allocate(s, ctx, &req, MachineRole::Firewall, creator)
            .map(|m| FirewallResponse(render::machine(s, &m)))
    })
    .await
    .map(web::Json)
}
