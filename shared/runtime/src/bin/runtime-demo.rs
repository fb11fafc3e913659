//! A minimal service on the shared runtime, used by the graceful-shutdown test and as the
//! smallest example of a service `main`.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use clap::Parser;
use mesh_runtime::{RuntimeArgs, ServiceInfo, ServiceParts};
use serde::Deserialize;
use utoipa::OpenApi;

#[derive(Parser, Debug)]
#[command(about = "Demo service of the mesh runtime")]
struct Args {
    #[command(flatten)]
    runtime: RuntimeArgs,
}

#[derive(Deserialize, utoipa::IntoParams)]
struct SlowQuery {
    /// How long to wait before answering, in milliseconds
    ms: u64,
}

/// Answers after `ms` milliseconds.
#[utoipa::path(get, path = "/slow", tag = "demo", params(SlowQuery), responses((status = 200, description = "Waited", body = String)))]
async fn slow(query: web::Query<SlowQuery>) -> HttpResponse {
    tracing::info!(ms = query.ms, "slow request started");
    tokio::time::sleep(Duration::from_millis(query.ms)).await;
    HttpResponse::Ok().body(format!("slept {}ms", query.ms))
}

#[derive(OpenApi)]
#[openapi(info(title = "runtime-demo"), paths(slow))]
struct ApiDoc;

fn main() -> anyhow::Result<()> {
    let args: Args = mesh_runtime::parse_args("RUNTIME_DEMO");
    let info = ServiceInfo {
        name: "runtime-demo",
        version: env!("CARGO_PKG_VERSION"),
    };
    mesh_runtime::run(info, args.runtime, |_setup| async {
        Ok(ServiceParts::new(ApiDoc::openapi(), |cfg| {
            cfg.route("/slow", web::get().to(slow));
        })
        .with_on_shutdown(|| async { tracing::info!("on_shutdown ran") }))
    })
}
