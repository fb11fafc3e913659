//! Network namespaces for tests and benchmarks: a real kernel ruleset without touching the
//! host's. Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); [`NetNs::available`] says whether it can
//! work here, and in CI (env `CI` set) its absence is a failure, not a skip.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// A named network namespace, deleted on drop.
pub struct NetNs {
    pub name: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

impl NetNs {
    /// Whether namespaces can be made here (root with `ip` and `nft`). Outside CI a `false`
    /// lets a test skip; with `CI` set it panics instead.
    pub fn available() -> bool {
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
        let ok = root && tools;
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but network namespaces are not available (root: {root}, ip and nft: {tools})"
            );
            eprintln!("SKIPPED: needs root, ip and nft (root: {root}, tools: {tools})");
        }
        ok
    }

    /// A fresh namespace `<prefix>-<pid>-<n>` with its loopback up.
    pub fn new(prefix: &str) -> Self {
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let out = run("ip", &["netns", "add", &name]);
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Self { name };
        ns.ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `argv` inside the namespace.
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut args = vec!["netns", "exec", self.name.as_str()];
        args.extend_from_slice(argv);
        run("ip", &args)
    }

    /// Runs `argv` inside the namespace and panics with its stderr when it fails.
    pub fn ok(&self, argv: &[&str]) -> String {
        let out = self.exec(argv);
        assert!(
            out.status.success(),
            "{argv:?} in {}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `argv` inside the namespace and returns its stdout, whatever its exit status.
    pub fn ok_output(&self, argv: &[&str]) -> Vec<u8> {
        self.exec(argv).stdout
    }

    /// The argument vector prefix that runs a program in this namespace.
    pub fn prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .map(String::from)
            .to_vec()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}
