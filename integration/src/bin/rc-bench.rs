//! rule-compiler benchmarks, each against a baseline in the same run:
//!
//! 1. Compile 10 000 CWNPs (50 000 CIDRs) and 2 000 LoadBalancer Services (pure; median of
//!    several runs).
//! 2. Apply that ruleset in one nft transaction in a fresh network namespace; beside it the
//!    equivalent one-rule-per-CIDR ruleset (upstream's design) applied the same way.
//! 3. Per-packet cost: client → firewall namespace → server, with (a) no ruleset, (b) our
//!    ruleset, (c) the one-rule-per-CIDR ruleset; TCP throughput of one stream, and the rate
//!    of new connections (where a linear rule list costs most).
//!
//! Needs root (network namespaces). Run:
//! `cargo run --release -p integration --bin rc-bench -- [POLICIES] [SERVICES] [--no-traffic]`

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use integration::netns::{NetNs, Probe, SERVER_V4, Topology};
use k8s_openapi::api::core::v1::Service;
use kube_resources::firewall::Firewall;
use rule_compiler::core::compile::{Compiled, Input, PolicyInput, compile};
use rule_compiler::nft::{Nft, replace_batch};
use serde_json::{Value, json};

const CIDRS_PER_POLICY: usize = 5;
const STREAM_BYTES: u64 = 2 << 30;
const CONNECTIONS: u32 = 2000;

/// A small deterministic generator (xorshift), so every run compiles the same input.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn firewall() -> Firewall {
    serde_json::from_value(json!({
        "metadata": {"name": "bench"},
        "spec": {"size": "s", "image": "i", "partition": "p", "project": "p", "networks": []},
        "status": {"firewallNetworks": [
            {"networkID": "cluster", "prefixes": ["10.42.0.0/22", "fd00:42::/64"], "vrf": 42, "asn": 1, "nat": true, "networkType": "privateprimaryunshared"},
            {"networkID": "internet", "prefixes": ["198.51.100.0/24"], "vrf": 104009, "asn": 1, "nat": false, "networkType": "external"}
        ]}
    }))
    .unwrap()
}

/// A generated policy: name, CIDRs, (port, end port, protocol).
type Generated = (String, Vec<String>, Vec<(u16, u16, &'static str)>);

/// `n` egress policies with 5 random CIDRs (in 20.0.0.0/6, /16 to /28) and two port ranges
/// each; the last one (sorted last by name) allows the benchmark's flow to the server.
fn policies(n: usize, rng: &mut Rng) -> Vec<Generated> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let cidrs = (0..CIDRS_PER_POLICY)
            .map(|_| {
                let len = 16 + rng.below(13) as u8;
                let addr = (20u32 << 24) | (rng.below(1 << 26) as u32);
                let net = ipnet::Ipv4Net::new(addr.into(), len).unwrap().trunc();
                net.to_string()
            })
            .collect();
        let p1 = 1 + rng.below(60000) as u16;
        let p2 = 1 + rng.below(60000) as u16;
        out.push((
            format!("p{i:05}"),
            cidrs,
            vec![(p1, p1, "TCP"), (p2, p2 + 10, "UDP")],
        ));
    }
    out.push((
        "zz-bench".into(),
        vec!["198.51.100.0/24".into()],
        vec![(5001, 5001, "TCP")],
    ));
    out
}

fn cwnps(policies: &[Generated]) -> Vec<PolicyInput> {
    policies
        .iter()
        .map(|(name, cidrs, ports)| {
            let to: Vec<Value> = cidrs.iter().map(|c| json!({"cidr": c})).collect();
            let ports: Vec<Value> = ports
                .iter()
                .map(|(p, e, proto)| json!({"port": p, "endPort": e, "protocol": proto}))
                .collect();
            PolicyInput {
                namespace: "firewall".into(),
                name: name.clone(),
                spec: serde_json::from_value(json!({"egress": [{"to": to, "ports": ports}]}))
                    .map_err(|e| e.to_string()),
            }
        })
        .collect()
}

