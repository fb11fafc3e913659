//! The configuration writer owns the desired load-balancer state: it derives it from the
//! cluster's IPs (asked of the allocator) and the nodes, and (when it may write to Kubernetes)
//! makes the MetalLB or Cilium objects match it. It remembers what it wrote, so a write in a
//! burst is only the objects that changed; every sync interval, and after a failure, it reads
//! the objects back from Kubernetes instead.
//!
//! Requests coalesce: a write that starts after a request serves every request made before it
//! started, so a burst of allocations costs a handful of writes, each right after the last,
//! never a minute later. A failed write is retried with backoff; pokes made meanwhile wait for
//! the retry, while a `Sync` (a caller that just changed an IP, so metal-api answers again)
//! tries at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use mesh_controller::backoff::Backoff;
use mesh_runtime::{ActorMetrics, Mailbox};
use tokio::sync::{oneshot, watch};

use super::allocator::{Allocator, ClusterIps};
use crate::core::config::Config;
use crate::core::error::LbError;
use crate::core::lbconfig::{self, LbConfig, NodeInfo};
use crate::core::render::{self, Desired};
use crate::core::writeplan::Observed;
use crate::k8s::lbwriter::KubeSide;

pub const NAME: &str = "lbconfig";

/// Write the configuration; answered when a write that started after this request is done.
pub struct Sync;

impl Message for Sync {
    type Result = Result<(), LbError>;
}

/// Write the configuration soon; nobody waits.
pub struct Poke;

impl Message for Poke {
    type Result = ();
}

/// The last configuration computed (None before the first write finished).
pub struct Current;

impl Message for Current {
    type Result = Option<Arc<Snapshot>>;
}

/// One computed configuration.
#[derive(Debug)]
pub struct Snapshot {
    pub config: LbConfig,
    pub desired: Desired,
}

pub struct LbConfigWriter {
    config: Arc<Config>,
    allocator: Mailbox<Allocator>,
    kube: Option<KubeSide>,
    /// What the last successful write left in Kubernetes; None: read it back first.
    written_objects: Option<Arc<Vec<Observed>>>,
    leading: watch::Receiver<bool>,
    sync_interval: Duration,
    /// Requests made so far; each write serves the ones made before it started.
    requested: u64,
    written: u64,
    in_flight: bool,
    waiters: Vec<(u64, oneshot::Sender<Result<(), LbError>>)>,
    /// Set while backing off after a failed write.
    backing_off: bool,
    failures: u32,
    snapshot: Option<Arc<Snapshot>>,
    /// Node warnings already reported, so each is an Event once, not once a minute.
    reported: BTreeMap<String, String>,
    metrics: ActorMetrics,
}

impl LbConfigWriter {
    pub fn new(
        config: Arc<Config>,
        allocator: Mailbox<Allocator>,
        kube: Option<KubeSide>,
        leading: watch::Receiver<bool>,
        sync_interval: Duration,
        metrics: ActorMetrics,
    ) -> Self {
        Self {
            config,
            allocator,
            kube,
            written_objects: None,
            leading,
            sync_interval,
            requested: 0,
            written: 0,
            in_flight: false,
            waiters: Vec::new(),
            backing_off: false,
            failures: 0,
            snapshot: None,
            reported: BTreeMap::new(),
            metrics,
        }
    }

    fn request(&mut self, ctx: &mut Context<Self>) -> u64 {
        self.requested += 1;
        self.start(ctx);
        self.requested
    }

