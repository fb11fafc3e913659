//! The OperatingSystemConfig controller (replaces os-metal-extension's): renders the OSCs of our
//! types ([`crate::core::ignition::SUPPORTED_TYPES`]) into the Secret `osc-result-<name>` and the
//! OSC's status, as Gardener's extension contract asks.
//!
//! The decisions are pure ([`plan`]); this module reads what they need and performs the writes
//! they list, in order. Each reconcile reads the OSC, its referenced Secrets and the result Secret
//! afresh from the API, so a decision never rests on a cache that has not yet seen the previous
//! reconcile's writes.
//!
//! Triggers: every OSC event, and every Secret event mapped to the OSCs of its namespace that
//! reference it (`spec.files[].content.secretRef`, looked up in the controller's OSC cache) or,
//! for a result Secret, to its controlling OSC. Whether anything is rendered is [`plan`]'s call:
//! most events end with nothing to do.
//!
//! With `--leader-elect` the controller runs only while this replica holds the Lease; one that
//! loses it stops the controller (webhooks keep being served) and starts it again once leading.

pub mod plan;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use mesh_controller::backoff::Backoff;
use mesh_controller::metrics::ReconcileMetrics;
use mesh_controller::recorder::Events;
use mesh_runtime::Setup;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::cli::Args;
use crate::core::ignition::{self, IgnitionVersion, Secrets};
use plan::{Observed, Operation, Step};

/// The controller's name in metrics, Events and logs (upstream's controller name).
pub const CONTROLLER: &str = "os-metal";
const METRICS_LABEL: &str = "operatingsystemconfig";

/// The OSC kind, served by Gardener's CRD.
pub fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("extensions.gardener.cloud", "v1alpha1", plan::KIND),
        "operatingsystemconfigs",
    )
}

pub use crate::leading::LeaderElection;

#[derive(Debug, Clone)]
pub struct Config {
    pub default_version: IgnitionVersion,
    pub workers: u16,
    pub leader_election: Option<LeaderElection>,
}

