//! Per worker pool, the objects machine-controller-manager (here machine-lifecycle) works
//! from: a MachineClass of provider metal with its Secret, named after the pool's hash, and a
//! MachineDeployment `<namespace>-<pool>` using it; plus the Worker status to report.

use std::collections::BTreeMap;

use base64::Engine as _;
use kube_resources::gardener::WorkerPool;
use serde_json::{Map, Value, json};

use super::existing::{self, Existing, Obsolete};
use super::images::{self, MachineImage};
use super::{Credential, Worker, hash};
use crate::core::extensions::operation::ExtError;
use crate::core::extensions::shoot::{
    Shoot, TAG_CLUSTER_ID, TAG_CLUSTER_NAME, TAG_CLUSTER_PROJECT,
};
use crate::core::provider_config::{API_VERSION, NetworkAccessType};

pub const MCM_API_VERSION: &str = "machine.sapcloud.io/v1alpha1";
/// The label of class Secrets (Gardener's `GardenerPurpose` = `GardenPurposeMachineClass`).
pub const PURPOSE_LABEL: &str = "garden.sapcloud.io/purpose";
pub const PURPOSE_MACHINE_CLASS: &str = "machineclass";
/// The MachineDeployment label naming its pool (Gardener's `LabelWorkerPool`).
pub const POOL_LABEL: &str = "worker.gardener.cloud/pool";
/// The selector label of a MachineDeployment's Machines (Gardener's
/// `LabelKeyMachineDeploymentName`).
pub const DEPLOYMENT_LABEL: &str = "name";
/// Gardener's generic actuator waits this long before a new machine counts as available.
const MIN_READY_SECONDS: i64 = 500;
/// Class Secret keys machine-lifecycle reads.
pub const KEY_USER_DATA: &str = "userData";
pub const KEY_URL: &str = "metalAPIURL";

/// What a reconcile starts from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub shoot: &'a Shoot,
    pub worker: &'a Worker,
    /// The component configuration's `machineImages`.
    pub configured_images: &'a [MachineImage],
    pub nodes_cidr: &'a str,
    /// The shoot's private network (see [`super::private_network`]).
    pub network_id: &'a str,
    pub credential: &'a Credential,
    /// Pool name → its userdata.
    pub user_data: &'a BTreeMap<String, String>,
    pub existing: &'a Existing,
    /// RFC 3339, for `machineDeploymentsLastUpdateTime`.
    pub now: &'a str,
}

/// The objects to write (in order: Secrets, classes, deployments) and to delete.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub secrets: Vec<Value>,
    pub classes: Vec<Value>,
    pub deployments: Vec<Value>,
    /// `providerStatus`, `machineDeployments`, `machineDeploymentsLastUpdateTime`.
    pub status: Map<String, Value>,
    pub obsolete: Obsolete,
}

/// One pool's names and image.
struct Named<'a> {
    pool: &'a WorkerPool,
    index: usize,
    deployment: String,
    class: String,
    image: MachineImage,
}

/// The objects of every pool, the status and what to delete.
pub fn plan(inputs: &Inputs) -> Result<Plan, ExtError> {
    let Inputs {
        shoot,
        worker,
        existing,
        ..
    } = *inputs;
    let annotations: BTreeMap<String, String> = shoot
        .shoot
        .pointer("/metadata/annotations")
        .cloned()
        .and_then(|a| serde_json::from_value(a).ok())
        .unwrap_or_default();
    let shoot_version = shoot
        .shoot
        .pointer("/spec/kubernetes/version")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let class_names: Vec<&str> = existing.classes.iter().map(String::as_str).collect();
    let mut named = Vec::with_capacity(worker.spec.pools.len());
    for (index, pool) in worker.spec.pools.iter().enumerate() {
        let image = images::find(inputs.configured_images, &worker.reported_images, pool)?;
        let computed = hash::compute(&hash::Rolling {
            machine_type: &pool.machine_type,
            image_name: &image.name,
            image_version: &image.version,
            kubernetes_version: pool.kubernetes_version.as_deref().unwrap_or(shoot_version),
            nodes_cidr: inputs.nodes_cidr,
        });
        let deployment = worker.deployment_name(&pool.name);
        let current = existing
            .deployments
            .get(&deployment)
            .and_then(|d| d.class.as_deref());
        let h = hash::resolve(
            computed,
            &pool.name,
            &deployment,
            &annotations,
            &class_names,
            current,
        )?;
        named.push(Named {
            pool,
            index,
            class: format!("{deployment}-{h}"),
            deployment,
            image,
        });
    }
    let mut plan = Plan {
        secrets: Vec::new(),
        classes: Vec::new(),
        deployments: Vec::new(),
        status: status(&named, inputs.now),
        obsolete: existing::obsolete(
            named
                .iter()
                .map(|n| (n.deployment.as_str(), n.class.as_str())),
            existing,
        ),
    };
    for n in &named {
        let user_data = inputs.user_data.get(&n.pool.name).ok_or_else(|| {
            ExtError::internal(format!("worker pool {}: no userdata read", n.pool.name))
        })?;
        plan.secrets.push(class_secret(inputs, &n.class, user_data));
        plan.classes.push(machine_class(inputs, n));
        plan.deployments.push(machine_deployment(inputs, n));
    }
    Ok(plan)
}

