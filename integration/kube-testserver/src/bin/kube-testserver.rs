//! `kube-testserver --listen 127.0.0.1:PORT [--crd FILE]... [--token-file FILE]`: serves the Kubernetes API over plain
//! HTTP for end-to-end tests (see the crate README).

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use kube_testserver::{Config, Shared, server};

#[derive(Debug, Parser)]
#[command(name = "kube-testserver", version, about)]
struct Args {
    /// Address to serve plain HTTP on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// A CustomResourceDefinition YAML file to register at start (repeatable).
    #[arg(long = "crd")]
    crds: Vec<PathBuf>,
    /// Changes kept for watch resumption; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = 10_000)]
    history: usize,
    /// Seconds between watch bookmarks.
    #[arg(long, default_value_t = 5)]
    bookmark_interval: u64,
    /// Print each resource request to stderr.
    #[arg(long)]
    log_requests: bool,
    /// A kube-apiserver static token file (`token,user,uid[,"group1,group2"]` lines) whose
    /// tokens TokenReviews authenticate.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config {
        crds: args.crds,
        history: args.history,
        bookmark_interval: Duration::from_secs(args.bookmark_interval.max(1)),
        log_requests: args.log_requests,
        token_file: args.token_file,
    };
    let shared = Arc::new(Shared::new(&config)?);
    let listener = TcpListener::bind(args.listen)?;
    eprintln!(
        "kube-testserver listening on http://{}",
        listener.local_addr()?
    );
    actix_web::rt::System::new()
        .block_on(async move { server(shared, listener)?.await.map_err(Into::into) })
}
