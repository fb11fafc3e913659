//! The HTTP edge: metal-api v1 routes, authentication, the error body, the OpenAPI document.

pub mod auth;
mod error;
mod health;
mod ips;
mod machines;
mod masterdata;
mod networks;

use actix_web::web;
use metal_api_sdk::model as m;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::actors::Inventory;

/// The inventory's mailbox, as handlers receive it.
pub type Inv = web::Data<mesh_runtime::Mailbox<Inventory>>;

/// Registers every metal-api route under `base_path` ("/" or e.g. "/metal").
pub fn routes(cfg: &mut web::ServiceConfig, base_path: &str) {
    let base = base_path.trim_end_matches('/').to_string();
    cfg.service(
        web::scope(&base)
            .configure(error::configure)
            .configure(health::routes)
            .configure(ips::routes)
            .configure(networks::routes)
            .configure(machines::routes)
            .configure(masterdata::routes),
    );
}

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "HMAC",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "\"Metal-View|Metal-Edit|Metal-Admin <hex HMAC-SHA256(key, X-Date ‖ method ‖ X-Data-Salt)>\" with the X-Date and X-Data-Salt headers",
            ))),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "metal-api (metal-mesh embedded)", description = "The part of metal-stack's metal-api v1 that metal-mesh uses, wire-compatible."),
    paths(
        health::health, health::version,
        ips::find_ip, ips::list_ips, ips::find_ips, ips::allocate_ip, ips::allocate_specific_ip, ips::update_ip, ips::free_ip,
        networks::find_network, networks::list_networks, networks::find_networks, networks::allocate_network,
        networks::free_network, networks::create_network, networks::delete_network,
        machines::find_machine, machines::list_machines, machines::find_machines, machines::allocate_machine,
        machines::update_machine, machines::free_machine, machines::register_machine,
        machines::find_firewall, machines::list_firewalls, machines::find_firewalls, machines::allocate_firewall,
        masterdata::find_partition, masterdata::list_partitions, masterdata::create_partition,
        masterdata::find_size, masterdata::list_sizes, masterdata::create_size,
        masterdata::find_image, masterdata::list_images, masterdata::create_image, masterdata::latest_image, masterdata::find_images,
        masterdata::find_project, masterdata::list_projects, masterdata::create_project, masterdata::find_projects,
    ),
    components(schemas(m::HttpErrorResponse, m::IpType, m::AddressFamily, m::MachineRole)),
    modifiers(&Security),
    tags(
        (name = "health"), (name = "version"), (name = "ip"), (name = "network"), (name = "machine"),
        (name = "firewall"), (name = "partition"), (name = "size"), (name = "image"), (name = "project"),
    )
)]
pub struct ApiDoc;
