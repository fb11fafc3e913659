//! Running a service: the actix System, the HTTP server with the built-in routes, and the
//! graceful shutdown sequence.

use std::{future::Future, sync::Arc, time::Instant};

use actix_web::{
    App, HttpServer,
    body::MessageBody,
    dev::{Service as _, ServiceFactory, ServiceRequest, ServiceResponse},
    web,
};
use anyhow::Context as _;
use futures::{FutureExt as _, future::BoxFuture};
use tracing_actix_web::TracingLogger;

use crate::{
    actors::ActorMetrics,
    auth::{self, Auth, AuthScope},
    cli::RuntimeArgs,
    docs,
    health::{self, ReadinessCheck, ReadinessChecks},
    metrics::{self, HttpMetrics, MetricsRegistry},
    shutdown::ShutdownSignal,
    telemetry::Telemetry,
    tls::{self, ServingTls},
};

/// Name and version of a service, as shown in logs, traces and `build_info`.
#[derive(Clone, Copy, Debug)]
pub struct ServiceInfo {
    pub name: &'static str,
    pub version: &'static str,
}

/// Registers a service's own routes; called once per HTTP worker.
pub type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// Work to do after the HTTP server drained, before exit (flush stores etc.).
pub type OnShutdown = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Everything a service hands to the runtime after starting its actors.
pub struct ServiceParts {
    /// The service's own routes, next to the built-in ones.
    pub routes: Routes,
    /// Served as `/openapi.json` and rendered by `/docs`.
    pub openapi: utoipa::openapi::OpenApi,
    /// All must pass for `/readyz` to answer 200.
    pub readiness: Vec<Arc<dyn ReadinessCheck>>,
    /// Runs after the HTTP server drained, before exit.
    pub on_shutdown: Option<OnShutdown>,
    /// Which routes the runtime guards (default: every route but the open ones).
    pub auth_scope: AuthScope,
    /// The service's Kubernetes client, which reviews credentials unless --auth-kubeconfig
    /// names another API server.
    pub kube: Option<kube::Client>,
}

impl ServiceParts {
    /// Parts with no readiness checks and nothing to do at shutdown.
    pub fn new(
        openapi: utoipa::openapi::OpenApi,
        routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    ) -> Self {
        Self {
            routes: Arc::new(routes),
            openapi,
            readiness: Vec::new(),
            on_shutdown: None,
            auth_scope: AuthScope::default(),
            kube: None,
        }
    }

    /// The service authenticates its API itself; the runtime guards only `/metrics`.
    pub fn with_own_api_auth(mut self) -> Self {
        self.auth_scope = AuthScope::MetricsOnly;
        self
    }

    /// Reviews credentials with the service's own Kubernetes client.
    pub fn with_kube(mut self, client: kube::Client) -> Self {
        self.kube = Some(client);
        self
    }

    pub fn with_readiness(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.readiness.push(Arc::new(check));
        self
    }

    pub fn with_on_shutdown<Fut>(
        mut self,
        on_shutdown: impl FnOnce() -> Fut + Send + 'static,
    ) -> Self
    where
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_shutdown = Some(Box::new(move || on_shutdown().boxed()));
        self
    }
}

/// What a service's setup closure gets, inside the running actix System (so it may start
/// actors).
pub struct Setup {
    /// The service's metric registry; register the service's own metrics here.
    pub registry: MetricsRegistry,
    /// Restart and mailbox metrics for the service's actors (already registered).
    pub actors: ActorMetrics,
    /// Fires on SIGTERM/SIGINT; hand clones to controllers and other servers.
    pub shutdown: ShutdownSignal,
    /// The configured HTTP listen address.
    pub listen: std::net::SocketAddr,
}

/// The blocking entry point for a service's `main`: builds the actix System on a multi-thread
/// tokio runtime, installs telemetry, runs `setup` inside the System, serves HTTP on
/// `args.listen` until SIGTERM/SIGINT, drains in-flight requests (up to
/// `args.shutdown_timeout`), runs `on_shutdown`, flushes traces and stops the System.
/// Returns `Ok` after a clean shutdown, so the process exits 0.
pub fn run<F, Fut>(info: ServiceInfo, args: RuntimeArgs, setup: F) -> anyhow::Result<()>
where
    F: FnOnce(Setup) -> Fut + 'static,
    Fut: Future<Output = anyhow::Result<ServiceParts>> + 'static,
{
    block_on_system(async move {
        let telemetry = Telemetry::init(&info, &args)?;
        let served = async {
            let shutdown = ShutdownSignal::on_os_signals().context("installing signal handlers")?;
            launch(info, &args, shutdown, setup).await
        }
        .await;
        telemetry.shutdown().await;
        actix_rt::System::current().stop();
        served
    })
}

