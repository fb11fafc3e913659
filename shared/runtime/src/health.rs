//! Liveness (`/healthz`) and readiness (`/readyz`) endpoints.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use actix_web::{HttpResponse, web};
use futures::future::{BoxFuture, join_all};
use serde_json::json;

/// A dependency the service needs before it should receive traffic (its store is open, the
/// metal-api answers, a watch has synced). Implement it on a small struct holding an `Addr`
/// or a client; `check` must be cheap, it runs on every `/readyz` probe.
pub trait ReadinessCheck: Send + Sync {
    /// Name shown in the `/readyz` body.
    fn name(&self) -> &str;
    /// `Err(message)` when not ready; the message is shown in the `/readyz` body.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// A check that takes longer than this is reported as failed, so a hung dependency cannot hang
/// the probe.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The readiness checks of one service, shared by all HTTP workers.
pub(crate) type ReadinessChecks = Arc<[Arc<dyn ReadinessCheck>]>;

/// Registers `GET /healthz` and `GET /readyz`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, checks: ReadinessChecks) {
    cfg.route("/healthz", web::get().to(healthz)).route(
        "/readyz",
        web::get().to(move || {
            let checks = checks.clone();
            async move { readyz(&checks).await }
        }),
    );
}

/// `GET /healthz`: the process is up and serving HTTP.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// `GET /readyz`: 200 when every check passes, 503 with each failing check's message otherwise.
async fn readyz(checks: &[Arc<dyn ReadinessCheck>]) -> HttpResponse {
    let results = join_all(checks.iter().map(|check| async move {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check.check()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("timed out after {CHECK_TIMEOUT:?}")),
        };
        (check.name().to_owned(), outcome)
    }))
    .await;

    let ready = results.iter().all(|(_, outcome)| outcome.is_ok());
    let checks: BTreeMap<String, String> = results
        .into_iter()
        .map(|(name, outcome)| (name, outcome.err().unwrap_or_else(|| "ok".to_owned())))
        .collect();
    if ready {
        HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }))
    } else {
        HttpResponse::ServiceUnavailable().json(json!({ "status": "not ready", "checks": checks }))
    }
}
