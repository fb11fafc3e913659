//! `kube-testserver --listen 127.0.0.1:PORT [--crd FILE|DIR]... [--token-file FILE]
//! [--namespace NAME]... [--write-kubeconfig FILE [--advertise URL]]`: serves the Kubernetes
//! API over plain HTTP for end-to-end tests and the local stacks (see the crate README).

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use kube_testserver::{Config, Shared, server};

#[derive(Debug, Parser)]
#[command(name = "kube-testserver", version, about)]
struct Args {
    /// Address to serve plain HTTP on.
    #[arg(long, default_value = "127.0.0.1:6443")]
    listen: SocketAddr,
    /// A CustomResourceDefinition YAML file to register at start, or a directory whose
    /// `*.yaml` and `*.yml` files are (repeatable).
    #[arg(long = "crd", value_name = "FILE|DIR")]
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
    /// A namespace that exists at start, as in a cluster whose add-ons are installed
    /// (repeatable; kube-apiserver's own four always exist).
    #[arg(long = "namespace", value_name = "NAME")]
    namespaces: Vec<String>,
    /// Once listening, write a kubeconfig for this server to FILE (its directory is created),
    /// for users of a local stack.
    #[arg(long, value_name = "FILE")]
    write_kubeconfig: Option<PathBuf>,
    /// The server URL that kubeconfig names (default `http://` + the listen address): the
    /// address clients reach this server on, e.g. a port published by Docker.
    #[arg(long, value_name = "URL", requires = "write_kubeconfig")]
    advertise: Option<String>,
}

/// The CRD files of `--crd`: files as given, directories as their YAML files in name order.
fn crd_files(paths: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path);
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(&path)
            .with_context(|| format!("read CRD directory {}", path.display()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("read CRD directory {}", path.display()))?;
        found.retain(|f| f.is_file() && f.extension().is_some_and(|e| e == "yaml" || e == "yml"));
        anyhow::ensure!(
            !found.is_empty(),
            "CRD directory {} holds no .yaml or .yml file",
            path.display()
        );
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// Writes `contents` to `path` whole or not at all (a temporary file renamed over it),
/// readable by everyone: a kubeconfig without secrets.
fn write_atomically(path: &Path, contents: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config {
        crds: crd_files(args.crds)?,
        history: args.history,
        bookmark_interval: Duration::from_secs(args.bookmark_interval.max(1)),
        log_requests: args.log_requests,
        token_file: args.token_file,
        namespaces: args.namespaces,
    };
    let shared = Arc::new(Shared::new(&config)?);
    let listener = TcpListener::bind(args.listen)?;
    let local = listener.local_addr()?;
    eprintln!("kube-testserver listening on http://{local}");
    if let Some(path) = &args.write_kubeconfig {
        let server = args.advertise.unwrap_or_else(|| format!("http://{local}"));
        write_atomically(path, &kube_testserver::kubeconfig(&server))?;
        eprintln!("kube-testserver wrote {} (server {server})", path.display());
    }
    actix_web::rt::System::new()
        .block_on(async move { server(shared, listener)?.await.map_err(Into::into) })
}
