//! The `extensions.gardener.cloud/v1alpha1` Cluster of a shoot namespace and what the mutations
//! read from it: the shoot's Kubernetes version, node CIDR, worker pools and provider configs,
//! and the cloud profile's config.

use serde_json::Value;

use super::version::{self, Version};
use crate::core::cloudprofile;
use crate::core::field::Path;
use crate::core::provider_config::{
    CloudProfileConfig, ControlPlaneConfig, InfrastructureConfig, decode,
};
use crate::core::shoot::infrastructure_config;

/// The raw objects of a Cluster's spec (`spec.shoot`, `spec.cloudProfile`, `spec.seed`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub shoot: Value,
    pub cloud_profile: Value,
    /// `Null` when the Cluster carries no seed.
    pub seed: Value,
}

fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

impl Cluster {
    /// The Cluster object as the API serves it. Its CRD requires the shoot and the cloud profile,
    /// and upstream cannot do without them, so a Cluster lacking either is an error.
    pub fn from_object(cluster: &Value) -> Result<Self, String> {
        let name = cluster
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let spec = cluster
            .get("spec")
            .filter(|s| s.is_object())
            .ok_or_else(|| format!("cluster {name:?} has no spec"))?;
        let field = |key: &str| {
            present(spec.get(key))
                .cloned()
                .ok_or_else(|| format!("cluster {name:?} has no {key} in its spec"))
        };
        Ok(Self {
            shoot: field("shoot")?,
            cloud_profile: field("cloudProfile")?,
            seed: present(spec.get("seed")).cloned().unwrap_or(Value::Null),
        })
    }

    fn shoot_str(&self, pointer: &str) -> Option<&str> {
        self.shoot.pointer(pointer).and_then(Value::as_str)
    }

    /// The control plane's Kubernetes version, `spec.kubernetes.version`.
    pub(super) fn kubernetes_version(&self) -> Result<Version, String> {
        version::parse(
            self.shoot_str("/spec/kubernetes/version")
                .unwrap_or_default(),
        )
    }

    /// The kubelet version of worker pool `pool`: the pool's own version if it has one, else the
    /// control plane's (Gardener's `CalculateEffectiveKubernetesVersion`).
    pub(super) fn kubelet_version(&self, pool: Option<&str>) -> Result<Version, String> {
        let control_plane = self.kubernetes_version()?;
        let pool_version = pool.and_then(|pool| {
            self.workers()
                .find(|w| w.get("name").and_then(Value::as_str) == Some(pool))
                .and_then(|w| w.pointer("/kubernetes/version"))
                .and_then(Value::as_str)
        });
        match pool_version {
            Some(v) => version::parse(v),
            None => Ok(control_plane),
        }
    }

    fn workers(&self) -> impl Iterator<Item = &Value> {
        self.shoot
            .pointer("/spec/provider/workers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }

    /// The node network, `spec.networking.nodes`. Upstream falls back to the Infrastructure's
    /// `status.nodesCIDR`, which Gardener copies into the shoot once the infrastructure is up.
    pub(super) fn node_cidr(&self) -> Result<&str, String> {
        self.shoot_str("/spec/networking/nodes")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| "nodeCIDR is not yet set".to_string())
    }

    /// Whether the shoot runs its control plane on its own workers (`gardenadm`).
    pub(super) fn self_hosted(&self) -> bool {
        self.workers()
            .any(|w| w.get("controlPlane").is_some_and(|c| !c.is_null()))
    }

    pub(super) fn infrastructure_config(&self) -> Result<InfrastructureConfig, String> {
        infrastructure_config(&self.shoot).map_err(|e| e.to_string())
    }

    /// The shoot's ControlPlaneConfig; none is the default (baseline network access).
    pub(super) fn control_plane_config(&self) -> Result<ControlPlaneConfig, String> {
        match present(self.shoot.pointer("/spec/provider/controlPlaneConfig")) {
            None => Ok(ControlPlaneConfig::default()),
            Some(raw) => decode(
                raw,
                "ControlPlaneConfig",
                &Path::new("spec.provider.controlPlaneConfig"),
            )
            .map_err(|e| e.to_string()),
        }
    }

    pub(super) fn cloud_profile_config(&self) -> Result<CloudProfileConfig, String> {
        cloudprofile::config(&self.cloud_profile)
            .map_err(|e| format!("could not decode providerConfig of cloudProfile: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::provider_config::{API_VERSION, NetworkAccessType};

    fn cluster_object() -> Value {
        json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster",
            "metadata": {"name": "shoot--p--s"},
            "spec": {
                "shoot": {"spec": {
                    "kubernetes": {"version": "1.30.4"},
                    "networking": {"nodes": "10.0.0.0/24"},
                    "provider": {
                        "workers": [{"name": "old", "kubernetes": {"version": "1.29.8"}}, {"name": "default"}],
                        "controlPlaneConfig": {"apiVersion": API_VERSION, "kind": "ControlPlaneConfig",
                                               "networkAccessType": "forbidden"},
                    },
                }},
                "cloudProfile": {"spec": {}},
            },
        })
    }

    #[test]
    fn a_cluster_yields_the_shoots_facts() {
        let cluster = Cluster::from_object(&cluster_object()).unwrap();
        assert_eq!(cluster.seed, Value::Null);
        assert_eq!(cluster.kubernetes_version().unwrap().minor, 30);
        assert_eq!(cluster.kubelet_version(Some("old")).unwrap().minor, 29);
        assert_eq!(cluster.kubelet_version(Some("default")).unwrap().minor, 30);
        assert_eq!(cluster.kubelet_version(None).unwrap().minor, 30);
        assert_eq!(cluster.node_cidr(), Ok("10.0.0.0/24"));
        assert!(!cluster.self_hosted());
        assert_eq!(
            cluster.control_plane_config().unwrap().network_access_type,
            Some(NetworkAccessType::Forbidden)
        );
        assert!(
            cluster
                .cloud_profile_config()
                .unwrap_err()
                .contains("providerConfig")
        );
        assert!(cluster.infrastructure_config().is_err());
    }

    #[test]
    fn a_cluster_without_shoot_or_profile_is_an_error() {
        for pointer in ["/spec/shoot", "/spec/cloudProfile"] {
            let mut object = cluster_object();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            object
                .pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key);
            let e = Cluster::from_object(&object).unwrap_err();
            assert!(e.contains(key), "{e}");
        }
        assert!(Cluster::from_object(&json!({})).is_err());
    }

    #[test]
    fn missing_facts_are_errors_or_defaults() {
        let cluster = Cluster {
            shoot: json!({"spec": {"provider": {"workers": [{"name": "cp", "controlPlane": {}}]}}}),
            cloud_profile: json!({}),
            seed: Value::Null,
        };
        assert!(cluster.kubernetes_version().is_err());
        assert_eq!(cluster.node_cidr(), Err("nodeCIDR is not yet set".into()));
        assert!(cluster.self_hosted());
        assert_eq!(
            cluster.control_plane_config().unwrap(),
            ControlPlaneConfig::default()
        );
    }
}
