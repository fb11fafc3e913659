//! machine-controller-manager resources (`machine.sapcloud.io/v1alpha1`): the `Machine` the
//! machine-lifecycle service creates metal machines for, the `MachineClass` that says how, and
//! the `MachineDeployment` and `MachineSet` it scales Machines by (`--machine-deployments`).
//!
//! We do not own these CRDs; the types carry the fields of
//! `contracts/crds/machine.sapcloud.io_*.yaml` a provider reads or writes and derive no schema.
//! `providerSpec` is the provider's own configuration and stays raw JSON. Fields we do not model
//! are dropped when read, so writers patch only the fields they own, never replace.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{SecretReference, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One machine MCM wants to exist.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "machine.sapcloud.io",
    version = "v1alpha1",
    kind = "Machine",
    plural = "machines",
    shortname = "mc",
    namespaced,
    status = "MachineStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct MachineSpec {
    /// The MachineClass to create it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<ClassSpec>,
    /// Set by the provider once the machine exists (`metal://<partition>/<machine-id>`).
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_template: Option<NodeTemplateSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_evict_retries: Option<i32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClassSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
}

/// Labels, annotations and spec fields the Node of the machine is given.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeTemplateSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<NodeSpecTemplate>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpecTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taints: Option<Vec<Taint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unschedulable: Option<bool>,
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub provider_id: Option<String>,
    #[serde(rename = "podCIDR", default, skip_serializing_if = "Option::is_none")]
    pub pod_cidr: Option<String>,
    #[serde(rename = "podCIDRs", default, skip_serializing_if = "Option::is_none")]
    pub pod_cidrs: Option<Vec<String>>,
}

/// What MCM and the provider know about the machine.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_status: Option<CurrentStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_operation: Option<LastOperation>,
    /// Provider state to carry across control plane migrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_known_state: Option<String>,
    /// Copied from the Node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<k8s_openapi::api::core::v1::NodeCondition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<k8s_openapi::api::core::v1::NodeAddress>>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CurrentStatus {
    /// `Pending`, `Available`, `Running`, `Terminating`, `Unknown`, `Failed`, `CrashLoopBackOff`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_active: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastOperation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The provider's gRPC-style error code for a failed operation (`ResourceExhausted`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// `Processing`, `Failed`, `Successful`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `Create`, `Update`, `HealthCheck`, `Delete`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// How to create machines of one pool. Its fields sit at the top level, not under `spec`,
/// so the `Resource` impl is written by hand.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineClass {
    /// Always `machine.sapcloud.io/v1alpha1`.
    #[serde(default = "class_api_version")]
    pub api_version: String,
    /// Always `MachineClass`.
    #[serde(default = "class_kind")]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The provider's configuration (for metal: partition, size, image, project, networks).
    pub provider_spec: Value,
    /// The userdata Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretReference>,
    /// The provider credentials Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretReference>,
    /// The provider name (`metal`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Capacity and placement of the machines, for scale-from-zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_template: Option<MachineClassNodeTemplate>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineClassNodeTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<BTreeMap<String, Quantity>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

fn class_api_version() -> String {
    "machine.sapcloud.io/v1alpha1".into()
}

fn class_kind() -> String {
    "MachineClass".into()
}

impl MachineClass {
    pub fn new(name: &str, provider_spec: Value) -> Self {
        Self {
            api_version: class_api_version(),
            kind: class_kind(),
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            provider_spec,
            secret_ref: None,
            credentials_secret_ref: None,
            provider: None,
            node_template: None,
        }
    }
}

impl kube::Resource for MachineClass {
    type DynamicType = ();
    type Scope = kube::core::NamespaceResourceScope;

    fn kind(_: &()) -> std::borrow::Cow<'_, str> {
        "MachineClass".into()
    }
    fn group(_: &()) -> std::borrow::Cow<'_, str> {
        "machine.sapcloud.io".into()
    }
    fn version(_: &()) -> std::borrow::Cow<'_, str> {
        "v1alpha1".into()
    }
    fn plural(_: &()) -> std::borrow::Cow<'_, str> {
        "machineclasses".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// What a Machine is made from: the labels and annotations it gets and its spec. Used by
/// MachineDeployments and MachineSets.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineTemplateSpec {
    /// Only `labels` and `annotations` are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<TemplateMachineSpec>,
}

