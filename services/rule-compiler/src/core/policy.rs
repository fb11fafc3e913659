//! One ClusterwideNetworkPolicy, validated on its own and reduced to address ranges and
//! ports. An invalid policy is reported (`status.state: ignored` with the reason) and never
//! reaches the ruleset, so it cannot block the others (upstream found such errors only when
//! `nft -c` failed on the whole file).
//!
//! Upstream quirks, decided:
//! - A rule without ports allows nothing (upstream emits nothing; allowing every port would
//!   widen existing firewalls on migration). The policy is still deployed and its status
//!   message says which rules allow nothing.
//! - An egress rule with neither `to` nor `toFQDNs` allows nothing, likewise reported.
//! - `to` wins over `toFQDNs` when both are given, as upstream.
//! - `except` applies to its own block only (upstream merged the excepts of all blocks of a
//!   rule, so one block's except cut holes into the others) and must lie inside the block and
//!   be of its family (upstream's check was a no-op).
//! - `endPort` must be ≥ `port` (documented upstream, never checked there).
//! - IPv6 CIDRs are first-class (upstream emitted them under `ip` and broke the whole file).

use ipnet::IpNet;
use kube_resources::cwnp::{FqdnSelector, IpBlock, NetworkPolicyPort, PolicySpec, Protocol};

use super::ranges::{AddrRange, PortRange, merge, subtract};

/// A transport protocol a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn nft(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
    pub const BOTH: [Proto; 2] = [Proto::Tcp, Proto::Udp];
}

/// Ports of one rule, per protocol, merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ports {
    pub tcp: Vec<PortRange>,
    pub udp: Vec<PortRange>,
}

impl Ports {
    pub fn get(&self, proto: Proto) -> &[PortRange] {
        match proto {
            Proto::Tcp => &self.tcp,
            Proto::Udp => &self.udp,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.tcp.is_empty() && self.udp.is_empty()
    }
}

/// A validated CIDR rule: these addresses (after excepts) on these ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CidrRule {
    pub addrs: Vec<AddrRange>,
    pub ports: Ports,
}

/// A validated FQDN egress rule.
#[derive(Clone, Debug, PartialEq)]
pub struct FqdnRule {
    pub selector: FqdnSelector,
    /// `matchName` or `matchPattern`, as written: the key of `status.fqdn_state`.
    pub key: String,
    pub ports: Ports,
}

/// A policy ready to compile.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidPolicy {
    pub name: String,
    pub ingress: Vec<CidrRule>,
    pub egress: Vec<CidrRule>,
    pub fqdn: Vec<FqdnRule>,
    /// Rules that allow nothing, for the status message.
    pub notes: Vec<String>,
}

/// Forbidden ("isolated cluster") mode: the networks policies may name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedNetworks {
    pub ingress: Vec<AddrRange>,
    pub egress: Vec<AddrRange>,
}

impl AllowedNetworks {
    pub fn active(&self) -> bool {
        !self.ingress.is_empty() || !self.egress.is_empty()
    }
}

/// Why a policy was ignored, and the CIDRs forbidden mode refused (one Warning event each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub forbidden: Vec<String>,
}

impl Rejection {
    fn invalid(reason: String) -> Self {
        Self {
            reason,
            forbidden: Vec::new(),
        }
    }
}

pub const FORBIDDEN_MESSAGE: &str = "ingress/egress does not match allowed networks";

/// Validates `spec` of policy `name` and reduces it to ranges.
pub fn validate(
    name: &str,
    spec: &PolicySpec,
    allowed: &AllowedNetworks,
) -> Result<ValidPolicy, Rejection> {
    let mut policy = ValidPolicy {
        name: name.to_string(),
        ingress: Vec::new(),
        egress: Vec::new(),
        fqdn: Vec::new(),
        notes: Vec::new(),
    };
    let mut forbidden = Vec::new();
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let at = format!("ingress[{i}]");
        let ports = ports(&at, rule.ports.as_deref()).map_err(Rejection::invalid)?;
        let from = rule.from.as_deref().unwrap_or_default();
        let addrs = if from.is_empty() {
            // No `from`: any source, as upstream.
            vec![
                AddrRange::all(super::ranges::Family::V4),
                AddrRange::all(super::ranges::Family::V6),
            ]
        } else {
            blocks(
                &format!("{at}.from"),
                from,
                &allowed.ingress,
                &mut forbidden,
            )
            .map_err(Rejection::invalid)?
        };
        if ports.is_empty() {
            policy
                .notes
                .push(format!("{at} has no ports and allows nothing"));
            continue;
        }
        policy.ingress.push(CidrRule { addrs, ports });
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let at = format!("egress[{i}]");
        let ports = ports(&at, rule.ports.as_deref()).map_err(Rejection::invalid)?;
        let to = rule.to.as_deref().unwrap_or_default();
        let fqdns = rule.to_fqdns.as_deref().unwrap_or_default();
        if !to.is_empty() {
            let addrs = blocks(&format!("{at}.to"), to, &allowed.egress, &mut forbidden)
                .map_err(Rejection::invalid)?;
            if ports.is_empty() {
                policy
                    .notes
                    .push(format!("{at} has no ports and allows nothing"));
                continue;
            }
            policy.egress.push(CidrRule { addrs, ports });
        } else if !fqdns.is_empty() {
            for (j, selector) in fqdns.iter().enumerate() {
                let key = selector_key(selector)
                    .map_err(|e| Rejection::invalid(format!("{at}.toFQDNs[{j}]: {e}")))?;
                if !ports.is_empty() {
                    policy.fqdn.push(FqdnRule {
                        selector: selector.clone(),
                        key,
                        ports: ports.clone(),
                    });
                }
            }
            if ports.is_empty() {
                policy
                    .notes
                    .push(format!("{at} has no ports and allows nothing"));
            }
        } else {
            policy.notes.push(format!(
                "{at} has neither to nor toFQDNs and allows nothing"
            ));
        }
    }
    if !forbidden.is_empty() {
        return Err(Rejection {
            reason: FORBIDDEN_MESSAGE.into(),
            forbidden,
        });
    }
    Ok(policy)
}

