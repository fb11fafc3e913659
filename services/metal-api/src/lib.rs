//! The embedded metal-api: wire-compatible with metal-stack's metal-api v1 for what the mesh
//! uses, durable in one redb file.

pub mod actors;
pub mod api;
pub mod cli;
pub mod core;
pub mod seed;
pub mod store;

use std::sync::Arc;

use actix_web::web;
use anyhow::Context as _;
use mesh_runtime::{ServiceInfo, ServiceParts, Setup};
use metal_api_sdk::auth::{HmacKind, HmacVerifier};
use utoipa::OpenApi;

use crate::actors::Inventory;
use crate::actors::inventory::{self, exec};
pub use crate::cli::Args;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "metal-api",
    version: env!("CARGO_PKG_VERSION"),
};

/// The metal-api OpenAPI document (also committed as `openapi/metal-api.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::ApiDoc::openapi()
}

/// What the chart's `metal-mesh:metal-api:viewer` and `…:editor` ClusterRoles grant: `/metrics`
/// only, as its API keeps metal-api's own HMAC and bearer scheme.
pub fn access() -> mesh_runtime::auth::Access {
    mesh_runtime::auth::Access::default()
}

/// Opens the store, starts the supervised inventory actor, applies the seed, and returns the
/// routes for the runtime to serve.
pub async fn start(args: Args, setup: Setup) -> anyhow::Result<ServiceParts> {
    let store = Arc::new(store::Store::open(&args.data_dir)?);
    let actor = Inventory::new(store, setup.actors.clone())?;
    let inventory = mesh_runtime::supervise(inventory::NAME, &setup.actors, move |_| actor);
    if let Some(path) = &args.seed {
        let seed = seed::load(path)?;
        let applied = exec(&inventory, move |s, ctx| seed::apply(s, ctx, &seed))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("applying seed {}", path.display()))?;
        tracing::info!(created = applied.created, existing = applied.existing, seed = %path.display(), "seed applied");
    }
    let verifier = HmacVerifier::new(
        [
            (HmacKind::View, args.hmac_view_key.into_bytes()),
            (HmacKind::Edit, args.hmac_edit_key.into_bytes()),
            (HmacKind::Admin, args.hmac_admin_key.into_bytes()),
        ],
        args.hmac_lifetime,
    );
    let base_path = args.base_path.clone();
    let probe_inventory = inventory.clone();
    let mut parts = ServiceParts::new(openapi(), move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(inventory.clone()))
            .app_data(web::Data::new(verifier.clone()));
        api::routes(cfg, &base_path);
    })
    // Its API keeps metal-api's own HMAC/bearer scheme, which its clients speak.
    .with_own_api_auth();
    parts
        .readiness
        .push(Arc::new(InventoryReady(probe_inventory)));
    Ok(parts)
}

/// Ready when the inventory actor answers.
struct InventoryReady(mesh_runtime::Mailbox<Inventory>);

impl mesh_runtime::ReadinessCheck for InventoryReady {
    fn name(&self) -> &str {
        "inventory"
    }
    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move { exec(&self.0, |_, _| Ok(())).await.map_err(|e| e.message) })
    }
}
