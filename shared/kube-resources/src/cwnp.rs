//! `ClusterwideNetworkPolicy` (`metal-stack.io/v1`): the cluster-wide firewall rules that the rule
//! compiler turns into nftables. Wire-compatible with firewall-controller's CRD
//! (`contracts/crds/metal-stack.io_clusterwidenetworkpolicies.yaml`); the only deliberate
//! difference is that `protocol` is an enum (`TCP`/`UDP`), which upstream validates in code
//! rather than in the schema.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// PolicySpec defines the rules to create for ingress and egress.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "metal-stack.io",
    version = "v1",
    kind = "ClusterwideNetworkPolicy",
    plural = "clusterwidenetworkpolicies",
    shortname = "cwnp",
    namespaced,
    doc = "ClusterwideNetworkPolicy contains the desired state for a cluster wide network policy to be applied.",
    status = "PolicyStatus",
    // The raw JSON form: the structured form trips clippy::duplicated_attributes on `type_`.
    printcolumn = r#"{"name": "Status", "type": "string", "jsonPath": ".status.state"}"#,
    printcolumn = r#"{"name": "Message", "type": "string", "jsonPath": ".status.message"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// Free-form explanation of the purpose of this policy; not used to identify rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Ingress rules; traffic into the cluster is allowed if any policy allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<Vec<IngressRule>>,
    /// Egress rules; traffic out of the cluster is allowed if any policy allows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EgressRule>>,
}

/// Traffic allowed into the cluster; it must match both `ports` and `from`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressRule {
    /// Destination ports (logical OR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<NetworkPolicyPort>>,
    /// Source CIDRs (logical OR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<IpBlock>>,
}

/// Traffic allowed out of the cluster; it must match both `ports` and `to`/`toFQDNs`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EgressRule {
    /// Destination ports (logical OR).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<NetworkPolicyPort>>,
    /// Destination CIDRs (logical OR); exclusive with `toFQDNs`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<IpBlock>>,
    /// Destination DNS names (logical OR); exclusive with `to`.
    #[serde(rename = "toFQDNs", default, skip_serializing_if = "Option::is_none")]
    pub to_fqdns: Option<Vec<FqdnSelector>>,
}

/// A CIDR (IPv4 or IPv6) minus the CIDRs in `except`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpBlock {
    /// The CIDR, e.g. `192.168.1.0/24` or `2001:db8::/64`.
    pub cidr: String,
    /// CIDRs inside `cidr` that are excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub except: Option<Vec<String>>,
}

/// Transport protocol of a port rule; upstream defaults to TCP when absent.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Protocol {
    #[serde(rename = "TCP")]
    Tcp,
    #[serde(rename = "UDP")]
    Udp,
}

/// A port or inclusive port range. Numeric only: upstream has no named ports.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicyPort {
    /// TCP or UDP; TCP when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// The port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// Inclusive end of a port range starting at `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_port: Option<i32>,
}

/// A DNS name or `*` pattern whose resolved addresses are allowed as egress destinations.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FqdnSelector {
    /// Exact FQDN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([-a-zA-Z0-9_]+[.]?)+$"))]
    pub match_name: Option<String>,
    /// FQDN pattern; `*` matches zero or more valid characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^([-a-zA-Z0-9_*]+[.]?)+$"))]
    pub match_pattern: Option<String>,
}

/// Observed state, written by the rule compiler.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PolicyStatus {
    /// `deployed` or `ignored`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why the state changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// nftables sets per FQDN rule; the key is the `matchName` or `matchPattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn_state: Option<BTreeMap<String, Vec<IpSet>>>,
}

/// An nftables set holding the resolved addresses of one FQDN.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpSet {
    /// Deprecated upstream in favour of `ipExpirationTimes`; RFC 3339 timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expiration_time: Option<String>,
    /// The FQDN this set is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// Expiration time (RFC 3339) per IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("additionalProperties" = {"type": "string", "format": "date-time"}))]
    pub ip_expiration_times: Option<BTreeMap<String, String>>,
    /// Deprecated upstream in favour of `ipExpirationTimes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ips: Option<Vec<String>>,
    /// Name of the nftables set (a hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_name: Option<String>,
    /// IP family of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}
