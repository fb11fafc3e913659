//! What the driver asks metal-api and how it reads the answers: the allocation of a Machine,
//! the lookups by name and by id, and what a found machine means for the Machine.

use std::collections::BTreeMap;

use metal_api_sdk::model::{
    MachineAllocateRequest, MachineAllocationNetwork, MachineFindRequest, MachineResponse,
};
use serde::Serialize;

use super::class::Class;
use super::code::DriverError;
use super::tags::{self, ROLE_MACHINE};

/// A Kubernetes `NodeAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Address {
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
}

/// A machine behind a Machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    pub node_name: String,
    pub addresses: Vec<Address>,
}

/// The allocation upstream sends for a Machine: name and hostname are the Machine's name; the
/// cluster tag doubles as placement tag so machines of one cluster spread over racks.
pub fn allocate_request(class: &Class, name: &str) -> MachineAllocateRequest {
    let spec = &class.spec;
    MachineAllocateRequest {
        name: Some(name.to_owned()),
        hostname: Some(name.to_owned()),
        description: Some(format!("{name} created by Gardener.")),
        user_data: Some(class.user_data.clone()).filter(|u| !u.is_empty()),
        sizeid: spec.size.clone(),
        projectid: spec.project.clone(),
        partitionid: spec.partition.clone(),
        imageid: spec.image.clone(),
        networks: Some(vec![MachineAllocationNetwork {
            networkid: spec.network.clone(),
            autoacquire: true,
        }]),
        tags: Some(spec.tags.clone()),
        ssh_pub_keys: spec.ssh_keys.clone(),
        dns_servers: Some(spec.dns_servers.clone()).filter(|d| !d.is_empty()),
        ntp_servers: Some(spec.ntp_servers.clone()).filter(|n| !n.is_empty()),
        placement_tags: Some(vec![class.cluster_tag()]),
        ..Default::default()
    }
}

/// The cluster's worker machines of the class's project.
pub fn find_cluster(class: &Class) -> MachineFindRequest {
    MachineFindRequest {
        allocation_project: Some(class.spec.project.clone()),
        allocation_role: Some(ROLE_MACHINE.into()),
        tags: Some(vec![class.cluster_tag()]),
        ..Default::default()
    }
}

/// The machine(s) allocated for the Machine `name` in this cluster: how a retried Create finds
/// what an earlier one allocated, and how Delete finds a machine whose providerID was never
/// recorded.
pub fn find_by_name(class: &Class, name: &str) -> MachineFindRequest {
    MachineFindRequest {
        allocation_name: Some(name.to_owned()),
        ..find_cluster(class)
    }
}

/// The machine `id` if it is still this cluster's.
pub fn find_by_id(class: &Class, id: &str) -> MachineFindRequest {
    MachineFindRequest {
        id: Some(id.to_owned()),
        ..find_cluster(class)
    }
}

/// Whether the machine is allocated under the Machine name `name` (its allocation name, as
/// Create and upstream's provider allocate).
pub fn allocated_as(machine: &MachineResponse, name: &str) -> bool {
    machine.allocation.as_ref().is_some_and(|a| a.name == name)
}

/// Of the machines allocated under one Machine name in one cluster, the one the Machine keeps
/// (the earliest allocation; ties by id) and the rest, which are leaks: a Machine name is
/// unique in its namespace, so a second allocation under it can only come from an allocation
/// whose answer was lost after a retry had already allocated again.
pub fn keep_earliest(
    found: &[MachineResponse],
) -> Option<(&MachineResponse, Vec<&MachineResponse>)> {
    let mut sorted: Vec<&MachineResponse> = found.iter().collect();
    sorted.sort_by(|a, b| {
        let created = |m: &MachineResponse| m.allocation.as_ref().map(|a| a.created);
        created(a).cmp(&created(b)).then_with(|| a.id.cmp(&b.id))
    });
    let mut sorted = sorted.into_iter();
    let keep = sorted.next()?;
    Some((keep, sorted.collect()))
}

