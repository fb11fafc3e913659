//! Helpers for black-box tests: locate (and if needed build) the workspace's binaries,
//! start them as child processes, and wait for them to listen.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The workspace root (parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration crate lives inside the workspace")
        .to_path_buf()
}

/// Whether `CI` is set (to anything but empty, `false` or `0`): tests that skip without a tool
/// elsewhere fail without it there.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Release when this crate was built optimized (benches), debug otherwise (tests).
const RELEASE: bool = !cfg!(debug_assertions);

/// The directory `cargo` writes this profile's binaries to.
fn target_profile_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join(if RELEASE { "release" } else { "debug" })
}

static BUILD_LOCK: Mutex<bool> = Mutex::new(false);

/// Path to a workspace binary. The first call in a test process builds the workspace, so a
/// stale binary is never used: in tests with `cargo test --workspace --no-run`, the build step
/// of the README's test command itself, so it finds everything built and features unified
/// the same way (a narrower `cargo build --bin X` unifies dependency features differently and
/// cargo would rebuild shared dependencies back and forth). Every service package has an
/// integration test, which makes `cargo test` build its binaries. Benchmarks (release) run
/// `cargo build --release --workspace --bins`.
pub fn binary(name: &str) -> PathBuf {
    let mut built = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !*built {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        if RELEASE {
            build.args(["build", "--quiet", "--release", "--workspace", "--bins"]);
        } else {
            build.args(["test", "--quiet", "--workspace", "--no-run"]);
        }
        let status = build
            .current_dir(workspace_root())
            .status()
            .expect("run cargo");
        assert!(status.success(), "building the workspace failed: {build:?}");
        *built = true;
    }
    let path = target_profile_dir().join(name);
    assert!(path.exists(), "{} missing after build", path.display());
    path
}

/// A reqwest client. reqwest is built without a default TLS crypto provider (one provider,
/// ring, for the whole workspace), so install it before the first client.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// The Compose command, as the README's tour picks it: `docker-compose` (v1) if installed, else
/// the `docker compose` plugin; None without either.
pub fn compose_command() -> Option<Vec<String>> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else if works("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else {
        None
    }
}

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
}

/// Waits until `addr` accepts TCP connections, or panics after `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{addr} did not start listening within {timeout:?}");
}

pub mod auth;
pub mod chart;
pub mod extensions;
pub mod gardener;
pub mod kube;
pub mod lb_allocator;
pub mod machines;
pub mod metal_api;
pub mod netns;
pub mod rule_compiler;

/// Polls `probe` every `every` until it yields a value; fails naming `what` after `deadline`.
pub async fn eventually<T, F, Fut>(
    what: &str,
    deadline: Duration,
    every: Duration,
    mut probe: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(every).await;
    }
}
