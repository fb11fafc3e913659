//! What the ControlPlane's objects are configured with (upstream's values provider): the
//! lb-allocator settings (project, cluster, partition, networks, SSH key, credential), the
//! default external network it allocates from, and what the network access type lets out of
//! the cluster (DNS, NTP, registry mirrors).

use std::collections::BTreeMap;
use std::net::IpAddr;

use metal_api_sdk::model::NetworkResponse;
use serde_json::Value;

use crate::core::extensions::operation::ExtError;
use crate::core::extensions::shoot::Shoot;
use crate::core::field::Path;
use crate::core::provider_config::{
    ControlPlaneConfig, NetworkAccessType, Partition, RegistryMirror as ProfileMirror, decode,
};

/// metal-lib's label of networks lb-allocator may take IPs from by default.
pub const LABEL_DEFAULT_EXTERNAL: &str = "network.metal-stack.io/default-external";
/// metal-lib's label of the partition's default network (the internet).
pub const LABEL_DEFAULT: &str = "network.metal-stack.io/default";
/// What a baseline cluster may reach for DNS and NTP.
const ANY_IPV4: &str = "0.0.0.0/0";

/// What announces the load-balancer IPs in the shoot: MetalLB, or Cilium's BGP control plane
/// when Cilium is the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadBalancer {
    Metallb,
    Cilium,
}

impl LoadBalancer {
    pub fn of(shoot: &Shoot) -> Self {
        if shoot.networking_type.as_deref() == Some("cilium") {
            LoadBalancer::Cilium
        } else {
            LoadBalancer::Metallb
        }
    }

    /// lb-allocator's `--loadbalancer` value.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadBalancer::Metallb => "metallb",
            LoadBalancer::Cilium => "cilium",
        }
    }
}

/// Where lb-allocator's metal-api credential comes from: a key of the shoot's cloudprovider
/// Secret, referenced (never copied) by the Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub secret: String,
    pub key: String,
}

impl Credential {
    pub const HMAC: &'static str = "metalAPIHMac";
    pub const TOKEN: &'static str = "metalAPIKey";

    /// The key of `data` (the Secret `secret`) holding the credential; exactly one of them must.
    pub fn of(secret: &str, data: &BTreeMap<String, String>) -> Result<Self, ExtError> {
        let has = |key: &str| data.get(key).is_some_and(|v| !v.trim().is_empty());
        let key = match (has(Self::HMAC), has(Self::TOKEN)) {
            (true, false) => Self::HMAC,
            (false, true) => Self::TOKEN,
            _ => {
                return Err(ExtError::configuration(format!(
                    "secret {secret:?} must hold exactly one of {} and {}",
                    Self::HMAC,
                    Self::TOKEN
                )));
            }
        };
        Ok(Credential {
            secret: secret.to_owned(),
            key: key.to_owned(),
        })
    }

    pub fn is_hmac(&self) -> bool {
        self.key == Self::HMAC
    }
}

/// A registry mirror a restricted cluster may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    pub name: String,
    pub endpoint: String,
    /// The mirror's IP as a host CIDR.
    pub cidr: String,
    pub port: u32,
}

/// What the default ClusterwideNetworkPolicies let out of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAccess {
    /// `restricted` or `forbidden`: no HTTP(S) to anywhere, only the registry mirrors.
    pub restricted: bool,
    pub dns_cidrs: Vec<String>,
    pub ntp_cidrs: Vec<String>,
    pub registry_mirrors: Vec<Mirror>,
}

/// The csi-lvm StorageClass, unless `featureGates.disableCsiLvm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Storage {
    /// Whether `csi-lvm` is the default StorageClass.
    pub default_class: bool,
}

/// Everything the ManagedResources are rendered from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Values {
    /// The shoot's seed namespace.
    pub namespace: String,
    /// lb-allocator's replicas: none while hibernated.
    pub replicas: i32,
    pub project_id: String,
    /// The Shoot's UID, written into every metal-api tag.
    pub cluster_id: String,
    pub partition_id: String,
    /// The private network of the nodes (upstream hands it to metal-ccm; lb-allocator finds
    /// it through the machines, so it is not rendered).
    pub node_network_id: String,
    pub nodes_cidr: String,
    /// Empty: none (an isolated cluster, Services name their IPs).
    pub default_external_network: String,
    /// The firewall networks, comma-joined.
    pub additional_networks: String,
    pub ssh_public_key: Option<String>,
    pub metal_endpoint: String,
    pub credential: Credential,
    pub load_balancer: LoadBalancer,
    pub network_access: NetworkAccess,
    /// The shoot's kube-apiserver addresses (none while hibernated).
    pub apiserver_ips: Vec<String>,
    pub storage: Option<Storage>,
}

