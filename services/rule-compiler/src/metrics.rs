//! The rule-compiler's Prometheus metrics, so no separate nftables exporter is needed. Names
//! of the rule and counter series follow metal-stack's nftables-exporter, so existing
//! dashboards keep working.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub table: String,
    pub family: String,
    pub chain: String,
    pub comment: String,
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CounterLabels {
    pub name: String,
    pub table: String,
    pub family: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceLabels {
    pub device: String,
    pub direction: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DnsLabels {
    pub kind: String,
}

#[derive(Clone)]
pub struct Metrics {
    pub apply_duration: Histogram,
    pub apply_failures: Counter,
    pub applies: Counter,
    pub apply_ok: Gauge,
    pub policies_ignored: Gauge,
    pub rule_bytes: Family<RuleLabels, Gauge>,
    pub rule_packets: Family<RuleLabels, Gauge>,
    pub counter_bytes: Family<CounterLabels, Gauge>,
    pub counter_packets: Family<CounterLabels, Gauge>,
    pub device_bytes: Family<DeviceLabels, Gauge>,
    pub dns: Family<DnsLabels, Gauge>,
}

impl Metrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self {
            apply_duration: Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0]),
            apply_failures: Counter::default(),
            applies: Counter::default(),
            apply_ok: Gauge::default(),
            policies_ignored: Gauge::default(),
            rule_bytes: Family::default(),
            rule_packets: Family::default(),
            counter_bytes: Family::default(),
            counter_packets: Family::default(),
            device_bytes: Family::default(),
            dns: Family::default(),
        };
        registry.register(
            "ruleset_apply_duration_seconds",
            "Time to check, apply and read back one ruleset",
            m.apply_duration.clone(),
        );
        registry.register(
            "ruleset_apply_failures",
            "Rulesets that failed to check, apply or read back (the last good one stayed)",
            m.apply_failures.clone(),
        );
        registry.register(
            "ruleset_applies",
            "Rulesets applied to the kernel",
            m.applies.clone(),
        );
        registry.register(
            "ruleset_last_apply_success",
            "1 when the last apply succeeded, 0 while failing",
            m.apply_ok.clone(),
        );
        registry.register(
            "policies_ignored",
            "ClusterwideNetworkPolicies not applied because they are invalid or forbidden",
            m.policies_ignored.clone(),
        );
        registry.register(
            "nftables_rule_bytes",
            "Bytes counted by an nftables rule",
            m.rule_bytes.clone(),
        );
        registry.register(
            "nftables_rule_packets",
            "Packets counted by an nftables rule",
            m.rule_packets.clone(),
        );
        registry.register(
            "nftables_counter_bytes",
            "Bytes of a named nftables counter",
            m.counter_bytes.clone(),
        );
        registry.register(
            "nftables_counter_packets",
            "Packets of a named nftables counter",
            m.counter_packets.clone(),
        );
        registry.register(
            "firewall_device_bytes",
            "Bytes into and out of the cluster (internal) and the outside (external)",
            m.device_bytes.clone(),
        );
        registry.register("dns_proxy", "DNS proxy counts by kind", m.dns.clone());
        m
    }
}
