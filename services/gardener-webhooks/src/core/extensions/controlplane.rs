//! The ControlPlane of a metal shoot (upstream's generic control-plane actuator with the metal
//! values provider), as pure decisions: the [`values`] read from the shoot, metal-api and the
//! seed; the certificates and when to renew them ([`secrets`]); and the three
//! ManagedResources the controller applies ([`manifests`]):
//! - [`seed`]: `extension-controlplane-seed`, lb-allocator in the shoot's seed namespace;
//! - [`shoot`]: `extension-controlplane-shoot`, the firewall namespace with the default
//!   ClusterwideNetworkPolicies, the node CIDR ConfigMap and the RBAC of rule-compiler and
//!   lb-allocator in the shoot;
//! - [`storage`]: `extension-controlplane-storageclasses`, volume-manager and the StorageClass
//!   `csi-lvm`, unless csi-lvm is disabled.
//!
//! The workloads mirror the metal-mesh chart's templates for the same services (each module
//! names the templates it follows); what runs inside a Gardener shoot or seed differs from a
//! Helm release is said there.

pub mod manifests;
pub mod secrets;
pub mod seed;
pub mod shoot;
pub mod storage;
pub mod values;

#[cfg(test)]
mod tests;

pub use manifests::ManagedResource;
pub use values::{Credential, Inputs, Values, values};

/// The ManagedResources this controller owns, in the order they are deleted (the shoot's
/// first, as Gardener does, so lb-allocator outlives what it serves).
pub const MANAGED_RESOURCES: [&str; 3] = [shoot::RESOURCE, storage::RESOURCE, seed::RESOURCE];

/// Every ManagedResource for `values`; the storage one only with csi-lvm.
pub fn render(
    values: &Values,
    image: &str,
    volume_manager_tls: &storage::Tls,
) -> Vec<ManagedResource> {
    let mut resources = vec![seed::resources(values, image), shoot::resources(values)];
    resources.extend(storage::resources(values, image, volume_manager_tls));
    resources
}