/// What the controller read for [`values`].
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub shoot: &'a Shoot,
    pub config: &'a ControlPlaneConfig,
    pub nodes_cidr: &'a str,
    pub node_network_id: &'a str,
    /// The firewall networks found in metal-api, with the parents of the labelled ones.
    pub networks: &'a [NetworkResponse],
    pub ssh_public_key: Option<&'a str>,
    pub credential: Credential,
    pub apiserver_ips: Vec<String>,
}

pub fn values(inputs: Inputs<'_>) -> Result<Values, ExtError> {
    let Inputs {
        shoot,
        config,
        nodes_cidr,
        node_network_id,
        networks,
        ssh_public_key,
        credential,
        apiserver_ips,
    } = inputs;
    let firewall_networks = &shoot.infrastructure.firewall.networks;
    let access = config
        .network_access_type
        .unwrap_or(NetworkAccessType::Baseline);
    Ok(Values {
        namespace: shoot.namespace.clone(),
        replicas: if shoot.hibernated { 0 } else { 1 },
        project_id: shoot.project_id().to_owned(),
        cluster_id: shoot.uid.clone(),
        partition_id: shoot.partition_id().to_owned(),
        node_network_id: node_network_id.to_owned(),
        nodes_cidr: nodes_cidr.to_owned(),
        default_external_network: default_external_network(networks, config, firewall_networks)?,
        additional_networks: firewall_networks.join(","),
        ssh_public_key: ssh_public_key
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
        metal_endpoint: shoot.endpoint().to_owned(),
        credential,
        load_balancer: LoadBalancer::of(shoot),
        network_access: network_access(access, &shoot.partition, shoot.partition_id())?,
        apiserver_ips: if shoot.hibernated {
            Vec::new()
        } else {
            apiserver_ips
        },
        storage: storage(config),
    })
}

/// The ControlPlane's `spec.providerConfig` (Gardener copies the Shoot's there), else the
/// Shoot's own.
pub fn control_plane_config(object: &Value, shoot: &Shoot) -> Result<ControlPlaneConfig, ExtError> {
    match object
        .pointer("/spec/providerConfig")
        .filter(|c| !c.is_null())
    {
        None => Ok(shoot.control_plane.clone()),
        Some(raw) => decode(raw, "ControlPlaneConfig", &Path::new("spec.providerConfig"))
            .map_err(|e| ExtError::configuration(e.to_string())),
    }
}

/// The network lb-allocator allocates Service IPs from by default. An explicit choice must be
/// a firewall network; a forbidden cluster gets none; otherwise the firewall networks labelled
/// default-external decide: one without parent (the one also labelled default first), else a
/// DMZ network (its parent is the private super network), else none.
pub fn default_external_network(
    networks: &[NetworkResponse],
    config: &ControlPlaneConfig,
    firewall_networks: &[String],
) -> Result<String, ExtError> {
    if let Some(explicit) = config
        .cloud_controller_manager
        .as_ref()
        .and_then(|c| c.default_external_network.as_ref())
    {
        if !firewall_networks.contains(explicit) {
            return Err(ExtError::configuration(
                "given default external network not contained in firewall networks",
            ));
        }
        return Ok(explicit.clone());
    }
    if config.network_access_type == Some(NetworkAccessType::Forbidden) {
        // Nothing leaves a forbidden cluster on its own: a default would never be reachable.
        return Ok(String::new());
    }
    let by_id: BTreeMap<&str, &NetworkResponse> =
        networks.iter().map(|n| (n.id.as_str(), n)).collect();
    let (mut external, mut dmz) = (Vec::new(), Vec::new());
    for id in firewall_networks {
        let network = by_id.get(id.as_str()).ok_or_else(|| {
            ExtError::configuration(
                "network defined in firewall networks does not exist in metal-api",
            )
        })?;
        if !network.labels.contains_key(LABEL_DEFAULT_EXTERNAL) {
            continue;
        }
        match network.parentnetworkid.as_deref().filter(|p| !p.is_empty()) {
            None => external.push(*network),
            Some(parent) => {
                let parent = by_id.get(parent).ok_or_else(|| {
                    ExtError::configuration(
                        "network defined in firewall networks specified a parent network that does not exist in metal-api",
                    )
                })?;
                if parent.privatesuper {
                    dmz.push(*network);
                }
            }
        }
    }
    // Among several candidates nothing tells them apart but their order in the firewall.
    let chosen = external
        .iter()
        .find(|n| n.labels.contains_key(LABEL_DEFAULT))
        .or(external.first())
        .or(dmz.first());
    Ok(chosen.map(|n| n.id.clone()).unwrap_or_default())
}

