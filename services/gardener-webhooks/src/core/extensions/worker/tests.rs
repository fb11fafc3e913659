//! Fixtures of the Worker decisions and the tests of a whole plan.

use std::collections::BTreeMap;

use base64::Engine as _;
use kube_resources::gardener::WorkerPool;
use serde_json::{Value, json};

use super::*;
use crate::core::extensions::operation::ErrorCode;
use crate::core::extensions::shoot::{Shoot, fixtures};
use crate::core::provider_config::API_VERSION;

pub(super) const NS: &str = "shoot--p--s1";

/// A pool `name` of the Worker fixture's shape.
pub(super) fn pool(name: &str) -> WorkerPool {
    let mut pool: WorkerPool =
        serde_json::from_value(worker_object()["spec"]["pools"][0].clone()).unwrap();
    pool.name = name.to_owned();
    pool
}

/// The fixture shoot (Kubernetes 1.31.2) with shoot `annotations`, a network access type
/// (`None`: baseline), an isolated partition (DNS `10.9.0.53:5353`) and firewall controller
/// versions in the cloud profile.
pub(super) fn shoot_with(annotations: &[(&str, &str)], access: Option<&str>) -> Shoot {
    let mut cluster = fixtures::cluster();
    let shoot = &mut cluster["spec"]["shoot"];
    shoot["metadata"]["annotations"] = annotations
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect::<serde_json::Map<_, _>>()
        .into();
    shoot["spec"]["kubernetes"] = json!({"version": "1.31.2"});
    if let Some(access) = access {
        shoot["spec"]["provider"]["controlPlaneConfig"] = json!({
            "apiVersion": API_VERSION, "kind": "ControlPlaneConfig", "networkAccessType": access,
        });
    }
    let plane =
        &mut cluster["spec"]["cloudProfile"]["spec"]["providerConfig"]["metalControlPlanes"]["cp"];
    plane["partitions"]["part-a"]["networkIsolation"] = json!({
        "allowedNetworks": {"ingress": ["10.9.0.0/16"], "egress": ["10.9.0.0/16", "100.64.0.0/10"]},
        "dnsServers": ["10.9.0.53:5353", "10.9.0.54"], "ntpServers": ["10.9.0.123"],
    });
    plane["firewallControllerVersions"] = json!([
        {"version": "v2.3.4", "url": "https://example.com/fc/v2.3.4", "classification": "supported"},
        {"version": "v2.4.0", "url": "https://example.com/fc/v2.4.0", "classification": "preview"},
    ]);
    plane["nftablesExporter"] = json!({"version": "v0.2.7", "url": "https://example.com/nft"});
    Shoot::from_cluster(&cluster).unwrap()
}

pub(super) fn worker_object() -> Value {
    let key = base64::engine::general_purpose::STANDARD.encode("ssh-ed25519 AAAA worker");
    json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Worker",
        "metadata": {"name": "s1", "namespace": NS},
        "spec": {
            "type": "metal", "region": "eu",
            "secretRef": {"name": "cloudprovider", "namespace": NS},
            "sshPublicKey": key,
            "pools": [{
                "name": "w1", "machineType": "c1-large-x86",
                "minimum": 1, "maximum": 3, "maxSurge": 1, "maxUnavailable": "25%",
                "userDataSecretRef": {"name": "osc-result-w1", "key": "cloud_config"},
                "machineImage": {"name": "ubuntu", "version": "24.4"},
                "labels": {"pool.example/role": "web"},
                "annotations": {"note.example/owner": "team-a"},
                "taints": [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}],
                "priority": 2,
                "clusterAutoscaler": {"scaleDownUnneededTime": "1m0s", "maxNodeProvisionTime": "20m0s"},
                "machineControllerManager": {"machineDrainTimeout": "10m0s", "maxEvictRetries": 5,
                                             "nodeConditions": ["KernelDeadlock", "ReadonlyFilesystem"]},
            }],
        },
        "status": {"providerStatus": {
            "apiVersion": API_VERSION, "kind": "WorkerStatus",
            "machineImages": [{"name": "flatcar", "version": "3815.2", "image": "flatcar-3815.2"}],
        }},
    })
}

