//! Real packets through a compiled ruleset: client namespace → firewall namespace (forwarding
//! between two veth pairs) → server namespace, IPv4 and IPv6. Needs root (CI has it); skipped
//! elsewhere.

use std::collections::BTreeMap;

use integration::netns::*;
use k8s_openapi::api::core::v1::Service;
use kube_resources::firewall::Firewall;
use rule_compiler::core::compile::{Input, PolicyInput, compile};
use rule_compiler::nft::{Nft, replace_batch};
use serde_json::{Value, json};

fn firewall() -> Firewall {
    serde_json::from_value(json!({
        "metadata": {"name": "fw", "namespace": "shoot"},
        "spec": {"size": "s", "image": "i", "partition": "p", "project": "p", "networks": []},
        "status": {"firewallNetworks": [
            {"networkID": "cluster", "prefixes": ["10.42.0.0/22", "fd00:42::/64"], "vrf": 42, "asn": 1, "nat": true, "networkType": "privateprimaryunshared"},
            {"networkID": "internet", "prefixes": ["198.51.100.0/24", "2001:db8:100::/64"], "vrf": 104009, "asn": 1, "nat": false, "networkType": "external"}
        ]}
    }))
    .unwrap()
}

fn policy(name: &str, spec: Value) -> PolicyInput {
    PolicyInput {
        namespace: "firewall".into(),
        name: name.into(),
        spec: serde_json::from_value(spec).map_err(|e| e.to_string()),
    }
}

async fn apply(topo: &Topology, policies: &[PolicyInput], services: &[Service]) {
    let compiled = compile(&Input {
        firewall: &firewall(),
        policies,
        services,
        dns: &BTreeMap::new(),
        set_name: rule_compiler::dns::set_name,
        policy_namespace: "firewall",
        dns_proxy: None,
    })
    .unwrap();
    let nft = Nft::with_prefix(topo.fw.prefix(), "nft");
    let batch = replace_batch(&compiled.ruleset);
    nft.check(&batch).await.unwrap();
    nft.apply(&batch).await.unwrap();
}

fn dropped(topo: &Topology) -> u64 {
    let json = topo
        .fw
        .ok(&["nft", "-j", "list", "chain", "inet", "firewall", "forward"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["rule"]["comment"] == "count and log dropped packets")
        .find_map(|i| {
            i["rule"]["expr"]
                .as_array()?
                .iter()
                .find_map(|e| e["counter"]["packets"].as_u64())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn policies_and_services_decide_what_crosses_the_firewall() {
    if !NetNs::available() {
        return;
    }
    let topo = Topology::new();
    let _server = Probe::start(&topo.server, &["serve", "[::]:443", "[::]:80", "[::]:8444"]);
    let _client = Probe::start(&topo.client, &["serve", "[::]:8443", "[::]:8444"]);
    let server_v4 = |port: u16| format!("{SERVER_V4}:{port}");
    let server_v6 = |port: u16| format!("[{SERVER_V6}]:{port}");

    // No policy: nothing crosses.
    apply(&topo, &[], &[]).await;
    assert!(!connects(&topo.client, &server_v4(443)));
    assert!(!connects(&topo.client, &server_v6(443)));

    // Egress tcp/443 to the server's networks: 443 crosses, 80 is dropped and counted.
    let https = policy(
        "https",
        json!({"egress": [{"to": [{"cidr": "198.51.100.0/24"}, {"cidr": "2001:db8:100::/64"}], "ports": [{"port": 443}]}]}),
    );
    apply(&topo, std::slice::from_ref(&https), &[]).await;
    assert!(connects(&topo.client, &server_v4(443)));
    assert!(connects(&topo.client, &server_v6(443)));
    let before = (dropped(&topo), counter_packets(&topo.fw, "drop_total"));
    assert!(!connects(&topo.client, &server_v4(80)));
    assert!(!connects(&topo.client, &server_v6(80)));
    let after = (dropped(&topo), counter_packets(&topo.fw, "drop_total"));
    assert!(
        after.0 >= before.0 + 2,
        "drops counted: {before:?} -> {after:?}"
    );
    assert!(
        after.1 > before.1,
        "drop_total counts logged drops: {before:?} -> {after:?}"
    );

    // The policy deleted: 443 is blocked again.
    apply(&topo, &[], &[]).await;
    assert!(!connects(&topo.client, &server_v4(443)));
    assert!(!connects(&topo.client, &server_v6(443)));

    // A LoadBalancer Service on the client's LB IPs, open to the server's networks only.
    let lb: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 8443}], "loadBalancerSourceRanges": ["198.51.100.0/24", "2001:db8:100::/64"]},
        "status": {"loadBalancer": {"ingress": [{"ip": LB_V4}, {"ip": LB_V6}]}},
    }))
    .unwrap();
    let elsewhere: Service = serde_json::from_value(json!({
        "metadata": {"name": "other", "namespace": "shop"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 8444}], "loadBalancerSourceRanges": ["203.0.113.0/24"]},
        "status": {"loadBalancer": {"ingress": [{"ip": LB_V4}]}},
    }))
    .unwrap();
    apply(&topo, &[], &[lb, elsewhere]).await;
    assert!(connects(&topo.server, &format!("{LB_V4}:8443")));
    assert!(connects(&topo.server, &format!("[{LB_V6}]:8443")));
    assert!(
        !connects(&topo.server, &format!("{LB_V4}:8444")),
        "source range not matched"
    );

    // An ingress policy opens a port towards the cluster only, never outbound (upstream's
    // ingress rules had no direction).
    let ingress = policy(
        "in",
        json!({"ingress": [{"from": [{"cidr": "198.51.100.0/24"}, {"cidr": "2001:db8:100::/64"}, {"cidr": "10.42.0.0/24"}], "ports": [{"port": 8444}]}]}),
    );
    apply(&topo, &[ingress], &[]).await;
    assert!(connects(&topo.server, &format!("{LB_V4}:8444")));
    assert!(connects(&topo.server, &format!("[{LB_V6}]:8444")));
    assert!(
        !connects(&topo.client, &server_v4(8444)),
        "ingress rule must not open egress"
    );
}
