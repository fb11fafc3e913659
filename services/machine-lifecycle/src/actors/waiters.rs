//! The Machines waiting for a free machine: those whose Create failed with ResourceExhausted,
//! by partition and size. When this process frees a machine of that pool, they are reconciled
//! at once instead of after the long retry period. Losing this state (a restart) only means
//! they wait for their retry, so it lives in memory.

use std::collections::{BTreeMap, BTreeSet};

use actix::prelude::*;
use mesh_runtime::ActorMetrics;
use tokio::sync::mpsc::UnboundedSender;

pub const NAME: &str = "exhausted-waiters";

/// A machine pool: partition and size.
pub type Pool = (String, String);

/// The Machine `name` waits for a machine of `pool`.
pub struct Wait {
    pub pool: Pool,
    pub name: String,
}

impl Message for Wait {
    type Result = ();
}

/// The Machine `name` no longer waits (created, deleted).
pub struct Done(pub String);

impl Message for Done {
    type Result = ();
}

/// A machine of `pool` was freed.
pub struct Freed(pub Pool);

impl Message for Freed {
    type Result = ();
}

/// Where woken Machine names go: the running controller's trigger stream (replaced each time
/// the controller starts, as it does after winning the Lease again).
pub struct Subscribe(pub UnboundedSender<String>);

impl Message for Subscribe {
    type Result = ();
}

/// How many Machines wait, for tests and the REST view.
pub struct Count;

impl Message for Count {
    type Result = usize;
}

pub struct Waiters {
    waiting: BTreeMap<Pool, BTreeSet<String>>,
    wake: Option<UnboundedSender<String>>,
    metrics: ActorMetrics,
}

impl Waiters {
    pub fn new(metrics: ActorMetrics) -> Self {
        Self {
            waiting: BTreeMap::new(),
            wake: None,
            metrics,
        }
    }
}

impl Actor for Waiters {
    type Context = Context<Self>;
}

mesh_runtime::count_restarts!(Waiters, metrics, NAME);

impl Handler<Wait> for Waiters {
    type Result = ();

    fn handle(&mut self, msg: Wait, _: &mut Context<Self>) {
        self.waiting.entry(msg.pool).or_default().insert(msg.name);
    }
}

impl Handler<Done> for Waiters {
    type Result = ();

    fn handle(&mut self, msg: Done, _: &mut Context<Self>) {
        for names in self.waiting.values_mut() {
            names.remove(&msg.0);
        }
        self.waiting.retain(|_, names| !names.is_empty());
    }
}

impl Handler<Freed> for Waiters {
    type Result = ();

    /// Wakes every waiter of the pool: one of them gets the machine, the others fail again and
    /// wait again (there is no telling which one MCM would prefer).
    fn handle(&mut self, msg: Freed, _: &mut Context<Self>) {
        let Some(names) = self.waiting.remove(&msg.0) else {
            return;
        };
        if let Some(wake) = &self.wake {
            for name in names {
                let _ = wake.send(name);
            }
        }
    }
}

impl Handler<Subscribe> for Waiters {
    type Result = ();

    fn handle(&mut self, msg: Subscribe, _: &mut Context<Self>) {
        self.wake = Some(msg.0);
    }
}

impl Handler<Count> for Waiters {
    type Result = usize;

    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> usize {
        self.waiting.values().map(BTreeSet::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::registry::Registry;

    use super::*;

    fn pool(size: &str) -> Pool {
        ("fra-equ01".into(), size.into())
    }

    #[actix_rt::test]
    async fn a_freed_machine_wakes_the_waiters_of_its_pool_only() {
        let metrics = ActorMetrics::new(&mut Registry::default());
        let waiters = mesh_runtime::supervise(NAME, &metrics, {
            let metrics = metrics.clone();
            move |_| Waiters::new(metrics)
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        waiters.send(Subscribe(tx)).await.unwrap();
        for (name, size) in [("a", "small"), ("b", "small"), ("c", "large")] {
            waiters
                .send(Wait {
                    pool: pool(size),
                    name: name.into(),
                })
                .await
                .unwrap();
        }
        waiters.send(Done("b".into())).await.unwrap();
        assert_eq!(waiters.send(Count).await.unwrap(), 2);
        waiters.send(Freed(pool("small"))).await.unwrap();
        assert_eq!(rx.recv().await.as_deref(), Some("a"));
        assert!(
            rx.try_recv().is_err(),
            "b was done, c waits for another size"
        );
        assert_eq!(waiters.send(Count).await.unwrap(), 1);
    }
}
