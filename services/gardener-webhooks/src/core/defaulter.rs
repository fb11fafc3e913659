//! The Shoot defaulter of the garden admission (`/webhooks/mutate`, reference §1.7 "Shoot
//! mutator"), on create and update alike, as upstream's mutator runs for both.
//!
//! It works on the Shoot's JSON and only ever inserts: a value the user set is never touched, and
//! the InfrastructureConfig keeps its apiVersion, kind and every field, gaining only the
//! defaulted firewall image and size. So an admission patch (`json_patch::diff`) holds exactly
//! the defaults.
//!
//! Where upstream differs: a Shoot being deleted is left alone (Gardener refuses any spec change
//! once the deletion timestamp is set, and an error would block the finalizer's removal), and a
//! value of the wrong JSON type on the way to a default is a field error, not a 400 from decoding.

mod config;
mod image;

pub use config::Defaults;
pub use image::latest_image;

use serde_json::{Map, Value, json};

use super::cloudprofile;
use super::field::{FieldError, Kind, Path};
use super::shoot::{find_partition, infrastructure_config};

/// `spec.provider.type` of the Shoots this defaulter is for.
const METAL: &str = "metal";
const CALICO_API_VERSION: &str = "calico.networking.extensions.gardener.cloud/v1alpha1";
const CILIUM_API_VERSION: &str = "cilium.networking.extensions.gardener.cloud/v1alpha1";

type Object = Map<String, Value>;

fn spec_path() -> Path {
    Path::new("spec")
}

fn infra_path() -> Path {
    spec_path().child("provider").child("infrastructureConfig")
}

/// The defaulted Shoot. `shoot` and `profile` are the Shoot and its CloudProfile as JSON
/// (`profile` may be a CloudProfile or anything with `spec` of a CloudProfile, e.g. a
/// NamespacedCloudProfile's `status.cloudProfileSpec` wrapped as `{"spec": ...}`).
/// Unchanged when there is nothing to default. Err: the field errors that make defaulting impossible.
pub fn default_shoot(
    shoot: &Value,
    profile: &Value,
    defaults: &Defaults,
) -> Result<Value, Vec<FieldError>> {
    if !is_metal(shoot) || is_being_deleted(shoot) {
        return Ok(shoot.clone());
    }
    // Upstream finds the partition before defaulting anything, so without it nothing is defaulted.
    let offer = firewall_offer(shoot, profile)?;
    let mut defaulted = shoot.clone();
    let Some(spec) = defaulted.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(shoot.clone());
    };
    let mut errors = Vec::new();
    for step in [
        default_kubernetes(spec, defaults),
        default_infrastructure(spec, &offer),
        default_networking(spec, defaults),
    ] {
        if let Err(e) = step
            && !errors.contains(&e)
        {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(defaulted)
    } else {
        Err(errors)
    }
}

fn is_metal(shoot: &Value) -> bool {
    shoot.pointer("/spec/provider/type").and_then(Value::as_str) == Some(METAL)
}

fn is_being_deleted(shoot: &Value) -> bool {
    is_set(shoot.pointer("/metadata/deletionTimestamp"))
}

/// Present and not null: what a Go pointer field decodes as non-nil.
fn is_set(value: Option<&Value>) -> bool {
    !matches!(value, None | Some(Value::Null))
}

/// Unset, or the empty string Go's zero value stands for.
fn is_unset_or_empty(value: Option<&Value>) -> bool {
    !is_set(value) || value.and_then(Value::as_str) == Some("")
}

fn set_if_absent(object: &mut Object, key: &str, value: Value) {
    if !is_set(object.get(key)) {
        object.insert(key.to_string(), value);
    }
}

/// The object at `key` of `parent` (at `path`), created when absent or null.
fn object<'a>(
    parent: &'a mut Object,
    key: &str,
    path: &Path,
) -> Result<&'a mut Object, FieldError> {
    let slot = parent.entry(key).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    match slot {
        Value::Object(object) => Ok(object),
        _ => Err(path.child(key).error(Kind::Invalid, "must be an object")),
    }
}

/// What the profile offers for the Shoot's firewall: the latest image of the partition's control
/// plane and the partition's first firewall type.
struct FirewallOffer {
    image: Option<String>,
    size: Option<String>,
}

fn firewall_offer(shoot: &Value, profile: &Value) -> Result<FirewallOffer, Vec<FieldError>> {
    let (infra, config) = match (
        infrastructure_config(shoot),
        cloudprofile::config(profile).map_err(of_cloud_profile),
    ) {
        (Ok(infra), Ok(config)) => (infra, config),
        (infra, config) => return Err(infra.err().into_iter().chain(config.err()).collect()),
    };
    let path = infra_path().child("partitionID");
    if infra.partition_id.is_empty() {
        return Err(vec![path.error(
            Kind::Required,
            "the partition decides the firewall's default image and size",
        )]);
    }
    let Some((_, plane, partition)) = find_partition(&config, &infra.partition_id) else {
        return Err(vec![path.error(
            Kind::NotFound,
            format!(
                "{:?}: no metal control plane of the cloud profile has this partition",
                infra.partition_id
            ),
        )]);
    };
    Ok(FirewallOffer {
        image: latest_image(&plane.firewall_images).map(str::to_string),
        size: partition.firewall_types.first().cloned(),
    })
}

