//! Actor observability and supervision: every actor exposes its mailbox depth and restart
//! count (`actor_mailbox_depth{actor}`, `actor_restarts_total{actor}`).

use actix::{
    Actor, Addr, Context, Handler, MailboxError, Message, Supervised, Supervisor, dev::ToEnvelope,
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActorLabel {
    actor: String,
}

impl ActorLabel {
    fn new(actor: &str) -> Self {
        Self {
            actor: actor.to_owned(),
        }
    }
}

/// Per-actor restart counters and mailbox depth gauges of one service.
#[derive(Clone)]
pub struct ActorMetrics {
    restarts: Family<ActorLabel, Counter>,
    mailbox: Family<ActorLabel, Gauge>,
}

impl ActorMetrics {
    /// Registers `actor_restarts_total` and `actor_mailbox_depth` in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            restarts: Family::default(),
            mailbox: Family::default(),
        };
        registry.register(
            "actor_restarts",
            "Times the supervisor restarted the actor",
            metrics.restarts.clone(),
        );
        registry.register(
            "actor_mailbox_depth",
            "Messages sent to the actor and not yet answered",
            metrics.mailbox.clone(),
        );
        metrics
    }

    /// Counts one restart of `actor`; call it from `Supervised::restarting`.
    pub fn restarted(&self, actor: &str) {
        self.restarts.get_or_create(&ActorLabel::new(actor)).inc();
    }

    /// The mailbox depth gauge of `actor` (shared by every handle to the same actor name).
    pub fn mailbox(&self, actor: &str) -> Gauge {
        self.mailbox.get_or_create_owned(&ActorLabel::new(actor))
    }

    /// How often `actor` was restarted so far.
    pub fn restarts(&self, actor: &str) -> u64 {
        self.restarts.get_or_create(&ActorLabel::new(actor)).get()
    }
}

/// An [`Addr`] that counts the messages sent through it which are queued or being handled as
/// the actor's mailbox depth. Messages sent through [`addr`](Self::addr) directly are not
/// counted, so edges should hold a `Mailbox`.
pub struct Mailbox<A: Actor> {
    name: &'static str,
    addr: Addr<A>,
    depth: Gauge,
}

impl<A: Actor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Self {
            name: self.name,
            addr: self.addr.clone(),
            depth: self.depth.clone(),
        }
    }
}

impl<A: Actor> Mailbox<A> {
    pub fn new(name: &'static str, addr: Addr<A>, metrics: &ActorMetrics) -> Self {
        Self {
            name,
            addr,
            depth: metrics.mailbox(name),
        }
    }

    /// Sends `msg` and waits for the answer, counting it in the depth meanwhile (also when the
    /// caller drops the future early).
    pub async fn send<M>(&self, msg: M) -> Result<M::Result, MailboxError>
    where
        A: Handler<M>,
        M: Message + Send + 'static,
        M::Result: Send,
        A::Context: ToEnvelope<A, M>,
    {
        self.depth.inc();
        let _in_flight = DecOnDrop(&self.depth);
        self.addr.send(msg).await
    }

    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// The name used as the `actor` label.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Messages currently queued or being handled, across every handle to this actor name.
    pub fn depth(&self) -> i64 {
        self.depth.get()
    }
}

struct DecOnDrop<'a>(&'a Gauge);

impl Drop for DecOnDrop<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Starts an actor under an actix [`Supervisor`] on the current arbiter: whenever the actor
/// stops (`ctx.stop()`, or its `stopping` lets it), the supervisor calls
/// `Supervised::restarting` and starts it again with the same address, so queued messages are
/// kept and `started` can reload state from the durable store. Restarts are counted when
/// `restarting` calls [`ActorMetrics::restarted`], which
/// [`count_restarts!`](crate::count_restarts) writes in one line. Must run inside an actix
/// `System` (e.g. in the setup closure given to [`run`](crate::run)).
///
/// ```no_run
/// use mesh_runtime::{ActorMetrics, Mailbox, Setup, supervise};
///
/// const POOL: &str = "ip-pool";
///
/// struct Pool {
///     metrics: ActorMetrics,
/// }
///
/// impl actix::Actor for Pool {
///     type Context = actix::Context<Self>;
///     // fn started(..): load the pool from the store; runs again after every restart
/// }
///
/// mesh_runtime::count_restarts!(Pool, metrics, POOL);
///
/// fn start(setup: &Setup) -> Mailbox<Pool> {
///     let metrics = setup.actors.clone();
///     supervise(POOL, &setup.actors, |_| Pool { metrics })
/// }
/// ```
pub fn supervise<A>(
    name: &'static str,
    metrics: &ActorMetrics,
    make: impl FnOnce(&mut Context<A>) -> A + 'static,
) -> Mailbox<A>
where
    A: Actor<Context = Context<A>> + Supervised,
{
    Mailbox::new(name, Supervisor::start(make), metrics)
}