/// The Machine spec of a template: the fields [`MachineSpec`] models, plus every other field as
/// it came (`disableHealthTimeout`, `nodeConditions`, ... of newer MCM versions), so the
/// Machines made from it carry them and a change of any of them rolls the machines.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TemplateMachineSpec {
    // Flattened structs take their fields out first, so `other` holds only the rest.
    #[serde(flatten)]
    pub machine: MachineSpec,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// A label query; only `matchLabels` is used (MCM's Gardener-written selectors have nothing
/// else), `matchExpressions` is kept for the round trip.
pub type LabelSelector = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// `replicas` Machines of one template, rolled to a new template like a Deployment's Pods
/// (MCM's deployment controller). Gardener's Worker controller writes one per pool and zone.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "machine.sapcloud.io",
    version = "v1alpha1",
    kind = "MachineDeployment",
    plural = "machinedeployments",
    shortname = "mcd",
    namespaced,
    status = "MachineDeploymentStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct MachineDeploymentSpec {
    /// Upstream's default is 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: MachineTemplateSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<MachineDeploymentStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineDeploymentStrategy {
    /// `RollingUpdate` (the default) or `Recreate`; upstream also has `InPlaceUpdate`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolling_update: Option<RollingUpdateMachineDeployment>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RollingUpdateMachineDeployment {
    /// Machines above `replicas` during a rollout: a number or a percentage of `replicas`
    /// (rounded up). Upstream's default is 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Machines below `replicas` that may be unavailable: a number or a percentage (rounded
    /// down). Upstream's default is 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineDeploymentStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Machines not being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Machines not being deleted that have the current template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    /// Machines still missing for `replicas` available ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unavailable_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<MachineDeploymentCondition>>,
}

/// `Available`, `Progressing`, `ReplicaFailure`, `Frozen`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineDeploymentCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `replicas` Machines of one template (MCM's machineset controller). A MachineDeployment
/// makes one per template.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "machine.sapcloud.io",
    version = "v1alpha1",
    kind = "MachineSet",
    plural = "machinesets",
    shortname = "mcs",
    namespaced,
    status = "MachineSetStatus",
    schema = "disabled"
)]
#[serde(rename_all = "camelCase")]
pub struct MachineSetSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    #[serde(default)]
    pub template: MachineTemplateSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Upstream's field beside `template.spec.class`; not set by its deployment controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_class: Option<ClassSpec>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MachineSetStatus {
    /// Machines not being deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Of those, the ones carrying every label of the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fully_labeled_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[cfg(test)]
mod tests {
    use kube::Resource as _;
    use serde_json::json;

    use super::*;
    use crate::schema::UpstreamSchema;

    fn schema(file: &str) -> Option<UpstreamSchema> {
        let dir = crate::contracts::upstream_crds()?;
        let yaml = std::fs::read_to_string(dir.join(file)).expect("read CRD");
        Some(UpstreamSchema::from_crd_yaml(&yaml, "v1alpha1").expect("compiles"))
    }

