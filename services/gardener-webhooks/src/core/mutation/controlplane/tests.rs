//! The control plane ensurers, each where it applies (exact resulting fields) and where it does
//! not. Expected values follow reference §1.6 and upstream's ensurer.go and Gardener's helpers.

use serde_json::{Value, json};

use crate::core::mutation::checksum;
use crate::core::mutation::tests::{IMAGE, Setup, fixture, secret_data};
use crate::core::mutation::{Cluster, Webhook};

const NS: &str = "shoot--prod--alpha";
const NODES: &str = "10.130.4.0/22";

fn container<'a>(object: &'a Value, name: &str) -> &'a Value {
    object["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn version(v: &str) -> impl FnOnce(&mut Value) {
    let v = v.to_string();
    move |shoot| shoot["spec"]["kubernetes"]["version"] = json!(v)
}

fn mutate(setup: &Setup, object: &Value) -> Result<Value, String> {
    setup.mutate(Webhook::ControlPlane, object)
}

fn expected_checksum() -> String {
    checksum::secret_data(&secret_data())
}

// kube-apiserver

#[test]
fn kube_apiserver_below_1_31_drops_cloud_flags_and_disables_persistent_volume_label() {
    let before = fixture("kube-apiserver");
    let after = mutate(&Setup::default(), &before).unwrap();

    let kapi = container(&after, "kube-apiserver");
    assert_eq!(kapi["command"], json!(["/usr/local/bin/kube-apiserver"]));
    let mut want: Vec<String> = strings(&container(&before, "kube-apiserver")["args"])
        .into_iter()
        .filter(|a| !a.starts_with("--cloud-provider=") && !a.starts_with("--cloud-config="))
        .collect();
    want[0] = "--enable-admission-plugins=Priority,NamespaceLifecycle,LimitRanger,PodSecurity,\
               ServiceAccount,NodeRestriction,DefaultStorageClass,DefaultTolerationSeconds,\
               ResourceQuota,StorageObjectInUseProtection,MutatingAdmissionWebhook,\
               ValidatingAdmissionWebhook"
        .to_string();
    want.push("--disable-admission-plugins=PersistentVolumeLabel".to_string());
    assert_eq!(strings(&kapi["args"]), want);

    assert_eq!(
        container(&after, "vpn-seed")["env"],
        json!([
            {"name": "SERVICE_NETWORK", "value": "10.243.0.0/16"},
            {"name": "POD_NETWORK", "value": "10.240.0.0/13"},
            {"name": "NODE_NETWORK", "value": NODES},
        ])
    );
    assert_eq!(
        after["spec"]["template"]["metadata"]["annotations"],
        json!({"checksum/secret-etcd-encryption": "0f1e2d",
               "checksum/secret-cloudprovider": expected_checksum()})
    );
    // Nothing else changes.
    let mut rest = after.clone();
    rest["spec"]["template"] = before["spec"]["template"].clone();
    assert_eq!(rest, before);
}

#[test]
fn kube_apiserver_adds_to_an_existing_disable_list() {
    let mut before = fixture("kube-apiserver");
    before["spec"]["template"]["spec"]["containers"][0]["args"] = json!([
        "--enable-admission-plugins=PersistentVolumeLabel",
        "--disable-admission-plugins=Foo"
    ]);
    let after = mutate(&Setup::default(), &before).unwrap();
    assert_eq!(
        container(&after, "kube-apiserver")["args"],
        json!([
            "--enable-admission-plugins=",
            "--disable-admission-plugins=Foo,PersistentVolumeLabel"
        ])
    );
}

#[test]
fn kube_apiserver_flags_in_command_are_edited_there() {
    // The layout upstream's helpers were written for: every flag in `command`.
    let mut before = fixture("kube-apiserver");
    let kapi = &mut before["spec"]["template"]["spec"]["containers"][0];
    kapi.as_object_mut().unwrap().remove("args");
    kapi["command"] = json!([
        "/usr/local/bin/kube-apiserver",
        "--cloud-provider=aws",
        "--enable-admission-plugins=NodeRestriction,PersistentVolumeLabel"
    ]);
    let after = mutate(&Setup::default(), &before).unwrap();
    let kapi = container(&after, "kube-apiserver");
    assert_eq!(
        kapi["command"],
        json!([
            "/usr/local/bin/kube-apiserver",
            "--enable-admission-plugins=NodeRestriction",
            "--disable-admission-plugins=PersistentVolumeLabel"
        ])
    );
    assert!(kapi.get("args").is_none());
}

