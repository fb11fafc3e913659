//! The Infrastructure of a metal shoot (upstream's infrastructure actuator): the node network,
//! the egress IPs of the firewall's SNAT rules, the firewall maintenance trigger, and on
//! deletion the freeing of exactly what belongs to the cluster.
//!
//! Unlike upstream, the node network is always looked up by the cluster label before one is
//! allocated: an allocation whose answer was lost (metal-api or this process died in between)
//! is found again instead of doubled.

use std::collections::BTreeMap;

use metal_api_sdk::model::{
    IpFindRequest, IpResponse, IpType, IpUpdateRequest, NetworkAllocateRequest, NetworkFindRequest,
    NetworkResponse,
};
use serde_json::{Value, json};

use super::operation::ExtError;
use super::shoot::{Shoot, TAG_CLUSTER_EGRESS, TAG_CLUSTER_ID, TAG_CLUSTER_SERVICE_FQN};
use crate::core::provider_config::API_VERSION;

/// How the node network is had.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeNetwork {
    /// The Shoot names it (`spec.networking.nodes`): nothing to allocate.
    Given(String),
    /// Look for the cluster's network; allocate one if there is none (and none was reported
    /// before).
    Find(NetworkFindRequest),
}

/// The metal-api labels of the cluster's node network.
fn network_labels(shoot: &Shoot) -> BTreeMap<String, String> {
    BTreeMap::from([(TAG_CLUSTER_ID.to_owned(), shoot.uid.clone())])
}

pub fn node_network(shoot: &Shoot) -> NodeNetwork {
    match &shoot.nodes_cidr {
        Some(cidr) => NodeNetwork::Given(cidr.clone()),
        None => NodeNetwork::Find(cluster_networks(shoot)),
    }
}

/// The cluster's networks: in its project and partition, labelled with its ID.
pub fn cluster_networks(shoot: &Shoot) -> NetworkFindRequest {
    NetworkFindRequest {
        projectid: Some(shoot.project_id().to_owned()),
        partitionid: Some(shoot.partition_id().to_owned()),
        labels: Some(network_labels(shoot)),
        ..Default::default()
    }
}

/// Upstream's allocation: named after the shoot, described by its UID, labelled with it.
pub fn allocate_request(shoot: &Shoot) -> NetworkAllocateRequest {
    NetworkAllocateRequest {
        projectid: shoot.project_id().to_owned(),
        partitionid: shoot.partition_id().to_owned(),
        name: Some(shoot.name.clone()),
        description: Some(shoot.uid.clone()),
        labels: network_labels(shoot),
        ..Default::default()
    }
}

/// What the lookup found decides: the node CIDR of the earliest network found, an allocation
/// (`Ok(None)`), or an error when the reported network is gone.
pub fn found_network(
    found: &[NetworkResponse],
    reported: Option<&str>,
) -> Result<Option<String>, ExtError> {
    let mut found: Vec<&NetworkResponse> = found.iter().collect();
    // Two networks can only come from a race upstream had; keep the reported or earliest one.
    found.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    if let Some(reported) = reported {
        return found
            .iter()
            .find(|n| n.prefixes.iter().any(|p| p == reported))
            .map(|_| Some(reported.to_owned()))
            .ok_or_else(|| {
                ExtError::internal(format!(
                    "node network disappeared: no network labelled for this cluster has prefix {reported}"
                ))
            });
    }
    match found.first() {
        Some(network) => first_prefix(network).map(Some),
        None => Ok(None),
    }
}

pub fn first_prefix(network: &NetworkResponse) -> Result<String, ExtError> {
    network
        .prefixes
        .first()
        .cloned()
        .ok_or_else(|| ExtError::internal(format!("network {} has no prefix", network.id)))
}

