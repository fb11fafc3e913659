//! lb-allocator: LoadBalancer IPs from metal-api, MetalLB (or Cilium) configuration and node
//! metadata for a Kubernetes cluster on metal-stack; replaces metal-ccm.
//!
//! Three actors own the state: the allocator (every change to the cluster's IPs), the
//! configuration writer (the desired MetalLB objects, written after each change) and the
//! machine cache. The Service and Node controllers, and the REST API, are thin edges that send
//! them messages.

pub mod actors;
pub mod api;
pub mod cli;
pub mod core;
pub mod k8s;
pub mod metal;

use std::sync::Arc;

use actix::AsyncContext as _;
use actix_web::web;
use anyhow::Context as _;
use futures::FutureExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use mesh_controller::lease::LeaderElector;
use mesh_controller::metrics::ReconcileMetrics;
use mesh_runtime::{ReadinessCheck, ServiceInfo, ServiceParts, Setup, ShutdownSignal};
use metal_api_sdk::client::{Client as MetalClient, ClientConfig};
use tokio::sync::watch;
use utoipa::OpenApi;

use crate::actors::allocator::{self, Allocator};
use crate::actors::lbconfig::{self, LbConfigWriter, Poke};
use crate::actors::machines::{self, MachineCache};
pub use crate::cli::Args;
use crate::k8s::events::Events;
use crate::k8s::lbwriter::KubeSide;
use crate::metal::MetalOps;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "lb-allocator",
    version: env!("CARGO_PKG_VERSION"),
};

/// The lb-allocator OpenAPI document (also committed as `openapi/lb-allocator.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api::ApiDoc::openapi();
    mesh_runtime::auth::document(&mut doc);
    doc
}

/// What the chart's `metal-mesh:lb-allocator:viewer` and `…:editor` ClusterRoles grant.
pub fn access() -> mesh_runtime::auth::Access {
    mesh_runtime::auth::Access::from_openapi(&api::ApiDoc::openapi())
}

/// Starts the actors, and with Kubernetes the node watch and (while leading) the
/// controllers; returns the REST routes for the runtime to serve.
pub async fn start(args: Args, setup: Setup) -> anyhow::Result<ServiceParts> {
    let config = Arc::new(args.config().map_err(anyhow::Error::msg)?);
    let auth = args.auth().map_err(anyhow::Error::msg)?;
    let mut metal_config = ClientConfig::new(&args.metal_api_url, auth);
    metal_config.ca_file = args.metal_api_ca_file.clone();
    let metal = MetalClient::new(metal_config).context("metal-api client")?;
    let ops = MetalOps::new(metal.clone(), config.clone());

    let kube = if args.no_kubernetes {
        None
    } else {
        Some(
            k8s::client(args.kubeconfig.as_deref())
                .await
                .context("Kubernetes client (use --no-kubernetes to run without)")?,
        )
    };
    let leading = leadership(&args, kube.as_ref(), &setup.shutdown);

    let (nodes, node_writer) = k8s::node_store();
    let kube_side = kube.clone().map(|client| KubeSide {
        events: Events::new(client.clone(), k8s::events::REPORTER),
        client,
        nodes: nodes.clone(),
    });
    // The writer asks the allocator for the cluster's IPs, the allocator asks the writer to
    // write after each change: each gets the other's address while the writer is created.
    let allocator_slot = std::rc::Rc::new(std::cell::OnceCell::new());
    let lbconfig = mesh_runtime::supervise(lbconfig::NAME, &setup.actors, {
        let (slot, actors, config, leading) = (
            allocator_slot.clone(),
            setup.actors.clone(),
            config.clone(),
            leading.clone(),
        );
        let sync_interval = args.sync_interval;
        move |ctx| {
            let writer = mesh_runtime::Mailbox::new(lbconfig::NAME, ctx.address(), &actors);
            let allocator =
                Allocator::new(ops, writer, leading.clone(), sync_interval, actors.clone());
            let allocator = mesh_runtime::supervise(allocator::NAME, &actors, move |_| allocator);
            let _ = slot.set(allocator.clone());
            LbConfigWriter::new(config, allocator, kube_side, leading, sync_interval, actors)
        }
    });
    let allocator = allocator_slot
        .get()
        .expect("created with the writer")
        .clone();
    let cache = MachineCache::new(
        metal.clone(),
        config.project.clone(),
        args.machine_cache_ttl,
        setup.actors.clone(),
    );
    let machines = mesh_runtime::supervise(machines::NAME, &setup.actors, move |_| cache);

    let mut readiness: Vec<Arc<dyn ReadinessCheck>> = vec![Arc::new(MetalApiReady(metal.clone()))];
    let reviews = kube.clone();
    if let Some(client) = kube {
        k8s::spawn_node_watch(client.clone(), nodes, node_writer, lbconfig.clone());
        let metrics = setup.registry.with(ReconcileMetrics::new);
        let events = Events::new(client.clone(), k8s::events::REPORTER);
        let services = Arc::new(k8s::services::ServiceCtx {
            client: client.clone(),
            allocator: allocator.clone(),
            events: events.clone(),
            sync_interval: args.sync_interval,
            metrics: metrics.clone(),
            failures: Default::default(),
        });
        let node_ctx = Arc::new(k8s::nodes::NodeCtx {
            client: client.clone(),
            metal: metal.clone(),
            machines: machines.clone(),
            config: config.clone(),
            events,
            sync_interval: args.sync_interval,
            ssh_key_interval: args.ssh_key_interval,
            delete_gone_nodes: args.delete_gone_nodes,
            metrics,
            ssh_checked: Default::default(),
            failures: Default::default(),
        });
        tokio::spawn(run_while_leading(
            leading,
            args.leader_elect,
            setup.shutdown.clone(),
            lbconfig.clone(),
            services,
            node_ctx,
        ));
        readiness.push(Arc::new(KubeReady(client)));
    }
    if args.health_watchdog_failures > 0 {
        tokio::spawn(watchdog(
            metal,
            args.health_watchdog_failures,
            setup.shutdown.clone(),
        ));
    }

    let state = web::Data::new(api::State {
        allocator,
        lbconfig,
        machines,
        config,
    });
    let mut parts = ServiceParts::new(openapi(), move |cfg| {
        cfg.app_data(state.clone()).configure(api::routes);
    });
    parts.readiness = readiness;
    if let Some(client) = reviews {
        parts = parts.with_kube(client);
    }
    Ok(parts)
}

