//! The inventory actor: the only writer of the metal-api state.
//!
//! It runs each operation on the in-memory [`State`] (pure core), then persists the
//! operation's changes before the caller gets an answer. Changes of operations that arrive
//! while a write is in flight are collected and written together in the next transaction
//! (group commit): one fsync serves many allocations, and an answer is never sent before
//! its changes are durable. Reads wait behind pending writes, so nobody sees data that a
//! crash could still take back.
//!
//! A failed write stops the actor; its supervisor restarts it, and `restarting` reloads the
//! state from disk, failing every operation not yet written.

use std::sync::Arc;

use actix::prelude::*;
use mesh_runtime::ActorMetrics;
use rand::RngExt;
use tokio::sync::oneshot;

use crate::core::{ApiError, ApiResult, Change, Ctx, Entropy, State};
use crate::store::Store;

pub const NAME: &str = "inventory";

/// An operation: a function of the state, run on the actor.
type Op<T> = Box<dyn FnOnce(&mut State, &mut Ctx) -> ApiResult<T> + Send>;

/// One operation on the state. Built with [`Exec::new`].
pub struct Exec<T: Send + 'static>(Op<T>);

impl<T: Send + 'static> Exec<T> {
    pub fn new(f: impl FnOnce(&mut State, &mut Ctx) -> ApiResult<T> + Send + 'static) -> Self {
        Self(Box::new(f))
    }
}

impl<T: Send + 'static> Message for Exec<T> {
    type Result = ApiResult<T>;
}

type Reply = Box<dyn FnOnce(Option<ApiError>) + Send>;

/// An answered operation waiting for its changes (and all before them) to be durable.
struct Pending {
    changes: Vec<Change>,
    reply: Reply,
}

pub struct Inventory {
    store: Arc<Store>,
    state: State,
    pending: Vec<Pending>,
    flushing: bool,
    metrics: ActorMetrics,
}

impl Inventory {
    pub fn new(store: Arc<Store>, metrics: ActorMetrics) -> Result<Self, crate::store::StoreError> {
        let state = State::from_changes(store.load()?);
        Ok(Self {
            store,
            state,
            pending: Vec::new(),
            flushing: false,
            metrics,
        })
    }

    /// Starts writing the pending changes unless a write is already in flight.
    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.flushing || self.pending.is_empty() {
            return;
        }
        self.flushing = true;
        let (changes, replies): (Vec<Vec<Change>>, Vec<Reply>) = std::mem::take(&mut self.pending)
            .into_iter()
            .map(|p| (p.changes, p.reply))
            .unzip();
        let changes: Vec<Change> = changes.into_iter().flatten().collect();
        let store = self.store.clone();
        let write = async move {
            match tokio::task::spawn_blocking(move || store.apply(&changes)).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(join) => Err(join.to_string()),
            }
        };
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            act.flushing = false;
            match result {
                Ok(()) => {
                    replies.into_iter().for_each(|reply| reply(None));
                    act.flush(ctx);
                }
                Err(e) => {
                    tracing::error!(error = %e, "writing the inventory failed; restarting from disk");
                    let err = ApiError::internal(format!("storage failure: {e}"));
                    replies.into_iter().for_each(|reply| reply(Some(err.clone())));
                    ctx.stop();
                }
            }
        }));
    }
}

impl Actor for Inventory {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Operations queue here while a write is in flight; beyond this senders wait
        // (backpressure) instead of growing the queue without bound.
        ctx.set_mailbox_capacity(4096);
    }
}

impl Supervised for Inventory {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.metrics.restarted(NAME);
        let err =
            ApiError::unavailable("the inventory restarted before this change was stored; retry");
        for p in std::mem::take(&mut self.pending) {
            (p.reply)(Some(err.clone()));
        }
        self.flushing = false;
        match self.store.load() {
            Ok(changes) => self.state = State::from_changes(changes),
            Err(e) => {
                // Serving from a state we cannot load would hand out addresses twice.
                tracing::error!(error = %e, "cannot reload the inventory; exiting");
                std::process::exit(70);
            }
        }
    }
}

impl<T: Send + 'static> Handler<Exec<T>> for Inventory {
    type Result = ResponseFuture<ApiResult<T>>;

    fn handle(&mut self, msg: Exec<T>, ctx: &mut Self::Context) -> Self::Result {
        let mark = self.state.mark();
        let mut entropy = OsEntropy;
        let mut op_ctx = Ctx {
            now: chrono::Utc::now(),
            entropy: &mut entropy,
        };
        let result = (msg.0)(&mut self.state, &mut op_ctx);
        if result.is_err() {
            self.state.rollback(mark);
        }
        let changes = self.state.take_journal();
        if changes.is_empty() && self.pending.is_empty() && !self.flushing {
            return Box::pin(futures::future::ready(result));
        }
        let (tx, rx) = oneshot::channel();
        self.pending.push(Pending {
            changes,
            reply: Box::new(move |failure| {
                let _ = tx.send(match failure {
                    None => result,
                    Some(e) => Err(e),
                });
            }),
        });
        self.flush(ctx);
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(ApiError::unavailable("the inventory stopped; retry")))
        })
    }
}

/// Real entropy: v4 UUIDs and a thread-local RNG.
struct OsEntropy;

impl Entropy for OsEntropy {
    fn uuid(&mut self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
    fn pick(&mut self, n: usize) -> usize {
        rand::rng().random_range(0..n)
    }
}

/// Runs an operation on the inventory; a dead mailbox is "unavailable".
pub async fn exec<T: Send + 'static>(
    inventory: &mesh_runtime::Mailbox<Inventory>,
    f: impl FnOnce(&mut State, &mut Ctx) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    inventory
        .send(Exec::new(f))
        .await
        .unwrap_or_else(|e| Err(ApiError::unavailable(format!("inventory unavailable: {e}"))))
}
