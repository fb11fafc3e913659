//! The compiler: (Firewall, policies, Services, DNS snapshot) → one nftables table
//! `inet firewall`, byte-stable for the same input whatever its order.
//!
//! Layout, and why:
//! - Every CIDR × port allowed by a policy or Service is an element of one verdict map per
//!   direction, protocol and family (`ingress_tcp_v4`, `service_udp_v6`, `egress_tcp_v4`, ...).
//!   A new connection costs one map lookup however many policies exist; upstream's one rule
//!   per policy made that cost linear.
//! - Each map element jumps to the chain of the policy or Service that allowed it; that chain
//!   counts and accepts under the upstream rule comment, so the statistics keyed by comment
//!   (FirewallMonitor, exporters) still work per policy.
//! - Ingress and Service rules only match traffic leaving towards the cluster (`oifname` the
//!   primary VRF's interfaces, the same direction the accounting counters use). Upstream had
//!   no destination on ingress rules at all, so an ingress port was also open outbound.
//! - Forward policy drop and the tail counters/log are as upstream.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use kube_resources::cwnp::{FqdnSelector, PolicySpec};
use kube_resources::firewall::Firewall;

use super::decompose::{Claim, decompose};
use super::firewall::{Facts, FirewallError};
use super::policy::{Proto, ValidPolicy, validate};
use super::ranges::{AddrRange, Family, PortRange, nft_set};
use super::service::service_rule;

pub const TABLE: &str = "firewall";
pub const DROP_PREFIX: &str = "nftables-firewall-dropped: ";
pub const ACCEPT_PREFIX: &str = "nftables-firewall-accepted: ";
/// Upstream hard-codes the cluster's IPv4 prefix (a FIXME there); kept for compatibility.
pub const CLUSTER_PREFIX_V4: &str = "10.0.0.0/8";
/// The named counters operators and FirewallMonitor read.
pub const COUNTERS: [&str; 6] = [
    "internal_in",
    "internal_out",
    "external_in",
    "external_out",
    "drop_total",
    "drop_ratelimit",
];

/// A policy as it arrived: its spec, or why it could not even be read.
#[derive(Clone, Debug)]
pub struct PolicyInput {
    pub namespace: String,
    pub name: String,
    pub spec: Result<PolicySpec, String>,
}

/// The DNS proxy's view: set name → address → remaining seconds.
pub type DnsSnapshot = BTreeMap<String, BTreeMap<IpAddr, u64>>;

/// The nft set of a selector for one family; shared with the DNS proxy, which fills it.
pub type SetNamer = fn(&str, Family) -> String;

pub struct Input<'a> {
    pub firewall: &'a Firewall,
    pub policies: &'a [PolicyInput],
    pub services: &'a [Service],
    pub dns: &'a DnsSnapshot,
    pub set_name: SetNamer,
    /// Namespace whose policies are compiled (`firewall`).
    pub policy_namespace: &'a str,
    /// Address of the DNS proxy when it runs: clients may reach it, and DNS escapes SNAT.
    pub dns_proxy: Option<IpAddr>,
}

/// A policy that is not part of the ruleset, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Ignored {
    pub namespace: String,
    pub name: String,
    pub reason: String,
}

/// A policy in the ruleset; `message` lists its rules that allow nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployed {
    pub namespace: String,
    pub name: String,
    pub message: String,
    /// Its FQDN selectors, for `status.fqdn_state`.
    pub fqdn: Vec<FqdnSelector>,
}

/// A Warning event to emit on an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Clone, Debug)]
pub struct Compiled {
    /// The `table inet firewall { ... }` text.
    pub ruleset: String,
    /// Byte ranges of `ruleset` holding the FQDN sets' elements (see [`Compiled::identity`]).
    pub dynamic: Vec<std::ops::Range<usize>>,
    pub ignored: Vec<Ignored>,
    pub deployed: Vec<Deployed>,
    pub warnings: Vec<Warning>,
    /// Every FQDN selector in use (the proxy fills their sets).
    pub selectors: Vec<FqdnSelector>,
}

