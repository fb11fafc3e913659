//! Command line of the lb-allocator. metal-ccm is configured through environment variables only;
//! those keep their upstream names (`METAL_API_URL`, `METAL_AUTH_HMAC`, `LOADBALANCER`, ...).
//! Flags of our own also read `LB_ALLOCATOR_<FLAG>`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use mesh_runtime::RuntimeArgs;
use metal_api_sdk::auth::HmacKind;
use metal_api_sdk::client::Auth;

use crate::core::config::{Config, LoadBalancerKind};

pub const ENV_PREFIX: &str = "LB_ALLOCATOR";

#[derive(Parser, Debug, Clone)]
#[command(
    name = "lb-allocator",
    version,
    about = "LoadBalancer IPs from metal-api, MetalLB configuration and node metadata (replaces metal-ccm)"
)]
pub struct Args {
    #[command(flatten)]
    pub runtime: RuntimeArgs,

    /// metal-api base URL including its base path, e.g. https://api.example.com/metal
    #[arg(long, env = "METAL_API_URL")]
    pub metal_api_url: String,
    /// PEM CA bundle trusted for metal-api's certificate instead of the system roots
    #[arg(long, env = "METAL_API_CA_FILE")]
    pub metal_api_ca_file: Option<std::path::PathBuf>,
    /// HMAC key for metal-api (exclusive with --metal-auth-token)
    #[arg(long, env = "METAL_AUTH_HMAC", hide_env_values = true)]
    pub metal_auth_hmac: Option<String>,
    /// Bearer token for metal-api (exclusive with --metal-auth-hmac)
    #[arg(long, env = "METAL_AUTH_TOKEN", hide_env_values = true)]
    pub metal_auth_token: Option<String>,
    /// HMAC scheme: Metal-Admin, Metal-Edit or Metal-View
    #[arg(long, env = "METAL_AUTH_HMAC_AUTH_TYPE", default_value = "Metal-Admin")]
    pub metal_auth_hmac_auth_type: String,
    /// Project that owns the cluster's machines and IPs
    #[arg(long, env = "METAL_PROJECT_ID")]
    pub metal_project_id: String,
    /// Partition of the cluster
    #[arg(long, env = "METAL_PARTITION_ID")]
    pub metal_partition_id: String,
    /// Cluster ID (Gardener passes the Shoot UID); part of every tag written
    #[arg(long, env = "METAL_CLUSTER_ID")]
    pub metal_cluster_id: String,
    /// Network for automatic IP allocation and ExternalIP node addresses; empty: an isolated
    /// cluster, where Services must name a pre-allocated IP
    #[arg(long, env = "METAL_DEFAULT_EXTERNAL_NETWORK_ID", default_value = "")]
    pub metal_default_external_network_id: String,
    /// Comma-separated networks whose IPs may be announced (plus the default external network)
    #[arg(long, env = "METAL_ADDITIONAL_NETWORKS", default_value = "")]
    pub metal_additional_networks: String,
    /// SSH public key added to every node's machine
    #[arg(long, env = "METAL_SSH_PUBLICKEY", default_value = "")]
    pub metal_ssh_publickey: String,
    /// What announces the IPs: metallb (empty means metallb) or cilium
    #[arg(long, env = "LOADBALANCER", default_value = "")]
    pub loadbalancer: String,

