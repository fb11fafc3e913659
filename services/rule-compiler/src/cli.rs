//! Command line of the rule-compiler. firewall-controller's flags keep their names
//! (`--firewall-name`, `--enable-IDS` as `--enable-ids`, `--hosts-file` is not needed); every
//! long flag can also be given as `RULE_COMPILER_<FLAG>`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mesh_runtime::RuntimeArgs;

pub const ENV_PREFIX: &str = "RULE_COMPILER";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "rule-compiler",
    version,
    about = "Network-policy CRDs and Services to nftables, applied safely, with metrics (replaces firewall-controller)"
)]
pub struct Args {
    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// Render and validate rulesets but never touch the kernel (also `spec.dryRun` of the
    /// Firewall)
    #[arg(long)]
    pub dry_run: bool,
    /// Kubeconfig of the shoot cluster (CWNPs, Services, FirewallMonitor); without it and
    /// without KUBECONFIG the service runs without Kubernetes (REST only)
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig of the seed cluster holding the Firewall object; default: the shoot's, or
    /// `/etc/firewall-controller/.seed-kubeconfig` when that file exists (as upstream)
    #[arg(long)]
    pub seed_kubeconfig: Option<PathBuf>,
    /// Namespace of the Firewall in the seed; default: the seed kubeconfig's context namespace
    #[arg(long)]
    pub seed_namespace: Option<String>,
    /// Name of this firewall (the Firewall and FirewallMonitor objects); default: the hostname
    #[arg(long)]
    pub firewall_name: Option<String>,
    /// A Firewall (`firewall.metal-stack.io/v2`, YAML or JSON) read from a file instead of the
    /// seed: for a firewall without a seed connection, compose and tests
    #[arg(long)]
    pub firewall_file: Option<PathBuf>,
    /// Namespace whose ClusterwideNetworkPolicies are compiled (upstream: always `firewall`)
    #[arg(long, default_value = "firewall")]
    pub policy_namespace: String,
    /// The nft program
    #[arg(long, default_value = "nft")]
    pub nft: PathBuf,
    /// Ruleset file written after every successful apply (what upstream loads at boot through
    /// /etc/nftables.conf); empty: none written
    #[arg(long, default_value = "")]
    pub rule_file: String,
    /// First retry delay after a failed apply; doubles up to --apply-backoff-max
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub apply_backoff: Duration,
    /// Longest delay between retries of a failed apply
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub apply_backoff_max: Duration,
    /// Reconcile period when the Firewall gives no `spec.interval`
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// Address of the DNS proxy for FQDN egress rules (UDP and TCP); upstream binds the
    /// firewall's default-route IP on port 53. Empty: no proxy, FQDN rules match nothing.
    #[arg(long, default_value = "")]
    pub dns_listen: String,
    /// Upstream resolver of the DNS proxy; default: the Firewall's `spec.dnsServerAddress` and
    /// `spec.dnsPort`, else 8.8.8.8:53
    #[arg(long)]
    pub dns_upstream: Option<SocketAddr>,

    /// Collect Suricata interface statistics into the FirewallMonitor (upstream `--enable-IDS`)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub enable_ids: bool,
    /// Suricata's unix command socket
    #[arg(long, default_value = "/run/suricata-command.socket")]
    pub suricata_socket: PathBuf,
    /// Interface Suricata watches in IDS mode; with --suricata-config a suricata.yaml for it is
    /// generated at start
    #[arg(long)]
    pub suricata_interface: Option<String>,
    /// Where to write the generated suricata.yaml (needs --suricata-interface)
    #[arg(long)]
    pub suricata_config: Option<PathBuf>,
    /// How often the FirewallMonitor's controllerStatus is written
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub monitor_interval: Duration,
}