impl Compiled {
    /// The ruleset without the elements of the FQDN sets. Those follow DNS answers (the proxy
    /// adds them to the kernel directly, with timeouts) and change every second as timeouts
    /// run down; a reload is needed only when this part changes.
    pub fn identity(&self) -> String {
        let mut out = String::with_capacity(self.ruleset.len());
        let mut at = 0;
        for r in &self.dynamic {
            out.push_str(&self.ruleset[at..r.start]);
            at = r.end;
        }
        out.push_str(&self.ruleset[at..]);
        out
    }
}

/// A chain a map element can jump to: counts and accepts under `comment`, optionally only
/// from `sources` (Services), optionally logging first.
struct RuleChain {
    comment: String,
    /// Per family; `None`: any source.
    sources: Option<Vec<AddrRange>>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    Ingress,
    Service,
    Egress,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Service => "service",
            Direction::Egress => "egress",
        }
    }
}

type MapKey = (Direction, Proto, Family);

/// Adds the claims of one rule (addresses × ports, for a map) owned by a chain.
type ClaimFn<'a> = dyn FnMut(MapKey, &[AddrRange], &[PortRange], usize) + 'a;

pub fn compile(input: &Input) -> Result<Compiled, FirewallError> {
    let facts = Facts::from_firewall(input.firewall)?;
    let mut ignored = Vec::new();
    let mut deployed = Vec::new();
    let mut warnings = Vec::new();

    // Policies, sorted, each validated alone.
    let mut policies: Vec<&PolicyInput> = input.policies.iter().collect();
    policies.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut valid: Vec<ValidPolicy> = Vec::new();
    for p in policies {
        let ignore = |reason: String| Ignored {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            reason,
        };
        if p.namespace != input.policy_namespace {
            ignored.push(ignore(format!(
                "only policies in namespace {:?} are applied",
                input.policy_namespace
            )));
            continue;
        }
        let spec = match &p.spec {
            Ok(spec) => spec,
            Err(e) => {
                ignored.push(ignore(e.clone()));
                continue;
            }
        };
        match validate(&p.name, spec, &facts.allowed) {
            Ok(v) => {
                deployed.push(Deployed {
                    namespace: p.namespace.clone(),
                    name: p.name.clone(),
                    message: v.notes.join("; "),
                    fqdn: v.fqdn.iter().map(|f| f.selector.clone()).collect(),
                });
                valid.push(v);
            }
            Err(rejection) => {
                for cidr in &rejection.forbidden {
                    warnings.push(Warning {
                        kind: "ClusterwideNetworkPolicy",
                        namespace: p.namespace.clone(),
                        name: p.name.clone(),
                        reason: "ForbiddenCIDR",
                        message: format!("{cidr} is not in the allowed networks of the firewall"),
                    });
                }
                ignored.push(ignore(rejection.reason));
            }
        }
    }

    let mut chains: Vec<RuleChain> = Vec::new();
    let mut claims: BTreeMap<MapKey, Vec<Claim>> = BTreeMap::new();
    let mut claim = |key: MapKey, addrs: &[AddrRange], ports: &[PortRange], owner: usize| {
        for a in addrs.iter().filter(|a| a.family == key.2) {
            for p in ports {
                claims.entry(key).or_default().push(Claim {
                    addrs: *a,
                    ports: *p,
                    owner: owner as u32,
                });
            }
        }
    };
    let policy_chains = |direction: Direction, chains: &mut Vec<RuleChain>, claim: &mut ClaimFn| {
        for p in &valid {
            for proto in Proto::BOTH {
                let rules = match direction {
                    Direction::Ingress => &p.ingress,
                    _ => &p.egress,
                };
                let rules: Vec<_> = rules
                    .iter()
                    .filter(|r| !r.ports.get(proto).is_empty())
                    .collect();
                if rules.is_empty() {
                    continue;
                }
                let owner = chains.len();
                // Upstream's comments: they key the statistics.
                let comment = match direction {
                    Direction::Ingress => format!(
                        "accept traffic for k8s network policy {} {}",
                        p.name,
                        proto.nft()
                    ),
                    _ => format!("accept traffic for np {} {}", p.name, proto.nft()),
                };
                chains.push(RuleChain {
                    comment,
                    sources: None,
                });
                for r in rules {
                    for family in Family::BOTH {
                        claim(
                            (direction, proto, family),
                            &r.addrs,
                            r.ports.get(proto),
                            owner,
                        );
                    }
                }
            }
        }
    };
    policy_chains(Direction::Ingress, &mut chains, &mut claim);
    let mut services: Vec<&Service> = input.services.iter().collect();
    services.sort_by(|a, b| {
        (&a.metadata.namespace, &a.metadata.name).cmp(&(&b.metadata.namespace, &b.metadata.name))
    });
    for svc in services {
        let (rule, svc_warnings) = service_rule(svc, &facts.allowed.ingress);
        warnings.extend(svc_warnings.into_iter().map(|w| Warning {
            kind: "Service",
            namespace: w.namespace,
            name: w.name,
            reason: w.reason,
            message: w.message,
        }));
        let Some(rule) = rule else { continue };
        for proto in Proto::BOTH {
            let ports = rule.ports.get(proto);
            if ports.is_empty() {
                continue;
            }
            let owner = chains.len();
            let comment = format!(
                "accept traffic for k8s service {}/{}",
                rule.namespace, rule.name
            );
            if rule.destinations.is_empty() {
                // NodePort: keyed by source like an ingress policy.
                chains.push(RuleChain {
                    comment,
                    sources: None,
                });
                for family in Family::BOTH {
                    claim(
                        (Direction::Ingress, proto, family),
                        &rule.sources,
                        ports,
                        owner,
                    );
                }
            } else {
                let sources = (!rule.sources.is_empty()).then(|| rule.sources.clone());
                chains.push(RuleChain { comment, sources });
                for family in Family::BOTH {
                    claim(
                        (Direction::Service, proto, family),
                        &rule.destinations,
                        ports,
                        owner,
                    );
                }
            }
        }
    }
    policy_chains(Direction::Egress, &mut chains, &mut claim);
    let selectors = selectors_in_use(&valid);
    let mut out = Render {
        text: String::with_capacity(64 * claims.values().map(Vec::len).sum::<usize>() + 64 * 1024),
        dynamic: Vec::new(),
    };
    out.header(&facts, &selectors, input);
    // Maps and the chains their pieces jump to.
    let mut combined: BTreeMap<Vec<u32>, usize> = BTreeMap::new();
    let mut maps: Vec<MapKey> = Vec::new();
    for (key, claims) in &claims {
        let pieces = decompose(claims);
        let elements: Vec<(AddrRange, PortRange, Target)> = pieces
            .into_iter()
            .map(|piece| {
                let target = if piece.owners.len() == 1 {
                    Target::Rule(piece.owners[0])
                } else {
                    let next = combined.len();
                    Target::Combined(*combined.entry(piece.owners).or_insert(next))
                };
                (piece.addrs, piece.ports, target)
            })
            .collect();
        let (direction, proto, family) = *key;
        out.map(&map_name(direction, proto, family), family, &elements);
        maps.push(*key);
    }
    // Source lists of more than one range become named sets, one per distinct list: the
    // kernel binds every anonymous set by scanning the whole transaction, which made a few
    // thousand Services cost seconds per apply.
    let mut source_sets: BTreeMap<(Family, Vec<AddrRange>), String> = BTreeMap::new();
    for chain in &chains {
        for family in Family::BOTH {
            let of: Vec<AddrRange> = chain
                .sources
                .iter()
                .flatten()
                .filter(|s| s.family == family)
                .copied()
                .collect();
            if of.len() > 1 {
                let next = format!("src_{}", source_sets.len());
                source_sets.entry((family, of)).or_insert(next);
            }
        }
    }
    let mut named: Vec<(&String, &(Family, Vec<AddrRange>))> =
        source_sets.iter().map(|(k, v)| (v, k)).collect();
    named.sort_by_key(|(name, _)| name[4..].parse::<usize>().unwrap_or(0));
    for (name, (family, ranges)) in named {
        out.interval_set(name, *family, ranges);
    }
    for (i, chain) in chains.iter().enumerate() {
        out.rule_chain(i, chain, facts.log_accepted, &source_sets);
    }
    let mut combined: Vec<(usize, Vec<u32>)> = combined.into_iter().map(|(o, i)| (i, o)).collect();
    combined.sort();
    for (i, owners) in combined {
        out.linef(format_args!("\tchain m_{i} {{"));
        for o in owners {
            out.linef(format_args!("\t\tjump r_{o}"));
        }
        out.line("\t}");
    }
    out.forward(&facts, &maps, &valid, input);
    out.postrouting(&facts, input.dns_proxy);
    out.line("}");

    Ok(Compiled {
        ruleset: out.text,
        dynamic: out.dynamic,
        ignored,
        deployed,
        warnings,
        selectors,
    })
}

