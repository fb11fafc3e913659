//! Fixtures shared by the mutation tests, and the dispatch rules: which webhook handles what,
//! what it needs read, and that objects being deleted or not handled pass unchanged.

use serde_json::{Map, Value, json};

use super::*;

/// A JSON fixture of `testdata/`.
pub(super) fn fixture(name: &str) -> Value {
    let text = match name {
        "cluster" => include_str!("testdata/cluster.json"),
        "kube-apiserver" => include_str!("testdata/kube-apiserver-deployment.json"),
        "kube-controller-manager" => {
            include_str!("testdata/kube-controller-manager-deployment.json")
        }
        "machine-controller-manager" => {
            include_str!("testdata/machine-controller-manager-deployment.json")
        }
        "vpn-seed-server" => include_str!("testdata/vpn-seed-server-deployment.json"),
        "gardener-resource-manager" => {
            include_str!("testdata/gardener-resource-manager-configmap.json")
        }
        "osc" => include_str!("testdata/operatingsystemconfig.json"),
        "etcd-main" => include_str!("testdata/etcd-main.json"),
        "calico-node" => include_str!("testdata/calico-node-daemonset.json"),
        "vpn-shoot" => include_str!("testdata/vpn-shoot-deployment.json"),
        other => panic!("no fixture {other}"),
    };
    serde_json::from_str(text).expect("fixtures are JSON")
}

pub(super) fn cluster() -> Cluster {
    Cluster::from_object(&fixture("cluster")).expect("the fixture is a Cluster")
}

/// The `cloudprovider` Secret's data of the fixtures.
pub(super) fn secret_data() -> Map<String, Value> {
    let data = json!({"metalAPIHMac": "c2VjcmV0", "metalAPIURL": "aHR0cHM6Ly9hcGkubWV0YWwuZXhhbXBsZS5jb20vbWV0YWw="});
    data.as_object().expect("an object").clone()
}

pub(super) const IMAGE: &str = "ghcr.io/metal-mesh/machine-lifecycle:v0.1.0";

pub(super) fn config() -> SeedConfig {
    SeedConfig {
        machine_controller_manager_image: IMAGE.to_string(),
        etcd: EtcdConfig::default(),
    }
}

/// Everything a mutation may read, owned, so tests can vary one part.
pub(super) struct Setup {
    pub old: Option<Value>,
    pub cluster: Option<Cluster>,
    pub secret: Option<Map<String, Value>>,
    pub config: SeedConfig,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            old: None,
            cluster: Some(cluster()),
            secret: Some(secret_data()),
            config: config(),
        }
    }
}

impl Setup {
    pub fn ctx(&self) -> Context<'_> {
        Context {
            old: self.old.as_ref(),
            cluster: self.cluster.as_ref(),
            cloudprovider_data: self.secret.as_ref(),
            config: &self.config,
        }
    }

    pub fn mutate(&self, webhook: Webhook, object: &Value) -> Result<Value, String> {
        mutate(webhook, object, &self.ctx())
    }

    /// The shoot of the Cluster, changed by `change`.
    pub fn with_shoot(mut self, change: impl FnOnce(&mut Value)) -> Self {
        change(&mut self.cluster.as_mut().expect("a cluster").shoot);
        self
    }
}

fn deleting(mut object: Value) -> Value {
    object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    object
}

/// Objects each webhook changes when not being deleted.
fn handled() -> Vec<(Webhook, Value)> {
    let mut etcd_events = fixture("etcd-main");
    etcd_events["metadata"]["name"] = json!("etcd-events");
    vec![
        (Webhook::ControlPlane, fixture("kube-apiserver")),
        (Webhook::ControlPlane, fixture("kube-controller-manager")),
        (Webhook::ControlPlane, fixture("machine-controller-manager")),
        (Webhook::ControlPlane, fixture("vpn-seed-server")),
        (Webhook::ControlPlane, fixture("gardener-resource-manager")),
        (Webhook::ControlPlane, fixture("osc")),
        (Webhook::SeedProvider, fixture("etcd-main")),
        (Webhook::SeedProvider, etcd_events),
        (Webhook::Shoot, fixture("calico-node")),
        (Webhook::Shoot, fixture("vpn-shoot")),
    ]
}

