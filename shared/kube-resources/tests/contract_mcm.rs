//! Machine-controller-manager objects as machine-lifecycle writes them validate against MCM's
//! CRDs, and objects MCM writes (with fields we do not model) still read.

mod common;

use std::collections::BTreeMap;

use common::{our_identity, upstream_identity};
use k8s_openapi::api::core::v1::{SecretReference, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::Resource;
use kube_resources::mcm::{
    ClassSpec, CurrentStatus, LastOperation, Machine, MachineClass, MachineClassNodeTemplate,
    MachineSpec, MachineStatus, NodeSpecTemplate, NodeTemplateSpec,
};
use kube_resources::schema::UpstreamSchema;
use serde_json::{Value, json};

const MACHINES: &str = "machine.sapcloud.io_machines.yaml";
const CLASSES: &str = "machine.sapcloud.io_machineclasses.yaml";

fn schema(file: &str) -> Option<UpstreamSchema> {
    let dir = common::upstream_crds()?;
    Some(
        UpstreamSchema::from_crd_yaml(&common::upstream_crd(&dir, file), "v1alpha1")
            .expect("compiles"),
    )
}

#[test]
fn identities_match_upstream() {
    let Some(dir) = common::upstream_crds() else {
        return;
    };
    assert_eq!(
        our_identity::<Machine>(),
        upstream_identity(&dir, MACHINES, "v1alpha1")
    );
    assert_eq!(
        our_identity::<MachineClass>(),
        upstream_identity(&dir, CLASSES, "v1alpha1")
    );
    assert_eq!(
        Machine::url_path(&(), Some("shoot--p--c")),
        "/apis/machine.sapcloud.io/v1alpha1/namespaces/shoot--p--c/machines"
    );
}

fn machine() -> Machine {
    let mut machine = Machine::new(
        "shoot--p--c-worker-z1-5d8f9-abcde",
        MachineSpec {
            class: Some(ClassSpec {
                name: "shoot--p--c-worker-z1-3a9c1".into(),
                kind: Some("MachineClass".into()),
                api_group: None,
            }),
            provider_id: Some("metal://fra-equ01/00000000-0000-0000-0000-0000000000a1".into()),
            node_template: Some(NodeTemplateSpec {
                metadata: None,
                spec: Some(NodeSpecTemplate {
                    taints: Some(vec![Taint {
                        key: "dedicated".into(),
                        value: Some("storage".into()),
                        effect: "NoSchedule".into(),
                        time_added: None,
                    }]),
                    ..Default::default()
                }),
            }),
            creation_timeout: Some("20m".into()),
            drain_timeout: None,
            health_timeout: Some("10m".into()),
            max_evict_retries: Some(10),
        },
    );
    machine.metadata.namespace = Some("shoot--p--c".into());
    machine.status = Some(MachineStatus {
        current_status: Some(CurrentStatus {
            phase: Some("Pending".into()),
            timeout_active: Some(true),
            last_update_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-11-23T10:00:00Z".parse().unwrap(),
            )),
        }),
        last_operation: Some(LastOperation {
            description: Some("Creating machine on cloud provider".into()),
            error_code: None,
            last_update_time: None,
            state: Some("Processing".into()),
            type_: Some("Create".into()),
        }),
        last_known_state: None,
        conditions: None,
        addresses: None,
    });
    machine
}

#[test]
fn machines_we_write_are_valid_upstream_and_round_trip() {
    let Some(schema) = schema(MACHINES) else {
        return;
    };
    let value = serde_json::to_value(machine()).unwrap();
    schema.validate(&value).unwrap_or_else(|e| panic!("{e:?}"));
    let back: Machine = serde_json::from_value(value).unwrap();
    assert_eq!((back.spec, back.status), (machine().spec, machine().status));

    let mut bad = serde_json::to_value(machine()).unwrap();
    bad["spec"]["maxEvictRetries"] = json!("ten");
    let errors = schema.validate(&bad).unwrap_err();
    assert!(errors[0].starts_with("/spec/maxEvictRetries"), "{errors:?}");
}

