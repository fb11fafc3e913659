//! A firewall between two hosts, made of network namespaces and veth pairs:
//!
//! ```text
//!  client (cluster side)            fw                         server (outside)
//!  c0 10.42.0.10/24  ──── vlan42 10.42.0.1/24   ext0 198.51.100.1/24 ──── s0 198.51.100.10/24
//!     fd00:42::10/64         fd00:42::1/64           2001:db8:100::1/64       2001:db8:100::10/64
//! ```
//!
//! `vlan42` is the interface name the ruleset uses for the firewall's primary private network
//! (VRF 42), so ingress rules (towards the cluster) match as on a real firewall. The client
//! also holds 10.42.0.100 and fd00:42::100, standing in for a LoadBalancer IP.

use std::process::{Child, Command, Stdio};

pub use rule_compiler::netns::NetNs;

pub const CLIENT_V4: &str = "10.42.0.10";
pub const CLIENT_V6: &str = "fd00:42::10";
pub const LB_V4: &str = "10.42.0.100";
pub const LB_V6: &str = "fd00:42::100";
pub const FW_CLIENT_V4: &str = "10.42.0.1";
pub const SERVER_V4: &str = "198.51.100.10";
pub const SERVER_V6: &str = "2001:db8:100::10";

pub struct Topology {
    pub client: NetNs,
    pub fw: NetNs,
    pub server: NetNs,
}

impl Topology {
    pub fn new() -> Self {
        let client = NetNs::new("rc-client");
        let fw = NetNs::new("rc-fw");
        let server = NetNs::new("rc-server");
        let link = |a: &NetNs, a_if: &str, b: &NetNs, b_if: &str| {
            let out = Command::new("ip")
                .args([
                    "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if,
                    "netns", &b.name,
                ])
                .output()
                .expect("ip link add");
            assert!(
                out.status.success(),
                "veth {a_if}/{b_if}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        link(&client, "c0", &fw, "vlan42");
        link(&server, "s0", &fw, "ext0");
        let addr = |ns: &NetNs, dev: &str, cidr: &str| {
            ns.ok(&["ip", "addr", "add", cidr, "dev", dev, "nodad"]);
        };
        addr(&client, "c0", "10.42.0.10/24");
        addr(&client, "c0", "10.42.0.100/24");
        addr(&client, "c0", "fd00:42::10/64");
        addr(&client, "c0", "fd00:42::100/64");
        addr(&fw, "vlan42", "10.42.0.1/24");
        addr(&fw, "vlan42", "fd00:42::1/64");
        addr(&fw, "ext0", "198.51.100.1/24");
        addr(&fw, "ext0", "2001:db8:100::1/64");
        addr(&server, "s0", "198.51.100.10/24");
        addr(&server, "s0", "2001:db8:100::10/64");
        for (ns, dev) in [
            (&client, "c0"),
            (&fw, "vlan42"),
            (&fw, "ext0"),
            (&server, "s0"),
        ] {
            ns.ok(&["ip", "link", "set", dev, "up"]);
        }
        client.ok(&["ip", "route", "add", "default", "via", "10.42.0.1"]);
        client.ok(&["ip", "-6", "route", "add", "default", "via", "fd00:42::1"]);
        server.ok(&["ip", "route", "add", "default", "via", "198.51.100.1"]);
        server.ok(&[
            "ip",
            "-6",
            "route",
            "add",
            "default",
            "via",
            "2001:db8:100::1",
        ]);
        fw.ok(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
        fw.ok(&["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
        Self { client, fw, server }
    }
}

impl Default for Topology {
    fn default() -> Self {
        Self::new()
    }
}

/// A `net-probe` process inside a namespace, killed on drop.
pub struct Probe(Child);

impl Probe {
    /// Starts `net-probe ARGS` in `ns` and waits for it to print `listening`.
    pub fn start(ns: &NetNs, args: &[&str]) -> Self {
        use std::io::BufRead as _;
        let bin = crate::binary("net-probe");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(bin)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start net-probe");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening", "net-probe {args:?}");
        Self(child)
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `ns` can open a TCP connection to `addr` (`ip:port` or `[ip6]:port`).
pub fn connects(ns: &NetNs, addr: &str) -> bool {
    let bin = crate::binary("net-probe");
    ns.exec(&[bin.to_str().unwrap(), "connect", addr, "1000"])
        .status
        .success()
}

/// Packets of a named counter in table `inet firewall` of `ns`.
pub fn counter_packets(ns: &NetNs, name: &str) -> u64 {
    let json = ns.ok(&["nft", "-j", "list", "counter", "inet", "firewall", name]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|i| i["counter"]["packets"].as_u64())
        .unwrap_or(0)
}
