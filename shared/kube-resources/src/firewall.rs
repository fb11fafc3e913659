//! `Firewall` and `FirewallMonitor` (`firewall.metal-stack.io/v2`), owned by
//! firewall-controller-manager. We never generate or install their CRDs; these hand-written types
//! carry the fields the rule compiler reads (Firewall spec and status) and writes
//! (FirewallMonitor). Neither fits `#[derive(CustomResource)]`: `Firewall` has a top-level
//! `distance` next to `spec`, and `FirewallMonitor` keeps all of its fields at the top level.
//!
//! Unknown fields are ignored on read. Writers must therefore use merge or apply patches that only
//! name the fields they own, never a full `replace` of an object they deserialized.

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::core::{NamespaceResourceScope, Resource};
use serde::{Deserialize, Serialize};

/// API group of the firewall-controller-manager resources.
pub const GROUP: &str = "firewall.metal-stack.io";
/// The only served version.
pub const VERSION: &str = "v2";

macro_rules! static_resource {
    ($ty:ty, $kind:literal, $plural:literal) => {
        impl Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(VERSION)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

fn api_version() -> String {
    format!("{GROUP}/{VERSION}")
}

/// A firewall machine in the seed's shoot namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Firewall {
    /// Always `firewall.metal-stack.io/v2`.
    #[serde(default = "api_version")]
    pub api_version: String,
    /// Always `Firewall`.
    #[serde(default = "firewall_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub spec: FirewallSpec,
    /// BGP as-path length the firewall announces (longer = less traffic attracted).
    #[serde(default)]
    pub distance: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<FirewallStatus>,
}

fn firewall_kind() -> String {
    "Firewall".into()
}

impl Firewall {
    /// A Firewall with the given name and spec and empty status.
    pub fn new(name: &str, spec: FirewallSpec) -> Self {
        Self {
            api_version: api_version(),
            kind: firewall_kind(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..ObjectMeta::default()
            },
            spec,
            distance: 0,
            status: None,
        }
    }
}

static_resource!(Firewall, "Firewall", "firewalls");

/// Desired state of a firewall machine; the fields the rule compiler and controllers consume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallSpec {
    pub size: String,
    pub image: String,
    pub partition: String,
    pub project: String,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userdata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_keys: Option<Vec<String>>,
    /// Reconcile interval as a Go duration string (e.g. `10s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Rules are computed but not applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_rule_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Vec<RateLimit>>,
    /// SNAT addresses per network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_rules: Option<Vec<EgressRuleSnat>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_prefixes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_version: Option<String>,
    #[serde(
        rename = "controllerURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub controller_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_exporter_version: Option<String>,
    #[serde(
        rename = "nftablesExporterURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub nftables_exporter_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_accepted_connections: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_server_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_networks: Option<AllowedNetworks>,
}

/// Bandwidth limit (Mbit/s) on one network.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    #[serde(rename = "networkID")]
    pub network_id: String,
    pub rate: i32,
}

/// Source addresses used for traffic leaving one network.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EgressRuleSnat {
    #[serde(rename = "networkID")]
    pub network_id: String,
    pub ips: Vec<String>,
}

/// CIDRs that CWNPs may reference; policies outside them are rejected when set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AllowedNetworks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<String>>,
}

/// Observed state of a firewall, written by firewall-controller-manager and (controllerStatus) by
/// the firewall's own controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_status: Option<MachineStatus>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub phase: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_status: Option<ControllerConnection>,
    /// The networks the machine is attached to, with their VRFs and prefixes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall_networks: Option<Vec<FirewallNetwork>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shoot_access: Option<ShootAccess>,
}

/// Machine allocation state as reported by metal-api.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineStatus {
    #[serde(rename = "machineID")]
    pub machine_id: String,
    #[serde(rename = "imageID", default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
    pub liveliness: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash_loop: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<MachineLastEvent>,
    pub allocation_timestamp: Time,
}

/// The latest provisioning event of the machine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MachineLastEvent {
    pub event: String,
    pub timestamp: Time,
    pub message: String,
}

/// A firewall-controller-manager condition (note `lastUpdateTime`, unlike metav1.Condition).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub last_transition_time: Time,
    pub last_update_time: Time,
    pub reason: String,
    pub message: String,
}

/// What the seed knows about the firewall's controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerConnection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_against_seed: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_distance: Option<i64>,
}

/// One network of the firewall machine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallNetwork {
    #[serde(rename = "networkID")]
    pub network_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ips: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_prefixes: Option<Vec<String>>,
    pub vrf: i64,
    pub asn: i64,
    pub nat: bool,
    pub network_type: String,
}

/// How the firewall reaches the shoot API server.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ShootAccess {
    pub generic_kubeconfig_secret_name: String,
    pub token_secret_name: String,
    pub namespace: String,
    #[serde(rename = "apiServerURL")]
    pub api_server_url: String,
}

/// Mirror of a Firewall inside the shoot cluster; the firewall's controller reports its
/// `controllerStatus` here. All fields are top-level (there is no `spec`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallMonitor {
    #[serde(default = "api_version")]
    pub api_version: String,
    #[serde(default = "monitor_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    pub size: String,
    pub image: String,
    pub partition: String,
    pub project: String,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Vec<RateLimit>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_rules: Option<Vec<EgressRuleSnat>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_accepted_connections: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_status: Option<MachineStatus>,
    /// Required (possibly empty) by the upstream schema, so always written.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_status: Option<ControllerStatus>,
}

fn monitor_kind() -> String {
    "FirewallMonitor".into()
}

static_resource!(FirewallMonitor, "FirewallMonitor", "firewallmonitors");

/// Status the firewall's controller reports into its FirewallMonitor.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ControllerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<FirewallStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nftables_exporter_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_against_seed: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distance_supported: Option<bool>,
}

/// Packet/byte counters; all three maps are required by the upstream schema.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FirewallStats {
    /// action (accept, drop, ...) → rule comment → counter.
    #[serde(default)]
    pub rules: BTreeMap<String, BTreeMap<String, RuleStat>>,
    /// Device name → traffic.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStat>,
    /// Interface → IDS counters.
    #[serde(default)]
    pub ids_stats: BTreeMap<String, IdsStat>,
}

/// One nftables rule's counter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RuleStat {
    pub counter: Counter,
}

/// An nftables counter.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Counter {
    pub bytes: u64,
    pub packets: u64,
}

/// Bytes in and out of one device.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DeviceStat {
    #[serde(rename = "in")]
    pub in_: u64,
    pub out: u64,
}

/// Suricata counters of one interface.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IdsStat {
    pub drop: i64,
    pub invalid_checksums: i64,
    pub packets: i64,
}
