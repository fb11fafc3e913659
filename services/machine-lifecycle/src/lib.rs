//! machine-lifecycle: machines for Gardener's machine-controller-manager on metal-stack
//! (replaces machine-controller-manager-provider-metal).
//!
//! [`core`] decides (what to ask metal-api, what its answers mean, the error codes, the
//! Machine status); [`driver`] makes the metal-api calls; three edges use it: the Machine
//! controller ([`k8s::controller`]), the `machine_lifecycle.v1.Driver` gRPC service on a unix
//! socket ([`grpc`]) and REST ([`api`]). The [`actors::waiters`] actor owns the Machines
//! waiting for a free machine. With `--machine-deployments`, [`k8s::scaling`] turns
//! MachineDeployments into MachineSets and Machines, as machine-controller-manager does.

pub mod actors;
pub mod api;
pub mod cli;
pub mod core;
pub mod driver;
pub mod grpc;
pub mod k8s;
pub mod metrics;

/// The generated gRPC types and services (`proto/machine_lifecycle/v1/driver.proto`).
#[allow(clippy::all)]
pub mod proto {
    tonic::include_proto!("machine_lifecycle.v1");
}

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::FutureExt as _;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube_resources::mcm::Machine;
use mesh_controller::lease::LeaderElector;
use mesh_controller::metrics::ReconcileMetrics;
use mesh_controller::recorder::Events;
use mesh_runtime::{Mailbox, ReadinessCheck, ServiceInfo, ServiceParts, Setup, ShutdownSignal};
use tokio::sync::watch;
use utoipa::OpenApi as _;

use crate::actors::waiters::{self, Freed, Subscribe, Waiters};
pub use crate::cli::Args;
use crate::cli::{KubeSource, Target};
use crate::driver::{Driver, OnFreed};
use crate::k8s::classes::ClassReader;
use crate::k8s::controller::{self, Ctx};
use crate::k8s::scaling::{self, ScalingCtx};

pub const INFO: ServiceInfo = ServiceInfo {
    name: "machine-lifecycle",
    version: env!("CARGO_PKG_VERSION"),
};

/// The OpenAPI document (also committed as `openapi/machine-lifecycle.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api::ApiDoc::openapi();
    mesh_runtime::auth::document(&mut doc);
    doc
}

/// What the chart's `metal-mesh:machine-lifecycle:viewer` and `…:editor` ClusterRoles grant.
pub fn access() -> mesh_runtime::auth::Access {
    mesh_runtime::auth::Access::from_openapi(&api::ApiDoc::openapi())
}

/// Tells the waiters actor about freed machines.
struct WakeWaiters(Mailbox<Waiters>);

impl OnFreed for WakeWaiters {
    fn freed(&self, partition: &str, size: &str) {
        self.0
            .addr()
            .do_send(Freed((partition.to_owned(), size.to_owned())));
    }
}

