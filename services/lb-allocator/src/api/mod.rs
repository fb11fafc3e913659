//! The HTTP edge: REST routes over the actors, the OpenAPI document.

mod config;
mod error;
mod loadbalancers;
mod nodes;

use std::sync::Arc;

use actix_web::web;
use mesh_runtime::Mailbox;
use mesh_runtime::problem::Problem;
use utoipa::OpenApi;

use crate::actors::allocator::Allocator;
use crate::actors::lbconfig::LbConfigWriter;
use crate::actors::machines::MachineCache;
use crate::core::config::Config;

/// What every handler gets.
pub struct State {
    pub allocator: Mailbox<Allocator>,
    pub lbconfig: Mailbox<LbConfigWriter>,
    pub machines: Mailbox<MachineCache>,
    pub config: Arc<Config>,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default().error_handler(|e, _| Problem::bad_request(e.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default().error_handler(|e, _| Problem::bad_request(e.to_string()).into()),
    )
    .configure(loadbalancers::routes)
    .configure(config::routes)
    .configure(nodes::routes);
}

#[derive(OpenApi)]
#[openapi(
    info(title = "lb-allocator", description = "LoadBalancer IPs from metal-api, MetalLB (or Cilium) configuration and node metadata; metal-mesh's replacement for metal-ccm."),
    paths(
        loadbalancers::list, loadbalancers::create, loadbalancers::remove,
        config::desired,
        nodes::node_metadata,
    ),
    components(schemas(Problem)),
    tags((name = "loadbalancers"), (name = "metallb"), (name = "nodes")),
)]
pub struct ApiDoc;
