//! rule-compiler: ClusterwideNetworkPolicies and Services to one nftables ruleset, applied
//! safely, with metrics; replaces firewall-controller.
//!
//! Two actors own the state: the ruleset actor (the kernel's table; every apply goes through
//! it) and the reconciler (the inputs and what was reported). Watches, the REST API and the
//! monitor are thin edges around them; the compiler in [`core`] is pure.

pub mod actors;
pub mod api;
pub mod cli;
pub mod core;
pub mod dns;
pub mod k8s;
pub mod metrics;
pub mod netns;
pub mod nft;
pub mod suricata;

use std::path::PathBuf;
use std::sync::Arc;

use actix_web::web;
use anyhow::Context as _;
use futures::FutureExt as _;
use kube_resources::firewall::Firewall;
use mesh_runtime::{ReadinessCheck, ServiceInfo, ServiceParts, Setup};
use parking_lot::RwLock;
use utoipa::OpenApi;

use crate::actors::reconciler::{self, Inputs, LastCompile, Reconciler};
use crate::actors::ruleset::{self, ApplyState, RulesetActor};
pub use crate::cli::Args;
use crate::metrics::Metrics;
use crate::nft::Nft;

pub const INFO: ServiceInfo = ServiceInfo {
    name: "rule-compiler",
    version: env!("CARGO_PKG_VERSION"),
};

/// Where upstream's firewall-controller finds the seed's kubeconfig.
const UPSTREAM_SEED_KUBECONFIG: &str = "/etc/firewall-controller/.seed-kubeconfig";

/// The rule-compiler OpenAPI document (also committed as `openapi/rule-compiler.json`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = api::ApiDoc::openapi();
    mesh_runtime::auth::document(&mut doc);
    doc
}

/// What the chart's `metal-mesh:rule-compiler:viewer` and `…:editor` ClusterRoles grant.
/// Compiling takes its input in a POST body but changes nothing, so viewers may.
pub fn access() -> mesh_runtime::auth::Access {
    mesh_runtime::auth::Access::from_openapi(&api::ApiDoc::openapi())
        .reading("create", "/v1/compile")
}

/// Reads a Firewall object from a YAML or JSON file.
pub fn read_firewall(path: &std::path::Path) -> anyhow::Result<Firewall> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_saphyr::from_str(&text).with_context(|| format!("{} is not a Firewall", path.display()))
}

fn firewall_name(args: &Args) -> String {
    args.firewall_name.clone().unwrap_or_else(|| {
        std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "firewall".into())
    })
}

