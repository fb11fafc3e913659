//! Every service's API served over TLS with Kubernetes-delegated auth, against kube-testserver's
//! TokenReview and SubjectAccessReview evaluated over the chart's own ClusterRoles (rendered with
//! Helm): anonymous 401, a token without RBAC 403, the editor role 2xx, the viewer role reads but
//! does not write, ServiceAccounts and client certificates, review faults (503, never 500, never
//! allowed), one review round trip per new caller, no token in any log, and certificate rotation
//! seen by new connections while open ones keep working.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use integration::auth::{TestPki, bearer_tls_client};
use kube_testserver::{Config, ReviewFault, Running};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// alice holds every editor role, bob every viewer role, carol nothing.
const EDITOR: &str = "alice-token-0b3c9";
const VIEWER: &str = "bob-token-7d1e2";
const NOBODY: &str = "carol-token-55aa1";
/// A ServiceAccount bound to the lb-allocator's editor role.
const SA: &str = "ci-serviceaccount-token-9f9f";

/// The access ClusterRoles `metal-mesh:*` of the chart with every service on, rendered by Helm
/// (integration/scripts/render_chart.py); `None` where the Python packages are missing outside CI.
fn chart_access_roles() -> Option<Vec<Value>> {
    let docs = integration::chart::render(&[
        "lbAllocator.enabled=true",
        "lbAllocator.projectId=p",
        "lbAllocator.partitionId=fra-equ01",
        "lbAllocator.clusterId=c",
        "ruleCompiler.enabled=true",
        "volumeManager.enabled=true",
        "gardenerWebhooks.garden.enabled=true",
        "machineLifecycle.enabled=true",
    ])?;
    Some(
        docs.into_iter()
            .filter(|d| {
                d["kind"] == "ClusterRole"
                    && d["metadata"]["name"]
                        .as_str()
                        .is_some_and(|n| n.starts_with("metal-mesh:"))
            })
            .collect(),
    )
}

/// The rules `access` grants, in the chart's form.
fn rules(access: Vec<mesh_runtime::auth::NonResourceRule>) -> Value {
    access
        .into_iter()
        .map(|r| json!({"nonResourceURLs": r.urls, "verbs": [r.verb]}))
        .collect()
}

