//! Find requests: every given field is an equality filter, all combined with AND; tag lists
//! are contains-all.

use std::net::IpAddr;

use ipnet::IpNet;
use metal_api_sdk::model::{
    AddressFamily, ImageFindRequest, ImageResponse, IpFindRequest, MachineFindRequest,
    NetworkFindRequest, ProjectFindRequest, ProjectResponse,
};
use metal_api_sdk::tags;

use super::{ApiError, ApiResult, Ip, Machine, Network, State, has_all_tags, masterdata};

fn eq(want: &Option<String>, have: &str) -> bool {
    want.as_deref().is_none_or(|w| w == have)
}

fn eq_opt(want: &Option<String>, have: Option<&str>) -> bool {
    want.as_deref().is_none_or(|w| Some(w) == have)
}

fn family_matches(af: Option<AddressFamily>, addr: IpAddr) -> bool {
    match af {
        None => true,
        Some(AddressFamily::IPv4) => addr.is_ipv4(),
        Some(AddressFamily::IPv6) => addr.is_ipv6(),
    }
}

pub fn ips(state: &State, f: &IpFindRequest) -> ApiResult<Vec<Ip>> {
    let mut wanted_tags = f.tags.clone().unwrap_or_default();
    if let Some(m) = f.machineid.as_deref().filter(|m| !m.is_empty()) {
        wanted_tags.push(tags::tag(tags::MACHINE_ID, m));
    }
    let prefix: Option<IpNet> =
        match f.networkprefix.as_deref().filter(|p| !p.is_empty()) {
            Some(p) => Some(p.parse().map_err(|_| {
                ApiError::bad_request(format!("networkprefix {p:?} is not a prefix"))
            })?),
            None => None,
        };
    Ok(state
        .ips
        .values()
        .filter(|ip| {
            eq(&f.ipaddress, &ip.address.to_string())
                && eq(&f.allocationuuid, &ip.allocationuuid)
                && eq(&f.name, &ip.name)
                && eq(&f.networkid, &ip.networkid)
                && eq(&f.projectid, &ip.projectid)
                && f.ip_type
                    .as_deref()
                    .is_none_or(|t| serde_json::to_value(ip.ip_type).is_ok_and(|v| v == t))
                && has_all_tags(&ip.tags, &wanted_tags)
                && family_matches(f.addressfamily, ip.address)
                && prefix.is_none_or(|p| {
                    state
                        .networks
                        .get(&ip.networkid)
                        .is_some_and(|n| n.prefixes.contains(&p) && p.contains(&ip.address))
                })
        })
        .cloned()
        .collect())
}

pub fn networks(state: &State, f: &NetworkFindRequest) -> ApiResult<Vec<Network>> {
    let parse = |values: &Option<Vec<String>>| -> ApiResult<Vec<IpNet>> {
        values
            .iter()
            .flatten()
            .map(|v| {
                v.parse()
                    .map_err(|_| ApiError::bad_request(format!("{v:?} is not a prefix")))
            })
            .collect()
    };
    let prefixes = parse(&f.prefixes)?;
    let destinations = parse(&f.destinationprefixes)?;
    Ok(state
        .networks
        .values()
        .filter(|n| {
            eq(&f.id, &n.id)
                && eq_opt(&f.name, n.name.as_deref())
                && eq_opt(&f.partitionid, n.partitionid.as_deref())
                && eq_opt(&f.projectid, n.projectid.as_deref())
                && eq_opt(&f.parentnetworkid, n.parentnetworkid.as_deref())
                && prefixes.iter().all(|p| n.prefixes.contains(p))
                && destinations
                    .iter()
                    .all(|p| n.destinationprefixes.contains(p))
                && f.nat.is_none_or(|v| v == n.nat)
                && f.privatesuper.is_none_or(|v| v == n.privatesuper)
                && f.underlay.is_none_or(|v| v == n.underlay)
                && f.vrf.is_none_or(|v| Some(v) == n.vrf)
                && f.labels
                    .iter()
                    .flatten()
                    .all(|(k, v)| n.labels.get(k) == Some(v))
                && f.addressfamily.is_none_or(|af| {
                    n.prefixes
                        .iter()
                        .any(|p| family_matches(Some(af), p.addr()))
                })
        })
        .cloned()
        .collect())
}

pub fn machines(state: &State, f: &MachineFindRequest) -> Vec<Machine> {
    let all = |want: &Option<Vec<String>>, have: Vec<String>| {
        want.iter().flatten().all(|w| have.contains(w))
    };
    state
        .machines
        .values()
        .filter(|m| {
            let alloc = m.allocation.as_ref();
            let nets = alloc.map(|a| a.networks.as_slice()).unwrap_or_default();
            eq(&f.id, &m.id)
                && eq_opt(&f.name, m.name.as_deref())
                && eq(&f.partition_id, &m.partitionid)
                && eq(&f.sizeid, &m.sizeid)
                && eq_opt(&f.rackid, m.rackid.as_deref())
                && eq(&f.state_value, &m.state.value)
                && eq_opt(&f.allocation_project, alloc.map(|a| a.project.as_str()))
                && eq_opt(&f.allocation_name, alloc.map(|a| a.name.as_str()))
                && eq_opt(&f.allocation_hostname, alloc.map(|a| a.hostname.as_str()))
                && f.allocation_role.as_deref().is_none_or(|r| {
                    alloc.is_some_and(|a| serde_json::to_value(a.role).is_ok_and(|v| v == r))
                })
                && eq_opt(
                    &f.allocation_image_id,
                    alloc.and_then(|a| a.image.as_ref()).map(|i| i.id.as_str()),
                )
                && f.allocation_succeeded
                    .is_none_or(|s| alloc.is_some_and(|a| a.succeeded == s))
                && all(
                    &f.network_ids,
                    nets.iter().map(|n| n.networkid.clone()).collect(),
                )
                && all(
                    &f.network_ips,
                    nets.iter().flat_map(|n| n.ips.clone()).collect(),
                )
                && all(
                    &f.network_prefixes,
                    nets.iter().flat_map(|n| n.prefixes.clone()).collect(),
                )
                && f.network_vrfs
                    .iter()
                    .flatten()
                    .all(|v| nets.iter().any(|n| n.vrf == *v))
                && f.network_asns
                    .iter()
                    .flatten()
                    .all(|v| nets.iter().any(|n| n.asn == *v))
                && has_all_tags(&m.tags, f.tags.as_deref().unwrap_or_default())
        })
        .cloned()
        .collect()
}

pub fn images(state: &State, f: &ImageFindRequest) -> Vec<ImageResponse> {
    state
        .images
        .values()
        .filter(|i| {
            let (os, version) = masterdata::os_and_version(&i.id).unwrap_or((&i.id, ""));
            eq(&f.id, &i.id)
                && eq_opt(&f.name, i.name.as_deref())
                && eq(&f.os, os)
                && eq(&f.version, version)
                && eq_opt(&f.classification, i.classification.as_deref())
                && f.features.iter().flatten().all(|w| i.features.contains(w))
        })
        .cloned()
        .collect()
}

pub fn projects(state: &State, f: &ProjectFindRequest) -> Vec<ProjectResponse> {
    state
        .projects
        .values()
        .filter(|p| {
            eq_opt(&f.id, p.meta.id.as_deref())
                && eq_opt(&f.name, p.name.as_deref())
                && eq_opt(&f.description, p.description.as_deref())
                && eq_opt(&f.tenant_id, p.tenant_id.as_deref())
        })
        .cloned()
        .collect()
}
