//! What the ruleset needs from the Firewall object: the primary private network (its VRF
//! names the interfaces, its prefixes are the SNAT sources), accounting prefixes, rate limits,
//! SNAT rules, forbidden mode and accept logging.

use std::net::IpAddr;

use kube_resources::firewall::{Firewall, FirewallNetwork};

use super::policy::{AllowedNetworks, parse_cidr};
use super::ranges::{AddrRange, merge};

/// The network types of metal-lib that are a cluster's own private network.
const PRIVATE_PRIMARY: [&str; 2] = ["privateprimaryunshared", "privateprimaryshared"];

/// A rate limit on traffic arriving from one VRF, in MiB/s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub vrf: i64,
    pub mbytes_per_second: u32,
}

/// Source NAT of the cluster's traffic leaving through an external network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snat {
    pub network: String,
    pub vrf: i64,
    pub ips: Vec<IpAddr>,
}

/// The Firewall, reduced to what the ruleset uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub primary_vrf: i64,
    /// Prefixes of the primary private network (SNAT sources, IPv6 cluster prefixes).
    pub primary_prefixes: Vec<AddrRange>,
    pub internal_prefixes: Vec<AddrRange>,
    pub rate_limits: Vec<RateLimit>,
    pub snat: Vec<Snat>,
    pub allowed: AllowedNetworks,
    pub log_accepted: bool,
}

/// Why a Firewall cannot be compiled at all (the last good ruleset stays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirewallError {
    #[error(
        "the Firewall has no private primary network in status.firewallNetworks (types {PRIVATE_PRIMARY:?})"
    )]
    NoPrimaryNetwork,
    #[error("{field}: {value:?} is not a CIDR")]
    BadPrefix { field: String, value: String },
    #[error("spec.egressRules[{index}]: {ip:?} is not an IP address")]
    BadSnatIp { index: usize, ip: String },
    #[error("spec.egressRules[{index}]: {ip} is not in a prefix of network {network}")]
    SnatIpOutsideNetwork {
        index: usize,
        ip: IpAddr,
        network: String,
    },
    #[error("spec.rateLimits[{index}]: rate {rate} must be positive")]
    BadRate { index: usize, rate: i32 },
}

fn prefixes(field: &str, values: &[String]) -> Result<Vec<AddrRange>, FirewallError> {
    values
        .iter()
        .map(|v| {
            parse_cidr(v)
                .map(|n| AddrRange::from_net(&n))
                .map_err(|_| FirewallError::BadPrefix {
                    field: field.to_string(),
                    value: v.clone(),
                })
        })
        .collect()
}

fn network_prefixes(n: &FirewallNetwork) -> Result<Vec<AddrRange>, FirewallError> {
    prefixes(
        &format!("status.firewallNetworks[{}].prefixes", n.network_id),
        n.prefixes.as_deref().unwrap_or_default(),
    )
}

impl Facts {
    pub fn from_firewall(fw: &Firewall) -> Result<Self, FirewallError> {
        let networks: &[FirewallNetwork] = fw
            .status
            .as_ref()
            .and_then(|s| s.firewall_networks.as_deref())
            .unwrap_or_default();
        // Upstream takes the last private primary network when there are several.
        let primary = networks
            .iter()
            .rev()
            .find(|n| PRIVATE_PRIMARY.contains(&n.network_type.as_str()))
            .ok_or(FirewallError::NoPrimaryNetwork)?;
        let spec = &fw.spec;
        let mut rate_limits = Vec::new();
        for (index, limit) in spec.rate_limits.iter().flatten().enumerate() {
            if limit.rate <= 0 {
                return Err(FirewallError::BadRate {
                    index,
                    rate: limit.rate,
                });
            }
            // A limit for a network the firewall is not attached to, or the underlay, has no
            // interface to apply to (upstream skips these too).
            if let Some(n) = networks
                .iter()
                .find(|n| n.network_id == limit.network_id && n.network_type != "underlay")
            {
                rate_limits.push(RateLimit {
                    vrf: n.vrf,
                    mbytes_per_second: limit.rate as u32,
                });
            }
        }
        let mut snat = Vec::new();
        for (index, rule) in spec.egress_rules.iter().flatten().enumerate() {
            let Some(n) = networks
                .iter()
                .find(|n| n.network_id == rule.network_id && n.network_type == "external")
            else {
                continue;
            };
            let nets = network_prefixes(n)?;
            let mut ips = Vec::new();
            for ip in &rule.ips {
                let parsed: IpAddr = ip.parse().map_err(|_| FirewallError::BadSnatIp {
                    index,
                    ip: ip.clone(),
                })?;
                if !nets.iter().any(|p| p.contains(&AddrRange::host(parsed))) {
                    return Err(FirewallError::SnatIpOutsideNetwork {
                        index,
                        ip: parsed,
                        network: n.network_id.clone(),
                    });
                }
                ips.push(parsed);
            }
            ips.sort();
            ips.dedup();
            if !ips.is_empty() {
                snat.push(Snat {
                    network: n.network_id.clone(),
                    vrf: n.vrf,
                    ips,
                });
            }
        }
        let allowed = spec.allowed_networks.as_ref();
        Ok(Self {
            primary_vrf: primary.vrf,
            primary_prefixes: merge(network_prefixes(primary)?),
            internal_prefixes: merge(prefixes(
                "spec.internalPrefixes",
                spec.internal_prefixes.as_deref().unwrap_or_default(),
            )?),
            rate_limits,
            snat,
            allowed: AllowedNetworks {
                ingress: prefixes(
                    "spec.allowedNetworks.ingress",
                    allowed
                        .and_then(|a| a.ingress.as_deref())
                        .unwrap_or_default(),
                )?,
                egress: prefixes(
                    "spec.allowedNetworks.egress",
                    allowed
                        .and_then(|a| a.egress.as_deref())
                        .unwrap_or_default(),
                )?,
            },
            log_accepted: spec.log_accepted_connections.unwrap_or(false),
        })
    }
}