#[test]
fn every_handled_fixture_is_changed() {
    let setup = Setup::default();
    for (webhook, object) in handled() {
        let mutated = setup.mutate(webhook, &object).unwrap();
        assert_ne!(
            mutated, object,
            "{webhook:?} {}",
            object["metadata"]["name"]
        );
    }
}

#[test]
fn objects_being_deleted_pass_unchanged_and_need_nothing() {
    // Not even a missing Cluster or Secret is an error then.
    let setup = Setup {
        cluster: None,
        secret: None,
        ..Setup::default()
    };
    for (webhook, object) in handled() {
        let object = deleting(object);
        assert_eq!(setup.mutate(webhook, &object), Ok(object.clone()));
        assert_eq!(needs(webhook, &object), Needs::default());
    }
}

#[test]
fn objects_of_another_webhook_pass_unchanged() {
    let setup = Setup {
        cluster: None,
        secret: None,
        ..Setup::default()
    };
    for (handler, object) in handled() {
        for webhook in [Webhook::ControlPlane, Webhook::SeedProvider, Webhook::Shoot] {
            if webhook != handler {
                assert_eq!(
                    setup.mutate(webhook, &object),
                    Ok(object.clone()),
                    "{webhook:?} {}",
                    object["metadata"]["name"]
                );
            }
        }
    }
}

#[test]
fn unhandled_kinds_names_and_groups_pass_unchanged() {
    let setup = Setup::default();
    let mut other_deployment = fixture("kube-apiserver");
    other_deployment["metadata"]["name"] = json!("kube-scheduler");
    let mut stateful_set = fixture("vpn-seed-server");
    stateful_set["kind"] = json!("StatefulSet");
    let mut wrong_group = fixture("kube-apiserver");
    wrong_group["apiVersion"] = json!("example.com/v1");
    let mut other_config_map = fixture("gardener-resource-manager");
    other_config_map["metadata"]["name"] = json!("kube-apiserver-admission-config");
    let service =
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-apiserver"}});
    let secret =
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cloudprovider"}});
    for object in [
        other_deployment,
        stateful_set,
        wrong_group,
        other_config_map,
        service,
        secret,
    ] {
        for webhook in [Webhook::ControlPlane, Webhook::SeedProvider, Webhook::Shoot] {
            assert_eq!(
                setup.mutate(webhook, &object),
                Ok(object.clone()),
                "{object}"
            );
        }
        assert_eq!(needs(Webhook::ControlPlane, &object), Needs::default());
    }
}

#[test]
fn needs_name_the_reads_of_each_control_plane_object() {
    let both = Needs {
        cluster: true,
        cloudprovider_secret: true,
    };
    let cluster_only = Needs {
        cluster: true,
        cloudprovider_secret: false,
    };
    let mut virtual_kapi = fixture("kube-apiserver");
    virtual_kapi["metadata"]["name"] = json!("virtual-garden-kube-apiserver");
    let cases = [
        (fixture("kube-apiserver"), both),
        (virtual_kapi, both),
        (fixture("kube-controller-manager"), both),
        (fixture("machine-controller-manager"), cluster_only),
        (fixture("vpn-seed-server"), cluster_only),
        (fixture("osc"), cluster_only),
        (fixture("gardener-resource-manager"), Needs::default()),
    ];
    for (object, want) in cases {
        assert_eq!(
            needs(Webhook::ControlPlane, &object),
            want,
            "{}",
            object["metadata"]["name"]
        );
        assert_eq!(needs(Webhook::SeedProvider, &object), Needs::default());
        assert_eq!(needs(Webhook::Shoot, &object), Needs::default());
    }
    assert_eq!(
        needs(Webhook::SeedProvider, &fixture("etcd-main")),
        Needs::default()
    );
    assert_eq!(
        needs(Webhook::Shoot, &fixture("calico-node")),
        Needs::default()
    );
}

#[test]
fn mutating_twice_changes_nothing_more() {
    let setup = Setup {
        config: SeedConfig {
            etcd: EtcdConfig {
                storage_capacity: Some("50Gi".into()),
                backup_delta_snapshot_period: Some("10m".into()),
                is_eviction_allowed: true,
                ..EtcdConfig::default()
            },
            ..config()
        },
        ..Setup::default()
    };
    for (webhook, object) in handled() {
        let once = setup.mutate(webhook, &object).unwrap();
        let twice = setup.mutate(webhook, &once).unwrap();
        assert_eq!(twice, once, "{webhook:?} {}", object["metadata"]["name"]);
    }
}
