//! Machine and firewall allocation, update, release and registration (metal-api
//! `/v1/machine`, `/v1/firewall`). The whole allocation — machine pick, IP acquisition,
//! tags — is one state change, so it is persisted atomically or not at all.

use std::collections::{BTreeMap, BTreeSet};

use metal_api_sdk::model::{
    IpAllocateRequest, LedState, MachineAllocateRequest, MachineAllocation, MachineNetwork,
    MachineProvisioningEvent, MachineRecentProvisioningEvents, MachineRegisterRequest, MachineRole,
    MachineState, MachineUpdateRequest,
};
use metal_api_sdk::tags;

use super::ips::{self, Wanted};
use super::{ApiError, ApiResult, Ctx, Machine, Network, State, masterdata};

/// ASNs of private primary networks are taken from here upwards, one per machine.
pub const ASN_BASE: i64 = 4_200_000_001;

pub fn get(state: &State, id: &str) -> ApiResult<Machine> {
    state
        .machines
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("machine with id {id:?} not found")))
}

/// Adds a machine to the inventory (POST /v1/machine/register, our extension: upstream
/// machines register themselves over gRPC from metal-hammer).
pub fn register(
    state: &mut State,
    ctx: &mut Ctx,
    req: &MachineRegisterRequest,
) -> ApiResult<Machine> {
    if req.id.is_empty() {
        return Err(ApiError::bad_request("machine id should not be empty"));
    }
    if state.machines.contains_key(&req.id) {
        return Err(ApiError::conflict(format!(
            "machine with id {:?} already exists",
            req.id
        )));
    }
    masterdata::partition(state, &req.partitionid)?;
    masterdata::size(state, &req.sizeid)?;
    let machine = Machine {
        id: req.id.clone(),
        name: req.name.clone(),
        description: None,
        partitionid: req.partitionid.clone(),
        sizeid: req.sizeid.clone(),
        rackid: req.rackid.clone(),
        chassis: req.chassis.clone(),
        hardware: req.hardware.clone(),
        bios: req.bios.clone(),
        state: MachineState::default(),
        liveliness: "Alive".into(),
        events: events_with(ctx, &[], "Waiting"),
        tags: Vec::new(),
        allocation: None,
        created: ctx.now,
        changed: ctx.now,
        rev: 1,
    };
    state.put_machine(machine.clone());
    Ok(machine)
}

fn events_with(
    ctx: &Ctx,
    log: &[MachineProvisioningEvent],
    event: &str,
) -> MachineRecentProvisioningEvents {
    let mut log = log.to_vec();
    // Newest first, as upstream reports them.
    log.insert(
        0,
        MachineProvisioningEvent {
            event: event.into(),
            message: None,
            time: Some(ctx.now),
        },
    );
    MachineRecentProvisioningEvents {
        log,
        last_event_time: Some(ctx.now),
        last_error_event: None,
        crash_loop: false,
        failed_machine_reclaim: false,
    }
}

/// A validated network of an allocation request.
struct Placement {
    network: Network,
    autoacquire: bool,
}

fn validate_ssh_keys(keys: &[String]) -> ApiResult<()> {
    const TYPES: [&str; 6] = [
        "ssh-rsa",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
    ];
    for key in keys {
        let mut parts = key.split_whitespace();
        let valid = matches!((parts.next(), parts.next()), (Some(t), Some(body))
            if TYPES.contains(&t) && body.len() >= 16 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)));
        if !valid {
            return Err(ApiError::bad_request(format!(
                "invalid public SSH key: {key:?}"
            )));
        }
    }
    Ok(())
}

