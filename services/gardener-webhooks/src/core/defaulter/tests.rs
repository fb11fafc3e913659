use serde_json::{Value, json};

use super::*;
use crate::core::provider_config::API_VERSION;
use crate::core::test_support::{messages, with};

fn profile() -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile",
        "metadata": {"name": "metal"},
        "spec": {
            "type": "metal",
            "providerConfig": {
                "apiVersion": API_VERSION, "kind": "CloudProfileConfig",
                "metalControlPlanes": {
                    "prod": {
                        "endpoint": "https://api.example.com/metal",
                        "partitions": {
                            "fra-equ01": {"firewallTypes": ["n1-medium-x86", "foo"]},
                            "fra-equ02": {},
                        },
                        "firewallImages": image::tests::upstream_images(),
                    },
                    "lab": {
                        "endpoint": "https://lab.example.com/metal",
                        "partitions": {"muc": {"firewallTypes": ["c1-large-x86"]}},
                    },
                },
            },
        },
    })
}

/// A metal Shoot with workers that sets nothing the defaulter defaults.
fn shoot() -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
        "metadata": {"name": "s", "namespace": "garden-p"},
        "spec": {
            "cloudProfileName": "metal", "region": "fra",
            "kubernetes": {"version": "1.31.1"},
            "provider": {
                "type": "metal",
                "infrastructureConfig": {
                    "apiVersion": API_VERSION, "kind": "InfrastructureConfig",
                    "partitionID": "fra-equ01", "projectID": "p1",
                    "firewall": {"networks": ["internet"], "controllerVersion": "auto"},
                },
                "workers": [{"name": "w", "minimum": 1, "maximum": 2,
                             "machine": {"type": "c1-xlarge-x86"}}],
            },
        },
    })
}

/// Upstream's "complete spec": everything the defaulter would set is set, differently.
fn complete_shoot() -> Value {
    let s = with(
        shoot(),
        "/spec/kubernetes",
        Some(json!({
            "version": "1.31.1",
            "kubeControllerManager": {"nodeCIDRMaskSize": 24},
            "kubelet": {"maxPods": 200},
            "kubeProxy": {"enabled": true},
        })),
    );
    let s = with(
        s,
        "/spec/networking",
        Some(json!({
            "type": "cilium",
            "pods": "10.240.0.0/14",
            "services": "10.248.0.0/19",
            "providerConfig": {
                "apiVersion": CILIUM_API_VERSION, "kind": "NetworkConfig",
                "debug": true, "hubble": {"enabled": false}, "tunnel": "geneve",
            },
        })),
    );
    let s = with(s, IMAGE, Some(json!("firewall-ubuntu-2.0.19700101")));
    with(s, SIZE, Some(json!("foo")))
}

const FW: &str = "/spec/provider/infrastructureConfig/firewall";
const IMAGE: &str = "/spec/provider/infrastructureConfig/firewall/image";
const SIZE: &str = "/spec/provider/infrastructureConfig/firewall/size";
const PARTITION: &str = "/spec/provider/infrastructureConfig/partitionID";
const NET: &str = "/spec/networking";
const NET_TYPE: &str = "/spec/networking/type";
const PODS: &str = "/spec/networking/pods";
const SERVICES: &str = "/spec/networking/services";
const NET_CONFIG: &str = "/spec/networking/providerConfig";
const WORKERS: &str = "/spec/provider/workers";

fn defaulted(shoot: &Value) -> Value {
    default_shoot(shoot, &profile(), &Defaults::default()).expect("defaultable")
}

fn calico() -> Value {
    json!({
        "apiVersion": "calico.networking.extensions.gardener.cloud/v1alpha1",
        "kind": "NetworkConfig",
        "backend": "none",
        "ipv4": {"mode": "Never"},
        "typha": {"enabled": false},
    })
}

fn cilium() -> Value {
    json!({
        "apiVersion": "cilium.networking.extensions.gardener.cloud/v1alpha1",
        "kind": "NetworkConfig",
        "hubble": {"enabled": true},
        "tunnel": "disabled",
        "mtu": 1440,
        "devices": ["lan+", "lo"],
        "directRoutingDevice": "lo",
        "loadBalancingMode": "dsr",
        "ipv4NativeRoutingCIDREnabled": true,
        "bgpControlPlane": {"enabled": true},
    })
}

