//! The Shoot rules of the garden admission (reference §1.7, "Shoot"), on create and update,
//! checked against the Shoot's CloudProfile: the tenant annotation, the InfrastructureConfig on
//! its own and against the profile (partition, firewall image, size and controller version), the
//! ControlPlaneConfig's network access type, and the worker pools.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;

use super::cloudprofile;
use super::field::{FieldError, Kind, Path, not_supported};
use super::provider_config::{
    CloudProfileConfig, ControlPlaneConfig, InfrastructureConfig, MetalControlPlane,
    NetworkAccessType, Partition, decode,
};

pub const TENANT_ANNOTATION: &str = "cluster.metal-stack.io/tenant";

fn provider() -> Path {
    Path::new("spec").child("provider")
}

fn infra_path() -> Path {
    provider().child("infrastructureConfig")
}

fn tenant(shoot: &Value) -> Option<&str> {
    shoot
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(TENANT_ANNOTATION))
        .and_then(Value::as_str)
}

/// The Shoot's InfrastructureConfig, or why it has none.
pub fn infrastructure_config(shoot: &Value) -> Result<InfrastructureConfig, FieldError> {
    match shoot.pointer("/spec/provider/infrastructureConfig") {
        None | Some(Value::Null) => Err(infra_path().error(
            Kind::Required,
            "infrastructureConfig must be set for metal shoots",
        )),
        Some(raw) => decode(raw, "InfrastructureConfig", &infra_path()),
    }
}

/// The control plane and partition of `partition_id` in the profile's config.
pub fn find_partition<'a>(
    config: &'a CloudProfileConfig,
    partition_id: &str,
) -> Option<(&'a str, &'a MetalControlPlane, &'a Partition)> {
    config
        .metal_control_planes
        .iter()
        .find_map(|(name, plane)| {
            plane
                .partitions
                .get(partition_id)
                .map(|partition| (name.as_str(), plane, partition))
        })
}

/// Rule 3: the InfrastructureConfig on its own.
fn check_infrastructure(infra: &InfrastructureConfig, errors: &mut Vec<FieldError>) {
    let path = infra_path();
    let fw = path.child("firewall");
    for (value, path) in [
        (&infra.project_id, path.child("projectID")),
        (&infra.partition_id, path.child("partitionID")),
        (&infra.firewall.image, fw.child("image")),
        (&infra.firewall.size, fw.child("size")),
    ] {
        if value.is_empty() {
            errors.push(path.error(Kind::Required, "must not be empty"));
        }
    }
    let networks = &infra.firewall.networks;
    for (i, network) in networks.iter().enumerate() {
        if network.is_empty() {
            errors.push(
                fw.child("networks")
                    .index(i)
                    .error(Kind::Invalid, "must not be empty"),
            );
        }
    }
    let network_of = |id: &str, path: Path, errors: &mut Vec<FieldError>| {
        if id.is_empty() {
            errors.push(path.error(Kind::Required, "must not be empty"));
        } else if !networks.iter().any(|n| n == id) {
            errors.push(path.error(
                Kind::Invalid,
                format!("{id:?}: not one of the firewall's networks"),
            ));
        }
    };
    for (i, limit) in infra.firewall.rate_limits.iter().enumerate() {
        network_of(
            &limit.network_id,
            fw.child("rateLimits").index(i).child("networkID"),
            errors,
        );
    }
    for (i, rule) in infra.firewall.egress_rules.iter().enumerate() {
        let path = fw.child("egressRules").index(i);
        network_of(&rule.network_id, path.child("networkID"), errors);
        if rule.ips.is_empty() {
            errors.push(path.child("ips").error(Kind::Required, "must not be empty"));
        }
        for (j, ip) in rule.ips.iter().enumerate() {
            if ip.parse::<IpAddr>().is_err() {
                errors.push(
                    path.child("ips")
                        .index(j)
                        .error(Kind::Invalid, format!("{ip:?}: not an IP address")),
                );
            }
        }
    }
}

/// Whether `wanted` ("" or `auto`: the latest supported) names a controller version of `plane`.
fn controller_version_resolves(plane: &MetalControlPlane, wanted: &str) -> bool {
    let versions = &plane.firewall_controller_versions;
    if wanted.is_empty() || wanted == "auto" {
        versions.iter().any(|v| {
            v.classification.as_deref() == Some("supported")
                && semver::Version::parse(v.version.trim_start_matches('v')).is_ok()
        })
    } else {
        versions.iter().any(|v| v.version == wanted)
    }
}

