//! The Node controller, what a cloud provider's node and node-lifecycle controllers do:
//! initialize new nodes from their machine (provider ID, addresses, labels, then the
//! `uninitialized` taint goes), keep machine tags mirrored into labels, tag the machine with
//! the cluster, push the SSH key, and remove Nodes whose machine is gone. Each node is its own
//! reconcile, so one broken machine never holds up the others (metal-ccm's tag sync was
//! all-or-nothing).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use mesh_controller::backoff::Backoff;
use mesh_controller::metrics::ReconcileMetrics;
use mesh_runtime::Mailbox;
use metal_api_sdk::client::Client as MetalClient;
use metal_api_sdk::model::{MachineResponse, MachineUpdateRequest};
use serde_json::json;

use super::events::Events;
use crate::actors::machines::{Invalidate, Lookup, LookupError, MachineCache, MachineKey};
use crate::core::config::Config;
use crate::core::node::{self, Lifecycle, UNINITIALIZED_TAINT};

const CONTROLLER: &str = "node";

pub struct NodeCtx {
    pub client: kube::Client,
    pub metal: MetalClient,
    pub machines: Mailbox<MachineCache>,
    pub config: Arc<Config>,
    pub events: Events,
    pub sync_interval: Duration,
    pub ssh_key_interval: Duration,
    pub delete_gone_nodes: bool,
    pub metrics: ReconcileMetrics,
    pub ssh_checked: parking_lot::Mutex<HashMap<String, Instant>>,
    pub failures: parking_lot::Mutex<HashMap<String, u32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Machine(String),
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("metal-api: {0}")]
    Metal(#[from] metal_api_sdk::client::Error),
}

async fn lookup(ctx: &NodeCtx, key: MachineKey) -> Result<Arc<MachineResponse>, LookupError> {
    ctx.machines.send(Lookup(key)).await.unwrap_or_else(|e| {
        Err(LookupError::Failed(format!(
            "machine cache unavailable: {e}"
        )))
    })
}

async fn reconcile(node: Arc<Node>, ctx: Arc<NodeCtx>) -> Result<Action, NodeError> {
    let result = ctx.metrics.measure(CONTROLLER, sync(&node, &ctx)).await;
    if result.is_ok() {
        ctx.failures.lock().remove(&node.name_any());
    }
    result
}

async fn sync(node: &Node, ctx: &NodeCtx) -> Result<Action, NodeError> {
    if node.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    if node::needs_init(node) {
        initialize(node, ctx).await?;
        return Ok(Action::requeue(ctx.sync_interval));
    }
    let provider_id = node
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default();
    let Ok(machine_id) = node::machine_of(&provider_id) else {
        // Another cloud provider's node: not ours to manage.
        return Ok(Action::await_change());
    };
    let gone = match lookup(ctx, MachineKey::Id(machine_id)).await {
        Ok(machine) => match node::gone_reason(&machine, &ctx.config.project, &node.name_any()) {
            None => {
                sync_machine(node, &machine, ctx).await?;
                return Ok(Action::requeue(ctx.sync_interval));
            }
            Some(reason) => reason,
        },
        Err(LookupError::NotFound(reason)) => reason,
        Err(LookupError::Failed(e)) => return Err(NodeError::Machine(e)),
    };
    match node::lifecycle(node, Some(gone), ctx.delete_gone_nodes) {
        Lifecycle::Delete { reason } => {
            tracing::info!(node = %node.name_any(), %reason, "deleting the node: its machine is gone");
            ctx.events.normal(
                node.object_ref(&()),
                "DeletingNode",
                "DeleteNode",
                format!("deleting node: {reason}"),
            );
            let api: Api<Node> = Api::all(ctx.client.clone());
            match api.delete(&node.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
            Ok(Action::await_change())
        }
        Lifecycle::Report { reason } => {
            tracing::warn!(node = %node.name_any(), %reason, "the node's machine is gone; the node still reports Ready");
            ctx.events
                .warning(node.object_ref(&()), "MachineGone", "CheckNode", reason);
            Ok(Action::requeue(ctx.sync_interval))
        }
        Lifecycle::Keep => Ok(Action::requeue(ctx.sync_interval)),
    }
}

/// Provider ID, addresses and labels from the machine, then the taint goes: addresses first,
/// so nothing is scheduled onto a node without them.
async fn initialize(node: &Node, ctx: &NodeCtx) -> Result<(), NodeError> {
    let name = node.name_any();
    let provider_id = node
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .filter(|p| !p.is_empty());
    let key = match &provider_id {
        Some(p) => MachineKey::Id(node::machine_of(p).map_err(NodeError::Machine)?),
        None => MachineKey::Hostname(name.clone()),
    };
    let failed = |reason: String| {
        ctx.events.warning(
            node.object_ref(&()),
            "FailedToInitializeNode",
            "InitializeNode",
            reason.clone(),
        );
        NodeError::Machine(reason)
    };
    let machine = lookup(ctx, key).await.map_err(|e| failed(e.to_string()))?;
    let metadata = node::metadata(&ctx.config, &machine).map_err(failed)?;

    let api: Api<Node> = Api::all(ctx.client.clone());
    let status = json!({"status": {"addresses": metadata.addresses}});
    // The status write moved the resourceVersion; the next write guards on the new one.
    let node = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;

    let taints: Vec<_> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key != UNINITIALIZED_TAINT)
        .collect();
    let mut spec = json!({"taints": if taints.is_empty() { json!(null) } else { json!(taints) }});
    if provider_id.is_none() {
        spec["providerID"] = json!(metadata.provider_id);
    }
    let patch = json!({
        "metadata": {"resourceVersion": node.resource_version(), "labels": node::missing_labels(&node, &metadata.labels)},
        "spec": spec,
    });
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    ctx.events.normal(
        node.object_ref(&()),
        "Initialized",
        "InitializeNode",
        format!(
            "machine {}, provider ID {}, instance type {}, zone {}",
            metadata.machine_id, metadata.provider_id, metadata.instance_type, metadata.zone
        ),
    );
    for tag in &metadata.skipped_tags {
        ctx.events.warning(
            node.object_ref(&()),
            "TagNotALabel",
            "SyncLabels",
            format!("machine tag {tag:?} is not a valid label"),
        );
    }
    Ok(())
}

