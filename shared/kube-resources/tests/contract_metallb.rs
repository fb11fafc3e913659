//! MetalLB objects as the lb-allocator writes them validate against MetalLB's CRDs, and objects
//! MetalLB users write (with fields we do not model) still read.

mod common;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::SecretReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::Resource;
use kube_resources::metallb::{
    BGPAdvertisement, BGPAdvertisementSpec, BGPPeer, BGPPeerSpec, IPAddressPool, IPAddressPoolSpec,
    ServiceAllocation,
};
use kube_resources::schema::UpstreamSchema;
use serde::Serialize;
use serde_json::json;

fn schema(file: &str, version: &str) -> Option<UpstreamSchema> {
    let dir = common::upstream_crds()?;
    Some(
        UpstreamSchema::from_crd_yaml(&common::upstream_crd(&dir, file), version)
            .expect("compiles"),
    )
}

fn with_namespace<K: Resource + Serialize>(mut object: K) -> serde_json::Value {
    object.meta_mut().namespace = Some("metallb-system".into());
    serde_json::to_value(object).unwrap()
}

fn selector(key: &str, value: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(BTreeMap::from([(key.into(), value.into())])),
        match_expressions: None,
    }
}

#[test]
fn ip_address_pools_are_valid_upstream() {
    let Some(schema) = schema("metallb.io_ipaddresspools.yaml", "v1beta1") else {
        return;
    };
    let pools = [
        IPAddressPool::new(
            "internet-v4",
            IPAddressPoolSpec {
                addresses: vec!["203.0.113.0/28".into(), "203.0.113.20-203.0.113.30".into()],
                auto_assign: Some(false),
                avoid_buggy_ips: Some(true),
                service_allocation: None,
            },
        ),
        IPAddressPool::new(
            "tenant-v6",
            IPAddressPoolSpec {
                addresses: vec!["2001:db8:42::/120".into()],
                auto_assign: None,
                avoid_buggy_ips: None,
                service_allocation: Some(ServiceAllocation {
                    priority: Some(10),
                    namespaces: Some(vec!["default".into()]),
                    namespace_selectors: None,
                    service_selectors: Some(vec![selector("network", "tenant")]),
                }),
            },
        ),
    ];
    for pool in pools {
        let value = with_namespace(pool.clone());
        schema
            .validate(&value)
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", pool.metadata.name));
        let back: IPAddressPool = serde_json::from_value(value).unwrap();
        assert_eq!(back.spec, pool.spec);
    }
    assert_eq!(
        IPAddressPool::url_path(&(), Some("metallb-system")),
        "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools"
    );
}

#[test]
fn bgp_peers_are_valid_upstream_and_bounds_are_checked() {
    let Some(schema) = schema("metallb.io_bgppeers.yaml", "v1beta2") else {
        return;
    };
    let peer = BGPPeer::new(
        "tor",
        BGPPeerSpec {
            my_asn: 4_200_000_001,
            peer_asn: Some(4_200_000_000),
            peer_address: Some("2001:db8::1".into()),
            hold_time: Some("90s".into()),
            keepalive_time: Some("30s".into()),
            node_selectors: Some(vec![selector("kubernetes.io/hostname", "worker-1")]),
            password_secret: Some(SecretReference {
                name: Some("bgp-auth".into()),
                namespace: Some("metallb-system".into()),
            }),
            ebgp_multi_hop: Some(false),
            ..BGPPeerSpec::default()
        },
    );
    schema
        .validate(&with_namespace(peer.clone()))
        .expect("valid");

    let mut bad = peer;
    bad.spec.peer_port = Some(0);
    let errors = schema.validate(&with_namespace(bad)).unwrap_err();
    assert!(errors[0].starts_with("/spec/peerPort"), "{errors:?}");

    let foreign = json!({
        "apiVersion": "metallb.io/v1beta2", "kind": "BGPPeer",
        "metadata": {"name": "other", "namespace": "metallb-system"},
        "spec": {"myASN": 64512, "peerASN": 64513, "peerAddress": "192.0.2.1",
                 "futureKnob": true},
        "status": {}
    });
    let read: BGPPeer = serde_json::from_value(foreign).expect("unknown fields ignored");
    assert_eq!(read.spec.my_asn, 64512);
}

#[test]
fn bgp_advertisements_are_valid_upstream() {
    let Some(schema) = schema("metallb.io_bgpadvertisements.yaml", "v1beta1") else {
        return;
    };
    let advertisement = BGPAdvertisement::new(
        "internet",
        BGPAdvertisementSpec {
            aggregation_length: Some(32),
            aggregation_length_v6: Some(128),
            local_pref: Some(100),
            communities: Some(vec!["65535:65282".into()]),
            ip_address_pools: Some(vec!["internet-v4".into(), "tenant-v6".into()]),
            peers: Some(vec!["tor".into()]),
            node_selectors: Some(vec![selector("node-role", "worker")]),
            ..BGPAdvertisementSpec::default()
        },
    );
    let value = with_namespace(advertisement.clone());
    schema.validate(&value).expect("valid");
    let back: BGPAdvertisement = serde_json::from_value(value).unwrap();
    assert_eq!(back.spec, advertisement.spec);
}