/// Starts the actors, the watches and the monitor; returns the REST routes.
pub async fn start(args: Args, setup: Setup) -> anyhow::Result<ServiceParts> {
    let metrics = setup.registry.with(Metrics::new);
    let apply_state = Arc::new(RwLock::new(ApplyState::default()));
    let last = Arc::new(RwLock::new(LastCompile::default()));
    let inputs = Arc::new(RwLock::new(Inputs::default()));
    let nft = Nft::new(&args.nft);
    let name = firewall_name(&args);

    if let (Some(interface), Some(path)) = (&args.suricata_interface, &args.suricata_config) {
        std::fs::write(path, suricata::config(interface, &args.suricata_socket))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.firewall_file {
        inputs.write().firewall = Some(read_firewall(path)?);
    }

    let shoot = match &args.kubeconfig {
        Some(path) => Some(
            mesh_controller::client::client(Some(path))
                .await
                .context("shoot cluster")?,
        ),
        None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => Some(
            mesh_controller::client::client(None)
                .await
                .context("in-cluster config")?,
        ),
        None => None,
    };

    let dns = match &args.dns_listen {
        listen if listen.is_empty() => None,
        listen => Some(
            dns::DnsBridge::start(
                listen,
                args.dns_upstream,
                inputs.clone(),
                Nft::new(&args.nft),
                shoot.clone().map(|c| (c, args.policy_namespace.clone())),
                &metrics,
            )
            .await?,
        ),
    };

    let rule_file = Some(PathBuf::from(&args.rule_file)).filter(|p| !p.as_os_str().is_empty());
    let ruleset = mesh_runtime::supervise(ruleset::NAME, &setup.actors, {
        let (nft, metrics, state, backoff) = (
            nft.clone(),
            metrics.clone(),
            apply_state.clone(),
            (args.apply_backoff, args.apply_backoff_max),
        );
        let dry_run = args.dry_run;
        move |_| RulesetActor::new(nft, dry_run, rule_file, backoff, metrics, state)
    });
    let report: Option<Arc<dyn reconciler::Report>> = shoot.clone().map(|client| {
        Arc::new(k8s::report::KubeReport::new(client)) as Arc<dyn reconciler::Report>
    });
    let reconciler = mesh_runtime::supervise(reconciler::NAME, &setup.actors, {
        let (inputs, ruleset, last, metrics) = (
            inputs.clone(),
            ruleset.addr().clone(),
            last.clone(),
            metrics.clone(),
        );
        let dns = dns.clone().map(|d| d as Arc<dyn reconciler::Dns>);
        let (namespace, interval) = (args.policy_namespace.clone(), args.interval);
        move |_| {
            Reconciler::new(
                inputs,
                ruleset,
                dns,
                report,
                dns::set_name,
                namespace,
                interval,
                last,
                metrics,
            )
        }
    });

    if let Some(client) = &shoot {
        k8s::watch_shoot(client.clone(), inputs.clone(), reconciler.addr().clone());
        if args.firewall_file.is_none() {
            let seed_path = args.seed_kubeconfig.clone().or_else(|| {
                let upstream = PathBuf::from(UPSTREAM_SEED_KUBECONFIG);
                upstream.exists().then_some(upstream)
            });
            let seed_config = mesh_controller::client::config(
                seed_path.as_deref().or(args.kubeconfig.as_deref()),
            )
            .await
            .context("seed cluster")?;
            let namespace = args
                .seed_namespace
                .clone()
                .unwrap_or_else(|| seed_config.default_namespace.clone());
            let seed = kube::Client::try_from(seed_config).context("seed client")?;
            k8s::watch_firewall(
                seed,
                &namespace,
                &name,
                inputs.clone(),
                reconciler.addr().clone(),
            );
        }
    } else if args.firewall_file.is_none() {
        tracing::warn!(
            "neither Kubernetes nor --firewall-file: nothing to compile until one is given"
        );
    }

    k8s::monitor::Monitor {
        nft: nft.clone(),
        metrics: metrics.clone(),
        apply: apply_state.clone(),
        target: shoot
            .clone()
            .map(|c| (c, args.policy_namespace.clone(), name.clone())),
        suricata_socket: args.enable_ids.then(|| args.suricata_socket.clone()),
        every: args.monitor_interval,
    }
    .spawn();

    let state = web::Data::new(api::State {
        apply: apply_state.clone(),
        last: last.clone(),
        set_name: dns::set_name,
        policy_namespace: args.policy_namespace.clone(),
        firewall_name: name,
    });
    let mut parts = ServiceParts::new(openapi(), move |cfg| {
        cfg.app_data(state.clone()).configure(api::routes);
    });
    parts.readiness = vec![Arc::new(RulesetReady {
        apply: apply_state,
        last,
    })];
    // Callers are reviewed by the shoot's API server (on a firewall, the only one it has).
    if let Some(client) = shoot {
        parts = parts.with_kube(client);
    }
    Ok(parts)
}

/// Ready once a ruleset compiled from a Firewall is in the kernel (or checked, in dry-run).
struct RulesetReady {
    apply: Arc<RwLock<ApplyState>>,
    last: Arc<RwLock<LastCompile>>,
}

impl ReadinessCheck for RulesetReady {
    fn name(&self) -> &str {
        "ruleset"
    }

    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        let result = {
            let apply = self.apply.read();
            let last = self.last.read();
            if let Some(e) = &last.error {
                Err(e.clone())
            } else if apply.applied.is_none() {
                Err(apply
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "no ruleset applied yet".into()))
            } else {
                Ok(())
            }
        };
        async move { result }.boxed()
    }
}