/// Implements `actix::Supervised` for an actor so that each restart is counted:
/// `count_restarts!(Pool, metrics, "ip-pool")` where `metrics` is the actor's
/// [`ActorMetrics`] field. Write the impl by hand instead when `restarting` must do more.
#[macro_export]
macro_rules! count_restarts {
    ($actor:ty, $metrics_field:ident, $name:expr) => {
        impl $crate::__private::actix::Supervised for $actor {
            fn restarting(&mut self, _: &mut <Self as $crate::__private::actix::Actor>::Context) {
                self.$metrics_field.restarted($name);
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::{
        sync::{
            Arc,
            atomic::{AtomicUsize, Ordering},
        },
        time::Duration,
    };

    use actix::{Actor, ActorContext as _, Context, Handler, Message, ResponseFuture};
    use prometheus_client::encoding::text::encode;
    use tokio::sync::oneshot;

    use super::*;

    /// Holds each message until the test releases it.
    struct Gate;

    impl Actor for Gate {
        type Context = Context<Self>;
    }

    struct Hold {
        started: oneshot::Sender<()>,
        release: oneshot::Receiver<()>,
    }

    impl Message for Hold {
        type Result = ();
    }

    impl Handler<Hold> for Gate {
        type Result = ResponseFuture<()>;

        fn handle(&mut self, msg: Hold, _: &mut Context<Self>) -> Self::Result {
            let _ = msg.started.send(());
            Box::pin(async move {
                let _ = msg.release.await;
            })
        }
    }

    fn hold() -> (Hold, oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (started_tx, started_rx) = oneshot::channel();
        let (release_tx, release_rx) = oneshot::channel();
        let msg = Hold {
            started: started_tx,
            release: release_rx,
        };
        (msg, started_rx, release_tx)
    }

    fn exposition(registry: &Registry) -> String {
        let mut out = String::new();
        encode(&mut out, registry).unwrap();
        out
    }

    #[actix::test]
    async fn mailbox_depth_counts_a_message_until_it_is_answered() {
        let mut registry = Registry::default();
        let metrics = ActorMetrics::new(&mut registry);
        let mailbox = Mailbox::new("gate", Gate.start(), &metrics);
        assert_eq!(mailbox.depth(), 0);

        let (msg, started, release) = hold();
        let sender = mailbox.clone();
        let pending = actix::spawn(async move { sender.send(msg).await });
        started.await.unwrap();
        assert_eq!(mailbox.depth(), 1);
        assert!(exposition(&registry).contains(r#"actor_mailbox_depth{actor="gate"} 1"#));

        release.send(()).unwrap();
        pending.await.unwrap().unwrap();
        assert_eq!(mailbox.depth(), 0);
        assert!(exposition(&registry).contains(r#"actor_mailbox_depth{actor="gate"} 0"#));
    }

    #[actix::test]
    async fn mailbox_depth_drops_when_the_caller_gives_up() {
        let metrics = ActorMetrics::new(&mut Registry::default());
        let mailbox = Mailbox::new("gate", Gate.start(), &metrics);
        let (msg, _started, _release) = hold();
        let gave_up = tokio::time::timeout(Duration::from_millis(20), mailbox.send(msg)).await;
        assert!(gave_up.is_err());
        assert_eq!(mailbox.depth(), 0);
    }

    /// Counts its starts and stops itself on `Crash`.
    struct Flaky {
        metrics: ActorMetrics,
        starts: Arc<AtomicUsize>,
    }

    impl Actor for Flaky {
        type Context = Context<Self>;

        fn started(&mut self, _: &mut Context<Self>) {
            self.starts.fetch_add(1, Ordering::SeqCst);
        }
    }

    crate::count_restarts!(Flaky, metrics, "flaky");

    struct Crash;

    impl Message for Crash {
        type Result = ();
    }

    impl Handler<Crash> for Flaky {
        type Result = ();

        fn handle(&mut self, _: Crash, ctx: &mut Context<Self>) {
            ctx.stop();
        }
    }

    struct Starts;

    impl Message for Starts {
        type Result = usize;
    }

    impl Handler<Starts> for Flaky {
        type Result = usize;

        fn handle(&mut self, _: Starts, _: &mut Context<Self>) -> usize {
            self.starts.load(Ordering::SeqCst)
        }
    }

    #[actix::test]
    async fn supervise_restarts_a_stopped_actor_and_counts_the_restart() {
        let mut registry = Registry::default();
        let metrics = ActorMetrics::new(&mut registry);
        let starts = Arc::new(AtomicUsize::new(0));
        let flaky = supervise("flaky", &metrics, {
            let (metrics, starts) = (metrics.clone(), starts.clone());
            move |_| Flaky { metrics, starts }
        });

        assert_eq!(flaky.send(Starts).await.unwrap(), 1);
        assert_eq!(metrics.restarts("flaky"), 0);

        flaky.send(Crash).await.unwrap();
        // Same address, new instance: the supervisor ran `restarting` and `started` again.
        assert_eq!(flaky.send(Starts).await.unwrap(), 2);
        flaky.send(Crash).await.unwrap();
        assert_eq!(flaky.send(Starts).await.unwrap(), 3);

        assert_eq!(metrics.restarts("flaky"), 2);
        assert!(exposition(&registry).contains(r#"actor_restarts_total{actor="flaky"} 2"#));
    }
}
