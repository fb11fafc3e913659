//! The configuration writer owns the desired load-balancer state: it derives it from the
//! project's IPs and the nodes, and (when it may write to Kubernetes) makes the MetalLB or
//! Cilium objects match it.
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
use mesh_runtime::ActorMetrics;
use tokio::sync::{oneshot, watch};

use crate::core::error::LbError;
use crate::core::lbconfig::{self, LbConfig, NodeInfo};
use crate::core::render::{self, Desired};
use crate::k8s::lbwriter::KubeSide;
use crate::metal::MetalOps;

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
    ops: MetalOps,
    kube: Option<KubeSide>,
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
        ops: MetalOps,
        kube: Option<KubeSide>,
        leading: watch::Receiver<bool>,
        sync_interval: Duration,
        metrics: ActorMetrics,
    ) -> Self {
        Self {
            ops,
            kube,
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
        let work = compute_and_write(self.ops.clone(), self.kube.clone(), *self.leading.borrow());
        ctx.spawn(work.into_actor(self).map(move |result, act, ctx| {
            act.in_flight = false;
            let outcome = result.map(|snapshot| {
                act.report_skipped(&snapshot.config);
                act.snapshot = Some(Arc::new(snapshot));
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
    ops: MetalOps,
    kube: Option<KubeSide>,
    leading: bool,
) -> Result<Snapshot, LbError> {
    let nodes: Vec<NodeInfo> = match &kube {
        Some(kube) => kube.nodes().await?,
        None => Vec::new(),
    };
    let ips = ops.project_ips().await?;
    let config = lbconfig::build(&ops.config, &ips, &nodes);
    let desired = render::render(ops.config.loadbalancer, &config);
    if let Some(kube) = &kube
        && leading
    {
        kube.write(&ops.config, &desired)
            .await
            .map_err(|e| LbError::Config(e.to_string()))?;
    }
    Ok(Snapshot { config, desired })
}

impl Actor for LbConfigWriter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.request(ctx);
        ctx.run_interval(self.sync_interval, |act, ctx| {
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
