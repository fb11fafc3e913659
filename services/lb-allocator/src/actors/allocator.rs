//! The allocator actor owns every change to the cluster's load-balancer IPs and the view of
//! the project's IPs they are decided on (`core::index`). metal-ccm serialized all changes
//! behind three process-wide mutexes and asked metal-api for the Service's IPs on each one;
//! here changes to one Service run one at a time (and tag edits of one IP, see `metal.rs`),
//! different Services proceed side by side, and a Service already as it should be costs no
//! metal-api call at all.
//!
//! After a change the load-balancer configuration is written before the answer goes out, so an
//! IP in a Service's status is already in a pool.

use std::time::Duration;

use actix::fut::{self, ActorFutureExt as _, LocalBoxActorFuture, wrap_future};
use actix::prelude::*;
use mesh_runtime::{ActorMetrics, Mailbox};
use metal_api_sdk::model::IpResponse;
use tokio::sync::watch;

use super::lbconfig::{LbConfigWriter, Poke, Sync};
use crate::core::error::LbError;
use crate::core::index::{IpIndex, Update};
use crate::core::outcome::{Change, Ensured, LoadBalancer, by_service};
use crate::core::service::{LbRequest, ServiceKey};
use crate::core::tags;
use crate::metal::MetalOps;
use mesh_runtime::locks::KeyedLocks;

pub const NAME: &str = "allocator";

/// Ensure the load balancer `request` describes.
pub struct Ensure(pub LbRequest);

impl Message for Ensure {
    type Result = Result<Ensured, LbError>;
}

/// Release every IP the Service holds.
pub struct Release(pub ServiceKey);

impl Message for Release {
    type Result = Result<Vec<Change>, LbError>;
}

/// The cluster's load balancers.
pub struct List;

impl Message for List {
    type Result = Result<Vec<LoadBalancer>, LbError>;
}

/// The IPs that belong to the cluster, for the configuration writer.
pub struct ClusterIps;

impl Message for ClusterIps {
    type Result = Result<Vec<IpResponse>, LbError>;
}

pub struct Allocator {
    ops: MetalOps,
    lbconfig: Mailbox<LbConfigWriter>,
    leading: watch::Receiver<bool>,
    services: KeyedLocks,
    index: IpIndex,
    /// Whether the index was loaded at least once; nothing is decided before.
    loaded: bool,
    /// Calls waiting for the first load.
    waiting: Vec<tokio::sync::oneshot::Sender<Result<(), String>>>,
    reloading: bool,
    reload_every: Duration,
    metrics: ActorMetrics,
}

impl Allocator {
    pub fn new(
        ops: MetalOps,
        lbconfig: Mailbox<LbConfigWriter>,
        leading: watch::Receiver<bool>,
        reload_every: Duration,
        metrics: ActorMetrics,
    ) -> Self {
        Self {
            ops,
            lbconfig,
            leading,
            services: KeyedLocks::default(),
            index: IpIndex::default(),
            loaded: false,
            waiting: Vec::new(),
            reloading: false,
            reload_every,
            metrics,
        }
    }

    fn check_leader(&self) -> Result<(), LbError> {
        if *self.leading.borrow() {
            Ok(())
        } else {
            Err(LbError::NotLeader)
        }
    }

    /// Resolves once the index is loaded: at once when it is, else after the load this
    /// starts (calls arriving at start wait for it instead of failing).
    fn loaded(
        &mut self,
        ctx: &mut Context<Self>,
    ) -> LocalBoxActorFuture<Self, Result<(), LbError>> {
        if self.loaded {
            return fut::ready(Ok(())).boxed_local();
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiting.push(tx);
        self.reload(ctx);
        wrap_future::<_, Self>(async move {
            rx.await
                .unwrap_or_else(|_| Err("the allocator restarted".into()))
                .map_err(LbError::MetalApi)
        })
        .boxed_local()
    }

    /// Reads every IP of the project again; changes made meanwhile are kept.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        if self.reloading {
            return;
        }
        self.reloading = true;
        self.index.begin_reload();
        let ops = self.ops.clone();
        ctx.spawn(
            wrap_future::<_, Self>(async move { ops.project_ips().await }).map(|result, act, _| {
                act.reloading = false;
                match result {
                    Ok(ips) => {
                        act.index.finish_reload(ips);
                        act.loaded = true;
                        for waiter in act.waiting.drain(..) {
                            let _ = waiter.send(Ok(()));
                        }
                        tracing::debug!(ips = act.index.len(), "IP index reloaded");
                        act.lbconfig.addr().do_send(Poke);
                    }
                    Err(e) => {
                        act.index.abort_reload();
                        for waiter in act.waiting.drain(..) {
                            let _ = waiter.send(Err(format!(
                                "the project's IPs could not be loaded from metal-api: {e}"
                            )));
                        }
                        tracing::warn!(error = %e, "reloading the project's IPs failed");
                    }
                }
            }),
        );
    }

    /// Runs `work` under the Service's lock, with the IPs currently tagged for it; applies the
    /// updates it reports to the index, then (after a change) writes the configuration.
    fn change<T, W, Fut>(
        &mut self,
        key: &ServiceKey,
        work: W,
    ) -> LocalBoxActorFuture<Self, Result<T, LbError>>
    where
        T: HasChanges + 'static,
        W: FnOnce(MetalOps, Vec<IpResponse>) -> Fut + 'static,
        Fut: std::future::Future<Output = (Result<T, LbError>, Vec<Update>)> + 'static,
    {
        let tag = tags::service_tag(&self.ops.config.cluster, key);
        let lock = self.services.clone();
        let name = key.to_string();
        wrap_future::<_, Self>(async move { lock.lock(&name).await })
            .then(move |guard, act, _| {
                let ops = act.ops.clone();
                let tagged = act.index.tagged(&tag);
                wrap_future::<_, Self>(async move { (work(ops, tagged).await, guard) })
            })
            .map(|((result, updates), guard), act, _| {
                for update in updates {
                    act.index.apply(update);
                }
                (result, guard, act.lbconfig.clone())
            })
            .then(|(result, guard, lbconfig), _, _| {
                wrap_future::<_, Self>(async move {
                    let result = match result {
                        Ok(done) if done.changed() => sync_config(&lbconfig).await.map(|()| done),
                        other => other,
                    };
                    drop(guard);
                    result
                })
            })
            .boxed_local()
    }
}

