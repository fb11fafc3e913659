//! Statistics from the kernel's counters (`nft -j list ruleset`), in FirewallMonitor's shape:
//! rules by action and comment, devices from the four named accounting counters.

use std::collections::BTreeMap;

use kube_resources::firewall::{Counter, DeviceStat, FirewallStats, RuleStat};
use serde_json::Value;

use crate::core::compile::TABLE;

/// Rule counters and device bytes out of `nft -j list ruleset` output.
///
/// As upstream: every table is walked; a rule counts when it has an anonymous counter, keyed
/// by its comment; `accept`/`drop` from its verdict, anything else (jump, snat, no verdict) is
/// `other`; rules with equal comments add up (upstream overwrote, losing all but the last).
pub fn from_ruleset(json: &Value) -> FirewallStats {
    let mut stats = FirewallStats::default();
    let items = json["nftables"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut named: BTreeMap<&str, u64> = BTreeMap::new();
    for item in items {
        if let Some(c) = item
            .get("counter")
            .filter(|c| c["family"] == "inet" && c["table"] == TABLE)
        {
            if let Some(name) = c["name"].as_str() {
                named.insert(name, c["bytes"].as_u64().unwrap_or(0));
            }
            continue;
        }
        let Some(rule) = item.get("rule") else {
            continue;
        };
        let Some(comment) = rule["comment"].as_str() else {
            continue;
        };
        let exprs = rule["expr"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let Some(counter) = exprs
            .iter()
            .find_map(|e| e.get("counter").filter(|c| c.is_object()))
        else {
            continue;
        };
        let action = if exprs.iter().any(|e| e.get("accept").is_some()) {
            "accept"
        } else if exprs.iter().any(|e| e.get("drop").is_some()) {
            "drop"
        } else {
            "other"
        };
        let entry = stats
            .rules
            .entry(action.to_string())
            .or_default()
            .entry(comment.to_string())
            .or_insert_with(|| RuleStat {
                counter: Counter::default(),
            });
        entry.counter.bytes += counter["bytes"].as_u64().unwrap_or(0);
        entry.counter.packets += counter["packets"].as_u64().unwrap_or(0);
    }
    for device in ["internal", "external"] {
        let get = |dir: &str| named.get(format!("{device}_{dir}").as_str()).copied();
        if let (Some(in_), Some(out)) = (get("in"), get("out")) {
            stats
                .devices
                .insert(device.to_string(), DeviceStat { in_, out });
        }
    }
    stats
}

/// The six named counters of `inet firewall`: name → (packets, bytes).
pub fn named_counters(json: &Value) -> BTreeMap<String, (u64, u64)> {
    json["nftables"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| i.get("counter"))
        .filter(|c| c["family"] == "inet" && c["table"] == TABLE)
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                (
                    c["packets"].as_u64().unwrap_or(0),
                    c["bytes"].as_u64().unwrap_or(0),
                ),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_are_keyed_by_comment_and_verdict() {
        let listing = json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"counter": {"family": "inet", "table": "firewall", "name": "internal_in", "packets": 1, "bytes": 10}},
            {"counter": {"family": "inet", "table": "firewall", "name": "internal_out", "packets": 2, "bytes": 20}},
            {"counter": {"family": "inet", "table": "firewall", "name": "external_in", "packets": 3, "bytes": 30}},
            {"counter": {"family": "inet", "table": "firewall", "name": "external_out", "packets": 4, "bytes": 40}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "r_0", "comment": "accept traffic for np a tcp",
                      "expr": [{"counter": {"packets": 5, "bytes": 500}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "r_1", "comment": "accept traffic for k8s service s/w",
                      "expr": [{"match": {}}, {"counter": {"packets": 1, "bytes": 100}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "r_2", "comment": "accept traffic for k8s service s/w",
                      "expr": [{"counter": {"packets": 2, "bytes": 200}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "forward", "comment": "drop ping floods",
                      "expr": [{"limit": {}}, {"counter": {"packets": 7, "bytes": 70}}, {"drop": null}]}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "forward", "comment": "count and log dropped packets",
                      "expr": [{"counter": {"packets": 9, "bytes": 90}}]}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "forward", "comment": "no counter", "expr": [{"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "forward", "expr": [{"counter": {"packets": 1, "bytes": 1}}, {"accept": null}]}},
            {"rule": {"family": "inet", "table": "firewall", "chain": "forward", "comment": "named",
                      "expr": [{"counter": "drop_total"}]}}
        ]});
        let stats = from_ruleset(&listing);
        let get = |action: &str, comment: &str| stats.rules[action][comment].counter.clone();
        assert_eq!(
            get("accept", "accept traffic for np a tcp"),
            Counter {
                bytes: 500,
                packets: 5
            }
        );
        assert_eq!(
            get("accept", "accept traffic for k8s service s/w"),
            Counter {
                bytes: 300,
                packets: 3
            }
        );
        assert_eq!(
            get("drop", "drop ping floods"),
            Counter {
                bytes: 70,
                packets: 7
            }
        );
        assert_eq!(
            get("other", "count and log dropped packets"),
            Counter {
                bytes: 90,
                packets: 9
            }
        );
        assert!(
            !stats
                .rules
                .values()
                .any(|m| m.contains_key("no counter") || m.contains_key("named"))
        );
        assert_eq!(stats.devices["internal"], DeviceStat { in_: 10, out: 20 });
        assert_eq!(stats.devices["external"], DeviceStat { in_: 30, out: 40 });
        assert_eq!(named_counters(&listing)["external_out"], (4, 40));
    }
}