    /// Namespace of the MetalLB objects
    #[arg(long, default_value = "metallb-system")]
    pub metallb_namespace: String,
    /// Kubeconfig file; without it KUBECONFIG, ~/.kube/config or the in-cluster config is used
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Run without Kubernetes: only the REST API (allocations, desired MetalLB state, node
    /// metadata), as in docker compose
    #[arg(long)]
    pub no_kubernetes: bool,
    /// Run the controllers only while holding a Lease (for more than one replica)
    #[arg(long)]
    pub leader_elect: bool,
    /// Namespace of the leader-election Lease; default: the pod's namespace, else kube-system
    #[arg(long, env = "POD_NAMESPACE")]
    pub leader_elect_namespace: Option<String>,
    /// Name of the leader-election Lease
    #[arg(long, default_value = "lb-allocator")]
    pub leader_elect_lease_name: String,
    /// How long a silent leader keeps the Lease
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub leader_elect_lease_duration: Duration,
    /// This replica's identity in the Lease; default: the pod name (POD_NAME), else the hostname
    #[arg(long, env = "POD_NAME")]
    pub leader_elect_identity: Option<String>,

    /// How often every Service, Node and the load-balancer configuration is re-checked
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub sync_interval: Duration,
    /// How often the SSH key is pushed to the nodes' machines
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub ssh_key_interval: Duration,
    /// How long machine lookups are cached (errors never are)
    #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
    pub machine_cache_ttl: Duration,
    /// Exit after this many consecutive failed metal-api health checks, one a minute (as
    /// metal-ccm, which exits after 60); 0 never exits
    #[arg(long, default_value_t = 60)]
    pub health_watchdog_failures: u32,
    /// Delete a NotReady Node whose machine was freed or is gone (what a cloud provider's node
    /// lifecycle controller does); false only reports it
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub delete_gone_nodes: bool,
}

impl Args {
    /// The validated configuration, or a message naming the offending setting.
    pub fn config(&self) -> Result<Config, String> {
        let loadbalancer = LoadBalancerKind::parse(&self.loadbalancer)?;
        let networks: Vec<String> = self
            .metal_additional_networks
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        for (name, value) in [
            ("METAL_API_URL", &self.metal_api_url),
            ("METAL_PROJECT_ID", &self.metal_project_id),
            ("METAL_PARTITION_ID", &self.metal_partition_id),
            ("METAL_CLUSTER_ID", &self.metal_cluster_id),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{name} must not be empty"));
            }
        }
        let default_network = Some(self.metal_default_external_network_id.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        Ok(Config {
            project: self.metal_project_id.clone(),
            partition: self.metal_partition_id.clone(),
            cluster: self.metal_cluster_id.clone(),
            default_network,
            additional_networks: networks,
            ssh_public_key: Some(self.metal_ssh_publickey.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            loadbalancer,
            metallb_namespace: self.metallb_namespace.clone(),
        })
    }

    /// metal-api authentication: exactly one of the HMAC key and the token, as metal-ccm demands.
    pub fn auth(&self) -> Result<Auth, String> {
        let hmac = self.metal_auth_hmac.as_deref().filter(|s| !s.is_empty());
        let token = self.metal_auth_token.as_deref().filter(|s| !s.is_empty());
        match (hmac, token) {
            (Some(key), None) => {
                let kind = match self.metal_auth_hmac_auth_type.as_str() {
                    "Metal-Admin" => HmacKind::Admin,
                    "Metal-Edit" => HmacKind::Edit,
                    "Metal-View" => HmacKind::View,
                    other => {
                        return Err(format!(
                            "METAL_AUTH_HMAC_AUTH_TYPE {other:?} is not one of Metal-Admin, Metal-Edit, Metal-View"
                        ));
                    }
                };
                Ok(Auth::Hmac {
                    kind,
                    key: key.to_string(),
                })
            }
            (None, Some(token)) => Ok(Auth::Bearer(token.to_string())),
            _ => Err("exactly one of METAL_AUTH_HMAC and METAL_AUTH_TOKEN must be set".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let base = [
            "lb-allocator",
            "--metal-api-url",
            "http://metal",
            "--metal-project-id",
            "p",
            "--metal-partition-id",
            "fra-equ01",
            "--metal-cluster-id",
            "c",
        ];
        mesh_runtime::try_parse_args_from(
            "LB_ALLOCATOR_CLI_TEST",
            base.iter().chain(args.iter()).copied(),
        )
    }

    #[test]
    fn exactly_one_credential() {
        let none = parse(&[]).unwrap();
        assert!(none.auth().unwrap_err().contains("exactly one"));
        let both = parse(&["--metal-auth-hmac", "k", "--metal-auth-token", "t"]).unwrap();
        assert!(both.auth().is_err());
        let hmac = parse(&["--metal-auth-hmac", "k"]).unwrap();
        assert!(matches!(
            hmac.auth().unwrap(),
            Auth::Hmac {
                kind: HmacKind::Admin,
                ..
            }
        ));
        let edit = parse(&[
            "--metal-auth-hmac",
            "k",
            "--metal-auth-hmac-auth-type",
            "Metal-Edit",
        ])
        .unwrap();
        assert!(matches!(
            edit.auth().unwrap(),
            Auth::Hmac {
                kind: HmacKind::Edit,
                ..
            }
        ));
        let bad = parse(&[
            "--metal-auth-hmac",
            "k",
            "--metal-auth-hmac-auth-type",
            "Metal-Root",
        ])
        .unwrap();
        assert!(bad.auth().unwrap_err().contains("Metal-Root"));
        let token = parse(&["--metal-auth-token", "t"]).unwrap();
        assert!(matches!(token.auth().unwrap(), Auth::Bearer(t) if t == "t"));
    }

    #[test]
    fn networks_are_trimmed_and_empties_dropped() {
        let args = parse(&[
            "--metal-additional-networks",
            " internet, ,dmz ,",
            "--metal-default-external-network-id",
            "internet",
        ])
        .unwrap();
        let config = args.config().unwrap();
        assert_eq!(config.additional_networks, ["internet", "dmz"]);
        assert_eq!(config.default_network.as_deref(), Some("internet"));
        assert_eq!(config.loadbalancer, LoadBalancerKind::Metallb);
        assert!(config.ssh_public_key.is_none());
    }

    #[test]
    fn loadbalancer_kind_is_checked() {
        let cilium = parse(&["--loadbalancer", "cilium"]).unwrap();
        assert_eq!(
            cilium.config().unwrap().loadbalancer,
            LoadBalancerKind::Cilium
        );
        let other = parse(&["--loadbalancer", "haproxy"]).unwrap();
        assert!(other.config().unwrap_err().contains("haproxy"));
        let mut empty_cluster = parse(&[]).unwrap();
        empty_cluster.metal_cluster_id = " ".into();
        assert!(
            empty_cluster
                .config()
                .unwrap_err()
                .contains("METAL_CLUSTER_ID")
        );
    }
}
