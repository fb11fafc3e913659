//! The abstract configuration as Kubernetes objects: MetalLB (`metallb.io`) or Cilium
//! (`cilium.io`). Every object carries our `managed-by` label; only labelled objects are ever
//! deleted.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube_resources::metallb::{BGPAdvertisementSpec, BGPPeerSpec, IPAddressPoolSpec};
use serde_json::{Value, json};

use super::config::LoadBalancerKind;
use super::lbconfig::{HOSTNAME_LABEL, LbConfig, Peer};

pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "metal-mesh-lb-allocator";

/// The kinds we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    IpAddressPool,
    BgpAdvertisement,
    BgpPeer,
    CiliumPool,
    CiliumPeeringPolicy,
}

/// What an object does in the configuration; decides the write order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Pool,
    Advertisement,
    Peer,
}

impl ObjectKind {
    pub const METALLB: [ObjectKind; 3] = [
        ObjectKind::IpAddressPool,
        ObjectKind::BgpAdvertisement,
        ObjectKind::BgpPeer,
    ];
    pub const CILIUM: [ObjectKind; 2] = [ObjectKind::CiliumPool, ObjectKind::CiliumPeeringPolicy];

    pub fn for_loadbalancer(kind: LoadBalancerKind) -> &'static [ObjectKind] {
        match kind {
            LoadBalancerKind::Metallb => &Self::METALLB,
            LoadBalancerKind::Cilium => &Self::CILIUM,
        }
    }

    /// (group, version, kind, plural)
    pub fn gvk(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            ObjectKind::IpAddressPool => {
                ("metallb.io", "v1beta1", "IPAddressPool", "ipaddresspools")
            }
            ObjectKind::BgpAdvertisement => (
                "metallb.io",
                "v1beta1",
                "BGPAdvertisement",
                "bgpadvertisements",
            ),
            ObjectKind::BgpPeer => ("metallb.io", "v1beta2", "BGPPeer", "bgppeers"),
            ObjectKind::CiliumPool => (
                "cilium.io",
                "v2alpha1",
                "CiliumLoadBalancerIPPool",
                "ciliumloadbalancerippools",
            ),
            ObjectKind::CiliumPeeringPolicy => (
                "cilium.io",
                "v2alpha1",
                "CiliumBGPPeeringPolicy",
                "ciliumbgppeeringpolicies",
            ),
        }
    }

    /// MetalLB objects live in the MetalLB namespace; Cilium's are cluster-scoped.
    pub fn namespaced(self) -> bool {
        matches!(
            self,
            ObjectKind::IpAddressPool | ObjectKind::BgpAdvertisement | ObjectKind::BgpPeer
        )
    }

    pub fn role(self) -> Role {
        match self {
            ObjectKind::IpAddressPool | ObjectKind::CiliumPool => Role::Pool,
            ObjectKind::BgpAdvertisement => Role::Advertisement,
            ObjectKind::BgpPeer | ObjectKind::CiliumPeeringPolicy => Role::Peer,
        }
    }

    /// The addresses of a pool's spec, as written by [`render`].
    pub fn pool_addresses(self, spec: &Value) -> Vec<String> {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        match self {
            ObjectKind::IpAddressPool => strings(&spec["addresses"]),
            ObjectKind::CiliumPool => spec["blocks"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|b| b["cidr"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// `spec` with its pool addresses replaced.
    pub fn with_pool_addresses(self, spec: &Value, addresses: &[String]) -> Value {
        let mut spec = spec.clone();
        match self {
            ObjectKind::IpAddressPool => spec["addresses"] = json!(addresses),
            ObjectKind::CiliumPool => {
                spec["blocks"] = addresses.iter().map(|a| json!({"cidr": a})).collect()
            }
            _ => {}
        }
        spec
    }
}

/// One object to write, without metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    pub kind: ObjectKind,
    pub name: String,
    pub spec: Value,
}

impl DesiredObject {
    /// The full object: apiVersion, kind, metadata with our label, spec.
    pub fn to_object(&self, namespace: &str) -> Value {
        object(self.kind, &self.name, namespace, &self.spec)
    }
}

/// A full object of `kind` with our label.
pub fn object(kind: ObjectKind, name: &str, namespace: &str, spec: &Value) -> Value {
    let (group, version, k, _) = kind.gvk();
    let mut metadata = json!({"name": name, "labels": {MANAGED_BY_LABEL: MANAGED_BY}});
    if kind.namespaced() {
        metadata["namespace"] = json!(namespace);
    }
    json!({"apiVersion": format!("{group}/{version}"), "kind": k, "metadata": metadata, "spec": spec})
}

/// Everything that should exist: objects, plus (Cilium) annotations per node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Desired {
    pub objects: Vec<DesiredObject>,
    pub node_annotations: BTreeMap<String, BTreeMap<String, String>>,
}

/// `peer-<node>`: one BGPPeer per node, so equal ASNs never collide. Names beyond the
/// object-name limit are shortened with a hash of the full name, so they stay unique.
pub fn peer_name(node: &str) -> String {
    let name = format!("peer-{node}");
    if name.len() <= 253 {
        return name;
    }
    let hash = node.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut cut = 236;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}-{hash:016x}", name[..cut].trim_end_matches(['-', '.']))
}

fn hostname_selector(peer: &Peer) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: HOSTNAME_LABEL.into(),
            operator: "In".into(),
            values: Some(vec![peer.hostname.clone()]),
        }]),
        match_labels: None,
    }
}

fn to_value<T: serde::Serialize>(spec: &T) -> Value {
    serde_json::to_value(spec).expect("specs serialize")
}

