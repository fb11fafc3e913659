//! Prometheus metrics: the per-service registry, HTTP request metrics recorded by a middleware,
//! the build info gauge, and the `/metrics` endpoint.

use std::{sync::Arc, time::Duration};

use actix_web::{
    HttpResponse,
    http::{Method, StatusCode, header},
    web,
};
use parking_lot::Mutex;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::server::ServiceInfo;

/// Content type of the OpenMetrics text exposition format.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A shareable handle to one service's metric registry. Metrics are registered once at setup
/// (through [`with`](Self::with)); recording into them needs no lock, only encoding does.
#[derive(Clone, Default)]
pub struct MetricsRegistry(Arc<Mutex<Registry>>);

impl MetricsRegistry {
    /// Runs `f` with the registry, e.g.
    /// `metrics.with(|r| r.sub_registry_with_prefix("ipam").register("pool_free", "…", gauge.clone()))`.
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        f(&mut self.0.lock())
    }

    /// Encodes every registered metric in the OpenMetrics text format.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.0.lock())?;
        Ok(out)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    /// The matched route pattern (`/v1/ip/{id}`), never the raw path, so cardinality stays bounded.
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    service: String,
    version: String,
}

type LatencyFamily = Family<RequestLabels, Histogram, fn() -> Histogram>;

/// HTTP request counter and latency histogram, labelled by method, route pattern and status.
#[derive(Clone)]
pub(crate) struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
}

impl HttpMetrics {
    /// Registers the HTTP metrics and the build info gauge of `info` in `registry`.
    pub(crate) fn register(registry: &mut Registry, info: &ServiceInfo) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = LatencyFamily::new_with_constructor(|| {
            // 1 ms .. ~33 s
            Histogram::new(exponential_buckets(0.001, 2.0, 16))
        });
        registry.register("http_requests", "HTTP requests handled", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency until the response head",
            latency.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                service: info.name.to_owned(),
                version: info.version.to_owned(),
            })
            .set(1);
        registry.register("build_info", "Service name and version; always 1", build);
        Self { requests, latency }
    }

    /// Records one finished request; `route` is `None` when no route matched.
    pub(crate) fn observe(
        &self,
        method: &Method,
        route: Option<String>,
        status: StatusCode,
        elapsed: Duration,
    ) {
        // Clients can send any method token; only the standard ones become label values.
        let standard = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
            Method::CONNECT,
            Method::TRACE,
        ];
        let labels = RequestLabels {
            method: if standard.contains(method) {
                method.as_str().to_owned()
            } else {
                "OTHER".to_owned()
            },
            route: route.unwrap_or_else(|| "unmatched".to_owned()),
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

/// Registers `GET /metrics`.
pub(crate) fn configure(cfg: &mut web::ServiceConfig, registry: MetricsRegistry) {
    cfg.route(
        "/metrics",
        web::get().to(move || {
            let response = exposition(&registry);
            async move { response }
        }),
    );
}

fn exposition(registry: &MetricsRegistry) -> HttpResponse {
    match registry.encode() {
        Ok(body) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE))
            .body(body),
        Err(_) => HttpResponse::InternalServerError().finish(),
    }
}
