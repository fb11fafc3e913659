//! Typed Kubernetes resources shared by the metal-mesh controllers.
//!
//! * [`cwnp`]: our own `ClusterwideNetworkPolicy` CRD (`metal-stack.io/v1`), generated into the
//!   Helm chart by the `crdgen` binary.
//! * [`firewall`]: the `firewall.metal-stack.io/v2` `Firewall` and `FirewallMonitor` objects that
//!   firewall-controller-manager owns and the rule compiler reads and writes.
//! * [`metallb`]: MetalLB `IPAddressPool`, `BGPPeer` and `BGPAdvertisement`, written by the
//!   lb-allocator.
//! * [`mcm`]: machine-controller-manager `Machine` and `MachineClass`, for machine-lifecycle.
//! * [`gardener`]: Gardener extension resources (`Infrastructure`, `ControlPlane`, `Worker`,
//!   `OperatingSystemConfig`, `Cluster`), for the metal extension webhooks and controllers.
//! * [`contracts`]: where the upstream contract files are found (tests).
//! * [`crds`]: the YAML of the CRDs we own (only CWNP), used by `crdgen` and the drift test.
//! * [`schema`]: validation of any object against an upstream CRD's openAPIV3Schema, so that
//!   what we write is checked against the contract, not against our own types.

pub mod contracts;
pub mod crds;
pub mod cwnp;
pub mod firewall;
pub mod gardener;
pub mod mcm;
pub mod metallb;
pub mod schema;

pub use cwnp::ClusterwideNetworkPolicy;
pub use firewall::{Firewall, FirewallMonitor};
pub use schema::validate_against_upstream;