/// Allocates a machine (role machine) or firewall (role firewall).
pub fn allocate(
    state: &mut State,
    ctx: &mut Ctx,
    req: &MachineAllocateRequest,
    role: MachineRole,
    creator: &str,
) -> ApiResult<Machine> {
    // 1. the request
    if req.projectid.is_empty() {
        return Err(ApiError::bad_request("projectid should not be empty"));
    }
    let uuid = req.uuid.clone().filter(|u| !u.is_empty());
    if uuid.is_none() && (req.partitionid.is_empty() || req.sizeid.is_empty()) {
        return Err(ApiError::bad_request(
            "when no uuid is given, a partition and size is required",
        ));
    }
    if req.imageid.is_empty() {
        return Err(ApiError::bad_request("imageid should not be empty"));
    }
    let project = masterdata::project(state, &req.projectid)?;
    let image = masterdata::latest_image(state, &req.imageid)
        .or_else(|_| masterdata::image(state, &req.imageid))?;
    let feature = match role {
        MachineRole::Machine => "machine",
        MachineRole::Firewall => "firewall",
    };
    if !image.features.iter().any(|f| f == feature) {
        return Err(ApiError::bad_request(format!(
            "given image {} is not usable for a {feature}, supported features: {:?}",
            image.id, image.features
        )));
    }
    validate_ssh_keys(&req.ssh_pub_keys)?;
    let requested = req.networks.clone().unwrap_or_default();
    let explicit_ips = req.ips.clone().unwrap_or_default();
    if requested.is_empty() && explicit_ips.is_empty() {
        return Err(ApiError::bad_request(
            "no networks given, at least one network is required",
        ));
    }

    // 2. the machine: the given one, or a free, alive one of the partition and size
    let machine = match &uuid {
        Some(id) => {
            let m = get(state, id)?;
            if m.allocation.is_some() {
                return Err(ApiError::unprocessable(format!(
                    "machine {id} is already allocated"
                )));
            }
            if !req.partitionid.is_empty() && m.partitionid != req.partitionid {
                return Err(ApiError::bad_request(format!(
                    "machine {id} is not in partition {}",
                    req.partitionid
                )));
            }
            m
        }
        None => {
            masterdata::partition(state, &req.partitionid)?;
            masterdata::size(state, &req.sizeid)?;
            pick_machine(
                state,
                ctx,
                &req.partitionid,
                &req.sizeid,
                &req.projectid,
                req.placement_tags.as_deref().unwrap_or_default(),
            )?
        }
    };
    let partition = masterdata::partition(state, &machine.partitionid)?;

    // 3. the networks
    let placements = resolve_networks(
        state,
        &machine,
        role,
        &req.projectid,
        &requested,
        &explicit_ips,
    )?;
    for address in &explicit_ips {
        let ip = ips::get(state, address)
            .map_err(|_| ApiError::bad_request(format!("ip {address:?} does not exist")))?;
        if ip.projectid != req.projectid {
            return Err(ApiError::bad_request(format!(
                "ip {address} belongs to another project"
            )));
        }
        if ips::scope(&ip.projectid, &ip.tags) == ips::Scope::Machine {
            return Err(ApiError::bad_request(format!(
                "ip {address} is already used by a machine"
            )));
        }
    }
    let asn = next_asn(state);

    // Everything is validated; from here on the state changes. IP exhaustion can still fail
    // the operation; the caller then rolls the state back to before it (`State::rollback`).
    let name = req
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| machine.id.clone());
    let machine_tag = tags::tag(tags::MACHINE_ID, &machine.id);
    let families_needed: usize = placements
        .iter()
        .filter(|p| p.autoacquire)
        .map(|p| families(&p.network).len())
        .sum();
    let mut acquired: Vec<(String, std::net::IpAddr)> = Vec::with_capacity(families_needed);
    for p in placements.iter().filter(|p| p.autoacquire) {
        for af in families(&p.network) {
            let ip = ips::allocate(
                state,
                ctx,
                &IpAllocateRequest {
                    name: Some(name.clone()),
                    description: Some("autoassigned".into()),
                    networkid: p.network.id.clone(),
                    projectid: req.projectid.clone(),
                    ip_type: Some("ephemeral".into()),
                    tags: Some(vec![machine_tag.clone()]),
                    machineid: None,
                    addressfamily: Some(af),
                },
                Wanted::Any,
            )?;
            acquired.push((p.network.id.clone(), ip.address));
        }
    }
    for address in &explicit_ips {
        let mut ip = ips::get(state, address)?;
        ip.tags = super::dedup_tags(ip.tags.into_iter().chain([machine_tag.clone()]));
        ip.changed = ctx.now;
        ip.rev += 1;
        acquired.push((ip.networkid.clone(), ip.address));
        state.put_ip(ip);
    }

    let mut networks: Vec<MachineNetwork> = Vec::new();
    let mut primary_done = false;
    for p in &placements {
        let n = &p.network;
        let ips: Vec<String> = acquired
            .iter()
            .filter(|(net, _)| *net == n.id)
            .map(|(_, a)| a.to_string())
            .collect();
        let networktype = if n.underlay {
            "underlay"
        } else if n.is_private() && !primary_done {
            primary_done = true;
            if n.shared {
                "privateprimaryshared"
            } else {
                "privateprimaryunshared"
            }
        } else if n.is_private() {
            "privatesecondaryshared"
        } else {
            "external"
        };
        networks.push(MachineNetwork {
            networkid: n.id.clone(),
            prefixes: n.prefixes.iter().map(|p| p.to_string()).collect(),
            ips,
            destinationprefixes: n
                .destinationprefixes
                .iter()
                .map(|p| p.to_string())
                .collect(),
            vrf: n.vrf.unwrap_or(0),
            asn: if n.is_private() && networktype.starts_with("privateprimary") {
                asn
            } else {
                0
            },
            nat: n.nat,
            private: n.is_private(),
            underlay: n.underlay,
            projectid: n.projectid.clone().unwrap_or_default(),
            networktype: networktype.into(),
            networktypev2: n.network_type().into(),
            nattypev2: n.nat_type().into(),
        });
    }

    let allocation = MachineAllocation {
        allocationuuid: ctx.entropy.uuid(),
        name: name.clone(),
        hostname: req
            .hostname
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "metal".into()),
        description: req.description.clone(),
        project: project.meta.id.clone().unwrap_or_default(),
        role,
        image: Some(image),
        user_data: req.user_data.clone(),
        ssh_pub_keys: req.ssh_pub_keys.clone(),
        networks,
        dns_servers: req
            .dns_servers
            .clone()
            .unwrap_or_else(|| partition.dns_servers.clone()),
        ntp_servers: req
            .ntp_servers
            .clone()
            .unwrap_or_else(|| partition.ntp_servers.clone()),
        // The embedded metal-api provisions instantly: there is no installer to wait for.
        succeeded: true,
        reinstall: false,
        creator: creator.to_string(),
        created: ctx.now,
        firewall_rules: req
            .firewall_rules
            .clone()
            .filter(|_| role == MachineRole::Firewall),
    };
    let mut new = machine.clone();
    new.tags = machine_tags(&machine, req.tags.as_deref().unwrap_or_default(), asn);
    new.description = req.description.clone().or(machine.description.clone());
    new.name = Some(name);
    new.allocation = Some(allocation);
    let log = events_with(ctx, &machine.events.log, "Installing").log;
    new.events = events_with(ctx, &log, "Phoned Home");
    new.changed = ctx.now;
    new.rev = machine.rev + 1;
    state.put_machine(new.clone());
    Ok(new)
}