/// The destinations the default ClusterwideNetworkPolicies allow: anywhere for a baseline
/// cluster; the partition's DNS and NTP servers and registry mirrors otherwise.
pub fn network_access(
    access: NetworkAccessType,
    partition: &Partition,
    partition_id: &str,
) -> Result<NetworkAccess, ExtError> {
    if access == NetworkAccessType::Baseline {
        return Ok(NetworkAccess {
            restricted: false,
            dns_cidrs: vec![ANY_IPV4.to_owned()],
            ntp_cidrs: vec![ANY_IPV4.to_owned()],
            registry_mirrors: Vec::new(),
        });
    }
    let isolation = partition.network_isolation.as_ref().ok_or_else(|| {
        ExtError::configuration(format!(
            "cluster-isolation is not supported in partition {partition_id:?}"
        ))
    })?;
    let cidrs = |what: &str, ips: &[String]| -> Result<Vec<String>, ExtError> {
        let cidrs = ips
            .iter()
            .map(|ip| {
                host_cidr(ip).ok_or_else(|| {
                    ExtError::configuration(format!("unable to parse {what} ip: {ip:?}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if cidrs.is_empty() {
            return Err(ExtError::configuration(format!("no {what} configured")));
        }
        Ok(cidrs)
    };
    Ok(NetworkAccess {
        restricted: true,
        dns_cidrs: cidrs("dns", &isolation.dns_servers)?,
        ntp_cidrs: cidrs("ntp", &isolation.ntp_servers)?,
        registry_mirrors: isolation
            .registry_mirrors
            .iter()
            .map(mirror)
            .collect::<Result<_, _>>()?,
    })
}

fn mirror(mirror: &ProfileMirror) -> Result<Mirror, ExtError> {
    let cidr = host_cidr(&mirror.ip).ok_or_else(|| {
        ExtError::configuration(format!(
            "unable to parse registry ip {:?} of mirror {:?}",
            mirror.ip, mirror.name
        ))
    })?;
    Ok(Mirror {
        name: mirror.name.clone(),
        endpoint: mirror.endpoint.clone(),
        cidr,
        port: mirror.port,
    })
}

/// `ip` as the CIDR of that one host (`/32`, `/128`).
pub fn host_cidr(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(format!("{v4}/32")),
        IpAddr::V6(v6) => Some(format!("{v6}/128")),
    }
}

fn storage(config: &ControlPlaneConfig) -> Option<Storage> {
    if config.feature_gates.disable_csi_lvm == Some(true) {
        return None;
    }
    let default_class = config
        .custom_default_storage_class
        .as_ref()
        .is_none_or(|c| c.class_name == super::storage::CSI_LVM);
    Some(Storage { default_class })
}

/// The node network's CIDR: the Shoot's `spec.networking.nodes`, else what the Infrastructure
/// allocated (`status.nodesCIDR`); `None` until one of them is known.
pub fn nodes_cidr(shoot: &Shoot, infrastructure: Option<&Value>) -> Option<String> {
    shoot.nodes_cidr.clone().or_else(|| {
        infrastructure?
            .pointer("/status/nodesCIDR")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    })
}

/// The one private network of the project whose prefix is the node CIDR.
pub fn node_network(
    found: &[NetworkResponse],
    project: &str,
    cidr: &str,
) -> Result<String, ExtError> {
    match found {
        [network] => Ok(network.id.clone()),
        _ => Err(ExtError::internal(format!(
            "no distinct private network for project id {project:?} and prefix {cidr} found ({} found)",
            found.len()
        ))),
    }
}
