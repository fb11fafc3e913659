//! Golden rulesets for the upstream cases (re-derived from the behaviour inventory) and for
//! dual-stack cases. Every snapshot is also checked by `nft -c` in a fresh network namespace.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::json;

fn golden(name: &str, compiled: &rule_compiler::core::compile::Compiled) {
    assert_nft_accepts(&compiled.ruleset);
    insta::assert_snapshot!(name, compiled.ruleset);
}

#[test]
fn simple_ingress_and_egress() {
    let fw = firewall(json!({"internalPrefixes": ["185.1.2.0/24"]}));
    let policies = [
        policy(
            "allow-https-out",
            json!({"egress": [{"to": [{"cidr": "0.0.0.0/0"}], "ports": [{"port": 443}, {"port": 53, "protocol": "UDP"}]}]}),
        ),
        policy(
            "allow-web-in",
            json!({"ingress": [{"from": [{"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}], "ports": [{"port": 80}, {"port": 8000, "endPort": 8010}]}]}),
        ),
    ];
    let c = run(&fw, &policies, &[], &BTreeMap::new());
    assert!(c.ignored.is_empty());
    golden("simple", &c);
}

#[test]
fn overlapping_policies_snat_rate_limits_and_logging() {
    let fw = firewall(json!({
        "rateLimits": [{"networkID": "internet", "rate": 10}, {"networkID": "underlay", "rate": 1}, {"networkID": "unknown", "rate": 5}],
        "egressRules": [{"networkID": "internet", "ips": ["185.1.2.3", "185.1.2.4", "2a02:c00:20::3"]}],
        "logAcceptedConnections": true,
    }));
    let policies = [
        policy(
            "a-wide",
            json!({"egress": [{"to": [{"cidr": "100.64.0.0/10"}], "ports": [{"port": 1, "endPort": 1024}]}]}),
        ),
        policy(
            "b-narrow",
            json!({"egress": [{"to": [{"cidr": "100.64.1.0/24"}], "ports": [{"port": 443}]}, {"to": [{"cidr": "2001:db8::/32"}], "ports": [{"port": 443}]}]}),
        ),
    ];
    let c = run(&fw, &policies, &[], &BTreeMap::new());
    golden("overlapping_snat_ratelimit_logging", &c);
}

#[test]
fn services_of_every_kind() {
    let fw = firewall(json!({}));
    let services = [
        service(
            "shop",
            "web",
            json!({"type": "LoadBalancer", "ports": [{"port": 443}, {"port": 443, "protocol": "UDP"}], "loadBalancerSourceRanges": ["192.0.2.0/24", "2001:db8::/48"]}),
            json!({"loadBalancer": {"ingress": [{"ip": "185.1.2.10"}, {"ip": "2a02:c00:20::10"}]}}),
        ),
        service(
            "shop",
            "open",
            json!({"type": "LoadBalancer", "loadBalancerIP": "185.1.2.11", "ports": [{"port": 80}]}),
            json!({}),
        ),
        service(
            "shop",
            "pending",
            json!({"type": "LoadBalancer", "ports": [{"port": 80}]}),
            json!({}),
        ),
        service(
            "shop",
            "nodeport",
            json!({"type": "NodePort", "ports": [{"port": 30080}], "loadBalancerSourceRanges": ["198.51.100.0/24"]}),
            json!({}),
        ),
        service(
            "shop",
            "internal",
            json!({"type": "ClusterIP", "ports": [{"port": 80}]}),
            json!({}),
        ),
        service(
            "shop",
            "broken",
            json!({"type": "LoadBalancer", "ports": [{"port": 80}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "not-an-ip"}]}}),
        ),
        // Several source ranges: one named set, shared by every Service with the same list.
        service(
            "shop",
            "office-a",
            json!({"type": "LoadBalancer", "ports": [{"port": 22}], "loadBalancerSourceRanges": ["203.0.113.0/24", "198.51.100.0/24"]}),
            json!({"loadBalancer": {"ingress": [{"ip": "185.1.2.20"}]}}),
        ),
        service(
            "shop",
            "office-b",
            json!({"type": "LoadBalancer", "ports": [{"port": 22}], "loadBalancerSourceRanges": ["198.51.100.0/24", "203.0.113.0/24"]}),
            json!({"loadBalancer": {"ingress": [{"ip": "185.1.2.21"}]}}),
        ),
    ];
    let c = run(&fw, &[], &services, &BTreeMap::new());
    assert_eq!(
        c.ruleset.matches("\tset src_").count(),
        1,
        "one set for the shared source list"
    );
    assert_eq!(c.ruleset.matches("ip saddr @src_0 ").count(), 2);
    assert!(
        c.ruleset
            .contains("accept traffic for k8s service shop/web")
    );
    assert!(
        !c.ruleset.contains("shop/pending")
            && !c.ruleset.contains("shop/internal")
            && !c.ruleset.contains("shop/broken")
    );
    golden("services", &c);
}

#[test]
fn fqdn_rules_with_a_dns_proxy() {
    let fw = firewall(json!({"egressRules": [{"networkID": "internet", "ips": ["185.1.2.3"]}]}));
    let policies = [policy(
        "fqdn",
        json!({"egress": [{"toFQDNs": [{"matchName": "example.com"}, {"matchPattern": "*.example.org"}], "ports": [{"port": 443}]}]}),
    )];
    let mut dns = BTreeMap::new();
    dns.insert(
        set_name("example.com", rule_compiler::core::ranges::Family::V4),
        BTreeMap::from([("93.184.215.14".parse().unwrap(), 300u64)]),
    );
    dns.insert(
        set_name("example.com", rule_compiler::core::ranges::Family::V6),
        BTreeMap::from([(
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c".parse().unwrap(),
            60u64,
        )]),
    );
    let c = rule_compiler::core::compile::compile(&rule_compiler::core::compile::Input {
        firewall: &fw,
        policies: &policies,
        services: &[],
        dns: &dns,
        set_name,
        policy_namespace: "firewall",
        dns_proxy: Some("185.1.2.1".parse().unwrap()),
    })
    .unwrap();
    assert_eq!(c.selectors.len(), 2);
    golden("fqdn", &c);
}

#[test]
fn forbidden_mode_ignores_and_filters() {
    let fw = firewall(
        json!({"allowedNetworks": {"ingress": ["185.1.2.0/25"], "egress": ["100.64.0.0/10"]}}),
    );
    let policies = [
        policy(
            "inside",
            json!({"egress": [{"to": [{"cidr": "100.64.0.0/16"}], "ports": [{"port": 443}]}]}),
        ),
        policy(
            "outside",
            json!({"egress": [{"to": [{"cidr": "8.8.8.8/32"}], "ports": [{"port": 53, "protocol": "UDP"}]}]}),
        ),
    ];
    let services = [
        service(
            "shop",
            "half",
            json!({"type": "LoadBalancer", "ports": [{"port": 443}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "185.1.2.10"}, {"ip": "185.1.2.200"}]}}),
        ),
        service(
            "shop",
            "none",
            json!({"type": "LoadBalancer", "ports": [{"port": 443}]}),
            json!({"loadBalancer": {"ingress": [{"ip": "185.1.2.201"}]}}),
        ),
    ];
    let c = run(&fw, &policies, &services, &BTreeMap::new());
    assert_eq!(c.ignored.len(), 1);
    assert_eq!(c.ignored[0].name, "outside");
    assert_eq!(
        c.ignored[0].reason,
        "ingress/egress does not match allowed networks"
    );
    let forbidden: Vec<_> = c
        .warnings
        .iter()
        .filter(|w| w.reason == "ForbiddenCIDR")
        .map(|w| (w.name.as_str(), w.message.as_str()))
        .collect();
    assert_eq!(
        forbidden,
        [
            (
                "outside",
                "8.8.8.8/32 is not in the allowed networks of the firewall"
            ),
            (
                "half",
                "load-balancer IP 185.1.2.200 is not in the allowed ingress networks"
            ),
            (
                "none",
                "load-balancer IP 185.1.2.201 is not in the allowed ingress networks"
            ),
        ]
    );
    // The Service whose every IP was filtered gets no rule at all, never one without a
    // destination (upstream widened here).
    assert!(!c.ruleset.contains("shop/none"));
    golden("forbidden", &c);
}

#[test]
fn invalid_policies_are_ignored_while_the_others_apply() {
    let fw = firewall(json!({}));
    let policies = [
        policy(
            "good",
            json!({"egress": [{"to": [{"cidr": "1.1.1.1/32"}], "ports": [{"port": 53, "protocol": "UDP"}]}]}),
        ),
        policy(
            "bad-cidr",
            json!({"egress": [{"to": [{"cidr": "1.1.1.1/40"}], "ports": [{"port": 53}]}]}),
        ),
        policy(
            "bad-protocol",
            json!({"egress": [{"to": [{"cidr": "1.1.1.1/32"}], "ports": [{"port": 53, "protocol": "SCTP"}]}]}),
        ),
        policy_in(
            "default",
            "wrong-namespace",
            json!({"egress": [{"to": [{"cidr": "1.1.1.1/32"}], "ports": [{"port": 80}]}]}),
        ),
    ];
    let c = run(&fw, &policies, &[], &BTreeMap::new());
    let ignored: BTreeMap<&str, &str> = c
        .ignored
        .iter()
        .map(|i| (i.name.as_str(), i.reason.as_str()))
        .collect();
    assert_eq!(
        ignored["bad-cidr"],
        "egress[0].to[0].cidr \"1.1.1.1/40\": not a CIDR"
    );
    assert!(
        ignored["bad-protocol"].contains("SCTP"),
        "{}",
        ignored["bad-protocol"]
    );
    assert_eq!(
        ignored["wrong-namespace"],
        "only policies in namespace \"firewall\" are applied"
    );
    assert_eq!(c.deployed.len(), 1);
    golden("invalid_ignored", &c);
}

#[test]
fn dual_stack_policies() {
    let fw = firewall(json!({"internalPrefixes": ["185.1.2.0/24", "2a02:c00:20::/64"]}));
    let policies = [
        policy(
            "v6-in",
            json!({"ingress": [{"from": [{"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]}, {"cidr": "203.0.113.0/24"}], "ports": [{"port": 22}]}]}),
        ),
        policy(
            "v6-out",
            json!({"egress": [{"to": [{"cidr": "::/0"}], "ports": [{"port": 443}, {"port": 443, "protocol": "UDP"}]}]}),
        ),
    ];
    let c = run(&fw, &policies, &[], &BTreeMap::new());
    golden("dual_stack", &c);
}

#[test]
fn a_firewall_without_a_primary_network_is_an_error() {
    let mut fw = firewall(json!({}));
    fw.status
        .as_mut()
        .unwrap()
        .firewall_networks
        .as_mut()
        .unwrap()
        .remove(0);
    let err = rule_compiler::core::compile::compile(&rule_compiler::core::compile::Input {
        firewall: &fw,
        policies: &[],
        services: &[],
        dns: &BTreeMap::new(),
        set_name,
        policy_namespace: "firewall",
        dns_proxy: None,
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("no private primary network"),
        "{err}"
    );
}
