//! Gardener extension objects: ours validate against Gardener's CRDs, and objects Gardener
//! writes (with fields we do not model) still read.

mod common;

use common::{our_identity, upstream_identity};
use k8s_openapi::api::core::v1::SecretReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use kube_resources::gardener::{
    CloudConfig, Cluster, ClusterSpec, ControlPlane, ControlPlaneSpec, DefaultSpec, DefaultStatus,
    DropIn, File, FileContent, Infrastructure, InfrastructureSpec, InfrastructureStatus,
    InlineContent, LastOperation, MachineDeploymentRef, MachineImage, OperatingSystemConfig,
    OperatingSystemConfigSpec, OperatingSystemConfigStatus, SecretKeySelector, Unit, Worker,
    WorkerPool, WorkerSpec, WorkerStatus,
};
use kube_resources::schema::UpstreamSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const NS: &str = "shoot--p--c";

fn file(plural: &str) -> String {
    format!("extensions.gardener.cloud_{plural}.yaml")
}

fn schema(plural: &str) -> Option<UpstreamSchema> {
    let dir = common::upstream_crds()?;
    Some(
        UpstreamSchema::from_crd_yaml(&common::upstream_crd(&dir, &file(plural)), "v1alpha1")
            .expect("compiles"),
    )
}

/// Serialises `object`, validates it upstream (when the contracts are present) and reads it back.
fn check<K: Serialize + DeserializeOwned + Resource>(plural: &str, object: &K) -> (Value, K) {
    let value = serde_json::to_value(object).unwrap();
    if let Some(schema) = schema(plural) {
        schema
            .validate(&value)
            .unwrap_or_else(|e| panic!("{plural}: {e:?}"));
    }
    let back = serde_json::from_value(value.clone()).unwrap();
    (value, back)
}

fn secret(name: &str) -> SecretReference {
    SecretReference {
        name: Some(name.into()),
        namespace: Some(NS.into()),
    }
}

fn now() -> Time {
    Time("2026-11-23T10:00:00Z".parse().unwrap())
}

fn succeeded() -> DefaultStatus {
    DefaultStatus {
        last_operation: Some(LastOperation {
            description: "Infrastructure reconciled".into(),
            last_update_time: now(),
            progress: 100,
            state: "Succeeded".into(),
            type_: "Reconcile".into(),
        }),
        observed_generation: Some(3),
        provider_status: Some(
            json!({"apiVersion": "metal.provider.extensions.gardener.cloud/v1alpha1",
            "kind": "InfrastructureStatus", "firewall": {"machineID": "m1"}}),
        ),
        ..Default::default()
    }
}

#[test]
fn identities_match_upstream() {
    let Some(dir) = common::upstream_crds() else {
        return;
    };
    let v = "v1alpha1";
    assert_eq!(
        our_identity::<Infrastructure>(),
        upstream_identity(&dir, &file("infrastructures"), v)
    );
    assert_eq!(
        our_identity::<ControlPlane>(),
        upstream_identity(&dir, &file("controlplanes"), v)
    );
    assert_eq!(
        our_identity::<Worker>(),
        upstream_identity(&dir, &file("workers"), v)
    );
    assert_eq!(
        our_identity::<OperatingSystemConfig>(),
        upstream_identity(&dir, &file("operatingsystemconfigs"), v)
    );
    assert_eq!(
        our_identity::<Cluster>(),
        upstream_identity(&dir, &file("clusters"), v)
    );
    assert_eq!(
        Cluster::url_path(&(), None),
        "/apis/extensions.gardener.cloud/v1alpha1/clusters"
    );
}

#[test]
fn infrastructure_and_control_plane() {
    let mut infra = Infrastructure::new(
        "c",
        InfrastructureSpec {
            default: DefaultSpec {
                type_: "metal".into(),
                provider_config: Some(
                    json!({"apiVersion": "metal.provider.extensions.gardener.cloud/v1alpha1",
            "kind": "InfrastructureConfig", "partitionID": "fra-equ01", "projectID": "p"}),
                ),
                class: None,
            },
            region: "fra".into(),
            secret_ref: secret("cloudprovider"),
            ssh_public_key: None,
        },
    );
    infra.metadata.namespace = Some(NS.into());
    infra.status = Some(InfrastructureStatus {
        default: succeeded(),
        nodes_cidr: Some("10.250.0.0/16".into()),
        egress_cidrs: Some(vec!["203.0.113.7/32".into()]),
        networking: None,
    });
    let (value, back) = check("infrastructures", &infra);
    assert_eq!(
        value["status"]["lastOperation"]["state"], "Succeeded",
        "flattened status"
    );
    assert_eq!(value["status"]["nodesCIDR"], "10.250.0.0/16");
    assert_eq!(
        (back.spec, back.status),
        (infra.spec.clone(), infra.status.clone())
    );

    let mut cp = ControlPlane::new(
        "c",
        ControlPlaneSpec {
            default: DefaultSpec {
                type_: "metal".into(),
                provider_config: None,
                class: None,
            },
            region: "fra".into(),
            secret_ref: secret("cloudprovider"),
            infrastructure_provider_status: infra
                .status
                .as_ref()
                .and_then(|s| s.default.provider_status.clone()),
        },
    );
    cp.metadata.namespace = Some(NS.into());
    cp.status = Some(succeeded());
    let (_, back) = check("controlplanes", &cp);
    assert_eq!(back.spec, cp.spec);
}