/// Labels from machine tags (added and updated, never removed), the cluster tag on the
/// machine, and the SSH key.
async fn sync_machine(
    node: &Node,
    machine: &MachineResponse,
    ctx: &NodeCtx,
) -> Result<(), NodeError> {
    let name = node.name_any();
    let (labels, _) = node::tag_labels(&machine.tags);
    let missing = node::missing_labels(node, &labels);
    if !missing.is_empty() {
        let api: Api<Node> = Api::all(ctx.client.clone());
        let patch = json!({"metadata": {"labels": missing}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
    }
    let mut changed = false;
    if let Some(tags) = node::with_cluster_tag(&machine.tags, &ctx.config.cluster) {
        ctx.metal
            .update_machine(&MachineUpdateRequest {
                id: machine.id.clone(),
                tags: Some(tags),
                ..Default::default()
            })
            .await?;
        changed = true;
    }
    if let Some(key) = &ctx.config.ssh_public_key {
        let due = ctx
            .ssh_checked
            .lock()
            .get(&name)
            .is_none_or(|at| at.elapsed() >= ctx.ssh_key_interval);
        let keys = machine
            .allocation
            .as_ref()
            .map(|a| a.ssh_pub_keys.as_slice())
            .unwrap_or_default();
        if due && let Some(keys) = node::with_ssh_key(keys, key) {
            ctx.metal
                .update_machine(&MachineUpdateRequest {
                    id: machine.id.clone(),
                    ssh_pub_keys: Some(keys),
                    ..Default::default()
                })
                .await?;
            changed = true;
        }
        if due {
            ctx.ssh_checked.lock().insert(name, Instant::now());
        }
    }
    if changed {
        ctx.machines.addr().do_send(Invalidate(machine.id.clone()));
    }
    Ok(())
}

fn error_policy(node: Arc<Node>, error: &NodeError, ctx: Arc<NodeCtx>) -> Action {
    let attempt = {
        let mut failures = ctx.failures.lock();
        let n = failures.entry(node.name_any()).or_insert(0);
        *n += 1;
        *n - 1
    };
    let delay = Backoff::default().next(attempt);
    tracing::warn!(node = %node.name_any(), %error, retry_in = ?delay, "node reconcile failed");
    Action::requeue(delay)
}

/// Runs the Node controller until `shutdown` resolves.
pub async fn run(
    ctx: Arc<NodeCtx>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let api: Api<Node> = Api::all(ctx.client.clone());
    Controller::new(api, watcher::Config::default())
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