/// Where a map element jumps: one rule's chain, or a chain trying several in order.
#[derive(Clone, Copy)]
enum Target {
    Rule(u32),
    Combined(usize),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Rule(i) => write!(f, "r_{i}"),
            Target::Combined(i) => write!(f, "m_{i}"),
        }
    }
}

fn map_name(direction: Direction, proto: Proto, family: Family) -> String {
    format!("{}_{}_{}", direction.name(), proto.nft(), family.suffix())
}

fn selectors_in_use(valid: &[ValidPolicy]) -> Vec<FqdnSelector> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for p in valid {
        for f in &p.fqdn {
            if seen.insert(f.key.clone()) {
                out.push(f.selector.clone());
            }
        }
    }
    out.sort_by(|a, b| (&a.match_name, &a.match_pattern).cmp(&(&b.match_name, &b.match_pattern)));
    out
}

fn quoted_ifaces(vrf: i64) -> String {
    format!("{{ \"vlan{vrf}\", \"vrf{vrf}\" }}")
}

#[derive(Default)]
struct Render {
    text: String,
    /// Byte ranges of the DNS proxy's set elements in `text` (left out of the identity).
    dynamic: Vec<std::ops::Range<usize>>,
}

impl Render {
    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// A formatted line, written in place (no String per line: rulesets have 100 000s).
    fn linef(&mut self, args: std::fmt::Arguments) {
        use std::fmt::Write as _;
        let _ = self.text.write_fmt(args);
        self.text.push('\n');
    }