/// What a machine means for a Machine of `class` (upstream's GetMachineStatus): NotFound when
/// it is not allocated or no longer this cluster's.
pub fn status(class: &Class, machine: &MachineResponse) -> Result<Found, DriverError> {
    let Some(allocation) = &machine.allocation else {
        return Err(DriverError::not_found(format!(
            "machine {} is already released",
            machine.id
        )));
    };
    match tags::cluster_id(&machine.tags) {
        None => Err(DriverError::not_found(format!(
            "machine {} has no {} tag",
            machine.id,
            tags::CLUSTER_ID
        ))),
        Some(id) if id != class.cluster_id => Err(DriverError::not_found(format!(
            "machine {} does not belong to this cluster anymore (it is in cluster {id})",
            machine.id
        ))),
        Some(_) => Ok(Found {
            provider_id: tags::provider_id(&partition_of(machine, class), &machine.id),
            node_name: allocation.hostname.clone(),
            addresses: addresses(machine),
        }),
    }
}

fn partition_of(machine: &MachineResponse, class: &Class) -> String {
    machine
        .partition
        .as_ref()
        .map(|p| p.id.clone())
        .unwrap_or_else(|| class.spec.partition.clone())
}

/// The Node addresses of an allocated machine: its private network's IPs as InternalIP, other
/// networks' (external, storage) as ExternalIP, and the hostname.
pub fn addresses(machine: &MachineResponse) -> Vec<Address> {
    let Some(allocation) = &machine.allocation else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for network in allocation.networks.iter().filter(|n| !n.underlay) {
        let kind = if network.private {
            "InternalIP"
        } else {
            "ExternalIP"
        };
        out.extend(network.ips.iter().map(|ip| Address {
            kind: kind.into(),
            address: ip.clone(),
        }));
    }
    out.sort_by(|a, b| {
        (a.kind != "InternalIP", &a.address).cmp(&(b.kind != "InternalIP", &b.address))
    });
    if !allocation.hostname.is_empty() {
        out.push(Address {
            kind: "Hostname".into(),
            address: allocation.hostname.clone(),
        });
    }
    out
}

/// providerID → Machine name of the cluster's machines (upstream's ListMachines); firewalls are
/// skipped, a machine without allocation or partition is an error.
pub fn list(found: &[MachineResponse]) -> Result<BTreeMap<String, String>, DriverError> {
    let mut out = BTreeMap::new();
    for machine in found {
        let allocation = machine.allocation.as_ref().ok_or_else(|| {
            DriverError::internal(format!("machine {} has no allocation", machine.id))
        })?;
        if allocation.role != metal_api_sdk::model::MachineRole::Machine {
            continue;
        }
        let partition = machine.partition.as_ref().ok_or_else(|| {
            DriverError::internal(format!("machine {} has no partition", machine.id))
        })?;
        out.insert(
            tags::provider_id(&partition.id, &machine.id),
            allocation.hostname.clone(),
        );
    }
    Ok(out)
}

/// A PersistentVolumeSpec's CSI source, the part GetVolumeIDs reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Empty for a non-CSI volume.
    pub csi_driver: String,
    pub volume_handle: String,
}

const LIGHTBITS: &str = "csi.lightbitslabs.com";

/// The volume IDs of CSI volumes; lightbits handles (`k:v|k:v`) give their `nguid`, falling
/// back to the whole handle when it has none.
pub fn volume_ids(specs: &[VolumeSpec]) -> Vec<String> {
    specs
        .iter()
        .filter(|s| !s.csi_driver.is_empty())
        .map(|s| {
            if s.csi_driver != LIGHTBITS {
                return s.volume_handle.clone();
            }
            s.volume_handle
                .split('|')
                .filter_map(|kv| kv.split_once(':'))
                .find(|(k, _)| *k == "nguid")
                .map(|(_, v)| v.to_owned())
                .unwrap_or_else(|| {
                    tracing::warn!(handle = %s.volume_handle, "lightbits volume handle without nguid");
                    s.volume_handle.clone()
                })
        })
        .collect()
}

#[cfg(test)]
mod tests;
