//! What TLS and delegated auth cost the lb-allocator's API, against a baseline in the same run:
//!
//! 1. Throughput of `GET /v1/loadbalancers` (keep-alive connections, cached reviews) over HTTPS
//!    with `--auth kubernetes`, against the same lb-allocator build over plain HTTP with
//!    `--auth none`; the two alternate, several rounds each, and the medians are compared.
//! 2. The first request of a new token: how many TokenReviews and SubjectAccessReviews it sends
//!    (kube-testserver counts them) and what it adds to the latency of a cached one.
//!
//! Run: `cargo run --release -p integration --bin auth-bench -- [SECONDS] [CONNECTIONS]`
//! (defaults 5 and 16).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use integration::auth::{TestPki, bearer_tls_client};
use integration::kube::{KubeTestServer, write_kubeconfig, write_token_file};
use integration::lb_allocator::{LbAllocator, Options};
use integration::metal_api::MetalApi;
use serde_json::{Value, json};

/// Tokens of the first-request measurement: each is reviewed once.
const FRESH: usize = 50;
const ROUNDS: usize = 3;

/// Requests per second of `connections` clients sending GET `url` for `seconds`.
async fn throughput(http: &reqwest::Client, url: &str, connections: usize, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let (http, url, done) = (http.clone(), url.to_string(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let resp = http.get(&url).send().await.expect("GET");
                    assert_eq!(resp.status(), 200);
                    resp.bytes().await.expect("body");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn reviews(http: &reqwest::Client, kube: &KubeTestServer) -> (u64, u64) {
    let counts: Value = http
        .get(format!("{}/testserver/reviews", kube.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        counts["tokenReviews"].as_u64().unwrap(),
        counts["subjectAccessReviews"].as_u64().unwrap(),
    )
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(5, |s| s.parse().expect("SECONDS"));
    let connections: usize = args.next().map_or(16, |s| s.parse().expect("CONNECTIONS"));

    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<(String, String)> = (0..=FRESH)
        .map(|i| (format!("bench-token-{i}"), format!("bench-{i}")))
        .collect();
    let lines: Vec<(&str, &str, &[&str])> = tokens
        .iter()
        .map(|(t, u)| (t.as_str(), u.as_str(), &["bench"][..]))
        .collect();
    let token_file = write_token_file(dir.path(), &lines);
    let kube = KubeTestServer::start(&[], &["--token-file", token_file.to_str().unwrap()]);
    let client = integration::kube::client(&kube.url());
    integration::kube::create_access_roles(&client, "lb-allocator", &lb_allocator::access()).await;
    integration::kube::bind(
        &client,
        "metal-mesh:lb-allocator:viewer",
        "bench-viewers",
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "bench"}),
    )
    .await;
    let kubeconfig = write_kubeconfig(dir.path(), &kube.url());

    let metal = MetalApi::start(&dir.path().join("metal-api"));
    let mut plain = Options::new(&metal, None);
    plain.log_level = "warn";
    plain.extra = ["--auth", "none"].map(String::from).to_vec();
    let plain = LbAllocator::start(&plain);
    // A list worth reading: 20 load balancers, created through the plain one.
    let open = reqwest::Client::new();
    for i in 0..20 {
        let created = open
            .post(plain.url("/v1/loadbalancers"))
            .json(&json!({"namespace": "bench", "name": format!("lb-{i}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
    }

    let pki = TestPki::new("auth-bench");
    let (cert, key) = pki.serving("auth-bench").write(dir.path());
    let mut secured = Options::new(&metal, None);
    secured.log_level = "warn";
    secured.extra = [
        "--auth",
        "kubernetes",
        "--auth-kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--tls-cert-file",
        cert.to_str().unwrap(),
        "--tls-key-file",
        key.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    let secured = LbAllocator::start(&secured);
    let secured_url = format!("https://127.0.0.1:{}/v1/loadbalancers", secured.addr.port());
    let plain_url = plain.url("/v1/loadbalancers");
    let reader = bearer_tls_client(&tokens[0].0, &pki.ca_pem);

    // Both lists are the same 20; warm up connections and the review cache.
    let list = async |http: &reqwest::Client, url: &str| -> Value {
        http.get(url).send().await.unwrap().json().await.unwrap()
    };
    let (a, b) = (
        list(&open, &plain_url).await,
        list(&reader, &secured_url).await,
    );
    assert_eq!(a, b);
    assert_eq!(a.as_array().map(Vec::len), Some(20));

    let (mut base, mut auth) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        base.push(throughput(&open, &plain_url, connections, seconds).await);
        auth.push(throughput(&reader, &secured_url, connections, seconds).await);
    }
    let (base_rps, auth_rps) = (median(base.clone()), median(auth.clone()));
    println!(
        "GET /v1/loadbalancers, {connections} keep-alive connections, {seconds}s x {ROUNDS} rounds each"
    );
    println!("  plain HTTP, --auth none           {base_rps:>8.0} req/s  (rounds {base:.0?})");
    println!("  HTTPS, --auth kubernetes (cached) {auth_rps:>8.0} req/s  (rounds {auth:.0?})");
    println!("  ratio {:.3} (target >= 0.90)", auth_rps / base_rps);

    // First requests: one review of each kind per new token, nothing for a known one.
    let kube_http = reqwest::Client::new();
    let before = reviews(&kube_http, &kube).await;
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for (token, _) in &tokens[1..] {
        for sample in [&mut first, &mut again] {
            let started = Instant::now();
            let resp = reader
                .get(&secured_url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.bytes().await.unwrap();
            sample.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    let after = reviews(&kube_http, &kube).await;
    println!(
        "first request of {FRESH} new tokens: {} TokenReviews, {} SubjectAccessReviews; \
         p50 {:.2} ms against {:.2} ms for the same token again (+{:.2} ms)",
        after.0 - before.0,
        after.1 - before.1,
        median(first.clone()),
        median(again.clone()),
        median(first) - median(again)
    );
    assert_eq!(after.0 - before.0, FRESH as u64);
    assert_eq!(after.1 - before.1, FRESH as u64);
}
