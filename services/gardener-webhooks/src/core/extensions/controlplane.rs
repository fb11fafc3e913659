//! The ControlPlane of a metal shoot (upstream's generic control-plane actuator with the metal
//! values provider), as pure decisions: the [`values`] read from the shoot, metal-api and the
//! seed; the certificates and when to renew them ([`secrets`]); and the three
//! ManagedResources the controller applies ([`manifests`]):
//! - [`seed`]: `extension-controlplane-seed`, lb-allocator in the shoot's seed namespace,
//!   and metal-stack's [`firewall_manager`];
//! - [`shoot`]: `extension-controlplane-shoot`, the firewall namespace with the default
//!   ClusterwideNetworkPolicies, the node CIDR ConfigMap and the RBAC of rule-compiler and
//!   lb-allocator in the shoot;
//! - [`storage`]: `extension-controlplane-storageclasses`, volume-manager and the StorageClass
//!   `csi-lvm`, unless csi-lvm is disabled.
//!
//! The workloads mirror the metal-mesh chart's templates for the same services (each module
//! names the templates it follows); what runs inside a Gardener shoot or seed differs from a
//! Helm release is said there. `integration/tests/controlplane_chart.rs` renders the chart with
//! Helm and holds these objects to it, field by field, but for those differences.

pub mod firewall_manager;
pub mod manifests;
pub mod secrets;
pub mod seed;
pub mod shoot;
pub mod storage;
pub mod values;

#[cfg(test)]
mod tests;

pub use firewall_manager::FirewallManager;
pub use manifests::ManagedResource;
pub use values::{Credential, Inputs, Values, values};

/// The ManagedResources this controller owns, in the order they are deleted (the shoot's
/// first, as Gardener does, so lb-allocator outlives what it serves).
pub const MANAGED_RESOURCES: [&str; 3] = [shoot::RESOURCE, storage::RESOURCE, seed::RESOURCE];

/// Every ManagedResource for `values`; the storage one only with csi-lvm, firewall-controller-
/// manager's objects only with `firewall_manager`.
pub fn render(
    values: &Values,
    image: &str,
    volume_manager_tls: &storage::Tls,
    firewall_manager: Option<&FirewallManager>,
) -> Vec<ManagedResource> {
    let mut seed = seed::resources(values, image);
    let mut shoot = shoot::resources(values);
    if let Some(fcm) = firewall_manager {
        seed.objects
            .extend(firewall_manager::seed_objects(values, fcm));
        shoot.objects.extend(firewall_manager::shoot_objects());
    }
    let mut resources = vec![seed, shoot];
    resources.extend(storage::resources(values, image, volume_manager_tls));
    resources
}