/// User tags (a `k=v` tag replaces an earlier one with the same key) plus the system labels.
fn machine_tags(machine: &Machine, user: &[String], asn: i64) -> Vec<String> {
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    let mut plain: BTreeSet<String> = BTreeSet::new();
    for t in user {
        match t.split_once('=') {
            Some((k, _)) => {
                by_key.insert(k.to_string(), t.clone());
            }
            None => {
                plain.insert(t.clone());
            }
        }
    }
    by_key.insert(
        tags::MACHINE_NETWORK_PRIMARY_ASN.into(),
        tags::tag(tags::MACHINE_NETWORK_PRIMARY_ASN, &asn.to_string()),
    );
    if let Some(rack) = &machine.rackid {
        by_key.insert(
            tags::MACHINE_RACK.into(),
            tags::tag(tags::MACHINE_RACK, rack),
        );
    }
    if let Some(chassis) = &machine.chassis {
        by_key.insert(
            tags::MACHINE_CHASSIS.into(),
            tags::tag(tags::MACHINE_CHASSIS, chassis),
        );
    }
    by_key.into_values().chain(plain).collect()
}

fn primary_asn(machine: &Machine) -> Option<i64> {
    machine.tags.iter().find_map(|t| {
        t.strip_prefix(tags::MACHINE_NETWORK_PRIMARY_ASN)?
            .strip_prefix('=')?
            .parse()
            .ok()
    })
}

/// The lowest ASN not used by an allocated machine.
fn next_asn(state: &State) -> i64 {
    let used: BTreeSet<i64> = state
        .machines
        .values()
        .filter(|m| m.allocation.is_some())
        .filter_map(primary_asn)
        .collect();
    (ASN_BASE..)
        .find(|a| !used.contains(a))
        .expect("ASN space is not exhausted")
}

