//! IP allocation, update and release (metal-api `/v1/ip`).

use std::net::IpAddr;

use ipnet::IpNet;
use metal_api_sdk::model::{AddressFamily, IpAllocateRequest, IpType, IpUpdateRequest};
use metal_api_sdk::tags;

use super::{ApiError, ApiResult, Ctx, Ip, Network, State, dedup_tags, ipam};

/// Which addresses an allocation asks for.
pub enum Wanted {
    /// The first free address of the network (of a family, if given).
    Any,
    /// Exactly this address.
    Specific(String),
}

/// Derived IP scope: no project, a machine's, or a project's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Empty,
    Machine,
    Project,
}

pub fn scope(projectid: &str, tags: &[String]) -> Scope {
    if projectid.is_empty() {
        Scope::Empty
    } else if tags.iter().any(|t| t.starts_with(tags::MACHINE_ID)) {
        Scope::Machine
    } else {
        Scope::Project
    }
}

pub fn get(state: &State, address: &str) -> ApiResult<Ip> {
    let addr: IpAddr = address
        .parse()
        .map_err(|_| ApiError::not_found(format!("no ip with id {address:?} found")))?;
    state
        .ips
        .get(&addr)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no ip with id {address:?} found")))
}

/// Allocates an IP (POST /v1/ip/allocate and /v1/ip/allocate/{ip}).
pub fn allocate(
    state: &mut State,
    ctx: &mut Ctx,
    req: &IpAllocateRequest,
    wanted: Wanted,
) -> ApiResult<Ip> {
    if req.networkid.is_empty() {
        return Err(ApiError::bad_request("networkid should not be empty"));
    }
    if req.projectid.is_empty() {
        return Err(ApiError::bad_request("projectid should not be empty"));
    }
    let network = state.networks.get(&req.networkid).cloned().ok_or_else(|| {
        ApiError::not_found(format!("network with id {:?} not found", req.networkid))
    })?;
    if network.prefixes.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "network {} has no prefixes",
            network.id
        )));
    }
    if let Some(af) = req.addressfamily {
        if matches!(wanted, Wanted::Specific(_)) {
            return Err(ApiError::bad_request(
                "it is not possible to specify specificIP and addressfamily",
            ));
        }
        if !network.prefixes.iter().any(|p| family(p) == af) {
            return Err(ApiError::bad_request(format!(
                "there is no prefix for the given addressfamily:{af:?} present for network:{}",
                network.id
            )));
        }
    }
    if !state.project_exists(&req.projectid) {
        return Err(ApiError::not_found(format!(
            "project with id {:?} not found",
            req.projectid
        )));
    }
    if network.is_private()
        && !network.shared
        && network.projectid.as_deref() != Some(&req.projectid)
    {
        return Err(ApiError::unprocessable(
            "can not allocate ip for project in private network of another project",
        ));
    }
    let mut tags = req.tags.clone().unwrap_or_default();
    if let Some(machine) = req.machineid.as_deref().filter(|m| !m.is_empty()) {
        tags.push(tags::tag(tags::MACHINE_ID, machine));
    }
    let address = match wanted {
        Wanted::Specific(text) => specific_address(state, &network, &text)?,
        Wanted::Any => first_free_address(state, &network, req.addressfamily)?,
    };
    let ip = Ip {
        address,
        allocationuuid: ctx.entropy.uuid(),
        name: req.name.clone().unwrap_or_default(),
        description: req.description.clone().unwrap_or_default(),
        networkid: network.id.clone(),
        projectid: req.projectid.clone(),
        ip_type: IpType::from_request(req.ip_type.as_deref()),
        tags: dedup_tags(tags),
        created: ctx.now,
        changed: ctx.now,
        rev: 1,
    };
    state.put_ip(ip.clone());
    Ok(ip)
}

fn family(prefix: &IpNet) -> AddressFamily {
    match prefix {
        IpNet::V4(_) => AddressFamily::IPv4,
        IpNet::V6(_) => AddressFamily::IPv6,
    }
}