fn services(n: usize) -> Vec<Service> {
    (0..n)
        .map(|i| {
            let ip = format!("185.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256);
            serde_json::from_value(json!({
                "metadata": {"name": format!("svc-{i:04}"), "namespace": "shop"},
                "spec": {"type": "LoadBalancer", "ports": [{"port": 443}, {"port": 80}], "loadBalancerSourceRanges": ["203.0.113.0/24", "198.51.100.0/24"]},
                "status": {"loadBalancer": {"ingress": [{"ip": ip}]}},
            }))
            .unwrap()
        })
        .collect()
}

fn run_compile(fw: &Firewall, policies: &[PolicyInput], services: &[Service]) -> Compiled {
    compile(&Input {
        firewall: fw,
        policies,
        services,
        dns: &BTreeMap::new(),
        set_name: rule_compiler::dns::set_name,
        policy_namespace: "firewall",
        dns_proxy: None,
    })
    .unwrap()
}

/// The same policies as upstream renders them: one rule per policy, protocol and CIDR, in a
/// plain forward chain (plus the same accounting head and drop tail).
fn one_rule_per_cidr(policies: &[Generated], services: &[Service]) -> String {
    let mut t = String::new();
    t.push_str("table inet firewall {\n\tset cluster_prefixes {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t\telements = { 10.0.0.0/8 }\n\t}\n");
    t.push_str("\tchain forward {\n\t\ttype filter hook forward priority 1; policy drop;\n");
    t.push_str(
        "\t\tct state established,related counter accept\n\t\tct state invalid counter drop\n",
    );
    for svc in services {
        let name = svc.metadata.name.as_deref().unwrap();
        let ip = &svc
            .status
            .as_ref()
            .unwrap()
            .load_balancer
            .as_ref()
            .unwrap()
            .ingress
            .as_ref()
            .unwrap()[0]
            .ip
            .clone()
            .unwrap();
        let _ = writeln!(
            t,
            "\t\tip saddr {{ 198.51.100.0/24, 203.0.113.0/24 }} ip daddr {ip} tcp dport {{ 80, 443 }} counter accept comment \"accept traffic for k8s service shop/{name}\""
        );
    }
    for (name, cidrs, ports) in policies {
        for (lo, hi, proto) in ports {
            let proto = proto.to_lowercase();
            let port = if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            };
            for cidr in cidrs {
                let _ = writeln!(
                    t,
                    "\t\tip saddr @cluster_prefixes ip daddr {cidr} {proto} dport {{ {port} }} counter accept comment \"accept traffic for np {name} {proto}\""
                );
            }
        }
    }
    t.push_str("\t\tcounter comment \"count and log dropped packets\"\n\t}\n}\n");
    t
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn apply(ns: &NetNs, ruleset: &str) -> Duration {
    let nft = Nft::with_prefix(ns.prefix(), "nft");
    let batch = replace_batch(ruleset);
    let start = Instant::now();
    nft.apply(&batch).await.expect("apply");
    start.elapsed()
}

fn probe(ns: &NetNs, args: &[&str]) -> Value {
    let bin = integration::binary("net-probe");
    let mut argv = vec![bin.to_str().unwrap()];
    argv.extend_from_slice(args);
    let out = ns.ok(&argv);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// (Gbit/s of one TCP stream, new connections per second) from client to server.
fn traffic(topo: &Topology) -> (f64, f64) {
    let addr = format!("{SERVER_V4}:5001");
    let mut gbits = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..3 {
        let s = probe(&topo.client, &["send", &addr, &STREAM_BYTES.to_string()]);
        gbits.push(s["bytes"].as_f64().unwrap() * 8.0 / s["seconds"].as_f64().unwrap() / 1e9);
        let r = probe(&topo.client, &["rate", &addr, &CONNECTIONS.to_string()]);
        rates.push(r["connections"].as_f64().unwrap() / r["seconds"].as_f64().unwrap());
    }
    let mid = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    (mid(gbits), mid(rates))
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let n_policies = args.first().copied().unwrap_or(10_000);
    let n_services = args.get(1).copied().unwrap_or(2_000);
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let generated = policies(n_policies, &mut rng);
    let inputs = cwnps(&generated);
    let svcs = services(n_services);
    let fw = firewall();
    let cidrs: usize = generated.iter().map(|p| p.1.len()).sum();

    // 1. Compile.
    let mut times = Vec::new();
    let mut compiled = None;
    for _ in 0..7 {
        let start = Instant::now();
        let c = run_compile(&fw, &inputs, &svcs);
        times.push(start.elapsed());
        compiled = Some(c);
    }
    let compiled = compiled.unwrap();
    let elements = compiled
        .ruleset
        .lines()
        .filter(|l| l.contains(" : jump "))
        .count();
    println!(
        "| compile {} CWNPs ({cidrs} CIDRs) + {n_services} Services -> {elements} map elements, {} KiB | {:.1} ms (median of 7) | target < 100 ms |",
        inputs.len(),
        compiled.ruleset.len() / 1024,
        median(times).as_secs_f64() * 1e3
    );
    let linear = one_rule_per_cidr(&generated, &svcs);
    let linear_rules = linear
        .lines()
        .filter(|l| l.contains(" accept comment "))
        .count();
    // RC_BENCH_DUMP=DIR writes both rulesets there, to study them with nft by hand.
    if let Some(dir) = std::env::var_os("RC_BENCH_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::write(dir.join("ours.nft"), replace_batch(&compiled.ruleset)).unwrap();
        std::fs::write(dir.join("linear.nft"), replace_batch(&linear)).unwrap();
        return;
    }

    if !NetNs::available() {
        return;
    }
    // 2. Apply, one transaction each: into an empty namespace, and replacing the previous
    //    version of the same ruleset (one policy fewer), as a reconcile does.
    let topo = Topology::new();
    let smaller = run_compile(&fw, &inputs[1..], &svcs);
    let linear_smaller = one_rule_per_cidr(&generated[1..], &svcs);
    let (mut fresh, mut replace, mut lin_fresh, mut lin_replace) = (vec![], vec![], vec![], vec![]);
    for _ in 0..3 {
        let _ = topo.fw.exec(&["nft", "flush", "ruleset"]);
        fresh.push(apply(&topo.fw, &smaller.ruleset).await);
        replace.push(apply(&topo.fw, &compiled.ruleset).await);
        let _ = topo.fw.exec(&["nft", "flush", "ruleset"]);
        lin_fresh.push(apply(&topo.fw, &linear_smaller).await);
        lin_replace.push(apply(&topo.fw, &linear).await);
    }
    let s = |v: Vec<Duration>| median(v).as_secs_f64();
    println!(
        "| apply our ruleset in one nft transaction: into an empty table / replacing the previous version | {:.2} s / {:.2} s (medians of 3) | target < 2 s |",
        s(fresh),
        s(replace)
    );
    println!(
        "| apply the one-rule-per-CIDR ruleset ({linear_rules} rules) the same way | {:.2} s / {:.2} s | baseline |",
        s(lin_fresh),
        s(lin_replace)
    );
    let _ = topo.fw.exec(&["nft", "flush", "ruleset"]);
    let full = Instant::now();
    let nft = Nft::with_prefix(topo.fw.prefix(), "nft");
    nft.check(&replace_batch(&compiled.ruleset))
        .await
        .expect("check");
    nft.apply(&replace_batch(&compiled.ruleset))
        .await
        .expect("apply");
    nft.list_names().await.expect("read back");
    println!(
        "| the ruleset actor's whole path: nft -c, the transaction, read back | {:.2} s | |",
        full.elapsed().as_secs_f64()
    );

    // 3. Traffic (skipped with --no-traffic).
    if std::env::args().any(|a| a == "--no-traffic") {
        return;
    }
    let _server = Probe::start(&topo.server, &["serve", "0.0.0.0:5001"]);
    topo.fw.ok(&["nft", "delete", "table", "inet", "firewall"]);
    let (empty_gbit, empty_rate) = traffic(&topo);
    apply(&topo.fw, &compiled.ruleset).await;
    let (our_gbit, our_rate) = traffic(&topo);
    apply(&topo.fw, &linear).await;
    let (lin_gbit, lin_rate) = traffic(&topo);
    println!("| traffic | one TCP stream | ratio | new connections/s | ratio |");
    println!("| no ruleset | {empty_gbit:.2} Gbit/s | 1.00 | {empty_rate:.0} | 1.00 |");
    println!(
        "| our ruleset ({} policies) | {our_gbit:.2} Gbit/s | {:.2} | {our_rate:.0} | {:.2} |",
        inputs.len(),
        our_gbit / empty_gbit,
        our_rate / empty_rate
    );
    println!(
        "| one rule per CIDR ({linear_rules} rules) | {lin_gbit:.2} Gbit/s | {:.2} | {lin_rate:.0} | {:.2} |",
        lin_gbit / empty_gbit,
        lin_rate / empty_rate
    );
}