fn families(network: &Network) -> Vec<metal_api_sdk::model::AddressFamily> {
    use metal_api_sdk::model::AddressFamily::{IPv4, IPv6};
    let mut out = Vec::new();
    if network.prefixes.iter().any(|p| p.addr().is_ipv4()) {
        out.push(IPv4);
    }
    if network.prefixes.iter().any(|p| p.addr().is_ipv6()) {
        out.push(IPv6);
    }
    out
}

/// Picks a free machine: unallocated, available state, alive, in partition and size; spread
/// over racks by placement tags (fewest machines of the project carrying all of them), then
/// a random one among the best.
fn pick_machine(
    state: &State,
    ctx: &mut Ctx,
    partition: &str,
    size: &str,
    project: &str,
    placement: &[String],
) -> ApiResult<Machine> {
    let candidates: Vec<&Machine> = state
        .machines
        .values()
        .filter(|m| {
            m.allocation.is_none()
                && m.partitionid == partition
                && m.sizeid == size
                && m.state.value.is_empty()
                && m.liveliness == "Alive"
        })
        .collect();
    if candidates.is_empty() {
        return Err(ApiError::unprocessable("no machine available"));
    }
    let mut per_rack: BTreeMap<Option<&str>, usize> = BTreeMap::new();
    if !placement.is_empty() {
        for m in state.machines.values() {
            let owned = m.allocation.as_ref().is_some_and(|a| a.project == project);
            if owned && m.partitionid == partition && super::has_all_tags(&m.tags, placement) {
                *per_rack.entry(m.rackid.as_deref()).or_default() += 1;
            }
        }
    }
    let load = |m: &Machine| per_rack.get(&m.rackid.as_deref()).copied().unwrap_or(0);
    let best = candidates.iter().map(|m| load(m)).min().unwrap_or(0);
    let best: Vec<&Machine> = candidates.into_iter().filter(|m| load(m) == best).collect();
    Ok(best[ctx.entropy.pick(best.len())].clone())
}

fn resolve_networks(
    state: &State,
    machine: &Machine,
    role: MachineRole,
    project: &str,
    requested: &[metal_api_sdk::model::MachineAllocationNetwork],
    explicit_ips: &[String],
) -> ApiResult<Vec<Placement>> {
    let mut placements: Vec<Placement> = Vec::new();
    for r in requested {
        let network = super::networks::get(state, &r.networkid)?;
        if network.privatesuper {
            return Err(ApiError::bad_request(format!(
                "private super network {} must not be given",
                network.id
            )));
        }
        if network.underlay && role == MachineRole::Machine {
            return Err(ApiError::bad_request(format!(
                "underlay network {} is not allowed for machines",
                network.id
            )));
        }
        if network.is_private() && !network.shared && network.projectid.as_deref() != Some(project)
        {
            return Err(ApiError::bad_request(format!(
                "the given private network {} does not belong to the project {project}",
                network.id
            )));
        }
        if let Some(p) = &network.partitionid
            && *p != machine.partitionid
        {
            return Err(ApiError::bad_request(format!(
                "network {} is in partition {p}, the machine in {}",
                network.id, machine.partitionid
            )));
        }
        if !r.autoacquire
            && !explicit_ips.iter().any(|a| {
                network
                    .prefixes
                    .iter()
                    .any(|p| a.parse::<std::net::IpAddr>().is_ok_and(|a| p.contains(&a)))
            })
        {
            return Err(ApiError::bad_request(format!(
                "network {} has autoacquire disabled but no ip of it was given",
                network.id
            )));
        }
        if placements.iter().any(|p| p.network.id == network.id) {
            return Err(ApiError::bad_request(format!(
                "network {} given twice",
                network.id
            )));
        }
        placements.push(Placement {
            network,
            autoacquire: r.autoacquire,
        });
    }
    for address in explicit_ips {
        let ip = ips::get(state, address)
            .map_err(|_| ApiError::bad_request(format!("ip {address:?} does not exist")))?;
        if !placements.iter().any(|p| p.network.id == ip.networkid) {
            let network = super::networks::get(state, &ip.networkid)?;
            placements.push(Placement {
                network,
                autoacquire: false,
            });
        }
    }
    let private = placements.iter().filter(|p| p.network.is_private()).count();
    let unshared_private = placements
        .iter()
        .filter(|p| p.network.is_private() && !p.network.shared)
        .count();
    match role {
        MachineRole::Machine if private != 1 => {
            return Err(ApiError::bad_request(format!(
                "a machine needs exactly one private network, {private} given"
            )));
        }
        MachineRole::Firewall if unshared_private > 1 => {
            return Err(ApiError::bad_request(
                "a firewall can have only one unshared private network",
            ));
        }
        _ => {}
    }
    // The primary private network goes first so it is reported as privateprimary*.
    placements.sort_by_key(|p| (!p.network.is_private(), p.network.shared));
    if role == MachineRole::Firewall
        && !placements.iter().any(|p| p.network.underlay)
        && let Some(underlay) = state
            .networks
            .values()
            .find(|n| n.underlay && n.partitionid.as_deref() == Some(machine.partitionid.as_str()))
    {
        placements.push(Placement {
            network: underlay.clone(),
            autoacquire: true,
        });
    }
    Ok(placements)
}