/// The objects for `config`, in name order per kind.
pub fn render(kind: LoadBalancerKind, config: &LbConfig) -> Desired {
    let mut desired = Desired::default();
    let cidrs = |p: &super::lbconfig::Pool| -> Vec<String> {
        p.cidrs.iter().map(ToString::to_string).collect()
    };
    match kind {
        LoadBalancerKind::Metallb => {
            for pool in &config.pools {
                desired.objects.push(DesiredObject {
                    kind: ObjectKind::IpAddressPool,
                    name: pool.name.clone(),
                    spec: to_value(&IPAddressPoolSpec {
                        addresses: cidrs(pool),
                        auto_assign: Some(false),
                        ..Default::default()
                    }),
                });
                desired.objects.push(DesiredObject {
                    kind: ObjectKind::BgpAdvertisement,
                    name: pool.name.clone(),
                    spec: to_value(&BGPAdvertisementSpec {
                        ip_address_pools: Some(vec![pool.name.clone()]),
                        ..Default::default()
                    }),
                });
            }
            for peer in &config.peers {
                desired.objects.push(DesiredObject {
                    kind: ObjectKind::BgpPeer,
                    name: peer_name(&peer.node),
                    spec: to_value(&BGPPeerSpec {
                        my_asn: peer.asn,
                        peer_asn: Some(peer.asn),
                        peer_address: Some(peer.address.to_string()),
                        hold_time: Some("90s".into()),
                        keepalive_time: Some("0s".into()),
                        node_selectors: Some(vec![hostname_selector(peer)]),
                        ..Default::default()
                    }),
                });
            }
        }
        LoadBalancerKind::Cilium => {
            for pool in &config.pools {
                let blocks: Vec<Value> = cidrs(pool).iter().map(|c| json!({"cidr": c})).collect();
                desired.objects.push(DesiredObject {
                    kind: ObjectKind::CiliumPool,
                    name: pool.name.clone(),
                    spec: json!({"blocks": blocks}),
                });
            }
            for peer in &config.peers {
                desired.objects.push(DesiredObject {
                    kind: ObjectKind::CiliumPeeringPolicy,
                    name: peer_name(&peer.node),
                    spec: json!({
                        "nodeSelector": to_value(&hostname_selector(peer)),
                        "virtualRouters": [{
                            "localASN": peer.asn,
                            "exportPodCIDR": true,
                            "serviceSelector": {"matchExpressions": [{
                                "key": "io.cilium/bgp-control-plane", "operator": "NotIn", "values": ["ignore"]
                            }]},
                            "neighbors": [{
                                "peerAddress": "127.0.0.1/32",
                                "peerASN": peer.asn,
                                "gracefulRestart": {"enabled": true},
                            }],
                        }],
                    }),
                });
                desired.node_annotations.insert(
                    peer.node.clone(),
                    [(
                        format!("cilium.io/bgp-virtual-router.{}", peer.asn),
                        "router-id=127.0.0.1".to_string(),
                    )]
                    .into(),
                );
            }
        }
    }
    desired
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use metal_api_sdk::model::IpType;

    use super::*;
    use crate::core::lbconfig::Pool;

    fn config() -> LbConfig {
        LbConfig {
            pools: vec![Pool {
                name: "internet-ephemeral".into(),
                network: "internet".into(),
                ip_type: IpType::Ephemeral,
                cidrs: BTreeSet::from([
                    "185.1.2.3/32".parse().unwrap(),
                    "2a02:c00:20::1/128".parse().unwrap(),
                ]),
            }],
            peers: vec![Peer {
                node: "worker-1".into(),
                hostname: "worker-1".into(),
                asn: 4200000001,
                address: "10.0.0.1".parse().unwrap(),
            }],
            skipped: vec![],
        }
    }

    #[test]
    fn metallb_objects() {
        let desired = render(LoadBalancerKind::Metallb, &config());
        let objects: Vec<Value> = desired
            .objects
            .iter()
            .map(|o| o.to_object("metallb-system"))
            .collect();
        insta::assert_json_snapshot!("metallb_objects", objects);
        assert!(desired.node_annotations.is_empty());
    }

    #[test]
    fn cilium_objects() {
        let desired = render(LoadBalancerKind::Cilium, &config());
        let objects: Vec<Value> = desired
            .objects
            .iter()
            .map(|o| o.to_object("ignored"))
            .collect();
        insta::assert_json_snapshot!("cilium_objects", objects);
        assert_eq!(
            desired.node_annotations["worker-1"]["cilium.io/bgp-virtual-router.4200000001"],
            "router-id=127.0.0.1"
        );
    }

    #[test]
    fn pool_addresses_round_trip_per_kind() {
        for kind in [ObjectKind::IpAddressPool, ObjectKind::CiliumPool] {
            let spec = render(
                if kind == ObjectKind::CiliumPool {
                    LoadBalancerKind::Cilium
                } else {
                    LoadBalancerKind::Metallb
                },
                &config(),
            )
            .objects[0]
                .spec
                .clone();
            assert_eq!(
                kind.pool_addresses(&spec),
                ["185.1.2.3/32", "2a02:c00:20::1/128"]
            );
            let shrunk = kind.with_pool_addresses(&spec, &["185.1.2.3/32".into()]);
            assert_eq!(kind.pool_addresses(&shrunk), ["185.1.2.3/32"]);
        }
    }

    #[test]
    fn peer_names_are_unique_and_valid() {
        assert_eq!(peer_name("worker-1"), "peer-worker-1");
        let long_a = format!("{}a", "x.".repeat(124));
        let long_b = format!("{}b", "x.".repeat(124));
        let (a, b) = (peer_name(&long_a), peer_name(&long_b));
        assert_ne!(a, b);
        assert!(
            a.len() <= 253 && crate::core::lbconfig::is_dns_subdomain(&a),
            "{a}"
        );
    }
}
