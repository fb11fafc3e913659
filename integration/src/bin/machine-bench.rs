//! What machine-lifecycle costs on top of metal-api when a cluster scales up at once, against a
//! baseline measured in the same run on the same metal-api process and machine pool:
//!
//! - **baseline**: `MACHINES` plain `POST /v1/machine/allocate` calls (the very request the
//!   driver sends) from `CLIENTS` concurrent clients; time until the last answer. Then they
//!   are freed.
//! - **machine-lifecycle** (release build, `--workers CLIENTS`): `MACHINES` Machines created at
//!   once in kube-testserver, with a kubelet simulator that joins a Ready Node as soon as a
//!   Machine has its providerID; time from the first create until the last Machine is
//!   Running. Every Machine goes through: finalizer, metal-api lookup by name, allocation,
//!   providerID, status Pending, Node Ready, status Running. Then they are deleted (the
//!   controller frees the machines) and that time is printed too.
//!
//! Each round checks that no machine was handed out twice and every name got exactly one.
//! Prints each round (with where the Machines' time went: creates answered, last allocation
//! committed, last providerID written), the medians and their ratio (target ≤ 1.5×), and the
//! CPU time each process of the mesh used per phase: everything shares this host's cores.
//!
//! Run: `cargo run --release -p integration --bin machine-bench -- [MACHINES] [CLIENTS] [ROUNDS]`
//! (defaults 100, 64 and 3).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use integration::machines::{
    CLASS, Mesh, Options, allocation_name, allocations, names, phase, provider_id,
};
use kube::api::{DeleteParams, ListParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use metal_api_sdk::client::Client;

/// How long one phase may take before the bench gives up.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

/// `machines` allocations from `clients` concurrent clients; the time until the last answer
/// and the machine ids handed out.
async fn allocate_directly(
    mesh: &Mesh,
    prefix: &str,
    machines: usize,
    clients: usize,
) -> (Duration, Vec<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (metal, next, pool) = (mesh.metal.clone(), next.clone(), mesh.pool.clone());
            let prefix = prefix.to_string();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= machines {
                        return ids;
                    }
                    let request = pool.allocate_request(&format!("{prefix}-{i:03}"));
                    let machine = metal
                        .allocate_machine(&request)
                        .await
                        .unwrap_or_else(|e| panic!("allocation {i}: {e}"));
                    ids.push(machine.id);
                }
            })
        })
        .collect();
    let mut ids = Vec::with_capacity(machines);
    for task in tasks {
        ids.extend(task.await.expect("an allocating client"));
    }
    (started.elapsed(), ids)
}

/// Frees `ids` from `clients` concurrent clients.
async fn free_all(metal: &Client, ids: &[String], clients: usize) {
    let ids = Arc::new(ids.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (metal, ids, next) = (metal.clone(), ids.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(id) = ids.get(i) else { return };
                    metal
                        .free_machine(id)
                        .await
                        .unwrap_or_else(|e| panic!("freeing {id}: {e}"));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("a freeing client");
    }
}

/// Where the time of one Machine burst went, each from the first create.
struct Burst {
    /// All creates answered by the API server.
    created: Duration,
    /// The last allocation committed in metal-api (its allocation timestamp).
    allocated: Duration,
    /// The last Machine got its providerID.
    provider_ids: Duration,
    /// The last Machine is Running.
    running: Duration,
}

/// Creates the Machines `names` at once and times them through a watch opened before the
/// first create.
async fn run_machines(mesh: &Mesh, names: &[String]) -> Burst {
    let wanted: BTreeSet<String> = names.iter().cloned().collect();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<(Instant, Instant)>();
    let (watching_tx, watching_rx) = tokio::sync::oneshot::channel::<()>();
    let watch = tokio::spawn({
        let machines = mesh.kube.machines();
        let wanted = wanted.clone();
        async move {
            let mut with_pid: BTreeSet<String> = BTreeSet::new();
            let mut running: BTreeSet<String> = BTreeSet::new();
            let mut all_pids = None;
            let mut events = watcher(machines, watcher::Config::default())
                .default_backoff()
                .boxed();
            let mut watching = Some(watching_tx);
            while let Some(event) = events.next().await {
                let machine = match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = watching.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    Ok(watcher::Event::Apply(m)) | Ok(watcher::Event::InitApply(m)) => m,
                    _ => continue,
                };
                let name = machine.metadata.name.clone().unwrap_or_default();
                if !wanted.contains(&name) {
                    continue;
                }
                if machine.spec.provider_id.is_some() {
                    with_pid.insert(name.clone());
                    if with_pid.len() == wanted.len() && all_pids.is_none() {
                        all_pids = Some(Instant::now());
                    }
                }
                if phase(&machine) == Some("Running") {
                    running.insert(name);
                    if running.len() == wanted.len() {
                        let now = Instant::now();
                        let _ = done_tx.send((all_pids.unwrap_or(now), now));
                        return;
                    }
                }
            }
        }
    });
    watching_rx.await.expect("the Machine watch started");
    let wall = chrono::Utc::now();
    let started = Instant::now();
    mesh.kube.create_machines(names, CLASS).await;
    let created = started.elapsed();
    let (pids, running) = match tokio::time::timeout(PHASE_LIMIT, done_rx).await {
        Ok(Ok(at)) => at,
        _ => {
            let machines = mesh.kube.list_machines().await;
            let mut phases: HashMap<String, usize> = HashMap::new();
            for m in &machines {
                *phases
                    .entry(phase(m).unwrap_or("none").to_string())
                    .or_default() += 1;
            }
            panic!("the Machines were not all Running within {PHASE_LIMIT:?}: {phases:?}");
        }
    };
    watch.abort();
    let last_allocation = allocations(&mesh.metal, &mesh.pool.cluster)
        .await
        .expect("find the cluster's machines")
        .iter()
        .filter_map(|m| m.allocation.as_ref().map(|a| a.created))
        .max()
        .expect("allocations");
    Burst {
        created,
        allocated: (last_allocation - wall).to_std().unwrap_or_default(),
        provider_ids: pids - started,
        running: running - started,
    }
}

