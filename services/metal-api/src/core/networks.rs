//! Networks: admin create and delete, child network allocation from a partition's private
//! super network, and release (metal-api `/v1/network`).

use std::collections::BTreeMap;

use ipnet::IpNet;
use metal_api_sdk::model::{AddressFamily, NetworkAllocateRequest, NetworkCreateRequest};

use super::{ApiError, ApiResult, Ctx, Network, State, ipam};

/// VRFs are handed out from here upwards (lowest free first).
pub const VRF_BASE: u32 = 30;

pub fn get(state: &State, id: &str) -> ApiResult<Network> {
    state
        .networks
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("network with id {id:?} not found")))
}

fn parse_prefixes(field: &str, values: &[String]) -> ApiResult<Vec<IpNet>> {
    values
        .iter()
        .map(|v| {
            v.parse::<IpNet>()
                .map_err(|_| ApiError::bad_request(format!("{field}: {v:?} is not a valid prefix")))
                .and_then(|p| {
                    if p.trunc() == p {
                        Ok(p)
                    } else {
                        Err(ApiError::bad_request(format!(
                            "{field}: {v:?} has host bits set"
                        )))
                    }
                })
        })
        .collect()
}

/// Every prefix in use by any network other than `except`.
fn prefixes_in_use<'a>(
    state: &'a State,
    except: Option<&'a str>,
) -> impl Iterator<Item = (&'a Network, IpNet)> {
    state
        .networks
        .values()
        .filter(move |n| Some(n.id.as_str()) != except)
        .flat_map(|n| n.prefixes.iter().map(move |p| (n, *p)))
}

/// Admin create (PUT /v1/network).
pub fn create(state: &mut State, ctx: &mut Ctx, req: &NetworkCreateRequest) -> ApiResult<Network> {
    let id = if req.id.is_empty() {
        ctx.entropy.uuid()
    } else {
        req.id.clone()
    };
    if state.networks.contains_key(&id) {
        return Err(ApiError::conflict(format!(
            "network with id {id:?} already exists"
        )));
    }
    let prefixes = parse_prefixes("prefixes", &req.prefixes)?;
    let destinationprefixes = parse_prefixes("destinationprefixes", &req.destinationprefixes)?;
    if let Some(partition) = req.partitionid.as_deref().filter(|p| !p.is_empty())
        && !state.partitions.contains_key(partition)
    {
        return Err(ApiError::not_found(format!(
            "partition with id {partition:?} not found"
        )));
    }
    if let Some(project) = req.projectid.as_deref().filter(|p| !p.is_empty())
        && !state.project_exists(project)
    {
        return Err(ApiError::not_found(format!(
            "project with id {project:?} not found"
        )));
    }
    let parent = match req.parentnetworkid.as_deref().filter(|p| !p.is_empty()) {
        Some(parent) => Some(get(state, parent)?),
        None => None,
    };
    if req.privatesuper {
        let partition = req
            .partitionid
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| ApiError::bad_request("a private super network needs a partitionid"))?;
        if req
            .defaultchildprefixlength
            .as_ref()
            .is_none_or(|m| m.is_empty())
        {
            return Err(ApiError::bad_request(
                "a private super network needs defaultchildprefixlength",
            ));
        }
        if state
            .networks
            .values()
            .any(|n| n.privatesuper && n.partitionid.as_deref() == Some(partition))
        {
            return Err(ApiError::bad_request(format!(
                "partition {partition} already has a private super network"
            )));
        }
    }
    for prefix in &prefixes {
        for (other, used) in prefixes_in_use(state, None) {
            let nested_in_parent = parent
                .as_ref()
                .is_some_and(|p| p.id == other.id && used.contains(prefix));
            if ipam::overlaps(*prefix, used) && !nested_in_parent {
                return Err(ApiError::unprocessable(format!(
                    "prefix {prefix} overlaps {used} of network {}",
                    other.id
                )));
            }
        }
    }
    if let Some(vrf) = req.vrf.filter(|_| !req.vrfshared.unwrap_or(false))
        && let Some(other) = state
            .networks
            .values()
            .find(|n| n.vrf == Some(vrf) && !n.vrfshared)
    {
        return Err(ApiError::unprocessable(format!(
            "vrf {vrf} is already used by network {}",
            other.id
        )));
    }
    let network = Network {
        id,
        name: req.name.clone(),
        description: req.description.clone(),
        partitionid: req.partitionid.clone().filter(|p| !p.is_empty()),
        projectid: req.projectid.clone().filter(|p| !p.is_empty()),
        parentnetworkid: parent.map(|p| p.id),
        prefixes,
        destinationprefixes,
        defaultchildprefixlength: req.defaultchildprefixlength.clone().unwrap_or_default(),
        vrf: req.vrf,
        vrfshared: req.vrfshared.unwrap_or(false),
        shared: req.shared.unwrap_or(false),
        nat: req.nat,
        privatesuper: req.privatesuper,
        underlay: req.underlay,
        labels: req.labels.clone(),
        additional_announcable_cidrs: req.additional_announcable_cidrs.clone(),
        created: ctx.now,
        changed: ctx.now,
        rev: 1,
    };
    state.put_network(network.clone());
    Ok(network)
}