/// Image, size and controller version against the partition's control plane (rules 4 and 5).
fn check_firewall_offer(
    infra: &InfrastructureConfig,
    plane: &MetalControlPlane,
    partition: &Partition,
    errors: &mut Vec<FieldError>,
) {
    let fw = infra_path().child("firewall");
    if infra.firewall.networks.is_empty() {
        errors.push(
            fw.child("networks")
                .error(Kind::Required, "at least one network must be given"),
        );
    }
    let image = &infra.firewall.image;
    if !plane.firewall_images.is_empty() && !plane.firewall_images.contains(image) {
        errors.push(fw.child("image").error(
            Kind::NotSupported,
            not_supported(image, &plane.firewall_images),
        ));
    }
    let size = &infra.firewall.size;
    if !partition.firewall_types.is_empty() && !partition.firewall_types.contains(size) {
        errors.push(fw.child("size").error(
            Kind::NotSupported,
            not_supported(size, &partition.firewall_types),
        ));
    }
    let version = &infra.firewall.controller_version;
    if !controller_version_resolves(plane, version) {
        errors.push(fw.child("controllerVersion").error(
            Kind::Invalid,
            if version.is_empty() || version == "auto" {
                format!(
                    "{version:?}: the cloud profile offers no supported firewall controller version"
                )
            } else {
                format!("{version:?}: not a firewall controller version of the cloud profile")
            },
        ));
    }
}

/// Rule 6: the ControlPlaneConfig decodes, and restricted or forbidden network access needs a
/// partition with network isolation.
fn check_control_plane(
    shoot: &Value,
    partition_id: &str,
    config: &CloudProfileConfig,
    errors: &mut Vec<FieldError>,
) {
    let path = provider().child("controlPlaneConfig");
    let cp = match shoot.pointer("/spec/provider/controlPlaneConfig") {
        None | Some(Value::Null) => ControlPlaneConfig::default(),
        Some(raw) => match decode::<ControlPlaneConfig>(raw, "ControlPlaneConfig", &path) {
            Ok(cp) => cp,
            Err(e) => return errors.push(e),
        },
    };
    let Some((_, _, partition)) = find_partition(config, partition_id) else {
        return errors.push(infra_path().child("partitionID").error(
            Kind::Invalid,
            format!("missing partition with name {partition_id:?} in the cloud profile"),
        ));
    };
    if matches!(
        cp.network_access_type,
        Some(NetworkAccessType::Restricted | NetworkAccessType::Forbidden)
    ) && partition.network_isolation.is_none()
    {
        errors.push(path.child("networkAccessType").error(
            Kind::Forbidden,
            format!("partition {partition_id:?} has no network isolation in the cloud profile"),
        ));
    }
}

/// The image versions the profile offers: (name, version).
fn offered_images(profile: &Value) -> BTreeSet<(String, String)> {
    let images = profile
        .pointer("/spec/machineImages")
        .and_then(Value::as_array);
    images
        .into_iter()
        .flatten()
        .flat_map(|image| {
            let name = image
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            image
                .get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(move |v| {
                    v.get("version")
                        .and_then(Value::as_str)
                        .map(|version| (name.to_string(), version.to_string()))
                })
        })
        .collect()
}