/// Whether an answer reports a change to metal-api (which the configuration must follow).
trait HasChanges {
    fn changed(&self) -> bool;
}

impl HasChanges for Ensured {
    fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

impl HasChanges for Vec<Change> {
    fn changed(&self) -> bool {
        !self.is_empty()
    }
}

impl Actor for Allocator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.reload(ctx);
        ctx.run_interval(self.reload_every, |act, ctx| act.reload(ctx));
    }
}

impl Supervised for Allocator {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.metrics.restarted(NAME);
        self.loaded = false;
        self.reloading = false;
        // Their senders drop: the waiting calls fail and their callers retry.
        self.waiting.clear();
    }
}

/// Writes the configuration after a change; a failed write fails the call, so the caller
/// retries (the IPs stay tagged, and the retry changes nothing in metal-api).
async fn sync_config(lbconfig: &Mailbox<LbConfigWriter>) -> Result<(), LbError> {
    lbconfig
        .send(Sync)
        .await
        .map_err(|e| LbError::Config(format!("configuration writer unavailable: {e}")))?
}

impl Handler<Ensure> for Allocator {
    type Result = ResponseActFuture<Self, Result<Ensured, LbError>>;

    fn handle(&mut self, Ensure(request): Ensure, ctx: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_leader() {
            return Box::pin(fut::ready(Err(e)));
        }
        let key = request.key.clone();
        Box::pin(self.loaded(ctx).then(move |loaded, act, _| match loaded {
            Err(e) => fut::ready(Err(e)).boxed_local(),
            Ok(()) => act.change(&key, move |ops, tagged| async move {
                let mut updates = Vec::new();
                let result = ops.ensure(&request, &tagged, &mut updates).await;
                (result, updates)
            }),
        }))
    }
}

impl Handler<Release> for Allocator {
    type Result = ResponseActFuture<Self, Result<Vec<Change>, LbError>>;

    fn handle(&mut self, Release(key): Release, ctx: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_leader() {
            return Box::pin(fut::ready(Err(e)));
        }
        let service = key.clone();
        Box::pin(self.loaded(ctx).then(move |loaded, act, _| match loaded {
            Err(e) => fut::ready(Err(e)).boxed_local(),
            Ok(()) => act.change(&key, move |ops, tagged| async move {
                let mut updates = Vec::new();
                let result = ops.release(&service, &tagged, &mut updates).await;
                (result, updates)
            }),
        }))
    }
}

impl Handler<List> for Allocator {
    type Result = ResponseActFuture<Self, Result<Vec<LoadBalancer>, LbError>>;

    fn handle(&mut self, _: List, ctx: &mut Self::Context) -> Self::Result {
        Box::pin(self.loaded(ctx).map(|loaded, act, _| {
            loaded.map(|()| by_service(&act.ops.config.cluster, act.index.all()))
        }))
    }
}

impl Handler<ClusterIps> for Allocator {
    type Result = ResponseActFuture<Self, Result<Vec<IpResponse>, LbError>>;

    fn handle(&mut self, _: ClusterIps, ctx: &mut Self::Context) -> Self::Result {
        Box::pin(
            self.loaded(ctx).map(|loaded, act, _| {
                loaded.map(|()| act.index.of_cluster(&act.ops.config.cluster))
            }),
        )
    }
}