/// Starts the driver, the waiters actor, the gRPC socket and (with Kubernetes) the Machine
/// controller, and the MachineDeployment and MachineSet controllers if asked; returns the REST
/// routes.
pub async fn start(args: Args, setup: Setup) -> anyhow::Result<ServiceParts> {
    args.check().map_err(anyhow::Error::msg)?;
    let driver = Arc::new(Driver::new(
        args.metal_api_timeout,
        args.metal_api_ca_file.clone(),
    ));
    let metrics = setup.registry.with(metrics::Metrics::new);
    let waiters = mesh_runtime::supervise(waiters::NAME, &setup.actors, {
        let actors = setup.actors.clone();
        move |_| Waiters::new(actors)
    });
    driver.set_on_freed(Arc::new(WakeWaiters(waiters.clone())));

    let mut control_client = None;
    let mut target_client = None;
    let mut running = None;
    let kube_side = if args.no_kubernetes {
        None
    } else {
        let client = kube_client(&args.control())
            .await
            .context("Kubernetes client (use --no-kubernetes to run without)")?;
        let target = match args.target() {
            Target::Same => Some(client.clone()),
            Target::Cluster(source) => Some(
                kube_client(&source)
                    .await
                    .context("Kubernetes client of --target-kubeconfig")?,
            ),
            Target::None => {
                tracing::warn!(
                    "--target-kubeconfig none: no Nodes to watch, Machines stay Pending"
                );
                None
            }
        };
        let classes = ClassReader::new(client.clone(), args.namespace.clone()).watch({
            let shutdown = setup.shutdown.clone();
            async move { shutdown.wait().await }
        });
        let machines: Api<Machine> = Api::namespaced(client.clone(), &args.namespace);
        let reconciles = setup.registry.with(ReconcileMetrics::new);
        let events = Events::new(client.clone(), INFO.name);
        let scaling = args.machine_deployments.then(|| {
            Arc::new(ScalingCtx::new(
                client.clone(),
                &args.namespace,
                reconciles.clone(),
                events.clone(),
            ))
        });
        let ctx = Arc::new(Ctx {
            machines: machines.clone(),
            nodes: target.clone().map(Api::all),
            classes: classes.clone(),
            driver: driver.clone(),
            waiters: waiters.clone(),
            retry: args.retry(),
            creation_timeout: args.creation_timeout,
            health_timeout: args.machine_health_timeout,
            metrics: reconciles,
            calls: metrics.clone(),
            events,
        });
        let leading = leadership(&args, &client, &setup.shutdown);
        if args.leader_elect {
            driver.only_while_leading(leading.clone());
        }
        running = Some(tokio::spawn(run_while_leading(
            ctx,
            scaling,
            args.workers,
            waiters.clone(),
            leading,
            setup.shutdown.clone(),
        )));
        if args.target() != Target::Same {
            target_client = target;
        }
        control_client = Some(client);
        Some(api::Kube { classes, machines })
    };
    let grpc = match &args.grpc_socket {
        Some(socket) => {
            let service = grpc::Service {
                driver: driver.clone(),
                metrics: metrics.clone(),
            };
            let shutdown = setup.shutdown.clone();
            Some(grpc::serve(service, socket, async move { shutdown.wait().await }).await?)
        }
        None => None,
    };

    tracing::info!(
        namespace = %args.namespace,
        grpc = ?args.grpc_socket,
        kubernetes = !args.no_kubernetes,
        machine_deployments = args.machine_deployments,
        "machine-lifecycle started"
    );

    let state = actix_web::web::Data::new(api::State {
        driver,
        metrics,
        kube: kube_side,
    });
    let mut parts = ServiceParts::new(openapi(), move |cfg| {
        cfg.app_data(state.clone()).configure(api::routes);
    });
    if let Some(client) = control_client {
        parts = parts
            .with_readiness(KubeReady("kubernetes", client.clone()))
            .with_kube(client);
    }
    if let Some(target) = target_client {
        parts = parts.with_readiness(KubeReady("target-kubernetes", target));
    }
    parts = parts.with_on_shutdown(move || async move {
        let wait = async {
            if let Some(controller) = running {
                let _ = controller.await;
            }
            if let Some(grpc) = grpc {
                let _ = grpc.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .is_err()
        {
            tracing::warn!("the Machine controller or the gRPC server did not stop in time");
        }
    });
    Ok(parts)
}

/// Whether this replica may reconcile: always without leader election, else while it holds
/// the Lease.
fn leadership(
    args: &Args,
    client: &kube::Client,
    shutdown: &ShutdownSignal,
) -> watch::Receiver<bool> {
    if !args.leader_elect {
        let shutdown = shutdown.clone();
        return mesh_controller::lease::always_leading(async move { shutdown.wait().await });
    }
    let namespace = args
        .leader_elect_namespace
        .clone()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| args.namespace.clone());
    let identity = args.identity();
    tracing::info!(lease = %args.leader_elect_lease_name, %namespace, %identity, "leader election");
    let api: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let shutdown = shutdown.clone();
    LeaderElector::new(
        api,
        args.leader_elect_lease_name.clone(),
        identity,
        args.leader_elect_lease_duration,
    )
    .spawn(async move { shutdown.wait().await })
}

/// Runs the controllers each time this replica leads, until shutdown: the Machine controller,
/// and with `scaling` the MachineDeployment and MachineSet controllers.
async fn run_while_leading(
    ctx: Arc<Ctx>,
    scaling: Option<Arc<ScalingCtx>>,
    workers: u16,
    waiters: Mailbox<Waiters>,
    mut leading: watch::Receiver<bool>,
    shutdown: ShutdownSignal,
) {
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            led = leading.wait_for(|l| *l) => if led.is_err() { return },
        }
        tracing::info!(
            machine_deployments = scaling.is_some(),
            "leading: starting the Machine controller"
        );
        let stop = ShutdownSignal::new();
        let watcher_task = tokio::spawn({
            let (stop, shutdown, mut leading) = (stop.clone(), shutdown.clone(), leading.clone());
            async move {
                tokio::select! {
                    _ = shutdown.wait() => {}
                    _ = leading.wait_for(|l| !*l) => {}
                }
                stop.trigger();
            }
        });
        let (wake, woken) = tokio::sync::mpsc::unbounded_channel();
        let _ = waiters.send(Subscribe(wake)).await;
        let machines = controller::run(ctx.clone(), workers, woken, {
            let stop = stop.clone();
            async move { stop.wait().await }
        });
        let scalers = async {
            if let Some(scaling) = &scaling {
                scaling::run(scaling.clone(), workers, stop).await;
            }
        };
        tokio::join!(machines, scalers);
        watcher_task.abort();
        if shutdown.is_triggered() {
            tracing::info!("Machine controller stopped");
            return;
        }
        tracing::warn!("lost the leader-election lease: Machine controller stopped");
    }
}

/// A client for the cluster `source` names.
async fn kube_client(source: &KubeSource) -> anyhow::Result<kube::Client> {
    match source {
        KubeSource::Default(path) => Ok(mesh_controller::client::client(path.as_deref()).await?),
        KubeSource::InCluster => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = kube::Config::incluster().context("the in-cluster config")?;
            Ok(kube::Client::try_from(config)?)
        }
    }
}

/// Ready while a Kubernetes API answers.
struct KubeReady(&'static str, kube::Client);

impl ReadinessCheck for KubeReady {
    fn name(&self) -> &str {
        self.0
    }
    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        async move {
            self.1
                .apiserver_version()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Without leader election the controller leads until shutdown, not for an instant: a
    /// receiver whose sender is gone would read as a lost lease at once.
    #[tokio::test]
    async fn without_election_it_leads_until_shutdown() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let args: Args =
            mesh_runtime::try_parse_args_from(cli::ENV_PREFIX, ["machine-lifecycle"]).unwrap();
        let shutdown = ShutdownSignal::new();
        let mut leading = leadership(&args, &client, &shutdown);
        let lost = tokio::time::timeout(Duration::from_millis(200), leading.wait_for(|l| !*l))
            .await
            .is_ok();
        assert!(!lost, "still leading before shutdown");
        shutdown.trigger();
        let ended = tokio::time::timeout(Duration::from_secs(2), leading.changed()).await;
        assert!(
            matches!(ended, Ok(Err(_))),
            "the election ends with shutdown"
        );
    }
}