    fn dynamic_line(&mut self, line: &str) {
        let start = self.text.len();
        self.line(line);
        self.dynamic.push(start..self.text.len());
    }

    fn interval_set(&mut self, name: &str, family: Family, elements: &[AddrRange]) {
        self.linef(format_args!("\tset {name} {{"));
        self.linef(format_args!("\t\ttype {}", family.addr_type()));
        self.line("\t\tflags interval");
        self.line("\t\tauto-merge");
        let elements: Vec<&AddrRange> = elements.iter().filter(|e| e.family == family).collect();
        if !elements.is_empty() {
            self.linef(format_args!("\t\telements = {}", nft_set(&elements)));
        }
        self.line("\t}");
    }

    fn header(&mut self, facts: &Facts, selectors: &[FqdnSelector], input: &Input) {
        self.linef(format_args!("table inet {TABLE} {{"));
        self.interval_set("internal_prefixes", Family::V4, &facts.internal_prefixes);
        self.interval_set("internal_prefixes_v6", Family::V6, &facts.internal_prefixes);
        let cluster_v4 = [AddrRange::from_net(
            &CLUSTER_PREFIX_V4.parse().expect("constant CIDR"),
        )];
        self.interval_set("cluster_prefixes", Family::V4, &cluster_v4);
        // IPv6 has no fixed cluster prefix upstream; the primary private network's prefixes
        // are the cluster's.
        self.interval_set("cluster_prefixes_v6", Family::V6, &facts.primary_prefixes);
        for selector in selectors {
            let key = selector
                .match_name
                .as_deref()
                .or(selector.match_pattern.as_deref())
                .unwrap_or_default();
            for family in Family::BOTH {
                let name = (input.set_name)(key, family);
                self.linef(format_args!("\tset {name} {{"));
                self.linef(format_args!("\t\ttype {}", family.addr_type()));
                self.line("\t\tflags timeout");
                let elements: Vec<String> = input
                    .dns
                    .get(&name)
                    .into_iter()
                    .flatten()
                    .filter(|(ip, _)| Family::of(ip) == family)
                    .map(|(ip, secs)| format!("{ip} timeout {}s", secs.max(&1)))
                    .collect();
                if !elements.is_empty() {
                    self.dynamic_line(&format!("\t\telements = {}", nft_set(&elements)));
                }
                self.line("\t}");
            }
        }
        for counter in COUNTERS {
            self.linef(format_args!("\tcounter {counter} {{"));
            self.line("\t}");
        }
    }

