//! The `seedprovider` webhook (KindSeed): druid Etcds. Upstream: metal-stack's
//! `pkg/webhook/seedprovider/{add,ensurer}.go` (`EnsureETCD`), reached through Gardener's
//! generic mutator for the Etcds it knows by name. Services and Deployments are registered too
//! but metal has no ensurer for them.

use serde_json::{Map, Value};

use super::{Context, EtcdConfig, Meta, duration, pod};

const ETCD_MAIN: &str = "etcd-main";
/// The Etcds the generic mutator hands to `EnsureETCD`.
const ETCD_NAMES: [&str; 4] = [
    ETCD_MAIN,
    "virtual-garden-etcd-main",
    "etcd-events",
    "virtual-garden-etcd-events",
];
const DEFAULT_CAPACITY: &str = "16Gi";
/// Lets csi-driver-lvm evict the etcd pod (its volume is node-local).
const EVICTION_ALLOWED: &str = "metal-stack.io/csi-driver-lvm.is-eviction-allowed";
/// Otherwise druid's protection blocks the eviction.
const DISABLE_COMPONENT_PROTECTION: &str = "druid.gardener.cloud/disable-etcd-component-protection";

pub(super) fn mutate(meta: &Meta, object: &mut Value, ctx: &Context) -> Result<(), String> {
    if !meta.is("druid.gardener.cloud", "Etcd") || !ETCD_NAMES.contains(&meta.name) {
        return Ok(());
    }
    ensure_etcd(object, meta.name == ETCD_MAIN, ctx.old, &ctx.config.etcd)
}

/// `key` of `spec` becomes the old object's value, or goes when the old one had none.
fn keep_old(spec: &mut Map<String, Value>, old: &Value, key: &str) {
    match old
        .get("spec")
        .and_then(|s| s.get(key))
        .filter(|v| !v.is_null())
    {
        Some(value) => spec.insert(key.to_string(), value.clone()),
        None => spec.remove(key),
    };
}

fn ensure_etcd(
    object: &mut Value,
    main: bool,
    old: Option<&Value>,
    config: &EtcdConfig,
) -> Result<(), String> {
    let spec = pod::object_at(object, &["spec"]);
    spec.insert("storageCapacity".into(), DEFAULT_CAPACITY.into());
    if main {
        match old {
            // Capacity and class take effect only on creation: the StatefulSet's volume claim
            // template cannot change afterwards, so updates keep what is there.
            None => {
                if let Some(capacity) = &config.storage_capacity {
                    spec.insert("storageCapacity".into(), capacity.as_str().into());
                }
                if let Some(class) = &config.storage_class_name {
                    spec.insert("storageClass".into(), class.as_str().into());
                }
            }
            Some(old) => {
                keep_old(spec, old, "storageCapacity");
                keep_old(spec, old, "storageClass");
            }
        }
        if let Some(period) = &config.backup_delta_snapshot_period {
            let nanos = duration::parse(period)
                .map_err(|e| format!("unable to set delta snapshot period {e}"))?;
            pod::object_at(object, &["spec", "backup"])
                .insert("deltaSnapshotPeriod".into(), duration::format(nanos).into());
        }
        if let Some(schedule) = &config.backup_schedule {
            pod::object_at(object, &["spec", "backup"])
                .insert("fullSnapshotSchedule".into(), schedule.as_str().into());
        }
    }
    if config.is_eviction_allowed {
        pod::object_at(object, &["spec", "annotations"])
            .insert(EVICTION_ALLOWED.into(), "true".into());
        pod::object_at(object, &["metadata", "annotations"])
            .insert(DISABLE_COMPONENT_PROTECTION.into(), "true".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
