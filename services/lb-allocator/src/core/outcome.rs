//! What ensuring or releasing a load balancer did, for events and REST answers.

use metal_api_sdk::model::{AddressFamily, IpResponse, IpType};
use serde::Serialize;
use utoipa::ToSchema;

use super::service::{ServiceKey, family_of};

/// One IP of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LbIp {
    pub address: String,
    pub network: String,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "ephemeral")]
    pub ip_type: IpType,
    #[schema(value_type = String, example = "IPv4")]
    pub family: AddressFamily,
}

impl LbIp {
    pub fn from_ip(ip: &IpResponse) -> Self {
        let family = ip
            .ipaddress
            .parse()
            .map(|a| family_of(&a))
            .unwrap_or(AddressFamily::IPv4);
        Self {
            address: ip.ipaddress.clone(),
            network: ip.networkid.clone(),
            ip_type: ip.ip_type,
            family,
        }
    }
}

/// A change made to metal-api.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Change {
    /// A new ephemeral IP, tagged for the Service.
    Allocated { address: String, network: String },
    /// A pre-allocated IP got the Service's tag.
    Adopted { address: String },
    /// The Service's tag was removed; `freed`: the IP went back to the network.
    Released { address: String, freed: bool },
}

impl Change {
    /// Event reason and note.
    pub fn event(&self) -> (&'static str, String) {
        match self {
            Change::Allocated { address, network } => (
                "IPAllocated",
                format!("allocated {address} in network {network}"),
            ),
            Change::Adopted { address } => ("IPAdopted", format!("adopted {address}")),
            Change::Released {
                address,
                freed: true,
            } => ("IPReleased", format!("released and freed {address}")),
            Change::Released {
                address,
                freed: false,
            } => (
                "IPReleased",
                format!("released {address} (kept: static or shared)"),
            ),
        }
    }
}

/// A load balancer: a Service and its IPs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LoadBalancer {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<LbIp>,
}

/// The answer to ensuring one load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ensured {
    /// Sorted by address.
    pub ips: Vec<LbIp>,
    pub changes: Vec<Change>,
}

/// Groups the cluster's service-tagged IPs by Service, sorted by namespace, name and address.
pub fn by_service<'a>(
    cluster: &str,
    ips: impl IntoIterator<Item = &'a IpResponse>,
) -> Vec<LoadBalancer> {
    let mut map: std::collections::BTreeMap<ServiceKey, Vec<LbIp>> = Default::default();
    for ip in ips {
        for key in ip
            .tags
            .iter()
            .filter_map(|t| super::tags::service_of(cluster, t))
        {
            let entry = map.entry(key).or_default();
            if !entry.iter().any(|e| e.address == ip.ipaddress) {
                entry.push(LbIp::from_ip(ip));
            }
        }
    }
    map.into_iter()
        .map(|(key, mut ips)| {
            ips.sort_by(|a, b| a.address.cmp(&b.address));
            LoadBalancer {
                namespace: key.namespace,
                name: key.name,
                ips,
            }
        })
        .collect()
}
