//! The Machine controller: the create and delete flows of MCM's machine controller for the
//! Machines of `--namespace` whose class is a MachineClass of provider metal.
//!
//! * Create: hold the finalizer, call the driver's Create (which adopts a machine an earlier
//!   attempt allocated), write `spec.providerID` first (the durable record), then the status:
//!   Pending, Running once the Node of that name is Ready.
//! * Failures: `status.lastOperation` with the error code, phase CrashLoopBackOff (Failed after
//!   the creation timeout), retried by code: ResourceExhausted long (and at once when this
//!   process frees a machine of the pool), Unavailable short, the rest medium.
//! * Delete: Terminating, free the machine (draining is MCM's), delete the Node, drop the
//!   finalizer.
//!
//! Triggers: Machine events, Node events (by name), MachineClass events (the Machines of the
//! class) and the waiters woken by a freed machine.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use kube_resources::mcm::{Machine, MachineClass};
use mesh_controller::metrics::ReconcileMetrics;
use mesh_controller::recorder::Events;
use mesh_runtime::Mailbox;
use serde_json::json;

use super::classes::ClassReader;
use crate::actors::waiters::{Done, Wait, Waiters};
use crate::core::code::{Code, DriverError};
use crate::core::lifecycle::{self, FINALIZER, NodeSeen, StatusUpdate, Timing};
use crate::core::retry::RetryPeriods;
use crate::driver::Driver;
use crate::metrics::Metrics;

pub const CONTROLLER: &str = "machine";
/// The `caller` label of driver calls made here.
const CALLER: &str = "controller";
/// The Machine label naming its Node, as MCM sets it.
pub const NODE_LABEL: &str = "node";
/// Machines that are fine are looked at again this often (a missed Node event, the join
/// timeout).
const RESYNC: Duration = Duration::from_secs(300);

pub struct Ctx {
    pub machines: Api<Machine>,
    /// None: the target cluster is not reachable yet (`--target-kubeconfig none`).
    pub nodes: Option<Api<Node>>,
    pub classes: ClassReader,
    pub driver: Arc<Driver>,
    pub waiters: Mailbox<Waiters>,
    pub retry: RetryPeriods,
    pub creation_timeout: Duration,
    pub health_timeout: Duration,
    pub metrics: ReconcileMetrics,
    pub calls: Metrics,
    pub events: Events,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
}

/// Whether MCM would hand this Machine to a provider driver: its class is a MachineClass.
/// (Whether the class is ours is read with the class.)
fn has_machine_class(machine: &Machine) -> Option<&str> {
    let class = machine.spec.class.as_ref()?;
    let kind_ok = class.kind.as_deref().is_none_or(|k| k == "MachineClass");
    (kind_ok && !class.name.is_empty()).then_some(class.name.as_str())
}

