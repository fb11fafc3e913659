//! `metal-mesh up` on its embedded defaults: metal-api, lb-allocator, rule-compiler and
//! volume-manager in one process, the lb-allocator allocating from the embedded metal-api, the
//! rule-compiler rendering (dry run, never applying) the ruleset of the embedded Firewall and
//! compiling on request, the volume-manager serving (CSI socket in the state directory) without
//! devices, keys and the Firewall kept in the state directory, and SIGTERM stopping all with
//! exit code 0. Without `--kubeconfig` there is no machine-lifecycle (the banner says so); with
//! one (kube-testserver with MCM's CRDs) it serves its REST API and gRPC socket and its Machine
//! controller allocates a Machine's metal machine from the embedded metal-api. With
//! `--volume-manager-devices` (as root with lvm2 and loop devices) the volume-manager creates its
//! volume group from them.

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
async fn up_runs_metal_api_lb_allocator_rule_compiler_and_volume_manager_together() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let (api, lb, rc, vm) = (free_addr(), free_addr(), free_addr(), free_addr());
    let ml = free_addr();
    let vg = format!("mmup{}", std::process::id());
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
            "--volume-manager-listen",
            &vm.to_string(),
            "--machine-lifecycle-listen",
            &ml.to_string(),
            // This machine's volume groups stay as they are whatever it has.
            "--volume-manager-vg-name",
            &vg,
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::piped())
        // The rule-compiler's Kubernetes comes from --kubeconfig only, never from here.
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        // Devices come from --volume-manager-devices only, never from here.
        .env("VOLUME_MANAGER_DEVICES", "/dev/null")
        .spawn()
        .unwrap();
    let mut mesh = Mesh(child);
    let printed = printed_lines(&mut mesh.0);
    wait_for(api);
    wait_for(lb);
    wait_for(rc);
    wait_for(vm);

    // Without the token nothing that changes state answers; with it, everything does.
    let anonymous = reqwest::Client::new();
    let refused = anonymous
        .post(format!("http://{lb}/v1/loadbalancers"))
        .json(&serde_json::json!({"namespace": "default", "name": "web"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    let refused = anonymous
        .post(format!("http://{rc}/v1/compile"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // Reads want a credential too (only probes and the API description are open).
    for url in [
        format!("http://{vm}/v1/volumes"),
        format!("http://{api}/metrics"),
    ] {
        let refused = anonymous.get(&url).send().await.unwrap();
        assert_eq!(refused.status(), 401, "{url}");
    }
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let http = bearer_client(token.trim());

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

    // The volume-manager: alive, its CSI socket in the state directory, and without devices not
    // ready (its volume group does not exist) or, where lvm cannot run, saying so; `up` runs on.
    check_volume_manager_without_devices(&http, vm, &vg).await;
    let socket = dir.path().join("volume-manager/csi.sock");
    assert!(
        std::fs::metadata(&socket).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt as _;
            m.file_type().is_socket()
        }),
        "{} is the CSI socket",
        socket.display()
    );

    // The curl `up` printed works as printed, with the token file it names.
    let curl = wait_printed(&printed, "curl ");
    let curl = &curl[curl.find("curl ").unwrap()..];
    assert!(
        curl.contains("api-token") && curl.contains(&lb.to_string()),
        "{curl}"
    );
    let out = Command::new("bash").args(["-c", curl]).output().unwrap();
    assert!(out.status.success(), "{curl}: {out:?}");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{curl} printed no JSON ({e}): {out:?}"));
    assert_eq!(listed[0]["name"], "web", "{listed}");

    // No Kubernetes, no Machines: the machine-lifecycle is not started, and the banner says why.
    let banner = wait_printed(&printed, "machine-lifecycle");
    assert!(
        banner.contains("not started") && banner.contains("--kubeconfig"),
        "{banner}"
    );
    assert!(
        std::net::TcpStream::connect_timeout(&ml, Duration::from_millis(200)).is_err(),
        "nothing listens on {ml}"
    );
    assert!(!dir.path().join("machine-lifecycle").exists());

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mesh.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = mesh.0.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// A client that sends `Authorization: Bearer <token>`.
fn bearer_client(token: &str) -> reqwest::Client {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    value.set_sensitive(true);
    reqwest::Client::builder()
        .default_headers(reqwest::header::HeaderMap::from_iter([(
            reqwest::header::AUTHORIZATION,
            value,
        )]))
        .build()
        .unwrap()
}

/// Collects what `child` prints on stdout, in the background.
fn printed_lines(child: &mut std::process::Child) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
    use std::io::BufRead as _;
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let stdout = child.stdout.take().expect("stdout piped");
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// The first printed line containing `needle`, waiting for it.
fn wait_printed(lines: &std::sync::Mutex<Vec<String>>, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(line) = lines.lock().unwrap().iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        assert!(
            Instant::now() < deadline,
            "nothing printed with {needle:?}: {lines:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// GET `url`: status and body (JSON, or the text as a JSON string).
async fn get(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, body)
}

/// The volume-manager of `up` without devices: /healthz 200; /readyz 503 naming the missing
/// volume group `vg` (once lvm has been asked) or, on a machine where lvm cannot run (no lvm2,
/// not root), the lvm failure; /v1/volumegroups lists `vg` as absent, or is a 503 problem when
/// lvm cannot be read.
async fn check_volume_manager_without_devices(http: &reqwest::Client, vm: SocketAddr, vg: &str) {
    let (status, body) = get(http, &format!("http://{vm}/healthz")).await;
    assert_eq!(status, 200, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let reason = loop {
        let (status, body) = get(http, &format!("http://{vm}/readyz")).await;
        assert_eq!(status, 503, "no volume group {vg} without devices: {body}");
        let reason = body["checks"]["volume-groups"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !reason.contains("being set up") {
            break reason;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        reason.contains(&format!("volume group {vg} does not exist")) || reason.contains("lvm"),
        "/readyz names why: {reason}"
    );
    let (status, groups) = get(http, &format!("http://{vm}/v1/volumegroups")).await;
    match status {
        200 => {
            assert_eq!(groups[0]["name"], vg, "{groups}");
            assert_eq!(groups[0]["default"], true, "{groups}");
            assert_eq!(groups[0]["present"], false, "{groups}");
        }
        // lvm cannot be read here: a problem document saying why.
        500 | 503 => assert!(groups["detail"].as_str().is_some(), "{groups}"),
        other => panic!("/v1/volumegroups answered {other}: {groups}"),
    }
}

/// Whether lvm can run here on loop devices (root, lvm2, loop-control); under CI it must.
fn lvm_here() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let lvm = Command::new("lvm")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let ok = root && lvm && std::path::Path::new("/dev/loop-control").exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the lvm test: root {root}, lvm2 {lvm}"
        );
        eprintln!("skipped: needs root, lvm2 and loop devices");
    }
    ok
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A loop device over a sparse file; on drop the volume group on it is removed and the device
/// detached.
struct LoopVg {
    dev: String,
    vg: String,
    _dir: tempfile::TempDir,
}

impl Drop for LoopVg {
    fn drop(&mut self) {
        let _ = Command::new("lvm")
            .args(["vgremove", "--driverloaded", "n", "-f", &self.vg])
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .output();
        let _ = Command::new("losetup").args(["-d", &self.dev]).output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_creates_the_volume_group_from_the_devices_it_is_given() {
    if !lvm_here() {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let disk = tempfile::tempdir().unwrap();
    let file = disk.path().join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let dev = run("losetup", &["--find", "--show", file.to_str().unwrap()]);
    let vg = format!("mmupdev{}", std::process::id());
    let _loop = LoopVg {
        dev: dev.clone(),
        vg: vg.clone(),
        _dir: disk,
    };
    let (api, lb, rc, vm) = (free_addr(), free_addr(), free_addr(), free_addr());
    let child = Command::new(env!("CARGO_BIN_EXE_metal-mesh"))
        .args(["up", "--state-dir"])
        .arg(dir.path())
        .args(["--listen", &api.to_string()])
        .args(["--lb-allocator-listen", &lb.to_string()])
        .args(["--rule-compiler-listen", &rc.to_string()])
        .args(["--volume-manager-listen", &vm.to_string()])
        .args(["--volume-manager-vg-name", &vg])
        .args(["--volume-manager-devices", &dev])
        .args(["--log-level", "warn"])
        .stdout(Stdio::null())
        .env("KUBECONFIG", dir.path().join("no-such-kubeconfig"))
        .spawn()
        .unwrap();
    let mut mesh = Mesh(child);
    wait_for(vm);
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let http = bearer_client(token.trim());
    wait_ok(&http, &format!("http://{vm}/readyz")).await;
    let groups = wait_ok(&http, &format!("http://{vm}/v1/volumegroups")).await;
    assert_eq!(groups[0]["name"], vg.as_str(), "{groups}");
    assert_eq!(groups[0]["present"], true, "{groups}");
    assert_eq!(groups[0]["pvs"][0]["name"], dev.as_str(), "{groups}");
    let tags = run(
        "lvm",
        &[
            "vgs",
            "--noheadings",
            "-o",
            "vg_tags",
            "--driverloaded",
            "n",
            &vg,
        ],
    );
    assert!(tags.contains("csi-lvm-driver"), "{tags}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mesh.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(mesh.0.wait().unwrap().code(), Some(0));
}

/// kube-testserver with the CRDs of the objects `up`'s controllers watch and write: MCM's
/// Machines and MachineClasses (upstream's CRDs), MetalLB's (lb-allocator), the CWNP and the
/// FirewallMonitor (rule-compiler). `None` where the upstream CRDs are absent (outside CI).
fn cluster() -> Option<kube_testserver::Running> {
    let upstream = kube_resources::contracts::upstream_crds()?;
    let mut crds: Vec<std::path::PathBuf> = [
        "machine.sapcloud.io_machines.yaml",
        "machine.sapcloud.io_machineclasses.yaml",
        "metallb.io_ipaddresspools.yaml",
        "metallb.io_bgppeers.yaml",
        "metallb.io_bgpadvertisements.yaml",
        "firewall.metal-stack.io_firewallmonitors.yaml",
    ]
    .iter()
    .map(|f| upstream.join(f))
    .collect();
    crds.push(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../helm/metal-mesh/crds/metal-stack.io_clusterwidenetworkpolicies.yaml"),
    );
    Some(
        kube_testserver::Running::start(kube_testserver::Config {
            crds,
            ..Default::default()
        })
        .expect("kube-testserver"),
    )
}

/// `POST` `object` to kube-testserver's `path`; panics unless it is created.
async fn create(http: &reqwest::Client, server: &str, path: &str, object: serde_json::Value) {
    let r = http
        .post(format!("{server}{path}"))
        .json(&object)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 201, "POST {path}: {body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_a_kubeconfig_runs_the_machine_lifecycle_against_that_cluster() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(server) = cluster() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kube_testserver::kubeconfig(&server.url())).unwrap();
    let (api, lb, rc, vm, ml) = (
        free_addr(),
        free_addr(),
        free_addr(),
        free_addr(),
        free_addr(),
    );
    let vg = format!("mmupml{}", std::process::id());
    let child = Command::new(env!("CARGO_BIN_EXE_metal-mesh"))
        .args(["up", "--state-dir"])
        .arg(dir.path())
        .args(["--listen", &api.to_string()])
        .args(["--lb-allocator-listen", &lb.to_string()])
        .args(["--rule-compiler-listen", &rc.to_string()])
        .args(["--volume-manager-listen", &vm.to_string()])
        .args(["--machine-lifecycle-listen", &ml.to_string()])
        .args(["--machine-lifecycle-namespace", "default"])
        .args(["--volume-manager-vg-name", &vg])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["--log-level", "warn"])
        .stdout(Stdio::piped())
        .env("VOLUME_MANAGER_DEVICES", "/dev/null")
        // Another cluster's Nodes never come from the environment.
        .env(
            "MACHINE_LIFECYCLE_TARGET_KUBECONFIG",
            dir.path().join("no-such-kubeconfig"),
        )
        .spawn()
        .unwrap();
    let mut mesh = Mesh(child);
    let printed = printed_lines(&mut mesh.0);
    wait_for(api);
    wait_for(ml);
    let socket = dir.path().join("machine-lifecycle/driver.sock");
    let banner = wait_printed(&printed, "machine-lifecycle");
    assert!(
        banner.contains(&format!("http://{ml}"))
            && banner.contains("Machines of namespace default")
            && banner.contains(&kubeconfig.display().to_string())
            && banner.contains(&format!("unix://{}", socket.display())),
        "{banner}"
    );

    // Its API wants the token like every other; with it, the (still empty) Machines.
    let anonymous = reqwest::Client::new();
    let refused = anonymous
        .get(format!("http://{ml}/v1/machines"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let token = std::fs::read_to_string(dir.path().join("api-token")).unwrap();
    let http = bearer_client(token.trim());
    wait_ok(&http, &format!("http://{ml}/readyz")).await;
    let listed = wait_ok(&http, &format!("http://{ml}/v1/machines")).await;
    assert_eq!(listed, serde_json::json!([]), "{listed}");
    assert!(
        std::fs::metadata(&socket).is_ok_and(|m| {
            use std::os::unix::fs::FileTypeExt as _;
            m.file_type().is_socket()
        }),
        "{} is the gRPC driver's socket",
        socket.display()
    );

    // A MachineClass whose Secret points at the embedded metal-api, and a Machine of it: the
    // controller allocates a machine and records its providerID.
    let keys = std::fs::read_to_string(dir.path().join("hmac-keys.env")).unwrap();
    let admin = keys
        .lines()
        .find_map(|l| l.strip_prefix("METAL_API_HMAC_ADMIN_KEY="))
        .unwrap()
        .to_string();
    let metal = metal_api_sdk::Client::new(metal_api_sdk::client::ClientConfig::new(
        format!("http://{api}"),
        metal_api_sdk::client::Auth::Hmac {
            kind: metal_api_sdk::auth::HmacKind::Admin,
            key: admin.clone(),
        },
    ))
    .unwrap();
    let project = "00000000-0000-0000-0000-000000000001";
    let network = metal
        .allocate_network(&metal_api_sdk::model::NetworkAllocateRequest {
            projectid: project.into(),
            partitionid: "fra-equ01".into(),
            name: Some("up-test".into()),
            ..Default::default()
        })
        .await
        .expect("a private network of the project");
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kube = reqwest::Client::new();
    let url = server.url();
    create(
        &kube,
        &url,
        "/api/v1/namespaces/default/secrets",
        serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "metal-credentials", "namespace": "default"},
            "data": {"metalAPIURL": b64(&format!("http://{api}")), "metalAPIHMac": b64(&admin)},
        }),
    )
    .await;
    create(
        &kube,
        &url,
        "/apis/machine.sapcloud.io/v1alpha1/namespaces/default/machineclasses",
        serde_json::json!({
            "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineClass",
            "metadata": {"name": "worker", "namespace": "default"},
            "provider": "metal",
            "providerSpec": {
                "partition": "fra-equ01", "size": "c1-medium-x86", "image": "ubuntu-24.04.20260101",
                "project": project, "network": network.id,
                "tags": ["cluster.metal-stack.io/id=up-test"],
            },
            "secretRef": {"name": "metal-credentials", "namespace": "default"},
        }),
    )
    .await;
    create(
        &kube,
        &url,
        "/apis/machine.sapcloud.io/v1alpha1/namespaces/default/machines",
        serde_json::json!({
            "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
            "metadata": {"name": "up-worker-1", "namespace": "default"},
            "spec": {"class": {"kind": "MachineClass", "name": "worker"}},
        }),
    )
    .await;
    let machine_url =
        format!("{url}/apis/machine.sapcloud.io/v1alpha1/namespaces/default/machines/up-worker-1");
    let deadline = Instant::now() + Duration::from_secs(60);
    let provider_id = loop {
        let machine: serde_json::Value = kube
            .get(&machine_url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(id) = machine["spec"]["providerID"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "no providerID: {machine}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // metal:///<partition>/<machine id>, as upstream's provider writes it.
    let id = provider_id
        .strip_prefix("metal:///fra-equ01/")
        .unwrap_or_else(|| panic!("{provider_id}"));
    let allocated = metal.get_machine(id).await.unwrap();
    let allocation = allocated.allocation.expect("allocated");
    assert_eq!(allocation.hostname, "up-worker-1");
    assert_eq!(allocation.project, project);
    let listed = wait_ok(&http, &format!("http://{ml}/v1/machines")).await;
    assert_eq!(listed[0]["name"], "up-worker-1", "{listed}");
    assert_eq!(listed[0]["providerID"], provider_id.as_str(), "{listed}");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mesh.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(mesh.0.wait().unwrap().code(), Some(0));
    assert!(!socket.exists(), "the gRPC socket is removed at shutdown");
}

#[test]
fn gardener_without_a_kubeconfig_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_metal-mesh"))
        .args(["up", "--gardener", "--state-dir"])
        .arg(&state)
        .args(["--listen", &free_addr().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--gardener needs --kubeconfig"), "{stderr}");
    assert!(!state.exists(), "nothing written");
}

/// The shoot of `examples/shoot-metal`.
const SHOOT_NS: &str = "shoot--local--demo";
const SHOOT_UID: &str = "1d3f5b7c-0000-4000-8000-0000000de001";

/// The files of `examples/shoot-metal` in the order the README's walk applies them, with the
/// collection each document is created in.
const EXAMPLES: &[(&str, &str)] = &[
    ("00-namespace.yaml", "/api/v1/namespaces"),
    (
        "10-cluster.yaml",
        "/apis/extensions.gardener.cloud/v1alpha1/clusters",
    ),
    (
        "20-cloudprovider-secret.yaml",
        "/api/v1/namespaces/shoot--local--demo/secrets",
    ),
    (
        "30-infrastructure.yaml",
        "/apis/extensions.gardener.cloud/v1alpha1/namespaces/shoot--local--demo/infrastructures",
    ),
    (
        "40-operatingsystemconfigs.yaml",
        "/apis/extensions.gardener.cloud/v1alpha1/namespaces/shoot--local--demo/operatingsystemconfigs",
    ),
    (
        "45-dnsrecord.yaml",
        "/apis/extensions.gardener.cloud/v1alpha1/namespaces/shoot--local--demo/dnsrecords",
    ),
    (
        "50-controlplane.yaml",
        "/apis/extensions.gardener.cloud/v1alpha1/namespaces/shoot--local--demo/controlplanes",
    ),
    (
        "60-worker.yaml",
        "/apis/extensions.gardener.cloud/v1alpha1/namespaces/shoot--local--demo/workers",
    ),
];

/// Creates the documents of `examples/shoot-metal/<file>` (YAML, as kubectl apply sends them
/// once converted), the metal-api URL and admin key put in as the README says.
async fn apply_example(
    kube: &reqwest::Client,
    server: &str,
    file: &str,
    metal_url: &str,
    admin_key: &str,
) {
    let (_, path) = EXAMPLES.iter().find(|(f, _)| *f == file).unwrap();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/shoot-metal")
            .join(file),
    )
    .unwrap()
    .replace("http://127.0.0.1:8080", metal_url)
    .replace("REPLACE-WITH-METAL-API-HMAC-ADMIN-KEY", admin_key);
    for doc in text.split("\n---\n") {
        let r = kube
            .post(format!("{server}{path}"))
            .header("content-type", "application/yaml")
            .body(doc.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        assert_eq!(status, 201, "{file}: {body}");
    }
}

/// Polls `probe` every 200 ms until it gives a value or `secs` passed.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// GET a kube-testserver path: the object, or `None` on 404.
async fn kube_get(kube: &reqwest::Client, url: &str) -> Option<serde_json::Value> {
    let r = kube.get(url).send().await.unwrap();
    if r.status() == 404 {
        return None;
    }
    assert_eq!(r.status(), 200, "GET {url}");
    Some(r.json().await.unwrap())
}

/// What metal-api holds that a shoot could change: networks (with prefixes), IPs and machine
/// allocations.
async fn metal_state(metal: &metal_api_sdk::Client) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut networks: Vec<String> = metal
        .list_networks()
        .await
        .unwrap()
        .into_iter()
        .map(|n| format!("{} {}", n.id, n.prefixes.join(",")))
        .collect();
    let mut ips: Vec<String> = metal
        .list_ips()
        .await
        .unwrap()
        .into_iter()
        .map(|ip| ip.ipaddress)
        .collect();
    let mut allocated: Vec<String> = metal
        .list_machines()
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.allocation.is_some())
        .map(|m| m.id)
        .collect();
    networks.sort();
    ips.sort();
    allocated.sort();
    (networks, ips, allocated)
}

/// The README's walk "A shoot of type metal": kube-testserver with the stand-in CRDs, `up
/// --gardener`, the objects of `examples/shoot-metal` as gardenlet writes them, then deleted
/// in gardenlet's order, and metal-api back to what it was.
#[tokio::test(flavor = "multi_thread")]
async fn up_with_gardener_walks_a_shoot_of_type_metal_through_the_embedded_metal_api() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let crd_dir = dir.path().join("crds");
    std::fs::create_dir_all(&crd_dir).unwrap();
    let mut crds = Vec::new();
    for (file, yaml) in kube_resources::crds::stand_in_crds_yaml().unwrap() {
        let path = crd_dir.join(file);
        std::fs::write(&path, yaml).unwrap();
        crds.push(path);
    }
    crds.push(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../helm/metal-mesh/crds/metal-stack.io_clusterwidenetworkpolicies.yaml"),
    );
    let server = kube_testserver::Running::start(kube_testserver::Config {
        crds,
        ..Default::default()
    })
    .expect("kube-testserver");
    let url = server.url();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, kube_testserver::kubeconfig(&url)).unwrap();
    let (api, lb, rc, vm, ml, gw) = (
        free_addr(),
        free_addr(),
        free_addr(),
        free_addr(),
        free_addr(),
        free_addr(),
    );
    let state = dir.path().join("state");
    let child = Command::new(env!("CARGO_BIN_EXE_metal-mesh"))
        .args(["up", "--state-dir"])
        .arg(&state)
        .args(["--listen", &api.to_string()])
        .args(["--lb-allocator-listen", &lb.to_string()])
        .args(["--rule-compiler-listen", &rc.to_string()])
        .args(["--volume-manager-listen", &vm.to_string()])
        .args(["--machine-lifecycle-listen", &ml.to_string()])
        .args(["--gardener-webhooks-listen", &gw.to_string()])
        .args(["--machine-lifecycle-namespace", SHOOT_NS])
        .args([
            "--volume-manager-vg-name",
            &format!("mmupgw{}", std::process::id()),
        ])
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--gardener")
        .args(["--log-level", "warn"])
        .stdout(Stdio::piped())
        .env("VOLUME_MANAGER_DEVICES", "/dev/null")
        .spawn()
        .unwrap();
    let mut mesh = Mesh(child);
    let printed = printed_lines(&mut mesh.0);
    wait_for(api);
    wait_for(ml);
    wait_for(gw);
    let banner = wait_printed(&printed, "gardener-webhooks");
    assert!(
        banner.contains(&format!("http://{gw}"))
            && banner.contains("seed webhooks controlplane,seedprovider,shoot")
            && banner.contains("ubuntu:24.4=ubuntu-24.04.20260101"),
        "{banner}"
    );
    let banner = wait_printed(&printed, "machine-lifecycle");
    assert!(
        banner.contains(&format!(
            "Machines of namespace {SHOOT_NS}, scaling its MachineDeployments"
        )),
        "{banner}"
    );
    // Like every service of `up`, its API wants the token; its webhooks do not.
    let token = std::fs::read_to_string(state.join("api-token")).unwrap();
    let http = bearer_client(token.trim());
    wait_ok(&http, &format!("http://{gw}/readyz")).await;
    let anonymous = reqwest::Client::new();
    let refused = anonymous
        .post(format!("http://{gw}/v1/render/ignition"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let keys = std::fs::read_to_string(state.join("hmac-keys.env")).unwrap();
    let admin = keys
        .lines()
        .find_map(|l| l.strip_prefix("METAL_API_HMAC_ADMIN_KEY="))
        .unwrap()
        .to_string();
    let metal_url = format!("http://{api}");
    let metal = metal_api_sdk::Client::new(metal_api_sdk::client::ClientConfig::new(
        metal_url.clone(),
        metal_api_sdk::client::Auth::Hmac {
            kind: metal_api_sdk::auth::HmacKind::Admin,
            key: admin.clone(),
        },
    ))
    .unwrap();
    let before = metal_state(&metal).await;

    let kube = reqwest::Client::new();
    let ext = format!("{url}/apis/extensions.gardener.cloud/v1alpha1/namespaces/{SHOOT_NS}");
    let mcm = format!("{url}/apis/machine.sapcloud.io/v1alpha1/namespaces/{SHOOT_NS}");
    for (file, _) in &EXAMPLES[..4] {
        apply_example(&kube, &url, file, &metal_url, &admin).await;
    }
    // Infrastructure: the node network, allocated in metal-api and tagged with the shoot.
    let nodes = eventually("the Infrastructure's nodesCIDR", 60, || async {
        let infra = kube_get(&kube, &format!("{ext}/infrastructures/demo")).await?;
        Some(infra.pointer("/status/nodesCIDR")?.as_str()?.to_string())
    })
    .await;
    let network = metal
        .find_networks(&metal_api_sdk::model::NetworkFindRequest {
            labels: Some(
                [(
                    "cluster.metal-stack.io/id".to_string(),
                    SHOOT_UID.to_string(),
                )]
                .into(),
            ),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(network.len(), 1, "{network:?}");
    assert_eq!(network[0].prefixes, [nodes]);

    // OperatingSystemConfigs: Ignition userdata in osc-result-<name>.
    apply_example(
        &kube,
        &url,
        "40-operatingsystemconfigs.yaml",
        &metal_url,
        &admin,
    )
    .await;
    for pool in ["small", "medium"] {
        let secret = eventually("the OSC's userdata", 60, || async {
            kube_get(
                &kube,
                &format!("{url}/api/v1/namespaces/{SHOOT_NS}/secrets/osc-result-osc-{pool}"),
            )
            .await
        })
        .await;
        assert!(secret.pointer("/data/cloud_config").is_some(), "{secret}");
    }

    // The kube-apiserver's DNSRecord, then the ControlPlane: its ManagedResources. Then the
    // Worker: two MachineDeployments, a Machine each, allocated in metal-api with the pool's
    // userdata; no kubelet joins here, so they stay Pending.
    apply_example(&kube, &url, "45-dnsrecord.yaml", &metal_url, &admin).await;
    apply_example(&kube, &url, "50-controlplane.yaml", &metal_url, &admin).await;
    eventually("the ControlPlane reconciled", 60, || async {
        let cp = kube_get(&kube, &format!("{ext}/controlplanes/demo")).await?;
        (cp.pointer("/status/lastOperation/state")? == "Succeeded").then_some(())
    })
    .await;
    let managed = format!(
        "{url}/apis/resources.gardener.cloud/v1alpha1/namespaces/{SHOOT_NS}/managedresources"
    );
    let listed = kube_get(&kube, &managed).await.unwrap();
    assert!(
        !listed["items"].as_array().unwrap().is_empty(),
        "the ControlPlane's ManagedResources: {listed}"
    );
    apply_example(&kube, &url, "60-worker.yaml", &metal_url, &admin).await;
    let machines = eventually("two Machines with providerIDs", 120, || async {
        let list = kube_get(&kube, &format!("{mcm}/machines")).await?;
        let items = list["items"].as_array()?.clone();
        (items.len() == 2
            && items
                .iter()
                .all(|m| m.pointer("/spec/providerID").is_some()))
        .then_some(items)
    })
    .await;
    let deployments = kube_get(&kube, &format!("{mcm}/machinedeployments"))
        .await
        .unwrap();
    assert_eq!(deployments["items"].as_array().unwrap().len(), 2);
    let mut sizes = Vec::new();
    for machine in &machines {
        let name = machine.pointer("/metadata/name").unwrap().as_str().unwrap();
        let provider_id = machine
            .pointer("/spec/providerID")
            .unwrap()
            .as_str()
            .unwrap();
        let id = provider_id.strip_prefix("metal:///fra-equ01/").unwrap();
        let allocated = metal.get_machine(id).await.unwrap();
        let allocation = allocated.allocation.expect("allocated");
        assert_eq!(allocation.hostname, name);
        assert!(
            allocation
                .user_data
                .as_deref()
                .is_some_and(|u| u.contains("kubelet.service")),
            "{name}: the pool's Ignition userdata"
        );
        sizes.push(allocated.size.unwrap().id);
        let phase = eventually("a phase", 30, || async {
            let m = kube_get(&kube, &format!("{mcm}/machines/{name}")).await?;
            Some(
                m.pointer("/status/currentStatus/phase")?
                    .as_str()?
                    .to_string(),
            )
        })
        .await;
        assert_eq!(phase, "Pending", "{name}: no Node joins here");
    }
    sizes.sort();
    assert_eq!(sizes, ["c1-medium-x86", "n1-medium-x86"]);

    // Deletion in gardenlet's order: Worker (the machines freed), ControlPlane,
    // Infrastructure (the node network freed); metal-api is back where it was.
    for (plural, what) in [
        ("workers", "the Worker"),
        ("controlplanes", "the ControlPlane"),
        ("infrastructures", "the Infrastructure"),
    ] {
        let object = format!("{ext}/{plural}/demo");
        let r = kube.delete(&object).send().await.unwrap();
        assert!(r.status().is_success(), "DELETE {object}: {}", r.status());
        if plural == "workers" {
            // What firewall-controller-manager would do once the firewall is gone (there is
            // none here), as the README says: the FirewallDeployment's finalizer goes.
            let firewall = format!(
                "{url}/apis/firewall.metal-stack.io/v2/namespaces/{SHOOT_NS}/firewalldeployments/shoot-firewall"
            );
            eventually("the FirewallDeployment being deleted", 60, || async {
                let fw = kube_get(&kube, &firewall).await?;
                fw.pointer("/metadata/deletionTimestamp").map(drop)
            })
            .await;
            let r = kube
                .patch(&firewall)
                .header("content-type", "application/merge-patch+json")
                .body(r#"{"metadata":{"finalizers":null}}"#)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "PATCH {firewall}: {}", r.status());
        }
        eventually(&format!("{what} gone"), 120, || async {
            kube_get(&kube, &object).await.is_none().then_some(())
        })
        .await;
        if plural == "workers" {
            let left = kube_get(&kube, &format!("{mcm}/machines")).await.unwrap();
            assert_eq!(left["items"], serde_json::json!([]), "{left}");
        }
        if plural == "controlplanes" {
            let left = kube_get(&kube, &managed).await.unwrap();
            assert_eq!(left["items"], serde_json::json!([]), "{left}");
        }
    }
    let after = metal_state(&metal).await;
    assert_eq!(after, before, "metal-api as before the shoot");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(mesh.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert_eq!(mesh.0.wait().unwrap().code(), Some(0));
}