    /// A MachineDeployment as Gardener's Worker controller writes it, with fields we do not
    /// model in the template's spec and elsewhere.
    fn gardener_deployment() -> Value {
        json!({
            "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineDeployment",
            "metadata": {"name": "shoot--p--c-worker-z1", "namespace": "shoot--p--c", "generation": 3},
            "spec": {
                "replicas": 3, "minReadySeconds": 500, "revisionHistoryLimit": 0,
                "selector": {"matchLabels": {"name": "shoot--p--c-worker-z1"}},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}},
                "template": {
                    "metadata": {"labels": {"name": "shoot--p--c-worker-z1"}, "annotations": {"a": "b"}},
                    "spec": {
                        "class": {"kind": "MachineClass", "name": "shoot--p--c-worker-z1-3a9c1"},
                        "drainTimeout": "2h", "disableHealthTimeout": false,
                        "nodeConditions": "KernelDeadlock,ReadonlyFilesystem",
                        "nodeTemplate": {"metadata": {"labels": {"worker.gardener.cloud/pool": "worker"}},
                                         "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}},
                    },
                },
            },
            "status": {"observedGeneration": 2, "replicas": 3, "availableReplicas": 3,
                       "failedMachines": [],
                       "conditions": [{"type": "Available", "status": "True",
                                       "lastTransitionTime": "2026-11-23T10:00:00Z",
                                       "reason": "MinimumReplicasAvailable"}]},
        })
    }

    #[test]
    fn identities_are_mcms() {
        assert_eq!(
            MachineDeployment::url_path(&(), Some("ns")),
            "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns/machinedeployments"
        );
        assert_eq!(
            MachineSet::url_path(&(), Some("ns")),
            "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns/machinesets"
        );
    }

    #[test]
    fn deployments_gardener_writes_read_and_keep_the_templates_unknown_fields() {
        let upstream = gardener_deployment();
        if let Some(schema) = schema("machine.sapcloud.io_machinedeployments.yaml") {
            schema
                .validate(&upstream)
                .unwrap_or_else(|e| panic!("sample is valid upstream: {e:?}"));
        }
        let md: MachineDeployment = serde_json::from_value(upstream.clone()).unwrap();
        assert_eq!(md.spec.replicas, Some(3));
        let rolling = md.spec.strategy.as_ref().unwrap().rolling_update.as_ref();
        assert_eq!(
            rolling.unwrap().max_surge,
            Some(IntOrString::String("50%".into()))
        );
        assert_eq!(rolling.unwrap().max_unavailable, Some(IntOrString::Int(0)));
        let spec = md.spec.template.spec.as_ref().unwrap();
        assert_eq!(
            spec.machine.class.as_ref().unwrap().name,
            "shoot--p--c-worker-z1-3a9c1"
        );
        assert_eq!(spec.machine.drain_timeout.as_deref(), Some("2h"));
        assert_eq!(
            spec.other.keys().collect::<Vec<_>>(),
            ["disableHealthTimeout", "nodeConditions"],
            "only the fields MachineSpec does not model"
        );
        let status = md.status.as_ref().unwrap();
        assert_eq!(status.conditions.as_ref().unwrap()[0].type_, "Available");

        // The template survives the round trip whole: what a MachineSet and its Machines get.
        let back = serde_json::to_value(&md).unwrap();
        assert_eq!(back["spec"]["template"], upstream["spec"]["template"]);
    }

    #[test]
    fn machine_sets_we_write_are_valid_upstream_and_round_trip() {
        let md: MachineDeployment = serde_json::from_value(gardener_deployment()).unwrap();
        let mut set = MachineSet::new(
            "shoot--p--c-worker-z1-0a1b2c3d4e",
            MachineSetSpec {
                replicas: Some(2),
                selector: md.spec.selector.clone(),
                template: md.spec.template.clone(),
                min_ready_seconds: Some(500),
                machine_class: None,
            },
        );
        set.metadata.namespace = Some("shoot--p--c".into());
        set.status = Some(MachineSetStatus {
            replicas: Some(2),
            fully_labeled_replicas: Some(2),
            ready_replicas: Some(1),
            available_replicas: Some(1),
            observed_generation: Some(1),
        });
        let value = serde_json::to_value(&set).unwrap();
        if let Some(schema) = schema("machine.sapcloud.io_machinesets.yaml") {
            schema.validate(&value).unwrap_or_else(|e| panic!("{e:?}"));
            let mut bad = value.clone();
            bad["spec"]["replicas"] = json!("two");
            assert!(schema.validate(&bad).is_err());
        }
        let back: MachineSet = serde_json::from_value(value).unwrap();
        assert_eq!((back.spec, back.status), (set.spec, set.status));
    }

    #[test]
    fn deployment_status_we_write_is_valid_upstream() {
        let Some(schema) = schema("machine.sapcloud.io_machinedeployments.yaml") else {
            return;
        };
        let mut md: MachineDeployment = serde_json::from_value(gardener_deployment()).unwrap();
        md.status = Some(MachineDeploymentStatus {
            observed_generation: Some(3),
            replicas: Some(4),
            updated_replicas: Some(1),
            ready_replicas: Some(3),
            available_replicas: Some(3),
            unavailable_replicas: Some(0),
            conditions: Some(vec![MachineDeploymentCondition {
                type_: "Progressing".into(),
                status: "True".into(),
                last_update_time: Some(Time("2026-11-23T10:00:00Z".parse().unwrap())),
                last_transition_time: Some(Time("2026-11-23T10:00:00Z".parse().unwrap())),
                reason: Some("MachineSetUpdated".into()),
                message: Some("rolling".into()),
            }]),
        });
        let value = serde_json::to_value(&md).unwrap();
        schema.validate(&value).unwrap_or_else(|e| panic!("{e:?}"));
    }
}