/// Checks every name got exactly one machine and no machine went to two names.
async fn check_allocations(mesh: &Mesh, names: &[String]) {
    let allocated = allocations(&mesh.metal, &mesh.pool.cluster)
        .await
        .expect("find the cluster's machines");
    let got: Vec<&str> = allocated.iter().map(allocation_name).collect();
    let unique_names: BTreeSet<&str> = got.iter().copied().collect();
    let unique_ids: BTreeSet<&str> = allocated.iter().map(|m| m.id.as_str()).collect();
    let want: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(got.len(), names.len(), "allocations: {got:?}");
    assert_eq!(unique_names, want, "one allocation per Machine name");
    assert_eq!(
        unique_ids.len(),
        names.len(),
        "a machine was handed out twice"
    );
    let by_name: HashMap<&str, &str> = allocated
        .iter()
        .map(|m| (allocation_name(m), m.id.as_str()))
        .collect();
    for machine in mesh.kube.list_machines().await {
        let name = machine.metadata.name.clone().unwrap_or_default();
        if let Some(id) = by_name.get(name.as_str()) {
            assert_eq!(
                machine.spec.provider_id.as_deref(),
                Some(provider_id(id).as_str()),
                "{name}: providerID"
            );
        }
    }
}

/// Deletes every Machine; the time until they are gone and metal-api holds no allocation.
async fn delete_machines(mesh: &Mesh) -> Duration {
    let started = Instant::now();
    mesh.kube
        .machines()
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .expect("delete the Machines");
    loop {
        let left = mesh.kube.list_machines().await.len();
        let allocated = allocations(&mesh.metal, &mesh.pool.cluster)
            .await
            .map(|a| a.len())
            .unwrap_or(usize::MAX);
        if left == 0 && allocated == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PHASE_LIMIT,
            "{left} Machines and {allocated} allocations left after {PHASE_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU time (user + system) a process has used, from /proc (USER_HZ is 100 on Linux).
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The process whose command line has `--listen <addr>` (the kube-testserver).
fn pid_listening_on(addr: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(2)
                .any(|w| w[0] == b"--listen" && w[1] == addr.as_bytes())
                .then_some(pid)
        })
}

/// CPU used by the processes of the mesh while `work` runs.
struct Cpu {
    pids: Vec<(&'static str, u32)>,
}

impl Cpu {
    fn sample(&self) -> Vec<Duration> {
        self.pids.iter().map(|(_, pid)| cpu(*pid)).collect()
    }

