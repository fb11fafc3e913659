//! Services of type LoadBalancer (and NodePort) become ingress rules: from
//! `loadBalancerSourceRanges` (any source when empty) to the load-balancer IPs on the service
//! ports, per protocol.
//!
//! Decided against upstream: when forbidden mode filters out every IP of a LoadBalancer, the
//! Service gets no rule (upstream then emitted the rule without a destination, opening the
//! ports towards everything).

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;

use super::policy::{Ports, parse_cidr};
use super::ranges::{AddrRange, PortRange, merge, merge_ports};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceRule {
    pub namespace: String,
    pub name: String,
    /// Load-balancer IPs; empty for a NodePort Service (any destination, as upstream).
    pub destinations: Vec<AddrRange>,
    /// Empty: any source.
    pub sources: Vec<AddrRange>,
    pub ports: Ports,
}

/// A Warning for the Service: an IP outside the allowed networks, or a bad source range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceWarning {
    pub namespace: String,
    pub name: String,
    pub reason: &'static str,
    pub message: String,
}

/// The rule for `svc`, if it gets one, and the warnings on the way.
pub fn service_rule(
    svc: &Service,
    allowed_ingress: &[AddrRange],
) -> (Option<ServiceRule>, Vec<ServiceWarning>) {
    let namespace = svc.metadata.namespace.clone().unwrap_or_default();
    let name = svc.metadata.name.clone().unwrap_or_default();
    let mut warnings = Vec::new();
    let warn = |reason: &'static str, message: String| ServiceWarning {
        namespace: namespace.clone(),
        name: name.clone(),
        reason,
        message,
    };
    let Some(spec) = &svc.spec else {
        return (None, warnings);
    };
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    if kind != "LoadBalancer" && kind != "NodePort" {
        return (None, warnings);
    }
    let mut sources = Vec::new();
    for range in spec.load_balancer_source_ranges.iter().flatten() {
        match parse_cidr(range.trim()) {
            Ok(net) => sources.push(AddrRange::from_net(&net)),
            Err(e) => warnings.push(warn(
                "InvalidSourceRange",
                format!("loadBalancerSourceRanges entry {range:?}: {e}; the Service gets no rule"),
            )),
        }
    }
    if warnings.iter().any(|w| w.reason == "InvalidSourceRange") {
        // Dropping a bad range would widen the rule; no rule is the safe side.
        return (None, warnings);
    }
    let mut destinations = Vec::new();
    if kind == "LoadBalancer" {
        let ips = spec.load_balancer_ip.iter().cloned().chain(
            svc.status
                .iter()
                .filter_map(|s| s.load_balancer.as_ref())
                .flat_map(|lb| lb.ingress.iter().flatten())
                .filter_map(|i| i.ip.clone()),
        );
        for ip in ips {
            let Ok(ip) = ip.parse::<IpAddr>() else {
                continue;
            };
            let host = AddrRange::host(ip);
            if !allowed_ingress.is_empty() && !allowed_ingress.iter().any(|a| a.contains(&host)) {
                warnings.push(warn(
                    "ForbiddenCIDR",
                    format!("load-balancer IP {ip} is not in the allowed ingress networks"),
                ));
                continue;
            }
            destinations.push(host);
        }
        if destinations.is_empty() {
            // Pending, or every IP filtered out: no rule rather than one open to everything.
            return (None, warnings);
        }
    } else if sources.is_empty() {
        // A NodePort Service without source ranges has neither sources nor destinations.
        return (None, warnings);
    }
    let mut ports = Ports::default();
    for p in spec.ports.iter().flatten() {
        let Ok(port) = u16::try_from(p.port) else {
            continue;
        };
        let range = PortRange { lo: port, hi: port };
        match p.protocol.as_deref().unwrap_or("TCP") {
            "TCP" => ports.tcp.push(range),
            "UDP" => ports.udp.push(range),
            _ => {}
        }
    }
    ports.tcp = merge_ports(ports.tcp);
    ports.udp = merge_ports(ports.udp);
    if ports.is_empty() {
        return (None, warnings);
    }
    let rule = ServiceRule {
        namespace,
        name,
        destinations: merge(destinations),
        sources: merge(sources),
        ports,
    };
    (Some(rule), warnings)
}