    fn map(&mut self, name: &str, family: Family, elements: &[(AddrRange, PortRange, Target)]) {
        self.linef(format_args!("\tmap {name} {{"));
        self.linef(format_args!(
            "\t\ttype {} . inet_service : verdict",
            family.addr_type()
        ));
        self.line("\t\tflags interval");
        self.line("\t\telements = {");
        let last = elements.len().saturating_sub(1);
        for (i, (addrs, ports, target)) in elements.iter().enumerate() {
            let sep = if i == last { "" } else { "," };
            self.linef(format_args!("\t\t\t{addrs} . {ports} : jump {target}{sep}"));
        }
        self.line("\t\t}");
        self.line("\t}");
    }

    fn accept(&mut self, prefix: &str, comment: &str, log: bool) {
        if log {
            self.linef(format_args!(
                "{prefix}limit rate 10/second log prefix \"{ACCEPT_PREFIX}\""
            ));
        }
        self.linef(format_args!("{prefix}counter accept comment \"{comment}\""));
    }

    fn rule_chain(
        &mut self,
        index: usize,
        chain: &RuleChain,
        log: bool,
        source_sets: &BTreeMap<(Family, Vec<AddrRange>), String>,
    ) {
        self.linef(format_args!("\tchain r_{index} {{"));
        match &chain.sources {
            None => self.accept("\t\t", &chain.comment, log),
            Some(sources) => {
                for family in Family::BOTH {
                    let of: Vec<AddrRange> = sources
                        .iter()
                        .filter(|s| s.family == family)
                        .copied()
                        .collect();
                    let matched = match of.as_slice() {
                        [] => continue,
                        [one] => one.to_string(),
                        _ => format!("@{}", source_sets[&(family, of)]),
                    };
                    self.accept(
                        &format!("\t\t{} saddr {matched} ", family.nft()),
                        &chain.comment,
                        log,
                    );
                }
            }
        }
        self.line("\t}");
    }