#[test]
fn each_default_applies_when_absent_and_keeps_what_is_set() {
    let nodes = "/spec/kubernetes/kubeControllerManager/nodeCIDRMaskSize";
    let pods = "/spec/kubernetes/kubelet/maxPods";
    let proxy = "/spec/kubernetes/kubeProxy/enabled";
    let no_workers = || with(shoot(), WORKERS, None);
    let cases: Vec<(&str, Value, &str, Option<Value>)> = vec![
        // kubernetes
        ("mask size absent", shoot(), nodes, Some(json!(23))),
        (
            "mask size set",
            with(
                shoot(),
                "/spec/kubernetes/kubeControllerManager",
                Some(json!({"nodeCIDRMaskSize": 24})),
            ),
            nodes,
            Some(json!(24)),
        ),
        (
            "kubeControllerManager null",
            with(
                shoot(),
                "/spec/kubernetes/kubeControllerManager",
                Some(Value::Null),
            ),
            nodes,
            Some(json!(23)),
        ),
        (
            "mask size without workers",
            no_workers(),
            nodes,
            Some(json!(23)),
        ),
        ("max pods absent", shoot(), pods, Some(json!(250))),
        (
            "max pods set",
            with(
                shoot(),
                "/spec/kubernetes/kubelet",
                Some(json!({"maxPods": 110})),
            ),
            pods,
            Some(json!(110)),
        ),
        (
            "other kubelet fields stay",
            with(
                shoot(),
                "/spec/kubernetes/kubelet",
                Some(json!({"podPidsLimit": 100})),
            ),
            "/spec/kubernetes/kubelet",
            Some(json!({"podPidsLimit": 100, "maxPods": 250})),
        ),
        (
            "kubernetes absent",
            with(shoot(), "/spec/kubernetes", None),
            "/spec/kubernetes",
            Some(json!({
                "kubeControllerManager": {"nodeCIDRMaskSize": 23},
                "kubelet": {"maxPods": 250},
                "kubeProxy": {"enabled": true},
            })),
        ),
        (
            "max pods without workers",
            no_workers(),
            pods,
            Some(json!(250)),
        ),
        // firewall image: the latest of the control plane
        (
            "image absent",
            shoot(),
            IMAGE,
            Some(json!("firewall-2.0.20210207")),
        ),
        (
            "image empty",
            with(shoot(), IMAGE, Some(json!(""))),
            IMAGE,
            Some(json!("firewall-2.0.20210207")),
        ),
        (
            "image set",
            with(shoot(), IMAGE, Some(json!("firewall-ubuntu-2.0.20201023"))),
            IMAGE,
            Some(json!("firewall-ubuntu-2.0.20201023")),
        ),
        (
            "control plane without images",
            with(
                shoot(),
                "/spec/provider/infrastructureConfig/partitionID",
                Some(json!("muc")),
            ),
            IMAGE,
            None,
        ),
        // firewall size: the first type of the partition
        ("size absent", shoot(), SIZE, Some(json!("n1-medium-x86"))),
        (
            "size empty",
            with(shoot(), SIZE, Some(json!(""))),
            SIZE,
            Some(json!("n1-medium-x86")),
        ),
        (
            "size set",
            with(shoot(), SIZE, Some(json!("foo"))),
            SIZE,
            Some(json!("foo")),
        ),
        (
            "other control plane's partition",
            with(
                shoot(),
                "/spec/provider/infrastructureConfig/partitionID",
                Some(json!("muc")),
            ),
            SIZE,
            Some(json!("c1-large-x86")),
        ),
        (
            "partition without types",
            with(
                shoot(),
                "/spec/provider/infrastructureConfig/partitionID",
                Some(json!("fra-equ02")),
            ),
            SIZE,
            None,
        ),
        (
            "firewall absent",
            with(shoot(), FW, None),
            FW,
            Some(json!({"image": "firewall-2.0.20210207", "size": "n1-medium-x86"})),
        ),
        // networking: only with workers
        (
            "networking absent",
            shoot(),
            NET,
            Some(json!({"type": "calico", "pods": "10.240.0.0/13",
                        "services": "10.248.0.0/18", "providerConfig": calico()})),
        ),
        ("no workers", no_workers(), NET, None),
        (
            "empty workers",
            with(shoot(), WORKERS, Some(json!([]))),
            NET,
            None,
        ),
        (
            "null workers",
            with(shoot(), WORKERS, Some(Value::Null)),
            NET,
            None,
        ),
        ("no workers, no kube-proxy", no_workers(), proxy, None),
        (
            "no workers, networking kept as is",
            with(no_workers(), NET, Some(json!({"type": ""}))),
            NET,
            Some(json!({"type": ""})),
        ),
        (
            "networking null",
            with(shoot(), NET, Some(Value::Null)),
            NET_TYPE,
            Some(json!("calico")),
        ),
        (
            "type empty",
            with(shoot(), NET, Some(json!({"type": ""}))),
            NET_TYPE,
            Some(json!("calico")),
        ),
        (
            "type set",
            with(shoot(), NET, Some(json!({"type": "cilium"}))),
            NET_TYPE,
            Some(json!("cilium")),
        ),
        (
            "pods set",
            with(shoot(), NET, Some(json!({"pods": "10.0.0.0/16"}))),
            PODS,
            Some(json!("10.0.0.0/16")),
        ),
        (
            "services set",
            with(shoot(), NET, Some(json!({"services": "10.1.0.0/16"}))),
            SERVICES,
            Some(json!("10.1.0.0/16")),
        ),
        (
            "another network type gets the CIDRs",
            with(shoot(), NET, Some(json!({"type": "flannel"}))),
            NET,
            Some(json!({"type": "flannel", "pods": "10.240.0.0/13", "services": "10.248.0.0/18"})),
        ),
        (
            "another network type gets no kube-proxy",
            with(shoot(), NET, Some(json!({"type": "flannel"}))),
            proxy,
            None,
        ),
        // the network config, only without a providerConfig
        ("calico config", shoot(), NET_CONFIG, Some(calico())),
        ("calico kube-proxy", shoot(), proxy, Some(json!(true))),
        (
            "cilium config",
            with(shoot(), NET, Some(json!({"type": "cilium"}))),
            NET_CONFIG,
            Some(cilium()),
        ),
        (
            "cilium kube-proxy",
            with(shoot(), NET, Some(json!({"type": "cilium"}))),
            proxy,
            Some(json!(false)),
        ),
        (
            "kube-proxy set",
            with(
                shoot(),
                "/spec/kubernetes/kubeProxy",
                Some(json!({"enabled": false})),
            ),
            proxy,
            Some(json!(false)),
        ),
        (
            "providerConfig present",
            with(
                shoot(),
                NET,
                Some(json!({"type": "calico", "providerConfig": {"backend": "bird"}})),
            ),
            NET_CONFIG,
            Some(json!({"backend": "bird"})),
        ),
        (
            "providerConfig present, no kube-proxy",
            with(
                shoot(),
                NET,
                Some(json!({"type": "calico", "providerConfig": {"backend": "bird"}})),
            ),
            proxy,
            None,
        ),
        (
            "providerConfig null",
            with(
                shoot(),
                NET,
                Some(json!({"type": "calico", "providerConfig": null})),
            ),
            NET_CONFIG,
            Some(calico()),
        ),
    ];
    for (name, shoot, pointer, want) in cases {
        let got = defaulted(&shoot);
        assert_eq!(got.pointer(pointer), want.as_ref(), "{name}: {pointer}");
    }
}

