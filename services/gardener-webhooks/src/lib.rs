//! gardener-webhooks: Gardener's admission and mutation for shoots of type metal (replaces
//! gardener-extension-provider-metal's webhooks and its admission component).
//!
//! The rules are a pure core ([`core`]); [`review`] reads and writes AdmissionReviews,
//! [`garden`] and [`seed`] decide which rule a review gets and what it must read first
//! ([`objects`]: watched CloudProfiles and Clusters, Secrets on demand), [`api`] serves it.
//! [`os_controller`] (`--os-controller`) renders OperatingSystemConfigs to Ignition userdata
//! (replaces os-metal-extension) with [`core::ignition`]. [`extensions`] (`--extensions`) runs
//! the Infrastructure, ControlPlane and Worker controllers and health checks of provider metal
//! (replaces gardener-extension-provider-metal's controllers) with [`core::extensions`].

pub mod api;
pub mod cli;
pub mod core;
pub mod extensions;
pub mod garden;
pub mod leading;
pub mod objects;
pub mod os_controller;
pub mod review;
pub mod seed;

use std::sync::Arc;

use anyhow::Context as _;
use futures::FutureExt as _;
use futures::future::BoxFuture;
use mesh_runtime::auth::AuthScope;
use mesh_runtime::{ReadinessCheck, ServiceInfo, ServiceParts, Setup};
use utoipa::OpenApi as _;

pub use crate::cli::Args;
use crate::core::defaulter::Defaults;
use crate::objects::KubeObjects;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "gardener-webhooks",
    version: env!("CARGO_PKG_VERSION"),
};

/// Paths kube-apiserver calls; open unless --webhooks-require-auth.
const WEBHOOK_PREFIXES: &[&str] = &["/webhooks/"];

/// The OpenAPI document (also committed as `openapi/gardener-webhooks.json`): the REST
/// endpoints need a credential, the webhooks by default do not.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api::ApiDoc::openapi();
    mesh_runtime::auth::document(&mut doc);
    for (path, item) in doc.paths.paths.iter_mut() {
        if path.starts_with(WEBHOOK_PREFIXES[0])
            && let Some(post) = item.post.as_mut()
        {
            // An empty requirement: no credential needed.
            post.security = Some(vec![
                utoipa::openapi::security::SecurityRequirement::default(),
            ]);
            for code in ["401", "403", "503"] {
                post.responses.responses.remove(code);
            }
        }
    }
    doc
}

/// What the chart's `metal-mesh:gardener-webhooks:viewer` and `…:editor` ClusterRoles grant:
/// the REST endpoints compute without changing anything, so viewers may use them.
pub fn access() -> mesh_runtime::auth::Access {
    let mut doc = api::ApiDoc::openapi();
    doc.paths
        .paths
        .retain(|path, _| !path.starts_with(WEBHOOK_PREFIXES[0]));
    mesh_runtime::auth::Access::from_openapi(&doc)
        .reading("create", "/v1/validate/shoot")
        .reading("create", "/v1/default/shoot")
        .reading("create", "/v1/render/ignition")
}

/// Ready once the watched kinds have been listed.
struct WatchesSynced(Arc<KubeObjects>);

impl ReadinessCheck for WatchesSynced {
    fn name(&self) -> &str {
        "kubernetes-watches"
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        futures::future::ready(self.0.synced()).boxed()
    }
}

/// Connects to Kubernetes, starts the watches the enabled webhooks need and returns the
/// routes.
pub async fn start(args: Args, setup: Setup) -> anyhow::Result<ServiceParts> {
    args.check().map_err(anyhow::Error::msg)?;
    let enabled = args.enabled();
    let (defaults, warnings) = Defaults::from_env(|key| std::env::var(key).ok());
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    let client = mesh_controller::client::client(args.kubeconfig.as_deref())
        .await
        .context("Kubernetes client")?;
    // The controllers (--os-controller, --extensions), stopped by the shutdown signal.
    let reconciles = (args.os_controller || args.extensions).then(|| {
        setup
            .registry
            .with(mesh_controller::metrics::ReconcileMetrics::new)
    });
    let os_controller = args.os_controller.then(|| {
        os_controller::start(
            client.clone(),
            os_controller::Config::from_args(&args),
            reconciles.clone().expect("metrics registered"),
            &setup,
        )
    });
    let mut extensions_config = args.extensions_config();
    if args.extensions && extensions_config.seed_api_url.is_none() {
        // Upstream's default: the API server this process talks to.
        let config = mesh_controller::client::config(args.kubeconfig.as_deref())
            .await
            .context("Kubernetes configuration")?;
        extensions_config.seed_api_url = Some(config.cluster_url.to_string());
    }
    let extensions = args.extensions.then(|| {
        extensions::start(
            client.clone(),
            extensions_config,
            reconciles.clone().expect("metrics registered"),
            &setup,
        )
    });
    let objects = KubeObjects::start(
        client.clone(),
        enabled.iter().any(|w| w.reads_profiles()),
        enabled.iter().any(|w| w.reads_clusters()),
    );
    let metrics = setup.registry.with(api::ReviewMetrics::new);
    let state = actix_web::web::Data::new(api::State {
        objects: objects.clone(),
        defaults,
        seed: args.seed_config(),
        metrics,
        ignition_version: args.ignition_version,
    });
    tracing::info!(
        webhooks = ?enabled.iter().map(|w| w.path_name()).collect::<Vec<_>>(),
        "serving"
    );
    let mut parts = ServiceParts::new(openapi(), move |cfg| {
        cfg.app_data(state.clone());
        api::routes(cfg, &enabled);
    })
    .with_kube(client)
    .with_readiness(WatchesSynced(objects));
    if !args.webhooks_require_auth {
        parts.auth_scope = AuthScope::ApiExcept(WEBHOOK_PREFIXES);
    }
    if os_controller.is_some() || extensions.is_some() {
        parts = parts.with_on_shutdown(move || async move {
            let os = async {
                if let Some(running) = os_controller {
                    running.stopped().await;
                }
            };
            let ext = async {
                if let Some(running) = extensions {
                    running.stopped().await;
                }
            };
            futures::join!(os, ext);
        });
    }
    Ok(parts)
}
