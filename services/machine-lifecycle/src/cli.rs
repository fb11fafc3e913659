//! Command line of the machine-lifecycle. The metal-api URL and credentials are not flags: as
//! upstream, they come from each MachineClass's Secret (`metalAPIURL`, `metalAPIHMac` or
//! `metalAPIKey`). Every flag can also be given as `MACHINE_LIFECYCLE_<FLAG>`.

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
    /// Kubeconfig of the cluster whose Nodes join for the machines (the shoot); default: the
    /// cluster of --kubeconfig
    #[arg(long)]
    pub target_kubeconfig: Option<PathBuf>,
    /// Namespace of the Machines and MachineClasses
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Serve the machine_lifecycle.v1.Driver gRPC service on this unix socket
    #[arg(long)]
    pub grpc_socket: Option<PathBuf>,
    /// Run without Kubernetes: the driver over REST and gRPC only, no Machine controller
    #[arg(long)]
    pub no_kubernetes: bool,
    /// Machines reconciled at once
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub workers: u16,
    /// After this long without a Running machine, a Machine whose creation keeps failing is
    /// Failed instead of CrashLoopBackOff (MCM's --machine-creation-timeout)
    #[arg(long, default_value = "20m", value_parser = parse_duration)]
    pub creation_timeout: Duration,
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

impl Args {
    /// Checks what clap cannot: names and periods that must make sense together.
    pub fn check(&self) -> Result<(), String> {
        if self.namespace.trim().is_empty() {
            return Err("--namespace must not be empty".into());
        }
        if self.leader_elect_lease_duration < Duration::from_secs(1) {
            return Err("--leader-elect-lease-duration must be at least 1s".into());
        }
        for (flag, value) in [
            ("--retry-short", self.retry_short),
            ("--retry-medium", self.retry_medium),
            ("--retry-long", self.retry_long),
            ("--metal-api-timeout", self.metal_api_timeout),
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
