//! The rule-compiler binary as a process inside a firewall namespace, talking to a
//! kube-testserver on the host through a unix-socket relay (no interface is added to the
//! host), with its HTTP port relayed back the same way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::netns::{NetNs, Probe};

/// Relays `host_addr` (a TCP server on the host's loopback) to `127.0.0.1:<port>` inside `ns`.
pub struct Tunnel {
    _inside: Probe,
    _host: Child,
}

impl Tunnel {
    pub fn into_ns(dir: &Path, ns: &NetNs, host_addr: &str, port: u16) -> Self {
        let socket = dir.join(format!("tunnel-{port}.sock"));
        let mut host = Command::new(crate::binary("net-probe"))
            .args([
                "relay",
                &format!("unix:{}", socket.display()),
                &format!("tcp:{host_addr}"),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("host relay");
        wait_listening(&mut host);
        let inside = Probe::start(
            ns,
            &[
                "relay",
                &format!("tcp:127.0.0.1:{port}"),
                &format!("unix:{}", socket.display()),
            ],
        );
        Self {
            _inside: inside,
            _host: host,
        }
    }

    /// Relays `127.0.0.1:<port>` inside `ns` to `host_addr` on the host.
    pub fn out_of_ns(dir: &Path, ns: &NetNs, port: u16, host_addr: &str) -> Self {
        let socket = dir.join(format!("tunnel-out-{port}.sock"));
        let inside = Probe::start(
            ns,
            &[
                "relay",
                &format!("unix:{}", socket.display()),
                &format!("tcp:127.0.0.1:{port}"),
            ],
        );
        let mut host = Command::new(crate::binary("net-probe"))
            .args([
                "relay",
                &format!("tcp:{host_addr}"),
                &format!("unix:{}", socket.display()),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("host relay");
        wait_listening(&mut host);
        Self {
            _inside: inside,
            _host: host,
        }
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let _ = self._host.kill();
        let _ = self._host.wait();
    }
}

fn wait_listening(child: &mut Child) {
    use std::io::BufRead as _;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "listening");
}

/// A rule-compiler process in `ns`; killed on drop.
pub struct RuleCompiler {
    child: Child,
    ns: String,
    args: Vec<String>,
    log: PathBuf,
}

impl RuleCompiler {
    /// `ip netns exec NS rule-compiler ARGS` with stdout/stderr appended to `log`.
    pub fn start(ns: &NetNs, args: &[String], log: &Path) -> Self {
        let child = spawn(&ns.name, args, log);
        Self {
            child,
            ns: ns.name.clone(),
            args: args.to_vec(),
            log: log.to_path_buf(),
        }
    }

    /// SIGKILL, as a crash would; nothing gets to clean up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.ns, &self.args, &self.log);
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn spawn(ns: &str, args: &[String], log: &Path) -> Child {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let show = std::env::var_os("MESH_TEST_LOGS").is_some();
    Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(crate::binary("rule-compiler"))
        .args(args)
        .stdout(if show {
            Stdio::inherit()
        } else {
            Stdio::from(file.try_clone().unwrap())
        })
        .stderr(if show {
            Stdio::inherit()
        } else {
            Stdio::from(file)
        })
        .spawn()
        .expect("start rule-compiler")
}

impl Drop for RuleCompiler {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T>(
    timeout: Duration,
    what: &str,
    check: impl AsyncFnMut() -> Option<T>,
) -> T {
    eventually_or(timeout, what, check, String::new).await
}

/// [`eventually`], with `context()` in the failure message (e.g. the last value seen).
pub async fn eventually_or<T>(
    timeout: Duration,
    what: &str,
    mut check: impl AsyncFnMut() -> Option<T>,
    context: impl Fn() -> String,
) -> T {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what} {}",
            context()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