/// The metal-api tags of a pool's machines.
pub fn tags(shoot: &Shoot, worker: &Worker, pool: &WorkerPool) -> Vec<String> {
    let ns = &worker.namespace;
    let mut tags = vec![
        format!("kubernetes.io/cluster={ns}"),
        "kubernetes.io/role=node".to_owned(),
        format!("node.kubernetes.io/instance-type={}", pool.machine_type),
        format!("topology.kubernetes.io/region={}", worker.spec.region),
        format!("topology.kubernetes.io/zone={}", shoot.partition_id()),
        format!("{TAG_CLUSTER_ID}={}", shoot.uid),
        format!("{TAG_CLUSTER_NAME}={ns}"),
        format!("{TAG_CLUSTER_PROJECT}={}", shoot.project_id()),
    ];
    tags.extend(
        pool.labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}")),
    );
    tags
}

fn machine_class(inputs: &Inputs, n: &Named) -> Value {
    let Inputs { shoot, worker, .. } = *inputs;
    let mut spec = json!({
        "partition": shoot.partition_id(),
        "size": n.pool.machine_type,
        "image": n.image.image,
        "project": shoot.project_id(),
        "network": inputs.network_id,
        "tags": tags(shoot, worker, n.pool),
    });
    if let Some(key) = worker.ssh_public_key() {
        spec["sshKeys"] = json!([key]);
    }
    // Isolated clusters get their DNS and NTP servers at allocation (upstream #451).
    let isolation = shoot
        .partition
        .network_isolation
        .as_ref()
        .filter(|_| shoot.network_access() != NetworkAccessType::Baseline);
    if let Some(isolation) = isolation {
        if !isolation.dns_servers.is_empty() {
            spec["dnsServers"] = isolation
                .dns_servers
                .iter()
                .map(|ip| json!({"ip": ip}))
                .collect();
        }
        if !isolation.ntp_servers.is_empty() {
            spec["ntpServers"] = isolation
                .ntp_servers
                .iter()
                .map(|address| json!({"address": address}))
                .collect();
        }
    }
    let credentials = &worker.spec.secret_ref;
    json!({
        "apiVersion": MCM_API_VERSION,
        "kind": "MachineClass",
        "metadata": {"name": n.class, "namespace": worker.namespace},
        "provider": "metal",
        "providerSpec": spec,
        "secretRef": {"name": n.class, "namespace": worker.namespace},
        "credentialsSecretRef": {
            "name": credentials.name,
            "namespace": credentials.namespace.as_deref().unwrap_or(&worker.namespace),
        },
    })
}

fn class_secret(inputs: &Inputs, name: &str, user_data: &str) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let (credential_key, credential) = inputs.credential.entry();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": inputs.worker.namespace,
            "labels": {PURPOSE_LABEL: PURPOSE_MACHINE_CLASS},
        },
        "type": "Opaque",
        "data": {
            KEY_USER_DATA: b64(user_data),
            credential_key: b64(credential),
            // The endpoint stays in the Secret (not the class) as upstream keeps it: moving it
            // would change every class and roll every node.
            KEY_URL: b64(inputs.shoot.endpoint()),
        },
    })
}

