//! The compose stack: build the image from the cargo-built binaries (no registry), start
//! `compose/docker-compose.yml` under a unique project name on free loopback ports, allocate an
//! IP through the real HTTP API with HMAC auth and a load balancer through the lb-allocator,
//! check that the rule-compiler applied the baked-in Firewall's ruleset for real inside its
//! container's network namespace and compiles policies on request, restart metal-api and read
//! the IP and the load balancer back (the redb file on the named volume survived; the load
//! balancer's record is its IP tag). The volume-manager creates its volume group on a loop
//! device its entrypoint attaches (or, where this Docker cannot give it loop devices, serves
//! with /readyz 503 naming the missing volume group), keeps it across a restart and detaches
//! the loop device when stopped; the same image without capabilities still serves and says
//! why it is not ready. machine-lifecycle (on the stack's kube-api) allocates a machine from metal-api
//! through its REST driver with the class given inline (its metal-api URL the compose service
//! name), finds it again on a repeated create and frees it. Every service's compose healthcheck
//! (the image's mesh-probe against its own /readyz or /healthz) reports healthy within
//! 60 s; gardener-webhooks' REST API refuses a caller without the token. The stack is torn
//! down (`down -v`) even on panic, and a loop device left behind is detached.
//!
//! Without a reachable Docker daemon the test fails when `CI` is set and is skipped otherwise.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metal_api_sdk::auth::{self, HmacKind};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const PROJECT_ID: &str = "00000000-0000-0000-0000-000000000001";
const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);
/// How long every service may take to report `healthy` (its compose healthcheck) after `up`.
const DOCKER_HEALTHY_TIMEOUT: Duration = Duration::from_secs(60);

/// Skips (outside CI) or fails (in CI) the test with `reason`.
fn unavailable(reason: &str) {
    assert!(
        !integration::in_ci(),
        "{reason} (CI is set, so this is a failure)"
    );
    eprintln!("SKIPPED compose stack test: {reason}");
}

fn quiet(cmd: &mut Command) -> Option<Output> {
    cmd.stdin(Stdio::null()).output().ok()
}

/// A started compose project; dropping it runs `down -v` (after dumping logs on panic).
struct Stack {
    cli: Vec<String>,
    file: PathBuf,
    project: String,
    env: Vec<(String, String)>,
}

