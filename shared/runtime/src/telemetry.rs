//! Logs (text or JSON on stdout, filtered by an EnvFilter) and, optionally, OTLP trace export.

use std::{io::IsTerminal, sync::OnceLock};

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt as _, util::SubscriberInitExt as _};

use crate::{
    cli::{LogFormat, RuntimeArgs},
    server::ServiceInfo,
};

/// The global subscriber can be installed once per process; later calls (a second `run` in a
/// test, or several services in one process) reuse it.
static INSTALLED: OnceLock<()> = OnceLock::new();

/// Keeps the trace exporter alive; [`shutdown`](Self::shutdown) flushes it before exit.
#[must_use = "call shutdown() before exit so buffered spans are exported"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Installs the global tracing subscriber from `args`: EnvFilter from `--log-level`
    /// (`RUST_LOG` wins when set), text or JSON lines, and OTLP export when `--otlp-endpoint`
    /// is set. Must be called inside the tokio runtime (the OTLP gRPC channel needs it).
    pub fn init(info: &ServiceInfo, args: &RuntimeArgs) -> anyhow::Result<Self> {
        if INSTALLED.get().is_some() {
            return Ok(Self { provider: None });
        }
        let filter = match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.is_empty() => EnvFilter::try_new(directives),
            _ => EnvFilter::try_new(&args.log_level),
        }
        .context("invalid log filter")?;
        let provider = args
            .otlp_endpoint
            .as_deref()
            .map(|endpoint| otlp_provider(info, endpoint))
            .transpose()?;
        let otel = provider
            .as_ref()
            .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer(info.name)));

        let registry = tracing_subscriber::registry().with(filter).with(otel);
        let installed = match args.log_format {
            LogFormat::Text => registry
                .with(fmt::layer().with_ansi(std::io::stdout().is_terminal()))
                .try_init(),
            LogFormat::Json => registry.with(fmt::layer().json()).try_init(),
        };
        if installed.is_err() {
            // Someone else (a test harness) owns the global subscriber; keep theirs.
            return Ok(Self { provider: None });
        }
        let _ = INSTALLED.set(());
        Ok(Self { provider })
    }

    /// Exports buffered spans and stops the exporter.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        // `shutdown` blocks on the exporter thread; keep it off the async workers.
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("trace export shutdown failed: {e}"),
            Err(e) => tracing::warn!("trace export shutdown panicked: {e}"),
        }
    }
}

fn otlp_provider(info: &ServiceInfo, endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .context("building the OTLP span exporter")?;
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(info.name)
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    info.version,
                ))
                .build(),
        )
        .build())
}