/// The Infrastructure's status fields: `nodesCIDR` and the provider status (the firewall's
/// machine ID is kept for compatibility, as upstream does).
pub fn status(
    nodes_cidr: &str,
    old_provider_status: Option<&Value>,
) -> serde_json::Map<String, Value> {
    let machine_id = old_provider_status
        .and_then(|s| s.pointer("/firewall/machineID"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut provider_status = json!({
        "apiVersion": API_VERSION,
        "kind": "InfrastructureStatus",
        "firewall": {},
    });
    if !machine_id.is_empty() {
        provider_status["firewall"]["machineID"] = machine_id.into();
    }
    let mut status = serde_json::Map::new();
    status.insert("nodesCIDR".into(), nodes_cidr.into());
    status.insert("providerStatus".into(), provider_status);
    status
}

/// The egress tag of the cluster.
pub fn egress_tag(shoot: &Shoot) -> String {
    format!("{TAG_CLUSTER_EGRESS}={}", shoot.uid)
}

/// The static IPs of the project tagged as the cluster's egress IPs.
pub fn tagged_egress_ips(shoot: &Shoot) -> IpFindRequest {
    IpFindRequest {
        projectid: Some(shoot.project_id().to_owned()),
        ip_type: Some("static".into()),
        tags: Some(vec![egress_tag(shoot)]),
        ..Default::default()
    }
}

/// One wanted egress IP, not yet tagged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressIp {
    pub ip: String,
    pub network_id: String,
}

/// What to do about egress IPs: tag the wanted ones not yet tagged, untag those no longer
/// wanted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EgressPlan {
    pub tag: Vec<EgressIp>,
    pub untag: Vec<IpUpdateRequest>,
}

pub fn egress_plan(shoot: &Shoot, tagged: &[IpResponse]) -> EgressPlan {
    let wanted: Vec<EgressIp> = shoot
        .infrastructure
        .firewall
        .egress_rules
        .iter()
        .flat_map(|rule| {
            rule.ips.iter().map(|ip| EgressIp {
                ip: ip.clone(),
                network_id: rule.network_id.clone(),
            })
        })
        .collect();
    let tag = wanted
        .iter()
        .filter(|w| !tagged.iter().any(|t| t.ipaddress == w.ip))
        .cloned()
        .collect();
    let egress = egress_tag(shoot);
    let untag = tagged
        .iter()
        .filter(|t| !wanted.iter().any(|w| w.ip == t.ipaddress))
        .map(|t| without_tags(t, |tag| tag == egress))
        .collect();
    EgressPlan { tag, untag }
}

/// The lookup of one wanted egress IP.
pub fn find_egress_ip(shoot: &Shoot, wanted: &EgressIp) -> IpFindRequest {
    IpFindRequest {
        ipaddress: Some(wanted.ip.clone()),
        projectid: Some(shoot.project_id().to_owned()),
        networkid: Some(wanted.network_id.clone()),
        ..Default::default()
    }
}

/// Upstream's checks before an IP becomes an egress IP: exactly one found, static, no tags of
/// anyone else. Each refusal names the IP and why.
pub fn tag_egress_ip(
    shoot: &Shoot,
    wanted: &EgressIp,
    found: &[IpResponse],
) -> Result<IpUpdateRequest, ExtError> {
    let refuse = |why: String| {
        ExtError::configuration(format!(
            "egress IP {} of network {}: {why}",
            wanted.ip, wanted.network_id
        ))
    };
    let ip = match found {
        [ip] => ip,
        [] => {
            return Err(refuse(format!(
                "not found in project {}",
                shoot.project_id()
            )));
        }
        more => return Err(refuse(format!("found {} times, expected once", more.len()))),
    };
    if ip.ip_type != IpType::Static {
        return Err(refuse("is ephemeral: egress IPs must be static".into()));
    }
    if !ip.tags.is_empty() {
        return Err(refuse(format!(
            "is in use (tags {}): egress IPs must carry no other tags",
            ip.tags.join(", ")
        )));
    }
    Ok(IpUpdateRequest {
        ipaddress: ip.ipaddress.clone(),
        tags: Some(vec![egress_tag(shoot)]),
        ..Default::default()
    })
}

fn without_tags(ip: &IpResponse, drop: impl Fn(&str) -> bool) -> IpUpdateRequest {
    IpUpdateRequest {
        ipaddress: ip.ipaddress.clone(),
        tags: Some(ip.tags.iter().filter(|t| !drop(t)).cloned().collect()),
        ..Default::default()
    }
}

/// The project's ephemeral IPs (deletion frees those of the cluster).
pub fn ephemeral_ips(shoot: &Shoot) -> IpFindRequest {
    IpFindRequest {
        projectid: Some(shoot.project_id().to_owned()),
        ip_type: Some("ephemeral".into()),
        ..Default::default()
    }
}

