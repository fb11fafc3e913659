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
use mesh_runtime::Mailbox;
use serde_json::json;

use super::classes::{ClassReader, kube_failure};
use crate::actors::waiters::{Done, Wait, Waiters};
use crate::core::code::Code;
use crate::core::lifecycle::{self, FINALIZER, StatusUpdate};
use crate::core::retry::RetryPeriods;
use crate::driver::Driver;

pub const CONTROLLER: &str = "machine";
/// The Machine label naming its Node, as MCM sets it.
pub const NODE_LABEL: &str = "node";
/// Machines that are fine are looked at again this often (a missed Node event, the join
/// timeout).
const RESYNC: Duration = Duration::from_secs(300);

pub struct Ctx {
    pub machines: Api<Machine>,
    pub nodes: Api<Node>,
    pub classes: ClassReader,
    pub driver: Arc<Driver>,
    pub waiters: Mailbox<Waiters>,
    pub retry: RetryPeriods,
    pub creation_timeout: Duration,
    pub metrics: ReconcileMetrics,
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
    controller
        .watches(ctx.nodes.clone(), watcher::Config::default(), move |node| {
            // Nodes are named after their Machine (the allocation hostname).
            Some(ObjectRef::<Machine>::new(&node.name_any()).within(&node_ns))
        })
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
    let class = match ctx.classes.read(class_name).await {
        Ok(class) => class,
        // Another provider's class: not ours to touch.
        Err(e) if !held && e.message.contains("provider is") => {
            return Ok(Action::await_change());
        }
        Err(e) => {
            let update = if deleting {
                lifecycle::delete_failed(&e)
            } else {
                lifecycle::create_failed(&e, age(machine), ctx.creation_timeout)
            };
            write_status(ctx, machine, &update).await?;
            return Ok(Action::requeue(ctx.retry.after(e.code)));
        }
    };
    let provider_id = machine.spec.provider_id.clone().unwrap_or_default();

    if deleting {
        write_status(ctx, machine, &lifecycle::terminating()).await?;
        if let Err(e) = ctx.driver.delete(&class, &name, &provider_id).await {
            write_status(ctx, machine, &lifecycle::delete_failed(&e)).await?;
            return Ok(Action::requeue(ctx.retry.after(e.code)));
        }
        let node = node_name(machine);
        match ctx.nodes.delete(&node, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(machine = %name, %node, "deleted the Node"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => tracing::warn!(machine = %name, %node, "deleting the Node: {e}"),
        }
        let rest: Vec<String> = machine
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .cloned()
            .collect();
        set_finalizers(ctx, machine, rest).await?;
        ctx.waiters.addr().do_send(Done(name));
        return Ok(Action::await_change());
    }

    if !held {
        let mut finalizers = machine.finalizers().to_vec();
        finalizers.push(FINALIZER.to_owned());
        set_finalizers(ctx, machine, finalizers).await?;
    }

    if provider_id.is_empty() {
        return match ctx.driver.create(&class, &name).await {
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
                ctx.waiters.addr().do_send(Done(name));
                Ok(Action::requeue(RESYNC))
            }
            Err(e) => {
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

    let node = ctx
        .nodes
        .get_opt(&node_name(machine))
        .await
        .map_err(|e| {
            tracing::warn!(machine = %name, "reading the Node: {}", kube_failure("node", e));
        })
        .ok()
        .flatten();
    let ready = node.as_ref().map(is_ready);
    let update = lifecycle::health(&name, machine.status.as_ref(), ready).or_else(|| {
        (node.is_none()
            && age(machine) >= ctx.creation_timeout
            && phase(machine) == Some(lifecycle::PENDING))
        .then(|| lifecycle::join_timed_out(&name, ctx.creation_timeout))
    });
    if let Some(update) = update {
        write_status(ctx, machine, &update).await?;
    }
    Ok(Action::requeue(RESYNC))
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
    machine
        .meta()
        .creation_timestamp
        .as_ref()
        .and_then(|t| {
            let created = chrono::DateTime::from_timestamp(t.0.as_second(), 0)?;
            (Utc::now() - created).to_std().ok()
        })
        .unwrap_or_default()
}

async fn write_status(
    ctx: &Ctx,
    machine: &Machine,
    update: &StatusUpdate,
) -> Result<(), kube::Error> {
    if !update.differs(machine.status.as_ref()) {
        return Ok(());
    }
    ctx.machines
        .patch_status(
            &machine.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&update.patch(Utc::now())),
        )
        .await
        .map(drop)
}

/// Writes the finalizer list with the resourceVersion read: a concurrent change is a 409 and
/// the next reconcile starts over.
async fn set_finalizers(
    ctx: &Ctx,
    machine: &Machine,
    finalizers: Vec<String>,
) -> Result<(), kube::Error> {
    let patch = json!({"metadata": {
        "resourceVersion": machine.resource_version(),
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
