//! The abstract load-balancer configuration: address pools from the cluster's IPs and one BGP
//! peer per node (metal-ccm reference §6 and §7), independent of MetalLB or Cilium.
//!
//! Fixed against metal-ccm: a node without ASN label or InternalIP, or an IP record that cannot
//! be used, is skipped with its reason instead of failing the whole configuration.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Node;
use metal_api_sdk::model::{IpResponse, IpType};
use metal_api_sdk::tags::MACHINE_NETWORK_PRIMARY_ASN;
use serde::Serialize;
use utoipa::ToSchema;

use super::config::Config;
use super::tags::belongs_to_cluster;

/// The label a node's speaker is selected by.
pub const HOSTNAME_LABEL: &str = "kubernetes.io/hostname";

/// What the configuration needs to know about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// Value of `kubernetes.io/hostname` (the kubelet's hostname), else the node name.
    pub hostname: String,
    /// Raw value of the `machine.metal-stack.io/network.primary.asn` label.
    pub asn: Option<String>,
    /// The first InternalIP in `status.addresses`.
    pub internal_ip: Option<IpAddr>,
}

impl NodeInfo {
    pub fn from_node(node: &Node) -> Self {
        let name = node.metadata.name.clone().unwrap_or_default();
        let labels = node.metadata.labels.as_ref();
        let label = |key: &str| labels.and_then(|l| l.get(key)).cloned();
        let internal_ip = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .and_then(|a| a.iter().find(|a| a.type_ == "InternalIP"))
            .and_then(|a| a.address.parse().ok());
        Self {
            hostname: label(HOSTNAME_LABEL).unwrap_or_else(|| name.clone()),
            asn: label(MACHINE_NETWORK_PRIMARY_ASN),
            internal_ip,
            name,
        }
    }
}

/// A pool of host routes: every IP of one network and type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Pool {
    /// `<network>-<ephemeral|static>`, lower-cased.
    pub name: String,
    pub network: String,
    #[schema(value_type = String)]
    pub ip_type: IpType,
    /// Host CIDRs (`/32`, `/128`), sorted.
    #[schema(value_type = Vec<String>)]
    pub cidrs: BTreeSet<IpNet>,
}

/// An iBGP session to the node-local FRR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Peer {
    pub node: String,
    pub hostname: String,
    pub asn: u32,
    #[schema(value_type = String)]
    pub address: IpAddr,
}

/// Something left out of the configuration, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Skipped {
    /// `node` or `ip`.
    pub kind: &'static str,
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, ToSchema)]
pub struct LbConfig {
    /// Sorted by name.
    pub pools: Vec<Pool>,
    /// Sorted by node name.
    pub peers: Vec<Peer>,
    pub skipped: Vec<Skipped>,
}

/// `<network>-<ephemeral|static>`: metal-ccm's pool names, which MetalLB users annotate with.
pub fn pool_name(network: &str, ip_type: IpType) -> String {
    let suffix = match ip_type {
        IpType::Static => "static",
        IpType::Ephemeral => "ephemeral",
    };
    format!("{}-{suffix}", network.to_lowercase())
}

/// RFC 1123 subdomain: what an object name may be.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn skip(kind: &'static str, name: &str, reason: impl Into<String>) -> Skipped {
    Skipped {
        kind,
        name: name.to_string(),
        reason: reason.into(),
    }
}