#[test]
fn kube_apiserver_from_1_31_keeps_the_admission_plugins() {
    let before = fixture("kube-apiserver");
    for v in ["1.31.0", "1.32.2", "v1.31.0-rc.1"] {
        let setup = Setup::default().with_shoot(version(v));
        let after = mutate(&setup, &before).unwrap();
        let args = strings(&container(&after, "kube-apiserver")["args"]);
        let want: Vec<String> = strings(&container(&before, "kube-apiserver")["args"])
            .into_iter()
            .filter(|a| !a.starts_with("--cloud-provider=") && !a.starts_with("--cloud-config="))
            .collect();
        assert_eq!(args, want, "{v}");
        assert!(args[0].ends_with(",PersistentVolumeLabel"));
    }
}

#[test]
fn kube_apiserver_is_denied_without_what_it_needs() {
    let before = fixture("kube-apiserver");
    let cases = [
        (
            Setup {
                cluster: None,
                ..Setup::default()
            },
            "could not get cluster for namespace 'shoot--prod--alpha'",
        ),
        (
            Setup {
                secret: None,
                ..Setup::default()
            },
            "could not get secret 'shoot--prod--alpha/cloudprovider'",
        ),
        (
            Setup::default().with_shoot(|s| {
                s["spec"]["networking"]
                    .as_object_mut()
                    .unwrap()
                    .remove("nodes");
            }),
            "nodeCIDR is not yet set",
        ),
        (
            Setup::default().with_shoot(version("one.thirty")),
            "Invalid Semantic Version",
        ),
    ];
    for (setup, want) in cases {
        let e = mutate(&setup, &before).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn kube_apiserver_without_its_containers_gets_only_the_checksum() {
    let mut before = fixture("kube-apiserver");
    before["spec"]["template"]["spec"]["containers"] = json!([{"name": "sidecar"}]);
    let after = mutate(&Setup::default(), &before).unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"],
        json!([{"name": "sidecar"}])
    );
    assert_eq!(
        after["spec"]["template"]["metadata"]["annotations"][checksum::ANNOTATION],
        json!(expected_checksum())
    );
}

// kube-controller-manager

#[test]
fn kube_controller_manager_uses_the_external_cloud_provider() {
    let before = fixture("kube-controller-manager");
    let after = mutate(&Setup::default(), &before).unwrap();
    let want: Vec<String> = strings(&container(&before, "kube-controller-manager")["command"])
        .into_iter()
        .filter(|a| {
            !a.starts_with("--cloud-config=") && !a.starts_with("--external-cloud-volume-plugin=")
        })
        .map(|a| {
            if a == "--cloud-provider=aws" {
                "--cloud-provider=external".to_string()
            } else {
                a
            }
        })
        .collect();
    let kcm = container(&after, "kube-controller-manager");
    assert_eq!(strings(&kcm["command"]), want);
    assert_eq!(want[5], "--cloud-provider=external");
    assert_eq!(
        after["spec"]["template"]["metadata"],
        json!({
            "labels": {
                "app": "kubernetes", "role": "controller-manager",
                "networking.gardener.cloud/to-dns": "allowed",
                "networking.gardener.cloud/to-public-networks": "allowed",
                "networking.gardener.cloud/to-private-networks": "allowed",
                "networking.gardener.cloud/to-blocked-cidrs": "allowed",
            },
            "annotations": {"checksum/secret-cloudprovider": expected_checksum()},
        })
    );
}

#[test]
fn kube_controller_manager_gets_the_cloud_provider_flag_appended_when_absent() {
    let mut before = fixture("kube-controller-manager");
    before["spec"]["template"]["spec"]["containers"][0]["command"] =
        json!(["/usr/local/bin/kube-controller-manager", "--v=2"]);
    let after = mutate(&Setup::default(), &before).unwrap();
    assert_eq!(
        container(&after, "kube-controller-manager")["command"],
        json!([
            "/usr/local/bin/kube-controller-manager",
            "--v=2",
            "--cloud-provider=external"
        ])
    );
}

#[test]
fn kube_controller_manager_without_its_container_gets_labels_and_checksum_only() {
    let mut before = fixture("kube-controller-manager");
    before["spec"]["template"]["spec"]["containers"][0]["name"] = json!("other");
    let after = mutate(&Setup::default(), &before).unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"],
        before["spec"]["template"]["spec"]
    );
    assert_eq!(
        after["spec"]["template"]["metadata"]["labels"]["networking.gardener.cloud/to-blocked-cidrs"],
        "allowed"
    );
    let setup = Setup {
        secret: None,
        ..Setup::default()
    };
    assert!(
        mutate(&setup, &before)
            .unwrap_err()
            .contains("cloudprovider")
    );
}

