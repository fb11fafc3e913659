//! Random policy sets and Services compile deterministically, independent of input order, and
//! every output passes `nft -c`.

mod common;

use std::collections::BTreeMap;

use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};

fn cidr() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u8..4, 0u8..255, 16u8..=32).prop_map(|(a, b, len)| {
            let net: ipnet::Ipv4Net = format!("100.{}.{b}.0/{len}", 64 + a).parse().unwrap();
            net.trunc().to_string()
        }),
        (0u16..4, 32u8..=64).prop_map(|(a, len)| {
            let net: ipnet::Ipv6Net = format!("2001:db8:{a:x}::/{len}").parse().unwrap();
            net.trunc().to_string()
        }),
        Just("0.0.0.0/0".to_string()),
    ]
}

fn ports() -> impl Strategy<Value = Value> {
    proptest::collection::vec(
        (1u16..2000, 0u16..50, prop::bool::ANY).prop_map(|(port, span, udp)| {
            json!({"port": port, "endPort": port + span, "protocol": if udp { "UDP" } else { "TCP" }})
        }),
        0..3,
    )
    .prop_map(Value::from)
}

fn rule(direction: &'static str) -> impl Strategy<Value = Value> {
    (proptest::collection::vec(cidr(), 1..4), ports()).prop_map(move |(cidrs, ports)| {
        let key = if direction == "ingress" { "from" } else { "to" };
        let blocks: Vec<Value> = cidrs.iter().map(|c| json!({"cidr": c})).collect();
        json!({key: blocks, "ports": ports})
    })
}

fn spec() -> impl Strategy<Value = Value> {
    (
        proptest::collection::vec(rule("ingress"), 0..3),
        proptest::collection::vec(rule("egress"), 0..3),
        prop::option::of("[a-z]{1,8}\\.(com|org)"),
    )
        .prop_map(|(ingress, egress, fqdn)| {
            let mut egress = egress;
            if let Some(name) = fqdn {
                egress.push(json!({"toFQDNs": [{"matchName": name}], "ports": [{"port": 443}]}));
            }
            json!({"ingress": ingress, "egress": egress})
        })
}

fn services() -> impl Strategy<Value = Vec<(u8, u16, bool)>> {
    proptest::collection::vec((1u8..250, 1u16..1000, prop::bool::ANY), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn deterministic_order_independent_and_accepted_by_nft(
        specs in proptest::collection::vec(spec(), 1..8),
        svcs in services(),
        seed in any::<u64>(),
    ) {
        let fw = firewall(json!({}));
        let policies: Vec<_> = specs.iter().enumerate().map(|(i, s)| policy(&format!("p{i}"), s.clone())).collect();
        let services: Vec<_> = svcs.iter().enumerate().map(|(i, (host, port, ranges))| {
            let mut spec = json!({"type": "LoadBalancer", "ports": [{"port": port}]});
            if *ranges {
                spec["loadBalancerSourceRanges"] = json!(["192.0.2.0/24"]);
            }
            service("shop", &format!("s{i}"), spec, json!({"loadBalancer": {"ingress": [{"ip": format!("185.1.2.{host}")}]}}))
        }).collect();
        let first = run(&fw, &policies, &services, &BTreeMap::new());
        let again = run(&fw, &policies, &services, &BTreeMap::new());
        prop_assert_eq!(&first.ruleset, &again.ruleset);

        // The same objects in another order.
        let mut shuffled_p = policies.clone();
        let mut shuffled_s = services.clone();
        let mut state = seed | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state as usize };
        for i in (1..shuffled_p.len()).rev() { let j = next() % (i + 1); shuffled_p.swap(i, j); }
        for i in (1..shuffled_s.len()).rev() { let j = next() % (i + 1); shuffled_s.swap(i, j); }
        let shuffled = run(&fw, &shuffled_p, &shuffled_s, &BTreeMap::new());
        prop_assert_eq!(&first.ruleset, &shuffled.ruleset);

        if let Some(result) = nft_check(&first.ruleset) {
            prop_assert!(result.is_ok(), "nft -c: {}\n{}", result.unwrap_err(), first.ruleset);
        }
    }
}
