//! Where resolved addresses go: elements with timeouts in existing nft sets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Stdio;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt as _;

use crate::cache::SetContents;

/// Adds elements to nft sets. Implementations must only be handed sets that exist.
pub trait SetSink: Send + Sync + 'static {
    /// Adds every element with its timeout, refreshing the timeout of elements already present.
    fn add(&self, sets: BTreeMap<String, SetContents>) -> BoxFuture<'static, Result<(), String>>;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SinkError {
    #[error("nft command must not be empty")]
    EmptyArgv,
    #[error("table must be \"<family> <name>\" with an nft family and a plain name, got {0:?}")]
    Table(String),
}

/// [`SetSink`] through the `nft` CLI: one `nft -f -` per call, so all sets change in one
/// transaction.
///
/// Contract: the caller passes only sets the loaded ruleset declares (`set <name> { type
/// ipv4_addr; flags timeout; }`). A missing set fails the whole batch, and the error carries
/// nft's stderr; the next full render, which declares the sets with [`crate::Cache::elements`],
/// converges anyway.
#[derive(Clone, Debug)]
pub struct NftSink {
    argv: Vec<String>,
    family: String,
    table: String,
    timeout: Duration,
}

const FAMILIES: [&str; 6] = ["ip", "ip6", "inet", "arp", "bridge", "netdev"];

fn is_plain_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl NftSink {
    /// `argv`: the program and leading arguments, e.g. `["nft"]` or
    /// `["ip", "netns", "exec", "fw", "nft"]`; `table`: e.g. `"inet firewall"`.
    pub fn new(argv: Vec<String>, table: &str) -> Result<NftSink, SinkError> {
        if argv.is_empty() {
            return Err(SinkError::EmptyArgv);
        }
        let bad = || SinkError::Table(table.to_string());
        let (family, name) = table.split_once(' ').ok_or_else(bad)?;
        if !FAMILIES.contains(&family) || !is_plain_name(name) {
            return Err(bad());
        }
        Ok(NftSink {
            argv,
            family: family.to_string(),
            table: name.to_string(),
            timeout: Duration::from_secs(10),
        })
    }

    /// The batch for `sets`. Each element is added, deleted and added again: kernels before
    /// 6.10 keep an existing element's old timeout on a plain re-add, and the first add makes
    /// the delete safe for new elements. Within one transaction the datapath never sees the
    /// element missing.
    pub fn batch(&self, sets: &BTreeMap<String, SetContents>) -> Result<String, String> {
        let mut out = String::new();
        let (family, table) = (&self.family, &self.table);
        for (name, contents) in sets.iter().filter(|(_, c)| !c.elements.is_empty()) {
            if !is_plain_name(name) {
                return Err(format!("refusing nft set name {name:?}"));
            }
            let with_timeouts = contents
                .elements
                .iter()
                .map(|(ip, secs)| format!("{ip} timeout {secs}s"))
                .collect::<Vec<_>>()
                .join(", ");
            let bare = contents
                .elements
                .keys()
                .map(|ip| ip.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "add element {family} {table} {name} {{ {with_timeouts} }}"
            );
            let _ = writeln!(out, "delete element {family} {table} {name} {{ {bare} }}");
            let _ = writeln!(
                out,
                "add element {family} {table} {name} {{ {with_timeouts} }}"
            );
        }
        Ok(out)
    }

    async fn run(argv: Vec<String>, batch: String, timeout: Duration) -> Result<(), String> {
        let mut child = tokio::process::Command::new(&argv[0])
            .args(&argv[1..])
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", argv[0]))?;
        let mut stdin = child.stdin.take().expect("piped");
        let work = async move {
            stdin
                .write_all(batch.as_bytes())
                .await
                .map_err(|e| format!("writing nft batch: {e}"))?;
            drop(stdin);
            child
                .wait_with_output()
                .await
                .map_err(|e| format!("waiting for nft: {e}"))
        };
        let output = tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| format!("nft did not finish within {timeout:?}"))??;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nft failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    }
}