/// Prefixes of `network` that hand out addresses: those not split into child networks.
fn leaf_prefixes(network: &Network) -> Vec<IpNet> {
    if network.privatesuper {
        return Vec::new();
    }
    network.prefixes.to_vec()
}

fn first_free_address(
    state: &mut State,
    network: &Network,
    af: Option<AddressFamily>,
) -> ApiResult<IpAddr> {
    let families: Vec<AddressFamily> = network.prefixes.iter().map(family).collect();
    // The requested family, else the only family the network has, else IPv4 (upstream).
    let af = af.unwrap_or_else(|| {
        if families.iter().all(|f| *f == AddressFamily::IPv6) {
            AddressFamily::IPv6
        } else {
            AddressFamily::IPv4
        }
    });
    for prefix in leaf_prefixes(network)
        .into_iter()
        .filter(|p| family(p) == af)
    {
        if let Some(addr) = ipam::first_free(state, prefix) {
            return Ok(addr);
        }
    }
    Err(ApiError::internal(format!(
        "no ips left in network {}",
        network.id
    )))
}

fn specific_address(state: &State, network: &Network, text: &str) -> ApiResult<IpAddr> {
    let addr: IpAddr = text
        .parse()
        .map_err(|_| ApiError::unprocessable(format!("{text:?} is not a valid ip address")))?;
    let prefix = leaf_prefixes(network)
        .into_iter()
        .find(|p| p.contains(&addr))
        .ok_or_else(|| {
            ApiError::unprocessable(format!(
                "specific ip not contained in any of the defined prefixes of network {}",
                network.id
            ))
        })?;
    if state.ips.contains_key(&addr) || !ipam::is_allocatable(prefix, addr) {
        return Err(ApiError::conflict(format!(
            "ip {addr} is already allocated"
        )));
    }
    Ok(addr)
}

/// Updates name, description, type and tags (POST /v1/ip). `expected_rev` is the revision
/// the caller read; a different current revision means a concurrent update won (409).
pub fn update(
    state: &mut State,
    ctx: &mut Ctx,
    req: &IpUpdateRequest,
    expected_rev: Option<u64>,
) -> ApiResult<Ip> {
    let old = get(state, &req.ipaddress)?;
    if expected_rev.is_some_and(|rev| rev != old.rev) {
        return Err(ApiError::changed_concurrently());
    }
    let mut new = old.clone();
    match req.ip_type.as_deref() {
        Some("static") => new.ip_type = IpType::Static,
        Some("ephemeral") if old.ip_type == IpType::Static => {
            return Err(ApiError::bad_request(
                "cannot change type of ip address from static to ephemeral",
            ));
        }
        Some("ephemeral") => new.ip_type = IpType::Ephemeral,
        _ => {}
    }
    if let Some(name) = &req.name {
        new.name = name.clone();
    }
    if let Some(description) = &req.description {
        new.description = description.clone();
    }
    // `null` keeps the tags, `[]` clears them.
    if let Some(tags) = &req.tags {
        new.tags = dedup_tags(tags.iter().cloned());
    }
    let (from, to) = (
        scope(&old.projectid, &old.tags),
        scope(&new.projectid, &new.tags),
    );
    if from != to && from != Scope::Project && to != Scope::Project {
        return Err(ApiError::bad_request(format!(
            "can not use ip of scope {from:?} with scope {to:?}"
        )));
    }
    new.changed = ctx.now;
    new.rev = old.rev + 1;
    state.put_ip(new.clone());
    Ok(new)
}

/// Frees an IP (DELETE /v1/ip/free/{ip}); machine-scoped IPs go with their machine only.
pub fn free(state: &mut State, address: &str) -> ApiResult<Ip> {
    let ip = get(state, address)?;
    if scope(&ip.projectid, &ip.tags) == Scope::Machine {
        return Err(ApiError::bad_request(
            "ip with machine scope can not be deleted",
        ));
    }
    state.delete_ip(ip.address);
    Ok(ip)
}

#[cfg(test)]
mod tests;
