//! The real kube-runtime `Controller`, with a trivial finalizing reconciler, against
//! kube-testserver over HTTP: create → reconcile → status; update → reconcile; delete with a
//! finalizer → cleanup → gone; and watches that resume after the server closes them, including
//! from a compacted history (410 Gone → relist).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use kube_resources::ClusterwideNetworkPolicy as Cwnp;
use kube_resources::cwnp::{EgressRule, IpBlock, NetworkPolicyPort, PolicySpec, Protocol};
use kube_testserver::watch::Start;
use kube_testserver::{Config, Running};
use mesh_controller::events::{Event as Note, EventType, Recorder};
use mesh_controller::metrics::ReconcileMetrics;
use serde_json::json;

const FINALIZER: &str = "test.metal-mesh.io/cleanup";
const NS: &str = "firewall";

struct Ctx {
    client: Client,
    recorder: Recorder,
    metrics: ReconcileMetrics,
    cleaned: Mutex<Vec<String>>,
    reconciles: AtomicUsize,
}

type Error = kube::runtime::finalizer::Error<kube::Error>;

/// Writes `observed generation N` into the status and an Event; records cleanups.
async fn reconcile(policy: Arc<Cwnp>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.reconciles.fetch_add(1, Ordering::SeqCst);
    ctx.metrics
        .measure("cwnp", apply_or_cleanup(policy, &ctx))
        .await
}

async fn apply_or_cleanup(policy: Arc<Cwnp>, ctx: &Ctx) -> Result<Action, Error> {
    let api: Api<Cwnp> = Api::namespaced(ctx.client.clone(), &policy.namespace().unwrap());
    finalizer(&api, FINALIZER, policy, |event| async {
        match event {
            Event::Apply(policy) => {
                mesh_controller::status::update_status(&api, &policy.name_any(), 5, |current| {
                    let generation = current.metadata.generation.unwrap_or_default();
                    Some(json!({"state": "deployed", "message": format!("observed generation {generation}")}))
                })
                .await?;
                let note = Note {
                    type_: EventType::Normal,
                    reason: "Reconciled".into(),
                    note: Some(format!("generation {}", policy.metadata.generation.unwrap_or_default())),
                    action: "Reconcile".into(),
                    secondary: None,
                };
                ctx.recorder.publish(&note, &policy.object_ref(&())).await?;
                Ok(Action::await_change())
            }
            Event::Cleanup(policy) => {
                ctx.cleaned.lock().unwrap().push(policy.name_any());
                Ok(Action::await_change())
            }
        }
    })
    .await
}

fn error_policy(_: Arc<Cwnp>, _: &Error, _: Arc<Ctx>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

fn policy(name: &str, port: i32) -> Cwnp {
    let mut policy = Cwnp::new(
        name,
        PolicySpec {
            description: None,
            ingress: None,
            egress: Some(vec![EgressRule {
                ports: Some(vec![NetworkPolicyPort {
                    protocol: Some(Protocol::Udp),
                    port: Some(port),
                    end_port: None,
                }]),
                to: Some(vec![IpBlock {
                    cidr: "1.1.1.1/32".into(),
                    except: None,
                }]),
                to_fqdns: None,
            }]),
        },
    );
    policy.metadata.namespace = Some(NS.into());
    policy
}

/// Polls `check` until it returns true, or panics with `what` after 15 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn status_message(api: &Api<Cwnp>, name: &str) -> Option<String> {
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|p| p.status)
        .and_then(|s| s.message)
}

