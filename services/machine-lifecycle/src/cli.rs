//! Command line of the machine-lifecycle. The metal-api URL and credentials are not flags: as
//! upstream, they come from each MachineClass's Secret (`metalAPIURL`, `metalAPIHMac` or
//! `metalAPIKey`). Every flag can also be given as `MACHINE_LIFECYCLE_<FLAG>`.
//!
//! The flags Gardener gives machine-controller-manager's provider sidecar are understood too
//! (`--control-kubeconfig`, `--target-kubeconfig`, `--namespace`, `--port`,
//! `--machine-creation-timeout`, `--machine-health-timeout`, `--v`, ...), so the image can
//! replace machine-controller-manager-provider-metal's in that pod unchanged.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mesh_runtime::{RuntimeArgs, parse_duration};

use crate::core::retry::RetryPeriods;

pub const ENV_PREFIX: &str = "MACHINE_LIFECYCLE";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "machine-lifecycle",
    version,
    about = "Machines for Gardener's machine-controller-manager on metal-stack (replaces machine-controller-manager-provider-metal)"
)]
pub struct Args {
    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// Kubeconfig of the cluster holding Machines, MachineClasses and their Secrets (the seed);
    /// without it KUBECONFIG, ~/.kube/config or the in-cluster config is used
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// MCM's name for --kubeconfig; `inClusterConfig` means the in-cluster config
    #[arg(
        long,
        value_name = "FILE|inClusterConfig",
        conflicts_with = "kubeconfig"
    )]
    pub control_kubeconfig: Option<String>,
    /// Kubeconfig of the cluster whose Nodes join for the machines (the shoot); default: the
    /// cluster of --kubeconfig. `inClusterConfig` (or empty): the in-cluster config; `none`: no
    /// target cluster yet (a self-hosted shoot being bootstrapped), Machines stay Pending
    #[arg(long, value_name = "FILE|inClusterConfig|none")]
    pub target_kubeconfig: Option<String>,
    /// Namespace of the Machines and MachineClasses
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Serve the machine_lifecycle.v1.Driver gRPC service on this unix socket
    #[arg(long)]
    pub grpc_socket: Option<PathBuf>,
    /// Run without Kubernetes: the driver over REST and gRPC only, no Machine controller
    #[arg(long)]
    pub no_kubernetes: bool,
    /// Also scale MachineDeployments and MachineSets of --namespace into Machines, as
    /// machine-controller-manager does (for running without MCM; never beside one)
    #[arg(long)]
    pub machine_deployments: bool,
    /// Machines reconciled at once
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// After this long without a Running machine, a Machine whose creation keeps failing is
    /// Failed instead of CrashLoopBackOff, and one whose Node does not join is Failed
    #[arg(long, alias = "machine-creation-timeout", default_value = "20m", value_parser = parse_duration)]
    pub creation_timeout: Duration,
    /// A Running Machine whose Node stays not Ready (phase Unknown) this long is Failed, for
    /// its MachineSet to replace (MCM's flag)
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub machine_health_timeout: Duration,
    /// MCM's metrics and health port: listen on 0.0.0.0:PORT instead of --listen
    #[arg(long)]
    pub port: Option<u16>,
    /// MCM's klog verbosity: 4 and above log at debug level
    #[arg(long)]
    pub v: Option<u8>,
    /// Accepted as MCM's sidecar gets them; draining, API rate limits and the safety
    /// controller are machine-controller-manager's, not the provider's
    #[arg(long = "machine-drain-timeout", hide = true)]
    pub machine_drain_timeout: Option<String>,
    #[arg(long = "kube-api-qps", hide = true)]
    pub kube_api_qps: Option<String>,
    #[arg(long = "kube-api-burst", hide = true)]
    pub kube_api_burst: Option<String>,
    #[arg(long = "machine-safety-apiserver-statuscheck-timeout", hide = true)]
    pub machine_safety_apiserver_statuscheck_timeout: Option<String>,
    #[arg(long = "machine-safety-apiserver-statuscheck-period", hide = true)]
    pub machine_safety_apiserver_statuscheck_period: Option<String>,
    #[arg(long = "machine-safety-orphan-vms-period", hide = true)]
    pub machine_safety_orphan_vms_period: Option<String>,
    /// Retry after Unavailable (metal-api down) and other transient errors
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub retry_short: Duration,
    /// Retry after errors that need a change elsewhere (invalid class, Internal)
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    pub retry_medium: Duration,
    /// Retry after ResourceExhausted (no free machine); a machine freed by this controller
    /// retries the waiting Machines at once
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub retry_long: Duration,
    /// Per-request timeout of metal-api calls
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub metal_api_timeout: Duration,
    /// PEM CA bundle trusted for metal-api's certificate instead of the system roots
    #[arg(long, env = "METAL_API_CA_FILE")]
    pub metal_api_ca_file: Option<PathBuf>,
    /// Run the Machine controller only while holding a Lease (for more than one replica); the
    /// REST and gRPC driver are served either way
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease; default: --namespace
    #[arg(long)]
    pub leader_elect_namespace: Option<String>,
    /// Name of the leader-election Lease
    #[arg(long, default_value = "machine-lifecycle")]
    pub leader_elect_lease_name: String,
    /// How long a silent leader keeps the Lease
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub leader_elect_lease_duration: Duration,
    /// This replica's identity in the Lease; default: the pod name (POD_NAME), else the hostname
    #[arg(long, env = "POD_NAME")]
    pub leader_elect_identity: Option<String>,
}

