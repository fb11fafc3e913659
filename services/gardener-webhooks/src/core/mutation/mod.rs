//! The seed and shoot mutations of gardener-extension-provider-metal (reference §1.6), three
//! Gardener generic webhooks:
//! - `controlplane` (KindShoot, `/webhooks/controlplane`, shoot namespaces of the seed): the
//!   kube-apiserver, kube-controller-manager, machine-controller-manager and vpn-seed-server
//!   Deployments, the gardener-resource-manager ConfigMap and OperatingSystemConfigs;
//! - `seedprovider` (KindSeed, `/webhooks/seedprovider`): druid Etcds;
//! - `shoot` (`/webhooks/shoot`, the shoot's kube-system): vpn-shoot and calico-node.
//!
//! [`mutate`] takes the object of an AdmissionReview and returns it mutated; the edge reads what
//! [`needs`] asks for first and turns the difference into a JSON patch. An object being deleted,
//! or one no ensurer handles, comes back unchanged.

mod checksum;
mod cluster;
mod controlplane;
pub mod duration;
mod flags;
mod osc;
mod pod;
mod seedprovider;
mod shoot;
mod systemd_unit;
mod version;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use cluster::Cluster;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    ControlPlane,
    SeedProvider,
    Shoot,
}

/// What the seed-side mutations are configured with (CLI flags of the binary; upstream: the
/// provider's ControllerConfiguration and image vector).
#[derive(Debug, Clone, Default)]
pub struct SeedConfig {
    /// Image of the machine-controller-manager provider sidecar (our machine-lifecycle image).
    pub machine_controller_manager_image: String,
    pub etcd: EtcdConfig,
}

#[derive(Debug, Clone, Default)]
pub struct EtcdConfig {
    pub storage_class_name: Option<String>,
    /// A Kubernetes quantity, e.g. `16Gi`.
    pub storage_capacity: Option<String>,
    pub backup_schedule: Option<String>,
    /// A Go duration like `5m`.
    pub backup_delta_snapshot_period: Option<String>,
    pub is_eviction_allowed: bool,
}

/// What the edge must read before mutating an object: the Cluster of its namespace (named after
/// the namespace), the `cloudprovider` Secret of its namespace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub cluster: bool,
    pub cloudprovider_secret: bool,
}

pub struct Context<'a> {
    /// The object before this change (UPDATE reviews), as the review's oldObject.
    pub old: Option<&'a Value>,
    pub cluster: Option<&'a Cluster>,
    /// `data` of Secret `cloudprovider` (base64 values as the API serves them), if it exists.
    pub cloudprovider_data: Option<&'a Map<String, Value>>,
    pub config: &'a SeedConfig,
}

/// Who an admission object is: API group (`""` for the core group), kind, name, namespace.
#[derive(Debug, Clone, Copy)]
struct Meta<'a> {
    group: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: &'a str,
}

impl<'a> Meta<'a> {
    fn of(object: &'a Value) -> Self {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let api_version = text("/apiVersion");
        Self {
            group: api_version.rsplit_once('/').map_or("", |(group, _)| group),
            kind: text("/kind"),
            name: text("/metadata/name"),
            namespace: text("/metadata/namespace"),
        }
    }

    fn is(&self, group: &str, kind: &str) -> bool {
        self.group == group && self.kind == kind
    }
}

/// Every mutator leaves an object alone once its deletion began.
fn being_deleted(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

pub fn needs(webhook: Webhook, object: &Value) -> Needs {
    if being_deleted(object) {
        return Needs::default();
    }
    match webhook {
        Webhook::ControlPlane => controlplane::needs(&Meta::of(object)),
        Webhook::SeedProvider | Webhook::Shoot => Needs::default(),
    }
}

/// The mutated object (equal to `object` when nothing applies). Err: a message for a deny (an
/// undecodable kubelet configuration, a Cluster or Secret that is needed but missing, ...).
pub fn mutate(webhook: Webhook, object: &Value, ctx: &Context) -> Result<Value, String> {
    if being_deleted(object) {
        return Ok(object.clone());
    }
    let meta = Meta::of(object);
    let mut mutated = object.clone();
    match webhook {
        Webhook::ControlPlane => controlplane::mutate(&meta, &mut mutated, ctx)?,
        Webhook::SeedProvider => seedprovider::mutate(&meta, &mut mutated, ctx)?,
        Webhook::Shoot => shoot::mutate(&meta, &mut mutated),
    }
    Ok(mutated)
}
