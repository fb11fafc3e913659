//! `EnsureETCD`: every known Etcd gets 16Gi; `etcd-main` takes the configured storage on
//! creation and keeps its storage on update, and gets the backup settings; eviction allowed
//! adds the two annotations.

use serde_json::{Value, json};

use crate::core::mutation::tests::{Setup, config, fixture};
use crate::core::mutation::{EtcdConfig, SeedConfig, Webhook};

fn setup(etcd: EtcdConfig, old: Option<Value>) -> Setup {
    Setup {
        old,
        cluster: None,
        secret: None,
        config: SeedConfig { etcd, ..config() },
    }
}

fn full_config() -> EtcdConfig {
    EtcdConfig {
        storage_class_name: Some("csi-driver-lvm-mirror".into()),
        storage_capacity: Some("50Gi".into()),
        backup_schedule: Some("0 */6 * * *".into()),
        backup_delta_snapshot_period: Some("10m".into()),
        is_eviction_allowed: false,
    }
}

fn mutate(setup: &Setup, object: &Value) -> Result<Value, String> {
    setup.mutate(Webhook::SeedProvider, object)
}

fn named(name: &str) -> Value {
    let mut etcd = fixture("etcd-main");
    etcd["metadata"]["name"] = json!(name);
    etcd
}

/// `before` with the given spec fields set (`None`: removed).
fn with_spec(before: &Value, fields: &[(&str, Option<Value>)]) -> Value {
    let mut want = before.clone();
    for (pointer, value) in fields {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let map = want["spec"]
            .pointer_mut(parent)
            .unwrap()
            .as_object_mut()
            .unwrap();
        match value {
            Some(v) => map.insert(key.to_string(), v.clone()),
            None => map.remove(key),
        };
    }
    want
}

#[test]
fn a_new_etcd_main_gets_the_configured_storage_and_backup() {
    let before = fixture("etcd-main");
    let after = mutate(&setup(full_config(), None), &before).unwrap();
    let want = with_spec(
        &before,
        &[
            ("/storageCapacity", Some(json!("50Gi"))),
            ("/storageClass", Some(json!("csi-driver-lvm-mirror"))),
            ("/backup/deltaSnapshotPeriod", Some(json!("10m0s"))),
            ("/backup/fullSnapshotSchedule", Some(json!("0 */6 * * *"))),
        ],
    );
    assert_eq!(after, want);
}

#[test]
fn an_updated_etcd_main_keeps_its_storage() {
    let before = fixture("etcd-main");
    let mut old = before.clone();
    old["spec"]["storageCapacity"] = json!("30Gi");
    old["spec"]["storageClass"] = json!("csi-lvm");
    let after = mutate(&setup(full_config(), Some(old.clone())), &before).unwrap();
    let want = with_spec(
        &before,
        &[
            ("/storageCapacity", Some(json!("30Gi"))),
            ("/storageClass", Some(json!("csi-lvm"))),
            ("/backup/deltaSnapshotPeriod", Some(json!("10m0s"))),
            ("/backup/fullSnapshotSchedule", Some(json!("0 */6 * * *"))),
        ],
    );
    assert_eq!(after, want);
    // What the old one lacked goes.
    let spec = old["spec"].as_object_mut().unwrap();
    spec.remove("storageCapacity");
    spec.remove("storageClass");
    let after = mutate(&setup(EtcdConfig::default(), Some(old)), &before).unwrap();
    assert_eq!(
        after,
        with_spec(
            &before,
            &[("/storageCapacity", None), ("/storageClass", None)]
        )
    );
}

#[test]
fn without_configuration_every_etcd_gets_16gi_only() {
    for name in [
        "etcd-main",
        "etcd-events",
        "virtual-garden-etcd-main",
        "virtual-garden-etcd-events",
    ] {
        let before = named(name);
        let after = mutate(&setup(EtcdConfig::default(), None), &before).unwrap();
        assert_eq!(
            after,
            with_spec(&before, &[("/storageCapacity", Some(json!("16Gi")))]),
            "{name}"
        );
    }
}

#[test]
fn only_etcd_main_takes_storage_and_backup_configuration() {
    for name in ["etcd-events", "virtual-garden-etcd-main"] {
        let before = named(name);
        let after = mutate(&setup(full_config(), None), &before).unwrap();
        assert_eq!(
            after,
            with_spec(&before, &[("/storageCapacity", Some(json!("16Gi")))]),
            "{name}"
        );
    }
}

#[test]
fn eviction_allowed_annotates_every_etcd() {
    let config = EtcdConfig {
        is_eviction_allowed: true,
        ..EtcdConfig::default()
    };
    for name in ["etcd-main", "etcd-events"] {
        let before = named(name);
        let after = mutate(&setup(config.clone(), None), &before).unwrap();
        assert_eq!(
            after["spec"]["annotations"],
            json!({"cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
                   "metal-stack.io/csi-driver-lvm.is-eviction-allowed": "true"})
        );
        assert_eq!(
            after["metadata"]["annotations"],
            json!({"gardener.cloud/operation": "reconcile",
                   "druid.gardener.cloud/disable-etcd-component-protection": "true"})
        );
    }
    // Created where missing.
    let mut bare = json!({"apiVersion": "druid.gardener.cloud/v1alpha1", "kind": "Etcd",
                          "metadata": {"name": "etcd-events"}, "spec": {}});
    bare = mutate(&setup(config, None), &bare).unwrap();
    assert_eq!(
        bare["spec"],
        json!({"storageCapacity": "16Gi",
               "annotations": {"metal-stack.io/csi-driver-lvm.is-eviction-allowed": "true"}})
    );
}

#[test]
fn other_etcds_and_kinds_pass_unchanged() {
    let other = named("etcd-custom");
    assert_eq!(
        mutate(&setup(full_config(), None), &other),
        Ok(other.clone())
    );
    let mut not_druid = fixture("etcd-main");
    not_druid["apiVersion"] = json!("etcd.example.com/v1");
    assert_eq!(
        mutate(&setup(full_config(), None), &not_druid),
        Ok(not_druid.clone())
    );
    let service =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "etcd-main-client"}});
    assert_eq!(
        mutate(&setup(full_config(), None), &service),
        Ok(service.clone())
    );
}

#[test]
fn an_unreadable_delta_snapshot_period_is_denied() {
    let config = EtcdConfig {
        backup_delta_snapshot_period: Some("5 minutes".into()),
        ..EtcdConfig::default()
    };
    let e = mutate(&setup(config, None), &fixture("etcd-main")).unwrap_err();
    assert!(
        e.starts_with("unable to set delta snapshot period time: "),
        "{e}"
    );
}
