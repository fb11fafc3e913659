//! `metal-mesh up` on its embedded defaults: metal-api and lb-allocator in one process, the
//! lb-allocator allocating from the embedded metal-api, keys kept in the state directory, and
//! SIGTERM stopping both with exit code 0.

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn wait_for(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "{addr} not listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills the mesh when the test fails half-way.
struct Mesh(std::process::Child);

impl Drop for Mesh {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_runs_metal_api_and_lb_allocator_together() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (api, lb) = (free_addr(), free_addr());
    let child = Command::new(env!("CARGO_BIN_EXE_metal-mesh"))
        .args(["up", "--state-dir"])
        .arg(dir.path())
        .args([
            "--listen",
            &api.to_string(),
            "--lb-allocator-listen",
            &lb.to_string(),
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut mesh = Mesh(child);
    wait_for(api);
    wait_for(lb);
    let http = reqwest::Client::new();

    let health = http
        .get(format!("http://{api}/v1/health"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let health: serde_json::Value =
        serde_json::from_str(&health).unwrap_or_else(|e| panic!("{e}: {health}"));
    assert_eq!(health["status"], "healthy");
    let created = http
        .post(format!("http://{lb}/v1/loadbalancers"))
        .json(&serde_json::json!({"namespace": "default", "name": "web"}))
        .send()
        .await
        .unwrap();
    let status = created.status();
    let created: serde_json::Value = created.json().await.unwrap();
    assert_eq!(status, 201, "api {api}: {created}");
    assert_eq!(created["ips"][0]["network"], "internet");
    let ready = http
        .get(format!("http://{lb}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "lb-allocator reaches the embedded metal-api"
    );
    let keys = std::fs::read_to_string(dir.path().join("hmac-keys.env")).unwrap();
    assert!(keys.contains("METAL_API_HMAC_ADMIN_KEY="));

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mesh.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = mesh.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
