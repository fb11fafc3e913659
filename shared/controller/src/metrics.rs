//! Reconcile metrics: how often each controller reconciled, with which outcome, and how long.

use std::future::Future;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    controller: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Controller {
    controller: String,
}

#[derive(Clone)]
pub struct ReconcileMetrics {
    reconciles: Family<Outcome, Counter>,
    duration: Family<Controller, Histogram>,
}

impl ReconcileMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let reconciles = Family::<Outcome, Counter>::default();
        let duration = Family::<Controller, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register(
            "reconciles",
            "Reconciliations by controller and result.",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconciliation.",
            duration.clone(),
        );
        Self {
            reconciles,
            duration,
        }
    }

    /// Runs one reconciliation and records its outcome and duration.
    pub async fn measure<T, E>(
        &self,
        controller: &str,
        reconcile: impl Future<Output = Result<T, E>>,
    ) -> Result<T, E> {
        let start = Instant::now();
        let result = reconcile.await;
        let outcome = if result.is_ok() { "success" } else { "error" };
        self.reconciles
            .get_or_create(&Outcome {
                controller: controller.into(),
                result: outcome,
            })
            .inc();
        self.duration
            .get_or_create(&Controller {
                controller: controller.into(),
            })
            .observe(start.elapsed().as_secs_f64());
        result
    }

    /// Reconciliations of `controller` that ended with `result` ("success" or "error").
    pub fn count(&self, controller: &str, result: &'static str) -> u64 {
        self.reconciles
            .get_or_create(&Outcome {
                controller: controller.into(),
                result,
            })
            .get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_outcomes_and_exposes_them() {
        let mut registry = Registry::default();
        let m = ReconcileMetrics::new(&mut registry);
        let ok: Result<(), &str> = m.measure("svc", async { Ok(()) }).await;
        let err: Result<(), &str> = m.measure("svc", async { Err("boom") }).await;
        assert!(ok.is_ok() && err.is_err());
        assert_eq!((m.count("svc", "success"), m.count("svc", "error")), (1, 1));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains(r#"reconciles_total{controller="svc",result="error"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("reconcile_duration_seconds_count{controller=\"svc\"} 2"),
            "{text}"
        );
    }
}