/// Where a cluster's client comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeSource {
    /// `--kubeconfig` / `--control-kubeconfig FILE`, or neither: KUBECONFIG, ~/.kube/config,
    /// in-cluster.
    Default(Option<PathBuf>),
    /// `inClusterConfig`.
    InCluster,
}

/// Where the Nodes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The cluster of the Machines.
    Same,
    Cluster(KubeSource),
    /// `none`: not reachable yet.
    None,
}

impl Args {
    /// The cluster of the Machines.
    pub fn control(&self) -> KubeSource {
        match self.control_kubeconfig.as_deref() {
            Some("inClusterConfig") => KubeSource::InCluster,
            Some(path) => KubeSource::Default(Some(PathBuf::from(path))),
            None => KubeSource::Default(self.kubeconfig.clone()),
        }
    }

    /// The cluster of the Nodes.
    pub fn target(&self) -> Target {
        match self.target_kubeconfig.as_deref() {
            None => Target::Same,
            Some("none") => Target::None,
            Some("" | "inClusterConfig") => Target::Cluster(KubeSource::InCluster),
            Some(path) => Target::Cluster(KubeSource::Default(Some(PathBuf::from(path)))),
        }
    }

    /// The runtime flags with MCM's `--port` and `--v` applied.
    pub fn runtime(&self) -> mesh_runtime::RuntimeArgs {
        let mut runtime = self.runtime.clone();
        if let Some(port) = self.port {
            runtime.listen = std::net::SocketAddr::from(([0, 0, 0, 0], port));
        }
        if self.v.is_some_and(|v| v >= 4) && runtime.log_level == "info" {
            runtime.log_level = "debug".into();
        }
        runtime
    }

    /// Checks what clap cannot: names and periods that must make sense together.
    pub fn check(&self) -> Result<(), String> {
        if self.namespace.trim().is_empty() {
            return Err("--namespace must not be empty".into());
        }
        if self.machine_deployments && self.no_kubernetes {
            return Err("--machine-deployments needs Kubernetes: drop --no-kubernetes".into());
        }
        if self.leader_elect_lease_duration < Duration::from_secs(1) {
            return Err("--leader-elect-lease-duration must be at least 1s".into());
        }
        for (flag, value) in [
            ("--retry-short", self.retry_short),
            ("--retry-medium", self.retry_medium),
            ("--retry-long", self.retry_long),
            ("--metal-api-timeout", self.metal_api_timeout),
            ("--machine-health-timeout", self.machine_health_timeout),
        ] {
            if value.is_zero() {
                return Err(format!("{flag} must be more than 0"));
            }
        }
        if let Some(socket) = &self.grpc_socket
            && !socket.is_absolute()
        {
            return Err(format!(
                "--grpc-socket {}: expected an absolute path",
                socket.display()
            ));
        }
        Ok(())
    }

