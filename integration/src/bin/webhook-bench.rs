//! What answering Gardener's validation reviews costs, against a baseline in the same run:
//!
//! - **gardener-webhooks** (release build, `--webhooks validator`), validating a realistic
//!   Shoot (3 worker pools, a firewall with 4 networks) against a CloudProfile with 20
//!   partitions watched from kube-testserver, over loopback TLS;
//! - **baseline**: an actix-web server on the same TLS stack (rustls 0.23, ring) answering
//!   every POST with a fixed AdmissionReview, in this process.
//!
//! Each gets the same open-loop load: `RATE` reviews a second spread over `CONNECTIONS`
//! keep-alive connections for `SECONDS`; latency is measured from each request's send to its
//! parsed answer (tokio's timer wakes a sender up to 1 ms after its slot, so measuring from the
//! slot would mostly measure the timer), and p50/p99/max are compared. Then each is driven
//! closed-loop (as fast as the connections go) for its throughput. The load generator shares
//! the machine's cores with both servers.
//!
//! Run: `cargo run --release -p integration --bin webhook-bench -- [SECONDS] [RATE] [CONNECTIONS]`
//! (defaults 10, 5000 and 64).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use hdrhistogram::Histogram;
use integration::auth::TestPki;
use integration::gardener::{Webhooks, cloud_profile, crds, review, shoot};
use integration::kube::{KubeTestServer, client, write_kubeconfig};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use rustls::pki_types::pem::PemObject as _;
use serde_json::Value;

struct Load {
    seconds: u64,
    rate: u64,
    connections: usize,
}

struct Latencies {
    p50: f64,
    p99: f64,
    max: f64,
    sent: u64,
    rate: f64,
}

/// One client per connection, so each keeps exactly one keep-alive connection.
fn clients(ca_pem: &str, n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| {
            let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
            reqwest::Client::builder()
                .tls_certs_only([ca])
                .pool_max_idle_per_host(1)
                .http1_only()
                .build()
                .unwrap()
        })
        .collect()
}

async fn send(http: &reqwest::Client, url: &str, body: &Arc<Vec<u8>>) {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.as_ref().clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("an AdmissionReview");
    assert_eq!(answer["response"]["allowed"], true, "{answer}");
}

/// Open loop: connection `i` sends at `start + i·spread + k·period`.
async fn open_loop(
    http: &[reqwest::Client],
    url: &str,
    body: Arc<Vec<u8>>,
    load: &Load,
) -> Latencies {
    let period = Duration::from_secs_f64(load.connections as f64 / load.rate as f64);
    let per_connection = load.seconds * load.rate / load.connections as u64;
    let start = Instant::now() + Duration::from_millis(200);
    let tasks: Vec<_> = http
        .iter()
        .enumerate()
        .map(|(i, http)| {
            let (http, url, body) = (http.clone(), url.to_string(), body.clone());
            let offset = period.mul_f64(i as f64 / load.connections as f64);
            tokio::spawn(async move {
                let mut histogram = Histogram::<u64>::new(3).unwrap();
                for k in 0..per_connection {
                    let due = start + offset + period * k as u32;
                    tokio::time::sleep_until(due.into()).await;
                    // From the send, not from `due`: tokio's timer wakes up to a millisecond
                    // late, which would otherwise be most of what is measured.
                    let sent = Instant::now();
                    send(&http, &url, &body).await;
                    histogram.record(sent.elapsed().as_micros() as u64).unwrap();
                }
                histogram
            })
        })
        .collect();
    let mut all = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        all.add(task.await.unwrap()).unwrap();
    }
    let took = start.elapsed().as_secs_f64();
    let ms = |us: u64| us as f64 / 1000.0;
    Latencies {
        p50: ms(all.value_at_quantile(0.50)),
        p99: ms(all.value_at_quantile(0.99)),
        max: ms(all.max()),
        sent: all.len(),
        rate: all.len() as f64 / took,
    }
}

