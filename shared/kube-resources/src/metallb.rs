//! MetalLB resources (`metallb.io`) that the lb-allocator writes. We do not own these CRDs; the
//! types carry the spec fields of `contracts/crds/metallb.io_*.yaml` and derive no schema
//! (`schema = "disabled"`). Check written objects with [`crate::schema::UpstreamSchema`].
//! Unknown fields are ignored on read, so update with patches, not full replaces.

use k8s_openapi::api::core::v1::SecretReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use serde::{Deserialize, Serialize};

/// A range of addresses MetalLB may assign to `LoadBalancer` Services (`metallb.io/v1beta1`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "IPAddressPool",
    plural = "ipaddresspools",
    namespaced,
    status = "IPAddressPoolStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolSpec {
    /// CIDRs (`192.0.2.0/24`) or ranges (`192.0.2.10-192.0.2.20`).
    pub addresses: Vec<String>,
    /// Whether Services get addresses from this pool without asking for it (MetalLB default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_assign: Option<bool>,
    /// Skip `.0` and `.255` addresses.
    #[serde(
        rename = "avoidBuggyIPs",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub avoid_buggy_ips: Option<bool>,
    /// Restricts which Services may use the pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_allocation: Option<ServiceAllocation>,
}

/// Which namespaces/Services a pool serves, and its priority among pools.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAllocation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selectors: Option<Vec<LabelSelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_selectors: Option<Vec<LabelSelector>>,
}

/// Address usage, maintained by MetalLB.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IPAddressPoolStatus {
    #[serde(rename = "assignedIPv4")]
    pub assigned_ipv4: i64,
    #[serde(rename = "assignedIPv6")]
    pub assigned_ipv6: i64,
    #[serde(rename = "availableIPv4")]
    pub available_ipv4: i64,
    #[serde(rename = "availableIPv6")]
    pub available_ipv6: i64,
}

/// A BGP session MetalLB's speakers open (`metallb.io/v1beta2`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "metallb.io",
    version = "v1beta2",
    kind = "BGPPeer",
    plural = "bgppeers",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct BGPPeerSpec {
    /// Local AS number.
    #[serde(rename = "myASN")]
    pub my_asn: u32,
    /// Remote AS number; exclusive with `dynamicASN`.
    #[serde(rename = "peerASN", default, skip_serializing_if = "Option::is_none")]
    pub peer_asn: Option<u32>,
    /// `internal` or `external`, detected at session setup; exclusive with `peerASN`.
    #[serde(
        rename = "dynamicASN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dynamic_asn: Option<String>,
    /// Local ASN announced to the peer instead of `myASN`.
    #[serde(rename = "localASN", default, skip_serializing_if = "Option::is_none")]
    pub local_asn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_address: Option<String>,
    /// Unnumbered BGP over this interface; exclusive with `peerAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_port: Option<u16>,
    /// Go duration strings (`90s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keepalive_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_time: Option<String>,
    #[serde(rename = "routerID", default, skip_serializing_if = "Option::is_none")]
    pub router_id: Option<String>,
    /// Nodes whose speakers open this session; all nodes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selectors: Option<Vec<LabelSelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_secret: Option<SecretReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bfd_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_graceful_restart: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ebgp_multi_hop: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
    #[serde(rename = "disableMP", default, skip_serializing_if = "Option::is_none")]
    pub disable_mp: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dual_stack_address_family: Option<bool>,
}

/// How addresses of selected pools are announced over BGP (`metallb.io/v1beta1`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "metallb.io",
    version = "v1beta1",
    kind = "BGPAdvertisement",
    plural = "bgpadvertisements",
    namespaced,
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct BGPAdvertisementSpec {
    /// Prefix length announced for IPv4 addresses (MetalLB default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_length: Option<i32>,
    /// Prefix length announced for IPv6 addresses (MetalLB default 128).
    #[serde(
        rename = "aggregationLengthV6",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub aggregation_length_v6: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pref: Option<u32>,
    /// Communities (`65535:65282`) or names of Community objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communities: Option<Vec<String>>,
    /// Pool names; with `ipAddressPoolSelectors` absent too, all pools are advertised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_pools: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_pool_selectors: Option<Vec<LabelSelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_selectors: Option<Vec<LabelSelector>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selectors: Option<Vec<LabelSelector>>,
    /// Names of the BGPPeers to advertise to; all peers when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<String>>,
}
