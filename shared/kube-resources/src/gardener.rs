//! Gardener extension resources (`extensions.gardener.cloud/v1alpha1`) that the metal provider
//! extension reconciles: `Infrastructure`, `ControlPlane`, `Worker`, `OperatingSystemConfig`,
//! and the cluster-scoped `Cluster` that carries the shoot, seed and cloud profile.
//!
//! We do not own these CRDs; the types carry the fields of
//! `contracts/crds/extensions.gardener.cloud_*.yaml` the metal extension reads or writes and
//! derive no schema. Provider-specific parts (`providerConfig`, `providerStatus`,
//! `infrastructureProviderStatus`) and Gardener's own objects in `Cluster` stay raw JSON, decoded
//! by the service that owns their meaning. Unknown fields are ignored on read, so write status
//! with patches.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{SecretReference, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The last operation an extension controller ran on its object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastOperation {
    pub description: String,
    pub last_update_time: Time,
    /// 0-100.
    pub progress: i32,
    /// `Processing`, `Succeeded`, `Error`, `Failed`, `Pending`, `Aborted`.
    pub state: String,
    /// `Create`, `Reconcile`, `Delete`, `Migrate`, `Restore`.
    #[serde(rename = "type")]
    pub type_: String,
}

/// Why the last operation failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub description: String,
    /// Gardener error codes such as `ERR_INFRA_RATE_LIMITS_EXCEEDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    #[serde(rename = "taskID", default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

/// A Gardener condition: like the core one, plus `lastUpdateTime` and `codes`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, `Unknown` or `Progressing`.
    pub status: String,
    pub last_transition_time: Time,
    pub last_update_time: Time,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codes: Option<Vec<String>>,
}

/// The status fields every extension resource shares.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DefaultStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_operation: Option<LastOperation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Provider-specific status, e.g. the metal extension's `InfrastructureStatus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<Value>,
    /// Named references to resources (`NamedResourceReference`), kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<Value>>,
    /// State to restore the resource after a control plane migration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
}

/// The spec fields every extension resource shares (Gardener's `DefaultSpec`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DefaultSpec {
    /// The provider or OS type: `metal` for our provider resources.
    #[serde(rename = "type")]
    pub type_: String,
    /// Provider- or OS-specific configuration, decoded by the owning service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_config: Option<Value>,
    /// The extension class (`shoot`, `seed`, `garden`); absent means `shoot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
}

/// The infrastructure of a shoot: for metal, the firewall and the cluster's private network.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "extensions.gardener.cloud",
    version = "v1alpha1",
    kind = "Infrastructure",
    plural = "infrastructures",
    shortname = "infra",
    namespaced,
    status = "InfrastructureStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct InfrastructureSpec {
    #[serde(flatten)]
    pub default: DefaultSpec,
    pub region: String,
    /// Credentials for the provider API.
    pub secret_ref: SecretReference,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InfrastructureStatus {
    #[serde(flatten)]
    pub default: DefaultStatus,
    #[serde(rename = "nodesCIDR", default, skip_serializing_if = "Option::is_none")]
    pub nodes_cidr: Option<String>,
    #[serde(
        rename = "egressCIDRs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub egress_cidrs: Option<Vec<String>>,
    /// `{nodes, pods, services}` CIDR lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Value>,
}

/// The shoot's control plane components the provider adds (CCM, CSI, ...).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "extensions.gardener.cloud",
    version = "v1alpha1",
    kind = "ControlPlane",
    plural = "controlplanes",
    shortname = "cp",
    namespaced,
    status = "DefaultStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct ControlPlaneSpec {
    #[serde(flatten)]
    pub default: DefaultSpec,
    pub region: String,
    pub secret_ref: SecretReference,
    /// The Infrastructure's `providerStatus`, copied in by Gardener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_provider_status: Option<Value>,
}

/// The shoot's worker pools, turned into machine-controller-manager objects by the provider.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "extensions.gardener.cloud",
    version = "v1alpha1",
    kind = "Worker",
    plural = "workers",
    namespaced,
    status = "WorkerStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSpec {
    #[serde(flatten)]
    pub default: DefaultSpec,
    pub region: String,
    pub secret_ref: SecretReference,
    pub pools: Vec<WorkerPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure_provider_status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
}

/// One worker pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerPool {
    pub name: String,
    /// For metal: the size (`c1-xlarge-x86`).
    pub machine_type: String,
    pub minimum: i32,
    pub maximum: i32,
    pub max_surge: IntOrString,
    pub max_unavailable: IntOrString,
    /// The Secret key holding the pool's userdata (Ignition for metal).
    pub user_data_secret_ref: SecretKeySelector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_image: Option<MachineImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_strategy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_agent_secret_name: Option<String>,
    /// MCM timeouts and settings for the pool's machine deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_controller_manager: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_template: Option<Value>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineImage {
    pub name: String,
    pub version: String,
}

/// A key of a Secret (`userDataSecretRef`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeySelector {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerStatus {
    #[serde(flatten)]
    pub default: DefaultStatus,
    /// The MachineDeployments generated for the pools, read by the cluster autoscaler setup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_deployments: Option<Vec<MachineDeploymentRef>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_deployments_last_update_time: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineDeploymentRef {
    pub name: String,
    pub minimum: i32,
    pub maximum: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// What a node's operating system must be configured with; the OS extension renders it into
/// userdata (`purpose: provision`) or node-agent content (`purpose: reconcile`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "extensions.gardener.cloud",
    version = "v1alpha1",
    kind = "OperatingSystemConfig",
    plural = "operatingsystemconfigs",
    shortname = "osc",
    namespaced,
    status = "OperatingSystemConfigStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct OperatingSystemConfigSpec {
    #[serde(flatten)]
    pub default: DefaultSpec,
    /// `provision` or `reconcile`.
    pub purpose: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<Vec<Unit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<File>>,
    /// `{name: containerd, cgroupDriver, containerd: {...}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cri_config: Option<Value>,
}

/// A systemd unit.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Unit {
    pub name: String,
    /// `start`, `restart` or `stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_ins: Option<Vec<DropIn>>,
    /// Files whose change restarts the unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DropIn {
    pub name: String,
    pub content: String,
}

/// A file on the node.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct File {
    pub path: String,
    pub content: FileContent,
    /// Octal mode as a decimal number (0644 is 420).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_name: Option<String>,
}

/// Where a file's content comes from: inline, a Secret key, or a container image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FileContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<InlineContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretContent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<Value>,
    /// Write the content as is even when the OS extension would encode it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transmit_unencoded: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InlineContent {
    /// `""` or `b64`/`base64`.
    pub encoding: String,
    pub data: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretContent {
    pub name: String,
    pub data_key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OperatingSystemConfigStatus {
    #[serde(flatten)]
    pub default: DefaultStatus,
    /// Units and files the OS extension adds on top of the spec's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_units: Option<Vec<Unit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_files: Option<Vec<File>>,
    /// The Secret holding the rendered userdata (`purpose: provision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_config: Option<CloudConfig>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloudConfig {
    pub secret_ref: SecretReference,
}

/// Gardener's view of one shoot for its extensions (cluster-scoped, named after the shoot's
/// seed namespace). The three objects are Gardener API objects, kept as JSON.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "extensions.gardener.cloud",
    version = "v1alpha1",
    kind = "Cluster",
    plural = "clusters",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSpec {
    pub cloud_profile: Value,
    pub shoot: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<Value>,
}