fn worker() -> Worker {
    Worker::from_object(&worker_object()).unwrap()
}

fn configured() -> Vec<MachineImage> {
    vec![MachineImage {
        name: "ubuntu".into(),
        version: "24.4".into(),
        image: "ubuntu-24.04".into(),
    }]
}

/// A plan of `worker` for `shoot` over `existing`.
fn plan_of(shoot: &Shoot, worker: &Worker, existing: &Existing) -> Result<Plan, ExtError> {
    plan_with(
        shoot,
        worker,
        existing,
        &Credential::Hmac("hmac-key".into()),
    )
}

fn plan_with(
    shoot: &Shoot,
    worker: &Worker,
    existing: &Existing,
    credential: &Credential,
) -> Result<Plan, ExtError> {
    let user_data: BTreeMap<String, String> = worker
        .spec
        .pools
        .iter()
        .map(|p| (p.name.clone(), format!("#ignition of {}", p.name)))
        .collect();
    plan(&Inputs {
        shoot,
        worker,
        configured_images: &configured(),
        nodes_cidr: "10.0.0.0/22",
        network_id: "private-1",
        credential,
        user_data: &user_data,
        existing,
        now: "2026-12-06T10:00:00Z",
    })
}

fn names(objects: &[Value]) -> Vec<&str> {
    objects
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect()
}

