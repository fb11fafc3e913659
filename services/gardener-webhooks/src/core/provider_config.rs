//! The provider configurations of `metal.provider.extensions.gardener.cloud/v1alpha1`, with the
//! JSON names of gardener-extension-provider-metal's Go types. Decoding is strict, as upstream's
//! admission decoder is: a wrong `apiVersion` or `kind`, an unknown field or a wrong type is an
//! error naming it, never silently dropped.

use std::collections::BTreeMap;

use serde::de::value::MapDeserializer;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::field::{FieldError, Kind, Path};

pub const API_VERSION: &str = "metal.provider.extensions.gardener.cloud/v1alpha1";

/// CloudProfile `.spec.providerConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudProfileConfig {
    #[serde(default)]
    pub metal_control_planes: BTreeMap<String, MetalControlPlane>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetalControlPlane {
    /// The metal-api URL.
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub partitions: BTreeMap<String, Partition>,
    /// Empty allows every image.
    #[serde(default)]
    pub firewall_images: Vec<String>,
    #[serde(default)]
    pub firewall_controller_versions: Vec<FirewallControllerVersion>,
    #[serde(default)]
    pub nftables_exporter: Option<NftablesExporter>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Partition {
    #[serde(default)]
    pub firewall_types: Vec<String>,
    #[serde(default)]
    pub network_isolation: Option<NetworkIsolation>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkIsolation {
    #[serde(default)]
    pub allowed_networks: AllowedNetworks,
    #[serde(default)]
    pub dns_servers: Vec<String>,
    #[serde(default)]
    pub ntp_servers: Vec<String>,
    #[serde(default)]
    pub registry_mirrors: Vec<RegistryMirror>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowedNetworks {
    #[serde(default)]
    pub ingress: Vec<String>,
    #[serde(default)]
    pub egress: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryMirror {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub ip: String,
    #[serde(default)]
    pub port: u32,
    #[serde(default)]
    pub mirror_of: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirewallControllerVersion {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub classification: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NftablesExporter {
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub url: String,
}

/// Shoot `.spec.provider.infrastructureConfig`, Infrastructure `.spec.providerConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfrastructureConfig {
    #[serde(default, rename = "partitionID")]
    pub partition_id: String,
    #[serde(default, rename = "projectID")]
    pub project_id: String,
    #[serde(default)]
    pub firewall: Firewall,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Firewall {
    #[serde(default)]
    pub size: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub networks: Vec<String>,
    #[serde(default)]
    pub rate_limits: Vec<RateLimit>,
    #[serde(default)]
    pub egress_rules: Vec<EgressRule>,
    #[serde(default)]
    pub log_accepted_connections: bool,
    /// `""` or `auto`: the latest supported version.
    #[serde(default)]
    pub controller_version: String,
    #[serde(default)]
    pub auto_update_machine_image: bool,
    /// A Go duration (`10m`); 0 disables the health timeout.
    #[serde(default)]
    pub firewall_health_timeout: Option<String>,
    #[serde(default)]
    pub firewall_create_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default, rename = "networkID")]
    pub network_id: String,
    #[serde(default, rename = "rateLimit")]
    pub rate_limit: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressRule {
    #[serde(default, rename = "networkID")]
    pub network_id: String,
    #[serde(default)]
    pub ips: Vec<String>,
}

/// Shoot `.spec.provider.controlPlaneConfig`, ControlPlane `.spec.providerConfig`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlPlaneConfig {
    #[serde(default)]
    pub cloud_controller_manager: Option<CloudControllerManagerConfig>,
    #[serde(default)]
    pub feature_gates: FeatureGates,
    #[serde(default)]
    pub custom_default_storage_class: Option<CustomDefaultStorageClass>,
    /// Absent means baseline.
    #[serde(default)]
    pub network_access_type: Option<NetworkAccessType>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloudControllerManagerConfig {
    #[serde(default)]
    pub feature_gates: BTreeMap<String, bool>,
    #[serde(default)]
    pub default_external_network: Option<String>,
}

/// Upstream's feature gates; the deprecated ones are still accepted and have no effect.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FeatureGates {
    #[serde(default, rename = "machineControllerManagerOOT")]
    pub machine_controller_manager_oot: Option<bool>,
    #[serde(default)]
    pub duros_storage_encryption: Option<bool>,
    #[serde(default)]
    pub cluster_audit: Option<bool>,
    #[serde(default)]
    pub audit_to_splunk: Option<bool>,
    #[serde(default)]
    pub disable_csi_lvm: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomDefaultStorageClass {
    /// Empty: no default StorageClass.
    #[serde(default)]
    pub class_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkAccessType {
    Baseline,
    Restricted,
    Forbidden,
}

/// Decodes the embedded config at `path` as `kind` of [`API_VERSION`], strictly.
pub fn decode<T: DeserializeOwned>(
    value: &Value,
    kind: &str,
    path: &Path,
) -> Result<T, FieldError> {
    let Some(object) = value.as_object() else {
        return Err(path.error(Kind::Invalid, format!("must be an object of kind {kind}")));
    };
    let api_version = object.get("apiVersion").and_then(Value::as_str);
    if api_version != Some(API_VERSION) {
        return Err(path.child("apiVersion").error(
            Kind::NotSupported,
            format!("{api_version:?}: supported value: {API_VERSION:?}"),
        ));
    }
    let got = object.get("kind").and_then(Value::as_str);
    if got != Some(kind) {
        return Err(path.child("kind").error(
            Kind::NotSupported,
            format!("{got:?}: supported value: {kind:?}"),
        ));
    }
    // The fields besides the type, read in place: a CloudProfileConfig is big and decoded on
    // every review, so it is not copied first.
    let fields = object
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "apiVersion" | "kind"))
        .map(|(key, value)| (key.as_str(), value));
    T::deserialize(MapDeserializer::<_, serde_json::Error>::new(fields))
        .map_err(|e| path.error(Kind::Invalid, format!("cannot decode {kind}: {e}")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path() -> Path {
        Path::new("spec.providerConfig")
    }

    #[test]
    fn a_cloud_profile_config_decodes_with_upstreams_field_names() {
        let config: CloudProfileConfig = decode(
            &json!({
                "apiVersion": API_VERSION, "kind": "CloudProfileConfig",
                "metalControlPlanes": {"prod": {
                    "endpoint": "https://api.example.com/metal",
                    "partitions": {"fra-equ01": {
                        "firewallTypes": ["c1-xlarge-x86"],
                        "networkIsolation": {
                            "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["100.64.0.0/10"]},
                            "dnsServers": ["10.0.0.53"], "ntpServers": ["10.0.0.123"],
                            "registryMirrors": [{"name": "r", "endpoint": "https://r.example.com",
                                                 "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io"]}],
                        },
                    }},
                    "firewallImages": ["firewall-ubuntu-3.0.20240101"],
                    "firewallControllerVersions": [{"version": "v2.3.4", "url": "https://x/fc", "classification": "supported"}],
                    "nftablesExporter": {"version": "v0.2.7", "url": "https://x/nft"},
                }},
            }),
            "CloudProfileConfig",
            &path(),
        )
        .unwrap();
        let plane = &config.metal_control_planes["prod"];
        let partition = &plane.partitions["fra-equ01"];
        assert_eq!(partition.firewall_types, ["c1-xlarge-x86"]);
        let isolation = partition.network_isolation.as_ref().unwrap();
        assert_eq!(isolation.registry_mirrors[0].mirror_of, ["docker.io"]);
        assert_eq!(isolation.registry_mirrors[0].port, 443);
        assert_eq!(
            plane.firewall_controller_versions[0]
                .classification
                .as_deref(),
            Some("supported")
        );
    }

    #[test]
    fn infrastructure_and_control_plane_configs_decode_with_upstreams_field_names() {
        let infra: InfrastructureConfig = decode(
            &json!({
                "apiVersion": API_VERSION, "kind": "InfrastructureConfig",
                "partitionID": "fra-equ01", "projectID": "p",
                "firewall": {"size": "s", "image": "i", "networks": ["internet"],
                             "rateLimits": [{"networkID": "internet", "rateLimit": 100}],
                             "egressRules": [{"networkID": "internet", "ips": ["1.2.3.4"]}],
                             "logAcceptedConnections": true, "controllerVersion": "auto",
                             "firewallHealthTimeout": "20m"},
            }),
            "InfrastructureConfig",
            &path(),
        )
        .unwrap();
        assert_eq!(infra.partition_id, "fra-equ01");
        assert_eq!(infra.firewall.rate_limits[0].rate_limit, 100);
        assert_eq!(infra.firewall.egress_rules[0].ips, ["1.2.3.4"]);
        assert_eq!(
            infra.firewall.firewall_health_timeout.as_deref(),
            Some("20m")
        );
        let cp: ControlPlaneConfig = decode(
            &json!({
                "apiVersion": API_VERSION, "kind": "ControlPlaneConfig",
                "featureGates": {"machineControllerManagerOOT": true, "disableCsiLvm": false},
                "networkAccessType": "restricted",
                "cloudControllerManager": {"defaultExternalNetwork": "internet"},
            }),
            "ControlPlaneConfig",
            &path(),
        )
        .unwrap();
        assert_eq!(cp.network_access_type, Some(NetworkAccessType::Restricted));
        assert_eq!(cp.feature_gates.machine_controller_manager_oot, Some(true));
    }

    #[test]
    fn wrong_version_kind_unknown_fields_and_types_are_errors_naming_them() {
        let err = |value: Value| {
            decode::<InfrastructureConfig>(&value, "InfrastructureConfig", &path())
                .unwrap_err()
                .to_string()
        };
        let e = err(json!({"apiVersion": "v1", "kind": "InfrastructureConfig"}));
        assert!(
            e.starts_with("spec.providerConfig.apiVersion: Unsupported value"),
            "{e}"
        );
        let e = err(json!({"apiVersion": API_VERSION, "kind": "ControlPlaneConfig"}));
        assert!(
            e.starts_with("spec.providerConfig.kind: Unsupported value"),
            "{e}"
        );
        let e = err(
            json!({"apiVersion": API_VERSION, "kind": "InfrastructureConfig", "partitionId": "x"}),
        );
        assert!(e.contains("unknown field `partitionId`"), "{e}");
        let e = err(
            json!({"apiVersion": API_VERSION, "kind": "InfrastructureConfig",
                           "firewall": {"networks": "internet"}}),
        );
        assert!(e.contains("invalid type"), "{e}");
        let e = err(json!("InfrastructureConfig"));
        assert!(
            e.contains("must be an object of kind InfrastructureConfig"),
            "{e}"
        );
        let e = decode::<ControlPlaneConfig>(
            &json!({"apiVersion": API_VERSION, "kind": "ControlPlaneConfig", "networkAccessType": "open"}),
            "ControlPlaneConfig",
            &path(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown variant `open`"), "{e}");
    }
}
