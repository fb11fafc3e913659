//! One process-wide shutdown signal: SIGTERM/SIGINT trigger it, and everything that must drain
//! (HTTP servers, controllers, gRPC servers) waits on a clone of it.

use std::{io, sync::Arc};

use tokio::{
    signal::unix::{SignalKind, signal},
    sync::watch,
};

/// A cloneable, level-triggered shutdown flag: once triggered it stays triggered, and
/// [`wait`](Self::wait) returns immediately for every later caller.
#[derive(Clone, Debug)]
pub struct ShutdownSignal(Arc<watch::Sender<bool>>);

impl Default for ShutdownSignal {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(false)))
    }
}

impl ShutdownSignal {
    /// A signal that only [`trigger`](Self::trigger) fires (tests, or an embedding process).
    pub fn new() -> Self {
        Self::default()
    }

    /// A signal fired by the first SIGTERM or SIGINT. The OS handlers are installed before this
    /// returns, so a signal sent right after cannot be lost. Must be called inside a tokio runtime.
    pub fn on_os_signals() -> io::Result<Self> {
        let shutdown = Self::new();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::info!("received {name}, shutting down");
            trigger.trigger();
        });
        Ok(shutdown)
    }

    /// Starts the shutdown; idempotent.
    pub fn trigger(&self) {
        self.0.send_replace(true);
    }

    pub fn is_triggered(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal has been triggered.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|triggered| *triggered).await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn wait_resolves_for_waiters_before_and_after_trigger() {
        let shutdown = ShutdownSignal::new();
        let early = tokio::spawn({
            let s = shutdown.clone();
            async move { s.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!early.is_finished());
        assert!(!shutdown.is_triggered());

        shutdown.trigger();
        tokio::time::timeout(Duration::from_secs(1), early)
            .await
            .unwrap()
            .unwrap();
        assert!(shutdown.clone().is_triggered());
        tokio::time::timeout(Duration::from_secs(1), shutdown.wait())
            .await
            .unwrap();
    }
}
