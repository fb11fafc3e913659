//! The allocator actor owns every change to the cluster's load-balancer IPs. metal-ccm
//! serialized all of them behind three process-wide mutexes; here changes to one Service run
//! one at a time (and tag edits of one IP, see `metal.rs`), while different Services proceed
//! side by side, so a burst of new Services is not a queue.
//!
//! After a change the load-balancer configuration is written before the answer goes out, so
//! an IP in a Service's status is already in a pool. Answers for a Service whose request did
//! not change are served from memory for one sync interval, which turns the reconciles that
//! follow our own status writes into no-ops.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use mesh_runtime::{ActorMetrics, Mailbox};
use tokio::sync::watch;

use super::lbconfig::{LbConfigWriter, Sync};
use super::locks::KeyedLocks;
use crate::core::error::LbError;
use crate::core::outcome::{Change, Ensured, LoadBalancer, by_service};
use crate::core::service::{LbRequest, ServiceKey};
use crate::metal::MetalOps;

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

/// The cluster's load balancers as metal-api records them.
pub struct List;

impl Message for List {
    type Result = Result<Vec<LoadBalancer>, LbError>;
}

struct Remembered {
    request: LbRequest,
    answer: Ensured,
    at: Instant,
}

pub struct Allocator {
    ops: MetalOps,
    lbconfig: Mailbox<LbConfigWriter>,
    leading: watch::Receiver<bool>,
    services: KeyedLocks,
    remembered: HashMap<ServiceKey, Remembered>,
    remember_for: Duration,
    metrics: ActorMetrics,
}

impl Allocator {
    pub fn new(
        ops: MetalOps,
        lbconfig: Mailbox<LbConfigWriter>,
        leading: watch::Receiver<bool>,
        remember_for: Duration,
        metrics: ActorMetrics,
    ) -> Self {
        Self {
            ops,
            lbconfig,
            leading,
            services: KeyedLocks::default(),
            remembered: HashMap::new(),
            remember_for,
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
}

impl Actor for Allocator {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

mesh_runtime::count_restarts!(Allocator, metrics, NAME);

/// Writes the configuration after a change; a failed write fails the call, so the caller
/// retries (the IPs stay tagged, the retry is a no-op in metal-api).
async fn sync_config(lbconfig: &Mailbox<LbConfigWriter>) -> Result<(), LbError> {
    lbconfig
        .send(Sync)
        .await
        .map_err(|e| LbError::Config(format!("configuration writer unavailable: {e}")))?
}

impl Handler<Ensure> for Allocator {
    type Result = ResponseActFuture<Self, Result<Ensured, LbError>>;

    fn handle(&mut self, Ensure(request): Ensure, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_leader() {
            return Box::pin(fut::ready(Err(e)));
        }
        if let Some(r) = self.remembered.get(&request.key)
            && r.request == request
            && r.at.elapsed() < self.remember_for
        {
            let answer = Ensured {
                ips: r.answer.ips.clone(),
                changes: Vec::new(),
            };
            return Box::pin(fut::ready(Ok(answer)));
        }
        let (ops, services, lbconfig) = (
            self.ops.clone(),
            self.services.clone(),
            self.lbconfig.clone(),
        );
        let key = request.key.clone();
        let work = async move {
            let _service = services.lock(&key.to_string()).await;
            let ensured = ops.ensure(&request).await?;
            if !ensured.changes.is_empty() {
                sync_config(&lbconfig).await?;
            }
            Ok((request, ensured))
        };
        Box::pin(work.into_actor(self).map(|result, act, _| {
            result.map(|(request, ensured)| {
                act.remembered.insert(
                    request.key.clone(),
                    Remembered {
                        request,
                        answer: ensured.clone(),
                        at: Instant::now(),
                    },
                );
                ensured
            })
        }))
    }
}

impl Handler<Release> for Allocator {
    type Result = ResponseActFuture<Self, Result<Vec<Change>, LbError>>;

    fn handle(&mut self, Release(key): Release, _: &mut Self::Context) -> Self::Result {
        if let Err(e) = self.check_leader() {
            return Box::pin(fut::ready(Err(e)));
        }
        // Forgotten now, so no Ensure answers from memory meanwhile, and again when done, in
        // case an Ensure that finished in between remembered what is released now.
        self.remembered.remove(&key);
        let (ops, services, lbconfig) = (
            self.ops.clone(),
            self.services.clone(),
            self.lbconfig.clone(),
        );
        let forget = key.clone();
        let work = async move {
            let _service = services.lock(&key.to_string()).await;
            let changes = ops.release(&key).await?;
            if !changes.is_empty() {
                // The Service is going away; the pools follow without waiting for it.
                lbconfig.addr().do_send(super::lbconfig::Poke);
            }
            Ok(changes)
        };
        Box::pin(work.into_actor(self).map(move |result, act, _| {
            act.remembered.remove(&forget);
            result
        }))
    }
}

impl Handler<List> for Allocator {
    type Result = ResponseFuture<Result<Vec<LoadBalancer>, LbError>>;

    fn handle(&mut self, _: List, _: &mut Self::Context) -> Self::Result {
        let ops = self.ops.clone();
        Box::pin(async move {
            let ips = ops.project_ips().await?;
            Ok(by_service(&ops.config.cluster, &ips))
        })
    }
}
