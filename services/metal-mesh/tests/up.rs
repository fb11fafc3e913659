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
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{}\"}}\n\
             contexts:\n- name: test\n  context: {{cluster: test, user: test, namespace: default}}\n\
             users:\n- name: test\n  user: {{}}\ncurrent-context: test\n",
            server.url()
        ),
    )
    .unwrap();
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