    pub fn retry(&self) -> RetryPeriods {
        RetryPeriods {
            short: self.retry_short,
            medium: self.retry_medium,
            long: self.retry_long,
        }
    }

    pub fn identity(&self) -> String {
        self.leader_elect_identity
            .clone()
            .filter(|i| !i.trim().is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("machine-lifecycle-{}", std::process::id()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        let all = std::iter::once("machine-lifecycle").chain(args.iter().copied());
        let args: Args =
            mesh_runtime::try_parse_args_from(ENV_PREFIX, all).map_err(|e| e.to_string())?;
        args.check().map(|()| args)
    }

    #[test]
    fn the_issue_command_line_parses() {
        let args = parse(&[
            "--listen",
            "127.0.0.1:9000",
            "--kubeconfig",
            "/k",
            "--namespace",
            "shoot--a--b",
            "--grpc-socket",
            "/run/ml.sock",
        ])
        .unwrap();
        assert_eq!(args.namespace, "shoot--a--b");
        assert_eq!(args.retry().long, Duration::from_secs(600));
        assert_eq!(args.grpc_socket.unwrap(), PathBuf::from("/run/ml.sock"));
        assert!(!args.machine_deployments, "off unless asked for");
    }

    /// A switch (MACHINE_LIFECYCLE_MACHINE_DEPLOYMENTS=true through the shared env fallback),
    /// meaningless without Kubernetes.
    #[test]
    fn machine_deployments_is_a_switch_that_needs_kubernetes() {
        assert!(
            parse(&["--machine-deployments"])
                .unwrap()
                .machine_deployments
        );
        let e = parse(&["--machine-deployments", "--no-kubernetes"]).unwrap_err();
        assert!(e.contains("--machine-deployments"), "{e}");
    }

    /// The arguments gardener-webhooks' controlplane webhook gives the provider sidecar, as
    /// Gardener's standard sidecar has them.
    #[test]
    fn the_provider_sidecar_arguments_of_gardener_parse() {
        let args = parse(&[
            "--control-kubeconfig=inClusterConfig",
            "--kube-api-qps=100",
            "--kube-api-burst=200",
            "--machine-creation-timeout=20m",
            "--machine-drain-timeout=2h",
            "--machine-health-timeout=10080m",
            "--machine-safety-apiserver-statuscheck-timeout=30s",
            "--machine-safety-apiserver-statuscheck-period=1m",
            "--machine-safety-orphan-vms-period=30m",
            "--namespace=shoot--p--c",
            "--port=10259",
            "--target-kubeconfig=/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/kubeconfig",
            "--v=3",
        ])
        .unwrap();
        assert_eq!(args.control(), KubeSource::InCluster);
        assert_eq!(
            args.target(),
            Target::Cluster(KubeSource::Default(Some(PathBuf::from(
                "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/kubeconfig"
            ))))
        );
        assert_eq!(args.creation_timeout, Duration::from_secs(1200));
        assert_eq!(args.machine_health_timeout, Duration::from_secs(10080 * 60));
        assert_eq!(args.runtime().listen.to_string(), "0.0.0.0:10259");
        assert_eq!(args.runtime().log_level, "info");
        let verbose = parse(&["--v=4", "--target-kubeconfig=none"]).unwrap();
        assert_eq!(verbose.runtime().log_level, "debug");
        assert_eq!(verbose.target(), Target::None);
        assert_eq!(
            parse(&["--target-kubeconfig="]).unwrap().target(),
            Target::Cluster(KubeSource::InCluster)
        );
        assert_eq!(parse(&[]).unwrap().target(), Target::Same);
        assert!(parse(&["--kubeconfig", "/a", "--control-kubeconfig", "/b"]).is_err());
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        let e = parse(&["--grpc-socket", "rel.sock"]).unwrap_err();
        assert!(e.contains("--grpc-socket"), "{e}");
        let e = parse(&["--retry-short", "0s"]).unwrap_err();
        assert!(e.contains("--retry-short"), "{e}");
        let e = parse(&["--namespace", " "]).unwrap_err();
        assert!(e.contains("--namespace"), "{e}");
        assert!(parse(&["--workers", "0"]).is_err());
    }
}