/// The replicas of a pool's MachineDeployment: none while hibernated, the minimum for a new
/// one, else the current count (the cluster autoscaler's) kept within the pool's bounds.
pub fn replicas(current: Option<i64>, minimum: i32, maximum: i32, hibernated: bool) -> i64 {
    let (minimum, maximum) = (i64::from(minimum), i64::from(maximum));
    match current {
        _ if hibernated => 0,
        None => minimum,
        Some(current) => current.clamp(minimum, maximum.max(minimum)),
    }
}

/// The pool's `machineControllerManager` settings under the names of a Machine template
/// (Gardener's `ReadMachineConfiguration`).
fn machine_configuration(settings: Option<&Value>) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(settings) = settings else {
        return out;
    };
    for (from, to) in [
        ("machineDrainTimeout", "drainTimeout"),
        ("machineHealthTimeout", "healthTimeout"),
        ("machineCreationTimeout", "creationTimeout"),
        ("maxEvictRetries", "maxEvictRetries"),
        ("inPlaceUpdateTimeout", "inPlaceUpdateTimeout"),
        ("disableHealthTimeout", "disableHealthTimeout"),
    ] {
        if let Some(v) = settings.get(from).filter(|v| !v.is_null()) {
            out.insert(to.to_owned(), v.clone());
        }
    }
    let conditions: Vec<&str> = settings
        .get("nodeConditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !conditions.is_empty() {
        out.insert("nodeConditions".to_owned(), json!(conditions.join(",")));
    }
    out
}

fn machine_deployment(inputs: &Inputs, n: &Named) -> Value {
    let Inputs {
        shoot,
        worker,
        existing,
        ..
    } = *inputs;
    let pool = n.pool;
    let current = existing
        .deployments
        .get(&n.deployment)
        .and_then(|d| d.replicas);
    let mut node_metadata = Map::new();
    if let Some(labels) = pool.labels.as_ref().filter(|l| !l.is_empty()) {
        node_metadata.insert("labels".into(), json!(labels));
    }
    if let Some(annotations) = pool.annotations.as_ref().filter(|a| !a.is_empty()) {
        node_metadata.insert("annotations".into(), json!(annotations));
    }
    let mut node_template = json!({"metadata": node_metadata});
    if let Some(taints) = pool.taints.as_ref().filter(|t| !t.is_empty()) {
        node_template["spec"] = json!({"taints": taints});
    }
    let mut machine_spec = machine_configuration(pool.machine_controller_manager.as_ref());
    machine_spec.insert(
        "class".into(),
        json!({"kind": "MachineClass", "name": n.class}),
    );
    machine_spec.insert("nodeTemplate".into(), node_template);
    let mut metadata = json!({
        "name": n.deployment,
        "namespace": worker.namespace,
        "labels": {POOL_LABEL: pool.name},
    });
    let autoscaler = worker
        .autoscaler_annotations
        .get(n.index)
        .filter(|a| !a.is_empty());
    if let Some(annotations) = autoscaler {
        metadata["annotations"] = json!(annotations);
    }
    let selector = json!({DEPLOYMENT_LABEL: n.deployment});
    json!({
        "apiVersion": MCM_API_VERSION,
        "kind": "MachineDeployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas(current, pool.minimum, pool.maximum, shoot.hibernated),
            "minReadySeconds": MIN_READY_SECONDS,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": pool.max_surge, "maxUnavailable": pool.max_unavailable},
            },
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": selector},
                "spec": machine_spec,
            },
        },
    })
}

/// The Worker status: the image mapping of the pools (`WorkerStatus` of our API group) and
/// the MachineDeployments, read by the cluster autoscaler's setup.
fn status(named: &[Named], now: &str) -> Map<String, Value> {
    let images = images::distinct(named.iter().map(|n| n.image.clone()));
    let deployments: Vec<Value> = named
        .iter()
        .map(|n| {
            let mut d = json!({
                "name": n.deployment,
                "minimum": n.pool.minimum,
                "maximum": n.pool.maximum,
            });
            if let Some(priority) = n.pool.priority {
                d["priority"] = json!(priority);
            }
            d
        })
        .collect();
    let mut status = Map::new();
    status.insert(
        "providerStatus".into(),
        json!({"apiVersion": API_VERSION, "kind": "WorkerStatus", "machineImages": images}),
    );
    status.insert("machineDeployments".into(), json!(deployments));
    status.insert("machineDeploymentsLastUpdateTime".into(), json!(now));
    status
}