impl Stack {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.cli[0]);
        cmd.args(&self.cli[1..])
            .arg("-f")
            .arg(&self.file)
            .args(["-p", &self.project])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a compose subcommand and asserts it succeeded; returns stdout.
    fn run(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .output()
            .unwrap_or_else(|e| panic!("run compose {args:?}: {e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "compose {args:?} failed ({}):\n{stderr}",
            out.status
        );
        eprint!("{stderr}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn container_id(&self) -> String {
        let id = self.run(&["ps", "-q", "metal-api"]).trim().to_string();
        assert!(
            !id.is_empty(),
            "no metal-api container in project {}",
            self.project
        );
        id
    }

    /// Waits until every service of the file reports `healthy` (`.State.Health.Status`, from
    /// its compose healthcheck); panics naming the others and their last probe output.
    fn wait_all_healthy(&self, timeout: Duration) {
        let services: Vec<String> = self
            .run(&["config", "--services"])
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        assert!(
            !services.is_empty(),
            "no services in {}",
            self.file.display()
        );
        let start = Instant::now();
        let deadline = start + timeout;
        loop {
            let mut pending = Vec::new();
            for service in &services {
                let id = self.run(&["ps", "-q", service]).trim().to_string();
                let out = Command::new("docker")
                    .args([
                        "inspect",
                        "--format",
                        "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}",
                        &id,
                    ])
                    .output()
                    .expect("docker inspect");
                let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
                assert_ne!(
                    status, "none",
                    "service {service} ({id}) has no healthcheck"
                );
                if status != "healthy" {
                    pending.push((service.clone(), id, status));
                }
            }
            if pending.is_empty() {
                eprintln!(
                    "every service healthy ({}) after {:?}",
                    services.join(", "),
                    start.elapsed()
                );
                return;
            }
            if Instant::now() >= deadline {
                let detail: Vec<String> = pending
                    .iter()
                    .map(|(service, id, status)| {
                        let log = Command::new("docker")
                            .args(["inspect", "--format", "{{json .State.Health.Log}}", id])
                            .output()
                            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                            .unwrap_or_default();
                        format!("{service}: {status}, probes: {log}")
                    })
                    .collect();
                panic!(
                    "not every service healthy within {timeout:?}:\n{}",
                    detail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn started_at(&self) -> String {
        let id = self.container_id();
        let out = Command::new("docker")
            .args(["inspect", "-f", "{{.State.StartedAt}}", &id])
            .output()
            .expect("docker inspect");
        assert!(out.status.success(), "docker inspect {id} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Ok(out) = self
                .command(&["logs", "--no-color", "--tail", "200"])
                .output()
        {
            eprintln!(
                "--- compose logs ({}) ---\n{}{}",
                self.project,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        match self
            .command(&["down", "-v", "--remove-orphans", "-t", "5"])
            .output()
        {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "compose down -v for {} failed: {}",
                self.project,
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => eprintln!("compose down -v for {}: {e}", self.project),
        }
    }
}

/// The three HMAC headers for one request, from the SDK (its signing is tested against
/// independently computed vectors in `shared/metal-api-sdk/tests/auth.rs`).
fn auth_headers(kind: &str, key: &str, method: &Method) -> [(String, String); 3] {
    let kind = HmacKind::parse(&format!("Metal-{kind}")).expect("View, Edit or Admin");
    let h = auth::sign(kind, key.as_bytes(), method.as_str(), chrono::Utc::now());
    [
        (auth::HEADER_DATE.into(), h.date),
        (auth::HEADER_SALT.into(), h.salt),
        ("Authorization".into(), h.authorization),
    ]
}

struct Api {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    base: String,
    /// Sent as a bearer token with requests that carry no HMAC signature.
    token: Option<String>,
}

impl Api {
    fn new(port: u16) -> Self {
        // reqwest is built with `rustls-no-provider`: it needs a process-wide provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .no_proxy()
            .build()
            .expect("http client");
        Self {
            rt,
            http,
            base: format!("http://127.0.0.1:{port}"),
            token: None,
        }
    }

    /// The API on `port`, called with the bearer `token`.
    fn with_token(port: u16, token: &str) -> Self {
        Self {
            token: Some(token.to_string()),
            ..Self::new(port)
        }
    }

    /// One request; `auth` is (kind, key). Returns status and the body (JSON or as a string).
    fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<(&str, &str)>,
        body: Option<Value>,
    ) -> reqwest::Result<(StatusCode, Value)> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some((kind, key)) = auth {
            for (name, value) in auth_headers(kind, key, &method) {
                req = req.header(name, value);
            }
        } else if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.rt.block_on(async {
            let resp = req.send().await?;
            let status = resp.status();
            let text = resp.text().await?;
            let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            Ok((status, value))
        })
    }

    /// One request with a raw `body`; returns status, content type and the body text.
    fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &'static str,
    ) -> reqwest::Result<(StatusCode, String, String)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        self.rt.block_on(async {
            let resp = req.send().await?;
            let status = resp.status();
            let content_type = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            Ok((status, content_type, resp.text().await?))
        })
    }

    /// Polls GET `path` until it answers 200.
    fn wait_ok(&self, path: &str, what: &str) {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.call(Method::GET, path, None, None) {
                Ok((StatusCode::OK, _)) => return,
                Ok((status, body)) => last = format!("{status}: {body}"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("{path} not 200 {what} within {HEALTH_TIMEOUT:?}; last: {last}");
    }

    /// Polls GET `path` until its answer satisfies `want`; returns the body.
    fn wait_for(&self, path: &str, what: &str, want: impl Fn(StatusCode, &Value) -> bool) -> Value {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.call(Method::GET, path, None, None) {
                Ok((status, body)) if want(status, &body) => return body,
                Ok((status, body)) => last = format!("{status}: {body}"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("{path} not {what} within {HEALTH_TIMEOUT:?}; last: {last}");
    }

    /// Polls GET /v1/health until it answers 200 with status "healthy".
    fn wait_healthy(&self, what: &str) {
        let deadline = Instant::now() + HEALTH_TIMEOUT;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            match self.call(Method::GET, "/v1/health", None, None) {
                Ok((StatusCode::OK, body)) => {
                    assert_eq!(
                        body["status"], "healthy",
                        "/v1/health answered 200 but not healthy: {body}"
                    );
                    eprintln!("metal-api healthy {what}");
                    return;
                }
                Ok((status, body)) => last = format!("{status}: {body}"),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!("metal-api not healthy {what} within {HEALTH_TIMEOUT:?}; last: {last}");
    }
}

fn random_key(tag: &str) -> String {
    format!("{tag}-{}", auth::new_salt().to_lowercase())
}

#[test]
fn compose_stack_allocates_ips_that_survive_a_restart() {
    let docker_ok = quiet(Command::new("docker").arg("info")).is_some_and(|o| o.status.success());
    if !docker_ok {
        return unavailable("no reachable Docker daemon (`docker info` failed)");
    }
    let Some(cli) = integration::compose_command() else {
        return unavailable("neither `docker compose` nor `docker-compose` is installed");
    };

    // The image is assembled from these very binaries (built now if stale).
    integration::binary("metal-api");
    let root = integration::workspace_root();
    let t = Instant::now();
    let out = Command::new("bash")
        .arg(root.join("compose/build-image.sh"))
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .expect("run compose/build-image.sh");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "compose/build-image.sh failed ({}):\n{stdout}",
        out.status
    );
    for line in stdout.lines().filter(|l| l.starts_with("build-image.sh:")) {
        eprintln!("{line}");
    }
    eprintln!("image built in {:?}", t.elapsed());

    let port = integration::free_addr().port();
    let lb_port = integration::free_addr().port();
    let rc_port = integration::free_addr().port();
    let vm_port = integration::free_addr().port();
    let ml_port = integration::free_addr().port();
    let kube_port = integration::free_addr().port();
    let gw_port = integration::free_addr().port();
    let view_key = random_key("view");
    let edit_key = random_key("edit");
    let admin_key = random_key("admin");
    // The API token of this run, in a token file of its own (the shipped one is a dev default).
    let token = random_key("token");
    let token_dir = tempfile::tempdir().unwrap();
    let token_file = token_dir.path().join("api-tokens.csv");
    std::fs::write(
        &token_file,
        format!("{token},admin,compose-test,\"metal-mesh:admins\"\n"),
    )
    .unwrap();
    // Dropped after the stack (declared before it): detaches a loop device `down` left behind.
    let mut loop_guard = LoopGuard(None);
    // A volume group name of this run only: the host's lvm sees the loop device too.
    let vg = format!("mmtest{}", std::process::id());
    let stack = Stack {
        cli,
        file: root.join("compose/docker-compose.yml"),
        project: format!(
            "mmtest{}x{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() % 1_000_000)
                .unwrap_or(0)
        ),
        env: vec![
            ("METAL_MESH_IMAGE".into(), "metal-mesh:dev".into()),
            ("METAL_API_HOST_IP".into(), "127.0.0.1".into()),
            ("METAL_API_HOST_PORT".into(), port.to_string()),
            ("METAL_API_HMAC_VIEW_KEY".into(), view_key.clone()),
            ("METAL_API_HMAC_EDIT_KEY".into(), edit_key.clone()),
            ("METAL_API_HMAC_ADMIN_KEY".into(), admin_key.clone()),
            ("LB_ALLOCATOR_HOST_IP".into(), "127.0.0.1".into()),
            ("LB_ALLOCATOR_HOST_PORT".into(), lb_port.to_string()),
            ("METAL_CLUSTER_ID".into(), "compose-test".into()),
            ("RULE_COMPILER_HOST_IP".into(), "127.0.0.1".into()),
            ("RULE_COMPILER_HOST_PORT".into(), rc_port.to_string()),
            ("VOLUME_MANAGER_HOST_IP".into(), "127.0.0.1".into()),
            ("VOLUME_MANAGER_HOST_PORT".into(), vm_port.to_string()),
            ("VOLUME_MANAGER_VG_NAME".into(), vg.clone()),
            ("VOLUME_MANAGER_LOOP_SIZE".into(), "512M".into()),
            ("MACHINE_LIFECYCLE_HOST_IP".into(), "127.0.0.1".into()),
            ("MACHINE_LIFECYCLE_HOST_PORT".into(), ml_port.to_string()),
            ("KUBE_API_HOST_IP".into(), "127.0.0.1".into()),
            ("KUBE_API_HOST_PORT".into(), kube_port.to_string()),
            ("GARDENER_WEBHOOKS_HOST_IP".into(), "127.0.0.1".into()),
            ("GARDENER_WEBHOOKS_HOST_PORT".into(), gw_port.to_string()),
            (
                "METAL_MESH_API_TOKENS".into(),
                token_file.display().to_string(),
            ),
        ],
    };
    eprintln!(
        "compose project {} on 127.0.0.1:{port} ({})",
        stack.project,
        stack.cli.join(" ")
    );
    stack.run(&["up", "-d", "--no-build"]);
    // Every service's own healthcheck (mesh-probe inside its container) passes. First, so that
    // no keep-alive connection of the clients below idles past the server's keep-alive timeout.
    stack.wait_all_healthy(DOCKER_HEALTHY_TIMEOUT);
    let api = Api::new(port);
    api.wait_healthy("after start");
    // gardener-webhooks' REST API wants the token too (its /webhooks/ paths are kube-apiserver's).
    let review = json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot"});
    let (status, body) = Api::new(gw_port)
        .call(
            Method::POST,
            "/v1/validate/shoot",
            None,
            Some(review.clone()),
        )
        .expect("POST /v1/validate/shoot without a token");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = Api::with_token(gw_port, &token)
        .call(Method::POST, "/v1/validate/shoot", None, Some(review))
        .expect("POST /v1/validate/shoot");
    assert_ne!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_ne!(status, StatusCode::FORBIDDEN, "{body}");

    // Allocate an ephemeral IP in the seeded external network, signed with the edit key.
    let request = json!({
        "networkid": "internet",
        "projectid": PROJECT_ID,
        "type": "ephemeral",
        "name": "compose-test",
    });
    let (status, ip) = api
        .call(
            Method::POST,
            "/v1/ip/allocate",
            Some(("Edit", &edit_key)),
            Some(request.clone()),
        )
        .expect("POST /v1/ip/allocate");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "allocate answered {status}: {ip}"
    );
    let address = ip["ipaddress"]
        .as_str()
        .unwrap_or_else(|| panic!("no ipaddress in {ip}"))
        .to_string();
    let uuid = ip["allocationuuid"].clone();
    assert!(
        address.starts_with("185.1.2."),
        "{address} is not in the seeded prefix 185.1.2.0/24"
    );
    assert!(uuid.is_string(), "no allocationuuid in {ip}");
    eprintln!("allocated {address} ({uuid})");

    // The container got the keys from the environment: the compose defaults are refused.
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/ip/allocate",
            Some(("Edit", "metal-edit")),
            Some(request),
        )
        .expect("POST /v1/ip/allocate with the default key");
    assert!(
        status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN,
        "a request signed with the default dev key was answered {status}: {body}"
    );

    // The lb-allocator (REST, beside its controllers) allocates a load balancer through the embedded metal-api.
    let lb = Api::with_token(lb_port, &token);
    lb.wait_ok("/readyz", "lb-allocator ready (metal-api reachable)");
    // Without a token, or with the shipped development token, nothing is allocated.
    for anonymous in [
        Api::new(lb_port),
        Api::with_token(lb_port, "metal-mesh-dev-token"),
    ] {
        let (status, body) = anonymous
            .call(
                Method::POST,
                "/v1/loadbalancers",
                None,
                Some(json!({"namespace": "default", "name": "web"})),
            )
            .expect("POST /v1/loadbalancers without a valid token");
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
    let (status, created) = lb
        .call(
            Method::POST,
            "/v1/loadbalancers",
            None,
            Some(json!({"namespace": "default", "name": "web"})),
        )
        .expect("POST /v1/loadbalancers");
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let lb_address = created["ips"][0]["address"].as_str().unwrap().to_string();
    let (_, tagged) = api
        .call(
            Method::GET,
            &format!("/v1/ip/{lb_address}"),
            Some(("View", &view_key)),
            None,
        )
        .expect("GET the load balancer's IP");
    assert_eq!(
        tagged["tags"],
        json!(["cluster.metal-stack.io/id/namespace/service=compose-test/default/web"]),
        "{tagged}"
    );

    check_rule_compiler(&root, rc_port, &token);
    check_machine_lifecycle(&api, ml_port, &token, &edit_key, &view_key, &admin_key);
    check_volume_manager(&stack, vm_port, &vg, &mut loop_guard, &token);
    check_volume_manager_without_capabilities(&stack.project, &vg);

    // Restart the container; the allocation must come back from the volume.
    let before = stack.started_at();
    stack.run(&["restart", "-t", "15", "metal-api"]);
    let after = stack.started_at();
    assert_ne!(before, after, "the metal-api container was not restarted");
    api.wait_healthy("after restart");

    let (status, got) = api
        .call(
            Method::GET,
            &format!("/v1/ip/{address}"),
            Some(("View", &view_key)),
            None,
        )
        .expect("GET /v1/ip/<address>");
    assert_eq!(
        status,
        StatusCode::OK,
        "GET /v1/ip/{address} answered {status}: {got}"
    );
    assert_eq!(
        got["ipaddress"],
        address.as_str(),
        "wrong IP read back: {got}"
    );
    assert_eq!(
        got["allocationuuid"], uuid,
        "allocationuuid changed across the restart: {got}"
    );
    assert_eq!(got["projectid"], PROJECT_ID, "projectid changed: {got}");
    eprintln!("{address} survived the restart");

    // The load balancer too: the lb-allocator reads it back from the IP's tag.
    lb.wait_ok("/readyz", "lb-allocator ready after the metal-api restart");
    let (status, list) = lb
        .call(Method::GET, "/v1/loadbalancers", None, None)
        .expect("GET /v1/loadbalancers");
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list[0]["name"], "web", "{list}");
    assert_eq!(list[0]["ips"][0]["address"], lb_address.as_str());
    let (status, released) = lb
        .call(Method::DELETE, "/v1/loadbalancers/default/web", None, None)
        .expect("DELETE /v1/loadbalancers/default/web");
    assert_eq!(status, StatusCode::OK, "{released}");
    assert_eq!(released["released"][0]["freed"], true);
    drop(stack);

    // `down` stopped the volume-manager with SIGTERM: its entrypoint detached the loop device.
    if let Some(file) = &loop_guard.0 {
        let left = loops_backed_by(file);
        assert!(
            left.is_empty(),
            "loop devices still attached to {file} after `down`: {left:?}"
        );
        eprintln!("no loop device left over {file}");
    }
}

/// Whether this Docker can give the volume-manager's container loop devices: the host has them
/// and the daemon is neither rootless nor user-namespaced (no mknod there).
fn loop_devices_expected() -> bool {
    if !std::path::Path::new("/dev/loop-control").exists() {
        return false;
    }
    let out = Command::new("docker")
        .args(["info", "-f", "{{json .SecurityOptions}}"])
        .output()
        .expect("docker info");
    let options = String::from_utf8_lossy(&out.stdout);
    !(options.contains("rootless") || options.contains("userns"))
}

/// The host's loop devices whose backing file ends in `/<name>` (from sysfs).
fn loops_backed_by(name: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let dev = e.file_name().to_string_lossy().into_owned();
            let back = std::fs::read_to_string(e.path().join("loop/backing_file")).ok()?;
            let back = back.trim().trim_end_matches(" (deleted)");
            back.ends_with(&format!("/{name}"))
                .then(|| format!("/dev/{dev}"))
        })
        .collect()
}

/// Detaches, on drop, every loop device over the volume-manager's loop file (named
/// `pv-<uuid>.img`, so only ever this run's): a test that failed half-way, or a container
/// killed before its entrypoint could detach, must not leave one on the host.
struct LoopGuard(Option<String>);

impl Drop for LoopGuard {
    fn drop(&mut self) {
        let Some(file) = &self.0 else { return };
        for dev in loops_backed_by(file) {
            let ok = quiet(Command::new("losetup").args(["-d", &dev]))
                .is_some_and(|o| o.status.success());
            eprintln!("detached leftover {dev} over {file}: {ok}");
        }
    }
}

/// Whether a /readyz body says that volume group `vg` is missing (not merely being set up).
fn missing(readyz: &Value, vg: &str) -> bool {
    readyz["checks"]["volume-groups"]
        .as_str()
        .is_some_and(|r| r.contains(&format!("volume group {vg} does not exist")))
}

/// The loop file the volume-manager's entrypoint attached (`pv-<uuid>.img`), from its log.
fn attached_loop_file(log: &str) -> Option<String> {
    log.lines().rev().find_map(|line| {
        let said = line.split_once("volume-manager-entrypoint: ")?.1;
        let path = match said.strip_prefix("attached ") {
            Some(rest) => rest.split_once(" to ")?.1,
            None => said.split_once(" is already attached to ")?.1,
        };
        Some(path.trim().rsplit('/').next()?.to_string())
    })
}

/// The volume-manager container: alive at once; with loop devices ready with its volume group
/// present on the loop device its entrypoint attached, the same group after a restart (the loop
/// file lives on the named volume; the loop device was detached at the stop and attached anew);
/// without, 503 naming the missing group. The loop file's name goes to `guard`.
fn check_volume_manager(stack: &Stack, port: u16, vg: &str, guard: &mut LoopGuard, token: &str) {
    let vm = Api::with_token(port, token);
    vm.wait_ok("/healthz", "volume-manager alive");
    let logs = || stack.run(&["logs", "--no-color", "volume-manager"]);
    if !loop_devices_expected() {
        let body = vm.wait_for("/readyz", "503 naming the missing volume group", |s, b| {
            s == StatusCode::SERVICE_UNAVAILABLE && missing(b, vg)
        });
        let reason = body["checks"]["volume-groups"].as_str().unwrap_or_default();
        let (status, groups) = vm
            .call(Method::GET, "/v1/volumegroups", None, None)
            .expect("GET /v1/volumegroups");
        assert_eq!(status, StatusCode::OK, "{groups}");
        assert_eq!(groups[0]["present"], false, "{groups}");
        let log = logs();
        assert!(log.contains("no loop device: "), "{log}");
        eprintln!("volume-manager serves without loop devices: {reason}");
        return;
    }

    vm.wait_ok(
        "/readyz",
        "volume-manager ready (volume group on the loop device)",
    );
    let log = logs();
    let file = attached_loop_file(&log)
        .unwrap_or_else(|| panic!("no loop device attached in the log:\n{log}"));
    guard.0 = Some(file.clone());
    let group = |what: &str| {
        let (status, groups) = vm
            .call(Method::GET, "/v1/volumegroups", None, None)
            .expect("GET /v1/volumegroups");
        assert_eq!(status, StatusCode::OK, "{what}: {groups}");
        let groups = groups.as_array().cloned().unwrap_or_default();
        assert_eq!(groups.len(), 1, "{what}: {groups:?}");
        let g = groups[0].clone();
        assert_eq!(g["name"], vg, "{what}: {g}");
        assert_eq!(g["default"], true, "{what}: {g}");
        assert_eq!(g["present"], true, "{what}: {g}");
        assert_eq!(g["vg"]["pv_count"], 1, "{what}: {g}");
        let pv = g["pvs"][0]["name"].as_str().unwrap_or_default().to_string();
        assert!(pv.starts_with("/dev/loop"), "{what}: {g}");
        assert!(
            g["vg"]["size"].as_u64().is_some_and(|s| s > 400 << 20),
            "{what}: a 512M loop file: {g}"
        );
        (g["vg"]["uuid"].clone(), pv)
    };
    let (uuid, pv) = group("after start");
    assert_eq!(
        loops_backed_by(&file),
        vec![pv.clone()],
        "{pv} is the host's loop device over {file}"
    );
    eprintln!("volume-manager: volume group {vg} on {pv} ({file})");

    stack.run(&["restart", "-t", "15", "volume-manager"]);
    vm.wait_ok("/readyz", "volume-manager ready after a restart");
    let (uuid_after, pv_after) = group("after restart");
    assert_eq!(uuid, uuid_after, "the same volume group after the restart");
    let log = logs();
    assert!(
        log.contains(&format!("detached {pv}")),
        "the stop detached {pv}:\n{log}"
    );
    assert_eq!(loops_backed_by(&file), vec![pv_after.clone()]);
    eprintln!("volume-manager: {vg} back on {pv_after} after a restart");
}

/// The same image and entrypoint without any capability (no mknod, no loop ioctls): it still
/// serves, /healthz 200, /readyz 503 naming the missing volume group, and logs why.
fn check_volume_manager_without_capabilities(project: &str, vg: &str) {
    struct Container(String);
    impl Drop for Container {
        fn drop(&mut self) {
            // -v: also the image's anonymous /data volume.
            let _ = quiet(Command::new("docker").args(["rm", "-f", "-v", &self.0]));
        }
    }
    let port = integration::free_addr().port();
    let container = Container(format!("{project}-vm-nocaps"));
    let publish = format!("127.0.0.1:{port}:8083");
    #[rustfmt::skip]
    let args = [
        "run", "-d", "--name", &container.0, "--user", "0:0", "--cap-drop", "ALL",
        "--read-only", "--tmpfs", "/run", "--tmpfs", "/tmp", "--tmpfs", "/var/lib/volume-manager",
        "-p", &publish, "--entrypoint", "/usr/local/bin/volume-manager-entrypoint",
        "metal-mesh:dev",
        "volume-manager", "--listen", "0.0.0.0:8083", "--node-id", "nocaps",
        "--csi-endpoint", "unix:///run/csi/csi.sock", "--vg-name", vg, "--no-activation",
        // Published on loopback only, and about capabilities, not credentials.
        "--auth", "none", "--auth-insecure-allow-remote",
    ];
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("docker run");
    assert!(
        out.status.success(),
        "docker run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vm = Api::new(port);
    vm.wait_ok("/healthz", "volume-manager without capabilities alive");
    let body = vm.wait_for("/readyz", "503 naming the missing volume group", |s, b| {
        s == StatusCode::SERVICE_UNAVAILABLE && missing(b, vg)
    });
    let reason = body["checks"]["volume-groups"].as_str().unwrap_or_default();
    let (status, groups) = vm
        .call(Method::GET, "/v1/volumegroups", None, None)
        .expect("GET /v1/volumegroups");
    assert_eq!(status, StatusCode::OK, "{groups}");
    assert_eq!(groups[0]["present"], false, "{groups}");
    let logs = Command::new("docker")
        .args(["logs", &container.0])
        .output()
        .expect("docker logs");
    let stderr = String::from_utf8_lossy(&logs.stderr);
    assert!(stderr.contains("no loop device: "), "{stderr}");
    eprintln!("volume-manager without capabilities: not ready, {reason}");
}

/// The rule-compiler container: ready once the Firewall baked into the image is compiled and
/// really applied (root with NET_ADMIN in the container's own network namespace, not a dry
/// run); `POST /v1/compile` compiles a valid policy, reports an invalid one as ignored, and
/// refuses a malformed body with a problem document.
fn check_rule_compiler(root: &std::path::Path, port: u16, token: &str) {
    let rc = Api::with_token(port, token);
    rc.wait_ok("/readyz", "rule-compiler ready (ruleset applied)");
    let (status, body) = rc
        .call(Method::GET, "/v1/status", None, None)
        .expect("GET /v1/status");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["inSync"], true, "{body}");
    assert_eq!(body["dryRun"], false, "applied for real: {body}");
    assert_eq!(body["applyError"], Value::Null, "{body}");
    assert_eq!(
        body["firewallName"], "shoot--local--mesh-firewall-7c4a1",
        "the container's hostname is the Firewall's name: {body}"
    );
    let (status, applied) = rc
        .call(Method::GET, "/v1/ruleset", None, None)
        .expect("GET /v1/ruleset");
    assert_eq!(status, StatusCode::OK, "{applied}");
    let text = applied["ruleset"].as_str().unwrap_or_default();
    assert!(text.contains("table inet firewall"), "{applied}");
    assert!(
        text.contains("185.1.2.10"),
        "SNAT to the Firewall's egress IP: {text}"
    );

    let firewall = rule_compiler::read_firewall(&root.join("compose/firewall.yaml"))
        .expect("compose/firewall.yaml is a Firewall");
    let cwnp = |name: &str, cidr: &str| {
        json!({
            "apiVersion": "metal-stack.io/v1", "kind": "ClusterwideNetworkPolicy",
            "metadata": {"name": name, "namespace": "firewall"},
            "spec": {"egress": [{"to": [{"cidr": cidr}], "ports": [{"protocol": "TCP", "port": 443}]}]},
        })
    };
    let (status, compiled) = rc
        .call(
            Method::POST,
            "/v1/compile",
            None,
            Some(json!({
                "firewall": firewall,
                "policies": [cwnp("allow-https", "1.2.3.0/24"), cwnp("bad-cidr", "1.2.3.0/40")],
                "services": [],
            })),
        )
        .expect("POST /v1/compile");
    assert_eq!(status, StatusCode::OK, "{compiled}");
    let ruleset = compiled["ruleset"].as_str().unwrap_or_default();
    assert!(ruleset.contains("table inet firewall"), "{compiled}");
    assert!(
        ruleset.contains("accept traffic for np allow-https tcp"),
        "{ruleset}"
    );
    assert!(!ruleset.contains("bad-cidr"), "{ruleset}");
    let ignored = compiled["ignored"].as_array().expect("ignored is a list");
    assert_eq!(ignored.len(), 1, "{compiled}");
    assert_eq!(ignored[0]["name"], "bad-cidr", "{compiled}");
    assert_eq!(ignored[0]["namespace"], "firewall", "{compiled}");
    assert!(
        ignored[0]["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{compiled}"
    );

    let (status, content_type, body) = rc
        .raw(
            Method::POST,
            "/v1/compile",
            "application/json",
            r#"{"firewall": {"spec": "#,
        )
        .expect("POST /v1/compile with a malformed body");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}: {body}"
    );
    eprintln!("rule-compiler applied its ruleset and compiles on request");
}

/// The machine-lifecycle container (on kube-api): ready; its API wants the token;
/// `GET /v1/machines` lists the (no) Machines of its namespace; `POST /v1/machines` with the
/// class inline (providerSpec and the Secret's data, metalAPIURL the compose service
/// `metal-api`) allocates a machine of the seed in a private network of the project, a repeated
/// create finds that one (200, adopted), metal-api shows it allocated under the Machine's name,
/// and `DELETE /v1/machines/{name}` frees it. A class without an image is a 400 naming the field.
fn check_machine_lifecycle(
    api: &Api,
    port: u16,
    token: &str,
    edit_key: &str,
    view_key: &str,
    admin_key: &str,
) {
    let ml = Api::with_token(port, token);
    ml.wait_ok("/readyz", "machine-lifecycle ready");
    let (status, body) = Api::new(port)
        .call(Method::GET, "/v1/machines", None, None)
        .expect("GET /v1/machines without a token");
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = ml
        .call(Method::GET, "/v1/machines", None, None)
        .expect("GET /v1/machines");
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body.as_array().map(Vec::len),
        Some(0),
        "no Machines yet: {body}"
    );

    let (status, network) = api
        .call(
            Method::POST,
            "/v1/network/allocate",
            Some(("Edit", edit_key)),
            Some(
                json!({"projectid": PROJECT_ID, "partitionid": "fra-equ01", "name": "compose-ml"}),
            ),
        )
        .expect("POST /v1/network/allocate");
    assert_eq!(status, StatusCode::CREATED, "{network}");
    let spec = json!({
        "partition": "fra-equ01", "size": "c1-medium-x86", "image": "ubuntu-24.04.20260101",
        "project": PROJECT_ID, "network": network["id"],
        "tags": ["cluster.metal-stack.io/id=compose-test"],
    });
    // Inside the compose network metal-api is the service `metal-api`.
    let secret = json!({"metalAPIURL": "http://metal-api:8080", "metalAPIHMac": admin_key});
    let create = json!({"name": "compose-worker", "providerSpec": spec, "secret": secret});
    let (status, created) = ml
        .call(Method::POST, "/v1/machines", None, Some(create.clone()))
        .expect("POST /v1/machines");
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["adopted"], false, "{created}");
    assert_eq!(created["nodeName"], "compose-worker", "{created}");
    let provider_id = created["providerID"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // metal:///<partition>/<machine id>, as upstream's provider writes it.
    let id = provider_id
        .strip_prefix("metal:///fra-equ01/")
        .unwrap_or_else(|| panic!("providerID {provider_id:?}: {created}"))
        .to_string();
    let (status, again) = ml
        .call(Method::POST, "/v1/machines", None, Some(create))
        .expect("POST /v1/machines again");
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["adopted"], true, "{again}");
    assert_eq!(again["providerID"], provider_id.as_str(), "{again}");
    let (status, machine) = api
        .call(
            Method::GET,
            &format!("/v1/machine/{id}"),
            Some(("View", view_key)),
            None,
        )
        .expect("GET /v1/machine/<id>");
    assert_eq!(status, StatusCode::OK, "{machine}");
    assert_eq!(
        machine["allocation"]["hostname"], "compose-worker",
        "{machine}"
    );
    assert_eq!(machine["allocation"]["project"], PROJECT_ID, "{machine}");

    let (status, freed) = ml
        .call(
            Method::DELETE,
            "/v1/machines/compose-worker",
            None,
            Some(json!({"providerID": provider_id, "providerSpec": spec, "secret": secret})),
        )
        .expect("DELETE /v1/machines/compose-worker");
    assert_eq!(status, StatusCode::OK, "{freed}");
    assert_eq!(freed["freedProviderID"], provider_id.as_str(), "{freed}");
    let (_, machine) = api
        .call(
            Method::GET,
            &format!("/v1/machine/{id}"),
            Some(("View", view_key)),
            None,
        )
        .expect("GET /v1/machine/<id> after the delete");
    assert!(machine["allocation"].is_null(), "freed: {machine}");

    let mut no_image = spec.clone();
    no_image["image"] = json!("");
    let (status, problem) = ml
        .call(
            Method::POST,
            "/v1/machines",
            None,
            Some(json!({"name": "compose-worker-2", "providerSpec": no_image, "secret": secret})),
        )
        .expect("POST /v1/machines without an image");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["code"], "InvalidArgument", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("providerSpec.image")),
        "{problem}"
    );
    eprintln!("machine-lifecycle allocated {provider_id} through its REST driver and freed it");
}
