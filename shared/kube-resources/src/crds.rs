//! The CRDs metal-mesh owns and installs, rendered as the YAML committed in the Helm chart.
//! Only `ClusterwideNetworkPolicy`: `Firewall`/`FirewallMonitor` belong to
//! firewall-controller-manager, MetalLB and Gardener kinds to their projects.
//!
//! Beside them, [`stand_in_crds`]: schema-less CRDs of our own making for the kinds of other
//! projects (Gardener's extension kinds and DNSRecord, machine-controller-manager's,
//! firewall-controller-manager's, the resource manager's ManagedResource and the CloudProfile),
//! so that a local test API server (kube-testserver) serves them for walking a shoot through
//! the controllers without the upstream CRD files. They name the kinds, their scope and status
//! subresource, and take any content (`x-kubernetes-preserve-unknown-fields`): they check
//! nothing of the objects, and are never installed into a real cluster (there the upstream
//! CRDs are).

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceColumnDefinition, CustomResourceDefinition, CustomResourceDefinitionNames,
    CustomResourceDefinitionSpec, CustomResourceDefinitionVersion, CustomResourceSubresourceStatus,
    CustomResourceSubresources, CustomResourceValidation, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::CustomResourceExt;

use crate::ClusterwideNetworkPolicy;

/// `(file name, YAML)` for every CRD we own, in the order they are written.
pub fn owned_crds_yaml() -> Result<Vec<(&'static str, String)>, serde_saphyr::ser::Error> {
    Ok(vec![(
        "metal-stack.io_clusterwidenetworkpolicies.yaml",
        to_yaml(&ClusterwideNetworkPolicy::crd())?,
    )])
}

fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, serde_saphyr::ser::Error> {
    Ok(format!("---\n{}", serde_saphyr::to_string(value)?))
}

/// Whether a kind's objects live in a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Namespaced => "Namespaced",
            Scope::Cluster => "Cluster",
        }
    }
}

/// One kind served by a stand-in CRD.
#[derive(Debug, Clone, Copy)]
pub struct StandIn {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub short_names: &'static [&'static str],
    pub scope: Scope,
    /// Whether `status` is a subresource (written through `/status` only).
    pub status: bool,
    /// Printer columns for `kubectl get`: `(name, JSONPath)`, all strings.
    pub columns: &'static [(&'static str, &'static str)],
}

const EXTENSIONS: &str = "extensions.gardener.cloud";
const MACHINES: &str = "machine.sapcloud.io";
const FIREWALLS: &str = "firewall.metal-stack.io";
const METALLB: &str = "metallb.io";

/// The columns of an extension object: its type and how its last operation went.
const EXTENSION_COLUMNS: &[(&str, &str)] = &[
    ("Type", ".spec.type"),
    ("Status", ".status.lastOperation.state"),
];