/// Runs `f` to completion on a new actix System backed by a multi-thread tokio runtime:
/// actors run on the System's arbiter, `tokio::spawn`ed tasks get work stealing.
///
/// # Panics
/// When the OS refuses the runtime's threads or I/O driver.
pub fn block_on_system<F: Future>(f: F) -> F::Output {
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("building the tokio runtime")
    })
    .block_on(f)
}

/// Runs one service inside the current System until `shutdown` fires: creates its metric
/// registry, calls `setup`, then [`serve`]s. Several services can be launched side by side in
/// one process (each with its own `args.listen`), sharing one `shutdown`.
pub async fn launch<F, Fut>(
    info: ServiceInfo,
    args: &RuntimeArgs,
    shutdown: ShutdownSignal,
    setup: F,
) -> anyhow::Result<()>
where
    F: FnOnce(Setup) -> Fut,
    Fut: Future<Output = anyhow::Result<ServiceParts>>,
{
    let registry = MetricsRegistry::default();
    let actors = registry.with(ActorMetrics::new);
    let parts = setup(Setup {
        registry: registry.clone(),
        actors,
        shutdown: shutdown.clone(),
        listen: args.listen,
    })
    .await
    .with_context(|| format!("setting up {}", info.name))?;
    serve(info, args, registry, parts, shutdown).await
}

/// Serves `parts` plus the built-in routes over HTTP on `args.listen` until `shutdown` fires,
/// then stops accepting, lets in-flight requests finish (up to `args.shutdown_timeout`) and runs
/// `parts.on_shutdown` (also when serving failed). `registry` gets the HTTP metrics and build
/// info; give each service its own.
pub async fn serve(
    info: ServiceInfo,
    args: &RuntimeArgs,
    registry: MetricsRegistry,
    mut parts: ServiceParts,
    shutdown: ShutdownSignal,
) -> anyhow::Result<()> {
    let on_shutdown = parts.on_shutdown.take();
    let served = serve_http(info, args, registry, parts, shutdown).await;
    if let Some(on_shutdown) = on_shutdown {
        on_shutdown().await;
    }
    tracing::info!(service = info.name, "stopped");
    served
}