/// An error in the CloudProfile, named as a field of the profile rather than of the Shoot.
fn of_cloud_profile(error: FieldError) -> FieldError {
    FieldError {
        path: format!("cloudProfile.{}", error.path),
        ..error
    }
}

/// `kubeControllerManager.nodeCIDRMaskSize` and `kubelet.maxPods`.
fn default_kubernetes(spec: &mut Object, defaults: &Defaults) -> Result<(), FieldError> {
    let path = spec_path().child("kubernetes");
    let kubernetes = object(spec, "kubernetes", &spec_path())?;
    set_if_absent(
        object(kubernetes, "kubeControllerManager", &path)?,
        "nodeCIDRMaskSize",
        json!(defaults.node_cidr_mask_size),
    );
    set_if_absent(
        object(kubernetes, "kubelet", &path)?,
        "maxPods",
        json!(defaults.max_pods),
    );
    Ok(())
}

/// An empty firewall image or size from the offer, into the InfrastructureConfig as the user
/// wrote it; `firewall` is only created when there is something to put in.
fn default_infrastructure(spec: &mut Object, offer: &FirewallOffer) -> Result<(), FieldError> {
    let Some(infra) = spec
        .get_mut("provider")
        .and_then(|provider| provider.get_mut("infrastructureConfig"))
        .and_then(Value::as_object_mut)
    else {
        return Ok(()); // decoded before, so not reached
    };
    let firewall = infra.get("firewall");
    let missing: Vec<(&str, &str)> = [("image", &offer.image), ("size", &offer.size)]
        .into_iter()
        .filter_map(|(key, value)| Some((key, value.as_deref()?)))
        .filter(|(key, _)| is_unset_or_empty(firewall.and_then(|f| f.get(key))))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let firewall = object(infra, "firewall", &infra_path())?;
    for (key, value) in missing {
        firewall.insert(key.to_string(), json!(value));
    }
    Ok(())
}

/// Whether the Shoot has worker pools; workerless Shoots get no networking defaults.
fn has_workers(spec: &Object) -> Result<bool, FieldError> {
    match spec
        .get("provider")
        .and_then(|provider| provider.get("workers"))
    {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Array(workers)) => Ok(!workers.is_empty()),
        Some(_) => Err(spec_path()
            .child("provider")
            .child("workers")
            .error(Kind::Invalid, "must be a list")),
    }
}

/// Type, pods and services CIDRs (whatever the type), and for calico or cilium without a
/// `providerConfig` the NetworkConfig and `kubernetes.kubeProxy.enabled`.
fn default_networking(spec: &mut Object, defaults: &Defaults) -> Result<(), FieldError> {
    if !has_workers(spec)? {
        return Ok(());
    }
    let networking = object(spec, "networking", &spec_path())?;
    if is_unset_or_empty(networking.get("type")) {
        networking.insert("type".into(), json!(defaults.network_type));
    }
    set_if_absent(networking, "pods", json!(defaults.pods_cidr));
    set_if_absent(networking, "services", json!(defaults.services_cidr));
    if is_set(networking.get("providerConfig")) {
        return Ok(());
    }
    let (config, kube_proxy_enabled) = match networking.get("type").and_then(Value::as_str) {
        Some("calico") => (calico_config(defaults), defaults.calico_kube_proxy_enabled),
        Some("cilium") => (cilium_config(defaults), defaults.cilium_kube_proxy_enabled),
        _ => return Ok(()),
    };
    networking.insert("providerConfig".into(), config);
    let kubernetes = object(spec, "kubernetes", &spec_path())?;
    let kube_proxy = object(kubernetes, "kubeProxy", &spec_path().child("kubernetes"))?;
    set_if_absent(kube_proxy, "enabled", json!(kube_proxy_enabled));
    Ok(())
}

/// calico's `NetworkConfig`, with the JSON names of its v1alpha1 type.
fn calico_config(defaults: &Defaults) -> Value {
    json!({
        "apiVersion": CALICO_API_VERSION,
        "kind": "NetworkConfig",
        "backend": defaults.calico_backend,
        "ipv4": {"mode": defaults.calico_pool_mode},
        "typha": {"enabled": defaults.calico_typha_enabled},
    })
}

/// cilium's `NetworkConfig`, with the JSON names of its v1alpha1 type.
fn cilium_config(defaults: &Defaults) -> Value {
    json!({
        "apiVersion": CILIUM_API_VERSION,
        "kind": "NetworkConfig",
        "hubble": {"enabled": defaults.cilium_hubble_enabled},
        "tunnel": defaults.cilium_tunnel,
        "mtu": defaults.cilium_mtu,
        "devices": defaults.cilium_devices,
        "directRoutingDevice": defaults.cilium_direct_routing_device,
        "loadBalancingMode": defaults.cilium_load_balancing_mode,
        "ipv4NativeRoutingCIDREnabled": defaults.cilium_ipv4_native_routing_cidr_enabled,
        "bgpControlPlane": {"enabled": defaults.cilium_bgp_control_plane_enabled},
    })
}

#[cfg(test)]
mod tests;