/// The kinds a shoot of type metal needs in its seed (and the garden's CloudProfile), as
/// gardenlet, the extension controllers and machine-controller-manager read and write them;
/// and the foreign kinds the services write in a cluster (MetalLB's, the FirewallMonitor).
pub const STAND_INS: &[StandIn] = &[
    StandIn {
        group: EXTENSIONS,
        version: "v1alpha1",
        kind: "Cluster",
        plural: "clusters",
        short_names: &[],
        scope: Scope::Cluster,
        // Nothing writes a Cluster's status, but seeds serve it as a subresource.
        status: true,
        columns: &[],
    },
    StandIn {
        group: EXTENSIONS,
        version: "v1alpha1",
        kind: "Infrastructure",
        plural: "infrastructures",
        short_names: &["infra"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[
            ("Type", ".spec.type"),
            ("Status", ".status.lastOperation.state"),
            ("Nodes", ".status.nodesCIDR"),
        ],
    },
    StandIn {
        group: EXTENSIONS,
        version: "v1alpha1",
        kind: "ControlPlane",
        plural: "controlplanes",
        short_names: &["cp"],
        scope: Scope::Namespaced,
        status: true,
        columns: EXTENSION_COLUMNS,
    },
    StandIn {
        group: EXTENSIONS,
        version: "v1alpha1",
        kind: "Worker",
        plural: "workers",
        short_names: &[],
        scope: Scope::Namespaced,
        status: true,
        columns: EXTENSION_COLUMNS,
    },
    StandIn {
        group: EXTENSIONS,
        version: "v1alpha1",
        kind: "OperatingSystemConfig",
        plural: "operatingsystemconfigs",
        short_names: &["osc"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[
            ("Type", ".spec.type"),
            ("Purpose", ".spec.purpose"),
            ("Status", ".status.lastOperation.state"),
        ],
    },
    StandIn {
        group: EXTENSIONS,
        version: "v1alpha1",
        kind: "DNSRecord",
        plural: "dnsrecords",
        short_names: &["dns"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[
            ("Type", ".spec.type"),
            ("Domain", ".spec.name"),
            ("Status", ".status.lastOperation.state"),
        ],
    },
    StandIn {
        group: MACHINES,
        version: "v1alpha1",
        kind: "Machine",
        plural: "machines",
        short_names: &["mc"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[
            ("Status", ".status.currentStatus.phase"),
            ("Node", ".metadata.labels.node"),
            ("ProviderID", ".spec.providerID"),
        ],
    },
    StandIn {
        group: MACHINES,
        version: "v1alpha1",
        kind: "MachineClass",
        plural: "machineclasses",
        short_names: &["mcc"],
        scope: Scope::Namespaced,
        // A MachineClass is all spec (at the top level: providerSpec, secretRef, provider).
        status: false,
        columns: &[
            ("Size", ".providerSpec.size"),
            ("Image", ".providerSpec.image"),
        ],
    },
    StandIn {
        group: MACHINES,
        version: "v1alpha1",
        kind: "MachineDeployment",
        plural: "machinedeployments",
        short_names: &["mcd"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[
            ("Desired", ".spec.replicas"),
            ("Current", ".status.replicas"),
            ("Ready", ".status.readyReplicas"),
        ],
    },
    StandIn {
        group: MACHINES,
        version: "v1alpha1",
        kind: "MachineSet",
        plural: "machinesets",
        short_names: &["mcs"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[
            ("Desired", ".spec.replicas"),
            ("Current", ".status.replicas"),
            ("Ready", ".status.readyReplicas"),
        ],
    },
    StandIn {
        group: FIREWALLS,
        version: "v2",
        kind: "FirewallDeployment",
        plural: "firewalldeployments",
        short_names: &["fwdeploy"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[("Replicas", ".spec.replicas")],
    },
    StandIn {
        group: FIREWALLS,
        version: "v2",
        kind: "Firewall",
        plural: "firewalls",
        short_names: &["fw"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[("Phase", ".status.phase")],
    },
    StandIn {
        group: "resources.gardener.cloud",
        version: "v1alpha1",
        kind: "ManagedResource",
        plural: "managedresources",
        short_names: &["mr"],
        scope: Scope::Namespaced,
        status: true,
        columns: &[("Class", ".spec.class")],
    },
    StandIn {
        group: FIREWALLS,
        version: "v2",
        kind: "FirewallMonitor",
        plural: "firewallmonitors",
        short_names: &["fwmon"],
        scope: Scope::Namespaced,
        status: false,
        columns: &[],
    },
    // MetalLB's kinds, as the lb-allocator writes them (the versions of `crate::metallb`).
    StandIn {
        group: METALLB,
        version: "v1beta1",
        kind: "IPAddressPool",
        plural: "ipaddresspools",
        short_names: &[],
        scope: Scope::Namespaced,
        status: true,
        columns: &[],
    },
    StandIn {
        group: METALLB,
        version: "v1beta2",
        kind: "BGPPeer",
        plural: "bgppeers",
        short_names: &[],
        scope: Scope::Namespaced,
        status: false,
        columns: &[("Address", ".spec.peerAddress")],
    },
    StandIn {
        group: METALLB,
        version: "v1beta1",
        kind: "BGPAdvertisement",
        plural: "bgpadvertisements",
        short_names: &[],
        scope: Scope::Namespaced,
        status: false,
        columns: &[],
    },
    StandIn {
        group: "core.gardener.cloud",
        version: "v1beta1",
        kind: "CloudProfile",
        plural: "cloudprofiles",
        short_names: &[],
        scope: Scope::Cluster,
        status: false,
        columns: &[("Type", ".spec.type")],
    },
];

impl StandIn {
    /// `<plural>.<group>`, the CRD's name.
    pub fn crd_name(&self) -> String {
        format!("{}.{}", self.plural, self.group)
    }

    /// `<group>_<plural>.yaml`.
    pub fn file_name(&self) -> String {
        format!("{}_{}.yaml", self.group, self.plural)
    }

    /// The CRD: one served and stored version whose schema takes any object.
    pub fn crd(&self) -> CustomResourceDefinition {
        let columns: Vec<CustomResourceColumnDefinition> = self
            .columns
            .iter()
            .map(|(name, path)| CustomResourceColumnDefinition {
                name: (*name).to_owned(),
                json_path: (*path).to_owned(),
                type_: "string".to_owned(),
                ..Default::default()
            })
            .collect();
        CustomResourceDefinition {
            metadata: ObjectMeta {
                name: Some(self.crd_name()),
                annotations: Some(BTreeMap::from([(
                    "metal-mesh.metal-stack.io/stand-in".to_owned(),
                    "schema-less, for local test API servers only".to_owned(),
                )])),
                ..Default::default()
            },
            spec: CustomResourceDefinitionSpec {
                group: self.group.to_owned(),
                names: CustomResourceDefinitionNames {
                    kind: self.kind.to_owned(),
                    list_kind: Some(format!("{}List", self.kind)),
                    plural: self.plural.to_owned(),
                    singular: Some(self.kind.to_lowercase()),
                    short_names: (!self.short_names.is_empty())
                        .then(|| self.short_names.iter().map(|s| (*s).to_owned()).collect()),
                    ..Default::default()
                },
                scope: self.scope.as_str().to_owned(),
                versions: vec![CustomResourceDefinitionVersion {
                    name: self.version.to_owned(),
                    served: true,
                    storage: true,
                    schema: Some(CustomResourceValidation {
                        open_api_v3_schema: Some(JSONSchemaProps {
                            type_: Some("object".to_owned()),
                            x_kubernetes_preserve_unknown_fields: Some(true),
                            ..Default::default()
                        }),
                    }),
                    subresources: self.status.then(|| CustomResourceSubresources {
                        status: Some(CustomResourceSubresourceStatus(serde_json::Value::Object(
                            Default::default(),
                        ))),
                        ..Default::default()
                    }),
                    additional_printer_columns: (!columns.is_empty()).then_some(columns),
                    ..Default::default()
                }],
                ..Default::default()
            },
            status: None,
        }
    }
}

/// Every stand-in CRD, in the order of [`STAND_INS`].
pub fn stand_in_crds() -> Vec<CustomResourceDefinition> {
    STAND_INS.iter().map(StandIn::crd).collect()
}

/// `(file name, YAML)` of every stand-in CRD, as `crdgen --stand-ins DIR` writes them.
pub fn stand_in_crds_yaml() -> Result<Vec<(String, String)>, serde_saphyr::ser::Error> {
    STAND_INS
        .iter()
        .map(|s| Ok((s.file_name(), to_yaml(&s.crd())?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// DNS-1123 subdomain / label checks as the apiserver makes them on CRD names.
    fn is_dns_label(s: &str) -> bool {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    }

    fn is_dns_subdomain(s: &str) -> bool {
        s.len() <= 253 && s.split('.').all(is_dns_label)
    }

    /// Re-reads the YAML as kube-apiserver would receive it and checks what apiextensions'
    /// validation requires of a v1 CRD.
    fn check_crd(yaml: &str) -> Value {
        let object: Value = serde_saphyr::from_str(yaml).expect("YAML");
        assert_eq!(object["apiVersion"], "apiextensions.k8s.io/v1", "{object}");
        assert_eq!(object["kind"], "CustomResourceDefinition", "{object}");
        // It is a CustomResourceDefinition by the Kubernetes types too.
        let _: CustomResourceDefinition =
            serde_json::from_value(object.clone()).expect("a CustomResourceDefinition");
        let spec = &object["spec"];
        let group = spec["group"].as_str().expect("group");
        let names = &spec["names"];
        let plural = names["plural"].as_str().expect("plural");
        let kind = names["kind"].as_str().expect("kind");
        assert_eq!(object["metadata"]["name"], format!("{plural}.{group}"));
        assert!(group.contains('.') && is_dns_subdomain(group), "{group}");
        assert!(is_dns_label(plural), "{plural}");
        assert_eq!(names["singular"], kind.to_lowercase());
        assert!(is_dns_label(names["singular"].as_str().unwrap()));
        assert_eq!(names["listKind"], format!("{kind}List"));
        assert!(kind.starts_with(|c: char| c.is_ascii_uppercase()), "{kind}");
        for short in names["shortNames"].as_array().into_iter().flatten() {
            assert!(is_dns_label(short.as_str().unwrap()), "{short}");
        }
        assert!(
            ["Namespaced", "Cluster"].contains(&spec["scope"].as_str().unwrap()),
            "{spec}"
        );
        let versions = spec["versions"].as_array().expect("versions");
        assert!(!versions.is_empty());
        let storage: Vec<&Value> = versions.iter().filter(|v| v["storage"] == true).collect();
        assert_eq!(storage.len(), 1, "exactly one storage version: {spec}");
        assert_eq!(storage[0]["served"], true, "the storage version is served");
        for version in versions {
            let schema = &version["schema"]["openAPIV3Schema"];
            assert_eq!(schema["type"], "object", "{version}");
            assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
            for column in version["additionalPrinterColumns"]
                .as_array()
                .into_iter()
                .flatten()
            {
                assert!(column["jsonPath"].as_str().unwrap().starts_with('.'));
                assert_eq!(column["type"], "string");
            }
            if let Some(status) = version["subresources"].get("status") {
                assert_eq!(status, &serde_json::json!({}), "{version}");
            }
        }
        object
    }

    #[test]
    fn every_stand_in_is_a_valid_v1_crd() {
        let rendered = stand_in_crds_yaml().expect("render");
        assert_eq!(rendered.len(), STAND_INS.len());
        for ((file, yaml), stand_in) in rendered.iter().zip(STAND_INS) {
            assert!(yaml.starts_with("---\n"), "{file}");
            let object = check_crd(yaml);
            assert_eq!(
                file,
                &format!("{}_{}.yaml", stand_in.group, stand_in.plural)
            );
            let spec = &object["spec"];
            assert_eq!(spec["group"], stand_in.group);
            assert_eq!(spec["names"]["kind"], stand_in.kind);
            assert_eq!(spec["versions"][0]["name"], stand_in.version);
            assert_eq!(
                spec["versions"][0]["subresources"].get("status").is_some(),
                stand_in.status,
                "{file}"
            );
        }
    }

    #[test]
    fn the_walk_gets_every_kind_it_needs_with_its_scope_and_status() {
        let by_kind = |group: &str, kind: &str| {
            STAND_INS
                .iter()
                .find(|s| s.group == group && s.kind == kind)
                .unwrap_or_else(|| panic!("no stand-in for {kind}.{group}"))
        };
        for kind in [
            "Infrastructure",
            "ControlPlane",
            "Worker",
            "OperatingSystemConfig",
            "DNSRecord",
        ] {
            let s = by_kind(EXTENSIONS, kind);
            assert_eq!(
                (s.version, s.scope, s.status),
                ("v1alpha1", Scope::Namespaced, true)
            );
        }
        assert_eq!(by_kind(EXTENSIONS, "Cluster").scope, Scope::Cluster);
        for kind in ["Machine", "MachineDeployment", "MachineSet"] {
            let s = by_kind(MACHINES, kind);
            assert_eq!(
                (s.version, s.scope, s.status),
                ("v1alpha1", Scope::Namespaced, true)
            );
        }
        let class = by_kind(MACHINES, "MachineClass");
        assert_eq!((class.scope, class.status), (Scope::Namespaced, false));
        for kind in ["FirewallDeployment", "Firewall"] {
            let s = by_kind(FIREWALLS, kind);
            assert_eq!(
                (s.version, s.scope, s.status),
                ("v2", Scope::Namespaced, true)
            );
        }
        // MetalLB's kinds at the versions the lb-allocator's types are of.
        for (kind, version) in [
            (
                "IPAddressPool",
                <crate::metallb::IPAddressPool as kube::Resource>::api_version(&()).into_owned(),
            ),
            (
                "BGPPeer",
                <crate::metallb::BGPPeer as kube::Resource>::api_version(&()).into_owned(),
            ),
            (
                "BGPAdvertisement",
                <crate::metallb::BGPAdvertisement as kube::Resource>::api_version(&()).into_owned(),
            ),
        ] {
            let s = by_kind(METALLB, kind);
            assert_eq!(format!("{METALLB}/{}", s.version), version);
        }
        assert_eq!(
            by_kind(FIREWALLS, "FirewallMonitor").plural,
            <crate::firewall::FirewallMonitor as kube::Resource>::plural(&()).as_ref()
        );
        let managed = by_kind("resources.gardener.cloud", "ManagedResource");
        assert_eq!((managed.scope, managed.status), (Scope::Namespaced, true));
        let profile = by_kind("core.gardener.cloud", "CloudProfile");
        assert_eq!(
            (profile.version, profile.scope),
            ("v1beta1", Scope::Cluster)
        );
        // One CRD per kind: no two share a name, a file or a short name.
        let mut names: Vec<String> = STAND_INS.iter().map(StandIn::crd_name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), STAND_INS.len());
        let mut shorts: Vec<&str> = STAND_INS
            .iter()
            .flat_map(|s| s.short_names.iter().copied())
            .collect();
        let count = shorts.len();
        shorts.sort();
        shorts.dedup();
        assert_eq!(shorts.len(), count);
    }

    #[test]
    fn the_stand_ins_take_any_object_and_the_owned_crd_stays_apart() {
        // Schema-less: the validation helper accepts whatever Gardener or MCM writes.
        let (_, yaml) = stand_in_crds_yaml()
            .unwrap()
            .into_iter()
            .find(|(f, _)| f == "machine.sapcloud.io_machineclasses.yaml")
            .unwrap();
        let class = serde_json::json!({
            "apiVersion": "machine.sapcloud.io/v1alpha1", "kind": "MachineClass",
            "metadata": {"name": "w", "namespace": "shoot--local--demo"},
            "provider": "metal",
            "providerSpec": {"size": "c1-medium-x86", "anything": [1, {"nested": true}]},
        });
        crate::validate_against_upstream(&yaml, "v1alpha1", &class).expect("any object");
        // The CWNP is ours and real: it is not among the stand-ins.
        assert!(
            STAND_INS
                .iter()
                .all(|s| s.kind != "ClusterwideNetworkPolicy")
        );
    }
}