/// Closed loop: every connection sends as soon as its previous answer arrived.
async fn closed_loop(http: &[reqwest::Client], url: &str, body: Arc<Vec<u8>>, seconds: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = http
        .iter()
        .map(|http| {
            let (http, url, body, done) =
                (http.clone(), url.to_string(), body.clone(), done.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    send(&http, &url, &body).await;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// The baseline: actix-web over rustls answering every POST with `answer`, in its own thread.
fn baseline(pki: &TestPki, answer: Vec<u8>, workers: usize) -> std::net::SocketAddr {
    let pair = pki.serving("baseline");
    let certs = certificates(&pair.cert_pem);
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = web::Bytes::from(answer);
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                let answer = answer.clone();
                App::new().default_service(web::to(move |_body: web::Bytes| {
                    let answer = answer.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(answer)
                    }
                }))
            })
            .workers(workers)
            .listen_rustls_0_23(listener, config)
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
    addr
}

fn certificates(pem: &str) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Decoding, validating and encoding one review in this process, without HTTP or TLS: the
/// service's own share of each answer.
fn in_process(body: &[u8], profile: Value) -> Duration {
    use gardener_webhooks::objects::{Given, ProfileRef};
    use gardener_webhooks::review::{self, Answer};
    let mut objects = Given::default();
    objects
        .profiles
        .insert(ProfileRef::CloudProfile("metal".into()), profile.into());
    let rounds = 20_000;
    let started = Instant::now();
    for _ in 0..rounds {
        let review = review::decode(body).expect("a review");
        let answer =
            futures::executor::block_on(gardener_webhooks::garden::validate(&review, &objects));
        assert_eq!(answer, Answer::Allow);
        let encoded = serde_json::to_vec(&review::respond(&review, answer)).unwrap();
        std::hint::black_box(encoded);
    }
    started.elapsed() / rounds
}

fn print(name: &str, l: &Latencies) {
    println!(
        "{name:<18} {:>7} reviews at {:>6.0}/s: p50 {:>6.3} ms  p99 {:>6.3} ms  max {:>7.3} ms",
        l.sent, l.rate, l.p50, l.p99, l.max
    );
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let load = Load {
        seconds: args.next().map_or(10, |s| s.parse().expect("SECONDS")),
        rate: args.next().map_or(5000, |s| s.parse().expect("RATE")),
        connections: args.next().map_or(64, |s| s.parse().expect("CONNECTIONS")),
    };

    let dir = tempfile::tempdir().unwrap();
    let crd_files = crds(dir.path());
    let crd_refs: Vec<&std::path::Path> = crd_files.iter().map(|p| p.as_path()).collect();
    let kube = KubeTestServer::start(&crd_refs, &[]);
    let profiles: Api<DynamicObject> = Api::all_with(
        client(&kube.url()),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("core.gardener.cloud", "v1beta1", "CloudProfile"),
            "cloudprofiles",
        ),
    );
    let profile: DynamicObject = serde_json::from_value(cloud_profile(20)).unwrap();
    profiles
        .create(&PostParams::default(), &profile)
        .await
        .unwrap();
    let kubeconfig = write_kubeconfig(dir.path(), &kube.url());
    let pki = TestPki::new("webhook-bench");
    let webhooks = Webhooks::start(
        dir.path(),
        &pki,
        &kubeconfig,
        &[
            "--webhooks",
            "validator",
            "--auth",
            "none",
            "--log-level",
            "warn",
        ],
        &[],
    )
    .await;

    let body = Arc::new(
        serde_json::to_vec(&review(
            "bench",
            "shoots",
            "CREATE",
            &shoot("part-07"),
            None,
        ))
        .unwrap(),
    );
    let http = clients(&pki.ca_pem, load.connections);
    let url = webhooks.url("/webhooks/validate");
    // The baseline answers what the service answers, byte for byte.
    let fixed = http[0]
        .post(&url)
        .body(body.as_ref().clone())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let baseline_url = format!(
        "https://localhost:{}/webhooks/validate",
        baseline(&pki, fixed.to_vec(), workers).port()
    );
    println!(
        "{} reviews/s over {} connections for {} s; review body {} bytes; {workers} CPUs, {workers} HTTP workers each",
        load.rate,
        load.connections,
        load.seconds,
        body.len()
    );

    println!(
        "in process (decode, validate, encode): {:.1} µs per review",
        in_process(&body, cloud_profile(20)).as_secs_f64() * 1e6
    );

    // Warm both up (TLS handshakes, the watch cache), then alternate.
    closed_loop(&http, &url, body.clone(), 1).await;
    closed_loop(&http, &baseline_url, body.clone(), 1).await;
    let service = open_loop(&http, &url, body.clone(), &load).await;
    let base = open_loop(&http, &baseline_url, body.clone(), &load).await;
    print("gardener-webhooks", &service);
    print("baseline", &base);
    println!(
        "p99 ratio (gardener-webhooks / baseline): {:.2}; p99 target < 1 ms: {}",
        service.p99 / base.p99,
        if service.p99 < 1.0 { "met" } else { "NOT met" }
    );
    let service_max = closed_loop(&http, &url, body.clone(), load.seconds.min(5)).await;
    let base_max = closed_loop(&http, &baseline_url, body.clone(), load.seconds.min(5)).await;
    println!(
        "closed loop: gardener-webhooks {service_max:.0}/s, baseline {base_max:.0}/s, ratio {:.2}",
        service_max / base_max
    );
}
