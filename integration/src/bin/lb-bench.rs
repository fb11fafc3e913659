//! lb-allocator benchmarks, each against a baseline measured in the same run:
//!
//! 1. Convergence: N `type: LoadBalancer` Services created at once on kube-testserver until
//!    every one has its IP in `status.loadBalancer.ingress` and MetalLB's pool holds them all,
//!    against N plain metal-api allocations (64 concurrent clients, and one client at a time as
//!    metal-ccm's allocation mutex does) on the same metal-api.
//! 2. The desired MetalLB state for 10 000 IPs and 500 nodes (pure computation), against
//!    decoding those IPs from metal-api's JSON.
//!
//! Run: `cargo run --release -p integration --bin lb-bench -- [SERVICES]` (default 1000).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use integration::kube::{KubeTestServer, write_kubeconfig};
use integration::lb_allocator::{LbAllocator, Options, metallb_crds};
use integration::metal_api::{Caller, MetalApi, PROJECT};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use lb_allocator::core::config::{Config, LoadBalancerKind};
use lb_allocator::core::lbconfig::{NodeInfo, build};
use lb_allocator::core::render::render;
use metal_api_sdk::model::IpResponse;
use serde_json::json;

const CLIENTS: usize = 64;

/// `n` allocations in `network`, `clients` at a time; returns the elapsed time.
async fn allocate(caller: &Caller, network: &str, n: usize, clients: usize) -> Duration {
    let left = Arc::new(AtomicUsize::new(n));
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (caller, left, network) = (caller.clone(), left.clone(), network.to_string());
            tokio::spawn(async move {
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| l.checked_sub(1))
                    .is_ok()
                {
                    let body = json!({"networkid": network, "projectid": PROJECT});
                    let (status, ip) = caller.edit("POST", "/v1/ip/allocate", Some(body)).await;
                    assert_eq!(status, 201, "{ip}");
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    start.elapsed()
}

async fn create_network(caller: &Caller, id: &str, prefix: &str) {
    let net = json!({"id": id, "prefixes": [prefix], "destinationprefixes": [], "nat": false, "privatesuper": false, "underlay": false});
    assert_eq!(caller.admin("PUT", "/v1/network", Some(net)).await.0, 201);
}

async fn converge(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let metal = MetalApi::start(&dir.path().join("metal-api"));
    let caller = Caller::new(&metal);
    create_network(&caller, "base-seq", "100.64.0.0/16").await;
    create_network(&caller, "base-par", "100.65.0.0/16").await;
    create_network(&caller, "bench", "100.66.0.0/16").await;
    let sequential = allocate(&caller, "base-seq", n, 1).await;
    let parallel = allocate(&caller, "base-par", n, CLIENTS).await;

    let crds = metallb_crds(dir.path());
    let kube = KubeTestServer::start(&crds.iter().map(|p| p.as_path()).collect::<Vec<_>>(), &[]);
    let kubeconfig = write_kubeconfig(dir.path(), &kube.url());
    let client = integration::kube::client(&kube.url());
    integration::kube::create_namespaces(&client, &["metallb-system", "bench"]).await;
    let mut options = Options::new(&metal, Some(&kubeconfig));
    options.default_network = "bench";
    options.additional_networks = "bench";
    options.log_level = "warn";
    let _lb = LbAllocator::start(&options);
    tokio::time::sleep(Duration::from_secs(1)).await;

    let services: Api<Service> = Api::namespaced(client.clone(), "bench");
    // Convergence is seen through a watch, as a controller would: polling lists of 1000
    // Services would load the API server more than the allocator does.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<Vec<String>>();
    let watch = {
        let services = services.clone();
        tokio::spawn(async move {
            use futures::StreamExt;
            use kube::runtime::{WatchStreamExt, watcher};
            let mut ingress: std::collections::HashMap<String, String> = Default::default();
            let stream = watcher(services, watcher::Config::default()).applied_objects();
            let mut stream = std::pin::pin!(stream);
            let mut done_tx = Some(done_tx);
            while let Some(Ok(svc)) = stream.next().await {
                let ip = svc.status.as_ref().and_then(|s| {
                    s.load_balancer
                        .as_ref()?
                        .ingress
                        .as_ref()?
                        .first()?
                        .ip
                        .clone()
                });
                if let (Some(name), Some(ip)) = (svc.metadata.name.clone(), ip) {
                    ingress.insert(name, ip);
                }
                if ingress.len() == n
                    && let Some(tx) = done_tx.take()
                {
                    let _ = tx.send(ingress.values().cloned().collect());
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let start = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let creators: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (services, next) = (services.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= n {
                        break;
                    }
                    let svc: Service = serde_json::from_value(json!({
                        "metadata": {"name": format!("svc-{i}")},
                        "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]},
                    }))
                    .unwrap();
                    services.create(&PostParams::default(), &svc).await.unwrap();
                }
            })
        })
        .collect();
    for c in creators {
        c.await.unwrap();
    }
    let created = start.elapsed();
    let pools = ApiResource {
        group: "metallb.io".into(),
        version: "v1beta1".into(),
        api_version: "metallb.io/v1beta1".into(),
        kind: "IPAddressPool".into(),
        plural: "ipaddresspools".into(),
    };
    let pools: Api<DynamicObject> = Api::namespaced_with(client.clone(), "metallb-system", &pools);
    let addresses = tokio::time::timeout(Duration::from_secs(600), done_rx)
        .await
        .expect("converged within 10 min")
        .unwrap();
    watch.abort();
    let in_status = start.elapsed();
    // The status is written after the configuration, so this holds already; checked anyway.
    let pool = pools.get("bench-ephemeral").await.unwrap();
    let pooled: BTreeSet<&str> = pool.data["spec"]["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let distinct: BTreeSet<&String> = addresses.iter().collect();
    assert_eq!(distinct.len(), n, "duplicates");
    assert!(
        addresses
            .iter()
            .all(|a| pooled.contains(format!("{a}/32").as_str())),
        "pool incomplete"
    );
    let converged = start.elapsed();

    println!("services={n} created_in={created:?} all_in_status={in_status:?}");
    let ratio = |base: Duration| converged.as_secs_f64() / base.as_secs_f64();
    println!(
        "| {n} LoadBalancer Services, created {CLIENTS} at a time, to IPs in status and MetalLB pool | {:.2} s | |",
        converged.as_secs_f64()
    );
    println!(
        "| baseline: {n} plain metal-api allocations, {CLIENTS} concurrent clients | {:.2} s | {:.2} |",
        parallel.as_secs_f64(),
        ratio(parallel)
    );
    println!(
        "| baseline: {n} plain metal-api allocations, one at a time (metal-ccm's mutex) | {:.2} s | {:.2} |",
        sequential.as_secs_f64(),
        ratio(sequential)
    );
}

fn desired_state() {
    let config = Config {
        project: PROJECT.into(),
        partition: "fra-equ01".into(),
        cluster: "c".into(),
        default_network: Some("internet".into()),
        additional_networks: (0..10)
            .map(|i| format!("net-{i}"))
            .chain(["internet".to_string()])
            .collect(),
        ssh_public_key: None,
        loadbalancer: LoadBalancerKind::Metallb,
        metallb_namespace: "metallb-system".into(),
    };
    let ips: Vec<serde_json::Value> = (0..10_000u32)
        .map(|i| {
            let network = if i % 3 == 0 { "internet".to_string() } else { format!("net-{}", i % 10) };
            let address = if i % 4 == 0 {
                format!("2a02:c00:{:x}::{:x}", i / 65536, i % 65536)
            } else {
                format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256)
            };
            json!({"ipaddress": address, "allocationuuid": format!("u{i}"), "name": "metallb-abcde", "description": "",
                   "networkid": network, "projectid": PROJECT, "type": if i % 5 == 0 { "static" } else { "ephemeral" },
                   "tags": [format!("cluster.metal-stack.io/id/namespace/service=c/default/svc-{i}")]})
        })
        .collect();
    let json = serde_json::to_vec(&ips).unwrap();
    let nodes: Vec<NodeInfo> = (0..500)
        .map(|i| NodeInfo {
            name: format!("worker-{i}"),
            hostname: format!("worker-{i}"),
            asn: Some(format!("{}", 4_200_000_000u32 + i)),
            internal_ip: Some(format!("10.200.{}.{}", i / 256, i % 256).parse().unwrap()),
        })
        .collect();
    let decoded: Vec<IpResponse> = serde_json::from_slice(&json).unwrap();
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let runs = 30;
    let mut compute = Vec::new();
    let mut decode = Vec::new();
    let mut objects = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let desired = render(LoadBalancerKind::Metallb, &build(&config, &decoded, &nodes));
        compute.push(t.elapsed());
        objects = desired.objects.len();
        let t = Instant::now();
        let again: Vec<IpResponse> = serde_json::from_slice(&json).unwrap();
        decode.push(t.elapsed());
        assert_eq!(again.len(), 10_000);
    }
    let (c, d) = (median(compute), median(decode));
    println!("desired state: 10000 IPs x 500 nodes -> {objects} objects, median of {runs}");
    println!(
        "| desired MetalLB state, 10 000 IPs x 500 nodes ({objects} objects) | {:.2} ms | {:.2} |",
        c.as_secs_f64() * 1e3,
        c.as_secs_f64() / d.as_secs_f64()
    );
    println!(
        "| baseline: decoding the 10 000 IPs from metal-api JSON | {:.2} ms | 1.00 |",
        d.as_secs_f64() * 1e3
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1000, |a| a.parse().expect("SERVICES"));
    tokio::task::spawn_blocking(desired_state).await.unwrap();
    converge(n).await;
}