impl Config {
    pub fn from_args(args: &Args) -> Self {
        Config {
            default_version: args.ignition_version,
            workers: args.os_controller_workers,
            leader_election: args
                .leader_elect
                .then(|| args.leader_election(&args.leader_elect_lease_name)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The OSC cannot be rendered (also in its status).
    #[error("{0}")]
    Render(String),
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("unexpected object: {0}")]
    Decode(#[from] serde_json::Error),
}

struct Ctx {
    client: kube::Client,
    resource: ApiResource,
    default_version: IgnitionVersion,
    events: Events,
    metrics: ReconcileMetrics,
    /// Failed attempts per OSC (`namespace/name`), for the backoff.
    failures: parking_lot::Mutex<HashMap<String, u32>>,
}

/// The running controller (and election); [`Running::stopped`] resolves once both ended after
/// the shutdown signal, the Lease released.
pub struct Running {
    controller: tokio::task::JoinHandle<()>,
    leading: watch::Receiver<bool>,
}

impl Running {
    /// Waits (at most 10 s) for the controller to finish its reconciles and the election to
    /// give the Lease up.
    pub async fn stopped(self) {
        let Running {
            controller,
            leading,
        } = self;
        crate::leading::stopped(
            CONTROLLER,
            async move {
                let _ = controller.await;
            },
            leading,
        )
        .await;
    }
}

/// Starts the controller (while leading, with leader election) until `setup.shutdown`.
pub fn start(
    client: kube::Client,
    config: Config,
    metrics: ReconcileMetrics,
    setup: &Setup,
) -> Running {
    let ctx = Arc::new(Ctx {
        events: Events::new(client.clone(), CONTROLLER),
        resource: resource(),
        default_version: config.default_version,
        metrics,
        failures: Default::default(),
        client,
    });
    let leading = crate::leading::leadership(
        &ctx.client,
        config.leader_election,
        &setup.shutdown,
        CONTROLLER,
    );
    tracing::info!(
        controller = CONTROLLER,
        ignition_version = %config.default_version,
        workers = config.workers,
        "OperatingSystemConfig controller enabled"
    );
    let workers = config.workers;
    let controller = tokio::spawn(crate::leading::run_while_leading(
        CONTROLLER,
        leading.clone(),
        setup.shutdown.clone(),
        move |stop| Box::pin(run(ctx.clone(), workers, stop)),
    ));
    Running {
        controller,
        leading,
    }
}

/// The controller until `stop` resolves (in-flight reconciles finish).
async fn run(
    ctx: Arc<Ctx>,
    workers: u16,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let oscs: Api<DynamicObject> = Api::all_with(ctx.client.clone(), &ctx.resource);
    let secrets: Api<Secret> = Api::all(ctx.client.clone());
    let controller = Controller::new_with(oscs, watcher::Config::default(), ctx.resource.clone());
    let store = controller.store();
    let resource = ctx.resource.clone();
    controller
        .watches(secrets, watcher::Config::default(), move |secret| {
            oscs_for_secret(&store, &resource, &secret)
        })
        .with_config(ControllerConfig::default().concurrency(workers))
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// The OSCs a Secret event concerns: those of its namespace referencing it, and the OSC
/// controlling it (a result Secret).
fn oscs_for_secret(
    store: &Store<DynamicObject>,
    resource: &ApiResource,
    secret: &Secret,
) -> Vec<ObjectRef<DynamicObject>> {
    let Some(namespace) = secret.metadata.namespace.as_deref() else {
        return Vec::new();
    };
    let name = secret.name_any();
    let mut refs: Vec<ObjectRef<DynamicObject>> = store
        .state()
        .iter()
        .filter(|osc| osc.metadata.namespace.as_deref() == Some(namespace))
        .filter(|osc| plan::is_ours(&osc.data))
        .filter(|osc| ignition::referenced_secrets(&osc.data).contains(&name))
        .map(|osc| ObjectRef::from_obj_with(osc.as_ref(), resource.clone()))
        .collect();
    for owner in secret.owner_references() {
        if owner.controller == Some(true)
            && owner.kind == plan::KIND
            && owner.api_version == plan::API_VERSION
        {
            refs.push(ObjectRef::new_with(&owner.name, resource.clone()).within(namespace));
        }
    }
    refs
}

fn key(osc: &DynamicObject) -> String {
    format!(
        "{}/{}",
        osc.metadata.namespace.as_deref().unwrap_or_default(),
        osc.name_any()
    )
}

async fn reconcile(osc: Arc<DynamicObject>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    // Others' OSCs: not even counted.
    if !plan::is_ours(&osc.data) {
        return Ok(Action::await_change());
    }
    let result = ctx.metrics.measure(METRICS_LABEL, sync(&osc, &ctx)).await;
    if result.is_ok() {
        ctx.failures.lock().remove(&key(&osc));
    }
    result
}

/// RFC 3339 in seconds, as `metav1.Time` is written.
fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

async fn sync(cached: &DynamicObject, ctx: &Ctx) -> Result<Action, ReconcileError> {
    let namespace = cached.metadata.namespace.clone().unwrap_or_default();
    let name = cached.name_any();
    let oscs: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &namespace, &ctx.resource);
    let secrets_api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(current) = oscs.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let osc = serde_json::to_value(&current)?;
    let reads = plan::reads(&osc);
    let mut secrets = Secrets::new();
    for secret_name in reads.secrets {
        if let Some(secret) = secrets_api.get_opt(&secret_name).await? {
            let data = match serde_json::to_value(&secret)?.get_mut("data") {
                Some(Value::Object(data)) => std::mem::take(data),
                _ => Default::default(),
            };
            secrets.insert(secret_name, data);
        }
    }
    let result = match &reads.result {
        Some(result_name) => secrets_api
            .get_opt(result_name)
            .await?
            .map(|s| serde_json::to_value(&s))
            .transpose()?,
        None => None,
    };
    let now = now();
    let observed = Observed {
        osc: &osc,
        secrets: &secrets,
        result: result.as_ref(),
    };
    let plan = plan::decide(&observed, ctx.default_version, &now);
    if let Some(op) = plan.operation {
        tracing::info!(
            osc = %key(&current),
            operation = op.as_str(),
            reason = plan.reason,
            steps = plan.steps.len(),
            "reconciling OperatingSystemConfig"
        );
    } else {
        tracing::debug!(osc = %key(&current), reason = plan.reason, "nothing to do");
    }
    let rv = current.resource_version().unwrap_or_default();
    let writer = Writer {
        oscs: &oscs,
        secrets: &secrets_api,
        name: &name,
    };
    if let Err(e) = writer.perform(&plan.steps, rv).await {
        let op = plan.operation.unwrap_or(Operation::Reconcile);
        let conflict = matches!(&e, kube::Error::Api(s) if s.code == 409);
        if !conflict {
            let description = format!("writing the OperatingSystemConfig's results failed: {e}");
            ctx.events.warning(
                current.object_ref(&ctx.resource),
                "ReconcileFailed",
                op.as_str(),
                description.clone(),
            );
            if let Some(status) = plan::error_status(&osc, op, &description, &now) {
                // Best effort: the error is returned either way.
                let _ = oscs
                    .patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": status})),
                    )
                    .await;
            }
        }
        return Err(e.into());
    }
    if let Some(error) = plan.error {
        ctx.events.warning(
            current.object_ref(&ctx.resource),
            "RenderFailed",
            plan.operation.unwrap_or(Operation::Reconcile).as_str(),
            error.clone(),
        );
        return Err(ReconcileError::Render(error));
    }
    Ok(Action::await_change())
}

/// Performs a plan's steps on one OSC.
struct Writer<'a> {
    oscs: &'a Api<DynamicObject>,
    secrets: &'a Api<Secret>,
    name: &'a str,
}

impl Writer<'_> {
    /// The steps in order, each OSC write guarded by the resourceVersion the previous one left.
    /// An OSC that is gone (its last finalizer released) ends the plan.
    async fn perform(&self, steps: &[Step], mut rv: String) -> Result<(), kube::Error> {
        let params = PatchParams::default();
        for step in steps {
            let written = match step {
                Step::SetFinalizers(finalizers) => {
                    let patch =
                        json!({"metadata": {"resourceVersion": rv, "finalizers": finalizers}});
                    self.oscs
                        .patch(self.name, &params, &Patch::Merge(patch))
                        .await
                }
                Step::Status(status) => {
                    let patch = json!({"status": status});
                    self.oscs
                        .patch_status(self.name, &params, &Patch::Merge(patch))
                        .await
                }
                Step::RemoveOperationAnnotation => {
                    let patch = json!({"metadata": {
                        "resourceVersion": rv,
                        "annotations": {plan::OPERATION_ANNOTATION: null},
                    }});
                    self.oscs
                        .patch(self.name, &params, &Patch::Merge(patch))
                        .await
                }
                Step::WriteSecret(secret) => {
                    let secret: Secret =
                        serde_json::from_value(secret.clone()).map_err(kube::Error::SerdeError)?;
                    let name = secret.name_any();
                    if secret.metadata.resource_version.is_some() {
                        self.secrets
                            .replace(&name, &PostParams::default(), &secret)
                            .await?;
                    } else {
                        self.secrets.create(&PostParams::default(), &secret).await?;
                    }
                    continue;
                }
            };
            match written {
                Ok(osc) => rv = osc.resource_version().unwrap_or_default(),
                Err(e) if not_found(&e) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Retries with exponential backoff: quickly for conflicts and API errors, from 5 s doubling to
/// 5 min for render errors (a missing Secret is also retried as soon as it appears).
fn error_policy(osc: Arc<DynamicObject>, error: &ReconcileError, ctx: Arc<Ctx>) -> Action {
    let attempt = {
        let mut failures = ctx.failures.lock();
        let n = failures.entry(key(&osc)).or_insert(0);
        *n += 1;
        *n - 1
    };
    let backoff = match error {
        ReconcileError::Render(_) => Backoff {
            base: Duration::from_secs(5),
            max: Duration::from_secs(300),
            factor: 2.0,
        },
        _ => Backoff::default(),
    };
    let delay = backoff.next(attempt);
    tracing::warn!(osc = %key(&osc), error = %error, retry_in = ?delay, "OperatingSystemConfig reconcile failed");
    Action::requeue(delay)
}
