//! The CloudProfile rules of the garden admission (reference §1.7, "CloudProfile"): the
//! provider config decodes strictly; firewall controller versions are classified and unique per
//! control plane; every partition is a zone of the profile; network isolation is complete and
//! well-formed; and on update a partition's isolation and DNS servers stay as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde_json::Value;

use super::field::{FieldError, Kind, Path};
use super::provider_config::{CloudProfileConfig, NetworkIsolation, RegistryMirror, decode};

const CLASSIFICATIONS: [&str; 3] = ["preview", "supported", "deprecated"];
/// More DNS servers than resolv.conf takes are refused.
const MAX_DNS_SERVERS: usize = 3;

fn config_path() -> Path {
    Path::new("spec").child("providerConfig")
}

/// The decoded provider config of `profile`, or why it has none.
pub fn config(profile: &Value) -> Result<CloudProfileConfig, FieldError> {
    let path = config_path();
    match profile.pointer("/spec/providerConfig") {
        None | Some(Value::Null) => Err(path.error(
            Kind::Required,
            "providerConfig must be set for metal cloud profiles",
        )),
        Some(raw) => decode(raw, "CloudProfileConfig", &path),
    }
}

/// Every zone name of every region of `profile`.
fn zones(profile: &Value) -> BTreeSet<String> {
    profile
        .pointer("/spec/regions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|region| region.get("zones").and_then(Value::as_array))
        .flatten()
        .filter_map(|zone| zone.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

/// The rules for a created CloudProfile (and for the new object of an update).
pub fn validate(profile: &Value) -> Vec<FieldError> {
    let config = match config(profile) {
        Ok(config) => config,
        Err(e) => return vec![e],
    };
    let zones = zones(profile);
    let mut errors = Vec::new();
    let planes = config_path().child("metalControlPlanes");
    for (name, plane) in &config.metal_control_planes {
        let plane_path = planes.key(name);
        let versions = plane_path.child("firewallControllerVersions");
        let mut seen = BTreeSet::new();
        for (i, version) in plane.firewall_controller_versions.iter().enumerate() {
            let path = versions.index(i);
            match version.classification.as_deref() {
                Some(c) if CLASSIFICATIONS.contains(&c) => {}
                other => errors.push(path.child("classification").error(
                    Kind::NotSupported,
                    format!(
                        "{:?}: supported values: \"preview\", \"supported\", \"deprecated\"",
                        other.unwrap_or_default()
                    ),
                )),
            }
            if !seen.insert(version.version.as_str()) {
                errors.push(
                    path.child("version")
                        .error(Kind::Duplicate, format!("{:?}", version.version)),
                );
            }
        }
        for (partition, spec) in &plane.partitions {
            let path = plane_path.child("partitions").key(partition);
            if !zones.contains(partition) {
                errors.push(path.error(
                    Kind::Invalid,
                    format!(
                        "partition {partition:?} is not a zone of any region of this cloud profile"
                    ),
                ));
            }
            if let Some(isolation) = &spec.network_isolation {
                validate_isolation(isolation, &path.child("networkIsolation"), &mut errors);
            }
        }
    }
    errors
}

fn validate_ips(ips: &[String], path: &Path, errors: &mut Vec<FieldError>) {
    if ips.is_empty() {
        errors.push(path.error(Kind::Required, "must not be empty"));
    }
    for (i, ip) in ips.iter().enumerate() {
        if ip.parse::<IpAddr>().is_err() {
            errors.push(
                path.index(i)
                    .error(Kind::Invalid, format!("{ip:?}: not an IP address")),
            );
        }
    }
}

fn validate_cidrs(cidrs: &[String], path: &Path, errors: &mut Vec<FieldError>) {
    if cidrs.is_empty() {
        errors.push(path.error(Kind::Required, "must not be empty"));
    }
    for (i, cidr) in cidrs.iter().enumerate() {
        if cidr.parse::<ipnet::IpNet>().is_err() {
            errors.push(
                path.index(i)
                    .error(Kind::Invalid, format!("{cidr:?}: not a CIDR")),
            );
        }
    }
}

fn validate_isolation(isolation: &NetworkIsolation, path: &Path, errors: &mut Vec<FieldError>) {
    let dns = path.child("dnsServers");
    validate_ips(&isolation.dns_servers, &dns, errors);
    if isolation.dns_servers.len() > MAX_DNS_SERVERS {
        errors.push(dns.error(
            Kind::TooMany,
            format!(
                "{}: must have at most {MAX_DNS_SERVERS} items",
                isolation.dns_servers.len()
            ),
        ));
    }
    validate_ips(&isolation.ntp_servers, &path.child("ntpServers"), errors);
    let allowed = path.child("allowedNetworks");
    validate_cidrs(
        &isolation.allowed_networks.egress,
        &allowed.child("egress"),
        errors,
    );
    validate_cidrs(
        &isolation.allowed_networks.ingress,
        &allowed.child("ingress"),
        errors,
    );
    let mirrors = path.child("registryMirrors");
    if isolation.registry_mirrors.is_empty() {
        errors.push(mirrors.error(Kind::Required, "must not be empty"));
    }
    for (i, mirror) in isolation.registry_mirrors.iter().enumerate() {
        validate_mirror(mirror, &mirrors.index(i), errors);
    }
}

fn validate_mirror(mirror: &RegistryMirror, path: &Path, errors: &mut Vec<FieldError>) {
    if mirror.name.is_empty() {
        errors.push(
            path.child("name")
                .error(Kind::Required, "must not be empty"),
        );
    }
    match url::Url::parse(&mirror.endpoint) {
        Ok(endpoint) if matches!(endpoint.scheme(), "http" | "https") => {}
        Ok(endpoint) => errors.push(path.child("endpoint").error(
            Kind::Invalid,
            format!(
                "{:?}: the scheme must be http or https, not {:?}",
                mirror.endpoint,
                endpoint.scheme()
            ),
        )),
        Err(e) => errors.push(path.child("endpoint").error(
            Kind::Invalid,
            format!("{:?}: not a URL: {e}", mirror.endpoint),
        )),
    }
    if mirror.ip.parse::<IpAddr>().is_err() {
        errors.push(
            path.child("ip")
                .error(Kind::Invalid, format!("{:?}: not an IP address", mirror.ip)),
        );
    }
    if mirror.port == 0 {
        errors.push(path.child("port").error(Kind::Invalid, "0: must not be 0"));
    }
    let of = path.child("mirrorOf");
    if mirror.mirror_of.is_empty() {
        errors.push(of.error(Kind::Required, "must not be empty"));
    }
    for (i, registry) in mirror.mirror_of.iter().enumerate() {
        // A bare host: `https://<registry>/` must parse back to exactly that host.
        let host = url::Url::parse(&format!("https://{registry}/"))
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        if registry.is_empty() || host.as_deref() != Some(registry.as_str()) {
            errors.push(of.index(i).error(
                Kind::Invalid,
                format!("{registry:?}: must be a registry host name, without scheme, port or path"),
            ));
        }
    }
}

/// The rules for an update: the new object's rules, and per partition that had network
/// isolation, the isolation kept and its DNS servers unchanged (nodes have them baked in).
pub fn validate_update(old: &Value, new: &Value) -> Vec<FieldError> {
    let mut errors = validate(new);
    let (Ok(old), Ok(new)) = (config(old), config(new)) else {
        return errors;
    };
    let isolations =
        |config: &CloudProfileConfig| -> BTreeMap<(String, String), Option<NetworkIsolation>> {
            config
                .metal_control_planes
                .iter()
                .flat_map(|(plane, cp)| {
                    cp.partitions.iter().map(move |(p, spec)| {
                        ((plane.clone(), p.clone()), spec.network_isolation.clone())
                    })
                })
                .collect()
        };
    let now = isolations(&new);
    for ((plane, partition), before) in isolations(&old) {
        let Some(before) = before else { continue };
        let path = config_path()
            .child("metalControlPlanes")
            .key(&plane)
            .child("partitions")
            .key(&partition)
            .child("networkIsolation");
        let Some(Some(after)) = now.get(&(plane.clone(), partition.clone())) else {
            errors.push(path.error(
                Kind::Forbidden,
                "network isolation cannot be removed from a partition once set",
            ));
            continue;
        };
        let dns = path.child("dnsServers");
        if before.dns_servers.len() != after.dns_servers.len() {
            errors.push(dns.error(
                Kind::Forbidden,
                format!(
                    "the number of DNS servers is immutable ({} before, {} now)",
                    before.dns_servers.len(),
                    after.dns_servers.len()
                ),
            ));
            continue;
        }
        for (i, (was, is)) in before
            .dns_servers
            .iter()
            .zip(&after.dns_servers)
            .enumerate()
        {
            if was != is {
                errors.push(dns.index(i).error(
                    Kind::Forbidden,
                    format!("immutable: was {was:?}, now {is:?}"),
                ));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests;