#[test]
fn the_infrastructure_config_keeps_what_the_user_wrote_and_gains_only_image_and_size() {
    let infra = "/spec/provider/infrastructureConfig";
    let got = defaulted(&shoot());
    assert_eq!(
        got.pointer(infra),
        Some(&json!({
            "apiVersion": API_VERSION, "kind": "InfrastructureConfig",
            "partitionID": "fra-equ01", "projectID": "p1",
            "firewall": {"networks": ["internet"], "controllerVersion": "auto",
                         "image": "firewall-2.0.20210207", "size": "n1-medium-x86"},
        }))
    );
    // Nothing to default: the config is left byte for byte.
    let no_types = with(shoot(), PARTITION, Some(json!("fra-equ02")));
    let own_image = with(no_types, IMAGE, Some(json!("mine")));
    assert_eq!(
        defaulted(&own_image).pointer(infra),
        own_image.pointer(infra),
        "no types, image set"
    );
}

#[test]
fn shoots_with_nothing_to_default_are_unchanged() {
    let non_metal = with(shoot(), "/spec/provider/type", Some(json!("aws")));
    let deleting = with(
        shoot(),
        "/metadata/deletionTimestamp",
        Some(json!("2024-01-01T00:00:00Z")),
    );
    // Neither of these is even looked at: without infrastructureConfig a metal Shoot is an error.
    let non_metal_broken = with(
        non_metal.clone(),
        "/spec/provider/infrastructureConfig",
        None,
    );
    let deleting_broken = with(
        deleting.clone(),
        "/spec/provider/infrastructureConfig",
        None,
    );
    let no_provider =
        json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot", "spec": {}});
    let complete_workerless = with(complete_shoot(), WORKERS, None);
    for (name, shoot) in [
        ("non-metal", non_metal),
        ("non-metal without infrastructureConfig", non_metal_broken),
        ("being deleted", deleting),
        (
            "being deleted without infrastructureConfig",
            deleting_broken,
        ),
        ("no provider", no_provider),
        ("complete", complete_shoot()),
        ("complete, workerless", complete_workerless),
    ] {
        assert_eq!(
            default_shoot(&shoot, &profile(), &Defaults::default()),
            Ok(shoot.clone()),
            "{name}"
        );
    }
    // Defaulting is idempotent.
    let once = defaulted(&shoot());
    assert_eq!(defaulted(&once), once);
}

