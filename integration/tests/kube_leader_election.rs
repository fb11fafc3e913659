//! Two candidates for one Lease on kube-testserver: exactly one leads; a leader that stops
//! hands over at once; a leader that crashes (its runtime dropped, no release) is replaced
//! within the lease duration, and not before its lease ran out.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube_testserver::{Config, Running};
use mesh_controller::lease::LeaderElector;
use tokio::sync::{oneshot, watch};

const LEASE: &str = "lb-allocator";
const DURATION: Duration = Duration::from_secs(2);

/// A candidate with its own runtime, so dropping the runtime is a crash: no release, no
/// further renewals.
struct Candidate {
    identity: &'static str,
    runtime: Option<tokio::runtime::Runtime>,
    leading: watch::Receiver<bool>,
    stop: Option<oneshot::Sender<()>>,
}

impl Candidate {
    fn start(url: &str, identity: &'static str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let leading = runtime.block_on(async {
            let client = integration::kube::client(url);
            LeaderElector::new(
                Api::namespaced(client, "default"),
                LEASE,
                identity,
                DURATION,
            )
            .spawn(async {
                let _ = stopped.await;
            })
        });
        Self {
            identity,
            runtime: Some(runtime),
            leading,
            stop: Some(stop),
        }
    }

    fn leads(&self) -> bool {
        *self.leading.borrow()
    }

    /// Stops cleanly: the elector releases the lease.
    fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        std::thread::sleep(Duration::from_millis(300));
        self.runtime
            .take()
            .unwrap()
            .shutdown_timeout(Duration::from_secs(1));
    }

    /// Drops every task at once, as a killed process would.
    fn crash(mut self) {
        self.runtime.take().unwrap().shutdown_background();
    }
}

fn holder(url: &str) -> Option<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let api: Api<Lease> = Api::namespaced(integration::kube::client(url), "default");
        api.get(LEASE).await.ok()?.spec?.holder_identity
    })
}

/// Waits until `pred` holds, polling every 10 ms; returns how long that took.
fn wait_until(what: &str, limit: Duration, pred: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        if pred() {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what} did not happen within {limit:?}");
}

/// Exactly one of the two leads, and the Lease names it.
fn one_leader<'a>(url: &str, a: &'a Candidate, b: &'a Candidate) -> &'a Candidate {
    wait_until("a leader", DURATION * 2, || a.leads() ^ b.leads());
    let leader = if a.leads() { a } else { b };
    assert_eq!(holder(url).as_deref(), Some(leader.identity));
    leader
}

#[test]
fn one_leader_and_failover_within_the_lease_duration() {
    let server = Running::start(Config::default()).unwrap();
    let url = server.url();
    let a = Candidate::start(&url, "a");
    let b = Candidate::start(&url, "b");

    let first = one_leader(&url, &a, &b).identity;
    // Several renewal periods: never two leaders, never a change of leader.
    let until = Instant::now() + DURATION * 2;
    while Instant::now() < until {
        assert!(!(a.leads() && b.leads()), "two leaders at once");
        assert_eq!(holder(&url).as_deref(), Some(first));
        std::thread::sleep(Duration::from_millis(50));
    }

    // A clean stop releases the lease: the other takes over within one renew period.
    let (leader, follower) = if a.leads() { (a, b) } else { (b, a) };
    let handover_start = Instant::now();
    leader.stop();
    let handover = wait_until("handover after a clean stop", DURATION, || follower.leads());
    eprintln!("handover after release: {:?}", handover_start.elapsed());
    assert!(handover < DURATION);
    assert_eq!(holder(&url).as_deref(), Some(follower.identity));

    // A new candidate joins as follower; then the leader crashes without releasing.
    let c = Candidate::start(&url, "c");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!c.leads());
    let crashed_at = Instant::now();
    follower.crash();
    let failover = wait_until("failover after a crash", DURATION * 3, || c.leads());
    eprintln!("failover after crash: {failover:?}");
    assert_eq!(holder(&url).as_deref(), Some("c"));
    // Renewals come every third of the lease, so the crashed lease had at least two thirds of
    // it left: taking over sooner would mean two leaders.
    assert!(
        failover >= DURATION * 2 / 3 - Duration::from_millis(50),
        "{failover:?}"
    );
    assert!(
        failover <= DURATION + Duration::from_millis(250),
        "{failover:?}"
    );
    assert!(crashed_at.elapsed() >= failover);
    c.stop();
}