/// Admin update (POST /v1/machine): description when given, tags and SSH keys only when non-empty.
pub fn update(
    state: &mut State,
    ctx: &mut Ctx,
    req: &MachineUpdateRequest,
    expected_rev: Option<u64>,
) -> ApiResult<Machine> {
    let old = get(state, &req.id)?;
    if expected_rev.is_some_and(|rev| rev != old.rev) {
        return Err(ApiError::changed_concurrently());
    }
    let Some(mut allocation) = old.allocation.clone() else {
        return Err(ApiError::bad_request(format!(
            "only allocated machines can be updated, {} is not",
            old.id
        )));
    };
    let mut new = old.clone();
    if let Some(description) = &req.description {
        new.description = Some(description.clone());
        allocation.description = Some(description.clone());
    }
    if let Some(keys) = req.ssh_pub_keys.as_ref().filter(|k| !k.is_empty()) {
        validate_ssh_keys(keys)?;
        allocation.ssh_pub_keys = keys.clone();
    }
    if let Some(tags) = req.tags.as_ref().filter(|t| !t.is_empty()) {
        new.tags = machine_tags(
            &old,
            tags,
            primary_asn(&old).unwrap_or_else(|| next_asn(state)),
        );
    }
    new.allocation = Some(allocation);
    new.changed = ctx.now;
    new.rev = old.rev + 1;
    state.put_machine(new.clone());
    Ok(new)
}

/// Frees a machine or firewall (DELETE /v1/machine/{id}/free): clears the allocation and
/// tags, and releases its IPs (ephemeral ones are deleted, static ones lose the machine tag).
pub fn free(state: &mut State, ctx: &mut Ctx, id: &str) -> ApiResult<Machine> {
    let old = get(state, id)?;
    if old.state.value == "LOCKED" {
        return Err(ApiError::unprocessable(format!("machine {id} is locked")));
    }
    let machine_tag = tags::tag(tags::MACHINE_ID, id);
    let tagged: Vec<_> = state
        .ips
        .values()
        .filter(|ip| ip.tags.contains(&machine_tag))
        .cloned()
        .collect();
    for mut ip in tagged {
        ip.tags.retain(|t| *t != machine_tag);
        let still_machine = ip.tags.iter().any(|t| t.starts_with(tags::MACHINE_ID));
        if ip.ip_type == metal_api_sdk::model::IpType::Ephemeral && !still_machine {
            state.delete_ip(ip.address);
        } else {
            ip.changed = ctx.now;
            ip.rev += 1;
            state.put_ip(ip);
        }
    }
    let mut new = old.clone();
    new.allocation = None;
    new.tags = Vec::new();
    new.events = events_with(ctx, &old.events.log, "Machine Reclaim");
    new.events = events_with(ctx, &new.events.log, "Waiting");
    new.changed = ctx.now;
    new.rev = old.rev + 1;
    state.put_machine(new.clone());
    Ok(new)
}

/// The LED state reported for every machine (no chassis LEDs here).
pub fn led_state() -> LedState {
    LedState {
        value: "LED-OFF".into(),
        description: String::new(),
    }
}

#[cfg(test)]
mod tests;