impl SetSink for NftSink {
    fn add(&self, sets: BTreeMap<String, SetContents>) -> BoxFuture<'static, Result<(), String>> {
        let batch = self.batch(&sets);
        let (argv, timeout) = (self.argv.clone(), self.timeout);
        async move {
            let batch = batch?;
            if batch.is_empty() {
                return Ok(());
            }
            NftSink::run(argv, batch, timeout).await
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selector::Family;
    use std::net::IpAddr;
    use std::process::Command;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn set(family: Family, elems: &[(&str, u64)]) -> SetContents {
        SetContents {
            family,
            elements: elems
                .iter()
                .map(|(ip, s)| (ip.parse::<IpAddr>().unwrap(), *s))
                .collect(),
        }
    }

    #[test]
    fn new_validates_table_and_argv() {
        assert_eq!(
            NftSink::new(vec![], "inet firewall").unwrap_err(),
            SinkError::EmptyArgv
        );
        for bad in [
            "inet",
            "inet fire wall",
            "foo firewall",
            "inet fw;flush",
            "inet 1x",
        ] {
            assert!(
                matches!(
                    NftSink::new(vec!["nft".into()], bad),
                    Err(SinkError::Table(_))
                ),
                "{bad}"
            );
        }
        assert!(NftSink::new(vec!["nft".into()], "inet firewall").is_ok());
    }

    #[test]
    fn batch_covers_nonempty_sets_only() {
        let sink = NftSink::new(vec!["nft".into()], "inet firewall").unwrap();
        let sets = BTreeMap::from([
            (
                "s4".to_string(),
                set(Family::V4, &[("192.0.2.1", 30), ("192.0.2.2", 5)]),
            ),
            ("s6".to_string(), set(Family::V6, &[])),
        ]);
        assert_eq!(
            sink.batch(&sets).unwrap(),
            "add element inet firewall s4 { 192.0.2.1 timeout 30s, 192.0.2.2 timeout 5s }\n\
             delete element inet firewall s4 { 192.0.2.1, 192.0.2.2 }\n\
             add element inet firewall s4 { 192.0.2.1 timeout 30s, 192.0.2.2 timeout 5s }\n"
        );
        let evil = BTreeMap::from([(
            "s; flush ruleset".to_string(),
            set(Family::V4, &[("192.0.2.1", 1)]),
        )]);
        assert!(sink.batch(&evil).is_err());
    }

    /// A named network namespace, deleted on drop.
    struct NetNs(String);

    impl NetNs {
        fn new() -> NetNs {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let name = format!(
                "fqdnsink-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            );
            let out = Command::new("ip")
                .args(["netns", "add", &name])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            NetNs(name)
        }
        fn nft(&self, args: &[&str], stdin: Option<&str>) -> String {
            use std::io::Write as _;
            let mut child = Command::new("ip")
                .args(["netns", "exec", &self.0, "nft"])
                .args(args)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(stdin.unwrap_or("").as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "nft {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    }

    impl Drop for NetNs {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    /// Root with `ip` and `nft`? Outside CI a missing one skips; with `CI` set it fails.
    fn netns_available() -> bool {
        let root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false);
        let tools = Command::new("ip").arg("-V").output().is_ok()
            && Command::new("nft").arg("--version").output().is_ok();
        if !(root && tools) {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but network namespaces are unavailable (root: {root}, ip+nft: {tools})"
            );
            eprintln!("SKIPPED: needs root, ip and nft (root: {root}, ip+nft: {tools})");
        }
        root && tools
    }

    /// `(ip, timeout)` of every element of a set, from `nft -j list set`.
    fn read_set(ns: &NetNs, name: &str) -> BTreeMap<String, u64> {
        let json: serde_json::Value =
            serde_json::from_str(&ns.nft(&["-j", "list", "set", "inet", "firewall", name], None))
                .unwrap();
        let set = json["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|o| o.get("set"))
            .unwrap();
        set.get("elem")
            .and_then(|e| e.as_array())
            .map(|elems| {
                elems
                    .iter()
                    .map(|e| {
                        let e = &e["elem"];
                        (
                            e["val"].as_str().unwrap().to_string(),
                            e["timeout"].as_u64().unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn nft_sink_fills_declared_sets_in_a_netns() {
        if !netns_available() {
            return;
        }
        let ns = NetNs::new();
        ns.nft(
            &["-f", "-"],
            Some(
                "table inet firewall {\n\
                   set s4 { type ipv4_addr; flags timeout; }\n\
                   set s6 { type ipv6_addr; flags timeout; }\n\
                 }\n",
            ),
        );
        let argv = ["ip", "netns", "exec", &ns.0, "nft"]
            .map(String::from)
            .to_vec();
        let sink = NftSink::new(argv, "inet firewall").unwrap();

        sink.add(BTreeMap::from([
            (
                "s4".to_string(),
                set(Family::V4, &[("192.0.2.1", 100), ("192.0.2.2", 7)]),
            ),
            ("s6".to_string(), set(Family::V6, &[("2001:db8::1", 300)])),
        ]))
        .await
        .unwrap();
        assert_eq!(
            read_set(&ns, "s4"),
            BTreeMap::from([("192.0.2.1".into(), 100), ("192.0.2.2".into(), 7)])
        );
        assert_eq!(
            read_set(&ns, "s6"),
            BTreeMap::from([("2001:db8::1".into(), 300)])
        );

        // A re-add refreshes the timeout of a present element, and adds new ones beside it.
        sink.add(BTreeMap::from([(
            "s4".to_string(),
            set(Family::V4, &[("192.0.2.1", 5000), ("192.0.2.3", 9)]),
        )]))
        .await
        .unwrap();
        assert_eq!(
            read_set(&ns, "s4"),
            BTreeMap::from([
                ("192.0.2.1".into(), 5000),
                ("192.0.2.2".into(), 7),
                ("192.0.2.3".into(), 9)
            ])
        );

        // An undeclared set fails the whole transaction, with nft's message.
        let err = sink
            .add(BTreeMap::from([
                ("s4".to_string(), set(Family::V4, &[("192.0.2.4", 10)])),
                ("nosuch".to_string(), set(Family::V4, &[("192.0.2.5", 10)])),
            ]))
            .await
            .unwrap_err();
        assert!(err.contains("nosuch"), "{err}");
        assert!(!read_set(&ns, "s4").contains_key("192.0.2.4"));

        // Nothing to add runs nothing.
        let unrunnable = NftSink::new(vec!["/nonexistent/nft".into()], "inet firewall").unwrap();
        unrunnable
            .add(BTreeMap::from([("s4".to_string(), set(Family::V4, &[]))]))
            .await
            .unwrap();
        assert!(
            unrunnable
                .add(BTreeMap::from([(
                    "s4".to_string(),
                    set(Family::V4, &[("192.0.2.1", 1)])
                )]))
                .await
                .unwrap_err()
                .contains("spawning")
        );
    }
}
