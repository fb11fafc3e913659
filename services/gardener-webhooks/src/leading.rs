//! Leader election for the controllers of this binary: with `--leader-elect` a controller runs
//! only while this replica holds its Lease, stops when the Lease is lost (the webhooks keep
//! being served) and starts again once leading.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use mesh_controller::lease::LeaderElector;
use mesh_runtime::ShutdownSignal;
use tokio::sync::watch;

/// One Lease a controller runs under.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    /// `None`: the Kubernetes client's default namespace.
    pub namespace: Option<String>,
    pub lease_name: String,
    pub lease_duration: Duration,
    pub identity: String,
}

/// Whether this replica may reconcile: always without leader election, else while it holds
/// the Lease (released on shutdown).
pub fn leadership(
    client: &kube::Client,
    election: Option<LeaderElection>,
    shutdown: &ShutdownSignal,
    controller: &str,
) -> watch::Receiver<bool> {
    let shutdown = shutdown.clone();
    let Some(election) = election else {
        return mesh_controller::lease::always_leading(async move { shutdown.wait().await });
    };
    let namespace = election
        .namespace
        .unwrap_or_else(|| client.default_namespace().to_owned());
    tracing::info!(
        lease = %election.lease_name,
        %namespace,
        identity = %election.identity,
        controller,
        "leader election"
    );
    let api: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    LeaderElector::new(
        api,
        election.lease_name,
        election.identity,
        election.lease_duration,
    )
    .spawn(async move { shutdown.wait().await })
}

/// Resolves when a controller must stop (kube-runtime's graceful shutdown wants it `Sync`).
pub type Stop = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

/// Runs `run(stop)` each time this replica leads, until shutdown; `stop` resolves on shutdown
/// or when the Lease is lost, and `run` returns once its reconciles finished.
pub async fn run_while_leading<F>(
    controller: &'static str,
    mut leading: watch::Receiver<bool>,
    shutdown: ShutdownSignal,
    run: F,
) where
    F: Fn(Stop) -> BoxFuture<'static, ()>,
{
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            led = leading.wait_for(|l| *l) => if led.is_err() { return },
        }
        tracing::info!(controller, "leading: starting the controller");
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
        run(Box::pin(async move { stop.wait().await })).await;
        watcher_task.abort();
        if shutdown.is_triggered() {
            tracing::info!(controller, "controller stopped");
            return;
        }
        tracing::warn!(
            controller,
            "lost the leader-election lease: controller stopped"
        );
    }
}

/// Waits (at most 10 s) for `task` to finish and the election behind `leading` to give the
/// Lease up.
pub async fn stopped(
    controller: &str,
    task: impl Future<Output = ()>,
    mut leading: watch::Receiver<bool>,
) {
    let wait = async move {
        task.await;
        // The election's sender goes away once it released the Lease.
        while leading.changed().await.is_ok() {}
    };
    if tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .is_err()
    {
        tracing::warn!(controller, "controller did not stop in time");
    }
}