/// The configuration for the project's `ips` and the cluster's `nodes`.
pub fn build(config: &Config, ips: &[IpResponse], nodes: &[NodeInfo]) -> LbConfig {
    let mut skipped = Vec::new();
    let mut pools: BTreeMap<String, Pool> = BTreeMap::new();
    // The pool of each (network, type), decided once: names are built and checked per pool,
    // not per IP (10 000 IPs come in a handful of pools).
    let mut pool_of: HashMap<(&str, IpType), Result<String, String>> = HashMap::new();
    for ip in ips
        .iter()
        .filter(|ip| belongs_to_cluster(ip, &config.cluster))
    {
        if ip.ipaddress.is_empty() {
            skipped.push(skip(
                "ip",
                &ip.allocationuuid,
                "ip address is not set on ip",
            ));
            continue;
        }
        let Ok(address) = ip.ipaddress.parse::<IpAddr>() else {
            skipped.push(skip("ip", &ip.ipaddress, "not a valid IP address"));
            continue;
        };
        let pool = pool_of
            .entry((ip.networkid.as_str(), ip.ip_type))
            .or_insert_with(|| {
                if ip.networkid.is_empty() {
                    return Err("ip has no network id set".into());
                }
                if !config.network_allowed(&ip.networkid) {
                    return Err(format!(
                        "network {:?} is not one of the cluster's networks",
                        ip.networkid
                    ));
                }
                let name = pool_name(&ip.networkid, ip.ip_type);
                if is_dns_subdomain(&name) {
                    Ok(name)
                } else {
                    Err(format!("pool name {name:?} is not a valid object name"))
                }
            });
        let name = match pool {
            Ok(name) => name,
            Err(reason) => {
                skipped.push(skip("ip", &ip.ipaddress, reason.clone()));
                continue;
            }
        };
        if !pools.contains_key(name.as_str()) {
            pools.insert(
                name.clone(),
                Pool {
                    name: name.clone(),
                    network: ip.networkid.clone(),
                    ip_type: ip.ip_type,
                    cidrs: BTreeSet::new(),
                },
            );
        }
        pools
            .get_mut(name.as_str())
            .expect("inserted above")
            .cidrs
            .insert(IpNet::from(address));
    }

    let mut peers = Vec::new();
    for node in nodes {
        let Some(raw) = node.asn.as_deref() else {
            skipped.push(skip(
                "node",
                &node.name,
                format!(
                    "node {:?} misses label: {MACHINE_NETWORK_PRIMARY_ASN}",
                    node.name
                ),
            ));
            continue;
        };
        let Ok(asn) = raw.trim().parse::<u32>() else {
            skipped.push(skip(
                "node",
                &node.name,
                format!("unable to parse valid integer from asn label: {raw:?}"),
            ));
            continue;
        };
        let Some(address) = node.internal_ip else {
            skipped.push(skip("node", &node.name, "node has no InternalIP address"));
            continue;
        };
        peers.push(Peer {
            node: node.name.clone(),
            hostname: node.hostname.clone(),
            asn,
            address,
        });
    }
    peers.sort_by(|a, b| a.node.cmp(&b.node));
    LbConfig {
        pools: pools.into_values().collect(),
        peers,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(address: &str, network: &str, ip_type: IpType, tags: &[&str]) -> IpResponse {
        IpResponse {
            ipaddress: address.into(),
            allocationuuid: format!("u-{address}"),
            name: String::new(),
            description: String::new(),
            networkid: network.into(),
            projectid: "p".into(),
            ip_type,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created: None,
            changed: None,
        }
    }

    const SVC: &str = "cluster.metal-stack.io/id/namespace/service=c/default/web";

    fn node(name: &str, asn: Option<&str>, ip: Option<&str>) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            hostname: name.into(),
            asn: asn.map(str::to_string),
            internal_ip: ip.map(|i| i.parse().unwrap()),
        }
    }

    fn config() -> Config {
        let mut c = Config::for_tests();
        c.additional_networks = [
            "internet",
            "shared-storage-network",
            "mpls-network",
            "dmz-network",
        ]
        .map(String::from)
        .to_vec();
        c
    }

    fn cidrs(pool: &Pool) -> Vec<String> {
        pool.cidrs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn pools_per_network_and_type_with_host_routes() {
        let ips = [
            ip("185.1.2.3", "internet", IpType::Ephemeral, &[SVC]),
            ip("185.1.2.1", "internet", IpType::Ephemeral, &[SVC]),
            ip("185.1.2.3", "internet", IpType::Ephemeral, &[SVC]),
            ip(
                "185.1.2.9",
                "internet",
                IpType::Static,
                &["cluster.metal-stack.io/id=c"],
            ),
            ip(
                "10.0.0.5",
                "shared-storage-network",
                IpType::Ephemeral,
                &[SVC],
            ),
            ip("2a02:c00:20::7", "internet", IpType::Ephemeral, &[SVC]),
            ip("100.64.0.1", "mpls-network", IpType::Static, &[SVC]),
            ip("192.168.9.9", "dmz-network", IpType::Ephemeral, &[SVC]),
        ];
        let c = build(&config(), &ips, &[]);
        let names: Vec<&str> = c.pools.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "dmz-network-ephemeral",
                "internet-ephemeral",
                "internet-static",
                "mpls-network-static",
                "shared-storage-network-ephemeral"
            ]
        );
        assert_eq!(
            cidrs(&c.pools[1]),
            ["185.1.2.1/32", "185.1.2.3/32", "2a02:c00:20::7/128"],
            "deduplicated, IPv6 as /128"
        );
        assert_eq!(cidrs(&c.pools[2]), ["185.1.2.9/32"]);
        assert!(c.skipped.is_empty());
    }

    #[test]
    fn foreign_reserved_and_unlisted_ips_stay_out() {
        let ips = [
            ip(
                "185.1.2.1",
                "internet",
                IpType::Ephemeral,
                &["cluster.metal-stack.io/id/namespace/service=other/default/web"],
            ),
            ip(
                "185.1.2.2",
                "internet",
                IpType::Ephemeral,
                &[SVC, "machine.metal-stack.io/id=m1"],
            ),
            ip(
                "185.1.2.3",
                "internet",
                IpType::Static,
                &["cluster.metal-stack.io/id/egress=c"],
            ),
            ip("185.1.2.4", "internet", IpType::Static, &[]),
            ip("10.5.5.5", "not-listed", IpType::Ephemeral, &[SVC]),
        ];
        let c = build(&config(), &ips, &[]);
        assert!(c.pools.is_empty(), "{:?}", c.pools);
        assert_eq!(c.skipped.len(), 1);
        assert_eq!(c.skipped[0].name, "10.5.5.5");
        assert!(c.skipped[0].reason.contains("not-listed"));
    }

    #[test]
    fn broken_ip_records_are_skipped_not_fatal() {
        let ips = [
            ip("", "internet", IpType::Ephemeral, &[SVC]),
            ip("185.1.2", "internet", IpType::Ephemeral, &[SVC]),
            ip("185.1.2.3", "", IpType::Ephemeral, &[SVC]),
            ip("185.1.2.4", "internet", IpType::Ephemeral, &[SVC]),
        ];
        let c = build(&config(), &ips, &[]);
        assert_eq!(c.pools.len(), 1);
        assert_eq!(cidrs(&c.pools[0]), ["185.1.2.4/32"]);
        let reasons: Vec<&str> = c.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "ip address is not set on ip",
                "not a valid IP address",
                "ip has no network id set"
            ]
        );
    }

    #[test]
    fn a_peer_per_node_and_bad_nodes_skipped() {
        let nodes = [
            node("n2", Some("4200000001"), Some("10.0.0.2")),
            node("n1", Some("4200000001"), Some("10.0.0.1")),
            node("n3", None, Some("10.0.0.3")),
            node("n4", Some("not-a-number"), Some("10.0.0.4")),
            node("n5", Some("4200000005"), None),
            node("n6", Some("4200000006"), Some("fd00::6")),
        ];
        let c = build(&config(), &[], &nodes);
        let peers: Vec<(&str, u32)> = c.peers.iter().map(|p| (p.node.as_str(), p.asn)).collect();
        assert_eq!(
            peers,
            [("n1", 4200000001), ("n2", 4200000001), ("n6", 4200000006)],
            "equal ASNs are two peers"
        );
        let skipped: Vec<(&str, &str)> = c
            .skipped
            .iter()
            .map(|s| (s.name.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            skipped,
            [
                (
                    "n3",
                    "node \"n3\" misses label: machine.metal-stack.io/network.primary.asn"
                ),
                (
                    "n4",
                    "unable to parse valid integer from asn label: \"not-a-number\""
                ),
                ("n5", "node has no InternalIP address"),
            ]
        );
    }

    #[test]
    fn node_info_reads_labels_and_first_internal_ip() {
        use k8s_openapi::api::core::v1::{NodeAddress, NodeStatus};
        let mut n = Node::default();
        n.metadata.name = Some("worker-1".into());
        n.metadata.labels = Some(
            [
                (HOSTNAME_LABEL.to_string(), "worker-1.local".to_string()),
                (
                    MACHINE_NETWORK_PRIMARY_ASN.to_string(),
                    "4200000001".to_string(),
                ),
            ]
            .into(),
        );
        let addr = |t: &str, a: &str| NodeAddress {
            type_: t.into(),
            address: a.into(),
        };
        n.status = Some(NodeStatus {
            addresses: Some(vec![
                addr("Hostname", "worker-1"),
                addr("InternalIP", "10.0.0.1"),
                addr("InternalIP", "10.0.0.2"),
            ]),
            ..Default::default()
        });
        let info = NodeInfo::from_node(&n);
        assert_eq!(info.hostname, "worker-1.local");
        assert_eq!(info.asn.as_deref(), Some("4200000001"));
        assert_eq!(info.internal_ip, Some("10.0.0.1".parse().unwrap()));
    }
}