#[test]
fn what_makes_defaulting_impossible_is_a_field_error() {
    let p = profile();
    let infra = "/spec/provider/infrastructureConfig";
    let no_provider_config = with(profile(), "/spec/providerConfig", None);
    let cases: Vec<(&str, Value, Value, Vec<&str>)> = vec![
        (
            "infrastructureConfig missing",
            with(shoot(), infra, None),
            p.clone(),
            vec!["spec.provider.infrastructureConfig: Required value"],
        ),
        (
            "infrastructureConfig undecodable",
            with(
                shoot(),
                "/spec/provider/infrastructureConfig/firewall/sizes",
                Some(json!("x")),
            ),
            p.clone(),
            vec![
                "spec.provider.infrastructureConfig: Invalid value: cannot decode InfrastructureConfig: unknown field `sizes`",
            ],
        ),
        (
            "infrastructureConfig of another kind",
            with(
                shoot(),
                "/spec/provider/infrastructureConfig/kind",
                Some(json!("ControlPlaneConfig")),
            ),
            p.clone(),
            vec!["spec.provider.infrastructureConfig.kind: Unsupported value"],
        ),
        (
            "no partition",
            with(shoot(), PARTITION, None),
            p.clone(),
            vec!["spec.provider.infrastructureConfig.partitionID: Required value"],
        ),
        (
            "unknown partition",
            with(shoot(), PARTITION, Some(json!("ams"))),
            p.clone(),
            vec![
                "spec.provider.infrastructureConfig.partitionID: Not found: \"ams\": no metal control plane",
            ],
        ),
        (
            "profile without providerConfig",
            shoot(),
            no_provider_config.clone(),
            vec!["cloudProfile.spec.providerConfig: Required value"],
        ),
        (
            "both broken",
            with(shoot(), infra, None),
            no_provider_config,
            vec![
                "spec.provider.infrastructureConfig: Required value",
                "cloudProfile.spec.providerConfig: Required value",
            ],
        ),
        (
            "kubernetes not an object, named once",
            with(shoot(), "/spec/kubernetes", Some(json!("1.31"))),
            p.clone(),
            vec!["spec.kubernetes: Invalid value: must be an object"],
        ),
        (
            "kubelet not an object",
            with(shoot(), "/spec/kubernetes/kubelet", Some(json!([]))),
            p.clone(),
            vec!["spec.kubernetes.kubelet: Invalid value: must be an object"],
        ),
        (
            "networking not an object",
            with(shoot(), NET, Some(json!("calico"))),
            p.clone(),
            vec!["spec.networking: Invalid value: must be an object"],
        ),
        (
            "workers not a list",
            with(shoot(), WORKERS, Some(json!({"name": "w"}))),
            p.clone(),
            vec!["spec.provider.workers: Invalid value: must be a list"],
        ),
    ];
    for (name, shoot, profile, want) in cases {
        let got = messages(default_shoot(&shoot, &profile, &Defaults::default()).unwrap_err());
        assert_eq!(got.len(), want.len(), "{name}: {got:?}");
        for (got, want) in got.iter().zip(want) {
            assert!(
                got.starts_with(want),
                "{name}: {got:?} does not start with {want:?}"
            );
        }
    }
}

