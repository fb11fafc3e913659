//! `metal-mesh up` on its embedded defaults: metal-api, lb-allocator and rule-compiler in one
//! process, the lb-allocator allocating from the embedded metal-api, the rule-compiler rendering
//! (dry run, never applying) the ruleset of the embedded Firewall and compiling on request, keys
//! and the Firewall kept in the state directory, and SIGTERM stopping all with exit code 0.

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

/// Polls GET `url` until it answers 200; returns the body.
async fn wait_ok(http: &reqwest::Client, url: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let last = match http.get(url).send().await {
            Ok(r) if r.status() == 200 => return r.json().await.unwrap(),
            Ok(r) => format!("{}: {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => e.to_string(),
        };
        assert!(Instant::now() < deadline, "{url} not 200; last: {last}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_runs_metal_api_lb_allocator_and_rule_compiler_together() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (api, lb, rc) = (free_addr(), free_addr(), free_addr());
    let child = Command::new(env!("CARGO_BIN_EXE_metal-mesh"))
        .args(["up", "--state-dir"])
        .arg(dir.path())
        .args([
            "--listen",
            &api.to_string(),
            "--lb-allocator-listen",
            &lb.to_string(),
            "--rule-compiler-listen",
            &rc.to_string(),
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::null())
        // The rule-compiler's Kubernetes comes from --kubeconfig only, never from here.
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .spawn()
        .unwrap();
    let mut mesh = Mesh(child);
    wait_for(api);
    wait_for(lb);
    wait_for(rc);
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

    // The rule-compiler: the embedded Firewall written to the state directory, its ruleset
    // rendered in a dry run (ready without touching this machine's nftables).
    let firewall_file = dir.path().join("firewall.yaml");
    let firewall = rule_compiler::read_firewall(&firewall_file).expect("firewall.yaml written");
    assert_eq!(
        std::fs::read_to_string(&firewall_file).unwrap(),
        include_str!("../../../compose/firewall.yaml")
    );
    wait_ok(&http, &format!("http://{rc}/readyz")).await;
    let status = wait_ok(&http, &format!("http://{rc}/v1/status")).await;
    assert_eq!(status["dryRun"], true, "{status}");
    assert_eq!(status["inSync"], true, "{status}");
    assert_eq!(status["compileError"], serde_json::Value::Null, "{status}");
    let ruleset = wait_ok(&http, &format!("http://{rc}/v1/ruleset")).await;
    assert_eq!(ruleset["dryRun"], true, "{ruleset}");
    assert!(
        ruleset["ruleset"]
            .as_str()
            .is_some_and(|r| r.contains("table inet firewall")),
        "{ruleset}"
    );
    let compiled = http
        .post(format!("http://{rc}/v1/compile"))
        .json(&serde_json::json!({
            "firewall": firewall,
            "policies": [{
                "apiVersion": "metal-stack.io/v1", "kind": "ClusterwideNetworkPolicy",
                "metadata": {"name": "https-out", "namespace": "firewall"},
                "spec": {"egress": [{"to": [{"cidr": "1.2.3.0/24"}], "ports": [{"protocol": "TCP", "port": 443}]}]},
            }],
        }))
        .send()
        .await
        .unwrap();
    let status = compiled.status();
    let compiled: serde_json::Value = compiled.json().await.unwrap();
    assert_eq!(status, 200, "{compiled}");
    let text = compiled["ruleset"].as_str().unwrap();
    assert!(text.contains("table inet firewall"), "{text}");
    assert!(
        text.contains("accept traffic for np https-out tcp"),
        "{text}"
    );
    assert_eq!(compiled["ignored"], serde_json::json!([]), "{compiled}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mesh.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = mesh.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}