#[tokio::test(flavor = "multi_thread")]
async fn controller_reconciles_finalizes_and_survives_closed_watches() {
    let server = Running::start(Config {
        crds: vec![integration::kube::cwnp_crd()],
        // No bookmarks: the 410 below needs the watcher not to learn newer resourceVersions.
        bookmark_interval: Duration::from_secs(600),
        ..Config::default()
    })
    .unwrap();
    let client = integration::kube::client(&server.url());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(NS.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();

    let ctx = Arc::new(Ctx {
        client: client.clone(),
        recorder: Recorder::new(client.clone(), "cwnp-test-controller".into()),
        metrics: ReconcileMetrics::new(&mut prometheus_client::registry::Registry::default()),
        cleaned: Mutex::new(Vec::new()),
        reconciles: AtomicUsize::new(0),
    });
    let controller = Controller::new(Api::<Cwnp>::all(client.clone()), watcher::Config::default())
        .run(reconcile, error_policy, ctx.clone())
        .for_each(|_| async {});
    let controller = tokio::spawn(controller);
    let api: Api<Cwnp> = Api::namespaced(client.clone(), NS);

    // create → reconcile → finalizer added and status written
    api.create(&PostParams::default(), &policy("a", 53))
        .await
        .unwrap();
    eventually("status of a for generation 1", || async {
        status_message(&api, "a").await.as_deref() == Some("observed generation 1")
    })
    .await;
    let a = api.get("a").await.unwrap();
    assert_eq!(a.finalizers(), [FINALIZER]);
    assert_eq!(a.status.unwrap().state.as_deref(), Some("deployed"));

    // The reconciler's Event was recorded against the object.
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), NS);
    let recorded = events.list(&Default::default()).await.unwrap();
    let event = recorded.items.first().expect("an event was recorded");
    assert_eq!(event.reason.as_deref(), Some("Reconciled"));
    assert_eq!(
        event.regarding.as_ref().and_then(|r| r.name.as_deref()),
        Some("a")
    );
    assert_eq!(
        event.reporting_controller.as_deref(),
        Some("cwnp-test-controller")
    );

    // update → reconcile
    let description = json!({"spec": {"description": "dns for everyone"}});
    let patched = api
        .patch("a", &PatchParams::default(), &Patch::Merge(&description))
        .await
        .unwrap();
    assert_eq!(patched.metadata.generation, Some(2));
    eventually("status of a for generation 2", || async {
        status_message(&api, "a").await.as_deref() == Some("observed generation 2")
    })
    .await;

    // Quiet once settled: a no-op status write is not a change, so nothing re-triggers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let settled = ctx.reconciles.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        ctx.reconciles.load(Ordering::SeqCst),
        settled,
        "reconcile loop is hot"
    );

    // The server ends every watch; the watcher resumes from its last resourceVersion.
    let watches_before = server.shared.watch_log().len();
    server.shared.close_watches();
    api.create(&PostParams::default(), &policy("b", 443))
        .await
        .unwrap();
    eventually("b reconciled after the watch was closed", || async {
        status_message(&api, "b").await.is_some()
    })
    .await;
    let resumed = &server.shared.watch_log()[watches_before..];
    assert!(
        resumed.iter().any(
            |(key, start)| key == "metal-stack.io/clusterwidenetworkpolicies"
                && matches!(start, Start::After(rv) if *rv > 0)
        ),
        "the watch resumed from a resourceVersion: {resumed:?}"
    );

    // A change the watcher cannot see (another kind), then compaction: resuming from its
    // last resourceVersion gets 410 Gone, so it relists and watches from the new one.
    let unrelated = Namespace {
        metadata: ObjectMeta {
            name: Some("unrelated".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &unrelated)
        .await
        .unwrap();
    let watches_before = server.shared.watch_log().len();
    let compacted_at = server.shared.store.lock().unwrap().resource_version();
    server.shared.compact();
    server.shared.close_watches();
    api.create(&PostParams::default(), &policy("c", 8080))
        .await
        .unwrap();
    eventually("c reconciled after a 410", || async {
        status_message(&api, "c").await.is_some()
    })
    .await;
    let starts: Vec<Start> = server.shared.watch_log()[watches_before..]
        .iter()
        .map(|(_, start)| *start)
        .collect();
    assert!(
        matches!(starts.as_slice(), [Start::After(stale), .., Start::After(fresh)] if *stale < compacted_at && *fresh >= compacted_at),
        "expected a refused resume, then a watch after a relist: {starts:?}"
    );

    // delete → the finalizer holds the object until cleanup, then it is gone
    let deleting = api.delete("a", &DeleteParams::default()).await.unwrap();
    let marked = deleting.left().expect("held by the finalizer");
    assert!(marked.metadata.deletion_timestamp.is_some());
    eventually("a cleaned up and gone", || async {
        api.get_opt("a").await.unwrap().is_none()
    })
    .await;
    assert_eq!(*ctx.cleaned.lock().unwrap(), ["a"]);
    // Every reconcile is measured once it returns; one may still be in flight here (the
    // deletion wakes the controller again), so wait for the counts to meet.
    let measured = || ctx.metrics.count("cwnp", "success") + ctx.metrics.count("cwnp", "error");
    eventually("every reconcile measured", || async {
        measured() as usize == ctx.reconciles.load(Ordering::SeqCst)
    })
    .await;
    let succeeded = ctx.metrics.count("cwnp", "success") as usize;
    assert!(
        succeeded >= 4,
        "one per object and one per change: {succeeded}"
    );

    controller.abort();
}