/// What deleting the cluster does to one of its project's IPs.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    Free(String),
    Update(IpUpdateRequest),
}

/// Whether a tag says the IP serves cluster `uid`: the cluster tag, or a service tag
/// (`…/id/namespace/service=<uid>/<namespace>/<service>`) of it.
fn tag_of_cluster(tag: &str, uid: &str) -> Option<bool> {
    let (key, value) = tag.split_once('=')?;
    if key == TAG_CLUSTER_EGRESS {
        return None;
    }
    if key == TAG_CLUSTER_ID || key == TAG_CLUSTER_SERVICE_FQN {
        return Some(value == uid || value.starts_with(&format!("{uid}/")));
    }
    None
}

/// Deleting the cluster: an ephemeral IP whose cluster tags are all this cluster's is freed;
/// one also serving other clusters only loses this cluster's tags; others are not touched.
/// Static egress IPs lose the egress tag and stay in the project.
pub fn release(shoot: &Shoot, ephemeral: &[IpResponse], egress: &[IpResponse]) -> Vec<Release> {
    let mut releases = Vec::new();
    for ip in ephemeral {
        let marks: Vec<bool> = ip
            .tags
            .iter()
            .filter_map(|t| tag_of_cluster(t, &shoot.uid))
            .collect();
        if !marks.contains(&true) {
            continue;
        }
        if marks.iter().all(|ours| *ours) {
            releases.push(Release::Free(ip.ipaddress.clone()));
        } else {
            releases.push(Release::Update(without_tags(ip, |t| {
                tag_of_cluster(t, &shoot.uid) == Some(true)
            })));
        }
    }
    let egress_tag = egress_tag(shoot);
    releases.extend(
        egress
            .iter()
            .filter(|ip| ip.tags.contains(&egress_tag))
            .map(|ip| Release::Update(without_tags(ip, |t| t == egress_tag))),
    );
    releases
}

/// The networks deletion frees: those labelled for this cluster only.
pub fn networks_to_free<'a>(shoot: &Shoot, found: &'a [NetworkResponse]) -> Vec<&'a str> {
    found
        .iter()
        .filter(|n| n.labels.get(TAG_CLUSTER_ID) == Some(&shoot.uid))
        .filter(|n| n.projectid.as_deref() == Some(shoot.project_id()))
        .map(|n| n.id.as_str())
        .collect()
}

/// Whether `now` (seconds since midnight UTC) lies in the shoot's maintenance time window
/// (`spec.maintenance.timeWindow.begin/end` as `HHMMSS+ZZZZ`); a window across midnight
/// wraps. No or an unreadable window: never.
pub fn in_maintenance_window(shoot: &Value, now_utc_seconds: u32) -> bool {
    let window = |key: &str| {
        shoot
            .pointer(&format!("/spec/maintenance/timeWindow/{key}"))
            .and_then(Value::as_str)
            .and_then(seconds_utc)
    };
    let (Some(begin), Some(end)) = (window("begin"), window("end")) else {
        return false;
    };
    let now = now_utc_seconds % 86_400;
    if begin <= end {
        (begin..end).contains(&now)
    } else {
        now >= begin || now < end
    }
}

/// `HHMMSS+ZZZZ` as seconds since midnight UTC.
fn seconds_utc(text: &str) -> Option<u32> {
    if text.len() != 11 || !text.is_char_boundary(6) {
        return None;
    }
    let (time, zone) = text.split_at(6);
    let num = |s: &str| s.parse::<i64>().ok();
    let (h, m, s) = (num(&time[0..2])?, num(&time[2..4])?, num(&time[4..6])?);
    let sign = match &zone[0..1] {
        "+" => 1,
        "-" => -1,
        _ => return None,
    };
    let (zh, zm) = (num(&zone[1..3])?, num(&zone[3..5])?);
    if h > 23 || m > 59 || s > 59 || zh > 14 || zm > 59 {
        return None;
    }
    let local = h * 3600 + m * 60 + s;
    Some((local - sign * (zh * 3600 + zm * 60)).rem_euclid(86_400) as u32)
}

#[cfg(test)]
mod tests;
