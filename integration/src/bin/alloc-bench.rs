//! IP allocation benchmark: N concurrent clients allocate M IPs from a /16 over loopback
//! against the metal-api binary (release build), compared with a baseline measured in the
//! same run: the same records written straight to redb, one durable transaction each,
//! without HTTP. Prints a markdown table row for BENCHMARKS.md.
//!
//! Run: `cargo run --release -p integration --bin alloc-bench -- [CLIENTS] [ALLOCATIONS]`

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use integration::metal_api::{Caller, MetalApi, PROJECT};
use redb::{Database, TableDefinition};
use serde_json::json;
use tokio::sync::Mutex;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Baseline: `n` IP records of the same shape and size, each in its own durable redb
/// transaction (what a server without batching would do per request).
fn baseline(n: usize) -> Duration {
    const IPS: TableDefinition<&str, &[u8]> = TableDefinition::new("ips");
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("baseline.redb")).unwrap();
    let start = Instant::now();
    for i in 0..n {
        let addr = format!("100.64.{}.{}", i / 256, i % 256);
        let record = json!({"address": addr, "allocationuuid": uuid_like(i), "name": "", "description": "", "networkid": "bench",
            "projectid": PROJECT, "ip_type": "ephemeral", "tags": [], "created": "2026-01-01T00:00:00Z", "changed": "2026-01-01T00:00:00Z", "rev": 1});
        let bytes = serde_json::to_vec(&record).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(IPS)
            .unwrap()
            .insert(addr.as_str(), bytes.as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    start.elapsed()
}

fn uuid_like(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012}")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let clients: usize = args.next().map_or(64, |a| a.parse().expect("CLIENTS"));
    let total: usize = args
        .next()
        .map_or(10_000, |a| a.parse().expect("ALLOCATIONS"));

    let base = tokio::task::spawn_blocking(move || baseline(total))
        .await
        .unwrap();
    let base_rate = total as f64 / base.as_secs_f64();

    let dir = tempfile::tempdir().unwrap();
    let api = MetalApi::start(dir.path());
    let c = Caller::new(&api);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = rss_kib(api.pid());
    let net = json!({"id": "bench", "prefixes": ["100.64.0.0/16"], "destinationprefixes": [], "nat": false, "privatesuper": false, "underlay": false});
    assert_eq!(c.admin("PUT", "/v1/network", Some(net)).await.0, 201);

    let remaining = Arc::new(std::sync::atomic::AtomicUsize::new(total));
    let results = Arc::new(Mutex::new((
        Histogram::<u64>::new(3).unwrap(),
        Vec::with_capacity(total),
    )));
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (c, remaining, results) = (c.clone(), remaining.clone(), results.clone());
            tokio::spawn(async move {
                let mut local = Vec::new();
                while remaining
                    .fetch_update(
                        std::sync::atomic::Ordering::SeqCst,
                        std::sync::atomic::Ordering::SeqCst,
                        |r| r.checked_sub(1),
                    )
                    .is_ok()
                {
                    let t = Instant::now();
                    let (status, body) = c
                        .edit(
                            "POST",
                            "/v1/ip/allocate",
                            Some(json!({"networkid": "bench", "projectid": PROJECT})),
                        )
                        .await;
                    assert_eq!(status, 201, "{body}");
                    local.push((t.elapsed(), body["ipaddress"].as_str().unwrap().to_string()));
                }
                let mut r = results.lock().await;
                for (d, a) in local {
                    r.0.record(d.as_micros() as u64).unwrap();
                    r.1.push(a);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = start.elapsed();
    let loaded_rss = rss_kib(api.pid());
    let (hist, addrs) = &*results.lock().await;
    let unique: HashSet<&String> = addrs.iter().collect();
    let duplicates = addrs.len() - unique.len();
    let rate = total as f64 / elapsed.as_secs_f64();
    println!("clients={clients} allocations={total} duplicates={duplicates}");
    println!(
        "| metal-api HTTP, {clients} clients | {total} | {rate:.0}/s | {:.2} ms | {:.2} ms | {:.2} | {:.1} MiB idle, {:.1} MiB after |",
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        rate / base_rate,
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0
    );
    println!(
        "| baseline: redb, one durable tx per record | {total} | {base_rate:.0}/s | | | 1.00 | |"
    );
    assert_eq!(duplicates, 0, "an address was handed out twice");
}