// vpn-seed-server

#[test]
fn vpn_seed_server_learns_the_node_network() {
    let before = fixture("vpn-seed-server");
    let after = mutate(&Setup::default(), &before).unwrap();
    assert_eq!(
        container(&after, "vpn-seed-server")["env"],
        json!([
            {"name": "SERVICE_NETWORK", "value": "10.243.0.0/16"},
            {"name": "POD_NETWORK", "value": "10.240.0.0/13"},
            {"name": "NODE_NETWORK", "value": NODES},
        ])
    );
    assert_eq!(
        container(&after, "envoy-proxy"),
        container(&before, "envoy-proxy")
    );
    assert!(after["spec"]["template"].get("metadata").is_none());
}

#[test]
fn vpn_seed_server_without_its_container_or_node_network() {
    let mut other = fixture("vpn-seed-server");
    other["spec"]["template"]["spec"]["containers"][0]["name"] = json!("vpn");
    assert_eq!(mutate(&Setup::default(), &other), Ok(other.clone()));
    let setup = Setup::default().with_shoot(|s| s["spec"]["networking"]["nodes"] = json!(""));
    assert_eq!(
        mutate(&setup, &fixture("vpn-seed-server")),
        Err("nodeCIDR is not yet set".to_string())
    );
}

// machine-controller-manager

fn sidecar(target_kubeconfig: &str, namespace: &str, mount: bool) -> Value {
    let mut c = json!({
        "name": "machine-controller-manager-provider-metal",
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/local/bin/machine-lifecycle"],
        "args": [
            "--control-kubeconfig=inClusterConfig",
            "--kube-api-qps=100",
            "--kube-api-burst=200",
            "--machine-creation-timeout=20m",
            "--machine-drain-timeout=2h",
            "--machine-health-timeout=10080m",
            "--machine-safety-apiserver-statuscheck-timeout=30s",
            "--machine-safety-apiserver-statuscheck-period=1m",
            "--machine-safety-orphan-vms-period=30m",
            format!("--namespace={namespace}"),
            "--port=10259",
            format!("--target-kubeconfig={target_kubeconfig}"),
            "--v=3",
        ],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": 10259, "scheme": "HTTP"},
            "initialDelaySeconds": 30, "timeoutSeconds": 5, "periodSeconds": 10,
            "successThreshold": 1, "failureThreshold": 3,
        },
        "ports": [{"name": "providermetrics", "containerPort": 10259, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false},
    });
    if mount {
        c["volumeMounts"] = json!([{
            "name": "kubeconfig",
            "mountPath": "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig",
            "readOnly": true,
        }]);
    }
    c
}