    fn describe(&self, before: &[Duration], after: &[Duration]) -> String {
        self.pids
            .iter()
            .zip(before.iter().zip(after))
            .map(|((name, _), (b, a))| format!("{name} {:.0}", ms(a.saturating_sub(*b))))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let machines: usize = args.next().map_or(100, |a| a.parse().expect("MACHINES"));
    let clients: usize = args.next().map_or(64, |a| a.parse().expect("CLIENTS"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    assert!(machines > 0 && clients > 0 && rounds > 0);

    let workers = clients.min(1024).to_string();
    let mesh = Mesh::start(Options {
        machines,
        size: "bench-x86",
        cluster: "b3c4d5e6-0000-4000-8000-00000000bench",
        args: vec![
            "--workers",
            &workers,
            "--retry-short",
            "1s",
            "--retry-medium",
            "5s",
        ],
    })
    .await;
    println!(
        "machine-bench: {machines} machines, {clients} clients / --workers {workers}, {rounds} rounds \
         (metal-api, kube-testserver and machine-lifecycle release builds on this host)"
    );
    println!(
        "{:>5}  {:>13}  {:>17}  {:>6}  | {:>8} {:>10} {:>12}  | {:>10}",
        "round",
        "baseline ms",
        "last Running ms",
        "ratio",
        "created",
        "allocated",
        "providerIDs",
        "delete all"
    );

    let mut pids = vec![
        ("metal-api", mesh.metal_api.pid()),
        ("machine-lifecycle", mesh.ml.pid()),
        ("bench (kubelet simulator, watches)", std::process::id()),
    ];
    if let Some(pid) = pid_listening_on(&mesh.kube.server.addr.to_string()) {
        pids.insert(1, ("kube-testserver", pid));
    }
    let cpu = Cpu { pids };
    let mut cpu_notes = Vec::new();

    let mut baseline = Vec::new();
    let mut lifecycle = Vec::new();
    let mut deletes = Vec::new();
    for round in 0..rounds {
        // Baseline: the allocations alone.
        let before = cpu.sample();
        let (took, ids) =
            allocate_directly(&mesh, &format!("base{round}"), machines, clients).await;
        let base_cpu = cpu.describe(&before, &cpu.sample());
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(
            distinct.len(),
            machines,
            "baseline: a machine was handed out twice"
        );
        free_all(&mesh.metal, &ids, clients).await;
        let left = allocations(&mesh.metal, &mesh.pool.cluster).await.unwrap();
        assert!(left.is_empty(), "baseline: {} allocations left", left.len());
        baseline.push(took);

        // The same through Machines.
        let names = names(&format!("w{round}"), machines);
        let before = cpu.sample();
        let burst = run_machines(&mesh, &names).await;
        cpu_notes.push(format!(
            "round {}: CPU ms, baseline: {base_cpu}; Machines: {}",
            round + 1,
            cpu.describe(&before, &cpu.sample())
        ));
        let took = burst.running;
        check_allocations(&mesh, &names).await;
        lifecycle.push(took);
        let deleted = delete_machines(&mesh).await;
        deletes.push(deleted);

        println!(
            "{:>5}  {:>13.0}  {:>17.0}  {:>5.2}×  | {:>8.0} {:>10.0} {:>12.0}  | {:>10.0}",
            round + 1,
            ms(baseline[round]),
            ms(took),
            took.as_secs_f64() / baseline[round].as_secs_f64(),
            ms(burst.created),
            ms(burst.allocated),
            ms(burst.provider_ids),
            ms(deleted)
        );
    }
    let (b, l, d) = (median(&baseline), median(&lifecycle), median(&deletes));
    println!(
        "{:>5}  {:>13.0}  {:>17.0}  {:>5.2}×  | {:>34}  | {:>10.0}",
        "median",
        ms(b),
        ms(l),
        l.as_secs_f64() / b.as_secs_f64(),
        "",
        ms(d)
    );
    println!(
        "(created: all Machine creates answered; allocated: the last allocation committed in \
         metal-api; providerIDs: the last providerID written; all from the first create)"
    );
    for note in &cpu_notes {
        println!("{note}");
    }
    println!(
        "| machine-lifecycle: {machines} Machines at once, --workers {workers} | {:.0} ms to the last Running | {:.0} machines/s | {:.2}× | delete all {:.0} ms |",
        ms(l),
        machines as f64 / l.as_secs_f64(),
        l.as_secs_f64() / b.as_secs_f64(),
        ms(d)
    );
    println!(
        "| baseline: {machines} POST /v1/machine/allocate, {clients} clients | {:.0} ms to the last answer | {:.0} machines/s | 1.00 | |",
        ms(b),
        machines as f64 / b.as_secs_f64()
    );
    println!("no machine was allocated twice in any round");
}