/// The controller until `stop` resolves; `wake` carries the names of Machines to reconcile now.
pub async fn run(
    ctx: Arc<Ctx>,
    workers: u16,
    wake: tokio::sync::mpsc::UnboundedReceiver<String>,
    stop: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let namespace = ctx.classes.namespace().to_owned();
    let classes: Api<MachineClass> =
        Api::namespaced(ctx.machines.clone().into_client(), &namespace);
    let controller = Controller::new(ctx.machines.clone(), watcher::Config::default());
    let store = controller.store();
    let node_ns = namespace.clone();
    let class_store = store.clone();
    let woken_ns = namespace.clone();
    let woken = tokio_stream::wrappers::UnboundedReceiverStream::new(wake)
        .map(move |name| ObjectRef::<Machine>::new(&name).within(&woken_ns));
    let controller = match ctx.nodes.clone() {
        Some(nodes) => controller.watches(nodes, watcher::Config::default(), move |node| {
            // Nodes are named after their Machine (the allocation hostname).
            Some(ObjectRef::<Machine>::new(&node.name_any()).within(&node_ns))
        }),
        None => controller,
    };
    controller
        .watches(classes, watcher::Config::default(), move |class| {
            let name = class.name_any();
            class_store
                .state()
                .iter()
                .filter(|m| has_machine_class(m) == Some(name.as_str()))
                .map(|m| ObjectRef::from_obj(m.as_ref()))
                .collect::<Vec<_>>()
        })
        .reconcile_on(woken)
        .with_config(ControllerConfig::default().concurrency(workers))
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

async fn reconcile(machine: Arc<Machine>, ctx: Arc<Ctx>) -> Result<Action, ReconcileError> {
    ctx.metrics.measure(CONTROLLER, sync(&machine, &ctx)).await
}

fn error_policy(machine: Arc<Machine>, error: &ReconcileError, _: Arc<Ctx>) -> Action {
    tracing::warn!(machine = %machine.name_any(), %error, "reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

async fn sync(machine: &Machine, ctx: &Ctx) -> Result<Action, ReconcileError> {
    let Some(class_name) = has_machine_class(machine) else {
        return Ok(Action::await_change());
    };
    let name = machine.name_any();
    let deleting = machine.meta().deletion_timestamp.is_some();
    let held = machine.finalizers().iter().any(|f| f == FINALIZER);
    if deleting && !held {
        return Ok(Action::await_change());
    }
    let class = match ctx.classes.read_ours(class_name).await {
        Ok(Some(class)) => class,
        // Another provider's class: not ours to touch.
        Ok(None) if !held => return Ok(Action::await_change()),
        Ok(None) => {
            let e = DriverError::invalid(format!(
                "machine class {class_name}: provider is no longer \"metal\""
            ));
            return fail(ctx, machine, deleting, e).await;
        }
        Err(e) => return fail(ctx, machine, deleting, e).await,
    };
    let provider_id = machine.spec.provider_id.clone().unwrap_or_default();

    if deleting {
        let version = write_status(ctx, machine, &lifecycle::terminating()).await?;
        let deleted = ctx.driver.delete(&class, &name, &provider_id).await;
        match ctx.calls.count("DeleteMachine", CALLER, deleted) {
            Ok(freed) => {
                let note = match freed {
                    Some(id) => format!("freed machine {id}"),
                    None => "no machine to free".to_owned(),
                };
                ctx.events
                    .normal(machine.object_ref(&()), "Deleted", "DeleteMachine", note);
            }
            Err(e) => {
                ctx.events.warning(
                    machine.object_ref(&()),
                    "DeleteFailed",
                    "DeleteMachine",
                    e.to_string(),
                );
                write_status(ctx, machine, &lifecycle::delete_failed(&e)).await?;
                return Ok(Action::requeue(ctx.retry.after(e.code)));
            }
        }
        let node = node_name(machine);
        if let Some(nodes) = &ctx.nodes {
            match nodes.delete(&node, &DeleteParams::default()).await {
                Ok(_) => tracing::info!(machine = %name, %node, "deleted the Node"),
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => tracing::warn!(machine = %name, %node, "deleting the Node: {e}"),
            }
        }
        let rest: Vec<String> = machine
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        set_finalizers(ctx, machine, version, rest).await?;
        ctx.waiters.addr().do_send(Done(name));
        return Ok(Action::await_change());
    }

    if !held {
        let mut finalizers = machine.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        set_finalizers(ctx, machine, None, finalizers).await?;
    }

    if provider_id.is_empty() {
        let created = ctx.driver.create(&class, &name).await;
        return match ctx.calls.count("CreateMachine", CALLER, created) {
            Ok(created) => {
                // The providerID is the record that the machine is this Machine's: it goes
                // first, so a crash after it loses nothing and one before it is adopted.
                let patch = json!({
                    "metadata": {"labels": {NODE_LABEL: created.found.node_name}},
                    "spec": {"providerID": created.found.provider_id},
                });
                ctx.machines
                    .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                write_status(ctx, machine, &lifecycle::created(&created.found)).await?;
                let (reason, what) = if created.adopted {
                    ("Adopted", "adopted the machine allocated earlier")
                } else {
                    ("Created", "allocated machine")
                };
                ctx.events.normal(
                    machine.object_ref(&()),
                    reason,
                    "CreateMachine",
                    format!("{what} {}", created.found.provider_id),
                );
                ctx.waiters.addr().do_send(Done(name));
                Ok(Action::requeue(RESYNC))
            }
            Err(e) => {
                ctx.events.warning(
                    machine.object_ref(&()),
                    "CreateFailed",
                    "CreateMachine",
                    e.to_string(),
                );
                let update = lifecycle::create_failed(&e, age(machine), ctx.creation_timeout);
                write_status(ctx, machine, &update).await?;
                if e.code == Code::ResourceExhausted {
                    ctx.waiters.addr().do_send(Wait {
                        pool: (class.spec.partition.clone(), class.spec.size.clone()),
                        name,
                    });
                }
                Ok(Action::requeue(ctx.retry.after(e.code)))
            }
        };
    }

    // A providerID without the status of its creation: the last run stopped between the two
    // writes. Ask the driver for the addresses and write what that run would have.
    if phase(machine).is_none() || create_error(machine) {
        let status = ctx.driver.status(&class, &name, &provider_id).await;
        match ctx.calls.count("GetMachineStatus", CALLER, status) {
            Ok(found) => {
                write_status(ctx, machine, &lifecycle::created(&found)).await?;
            }
            Err(e) => return fail(ctx, machine, false, e).await,
        }
    }

    let Some(nodes) = &ctx.nodes else {
        return Ok(Action::requeue(RESYNC));
    };
    let node = match nodes.get_opt(&node_name(machine)).await {
        Ok(node) => node,
        Err(e) => {
            tracing::warn!(machine = %name, "reading the Node: {e}");
            return Ok(Action::requeue(ctx.retry.short));
        }
    };
    let seen = match &node {
        None => NodeSeen::Missing,
        Some(node) if is_ready(node) => NodeSeen::Ready,
        Some(_) => NodeSeen::NotReady,
    };
    let timing = Timing {
        age: age(machine),
        in_phase: in_phase(machine),
        creation_timeout: ctx.creation_timeout,
        health_timeout: ctx.health_timeout,
    };
    if let Some(update) = lifecycle::health(&name, machine.status.as_ref(), seen, timing) {
        write_status(ctx, machine, &update).await?;
    }
    Ok(Action::requeue(RESYNC))
}

/// A class that cannot be read: the failed operation in the status, retried by code.
async fn fail(
    ctx: &Ctx,
    machine: &Machine,
    deleting: bool,
    e: DriverError,
) -> Result<Action, ReconcileError> {
    let update = if deleting {
        lifecycle::delete_failed(&e)
    } else {
        lifecycle::create_failed(&e, age(machine), ctx.creation_timeout)
    };
    write_status(ctx, machine, &update).await?;
    Ok(Action::requeue(ctx.retry.after(e.code)))
}

/// The status says the last Create failed with a driver error (not the join timeout).
fn create_error(machine: &Machine) -> bool {
    let op = machine
        .status
        .as_ref()
        .and_then(|s| s.last_operation.as_ref());
    op.is_some_and(|o| {
        o.type_.as_deref() == Some(lifecycle::OP_CREATE)
            && o.state.as_deref() == Some(lifecycle::STATE_FAILED)
            && o.error_code.as_deref().is_some_and(|c| !c.is_empty())
    })
}

fn phase(machine: &Machine) -> Option<&str> {
    machine
        .status
        .as_ref()?
        .current_status
        .as_ref()?
        .phase
        .as_deref()
}

fn node_name(machine: &Machine) -> String {
    machine
        .labels()
        .get(NODE_LABEL)
        .filter(|n| !n.is_empty())
        .cloned()
        .unwrap_or_else(|| machine.name_any())
}

fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn age(machine: &Machine) -> Duration {
    since(machine.meta().creation_timestamp.as_ref())
}

fn in_phase(machine: &Machine) -> Duration {
    since(
        machine
            .status
            .as_ref()
            .and_then(|s| s.current_status.as_ref())
            .and_then(|c| c.last_update_time.as_ref()),
    )
}

/// How long ago `time` was (zero for none or the future).
fn since(time: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Duration {
    time.and_then(|t| {
        let then = chrono::DateTime::from_timestamp(t.0.as_second(), 0)?;
        (Utc::now() - then).to_std().ok()
    })
    .unwrap_or_default()
}

/// Patches the status when it says something else; returns the Machine's new resourceVersion
/// (None when nothing was written), for a write that must follow this one.
async fn write_status(
    ctx: &Ctx,
    machine: &Machine,
    update: &StatusUpdate,
) -> Result<Option<String>, kube::Error> {
    if !update.differs(machine.status.as_ref()) {
        return Ok(None);
    }
    let written = ctx
        .machines
        .patch_status(
            &machine.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&update.patch(Utc::now())),
        )
        .await?;
    Ok(written.resource_version())
}

/// Writes the finalizer list with the resourceVersion `version` (the one read, or the one our
/// own status write left): a concurrent change is a 409 and the next reconcile starts over.
async fn set_finalizers(
    ctx: &Ctx,
    machine: &Machine,
    version: Option<String>,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "resourceVersion": version.or_else(|| machine.resource_version()),
        "finalizers": finalizers,
    }});
    match ctx
        .machines
        .patch(
            &machine.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(_) => Ok(()),
        // Gone once the last finalizer went: nothing left to do.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}