#[test]
fn workers() {
    let pool = WorkerPool {
        name: "worker-z1".into(),
        machine_type: "c1-xlarge-x86".into(),
        minimum: 1,
        maximum: 3,
        max_surge: IntOrString::Int(1),
        max_unavailable: IntOrString::String("0%".into()),
        user_data_secret_ref: SecretKeySelector {
            key: "userdata".into(),
            name: Some("worker-z1-userdata".into()),
            optional: None,
        },
        machine_image: Some(MachineImage {
            name: "ubuntu".into(),
            version: "24.04".into(),
        }),
        zones: Some(vec!["fra-equ01".into()]),
        labels: Some([("pool".to_string(), "z1".to_string())].into()),
        annotations: None,
        taints: None,
        provider_config: None,
        kubernetes_version: Some("1.33.2".into()),
        architecture: Some("amd64".into()),
        priority: None,
        update_strategy: Some("AutoRollingUpdate".into()),
        node_agent_secret_name: None,
        machine_controller_manager: Some(json!({"machineDrainTimeout": "2h"})),
        node_template: Some(json!({"capacity": {"cpu": "32", "memory": "128Gi"}})),
    };
    let mut worker = Worker::new(
        "c",
        WorkerSpec {
            default: DefaultSpec {
                type_: "metal".into(),
                provider_config: None,
                class: None,
            },
            region: "fra".into(),
            secret_ref: secret("cloudprovider"),
            pools: vec![pool],
            infrastructure_provider_status: None,
            ssh_public_key: Some("c3NoLWVkMjU1MTkgQUFBQQ==".into()),
        },
    );
    worker.metadata.namespace = Some(NS.into());
    worker.status = Some(WorkerStatus {
        default: succeeded(),
        machine_deployments: Some(vec![MachineDeploymentRef {
            name: "c-worker-z1-z1".into(),
            minimum: 1,
            maximum: 3,
            priority: None,
        }]),
        machine_deployments_last_update_time: Some(now()),
    });
    let (value, back) = check("workers", &worker);
    assert_eq!(value["spec"]["pools"][0]["maxUnavailable"], "0%");
    assert_eq!(
        (back.spec, back.status),
        (worker.spec.clone(), worker.status.clone())
    );

    // What Gardener writes, with fields we do not model.
    let upstream = json!({"apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Worker",
        "metadata": {"name": "c", "namespace": NS},
        "spec": {"type": "metal", "region": "fra", "secretRef": {"name": "cloudprovider", "namespace": NS},
            "pools": [{"name": "a", "machineType": "s", "minimum": 0, "maximum": 1, "maxSurge": 1,
                "maxUnavailable": 0, "userDataSecretRef": {"key": "userdata", "name": "u"},
                "kubeletConfig": {"maxPods": 110}, "dataVolumes": [{"name": "d", "size": "10Gi"}]}]}});
    if let Some(schema) = schema("workers") {
        schema
            .validate(&upstream)
            .unwrap_or_else(|e| panic!("sample is valid upstream: {e:?}"));
    }
    let read: Worker = serde_json::from_value(upstream).unwrap();
    assert_eq!(read.spec.pools[0].max_surge, IntOrString::Int(1));
}

#[test]
fn operating_system_configs() {
    let mut osc = OperatingSystemConfig::new(
        "worker-z1-provision",
        OperatingSystemConfigSpec {
            default: DefaultSpec {
                type_: "ubuntu".into(),
                provider_config: None,
                class: None,
            },
            purpose: "provision".into(),
            units: Some(vec![Unit {
                name: "kubelet.service".into(),
                command: Some("start".into()),
                enable: Some(true),
                content: Some("[Service]\nExecStart=/opt/bin/kubelet\n".into()),
                drop_ins: Some(vec![DropIn {
                    name: "10-env.conf".into(),
                    content: "[Service]\n".into(),
                }]),
                file_paths: Some(vec!["/var/lib/kubelet/config".into()]),
            }]),
            files: Some(vec![File {
                path: "/etc/hostname".into(),
                content: FileContent {
                    inline: Some(InlineContent {
                        encoding: "b64".into(),
                        data: "d29ya2Vy".into(),
                    }),
                    ..Default::default()
                },
                permissions: Some(0o644),
                host_name: None,
            }]),
            cri_config: Some(json!({"name": "containerd"})),
        },
    );
    osc.metadata.namespace = Some(NS.into());
    osc.status = Some(OperatingSystemConfigStatus {
        default: succeeded(),
        extension_units: None,
        extension_files: None,
        cloud_config: Some(CloudConfig {
            secret_ref: secret("osc-result-worker-z1"),
        }),
    });
    let (value, back) = check("operatingsystemconfigs", &osc);
    assert_eq!(value["spec"]["files"][0]["permissions"], 420);
    assert_eq!(
        (back.spec, back.status),
        (osc.spec.clone(), osc.status.clone())
    );
}

#[test]
fn clusters_are_cluster_scoped_raw_objects() {
    let cluster = Cluster::new(
        NS,
        ClusterSpec {
            cloud_profile: json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile", "metadata": {"name": "metal"}}),
            shoot: json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot", "metadata": {"name": "c"},
            "spec": {"networking": {"nodes": "10.250.0.0/16"}}}),
            seed: None,
        },
    );
    let (value, back) = check("clusters", &cluster);
    assert!(value["metadata"].get("namespace").is_none());
    assert_eq!(
        back.spec.shoot["spec"]["networking"]["nodes"],
        "10.250.0.0/16"
    );
    if let Some(schema) = schema("clusters") {
        let mut missing = value;
        missing["spec"].as_object_mut().unwrap().remove("shoot");
        assert!(
            schema.validate(&missing).is_err(),
            "shoot is required upstream"
        );
    }
}
