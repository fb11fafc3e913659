//! Stored entities → metal-api v1 response bodies.

use metal_api_sdk::model::{
    IpResponse, MachineResponse, NetworkConsumption, NetworkResponse, NetworkUsage,
};

use super::{Ip, Machine, Network, State, ipam, machines};

pub fn ip(ip: &Ip) -> IpResponse {
    IpResponse {
        ipaddress: ip.address.to_string(),
        allocationuuid: ip.allocationuuid.clone(),
        name: ip.name.clone(),
        description: ip.description.clone(),
        networkid: ip.networkid.clone(),
        projectid: ip.projectid.clone(),
        ip_type: ip.ip_type,
        tags: ip.tags.clone(),
        created: Some(ip.created),
        changed: Some(ip.changed),
    }
}

fn usage(state: &State, network: &Network, v4: bool) -> Option<NetworkUsage> {
    let prefixes: Vec<_> = network
        .prefixes
        .iter()
        .filter(|p| p.addr().is_ipv4() == v4)
        .collect();
    if prefixes.is_empty() {
        return None;
    }
    let mut u = NetworkUsage::default();
    for p in prefixes {
        u.available_ips = u.available_ips.saturating_add(ipam::capacity(*p));
        u.used_ips += state.ips.range(p.network()..=p.broadcast()).count() as u64;
        if network.privatesuper {
            let family = ipam::family_key(p);
            if let Some(len) = network.defaultchildprefixlength.get(family) {
                let bits = u32::from(len.saturating_sub(p.prefix_len()));
                u.available_prefixes = u
                    .available_prefixes
                    .saturating_add(1u64.checked_shl(bits).unwrap_or(u64::MAX));
            }
            u.used_prefixes += state
                .networks
                .values()
                .filter(|n| n.parentnetworkid.as_deref() == Some(&network.id))
                .flat_map(|n| n.prefixes.iter())
                .filter(|c| p.contains(*c))
                .count() as u64;
        }
    }
    Some(u)
}

pub fn network(state: &State, n: &Network) -> NetworkResponse {
    let ipv4 = usage(state, n, true);
    let ipv6 = usage(state, n, false);
    NetworkResponse {
        id: n.id.clone(),
        name: n.name.clone(),
        description: n.description.clone(),
        partitionid: n.partitionid.clone(),
        projectid: n.projectid.clone(),
        parentnetworkid: n.parentnetworkid.clone(),
        prefixes: n.prefixes.iter().map(|p| p.to_string()).collect(),
        destinationprefixes: n
            .destinationprefixes
            .iter()
            .map(|p| p.to_string())
            .collect(),
        defaultchildprefixlength: (!n.defaultchildprefixlength.is_empty())
            .then(|| n.defaultchildprefixlength.clone()),
        vrf: n.vrf,
        vrfshared: Some(n.vrfshared),
        shared: Some(n.shared),
        nat: n.nat,
        privatesuper: n.privatesuper,
        underlay: n.underlay,
        labels: n.labels.clone(),
        additional_announcable_cidrs: n.additional_announcable_cidrs.clone(),
        networktype: n.network_type().into(),
        nattype: n.nat_type().into(),
        // `usage` is the IPv4 figure, as upstream reports it; `consumption` has both.
        usage: ipv4.or(ipv6).unwrap_or_default(),
        consumption: NetworkConsumption { ipv4, ipv6 },
        created: Some(n.created),
        changed: Some(n.changed),
    }
}

pub fn machine(state: &State, m: &Machine) -> MachineResponse {
    MachineResponse {
        id: m.id.clone(),
        name: m.name.clone(),
        description: m.description.clone(),
        rackid: m.rackid.clone(),
        partition: state.partitions.get(&m.partitionid).cloned(),
        size: state.sizes.get(&m.sizeid).cloned(),
        allocation: m.allocation.clone(),
        hardware: m.hardware.clone(),
        bios: m.bios.clone(),
        state: m.state.clone(),
        ledstate: machines::led_state(),
        liveliness: m.liveliness.clone(),
        events: m.events.clone(),
        tags: m.tags.clone(),
        created: Some(m.created),
        changed: Some(m.changed),
    }
}