/// kube-testserver with the chart's access roles, alice bound to every editor role, bob to
/// every viewer role, the ServiceAccount ops/ci to the lb-allocator's editor role.
struct Cluster {
    server: Running,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Cluster {
    async fn start() -> Option<Self> {
        let roles = chart_access_roles()?;
        // The chart grants what each service declares; the services' own code is the source.
        for (service, access) in [
            ("lb-allocator", lb_allocator::access()),
            ("rule-compiler", rule_compiler::access()),
            ("volume-manager", volume_manager::access()),
            ("metal-api", metal_api::access()),
            ("gardener-webhooks", gardener_webhooks::access()),
            ("machine-lifecycle", machine_lifecycle::access()),
        ] {
            for (capability, want) in [("viewer", access.viewer()), ("editor", access.editor())] {
                let name = format!("metal-mesh:{service}:{capability}");
                let role = roles
                    .iter()
                    .find(|r| r["metadata"]["name"] == name.as_str())
                    .unwrap_or_else(|| panic!("the chart renders no ClusterRole {name}"));
                assert_eq!(role["rules"], rules(want), "{name}");
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let token_file = integration::kube::write_token_file(
            dir.path(),
            &[
                (EDITOR, "alice", &["devs"]),
                (VIEWER, "bob", &[]),
                (NOBODY, "carol", &[]),
                (
                    SA,
                    "system:serviceaccount:ops:ci",
                    &["system:serviceaccounts", "system:serviceaccounts:ops"],
                ),
            ],
        );
        let server = Running::start(Config {
            token_file: Some(token_file),
            ..Config::default()
        })
        .expect("kube-testserver");
        let client = integration::kube::client(&server.url());
        let api: kube::Api<k8s_openapi::api::rbac::v1::ClusterRole> =
            kube::Api::all(client.clone());
        for role in &roles {
            let role = serde_json::from_value(role.clone()).unwrap();
            api.create(&kube::api::PostParams::default(), &role)
                .await
                .expect("create the chart's ClusterRole");
        }
        for role in roles.iter().filter_map(|r| r["metadata"]["name"].as_str()) {
            if role.ends_with(":editor") {
                integration::kube::bind_user(&client, role, "alice").await;
            } else {
                integration::kube::bind_user(&client, role, "bob").await;
            }
        }
        integration::kube::bind(
            &client,
            "metal-mesh:lb-allocator:editor",
            "ci-lb-editor",
            json!({"kind": "ServiceAccount", "name": "ci", "namespace": "ops"}),
        )
        .await;
        let kubeconfig = integration::kube::write_kubeconfig(dir.path(), &server.url());
        Some(Self {
            server,
            dir,
            kubeconfig,
        })
    }

    fn reviews(&self) -> (u64, u64) {
        let counts = self.server.shared.review_counts();
        (counts.token_reviews, counts.subject_access_reviews)
    }
}

/// A serving pair in `dir` (tls.crt, tls.key) and the flags that serve it with delegated auth.
fn secured_flags(cluster: &Cluster, pki: &TestPki, dir: &Path) -> Vec<String> {
    let (cert, key) = pki.serving("first").write(dir);
    std::fs::write(dir.join("client-ca.crt"), &pki.ca_pem).unwrap();
    [
        "--auth",
        "kubernetes",
        "--auth-kubeconfig",
        cluster.kubeconfig.to_str().unwrap(),
        "--auth-review-timeout",
        "1s",
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--tls-client-ca-file",
        dir.join("client-ca.crt").to_str().unwrap(),
        "--tls-reload-interval",
        "200ms",
    ]
    .map(String::from)
    .to_vec()
}

/// The rule-compiler on the compose Firewall, rendering only (no nft, no Kubernetes).
fn rule_compiler_flags() -> Vec<String> {
    let firewall = integration::workspace_root().join("compose/firewall.yaml");
    [
        "--firewall-file",
        firewall.to_str().unwrap(),
        "--dry-run",
        "--enable-ids",
        "false",
    ]
    .map(String::from)
    .to_vec()
}

/// A service binary started by this test, its log in a file. Killed on drop.
struct Service {
    addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Service {
    fn start(binary: &str, args: &[String], log: PathBuf) -> Self {
        let addr = integration::free_addr();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(integration::binary(binary))
            .args(["--listen", &addr.to_string(), "--log-level", "debug"])
            .args(args)
            .env_remove("KUBECONFIG")
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {binary}: {e}"));
        integration::wait_for_port(addr, Duration::from_secs(60));
        Self { addr, child, log }
    }

    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request; status, headers and the body as JSON (or a JSON string).
async fn call(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = http.request(method, url);
    if let Some(body) = body {
        req = req.json(body);
    }
    let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e:?}"));
    let (status, headers) = (resp.status(), resp.headers().clone());
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

/// A client trusting `pki` that sends no credential.
fn anonymous(pki: &TestPki) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap()
}

/// What one service's callers may do: `write` is a state-changing call (or, for a service
/// without one, a read), `read` a read.
struct Expect<'a> {
    name: &'a str,
    read: &'a str,
    write: (Method, &'a str, Option<Value>),
    /// Whether viewers may make the `write` call (the rule-compiler's compile changes nothing).
    viewer_writes: bool,
}

/// Anonymous 401, unbound 403 naming verb and path, editor allowed, viewer reads (and writes
/// only where the service says so).
async fn check_roles(service: &Service, pki: &TestPki, expect: &Expect<'_>) {
    let name = expect.name;
    let (method, path, body) = &expect.write;
    let write_url = service.url(path);

    let (status, headers, problem) =
        call(&anonymous(pki), method.clone(), &write_url, body.as_ref()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {problem}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{name}"
    );
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{name}"
    );

    let nobody = bearer_tls_client(NOBODY, &pki.ca_pem);
    let (status, _, problem) = call(&nobody, method.clone(), &write_url, body.as_ref()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {problem}");
    let detail = problem["detail"].as_str().unwrap_or_default();
    let verb = match method.as_str() {
        "GET" => "get",
        "POST" => "create",
        "DELETE" => "delete",
        other => panic!("no verb for {other}"),
    };
    assert!(
        detail.contains("carol") && detail.contains(&format!("{verb} {path}")),
        "{name}: the 403 names who, verb and path: {detail}"
    );

    let editor = bearer_tls_client(EDITOR, &pki.ca_pem);
    let (status, _, answer) = call(&editor, method.clone(), &write_url, body.as_ref()).await;
    assert!(status.is_success(), "{name}: editor {status}: {answer}");

    let viewer = bearer_tls_client(VIEWER, &pki.ca_pem);
    let (status, _, answer) = call(&viewer, Method::GET, &service.url(expect.read), None).await;
    assert!(
        status.is_success(),
        "{name}: viewer reads {status}: {answer}"
    );
    let (status, _, answer) = call(&viewer, method.clone(), &write_url, body.as_ref()).await;
    if expect.viewer_writes {
        assert!(status.is_success(), "{name}: viewer {status}: {answer}");
    } else {
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{name}: viewer writes: {answer}"
        );
    }
    // /metrics as Kubernetes components serve it: `get` on /metrics.
    let (status, _, _) = call(&viewer, Method::GET, &service.url("/metrics"), None).await;
    assert_eq!(status, StatusCode::OK, "{name}: viewer reads /metrics");
    let (status, _, _) = call(&nobody, Method::GET, &service.url("/metrics"), None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{name}: /metrics without get on it"
    );
    // Probes and the API description stay open.
    for open in ["/healthz", "/openapi.json", "/docs"] {
        let (status, _, _) = call(&anonymous(pki), Method::GET, &service.url(open), None).await;
        assert_eq!(status, StatusCode::OK, "{name}: {open}");
    }
}

/// No token of this test appears in `log`.
fn assert_no_tokens_in(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        !text.is_empty(),
        "{} is empty: debug logging expected",
        log.display()
    );
    for token in [EDITOR, VIEWER, NOBODY, SA, "fresh-token"] {
        assert!(
            !text.contains(token),
            "{} shows a token:\n{text}",
            log.display()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_service_allows_what_the_charts_roles_grant_and_nothing_more() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let pki = TestPki::new("api-auth");
    let work = cluster.dir.path();
    let firewall = integration::workspace_root().join("compose/firewall.yaml");

    let metal = integration::metal_api::MetalApi::start(&work.join("metal-api"));
    let lb_dir = work.join("lb");
    std::fs::create_dir_all(&lb_dir).unwrap();
    let mut lb_args = secured_flags(&cluster, &pki, &lb_dir);
    lb_args.extend(
        [
            "--no-kubernetes",
            "--metal-api-url",
            &metal.url(""),
            "--metal-auth-hmac",
            integration::metal_api::key(metal_api_sdk::auth::HmacKind::Admin),
            "--metal-auth-hmac-auth-type",
            "Metal-Admin",
            "--metal-project-id",
            integration::metal_api::PROJECT,
            "--metal-partition-id",
            integration::metal_api::PARTITION,
            "--metal-cluster-id",
            "auth-test",
            "--metal-default-external-network-id",
            "internet",
            "--metal-additional-networks",
            "internet",
        ]
        .map(String::from),
    );
    let lb = Service::start("lb-allocator", &lb_args, work.join("lb.log"));
    check_roles(
        &lb,
        &pki,
        &Expect {
            name: "lb-allocator",
            read: "/v1/loadbalancers",
            write: (
                Method::POST,
                "/v1/loadbalancers",
                Some(json!({"namespace": "default", "name": "web"})),
            ),
            viewer_writes: false,
        },
    )
    .await;
    // Deleting is its own verb: the viewer may not, the ServiceAccount bound to the editor
    // role may.
    let viewer = bearer_tls_client(VIEWER, &pki.ca_pem);
    let delete = lb.url("/v1/loadbalancers/default/web");
    let (status, _, _) = call(&viewer, Method::DELETE, &delete, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let sa = bearer_tls_client(SA, &pki.ca_pem);
    let (status, _, answer) = call(&sa, Method::DELETE, &delete, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let rc_dir = work.join("rc");
    std::fs::create_dir_all(&rc_dir).unwrap();
    let mut rc_args = secured_flags(&cluster, &pki, &rc_dir);
    rc_args.extend(rule_compiler_flags());
    let rc = Service::start("rule-compiler", &rc_args, work.join("rc.log"));
    let compile = json!({
        "firewall": rule_compiler::read_firewall(&firewall).unwrap(),
        "policies": [],
        "services": [],
    });
    check_roles(
        &rc,
        &pki,
        &Expect {
            name: "rule-compiler",
            read: "/v1/status",
            write: (Method::POST, "/v1/compile", Some(compile)),
            viewer_writes: true,
        },
    )
    .await;

    let vm_dir = work.join("vm");
    std::fs::create_dir_all(&vm_dir).unwrap();
    let mut vm_args = secured_flags(&cluster, &pki, &vm_dir);
    let socket = format!("unix://{}", vm_dir.join("csi.sock").display());
    let vg = format!("mmauth{}", std::process::id());
    vm_args.extend(
        [
            "--csi-endpoint",
            &socket,
            "--node-id",
            "auth-test",
            "--vg-name",
            &vg,
            "--no-activation",
        ]
        .map(String::from),
    );
    let vm = Service::start("volume-manager", &vm_args, work.join("vm.log"));
    // Its REST API only reads (CSI changes volumes, over its socket).
    check_roles(
        &vm,
        &pki,
        &Expect {
            name: "volume-manager",
            read: "/metrics",
            write: (Method::GET, "/v1/volumegroups", None),
            viewer_writes: true,
        },
    )
    .await;

    // metal-api keeps its HMAC API; the runtime guards its /metrics.
    let api_dir = work.join("api");
    std::fs::create_dir_all(&api_dir).unwrap();
    let api_flags = secured_flags(&cluster, &pki, &api_dir);
    let api_flags: Vec<&str> = api_flags.iter().map(String::as_str).collect();
    let metal_tls =
        integration::metal_api::MetalApi::start_with(&work.join("metal-api-tls"), "/", &api_flags);
    let metrics = format!("https://127.0.0.1:{}/metrics", metal_tls.addr.port());
    let (status, _, _) = call(&anonymous(&pki), Method::GET, &metrics, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&viewer, Method::GET, &metrics, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(
        &bearer_tls_client(NOBODY, &pki.ca_pem),
        Method::GET,
        &metrics,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for service in [&lb, &rc, &vm] {
        assert_no_tokens_in(&service.log);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reviews_are_cached_and_their_failures_are_503_never_allowed() {
    let Some(cluster) = Cluster::start().await else {
        return;
    };
    let pki = TestPki::new("api-auth-faults");
    let work = cluster.dir.path();
    let firewall = integration::workspace_root().join("compose/firewall.yaml");
    let mut args = secured_flags(&cluster, &pki, work);
    args.extend(rule_compiler_flags());
    let rc = Service::start("rule-compiler", &args, work.join("rc.log"));
    let status_url = rc.url("/v1/status");

    // A new caller costs one TokenReview and one SubjectAccessReview; a repeat costs nothing.
    let editor = bearer_tls_client(EDITOR, &pki.ca_pem);
    let before = cluster.reviews();
    let (status, _, _) = call(&editor, Method::GET, &status_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cluster.reviews(), (before.0 + 1, before.1 + 1));
    for _ in 0..5 {
        let (status, _, _) = call(&editor, Method::GET, &status_url, None).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(cluster.reviews(), (before.0 + 1, before.1 + 1), "cached");

    // Reviews that fail are 503 with a problem, for callers not yet cached.
    cluster
        .server
        .shared
        .add_token("fresh-token", "alice", "9", vec!["devs".into()]);
    let fresh = bearer_tls_client("fresh-token", &pki.ca_pem);
    for fault in [ReviewFault::Garbage, ReviewFault::Error, ReviewFault::Hang] {
        cluster.server.shared.set_review_fault(fault);
        let started = Instant::now();
        let (status, headers, problem) = call(&fresh, Method::GET, &status_url, None).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{fault:?}: {problem}"
        );
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(problem["detail"].as_str().is_some(), "{problem}");
        // --auth-review-timeout 1s.
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{fault:?} answered after {:?}",
            started.elapsed()
        );
        // Cached callers are not affected.
        let (status, _, _) = call(&editor, Method::GET, &status_url, None).await;
        assert_eq!(status, StatusCode::OK, "{fault:?}");
    }
    // A failure is not cached: once the API server answers again, so does the service.
    cluster.server.shared.set_review_fault(ReviewFault::None);
    let (status, _, _) = call(&fresh, Method::GET, &status_url, None).await;
    assert_eq!(status, StatusCode::OK);

    // A client certificate signed by the client CA authenticates as its CN (alice here, who
    // holds the editor role); one from another CA is refused at the handshake.
    let ca = work.join("ca.crt");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let curl_post = |cert: &integration::auth::Pair, name: &str| {
        let (c, k) = (
            work.join(format!("{name}.crt")),
            work.join(format!("{name}.key")),
        );
        std::fs::write(&c, &cert.cert_pem).unwrap();
        std::fs::write(&k, &cert.key_pem).unwrap();
        Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
            .arg(&ca)
            .arg("--cert")
            .arg(&c)
            .arg("--key")
            .arg(&k)
            .args(["-X", "POST", "-H", "content-type: application/json", "-d"])
            .arg(json!({"firewall": rule_compiler::read_firewall(&firewall).unwrap()}).to_string())
            .arg(rc.url("/v1/compile"))
            .output()
            .expect("curl")
    };
    let out = curl_post(&pki.client("alice", &["devs"]), "alice");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
    let out = curl_post(&pki.client("carol", &[]), "carol");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "{out:?}");
    let foreign = TestPki::new("foreign");
    let out = curl_post(&foreign.client("alice", &["devs"]), "foreign");
    assert!(
        !out.status.success(),
        "a foreign client certificate: {out:?}"
    );

    // A 1 MiB token is refused without reaching a review. The server answers 431 (or 401) and
    // closes after reading past its header limit, so the client may instead see its write of
    // the rest of the header fail (a broken pipe or reset): that is a refusal too.
    let before = cluster.reviews();
    let huge = bearer_tls_client(&"x".repeat(1 << 20), &pki.ca_pem);
    match huge.get(&status_url).send().await {
        Ok(resp) => {
            let status = resp.status();
            assert!(
                status == StatusCode::UNAUTHORIZED
                    || status == StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "{status}"
            );
        }
        Err(e) => assert!(e.is_request() && !e.is_timeout(), "{e:?}"),
    }
    // The service still serves.
    let (status, _, _) = call(&editor, Method::GET, &status_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cluster.reviews(), before);
    assert_no_tokens_in(&rc.log);
}

/// The subject CN of the certificate a new connection to `url` is served, per curl.
fn served_cn(url: &str, ca: &Path) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "-v", "-o", "/dev/null", "--cacert"])
        .arg(ca)
        .arg(url)
        .output()
        .expect("curl");
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        return Err(log);
    }
    log.lines()
        .find_map(|l| l.split("subject: ").nth(1))
        .and_then(|s| s.split("CN=").nth(1))
        .map(|cn| cn.split(',').next().unwrap_or(cn).trim().to_string())
        .ok_or(log)
}

/// Waits until new connections are served the certificate named `cn`.
fn wait_for_cn(url: &str, ca: &Path, cn: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = served_cn(url, ca);
        if got.as_deref() == Ok(cn) {
            return;
        }
        assert!(Instant::now() < deadline, "never served CN={cn}: {got:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An HTTP/1.1 keep-alive connection over rustls, to see it survive a rotation.
struct OpenConnection(rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>);

impl OpenConnection {
    fn open(addr: SocketAddr, ca_pem: &str) -> Self {
        use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject as _};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self(rustls::StreamOwned::new(conn, tcp))
    }

    /// GET /healthz on this connection; the status code.
    fn healthz(&mut self) -> u16 {
        use std::io::{BufRead as _, Read as _, Write as _};
        write!(
            self.0,
            "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"
        )
        .unwrap();
        self.0.flush().unwrap();
        let mut reader = std::io::BufReader::new(&mut self.0);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        status.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rotated_certificates_reach_new_connections_and_broken_ones_are_refused() {
    let pki = TestPki::new("rotation");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.serving("first").write(dir.path());
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let mut args: Vec<String> = [
        "--auth",
        "none",
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
        "--tls-reload-interval",
        "100ms",
    ]
    .map(String::from)
    .to_vec();
    args.extend(rule_compiler_flags());
    let rc = Service::start("rule-compiler", &args, dir.path().join("rc.log"));
    let url = rc.url("/healthz");

    // curl with the CA succeeds; with only the system's roots, or over plain HTTP, it does not.
    assert_eq!(served_cn(&url, &ca).as_deref(), Ok("first"));
    let untrusted = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", &url])
        .output()
        .unwrap();
    assert_eq!(untrusted.status.code(), Some(60), "{untrusted:?}");
    let plain = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/healthz", rc.addr))
        .output()
        .unwrap();
    assert_ne!(String::from_utf8_lossy(&plain.stdout), "200", "{plain:?}");

    let mut open = OpenConnection::open(rc.addr, &pki.ca_pem);
    assert_eq!(open.healthz(), 200);

    // Rotated in place: new connections get the new pair, no restart, the open one lives on.
    pki.serving("second").write(dir.path());
    wait_for_cn(&url, &ca, "second");
    assert_eq!(
        open.healthz(),
        200,
        "the open connection survived the rotation"
    );

    // Garbage, then the files removed: refused, the last good pair stays in use.
    integration::auth::write_atomically(&cert, "garbage");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(served_cn(&url, &ca).as_deref(), Ok("second"));
    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(&key).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(served_cn(&url, &ca).as_deref(), Ok("second"));
    // A key that does not belong to the certificate is refused too.
    let mismatched = (pki.serving("third"), pki.serving("other"));
    integration::auth::write_atomically(&cert, &mismatched.0.cert_pem);
    integration::auth::write_atomically(&key, &mismatched.1.key_pem);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(served_cn(&url, &ca).as_deref(), Ok("second"));

    // Restored: taken into use.
    pki.serving("restored").write(dir.path());
    wait_for_cn(&url, &ca, "restored");
    assert_eq!(open.healthz(), 200);
    let log = std::fs::read_to_string(&rc.log).unwrap();
    assert!(log.contains("do not load"), "the refusal is logged:\n{log}");
    assert!(
        log.contains("--auth none"),
        "the open API is warned about:\n{log}"
    );
}
