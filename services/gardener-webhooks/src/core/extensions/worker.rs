//! What the Worker controller decides (replacing gardener-extension-provider-metal's worker
//! delegate, the generic worker actuator it plugs into, and its firewall reconciliation): per
//! pool a MachineClass with its Secret and a MachineDeployment for machine-controller-manager
//! ([`machines`]), which objects found no pool wants any more ([`existing`]), the shoot's
//! FirewallDeployment for firewall-controller-manager ([`firewall`]), and when a deletion may
//! go on ([`deletion`]).
//!
//! Everything here reads plain data (the Worker and the objects found as JSON, the metal-api's
//! answer) and returns the objects to write, the names to delete and the status to report.

pub mod deletion;
pub mod existing;
pub mod firewall;
pub mod hash;
pub mod images;
pub mod machines;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use base64::Engine as _;
use kube_resources::gardener::{WorkerPool, WorkerSpec};
use metal_api_sdk::model::NetworkFindRequest;
use serde_json::Value;

use super::operation::ExtError;
pub use existing::{Existing, Obsolete};
pub use images::MachineImage;
pub use machines::{Inputs, Plan, plan};

/// The cloudprovider Secret's keys (and the class Secret's, which carries them on).
pub const KEY_HMAC: &str = "metalAPIHMac";
pub const KEY_TOKEN: &str = "metalAPIKey";

/// A Worker as the controller reads it.
#[derive(Debug, Clone)]
pub struct Worker {
    pub namespace: String,
    pub name: String,
    pub spec: WorkerSpec,
    /// Per pool, in the order of `spec.pools`: the cluster-autoscaler options as the
    /// MachineDeployment annotations Gardener gives them (the typed pool does not carry them).
    pub autoscaler_annotations: Vec<BTreeMap<String, String>>,
    /// The image mapping this Worker reported last (`status.providerStatus.machineImages`).
    pub reported_images: Vec<MachineImage>,
    pub deletion_timestamp: Option<String>,
}

/// Gardener's `ClusterAutoscalerOptions` field → the annotation the autoscaler reads.
const AUTOSCALER_ANNOTATIONS: [(&str, &str); 5] = [
    (
        "scaleDownUtilizationThreshold",
        "autoscaler.gardener.cloud/scale-down-utilization-threshold",
    ),
    (
        "scaleDownGpuUtilizationThreshold",
        "autoscaler.gardener.cloud/scale-down-gpu-utilization-threshold",
    ),
    (
        "scaleDownUnneededTime",
        "autoscaler.gardener.cloud/scale-down-unneeded-time",
    ),
    (
        "scaleDownUnreadyTime",
        "autoscaler.gardener.cloud/scale-down-unready-time",
    ),
    (
        "maxNodeProvisionTime",
        "autoscaler.gardener.cloud/max-node-provision-time",
    ),
];

impl Worker {
    /// Reads a Worker object as the API serves it; a spec that does not decode is a
    /// configuration error naming the cause.
    pub fn from_object(object: &Value) -> Result<Worker, ExtError> {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let name = text("/metadata/name").unwrap_or_default();
        let spec: WorkerSpec =
            serde_json::from_value(object.get("spec").cloned().unwrap_or_default())
                .map_err(|e| ExtError::configuration(format!("worker {name}: spec: {e}")))?;
        let autoscaler_annotations = (0..spec.pools.len())
            .map(|i| {
                let options = object.pointer(&format!("/spec/pools/{i}/clusterAutoscaler"));
                AUTOSCALER_ANNOTATIONS
                    .iter()
                    .filter_map(|(field, annotation)| {
                        let value = options?.get(*field)?.as_str()?;
                        Some(((*annotation).to_owned(), value.to_owned()))
                    })
                    .collect()
            })
            .collect();
        Ok(Worker {
            namespace: text("/metadata/namespace").unwrap_or_default(),
            reported_images: images::reported(object.pointer("/status/providerStatus")),
            deletion_timestamp: text("/metadata/deletionTimestamp"),
            autoscaler_annotations,
            spec,
            name,
        })
    }

    /// `spec.sshPublicKey` is Go's `[]byte`, so base64 on the wire. A value that is not base64
    /// (a key pasted as text: it has a space) is taken as it is.
    pub fn ssh_public_key(&self) -> Option<String> {
        let raw = self.spec.ssh_public_key.as_deref()?.trim();
        let key = base64::engine::general_purpose::STANDARD
            .decode(raw)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_else(|| raw.to_owned());
        let key = key.trim();
        (!key.is_empty()).then(|| key.to_owned())
    }