/// Rule 7: worker pools have no volume and no zones, and an image the profile offers.
fn check_workers(shoot: &Value, profile: &Value, errors: &mut Vec<FieldError>) {
    let offered = offered_images(profile);
    let workers = shoot
        .pointer("/spec/provider/workers")
        .and_then(Value::as_array);
    for (i, worker) in workers.into_iter().flatten().enumerate() {
        let path = provider().child("workers").index(i);
        if worker.get("volume").is_some_and(|v| !v.is_null()) {
            errors.push(path.child("volume").error(
                Kind::Forbidden,
                "volumes are not supported: machines bring their own disks",
            ));
        }
        if worker
            .get("zones")
            .and_then(Value::as_array)
            .is_some_and(|z| !z.is_empty())
        {
            errors.push(path.child("zones").error(
                Kind::Forbidden,
                "must be empty: the partition comes from the infrastructureConfig",
            ));
        }
        let image = worker.pointer("/machine/image");
        let name = image
            .and_then(|i| i.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let version = image
            .and_then(|i| i.get("version"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !offered.contains(&(name.to_string(), version.to_string())) {
            errors.push(path.child("machine").child("image").error(
                Kind::NotSupported,
                format!("{name}-{version}: not a machine image version of the cloud profile"),
            ));
        }
    }
}

/// The shoot's region's zones.
fn region_zones(shoot: &Value, profile: &Value) -> BTreeSet<String> {
    let region = shoot
        .pointer("/spec/region")
        .and_then(Value::as_str)
        .unwrap_or_default();
    profile
        .pointer("/spec/regions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|r| r.get("name").and_then(Value::as_str) == Some(region))
        .filter_map(|r| r.get("zones").and_then(Value::as_array))
        .flatten()
        .filter_map(|z| z.get("name").and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn tenant_path() -> Path {
    Path::new("metadata")
        .child("annotations")
        .key(TENANT_ANNOTATION)
}

/// Rule 1: the tenant annotation is set and, on update (`old`), unchanged.
fn check_tenant(old: Option<&Value>, new: &Value, errors: &mut Vec<FieldError>) {
    match (old.and_then(tenant), tenant(new)) {
        (_, None | Some("")) => {
            errors.push(tenant_path().error(Kind::Required, "the tenant annotation must be set"))
        }
        (Some(was), Some(is)) if was != is => errors.push(tenant_path().error(
            Kind::Forbidden,
            format!("immutable: was {was:?}, now {is:?}"),
        )),
        _ => {}
    }
}

/// Rules 2 and 3, and the profile's config: `None`, the reason in `errors`, when either does
/// not decode.
fn decode_both(
    shoot: &Value,
    profile: &Value,
    errors: &mut Vec<FieldError>,
) -> Option<(InfrastructureConfig, CloudProfileConfig)> {
    let infra = infrastructure_config(shoot)
        .map_err(|e| errors.push(e))
        .ok()?;
    check_infrastructure(&infra, errors);
    let config = cloudprofile::config(profile)
        .map_err(|e| errors.push(Path::new("cloudProfile").error(Kind::Invalid, e.to_string())))
        .ok()?;
    Some((infra, config))
}

/// The rules for a created Shoot.
pub fn validate_create(shoot: &Value, profile: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_tenant(None, shoot, &mut errors);
    if let Some((infra, config)) = decode_both(shoot, profile, &mut errors)
        && !infra.partition_id.is_empty()
    {
        if !region_zones(shoot, profile).contains(&infra.partition_id) {
            errors.push(infra_path().child("partitionID").error(
                Kind::Invalid,
                format!("{:?}: not a zone of the shoot's region", infra.partition_id),
            ));
        }
        if let Some((_, plane, partition)) = find_partition(&config, &infra.partition_id) {
            check_firewall_offer(&infra, plane, partition, &mut errors);
        }
        check_control_plane(shoot, &infra.partition_id, &config, &mut errors);
    }
    check_workers(shoot, profile, &mut errors);
    errors
}

/// The rules for an updated Shoot: the tenant stays, and when the InfrastructureConfig changed,
/// its project and partition stay and its firewall is checked against the profile again.
pub fn validate_update(old: &Value, new: &Value, profile: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_tenant(Some(old), new, &mut errors);
    if let Some((infra, config)) = decode_both(new, profile, &mut errors) {
        check_infrastructure_update(old, new, &infra, &config, &mut errors);
    }
    check_workers(new, profile, &mut errors);
    errors
}

/// Rules 5 and 6 on update.
fn check_infrastructure_update(
    old: &Value,
    new: &Value,
    infra: &InfrastructureConfig,
    config: &CloudProfileConfig,
    errors: &mut Vec<FieldError>,
) {
    let changed = old.pointer("/spec/provider/infrastructureConfig")
        != new.pointer("/spec/provider/infrastructureConfig");
    if changed && let Ok(before) = infrastructure_config(old) {
        for (was, is, name) in [
            (&before.project_id, &infra.project_id, "projectID"),
            (&before.partition_id, &infra.partition_id, "partitionID"),
        ] {
            if was != is {
                errors.push(infra_path().child(name).error(
                    Kind::Forbidden,
                    format!("immutable: was {was:?}, now {is:?}"),
                ));
            }
        }
        if let Some((_, plane, partition)) = find_partition(config, &infra.partition_id) {
            check_firewall_offer(infra, plane, partition, errors);
        }
    }
    if !infra.partition_id.is_empty() {
        check_control_plane(new, &infra.partition_id, config, errors);
    }
}

#[cfg(test)]
mod tests;