#[test]
fn machines_mcm_writes_still_read() {
    let upstream = json!({
        "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "Machine",
        "metadata": {"name": "m", "namespace": "shoot--p--c", "labels": {"node": "n1"}},
        "spec": {"class": {"kind": "MachineClass", "name": "c"}, "machinePreserveTimeout": "3h",
                 "nodeTemplate": {"metadata": {"labels": {"pool": "a"}}, "spec": {"podCIDR": "10.244.1.0/24"}}},
        "status": {"currentStatus": {"phase": "Running", "lastUpdateTime": "2026-11-23T10:00:00Z",
                                     "preserveExpiryTime": "2026-11-23T13:00:00Z"},
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}
    });
    if let Some(schema) = schema(MACHINES) {
        schema
            .validate(&upstream)
            .unwrap_or_else(|e| panic!("sample is valid upstream: {e:?}"));
    }
    let machine: Machine = serde_json::from_value(upstream).unwrap();
    let status = machine.status.unwrap();
    assert_eq!(
        status.current_status.unwrap().phase.as_deref(),
        Some("Running")
    );
    assert_eq!(status.addresses.unwrap()[0].address, "10.0.0.5");
    let template = machine.spec.node_template.unwrap();
    assert_eq!(
        template.spec.unwrap().pod_cidr.as_deref(),
        Some("10.244.1.0/24")
    );
}

fn machine_class() -> MachineClass {
    let mut class = MachineClass::new(
        "shoot--p--c-worker-z1-3a9c1",
        json!({"apiVersion": "metal.provider.extensions.gardener.cloud/v1alpha1",
               "kind": "MachineProviderConfig", "partition": "fra-equ01", "size": "c1-xlarge-x86",
               "image": "ubuntu-24.04", "project": "00000000-0000-0000-0000-000000000001",
               "network": "tenant", "tags": ["kubernetes.io/cluster=c"]}),
    );
    class.metadata.namespace = Some("shoot--p--c".into());
    class.provider = Some("metal".into());
    class.secret_ref = Some(SecretReference {
        name: Some("shoot--p--c-worker-z1-3a9c1".into()),
        namespace: Some("shoot--p--c".into()),
    });
    class.credentials_secret_ref = Some(SecretReference {
        name: Some("cloudprovider".into()),
        namespace: Some("shoot--p--c".into()),
    });
    class.node_template = Some(MachineClassNodeTemplate {
        capacity: Some(BTreeMap::from([
            ("cpu".into(), Quantity("32".into())),
            ("memory".into(), Quantity("128Gi".into())),
        ])),
        instance_type: Some("c1-xlarge-x86".into()),
        region: Some("fra".into()),
        zone: Some("fra-equ01".into()),
        architecture: Some("amd64".into()),
    });
    class
}

#[test]
fn machine_classes_are_valid_upstream_and_round_trip() {
    let class = machine_class();
    let value = serde_json::to_value(&class).unwrap();
    assert_eq!(value["apiVersion"], "machine.sapcloud.io/v1alpha1");
    assert_eq!(value["kind"], "MachineClass");
    assert!(
        value.get("spec").is_none(),
        "MachineClass fields are top-level"
    );
    if let Some(schema) = schema(CLASSES) {
        schema.validate(&value).unwrap_or_else(|e| panic!("{e:?}"));
        let mut missing: Value = value.clone();
        missing.as_object_mut().unwrap().remove("providerSpec");
        assert!(
            schema.validate(&missing).is_err(),
            "providerSpec is required upstream"
        );
    }
    let back: MachineClass = serde_json::from_value(value).unwrap();
    assert_eq!(back, class);
    let read: MachineClass = serde_json::from_value(json!({
        "metadata": {"name": "c"}, "providerSpec": {"any": "thing"},
        "nodeTemplate": {"capacity": {"cpu": "2"}, "virtualCapacity": {"x": "1"}}
    }))
    .unwrap();
    assert_eq!(read.api_version, "machine.sapcloud.io/v1alpha1");
    assert_eq!(read.provider_spec["any"], "thing");
}