    fn forward(&mut self, facts: &Facts, maps: &[MapKey], valid: &[ValidPolicy], input: &Input) {
        let ifaces = quoted_ifaces(facts.primary_vrf);
        self.line("\tchain forward {");
        self.line("\t\ttype filter hook forward priority 1; policy drop;");
        for family in Family::BOTH {
            let (f, set) = (
                family.nft(),
                match family {
                    Family::V4 => "internal_prefixes",
                    Family::V6 => "internal_prefixes_v6",
                },
            );
            self.linef(format_args!(
                "\t\toifname {ifaces} {f} saddr != @{set} counter name external_in"
            ));
            self.linef(format_args!(
                "\t\tiifname {ifaces} {f} daddr != @{set} counter name external_out"
            ));
            self.linef(format_args!(
                "\t\toifname {ifaces} {f} saddr @{set} counter name internal_in"
            ));
            self.linef(format_args!(
                "\t\tiifname {ifaces} {f} daddr @{set} counter name internal_out"
            ));
        }
        for limit in &facts.rate_limits {
            self.linef(format_args!(
                "\t\tmeta iifname \"vrf{}\" limit rate over {} mbytes/second counter name drop_ratelimit drop",
                limit.vrf, limit.mbytes_per_second
            ));
        }
        self.line("\t\tct state established,related counter accept");
        self.line("\t\tct state invalid counter drop");
        self.line("\t\ticmp type echo-request limit rate over 10/second burst 4 packets counter drop comment \"drop ping floods\"");
        self.line("\t\ticmpv6 type echo-request limit rate over 10/second burst 4 packets counter drop comment \"drop ping floods\"");
        self.linef(format_args!("\t\ticmp type {{ destination-unreachable, router-solicitation, router-advertisement, time-exceeded, parameter-problem }} log prefix \"{ACCEPT_PREFIX}\" counter accept comment \"accept icmp\""));
        self.linef(format_args!("\t\ticmpv6 type {{ destination-unreachable, packet-too-big, time-exceeded, parameter-problem }} log prefix \"{ACCEPT_PREFIX}\" counter accept comment \"accept icmpv6\""));
        for (direction, proto, family) in maps {
            let (f, p) = (family.nft(), proto.nft());
            let name = map_name(*direction, *proto, *family);
            let rule = match direction {
                Direction::Ingress => {
                    format!("oifname {ifaces} {f} saddr . {p} dport vmap @{name}")
                }
                Direction::Service => {
                    format!("oifname {ifaces} {f} daddr . {p} dport vmap @{name}")
                }
                Direction::Egress => {
                    let cluster = match family {
                        Family::V4 => "cluster_prefixes",
                        Family::V6 => "cluster_prefixes_v6",
                    };
                    format!("{f} saddr @{cluster} {f} daddr . {p} dport vmap @{name}")
                }
            };
            self.linef(format_args!("\t\tmeta l4proto {p} {rule}"));
        }
        for p in valid {
            for rule in &p.fqdn {
                for proto in Proto::BOTH {
                    let ports: Vec<&PortRange> = rule.ports.get(proto).iter().collect();
                    if ports.is_empty() {
                        continue;
                    }
                    for family in Family::BOTH {
                        let (f, cluster) = match family {
                            Family::V4 => ("ip", "cluster_prefixes"),
                            Family::V6 => ("ip6", "cluster_prefixes_v6"),
                        };
                        let set = (input.set_name)(&rule.key, family);
                        self.accept(
                            &format!(
                                "\t\t{f} saddr @{cluster} {f} daddr @{set} {} dport {} ",
                                proto.nft(),
                                nft_set(&ports)
                            ),
                            &format!(
                                "accept traffic for np {} {}, fqdn: {}",
                                p.name,
                                proto.nft(),
                                rule.key
                            ),
                            facts.log_accepted,
                        );
                    }
                }
            }
        }
        if let Some(proxy) = input.dns_proxy {
            let (f, cluster) = match Family::of(&proxy) {
                Family::V4 => ("ip", "cluster_prefixes"),
                Family::V6 => ("ip6", "cluster_prefixes_v6"),
            };
            for proto in Proto::BOTH {
                self.linef(format_args!(
                    "\t\t{f} saddr @{cluster} {f} daddr {proxy} {} dport 53 counter accept comment \"accept dns proxy {}\"",
                    proto.nft(),
                    proto.nft()
                ));
            }
        }
        self.line("\t\tcounter comment \"count and log dropped packets\"");
        self.linef(format_args!(
            "\t\tlimit rate 10/second counter name drop_total log prefix \"{DROP_PREFIX}\""
        ));
        self.line("\t}");
    }

    fn postrouting(&mut self, facts: &Facts, dns_proxy: Option<IpAddr>) {
        if facts.snat.is_empty() {
            return;
        }
        self.line("\tchain postrouting {");
        self.line("\t\ttype nat hook postrouting priority -1; policy accept;");
        for family in Family::BOTH {
            let sources: Vec<&AddrRange> = facts
                .primary_prefixes
                .iter()
                .filter(|p| p.family == family)
                .collect();
            if sources.is_empty() {
                continue;
            }
            let f = family.nft();
            if dns_proxy.is_some() {
                for proto in Proto::BOTH {
                    let p = proto.nft();
                    self.linef(format_args!(
                        "\t\t{f} saddr {} {p} dport 53 accept comment \"escape snat for dns proxy {p}\"",
                        nft_set(&sources)
                    ));
                }
            }
            for snat in &facts.snat {
                let ips: Vec<&IpAddr> = snat
                    .ips
                    .iter()
                    .filter(|ip| Family::of(ip) == family)
                    .collect();
                let target = match ips.as_slice() {
                    [] => continue,
                    [one] => one.to_string(),
                    many => {
                        let entries: Vec<String> = many
                            .iter()
                            .enumerate()
                            .map(|(i, ip)| format!("{i} : {ip}"))
                            .collect();
                        format!(
                            "jhash {f} daddr . tcp sport mod {} map {}",
                            many.len(),
                            nft_set(&entries)
                        )
                    }
                };
                self.linef(format_args!(
                    "\t\toifname \"vlan{}\" {f} saddr {} counter snat {f} to {target} random comment \"snat for {}\"",
                    snat.vrf,
                    nft_set(&sources),
                    snat.network
                ));
            }
        }
        self.line("\t}");
    }
}