/// The ports of a rule, checked: 1..=65535, `endPort` ≥ `port`.
fn ports(at: &str, ports: Option<&[NetworkPolicyPort]>) -> Result<Ports, String> {
    let mut out = Ports::default();
    for (i, p) in ports.unwrap_or_default().iter().enumerate() {
        let port = p
            .port
            .ok_or_else(|| format!("{at}.ports[{i}]: port is missing"))?;
        if !(1..=65535).contains(&port) {
            return Err(format!(
                "{at}.ports[{i}]: port {port} is not between 1 and 65535"
            ));
        }
        let end = p.end_port.unwrap_or(port);
        if !(1..=65535).contains(&end) {
            return Err(format!(
                "{at}.ports[{i}]: endPort {end} is not between 1 and 65535"
            ));
        }
        if end < port {
            return Err(format!(
                "{at}.ports[{i}]: endPort {end} is smaller than port {port}"
            ));
        }
        let range = PortRange {
            lo: port as u16,
            hi: end as u16,
        };
        match p.protocol.unwrap_or(Protocol::Tcp) {
            Protocol::Tcp => out.tcp.push(range),
            Protocol::Udp => out.udp.push(range),
        }
    }
    out.tcp = super::ranges::merge_ports(out.tcp);
    out.udp = super::ranges::merge_ports(out.udp);
    Ok(out)
}

/// The address ranges of IP blocks (each minus its own excepts), checked; CIDRs outside
/// `allowed` (when forbidden mode is on) are collected into `forbidden`.
fn blocks(
    at: &str,
    blocks: &[IpBlock],
    allowed: &[AddrRange],
    forbidden: &mut Vec<String>,
) -> Result<Vec<AddrRange>, String> {
    let mut out = Vec::new();
    for (i, block) in blocks.iter().enumerate() {
        let net =
            parse_cidr(&block.cidr).map_err(|e| format!("{at}[{i}].cidr {:?}: {e}", block.cidr))?;
        let range = AddrRange::from_net(&net);
        let mut holes = Vec::new();
        for (j, except) in block.except.iter().flatten().enumerate() {
            let hole =
                parse_cidr(except).map_err(|e| format!("{at}[{i}].except[{j}] {except:?}: {e}"))?;
            let hole = AddrRange::from_net(&hole);
            if !range.contains(&hole) {
                return Err(format!(
                    "{at}[{i}].except[{j}] {except} is not inside {}",
                    block.cidr
                ));
            }
            holes.push(hole);
        }
        if !allowed.is_empty() && !allowed.iter().any(|a| a.contains(&range)) {
            forbidden.push(block.cidr.clone());
        }
        out.extend(subtract(range, &holes));
    }
    Ok(merge(out))
}

/// A CIDR or a bare address (a host), with the host bits required to be zero.
pub fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let net: IpNet = match text.parse() {
        Ok(net) => net,
        Err(_) => match text.parse::<std::net::IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => return Err("not a CIDR".into()),
        },
    };
    if net.trunc() != net {
        return Err(format!("host bits are set (did you mean {}?)", net.trunc()));
    }
    Ok(net)
}