    /// The MachineDeployment name of a pool: `<namespace>-<pool>`.
    pub fn deployment_name(&self, pool: &str) -> String {
        format!("{}-{pool}", self.namespace)
    }
}

/// Where a pool's userdata is: the Secret (the OS controller's `osc-result-*`) and its key.
pub fn user_data_ref(pool: &WorkerPool) -> Result<(&str, &str), ExtError> {
    let selector = &pool.user_data_secret_ref;
    let name = selector
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ExtError::configuration(format!(
                "worker pool {}: userDataSecretRef names no secret",
                pool.name
            ))
        })?;
    Ok((name, selector.key.as_str()))
}

/// How the class Secret authenticates against metal-api: the cloudprovider Secret's one
/// credential, carried over under its own key.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Hmac(String),
    Token(String),
}

/// Names the kind only: keys never reach logs.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Hmac(_) => "Hmac(..)",
            Credential::Token(_) => "Token(..)",
        })
    }
}

impl Credential {
    /// The credential of a cloudprovider Secret's data: exactly one of `metalAPIHMac` and
    /// `metalAPIKey` (machine-lifecycle refuses a class Secret with both or none).
    pub fn from_secret(data: &BTreeMap<String, String>) -> Result<Credential, ExtError> {
        let pick = |key: &str| {
            data.get(key)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        match (pick(KEY_HMAC), pick(KEY_TOKEN)) {
            (Some(hmac), None) => Ok(Credential::Hmac(hmac)),
            (None, Some(token)) => Ok(Credential::Token(token)),
            (Some(_), Some(_)) => Err(ExtError::configuration(format!(
                "the cloudprovider secret has both {KEY_HMAC} and {KEY_TOKEN}: set one"
            ))),
            (None, None) => Err(ExtError::configuration(format!(
                "the cloudprovider secret has neither {KEY_HMAC} nor {KEY_TOKEN}"
            ))),
        }
    }

    /// The Secret key and value.
    pub fn entry(&self) -> (&'static str, &str) {
        match self {
            Credential::Hmac(key) => (KEY_HMAC, key),
            Credential::Token(token) => (KEY_TOKEN, token),
        }
    }
}

/// The shoot's Infrastructure among the namespace's (objects as JSON): of type metal, the one
/// named after the shoot first (upstream reads only that one).
pub fn infrastructure<'a>(items: &'a [Value], shoot_name: &str) -> Option<&'a Value> {
    let metal: Vec<&Value> = items
        .iter()
        .filter(|i| i.pointer("/spec/type").and_then(Value::as_str) == Some("metal"))
        .collect();
    metal
        .iter()
        .find(|i| i.pointer("/metadata/name").and_then(Value::as_str) == Some(shoot_name))
        .or(metal.first())
        .copied()
}

/// The node network: the shoot's `spec.networking.nodes`, else the one the Infrastructure
/// controller allocated (its `status.nodesCIDR`); none yet means waiting for it.
pub fn nodes_cidr(shoot_nodes: Option<&str>, infrastructure: Option<&Value>) -> Option<String> {
    shoot_nodes
        .or_else(|| infrastructure?.pointer("/status/nodesCIDR")?.as_str())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}

/// The metal-api query for the shoot's private network: the project's network whose prefix is
/// the node CIDR.
pub fn network_query(project: &str, nodes_cidr: &str) -> NetworkFindRequest {
    NetworkFindRequest {
        projectid: Some(project.to_owned()),
        prefixes: Some(vec![nodes_cidr.to_owned()]),
        ..Default::default()
    }
}

/// The private network's ID from the IDs [`network_query`] found: exactly one must match.
/// None is likely a node network not allocated yet; several cannot be told apart.
pub fn private_network(
    found: &[String],
    project: &str,
    nodes_cidr: &str,
) -> Result<String, ExtError> {
    match found {
        [id] => Ok(id.clone()),
        [] => Err(ExtError::internal(format!(
            "found 0 networks of project {project} with prefix {nodes_cidr}, need exactly one"
        ))),
        many => Err(ExtError::configuration(format!(
            "found {} networks of project {project} with prefix {nodes_cidr} ({}), need exactly one",
            many.len(),
            many.join(", ")
        ))),
    }
}