#[test]
fn a_pool_becomes_a_secret_a_class_and_a_deployment() {
    let shoot = shoot_with(&[], None);
    let plan = plan_of(&shoot, &worker(), &Existing::default()).unwrap();
    insta::assert_json_snapshot!(
        "worker_plan_one_pool",
        json!({
            "secrets": plan.secrets, "classes": plan.classes, "deployments": plan.deployments,
            "status": plan.status,
        })
    );
    let class = &plan.classes[0];
    let name = class["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("shoot--p--s1-w1-") && name.len() == "shoot--p--s1-w1-".len() + 5);
    assert_eq!(names(&plan.secrets), [name]);
    assert_eq!(
        plan.deployments[0]["spec"]["template"]["spec"]["class"]["name"],
        name
    );
    assert_eq!(plan.obsolete, Obsolete::default());
}

#[test]
fn the_class_has_what_machine_lifecycle_requires() {
    let shoot = shoot_with(&[], None);
    let plan = plan_of(&shoot, &worker(), &Existing::default()).unwrap();
    let spec = &plan.classes[0]["providerSpec"];
    for field in ["partition", "size", "image", "project", "network"] {
        assert!(!spec[field].as_str().unwrap().is_empty(), "{field}");
    }
    assert!(
        spec["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("cluster.metal-stack.io/id=uid-1"))
    );
    let data = plan.secrets[0]["data"].as_object().unwrap();
    let decoded = |k: &str| {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(data[k].as_str().unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(decoded("metalAPIURL"), "http://metal.example");
    assert_eq!(decoded("metalAPIHMac"), "hmac-key");
    assert_eq!(decoded("userData"), "#ignition of w1");
    assert!(!data.contains_key("metalAPIKey"), "exactly one credential");

    let token = plan_with(
        &shoot,
        &worker(),
        &Existing::default(),
        &Credential::Token("t".into()),
    );
    let token = token.unwrap();
    let data = token.secrets[0]["data"].as_object().unwrap();
    assert!(data.contains_key("metalAPIKey") && !data.contains_key("metalAPIHMac"));
}

#[test]
fn tags_are_upstreams_plus_the_pool_labels() {
    let shoot = shoot_with(&[], None);
    let w = worker();
    assert_eq!(
        machines::tags(&shoot, &w, &w.spec.pools[0]),
        [
            "kubernetes.io/cluster=shoot--p--s1",
            "kubernetes.io/role=node",
            "node.kubernetes.io/instance-type=c1-large-x86",
            "topology.kubernetes.io/region=eu",
            "topology.kubernetes.io/zone=part-a",
            "cluster.metal-stack.io/id=uid-1",
            "cluster.metal-stack.io/name=shoot--p--s1",
            "cluster.metal-stack.io/project=proj-1",
            "pool.example/role=web",
        ]
    );
}

#[test]
fn isolated_clusters_give_machines_dns_and_ntp_servers() {
    let table = [
        (None, false),
        (Some("baseline"), false),
        (Some("restricted"), true),
        (Some("forbidden"), true),
    ];
    for (access, isolated) in table {
        let shoot = shoot_with(&[], access);
        let plan = plan_of(&shoot, &worker(), &Existing::default()).unwrap();
        let spec = &plan.classes[0]["providerSpec"];
        if isolated {
            assert_eq!(
                spec["dnsServers"],
                json!([{"ip": "10.9.0.53:5353"}, {"ip": "10.9.0.54"}])
            );
            assert_eq!(spec["ntpServers"], json!([{"address": "10.9.0.123"}]));
        } else {
            assert!(
                spec.get("dnsServers").is_none() && spec.get("ntpServers").is_none(),
                "{access:?}"
            );
        }
    }
}

#[test]
fn replicas_follow_the_pool_bounds() {
    // (current, minimum, maximum, hibernated) → replicas
    let table = [
        (None, 1, 3, false, 1),
        (Some(2), 1, 3, false, 2),
        (Some(0), 1, 3, false, 1),
        (Some(5), 1, 3, false, 3),
        (Some(5), 1, 3, true, 0),
        (None, 2, 2, true, 0),
        (Some(4), 2, 1, false, 2),
    ];
    for (current, min, max, hibernated, want) in table {
        assert_eq!(
            machines::replicas(current, min, max, hibernated),
            want,
            "{current:?} in [{min}, {max}] hibernated={hibernated}"
        );
    }
    let mut cluster = fixtures::cluster();
    cluster["spec"]["shoot"]["spec"]["hibernation"] = json!({"enabled": true});
    let hibernated = Shoot::from_cluster(&cluster).unwrap();
    let plan = plan_of(&hibernated, &worker(), &Existing::default()).unwrap();
    assert_eq!(plan.deployments[0]["spec"]["replicas"], 0);
}

fn existing_with(deployments: &[(&str, i64, &str)], classes: &[&str], in_use: &[&str]) -> Existing {
    Existing {
        deployments: deployments
            .iter()
            .map(|(name, replicas, class)| {
                (
                    (*name).to_owned(),
                    existing::Deployment {
                        replicas: Some(*replicas),
                        class: Some((*class).to_owned()),
                        deleting: false,
                    },
                )
            })
            .collect(),
        classes: classes.iter().map(|c| (*c).to_owned()).collect(),
        secrets: classes.iter().map(|c| (*c).to_owned()).collect(),
        classes_in_use: in_use.iter().map(|c| (*c).to_owned()).collect(),
    }
}

#[test]
fn a_changed_image_renames_the_class_and_old_classes_go_once_unused() {
    let shoot = shoot_with(&[], None);
    let first = plan_of(&shoot, &worker(), &Existing::default()).unwrap();
    let old_class = names(&first.classes)[0].to_owned();

    let mut changed = worker();
    changed.spec.pools[0].machine_image = Some(kube_resources::gardener::MachineImage {
        name: "flatcar".into(),
        version: "3815.2".into(),
    });
    // The old class is still used by the MachineSet being rolled.
    let existing = existing_with(
        &[(&format!("{NS}-w1"), 3, &old_class)],
        &[&old_class],
        &[&old_class],
    );
    let rolling = plan_of(&shoot, &changed, &existing).unwrap();
    let new_class = names(&rolling.classes)[0];
    assert_ne!(new_class, old_class);
    assert_eq!(names(&rolling.deployments), [format!("{NS}-w1")]);
    assert_eq!(
        rolling.deployments[0]["spec"]["replicas"], 3,
        "the autoscaler's count stays"
    );
    assert_eq!(
        rolling.status["providerStatus"]["machineImages"][0]["image"],
        "flatcar-3815.2"
    );
    assert_eq!(
        rolling.obsolete,
        Obsolete {
            kept: vec![old_class.clone()],
            ..Obsolete::default()
        },
        "kept while a machine set uses it"
    );

    let rolled = existing_with(
        &[(&format!("{NS}-w1"), 3, new_class)],
        &[&old_class, new_class],
        &[new_class],
    );
    let done = plan_of(&shoot, &changed, &rolled).unwrap();
    assert_eq!(
        done.obsolete,
        Obsolete {
            classes: vec![old_class.clone()],
            secrets: vec![old_class.clone()],
            ..Obsolete::default()
        }
    );
}

#[test]
fn removed_pools_leave_deployments_to_delete_and_their_classes_until_they_are_gone() {
    let shoot = shoot_with(&[], None);
    let existing = existing_with(
        &[(&format!("{NS}-old"), 2, "shoot--p--s1-old-aaaaa")],
        &["shoot--p--s1-old-aaaaa", "shoot--p--s1-gone-bbbbb"],
        &[],
    );
    let plan = plan_of(&shoot, &worker(), &existing).unwrap();
    let mut deleting = existing.clone();
    deleting
        .deployments
        .get_mut(&format!("{NS}-old"))
        .unwrap()
        .deleting = true;
    let again = plan_of(&shoot, &worker(), &deleting).unwrap();
    assert!(again.obsolete.deployments.is_empty(), "deleted once");
    assert_eq!(
        again.obsolete.kept,
        ["shoot--p--s1-old-aaaaa"],
        "its class stays meanwhile"
    );
    assert_eq!(
        plan.obsolete,
        Obsolete {
            deployments: vec![format!("{NS}-old")],
            classes: vec!["shoot--p--s1-gone-bbbbb".into()],
            secrets: vec!["shoot--p--s1-gone-bbbbb".into()],
            kept: vec!["shoot--p--s1-old-aaaaa".into()],
        }
    );
}

#[test]
fn keep_worker_hash_keeps_the_class_across_changes() {
    let shoot = shoot_with(&[(hash::KEEP_WORKER_HASH, "true")], None);
    let class = format!("{NS}-w1-0a1b2");
    let existing = existing_with(&[(&format!("{NS}-w1"), 1, &class)], &[&class], &[]);
    let plan = plan_of(&shoot, &worker(), &existing).unwrap();
    assert_eq!(names(&plan.classes), [class.as_str()]);
    assert_eq!(plan.obsolete, Obsolete::default());

    let explicit = shoot_with(
        &[
            (hash::KEEP_WORKER_HASH, "true"),
            ("cluster.metal-stack.io/use-worker-hash-w1", "fffff"),
        ],
        None,
    );
    let e = plan_of(&explicit, &worker(), &existing).unwrap_err();
    assert_eq!(e.code, Some(ErrorCode::Configuration));
    assert!(e.message.contains("use-worker-hash-w1"), "{e}");
}

#[test]
fn existing_objects_are_read_from_the_lists() {
    let existing = Existing::from_objects(
        &[
            json!({"metadata": {"name": "ns-w1"}, "spec": {"replicas": 2, "template": {"spec": {"class": {"name": "ns-w1-aaaaa"}}}}}),
        ],
        &[json!({"metadata": {"name": "ns-w1-aaaaa"}})],
        &[
            json!({"metadata": {"name": "ns-w1-aaaaa", "labels": {"garden.sapcloud.io/purpose": "machineclass"}}}),
            json!({"metadata": {"name": "cloudprovider"}}),
        ],
        &[
            json!({"metadata": {"name": "s1"}, "spec": {"replicas": 0, "template": {"spec": {"class": {"name": "ns-w1-old01"}}}}}),
            json!({"metadata": {"name": "s2"}, "spec": {"replicas": 0, "template": {"spec": {"class": {"name": "ns-w1-old02"}}}},
                   "status": {"replicas": 1}}),
        ],
        &[json!({"metadata": {"name": "m"}, "spec": {"class": {"name": "ns-w1-old03"}}})],
    );
    assert_eq!(
        existing,
        Existing {
            deployments: [(
                "ns-w1".to_owned(),
                existing::Deployment {
                    replicas: Some(2),
                    class: Some("ns-w1-aaaaa".into()),
                    deleting: false
                }
            )]
            .into(),
            classes: ["ns-w1-aaaaa".to_owned()].into(),
            secrets: ["ns-w1-aaaaa".to_owned()].into(),
            classes_in_use: ["ns-w1-old02".to_owned(), "ns-w1-old03".to_owned()].into(),
        },
        "a machine set scaled to 0 holds no class"
    );
}

#[test]
fn the_worker_reads_its_autoscaler_options_and_ssh_key() {
    let w = worker();
    assert_eq!(w.namespace, NS);
    assert_eq!(
        w.ssh_public_key().as_deref(),
        Some("ssh-ed25519 AAAA worker")
    );
    assert_eq!(
        w.autoscaler_annotations[0],
        BTreeMap::from([
            (
                "autoscaler.gardener.cloud/max-node-provision-time".to_owned(),
                "20m0s".to_owned()
            ),
            (
                "autoscaler.gardener.cloud/scale-down-unneeded-time".to_owned(),
                "1m0s".to_owned()
            ),
        ])
    );
    assert_eq!(w.reported_images[0].image, "flatcar-3815.2");

    let mut plain = worker_object();
    plain["spec"]["sshPublicKey"] = json!("ssh-ed25519 BBBB pasted");
    let w = Worker::from_object(&plain).unwrap();
    assert_eq!(
        w.ssh_public_key().as_deref(),
        Some("ssh-ed25519 BBBB pasted")
    );
    plain["spec"]
        .as_object_mut()
        .unwrap()
        .remove("sshPublicKey");
    let w = Worker::from_object(&plain).unwrap();
    assert_eq!(w.ssh_public_key(), None);
    let shoot = shoot_with(&[], None);
    let plan = plan_of(&shoot, &w, &Existing::default()).unwrap();
    assert!(plan.classes[0]["providerSpec"].get("sshKeys").is_none());

    let mut broken = worker_object();
    broken["spec"]["pools"][0]["minimum"] = json!("one");
    let e = Worker::from_object(&broken).unwrap_err();
    assert_eq!(e.code, Some(ErrorCode::Configuration));
    assert!(e.message.starts_with("worker s1: spec:"), "{e}");
}

#[test]
fn the_userdata_secret_must_be_named() {
    let p = pool("w1");
    assert_eq!(
        user_data_ref(&p).unwrap(),
        ("osc-result-w1", "cloud_config")
    );
    let mut unnamed = pool("w2");
    unnamed.user_data_secret_ref.name = None;
    let e = user_data_ref(&unnamed).unwrap_err();
    assert!(e.message.contains("worker pool w2"), "{e}");
}

#[test]
fn the_cloudprovider_secret_needs_exactly_one_credential() {
    let secret = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        Credential::from_secret(&secret(&[(KEY_HMAC, " k ")])).unwrap(),
        Credential::Hmac("k".into())
    );
    assert_eq!(
        Credential::from_secret(&secret(&[(KEY_TOKEN, "t"), (KEY_HMAC, "")])).unwrap(),
        Credential::Token("t".into())
    );
    for bad in [secret(&[]), secret(&[(KEY_HMAC, "k"), (KEY_TOKEN, "t")])] {
        let e = Credential::from_secret(&bad).unwrap_err();
        assert_eq!(e.code, Some(ErrorCode::Configuration));
    }
    assert_eq!(
        format!("{:?}", Credential::Hmac("secret".into())),
        "Hmac(..)"
    );
}

#[test]
fn the_private_network_must_be_unique() {
    let network = |id: &str| id.to_owned();
    assert_eq!(
        private_network(&[network("n1")], "p", "10.0.0.0/22").unwrap(),
        "n1"
    );
    let e = private_network(&[], "p", "10.0.0.0/22").unwrap_err();
    assert!(
        e.message
            .contains("found 0 networks of project p with prefix 10.0.0.0/22"),
        "{e}"
    );
    let e = private_network(&[network("n1"), network("n2")], "p", "10.0.0.0/22").unwrap_err();
    assert!(
        e.message.contains("found 2 networks") && e.message.contains("n1, n2"),
        "{e}"
    );
    let query = network_query("p", "10.0.0.0/22");
    assert_eq!(query.projectid.as_deref(), Some("p"));
    assert_eq!(query.prefixes, Some(vec!["10.0.0.0/22".to_owned()]));
}

#[test]
fn the_node_network_comes_from_the_shoot_or_the_infrastructure() {
    let infra = |name: &str, kind: &str, cidr: Option<&str>| {
        let mut i = json!({"metadata": {"name": name}, "spec": {"type": kind}});
        if let Some(cidr) = cidr {
            i["status"] = json!({"nodesCIDR": cidr});
        }
        i
    };
    let items = [
        infra("other", "metal", Some("10.1.0.0/22")),
        infra("s1", "metal", Some("10.0.0.0/22")),
        infra("s1-aws", "aws", Some("10.9.0.0/22")),
    ];
    let found = infrastructure(&items, "s1");
    assert_eq!(found.unwrap()["metadata"]["name"], "s1");
    assert_eq!(
        infrastructure(&items, "s2").unwrap()["metadata"]["name"],
        "other"
    );
    assert!(infrastructure(&items[2..], "s1").is_none());

    assert_eq!(
        nodes_cidr(Some("10.5.0.0/22"), found).as_deref(),
        Some("10.5.0.0/22")
    );
    assert_eq!(nodes_cidr(None, found).as_deref(), Some("10.0.0.0/22"));
    let pending = infra("s1", "metal", None);
    assert_eq!(nodes_cidr(None, Some(&pending)), None);
    assert_eq!(nodes_cidr(None, None), None);
}

/// Validates `object` against the upstream CRD `file`; `false` when the contracts are absent.
fn valid_against(file: &str, version: &str, object: &Value) -> bool {
    let Some(dir) = kube_resources::contracts::upstream_crds() else {
        return false;
    };
    let crd = std::fs::read_to_string(dir.join(file)).unwrap();
    let result = kube_resources::schema::validate_against_upstream(&crd, version, object);
    assert_eq!(result, Ok(()), "{file}: {object:#}");
    true
}

#[test]
fn written_objects_match_the_upstream_crds() {
    let shoot = shoot_with(&[], Some("forbidden"));
    let plan = plan_of(&shoot, &worker(), &Existing::default()).unwrap();
    let firewall = firewall::deployment(&firewall::Inputs {
        shoot: &shoot,
        network_id: "private-1",
        internal_prefixes: &[],
        ssh_public_key: Some("ssh-ed25519 AAAA"),
        current_image: None,
    })
    .unwrap();
    let checks = [
        ("machine.sapcloud.io_machineclasses.yaml", &plan.classes[0]),
        (
            "machine.sapcloud.io_machinedeployments.yaml",
            &plan.deployments[0],
        ),
    ];
    for (file, object) in checks {
        if !valid_against(file, "v1alpha1", object) {
            return;
        }
    }
    valid_against(
        "firewall.metal-stack.io_firewalldeployments.yaml",
        "v2",
        &firewall,
    );
    let mut worker_status = worker_object();
    worker_status["status"] = Value::Object(plan.status.clone());
    valid_against(
        "extensions.gardener.cloud_workers.yaml",
        "v1alpha1",
        &worker_status,
    );
}