/// The status key of a selector, checked against the CRD's patterns.
pub fn selector_key(selector: &FqdnSelector) -> Result<String, String> {
    let valid = |text: &str, pattern: bool| {
        let ok_char =
            |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (pattern && c == '*');
        !text.is_empty()
            && !text.starts_with('.')
            && !text.contains("..")
            && text.chars().all(|c| ok_char(c) || c == '.')
    };
    match (&selector.match_name, &selector.match_pattern) {
        (Some(name), None) if valid(name, false) => Ok(name.clone()),
        (None, Some(pattern)) if valid(pattern, true) => Ok(pattern.clone()),
        (Some(_), Some(_)) => Err("set either matchName or matchPattern, not both".into()),
        (None, None) => Err("matchName or matchPattern is required".into()),
        (Some(text), None) | (None, Some(text)) => {
            Err(format!("{text:?} is not a valid DNS name or pattern"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> PolicySpec {
        serde_json::from_value(value).unwrap()
    }

    fn reason(value: serde_json::Value) -> String {
        validate("p", &spec(value), &AllowedNetworks::default())
            .unwrap_err()
            .reason
    }

    #[test]
    fn invalid_policies_say_what_is_wrong() {
        assert_eq!(
            reason(json!({"egress": [{"to": [{"cidr": "1.2.3.0/33"}], "ports": [{"port": 443}]}]})),
            "egress[0].to[0].cidr \"1.2.3.0/33\": not a CIDR"
        );
        assert_eq!(
            reason(
                json!({"ingress": [{"from": [{"cidr": "10.0.0.0/24", "except": ["10.1.0.0/24"]}], "ports": [{"port": 80}]}]})
            ),
            "ingress[0].from[0].except[0] 10.1.0.0/24 is not inside 10.0.0.0/24"
        );
        assert_eq!(
            reason(json!({"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]})),
            "ingress[0].ports[0]: endPort 80 is smaller than port 90"
        );
        assert_eq!(
            reason(json!({"ingress": [{"ports": [{"port": 0}]}]})),
            "ingress[0].ports[0]: port 0 is not between 1 and 65535"
        );
        assert!(
            reason(json!({"egress": [{"to": [{"cidr": "10.0.0.1/8"}], "ports": [{"port": 1}]}]}))
                .contains("host bits")
        );
        assert_eq!(
            reason(
                json!({"egress": [{"toFQDNs": [{"matchName": "a..b"}], "ports": [{"port": 1}]}]})
            ),
            "egress[0].toFQDNs[0]: \"a..b\" is not a valid DNS name or pattern"
        );
    }

    #[test]
    fn except_cuts_only_its_own_block() {
        let p = validate(
            "p",
            &spec(json!({"egress": [{"to": [
                {"cidr": "10.0.0.0/24", "except": ["10.0.0.0/25"]},
                {"cidr": "10.0.0.0/23"}
            ], "ports": [{"port": 443}]}]})),
            &AllowedNetworks::default(),
        )
        .unwrap();
        // The second block covers the first block's except again (upstream would not).
        let text: Vec<String> = p.egress[0].addrs.iter().map(|a| a.to_string()).collect();
        assert_eq!(text, ["10.0.0.0/23"]);
    }

    #[test]
    fn rules_that_allow_nothing_are_noted() {
        let p = validate(
            "p",
            &spec(json!({"ingress": [{"from": [{"cidr": "1.2.3.0/24"}]}], "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})),
            &AllowedNetworks::default(),
        )
        .unwrap();
        assert!(p.ingress.is_empty() && p.egress.is_empty());
        assert_eq!(
            p.notes,
            [
                "ingress[0] has no ports and allows nothing",
                "egress[0] has neither to nor toFQDNs and allows nothing"
            ]
        );
    }

    #[test]
    fn forbidden_mode_rejects_cidrs_outside_the_allowed_networks() {
        let allowed = AllowedNetworks {
            ingress: vec![],
            egress: vec![AddrRange::from_net(&"100.64.0.0/16".parse().unwrap())],
        };
        let rejected = validate(
            "p",
            &spec(json!({"egress": [{"to": [{"cidr": "100.64.1.0/24"}, {"cidr": "8.8.8.8/32"}], "ports": [{"port": 53}]}]})),
            &allowed,
        )
        .unwrap_err();
        assert_eq!(rejected.reason, FORBIDDEN_MESSAGE);
        assert_eq!(rejected.forbidden, ["8.8.8.8/32"]);
        // FQDN rules are not checked against allowed networks (upstream).
        assert!(
            validate(
                "p",
                &spec(json!({"egress": [{"toFQDNs": [{"matchName": "example.com"}], "ports": [{"port": 443}]}]})),
                &allowed
            )
            .is_ok()
        );
    }

    #[test]
    fn ports_default_to_tcp_and_merge() {
        let p = validate(
            "p",
            &spec(json!({"ingress": [{"ports": [{"port": 80, "endPort": 90}, {"port": 85}, {"port": 53, "protocol": "UDP"}]}]})),
            &AllowedNetworks::default(),
        )
        .unwrap();
        assert_eq!(p.ingress[0].ports.tcp, vec![PortRange { lo: 80, hi: 90 }]);
        assert_eq!(p.ingress[0].ports.udp, vec![PortRange { lo: 53, hi: 53 }]);
        assert_eq!(
            p.ingress[0].addrs.len(),
            2,
            "no from: any source of both families"
        );
    }
}