    fn start(&mut self, ctx: &mut Context<Self>) {
        if self.in_flight || self.backing_off || self.written >= self.requested {
            return;
        }
        self.in_flight = true;
        let generation = self.requested;
        let work = compute_and_write(
            self.config.clone(),
            self.allocator.clone(),
            self.kube.clone(),
            *self.leading.borrow(),
            self.written_objects.take(),
        );
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.in_flight = false;
            let outcome = result.map(|(snapshot, written)| {
                act.report_skipped(&snapshot.config);
                act.snapshot = Some(Arc::new(snapshot));
                act.written_objects = written;
            });
            let (done, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut act.waiters)
                .into_iter()
                .partition(|(id, _)| *id <= generation);
            act.waiters = waiting;
            for (_, tx) in done {
                let _ = tx.send(outcome.clone());
            }
            match outcome {
                Ok(()) => {
                    act.written = generation;
                    act.failures = 0;
                    act.start(ctx);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "writing the load-balancer configuration failed");
                    let delay = Backoff {
                        base: Duration::from_millis(500),
                        max: Duration::from_secs(30),
                        factor: 2.0,
                    }
                    .next(act.failures);
                    act.failures += 1;
                    act.backing_off = true;
                    ctx.run_later(delay, |act, ctx| {
                        act.backing_off = false;
                        act.start(ctx);
                    });
                }
            }
        }));
    }

    /// A Warning Event for each node left out, once per reason.
    fn report_skipped(&mut self, config: &LbConfig) {
        let now: BTreeMap<String, String> = config
            .skipped
            .iter()
            .filter(|s| s.kind == "node")
            .map(|s| (s.name.clone(), s.reason.clone()))
            .collect();
        if let Some(kube) = &self.kube {
            for (node, reason) in &now {
                if self.reported.get(node) != Some(reason) {
                    tracing::warn!(
                        node,
                        reason,
                        "node left out of the load-balancer configuration"
                    );
                    kube.warn_node(node, reason);
                }
            }
        }
        self.reported = now;
    }
}

async fn compute_and_write(
    config: Arc<Config>,
    allocator: Mailbox<Allocator>,
    kube: Option<KubeSide>,
    leading: bool,
    written: Option<Arc<Vec<Observed>>>,
) -> Result<(Snapshot, Option<Arc<Vec<Observed>>>), LbError> {
    let nodes: Vec<NodeInfo> = match &kube {
        Some(kube) => kube.nodes().await?,
        None => Vec::new(),
    };
    let ips = allocator
        .send(ClusterIps)
        .await
        .map_err(|e| LbError::Config(format!("allocator unavailable: {e}")))??;
    let lb_config = lbconfig::build(&config, &ips, &nodes);
    let desired = render::render(config.loadbalancer, &lb_config);
    let mut now_written = None;
    if let Some(kube) = &kube
        && leading
    {
        let observed = match written {
            Some(w) => w,
            None => Arc::new(
                kube.observe(&config)
                    .await
                    .map_err(|e| LbError::Config(e.to_string()))?,
            ),
        };
        kube.write(&config, &observed, &desired)
            .await
            .map_err(|e| LbError::Config(e.to_string()))?;
        now_written = Some(Arc::new(crate::core::writeplan::as_written(&desired)));
    }
    Ok((
        Snapshot {
            config: lb_config,
            desired,
        },
        now_written,
    ))
}

impl Actor for LbConfigWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.request(ctx);
        ctx.run_interval(self.sync_interval, |act, ctx| {
            // Read back what is really there: someone may have changed or deleted our objects.
            act.written_objects = None;
            act.request(ctx);
        });
    }
}

mesh_runtime::count_restarts!(LbConfigWriter, metrics, NAME);

impl Handler<Sync> for LbConfigWriter {
    type Result = ResponseFuture<Result<(), LbError>>;

    fn handle(&mut self, _: Sync, ctx: &mut Self::Context) -> Self::Result {
        self.backing_off = false;
        let id = self.request(ctx);
        let (tx, rx) = oneshot::channel();
        self.waiters.push((id, tx));
        Box::pin(async move {
            rx.await.unwrap_or_else(|_| {
                Err(LbError::Config("the configuration writer restarted".into()))
            })
        })
    }
}

impl Handler<Poke> for LbConfigWriter {
    type Result = ();

    fn handle(&mut self, _: Poke, ctx: &mut Self::Context) {
        self.request(ctx);
    }
}

impl Handler<Current> for LbConfigWriter {
    type Result = Option<Arc<Snapshot>>;

    fn handle(&mut self, _: Current, _: &mut Self::Context) -> Self::Result {
        self.snapshot.clone()
    }
}