/// Whether this replica may change things: always without leader election, else while it
/// holds the Lease.
fn leadership(
    args: &Args,
    kube: Option<&kube::Client>,
    shutdown: &ShutdownSignal,
) -> watch::Receiver<bool> {
    match kube {
        Some(client) if args.leader_elect => {
            let namespace = args
                .leader_elect_namespace
                .clone()
                .unwrap_or_else(|| "kube-system".into());
            let identity = args.leader_elect_identity.clone().unwrap_or_else(|| {
                std::env::var("HOSTNAME")
                    .unwrap_or_else(|_| format!("lb-allocator-{}", std::process::id()))
            });
            let api: kube::Api<Lease> = kube::Api::namespaced(client.clone(), &namespace);
            let shutdown = shutdown.clone();
            LeaderElector::new(
                api,
                &args.leader_elect_lease_name,
                identity,
                args.leader_elect_lease_duration,
            )
            .spawn(async move { shutdown.wait().await })
        }
        _ => watch::channel(true).1,
    }
}

/// Starts the controllers once this replica leads. A leader that loses the Lease exits, as
/// client-go's controllers do: a fresh start follows the new leader without stale state.
async fn run_while_leading(
    mut leading: watch::Receiver<bool>,
    elected: bool,
    shutdown: ShutdownSignal,
    lbconfig: mesh_runtime::Mailbox<LbConfigWriter>,
    services: Arc<k8s::services::ServiceCtx>,
    nodes: Arc<k8s::nodes::NodeCtx>,
) {
    if leading.wait_for(|l| *l).await.is_err() && !*leading.borrow() {
        return;
    }
    tracing::info!("leading: starting the Service and Node controllers");
    lbconfig.addr().do_send(Poke);
    let stop = {
        let s = shutdown.clone();
        move || {
            let s = s.clone();
            async move { s.wait().await }
        }
    };
    tokio::spawn(k8s::services::run(services, stop()));
    tokio::spawn(k8s::nodes::run(nodes, stop()));
    if elected {
        let lost = leading.wait_for(|l| !*l).await.is_ok();
        if lost && !shutdown.is_triggered() {
            tracing::error!("lost the leader-election lease; exiting");
            std::process::exit(1);
        }
    }
}

/// metal-ccm exits after 60 failed health checks, one a minute; so does this (configurable),
/// so a pod that lost its way to metal-api gets restarted.
async fn watchdog(metal: MetalClient, limit: u32, shutdown: ShutdownSignal) {
    let mut failures = 0u32;
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tick.tick() => {}
        }
        match metal.health().await {
            Ok(h) if h.status == "healthy" => failures = 0,
            outcome => {
                failures += 1;
                tracing::warn!(failures, ?outcome, "metal-api health check failed");
                if failures > limit {
                    tracing::error!(failures, "metal-api unhealthy for too long; exiting");
                    std::process::exit(1);
                }
            }
        }
    }
}

/// Ready while metal-api answers healthy.
struct MetalApiReady(MetalClient);

impl ReadinessCheck for MetalApiReady {
    fn name(&self) -> &str {
        "metal-api"
    }
    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        async move {
            match self.0.health().await {
                Ok(h) if h.status == "healthy" => Ok(()),
                Ok(h) => Err(format!("metal-api reports {:?}", h.status)),
                Err(e) => Err(e.to_string()),
            }
        }
        .boxed()
    }
}

/// Ready while the Kubernetes API answers.
struct KubeReady(kube::Client);

impl ReadinessCheck for KubeReady {
    fn name(&self) -> &str {
        "kubernetes"
    }
    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        async move {
            self.0
                .apiserver_version()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        .boxed()
    }
}