#[test]
fn a_namespaced_cloud_profile_spec_serves_as_the_profile() {
    let spec = profile()["spec"].clone();
    let got = default_shoot(&shoot(), &json!({"spec": spec}), &Defaults::default()).unwrap();
    assert_eq!(got, defaulted(&shoot()));
}

#[test]
fn the_admission_patch_turns_the_shoot_into_the_defaulted_one() {
    let before = shoot();
    let after = defaulted(&before);
    let patch = json_patch::diff(&before, &after);
    assert!(!patch.is_empty());
    assert!(
        patch
            .iter()
            .all(|op| matches!(op, json_patch::PatchOperation::Add(_))),
        "defaulting only adds: {patch:?}"
    );
    let mut patched = before.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    assert_eq!(patched, after);
    // Nothing to default: an empty patch.
    assert!(json_patch::diff(&after, &defaulted(&after)).is_empty());
}

fn env(vars: &[(&str, &str)]) -> Defaults {
    let (defaults, warnings) = Defaults::from_env(|key| {
        vars.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    });
    assert!(warnings.is_empty(), "{warnings:?}");
    defaults
}

#[test]
fn overridden_defaults_land_in_the_shoot() {
    let d = env(&[
        ("DEFAULTER_MAXPODS", "110"),
        ("DEFAULTER_NODECIDRMASKSIZE", "24"),
        ("DEFAULTER_PODSCIDR", "10.0.0.0/12"),
        ("DEFAULTER_SERVICESCIDR", "10.96.0.0/16"),
        ("DEFAULTER_NETWORKTYPE", "cilium"),
        ("DEFAULTER_CILIUMKUBEPROXYENABLED", "true"),
        ("DEFAULTER_CILIUMHUBBLEENABLED", "false"),
        ("DEFAULTER_CILIUMTUNNEL", "geneve"),
        ("DEFAULTER_CILIUMDEVICES", "bond0"),
        ("DEFAULTER_CILIUMDIRECTROUTINGDEVICE", "bond0"),
        ("DEFAULTER_CILIUMBGPCONTROLPLANE", "false"),
        ("DEFAULTER_CILIUMIPV4NATIVEROUTINGCIDRENABLED", "false"),
        ("DEFAULTER_CILIUMLOADBALANCINGMODE", "snat"),
        ("DEFAULTER_CILIUMMTU", "9000"),
    ]);
    let got = default_shoot(&shoot(), &profile(), &d).unwrap();
    assert_eq!(
        got.pointer("/spec/kubernetes"),
        Some(&json!({
            "version": "1.31.1",
            "kubeControllerManager": {"nodeCIDRMaskSize": 24},
            "kubelet": {"maxPods": 110},
            "kubeProxy": {"enabled": true},
        }))
    );
    assert_eq!(
        got.pointer(NET),
        Some(&json!({
            "type": "cilium", "pods": "10.0.0.0/12", "services": "10.96.0.0/16",
            "providerConfig": {
                "apiVersion": CILIUM_API_VERSION, "kind": "NetworkConfig",
                "hubble": {"enabled": false}, "tunnel": "geneve", "mtu": 9000,
                "devices": ["bond0"], "directRoutingDevice": "bond0",
                "loadBalancingMode": "snat", "ipv4NativeRoutingCIDREnabled": false,
                "bgpControlPlane": {"enabled": false},
            },
        }))
    );
    let d = env(&[
        ("DEFAULTER_CALICOBACKEND", "vxlan"),
        ("DEFAULTER_CALICOKUBEPROXYENABLED", "false"),
        ("DEFAULTER_CALICOPOOLMODE", "Always"),
        ("DEFAULTER_CALICOTYPHAENABLED", "true"),
    ]);
    let got = default_shoot(&shoot(), &profile(), &d).unwrap();
    assert_eq!(
        got.pointer(NET_CONFIG),
        Some(&json!({
            "apiVersion": CALICO_API_VERSION, "kind": "NetworkConfig",
            "backend": "vxlan", "ipv4": {"mode": "Always"}, "typha": {"enabled": true},
        }))
    );
    assert_eq!(
        got.pointer("/spec/kubernetes/kubeProxy/enabled"),
        Some(&json!(false))
    );
}
