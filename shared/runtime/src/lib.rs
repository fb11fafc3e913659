//! The runtime every metal-mesh service binary shares: clap+env configuration, logs and
//! traces, Prometheus metrics, health and readiness probes, the OpenAPI document and its docs
//! page, actor supervision helpers, and one graceful shutdown. A service's `main` is:
//!
//! ```no_run
//! use clap::Parser;
//! use mesh_runtime::{RuntimeArgs, ServiceInfo, ServiceParts};
//!
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     runtime: RuntimeArgs,
//!     /// read from --metal-api-url or LB_ALLOCATOR_METAL_API_URL
//!     #[arg(long)]
//!     metal_api_url: String,
//! }
//!
//! fn main() -> anyhow::Result<()> {
//!     let args: Args = mesh_runtime::parse_args("LB_ALLOCATOR");
//!     let info = ServiceInfo { name: "lb-allocator", version: env!("CARGO_PKG_VERSION") };
//!     mesh_runtime::run(info, args.runtime.clone(), move |setup| async move {
//!         // start actors here with `mesh_runtime::supervise(name, &setup.actors, ..)`
//!         let _ = (args.metal_api_url, setup);
//!         Ok(ServiceParts::new(utoipa::openapi::OpenApi::default(), |_routes| {}))
//!     })
//! }
//! ```

mod actors;
pub mod auth;
mod cli;
pub mod docs;
mod health;
pub mod locks;
mod metrics;
pub mod problem;
mod server;
mod shutdown;
mod telemetry;
pub mod tls;

pub use actors::{ActorMetrics, Mailbox, supervise};
pub use cli::{LogFormat, RuntimeArgs, parse_args, parse_duration, try_parse_args_from};
pub use health::ReadinessCheck;
pub use metrics::{MetricsRegistry, OPENMETRICS_CONTENT_TYPE};
pub use server::{
    OnShutdown, Routes, ServiceInfo, ServiceParts, Setup, block_on_system, launch, run, serve,
};
pub use shutdown::ShutdownSignal;
pub use telemetry::Telemetry;

/// Paths used by this crate's macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use actix;
}
