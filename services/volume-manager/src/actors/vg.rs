//! One actor per volume group: the only writer of that VG's metadata. Every mutation (create,
//! delete, expand, snapshot) is a message whose work runs on a blocking thread while the actor
//! waits for it ([`AtomicResponse`]), so mutations of one VG never overlap and lvm never sees
//! two writers contend for its lock; reads do not go through here and run concurrently.
//! The actor also keeps the VG's model: loaded when it starts, reloaded every
//! [`REFRESH`] so changes made by others (an operator's lvremove) are seen.

use std::time::{Duration, Instant};

use actix::{
    Actor, ActorFutureExt as _, AsyncContext as _, AtomicResponse, Context, Handler, Message,
    WrapFuture as _,
};
use mesh_runtime::ActorMetrics;

use crate::error::{OpError, OpResult};
use crate::metrics::Metrics;
use crate::ops::Store;

pub struct VgActor {
    pub vg: String,
    pub store: Store,
    pub metrics: Metrics,
    pub actors: ActorMetrics,
    pub name: &'static str,
}

/// How often the actor rereads its VG from lvm.
pub const REFRESH: Duration = Duration::from_secs(30);

impl VgActor {
    /// Reloads the model through the mailbox, in order with the mutations.
    fn refresh(&self, ctx: &mut Context<Self>) {
        let vg = self.vg.clone();
        ctx.notify(Mutate::new("refresh", move |s: &Store| {
            s.reload(&vg).map(drop)
        }));
    }
}

impl Actor for VgActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!(vg = self.vg, "volume group actor started");
        // A restarted actor may have died half-way through a mutation: start from lvm.
        self.store.known.forget(&self.vg);
        self.refresh(ctx);
        ctx.run_interval(REFRESH, |actor, ctx| actor.refresh(ctx));
    }
}

impl actix::Supervised for VgActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.actors.restarted(self.name);
    }
}

/// The blocking work of one mutation.
pub type Work<R> = Box<dyn FnOnce(&Store) -> OpResult<R> + Send>;

/// A mutation of this VG: `op` names it for metrics and logs.
pub struct Mutate<R> {
    pub op: &'static str,
    pub work: Work<R>,
}

impl<R> Mutate<R> {
    pub fn new(
        op: &'static str,
        work: impl FnOnce(&Store) -> OpResult<R> + Send + 'static,
    ) -> Self {
        Mutate {
            op,
            work: Box::new(work),
        }
    }
}

impl<R: 'static> Message for Mutate<R> {
    type Result = OpResult<R>;
}

impl<R: Send + 'static> Handler<Mutate<R>> for VgActor {
    type Result = AtomicResponse<Self, OpResult<R>>;

    fn handle(&mut self, msg: Mutate<R>, _: &mut Context<Self>) -> Self::Result {
        let store = self.store.clone();
        let (vg, op, metrics) = (self.vg.clone(), msg.op, self.metrics.clone());
        let started = Instant::now();
        let work = msg.work;
        AtomicResponse::new(Box::pin(
            async move {
                tokio::task::spawn_blocking(move || work(&store))
                    .await
                    .unwrap_or_else(|e| Err(OpError::Internal(format!("{op} panicked: {e}"))))
            }
            .into_actor(self)
            .map(move |result, _, _| {
                metrics.mutation(&vg, op, result.as_ref().err(), started.elapsed());
                result
            }),
        ))
    }
}
