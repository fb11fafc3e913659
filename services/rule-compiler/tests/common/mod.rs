//! Fixtures shared by the compiler tests: a dual-stack firewall, policies and Services built
//! from JSON the way the API server would hand them over.
#![allow(dead_code)]

use k8s_openapi::api::core::v1::Service;
use kube_resources::firewall::Firewall;
use rule_compiler::core::compile::{Compiled, DnsSnapshot, Input, PolicyInput, compile};
use rule_compiler::core::ranges::Family;
use rule_compiler::netns::NetNs;
use serde_json::{Value, json};

/// A firewall on private network `cluster` (VRF 42, 10.42.0.0/22 and fd00:42::/64) and the
/// external network `internet` (VRF 104009).
pub fn firewall(spec: Value) -> Firewall {
    let mut base = json!({
        "size": "c1-xlarge-x86", "image": "firewall-ubuntu-3.0", "partition": "fra-equ01",
        "project": "p", "networks": ["internet"],
    });
    base.as_object_mut()
        .unwrap()
        .extend(spec.as_object().cloned().unwrap_or_default());
    serde_json::from_value(json!({
        "metadata": {"name": "shoot--p--c-firewall-1", "namespace": "shoot--p--c"},
        "spec": base,
        "status": {"firewallNetworks": [
            {"networkID": "cluster", "prefixes": ["10.42.0.0/22", "fd00:42::/64"], "vrf": 42, "asn": 4200000042u64, "nat": true, "networkType": "privateprimaryunshared"},
            {"networkID": "internet", "prefixes": ["185.1.2.0/24", "2a02:c00:20::/64"], "vrf": 104009, "asn": 4200000042u64, "nat": false, "networkType": "external"},
            {"networkID": "underlay", "prefixes": ["10.1.0.0/22"], "vrf": 0, "asn": 4200000042u64, "nat": false, "networkType": "underlay"}
        ]}
    }))
    .unwrap()
}

pub fn policy(name: &str, spec: Value) -> PolicyInput {
    policy_in("firewall", name, spec)
}

pub fn policy_in(namespace: &str, name: &str, spec: Value) -> PolicyInput {
    PolicyInput {
        namespace: namespace.into(),
        name: name.into(),
        spec: serde_json::from_value(spec).map_err(|e| e.to_string()),
    }
}

pub fn service(namespace: &str, name: &str, spec: Value, status: Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
        "status": status,
    }))
    .unwrap()
}

/// Deterministic stand-in for the DNS proxy's set names.
pub fn set_name(key: &str, family: Family) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in key.bytes().chain(family.suffix().bytes()) {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("fqdn_{h:016x}")
}

pub fn run(
    fw: &Firewall,
    policies: &[PolicyInput],
    services: &[Service],
    dns: &DnsSnapshot,
) -> Compiled {
    compile(&Input {
        firewall: fw,
        policies,
        services,
        dns,
        set_name,
        policy_namespace: "firewall",
        dns_proxy: None,
    })
    .expect("compiles")
}

/// `nft -c` of `ruleset` in a fresh namespace; `None` when namespaces are unavailable here.
pub fn nft_check(ruleset: &str) -> Option<Result<(), String>> {
    if !NetNs::available() {
        return None;
    }
    let ns = NetNs::new("rc-check");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ruleset.nft");
    std::fs::write(&file, ruleset).unwrap();
    let out = ns.exec(&["nft", "-c", "-f", file.to_str().unwrap()]);
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}

pub fn assert_nft_accepts(ruleset: &str) {
    if let Some(Err(e)) = nft_check(ruleset) {
        panic!("nft -c rejects the ruleset:\n{e}\n---\n{ruleset}");
    }
}