/// Allocates a child network for a project (POST /v1/network/allocate): one child prefix per
/// address family, carved from the partition's private super network.
pub fn allocate(
    state: &mut State,
    ctx: &mut Ctx,
    req: &NetworkAllocateRequest,
) -> ApiResult<Network> {
    if req.projectid.is_empty() {
        return Err(ApiError::bad_request("projectid should not be empty"));
    }
    if req.partitionid.is_empty() {
        return Err(ApiError::bad_request("partitionid should not be empty"));
    }
    if !state.partitions.contains_key(&req.partitionid) {
        return Err(ApiError::not_found(format!(
            "partition with id {:?} not found",
            req.partitionid
        )));
    }
    if !state.project_exists(&req.projectid) {
        return Err(ApiError::not_found(format!(
            "project with id {:?} not found",
            req.projectid
        )));
    }
    let destinationprefixes = parse_prefixes("destinationprefixes", &req.destinationprefixes)?;
    let parent = state
        .networks
        .values()
        .find(|n| n.privatesuper && n.partitionid.as_deref() == Some(req.partitionid.as_str()))
        .cloned()
        .ok_or_else(|| {
            ApiError::unprocessable(format!(
                "no private super network found for partition {}",
                req.partitionid
            ))
        })?;
    if parent.defaultchildprefixlength.is_empty() {
        return Err(ApiError::internal(format!(
            "private super network {} has no defaultchildprefixlength",
            parent.id
        )));
    }
    let wanted_family = req.addressfamily.map(|af| match af {
        AddressFamily::IPv4 => "IPv4",
        AddressFamily::IPv6 => "IPv6",
    });
    let taken: Vec<IpNet> = prefixes_in_use(state, Some(&parent.id))
        .map(|(_, p)| p)
        .collect();
    let mut prefixes = Vec::new();
    for super_prefix in &parent.prefixes {
        let family = ipam::family_key(super_prefix);
        if wanted_family.is_some_and(|w| w != family) {
            continue;
        }
        let length = req
            .length
            .as_ref()
            .and_then(|l| l.get(family).copied())
            .or_else(|| parent.defaultchildprefixlength.get(family).copied())
            .ok_or_else(|| {
                ApiError::unprocessable(format!("no child prefix length for {family}"))
            })?;
        if length < super_prefix.prefix_len() || length > super_prefix.max_prefix_len() {
            return Err(ApiError::bad_request(format!(
                "child prefix length {length} does not fit into {super_prefix}"
            )));
        }
        let child = ipam::free_child(*super_prefix, length, &taken).ok_or_else(|| {
            ApiError::internal(format!(
                "no more child prefixes available in {super_prefix}"
            ))
        })?;
        prefixes.push(child);
    }
    if prefixes.is_empty() {
        return Err(ApiError::bad_request(format!(
            "private super network {} has no prefix of the requested address family",
            parent.id
        )));
    }
    let used_vrfs: Vec<u32> = state.networks.values().filter_map(|n| n.vrf).collect();
    let vrf = (VRF_BASE..)
        .find(|v| !used_vrfs.contains(v))
        .expect("VRF space is not exhausted");
    let network = Network {
        id: ctx.entropy.uuid(),
        name: req.name.clone(),
        description: req.description.clone(),
        partitionid: Some(req.partitionid.clone()),
        projectid: Some(req.projectid.clone()),
        parentnetworkid: Some(parent.id.clone()),
        prefixes,
        destinationprefixes,
        defaultchildprefixlength: BTreeMap::new(),
        vrf: Some(vrf),
        vrfshared: false,
        shared: req.shared.unwrap_or(false),
        nat: req.nat.unwrap_or(false),
        privatesuper: false,
        underlay: false,
        labels: req.labels.clone(),
        additional_announcable_cidrs: Vec::new(),
        created: ctx.now,
        changed: ctx.now,
        rev: 1,
    };
    state.put_network(network.clone());
    Ok(network)
}

fn ensure_unused(state: &State, network: &Network) -> ApiResult<()> {
    if let Some(ip) = state.ips.values().find(|ip| ip.networkid == network.id) {
        return Err(ApiError::conflict(format!(
            "network {} has ips in use, e.g. {}; free them first",
            network.id, ip.address
        )));
    }
    if let Some(child) = state
        .networks
        .values()
        .find(|n| n.parentnetworkid.as_deref() == Some(&network.id))
    {
        return Err(ApiError::conflict(format!(
            "network {} has child network {}",
            network.id, child.id
        )));
    }
    Ok(())
}

/// Releases an allocated child network (DELETE /v1/network/free/{id}).
pub fn free(state: &mut State, id: &str) -> ApiResult<Network> {
    let network = get(state, id)?;
    if !network.is_private() {
        return Err(ApiError::bad_request(format!(
            "network {id} was not allocated from a private super network and can not be freed; use delete"
        )));
    }
    ensure_unused(state, &network)?;
    state.delete_network(id);
    Ok(network)
}

/// Admin delete (DELETE /v1/network/{id}).
pub fn delete(state: &mut State, id: &str) -> ApiResult<Network> {
    let network = get(state, id)?;
    ensure_unused(state, &network)?;
    state.delete_network(id);
    Ok(network)
}

#[cfg(test)]
mod tests;
