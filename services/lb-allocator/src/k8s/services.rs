//! The Service controller: for every `type: LoadBalancer` Service, hold the finalizer, ensure
//! its IPs through the allocator actor and publish them in `status.loadBalancer.ingress`.
//! A Service that is deleted, or stops being a load balancer, gives its IPs back and loses
//! the finalizer. The IP is never written into the Service spec: the IP's tag is the record.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use mesh_controller::backoff::Backoff;
use mesh_controller::metrics::ReconcileMetrics;
use mesh_runtime::Mailbox;
use serde_json::json;

use super::events::Events;
use crate::actors::allocator::{Allocator, Ensure, Release};
use crate::core::error::LbError;
use crate::core::outcome::{Change, LbIp};
use crate::core::service::{ServiceKey, is_ours, request_for};

pub const FINALIZER: &str = "service.kubernetes.io/load-balancer-cleanup";
const CONTROLLER: &str = "service";

pub struct ServiceCtx {
    pub client: kube::Client,
    pub allocator: Mailbox<Allocator>,
    pub events: Events,
    pub sync_interval: Duration,
    pub metrics: ReconcileMetrics,
    /// Failed attempts per Service, for the backoff.
    pub failures: parking_lot::Mutex<HashMap<String, u32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Lb(#[from] LbError),
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
}

fn has_finalizer(svc: &Service) -> bool {
    svc.finalizers().iter().any(|f| f == FINALIZER)
}

/// Writes the finalizer list with the resourceVersion read: a concurrent change is a 409 and
/// the next reconcile starts over.
async fn set_finalizers(
    api: &Api<Service>,
    svc: &Service,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch =
        json!({"metadata": {"resourceVersion": svc.resource_version(), "finalizers": finalizers}});
    api.patch(
        &svc.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(|_| ())
}

fn ingress(svc: &Service) -> BTreeSet<String> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| i.iter().filter_map(|i| i.ip.clone()).collect())
        .unwrap_or_default()
}

async fn set_ingress(api: &Api<Service>, name: &str, ips: &[LbIp]) -> Result<(), kube::Error> {
    let ingress: Vec<_> = ips.iter().map(|ip| json!({"ip": ip.address})).collect();
    let value = if ingress.is_empty() {
        json!(null)
    } else {
        json!(ingress)
    };
    let patch = json!({"status": {"loadBalancer": {"ingress": value}}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
}

fn publish_changes(events: &Events, svc: &Service, changes: &[Change]) {
    for change in changes {
        let (reason, note) = change.event();
        events.normal(svc.object_ref(&()), reason, "EnsureLoadBalancer", note);
    }
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<ServiceCtx>) -> Result<Action, ReconcileError> {
    let result = ctx.metrics.measure(CONTROLLER, sync(&svc, &ctx)).await;
    if result.is_ok() {
        ctx.failures.lock().remove(&key_of(&svc));
    }
    result
}

fn key_of(svc: &Service) -> String {
    format!("{}/{}", svc.namespace().unwrap_or_default(), svc.name_any())
}

async fn sync(svc: &Service, ctx: &ServiceCtx) -> Result<Action, ReconcileError> {
    let namespace = svc.namespace().unwrap_or_else(|| "default".into());
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    let name = svc.name_any();
    let deleting = svc.metadata.deletion_timestamp.is_some();

    if deleting || !is_ours(svc) {
        if !has_finalizer(svc) {
            return Ok(Action::await_change());
        }
        let key = ServiceKey {
            namespace,
            name: name.clone(),
        };
        let changes = ctx
            .allocator
            .send(Release(key))
            .await
            .map_err(|e| LbError::Config(format!("allocator unavailable: {e}")))
            .and_then(|r| r)
            .inspect_err(|e| {
                ctx.events.warning(
                    svc.object_ref(&()),
                    "SyncLoadBalancerFailed",
                    "ReleaseLoadBalancer",
                    e.to_string(),
                );
            })?;
        for change in &changes {
            let (reason, note) = change.event();
            ctx.events
                .normal(svc.object_ref(&()), reason, "ReleaseLoadBalancer", note);
        }
        if !deleting && !ingress(svc).is_empty() {
            set_ingress(&api, &name, &[]).await?;
        }
        let rest: Vec<String> = svc
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        set_finalizers(&api, svc, rest).await?;
        return Ok(Action::await_change());
    }

    if !has_finalizer(svc) {
        let mut finalizers = svc.finalizers().to_vec();
        finalizers.push(FINALIZER.into());
        set_finalizers(&api, svc, finalizers).await?;
    }
    let warn = |e: &LbError| {
        ctx.events.warning(
            svc.object_ref(&()),
            "SyncLoadBalancerFailed",
            "EnsureLoadBalancer",
            e.to_string(),
        );
    };
    let request = request_for(svc).inspect_err(warn)?;
    let ensured = ctx
        .allocator
        .send(Ensure(request))
        .await
        .map_err(|e| LbError::Config(format!("allocator unavailable: {e}")))
        .and_then(|r| r)
        .inspect_err(warn)?;
    publish_changes(&ctx.events, svc, &ensured.changes);
    let wanted: BTreeSet<String> = ensured.ips.iter().map(|ip| ip.address.clone()).collect();
    if wanted != ingress(svc) {
        set_ingress(&api, &name, &ensured.ips).await?;
    }
    Ok(Action::requeue(ctx.sync_interval))
}

/// Exhaustion waits longest (someone has to free IPs), other refusals wait for a change of
/// the Service or the inventory, transient failures retry soon; all double up to a cap, with
/// jitter.
fn error_policy(svc: Arc<Service>, error: &ReconcileError, ctx: Arc<ServiceCtx>) -> Action {
    let attempt = {
        let mut failures = ctx.failures.lock();
        let n = failures.entry(key_of(&svc)).or_insert(0);
        *n += 1;
        *n - 1
    };
    let backoff = match error {
        ReconcileError::Lb(LbError::Exhausted { .. }) => Backoff {
            base: Duration::from_secs(30),
            max: Duration::from_secs(600),
            factor: 2.0,
        },
        ReconcileError::Lb(e) if !e.is_transient() => Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(300),
            factor: 2.0,
        },
        _ => Backoff::default(),
    };
    let delay = backoff.next(attempt);
    tracing::warn!(service = %key_of(&svc), error = %error, retry_in = ?delay, "service reconcile failed");
    Action::requeue(delay)
}

/// Runs the Service controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<ServiceCtx>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<Service> = Api::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(64))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