#[test]
fn machine_controller_manager_gets_the_provider_sidecar() {
    let before = fixture("machine-controller-manager");
    let after = mutate(&Setup::default(), &before).unwrap();
    let containers = after["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 2);
    assert_eq!(
        containers[0],
        before["spec"]["template"]["spec"]["containers"][0]
    );
    assert_eq!(
        containers[1],
        sidecar(
            "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/kubeconfig",
            NS,
            true
        )
    );
    // An outdated sidecar is replaced whole.
    let mut outdated = before.clone();
    outdated["spec"]["template"]["spec"]["containers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "machine-controller-manager-provider-metal", "image": "old", "args": ["--machine-health-timeout=10m"]}));
    assert_eq!(mutate(&Setup::default(), &outdated), Ok(after));
}

#[test]
fn machine_controller_manager_of_a_self_hosted_shoot() {
    let self_hosted = |s: &mut Value| {
        s["spec"]["provider"]["workers"][0]["controlPlane"] = json!({});
    };
    let setup = Setup::default().with_shoot(self_hosted);
    let after = mutate(&setup, &fixture("machine-controller-manager")).unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][1],
        sidecar("none", NS, false)
    );
    let mut in_shoot = fixture("machine-controller-manager");
    in_shoot["metadata"]["namespace"] = json!("kube-system");
    let after = mutate(&setup, &in_shoot).unwrap();
    assert_eq!(
        after["spec"]["template"]["spec"]["containers"][1],
        sidecar("", "kube-system", false)
    );
}

#[test]
fn machine_controller_manager_is_denied_without_image_or_cluster() {
    let before = fixture("machine-controller-manager");
    let mut no_image = Setup::default();
    no_image.config.machine_controller_manager_image = String::new();
    assert!(
        mutate(&no_image, &before)
            .unwrap_err()
            .contains("could not find image")
    );
    let no_cluster = Setup {
        cluster: None,
        ..Setup::default()
    };
    assert!(
        mutate(&no_cluster, &before)
            .unwrap_err()
            .contains("failed reading Cluster")
    );
}

// gardener-resource-manager ConfigMap

fn grm_config(object: &Value) -> Value {
    serde_saphyr::from_str(object["data"]["config.yaml"].as_str().unwrap()).unwrap()
}

#[test]
fn resource_manager_watches_metals_namespaces_too() {
    let before = fixture("gardener-resource-manager");
    let after = mutate(&Setup::default(), &before).unwrap();
    let mut want = grm_config(&before);
    want["targetClientConnection"]["namespaces"] = json!([
        "kube-system",
        "kubernetes-dashboard",
        "kube-node-lease",
        "firewall",
        "metallb-system",
        "csi-lvm",
        "audit"
    ]);
    assert_eq!(grm_config(&after), want);
    let mut rest = after.clone();
    rest["data"] = before["data"].clone();
    assert_eq!(rest, before);
}

#[test]
fn resource_manager_namespaces_already_listed_are_not_repeated() {
    let mut before = fixture("gardener-resource-manager");
    before["data"]["config.yaml"] = json!(
        "targetClientConnection:\n  namespaces:\n  - kube-system\n  - csi-lvm\n  - firewall\n  - audit\n  - metallb-system\n"
    );
    assert_eq!(mutate(&Setup::default(), &before), Ok(before.clone()));
    before["data"]["config.yaml"] = json!("targetClientConnection:\n  qps: 100\n");
    let after = mutate(&Setup::default(), &before).unwrap();
    assert_eq!(
        grm_config(&after)["targetClientConnection"],
        json!({"qps": 100, "namespaces": ["firewall", "metallb-system", "csi-lvm", "audit"]})
    );
}

#[test]
fn resource_manager_config_that_cannot_be_read_is_denied() {
    let mut before = fixture("gardener-resource-manager");
    for (config, want) in [
        (None, "does not contain config.yaml key"),
        (
            Some("a: [b"),
            "unable to decode gardener-resource-manager configuration",
        ),
        (
            Some("sourceClientConnection: {}\n"),
            "no targetClientConnection",
        ),
        (
            Some("targetClientConnection:\n  namespaces: x\n"),
            "not a list",
        ),
    ] {
        match config {
            Some(text) => before["data"] = json!({"config.yaml": text}),
            None => before["data"] = json!({"other.yaml": ""}),
        }
        let e = mutate(&Setup::default(), &before).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn a_cluster_fixture_is_what_the_tests_assume() {
    let cluster: &Cluster = &crate::core::mutation::tests::cluster();
    assert_eq!(cluster.node_cidr(), Ok(NODES));
}