async fn serve_http(
    info: ServiceInfo,
    args: &RuntimeArgs,
    registry: MetricsRegistry,
    parts: ServiceParts,
    shutdown: ShutdownSignal,
) -> anyhow::Result<()> {
    let mut parts = parts;
    let tls = ServingTls::load(&args.tls, &registry)?.map(Arc::new);
    let auth = Auth::build(
        &args.auth,
        args.listen,
        parts.auth_scope,
        parts.kube.take(),
        &registry,
    )
    .await
    .context("API authentication")?;
    auth.warn_while_open(info.name, shutdown.clone());
    let builtins = Builtins::new(&info, registry, parts, Arc::new(auth))?;
    // actix-web counts the drain limit in whole seconds; round up so it never cuts short.
    let drain_secs =
        args.shutdown_timeout.as_secs() + u64::from(args.shutdown_timeout.subsec_nanos() > 0);
    let stop = shutdown.clone();
    let mut server = HttpServer::new(move || app(builtins.clone()))
        // Replaces actix's own OS signal handling: one process-wide signal drives every server.
        .shutdown_signal(async move { stop.wait().await })
        .shutdown_timeout(drain_secs)
        .on_connect(tls::record_client_identity);
    if args.http_workers > 0 {
        server = server.workers(args.http_workers);
    }
    let bound = match &tls {
        Some(tls) => server.bind_rustls_0_23(args.listen, tls.server_config()?),
        None => server.bind(args.listen),
    };
    let server = bound.with_context(|| format!("binding {}", args.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    for addr in server.addrs() {
        tracing::info!(service = info.name, "listening on {scheme}://{addr}");
    }
    if let Some(tls) = tls {
        tokio::spawn(tls.watch(shutdown));
    }
    server.run().await.context("running the HTTP server")?;
    tracing::info!(service = info.name, "HTTP server drained");
    Ok(())
}

/// State for the built-in routes, cloned into every HTTP worker.
#[derive(Clone)]
struct Builtins {
    registry: MetricsRegistry,
    http: HttpMetrics,
    readiness: ReadinessChecks,
    openapi_json: web::Bytes,
    routes: Routes,
    auth: Arc<Auth>,
}

impl Builtins {
    fn new(
        info: &ServiceInfo,
        registry: MetricsRegistry,
        parts: ServiceParts,
        auth: Arc<Auth>,
    ) -> anyhow::Result<Self> {
        let http = registry.with(|r| HttpMetrics::register(r, info));
        let openapi_json = parts
            .openapi
            .to_pretty_json()
            .context("serializing the OpenAPI document")?;
        Ok(Self {
            registry,
            http,
            readiness: parts.readiness.into(),
            openapi_json: openapi_json.into(),
            routes: parts.routes,
            auth,
        })
    }
}

/// The application of one HTTP worker: built-in routes, the service's routes, request metrics
/// and a tracing span per request.
fn app(
    builtins: Builtins,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let Builtins {
        registry,
        http,
        readiness,
        openapi_json,
        routes,
        auth,
    } = builtins;
    App::new()
        .configure(|cfg| health::configure(cfg, readiness))
        .configure(|cfg| metrics::configure(cfg, registry))
        .configure(|cfg| docs::configure(cfg, openapi_json))
        .configure(|cfg| routes(cfg))
        // Inside the metrics and the span, so refusals are counted and traced too.
        .wrap(auth::guard(auth))
        .wrap_fn(move |req, srv| {
            let started = Instant::now();
            let method = req.method().clone();
            let response = srv.call(req);
            let http = http.clone();
            async move {
                let response = response.await;
                let (route, status) = match &response {
                    Ok(res) => (res.request().match_pattern(), res.status()),
                    Err(e) => (None, e.as_response_error().status_code()),
                };
                http.observe(&method, route, status, started.elapsed());
                response
            }
        })
        .wrap(TracingLogger::default())
}

#[cfg(test)]
mod tests {
    use actix_web::{
        HttpResponse,
        http::{StatusCode, header},
        test::{self, TestRequest},
    };
    use futures::FutureExt as _;
    use serde_json::{Value, json};
    use utoipa::openapi::{
        OpenApiBuilder, PathItem, PathsBuilder,
        path::{HttpMethod, OperationBuilder},
    };

    use super::*;
    use crate::metrics::OPENMETRICS_CONTENT_TYPE;

    const INFO: ServiceInfo = ServiceInfo {
        name: "test-svc",
        version: "1.2.3",
    };

    struct Check(&'static str, Result<(), &'static str>);

    impl ReadinessCheck for Check {
        fn name(&self) -> &str {
            self.0
        }
        fn check(&self) -> BoxFuture<'_, Result<(), String>> {
            let outcome = self.1.map_err(str::to_owned);
            async move { outcome }.boxed()
        }
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        let get_thing = OperationBuilder::new()
            .operation_id(Some("get_thing"))
            .tag("things")
            .build();
        OpenApiBuilder::new()
            .paths(
                PathsBuilder::new().path("/things/{id}", PathItem::new(HttpMethod::Get, get_thing)),
            )
            .build()
    }

    fn parts(checks: Vec<Check>) -> ServiceParts {
        let mut parts = ServiceParts::new(openapi(), |cfg| {
            cfg.route(
                "/things/{id}",
                web::get().to(|id: web::Path<u32>| async move {
                    HttpResponse::Ok().body(id.to_string())
                }),
            );
        });
        for check in checks {
            parts = parts.with_readiness(check);
        }
        parts
    }

    /// The guard built from `flags` (auth flags only; a loopback listen address).
    async fn guard(flags: &[&str]) -> Arc<Auth> {
        guard_in(&MetricsRegistry::default(), AuthScope::Api, flags).await
    }

    /// The guard built from `flags` with `scope`, counting into `registry`.
    async fn guard_in(registry: &MetricsRegistry, scope: AuthScope, flags: &[&str]) -> Arc<Auth> {
        let args = crate::try_parse_args_from::<TestArgs, _, _>(
            "GUARD_TEST",
            std::iter::once("test").chain(flags.iter().copied()),
        )
        .unwrap()
        .runtime;
        let auth = Auth::build(&args.auth, args.listen, scope, None, registry)
            .await
            .unwrap();
        Arc::new(auth)
    }

    /// Sends `requests` in order to one app instance guarded by `auth`; returns status,
    /// headers and body of each.
    async fn call(
        registry: &MetricsRegistry,
        checks: Vec<Check>,
        auth: Arc<Auth>,
        requests: Vec<TestRequest>,
    ) -> Vec<(StatusCode, header::HeaderMap, String)> {
        let builtins = Builtins::new(&INFO, registry.clone(), parts(checks), auth).unwrap();
        let svc = test::init_service(app(builtins)).await;
        let mut responses = Vec::new();
        for req in requests {
            let res = test::call_service(&svc, req.to_request()).await;
            let status = res.status();
            let headers = res.headers().clone();
            let body = test::read_body(res).await;
            responses.push((status, headers, String::from_utf8(body.to_vec()).unwrap()));
        }
        responses
    }

    /// Requests `paths` (`"/p"` or `"METHOD /p"`) in order from one app instance without
    /// auth; returns status, content type and body of each.
    async fn fetch(
        registry: &MetricsRegistry,
        checks: Vec<Check>,
        paths: &[&str],
    ) -> Vec<(StatusCode, Option<String>, String)> {
        let requests = paths
            .iter()
            .map(|request| {
                let (method, path) = request.split_once(' ').unwrap_or(("GET", request));
                let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
                TestRequest::default().method(method).uri(path)
            })
            .collect();
        let auth = guard(&["--auth", "none"]).await;
        call(registry, checks, auth, requests)
            .await
            .into_iter()
            .map(|(status, headers, body)| {
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_owned());
                (status, content_type, body)
            })
            .collect()
    }

    async fn get(checks: Vec<Check>, path: &str) -> (StatusCode, Option<String>, String) {
        fetch(&MetricsRegistry::default(), checks, &[path])
            .await
            .remove(0)
    }

    #[actix_web::test]
    async fn healthz_is_always_ok() {
        let (status, _, body) = get(vec![Check("store", Err("closed"))], "/healthz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"status": "ok"})
        );
    }

    #[actix_web::test]
    async fn readyz_is_200_when_every_check_passes() {
        let checks = vec![Check("store", Ok(())), Check("metal-api", Ok(()))];
        let (status, _, body) = get(checks, "/readyz").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"status": "ready", "checks": {"store": "ok", "metal-api": "ok"}})
        );
    }

    #[actix_web::test]
    async fn readyz_is_503_with_the_failing_checks_message() {
        let checks = vec![
            Check("store", Ok(())),
            Check("metal-api", Err("connection refused")),
        ];
        let (status, _, body) = get(checks, "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"status": "not ready", "checks": {"store": "ok", "metal-api": "connection refused"}})
        );
    }

    #[actix_web::test]
    async fn metrics_expose_http_requests_by_route_pattern_actor_metrics_and_build_info() {
        let registry = MetricsRegistry::default();
        let actors = registry.with(ActorMetrics::new);
        actors.restarted("ip-pool");
        let paths = [
            "/things/7",
            "/things/8",
            "/nope",
            "BREW /things/9",
            "/metrics",
        ];
        let mut responses = fetch(&registry, vec![], &paths).await;
        let statuses: Vec<_> = responses.iter().map(|r| r.0).collect();
        assert_eq!(
            statuses[..4],
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::NOT_FOUND,
                StatusCode::NOT_FOUND
            ]
        );
        let (status, content_type, body) = responses.pop().unwrap();

        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some(OPENMETRICS_CONTENT_TYPE));
        for line in [
            r#"http_requests_total{method="GET",route="/things/{id}",status="200"} 2"#,
            r#"http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            r#"http_requests_total{method="OTHER",route="/things/{id}",status="404"} 1"#,
            r#"http_request_duration_seconds_count{method="GET",route="/things/{id}",status="200"} 2"#,
            r#"actor_restarts_total{actor="ip-pool"} 1"#,
            r#"build_info{service="test-svc",version="1.2.3"} 1"#,
        ] {
            assert!(
                body.lines().any(|l| l == line),
                "missing {line:?} in\n{body}"
            );
        }
        assert!(
            !body.contains("/things/7"),
            "raw paths must not become labels"
        );
        assert!(body.ends_with("# EOF\n"));
    }

    #[actix_web::test]
    async fn openapi_json_returns_the_given_document() {
        let (status, content_type, body) = get(vec![], "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        let served: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(served, serde_json::to_value(openapi()).unwrap());
        assert_eq!(
            served["paths"]["/things/{id}"]["get"]["operationId"],
            "get_thing"
        );
        assert!(body.contains("\n  "), "pretty-printed");
    }

    #[actix_web::test]
    async fn docs_is_a_self_contained_html_page_reading_openapi_json() {
        let (status, content_type, body) = get(vec![], "/docs").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.unwrap().starts_with("text/html"));
        assert!(body.starts_with("<!doctype html>"));
        assert!(body.contains("fetch(\"./openapi.json\")"));
        let lower = body.to_lowercase();
        assert!(
            !lower.contains("http://") && !lower.contains("https://"),
            "must load nothing from the network"
        );
        assert!(
            !lower.contains("<script src") && !lower.contains("<link"),
            "no external assets"
        );
    }

    #[actix_web::test]
    async fn service_routes_are_served_next_to_the_builtins() {
        let (status, _, body) = get(vec![], "/things/42").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "42"));
    }

    #[actix_web::test]
    async fn serve_drains_on_shutdown_and_runs_on_shutdown_once() {
        let (ran_tx, ran_rx) = tokio::sync::oneshot::channel();
        let parts = parts(vec![]).with_on_shutdown(move || async move {
            let _ = ran_tx.send(());
        });
        let mut args: RuntimeArgs = crate::try_parse_args_from::<TestArgs, _, _>(
            "SERVE_TEST",
            [
                "test",
                "--listen",
                "127.0.0.1:0",
                "--http-workers",
                "1",
                "--auth",
                "none",
            ],
        )
        .unwrap()
        .runtime;
        args.shutdown_timeout = std::time::Duration::from_secs(1);
        let shutdown = ShutdownSignal::new();
        let stop_soon = async {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            shutdown.trigger();
        };
        let serving = serve(
            INFO,
            &args,
            MetricsRegistry::default(),
            parts,
            shutdown.clone(),
        );
        let (served, ()) = futures::join!(
            tokio::time::timeout(std::time::Duration::from_secs(10), serving),
            stop_soon
        );
        served.expect("serve returned after shutdown").unwrap();
        ran_rx.await.expect("on_shutdown ran");
    }

    /// A static-token guard: `admin` may do anything, `reader` (group `readers`) may `get`
    /// under `/things`, `stranger` nothing. The files live as long as the returned dir.
    async fn static_guard(extra: &[&str]) -> (tempfile::TempDir, Arc<Auth>) {
        static_guard_in(&MetricsRegistry::default(), AuthScope::Api, extra).await
    }

    async fn static_guard_in(
        registry: &MetricsRegistry,
        scope: AuthScope,
        extra: &[&str],
    ) -> (tempfile::TempDir, Arc<Auth>) {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens.csv");
        let allow = dir.path().join("allow.yaml");
        std::fs::write(
            &tokens,
            "admin-token,admin,1\nreader-token,reader,2,\"readers\"\nstranger-token,stranger,3\n",
        )
        .unwrap();
        std::fs::write(
            &allow,
            "- users: [admin]\n  paths: [/]\n  verbs: ['*']\n- groups: [readers]\n  paths: [/things]\n  verbs: [get]\n",
        )
        .unwrap();
        let mut flags = vec![
            "--auth",
            "static",
            "--auth-token-file",
            tokens.to_str().unwrap(),
            "--auth-allow",
            allow.to_str().unwrap(),
        ];
        flags.extend_from_slice(extra);
        let auth = guard_in(registry, scope, &flags).await;
        (dir, auth)
    }

    fn req(method: &str, path: &str, token: Option<&str>) -> TestRequest {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let req = TestRequest::default().method(method).uri(path);
        match token {
            Some(token) => req.insert_header((header::AUTHORIZATION, format!("Bearer {token}"))),
            None => req,
        }
    }

    fn problem(body: &str) -> Value {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
    }

    /// `Auth::build`'s answer to `flags`, or its error.
    async fn build(flags: &[&str]) -> Result<(), String> {
        let args = crate::try_parse_args_from::<TestArgs, _, _>(
            "GUARD_TEST",
            std::iter::once("test").chain(flags.iter().copied()),
        )
        .unwrap()
        .runtime;
        Auth::build(
            &args.auth,
            args.listen,
            AuthScope::Api,
            None,
            &MetricsRegistry::default(),
        )
        .await
        .map(drop)
        .map_err(|e| format!("{e:#}"))
    }

    #[actix_web::test]
    async fn auth_none_is_refused_on_a_non_loopback_address_unless_insisted_on() {
        let remote = ["--listen", "0.0.0.0:8080", "--auth", "none"];
        let err = build(&remote).await.unwrap_err();
        assert!(err.contains("--auth-insecure-allow-remote"), "{err}");
        assert!(
            build(&[&remote[..], &["--auth-insecure-allow-remote"]].concat())
                .await
                .is_ok()
        );
        assert!(
            build(&["--listen", "127.0.0.1:8080", "--auth", "none"])
                .await
                .is_ok()
        );
        assert!(
            build(&["--listen", "[::1]:8080", "--auth", "none"])
                .await
                .is_ok()
        );
        let err = build(&["--auth", "static"]).await.unwrap_err();
        assert!(err.contains("--auth-token-file"), "{err}");
        let err = build(&[
            "--auth",
            "static",
            "--auth-token-file",
            "/nonexistent/tokens.csv",
            "--auth-allow",
            "/nonexistent/allow.yaml",
        ])
        .await
        .unwrap_err();
        assert!(err.contains("/nonexistent/tokens.csv"), "{err}");
    }

    #[actix_web::test]
    async fn open_routes_answer_without_a_credential_and_api_routes_do_not() {
        let (_dir, auth) = static_guard(&[]).await;
        let open = ["/healthz", "/readyz", "/openapi.json", "/docs"];
        let mut requests: Vec<_> = open.iter().map(|p| req("GET", p, None)).collect();
        requests.push(req("GET", "/things/1", None));
        requests.push(req("GET", "/metrics", None));
        let responses = call(&MetricsRegistry::default(), vec![], auth, requests).await;
        for (path, (status, _, _)) in open.iter().zip(&responses) {
            assert_eq!(*status, StatusCode::OK, "{path}");
        }
        for (status, headers, body) in &responses[open.len()..] {
            assert_eq!(*status, StatusCode::UNAUTHORIZED);
            assert_eq!(
                headers.get(header::WWW_AUTHENTICATE).unwrap(),
                "Bearer realm=\"metal-mesh\""
            );
            assert_eq!(
                headers.get(header::CONTENT_TYPE).unwrap(),
                crate::problem::PROBLEM_JSON
            );
            assert_eq!(problem(body)["status"], 401);
        }
    }

    #[actix_web::test]
    async fn malformed_unknown_and_oversized_credentials_are_401() {
        let (_dir, auth) = static_guard(&[]).await;
        let huge = format!("Bearer {}", "a".repeat(1 << 20));
        let headers = [
            "Basic YWRtaW46YWRtaW4=",
            "Bearer",
            "Bearer ",
            "bearer",
            "Bearer two tokens",
            "Bearer wrong-token",
            "admin-token",
            huge.as_str(),
        ];
        let requests = headers
            .iter()
            .map(|h| req("GET", "/things/1", None).insert_header((header::AUTHORIZATION, *h)))
            .collect();
        let responses = call(&MetricsRegistry::default(), vec![], auth, requests).await;
        for (sent, (status, headers, body)) in headers.iter().zip(&responses) {
            let shown: String = sent.chars().take(30).collect();
            assert_eq!(*status, StatusCode::UNAUTHORIZED, "{shown}");
            assert!(headers.contains_key(header::WWW_AUTHENTICATE), "{shown}");
            assert!(
                !body.contains("wrong-token") && !body.contains("aaaa"),
                "{body}"
            );
        }
    }

    #[actix_web::test]
    async fn allowed_callers_pass_and_others_get_403_naming_verb_and_path() {
        let (_dir, auth) = static_guard(&[]).await;
        let requests = vec![
            req("GET", "/things/1", Some("admin-token")),
            req("GET", "/things/2", Some("reader-token")),
            req("DELETE", "/things/2", Some("reader-token")),
            req("GET", "/things/3", Some("stranger-token")),
            req("GET", "/metrics", Some("reader-token")),
            req("GET", "/metrics", Some("admin-token")),
        ];
        let responses = call(&MetricsRegistry::default(), vec![], auth, requests).await;
        let statuses: Vec<_> = responses.iter().map(|r| r.0).collect();
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::OK,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
                StatusCode::FORBIDDEN,
                StatusCode::OK,
            ]
        );
        let delete = problem(&responses[2].2);
        assert_eq!(delete["status"], 403);
        let detail = delete["detail"].as_str().unwrap();
        assert!(
            detail.contains("\"reader\"") && detail.contains("delete /things/2"),
            "{detail}"
        );
        assert!(
            problem(&responses[3].2)["detail"]
                .as_str()
                .unwrap()
                .contains("get /things/3")
        );
    }

    #[actix_web::test]
    async fn metrics_open_serves_metrics_to_anyone_but_keeps_the_api_guarded() {
        let (_dir, auth) = static_guard(&["--metrics-open"]).await;
        let requests = vec![req("GET", "/metrics", None), req("GET", "/things/1", None)];
        let responses = call(&MetricsRegistry::default(), vec![], auth, requests).await;
        assert_eq!(responses[0].0, StatusCode::OK);
        assert_eq!(responses[1].0, StatusCode::UNAUTHORIZED);
    }

    #[actix_web::test]
    async fn metrics_only_scope_leaves_the_services_own_routes_to_it() {
        let registry = MetricsRegistry::default();
        let (_dir, auth) = static_guard_in(&registry, AuthScope::MetricsOnly, &[]).await;
        let requests = vec![
            req("GET", "/things/1", None),
            req("GET", "/metrics", None),
            req("GET", "/metrics", Some("admin-token")),
        ];
        let responses = call(&registry, vec![], auth, requests).await;
        let statuses: Vec<_> = responses.iter().map(|r| r.0).collect();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::UNAUTHORIZED, StatusCode::OK]
        );
    }

    #[actix_web::test]
    async fn exempt_prefixes_answer_without_a_credential_and_the_rest_stays_guarded() {
        let registry = MetricsRegistry::default();
        let scope = AuthScope::ApiExcept(&["/things/7"]);
        let (_dir, auth) = static_guard_in(&registry, scope, &[]).await;
        let requests = vec![
            req("GET", "/things/7", None),
            req("GET", "/things/1", None),
            req("GET", "/things/7/../1", None),
            req("GET", "/metrics", None),
        ];
        let responses = call(&registry, vec![], auth, requests).await;
        let statuses: Vec<_> = responses.iter().map(|r| r.0).collect();
        assert_eq!(
            statuses,
            [
                StatusCode::OK,
                StatusCode::UNAUTHORIZED,
                StatusCode::BAD_REQUEST,
                StatusCode::UNAUTHORIZED
            ]
        );
    }

    #[actix_web::test]
    async fn dot_segments_are_refused_before_any_route_runs() {
        let (_dir, auth) = static_guard(&[]).await;
        let requests = vec![
            req("GET", "/things/../metrics", Some("reader-token")),
            req("GET", "/things//1", Some("reader-token")),
        ];
        let responses = call(&MetricsRegistry::default(), vec![], auth, requests).await;
        for (status, _, body) in &responses {
            assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        }
    }

    #[actix_web::test]
    async fn decisions_are_counted_by_outcome_without_tokens_in_labels() {
        let registry = MetricsRegistry::default();
        let (_dir, auth) = static_guard_in(&registry, AuthScope::Api, &[]).await;
        let requests = vec![
            req("GET", "/things/1", Some("reader-token")),
            req("DELETE", "/things/1", Some("reader-token")),
            req("GET", "/things/1", Some("nobody-token")),
            req("GET", "/metrics", Some("admin-token")),
        ];
        let responses = call(&registry, vec![], auth, requests).await;
        let body = &responses[3].2;
        for line in [
            r#"http_auth_decisions_total{outcome="allowed"} 2"#,
            r#"http_auth_decisions_total{outcome="forbidden"} 1"#,
            r#"http_auth_decisions_total{outcome="unauthenticated"} 1"#,
        ] {
            assert!(body.lines().any(|l| l == line), "missing {line} in\n{body}");
        }
        assert!(!body.contains("-token"), "a token reached the metrics");
    }

    #[derive(clap::Parser)]
    struct TestArgs {
        #[command(flatten)]
        runtime: RuntimeArgs,
    }
}
