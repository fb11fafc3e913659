//! What the extension controllers read of a shoot: Gardener's Cluster object of the shoot's seed
//! namespace holds the Shoot, its CloudProfile and its Seed; from them come the metal project,
//! partition and control plane (whose metal-api serves the shoot) and the cluster ID (the
//! Shoot's UID) every metal-api object of the shoot is tagged with.

use serde_json::Value;

use super::operation::ExtError;
use crate::core::cloudprofile;
use crate::core::field::Path;
use crate::core::provider_config::{
    CloudProfileConfig, ControlPlaneConfig, InfrastructureConfig, MetalControlPlane,
    NetworkAccessType, Partition, decode,
};
use crate::core::shoot::{find_partition, infrastructure_config};

/// A shoot of type metal as its controllers see it.
#[derive(Debug, Clone)]
pub struct Shoot {
    /// The seed namespace (`shoot--<project>--<name>`), the Cluster's name.
    pub namespace: String,
    /// The Shoot's name in the garden.
    pub name: String,
    /// The Shoot's UID: the cluster ID of metal-stack's tags.
    pub uid: String,
    pub infrastructure: InfrastructureConfig,
    pub control_plane: ControlPlaneConfig,
    pub profile: CloudProfileConfig,
    /// The metal control plane serving the shoot's partition, and its name.
    pub metal_control_plane: (String, MetalControlPlane),
    pub partition: Partition,
    /// `spec.networking.nodes`, when the Shoot names its node network.
    pub nodes_cidr: Option<String>,
    /// `spec.networking.type` (`calico`, `cilium`).
    pub networking_type: Option<String>,
    pub region: String,
    pub hibernated: bool,
    /// The objects as Gardener wrote them, for what only one controller reads.
    pub shoot: Value,
    pub cloud_profile: Value,
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Shoot {
    /// Reads a Cluster object as the API serves it. Anything missing is a configuration error
    /// naming it: without it no controller can act.
    pub fn from_cluster(cluster: &Value) -> Result<Shoot, ExtError> {
        let namespace = str_at(cluster, "/metadata/name")
            .unwrap_or_default()
            .to_owned();
        let bad = |what: String| ExtError::configuration(format!("cluster {namespace:?}: {what}"));
        let shoot = cluster
            .pointer("/spec/shoot")
            .filter(|s| s.is_object())
            .cloned()
            .ok_or_else(|| bad("has no spec.shoot".into()))?;
        let cloud_profile = cluster
            .pointer("/spec/cloudProfile")
            .filter(|s| s.is_object())
            .cloned()
            .ok_or_else(|| bad("has no spec.cloudProfile".into()))?;
        let uid = str_at(&shoot, "/metadata/uid")
            .ok_or_else(|| bad("the shoot has no metadata.uid".into()))?
            .to_owned();
        let name = str_at(&shoot, "/metadata/name")
            .unwrap_or_default()
            .to_owned();
        let infrastructure = infrastructure_config(&shoot).map_err(|e| bad(e.to_string()))?;
        let control_plane = match shoot
            .pointer("/spec/provider/controlPlaneConfig")
            .filter(|c| !c.is_null())
        {
            None => ControlPlaneConfig::default(),
            Some(raw) => decode(
                raw,
                "ControlPlaneConfig",
                &Path::new("spec.provider.controlPlaneConfig"),
            )
            .map_err(|e| bad(e.to_string()))?,
        };
        let profile = cloudprofile::config(&cloud_profile).map_err(|e| bad(e.to_string()))?;
        let (plane_name, plane, partition) = find_partition(&profile, &infrastructure.partition_id)
            .ok_or_else(|| {
                bad(format!(
                    "no metal control plane of the cloud profile serves partition {:?}",
                    infrastructure.partition_id
                ))
            })?;
        let metal_control_plane = (plane_name.to_owned(), plane.clone());
        let partition = partition.clone();
        Ok(Shoot {
            nodes_cidr: str_at(&shoot, "/spec/networking/nodes").map(str::to_owned),
            networking_type: str_at(&shoot, "/spec/networking/type").map(str::to_owned),
            region: str_at(&shoot, "/spec/region")
                .unwrap_or_default()
                .to_owned(),
            hibernated: shoot
                .pointer("/spec/hibernation/enabled")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            namespace,
            name,
            uid,
            infrastructure,
            control_plane,
            profile,
            metal_control_plane,
            partition,
            shoot,
            cloud_profile,
        })
    }

    pub fn project_id(&self) -> &str {
        &self.infrastructure.project_id
    }

    pub fn partition_id(&self) -> &str {
        &self.infrastructure.partition_id
    }

    /// The metal-api URL of the shoot's partition.
    pub fn endpoint(&self) -> &str {
        &self.metal_control_plane.1.endpoint
    }

    /// The network access type; none is baseline.
    pub fn network_access(&self) -> NetworkAccessType {
        self.control_plane
            .network_access_type
            .unwrap_or(NetworkAccessType::Baseline)
    }

    /// The cluster tag `cluster.metal-stack.io/id=<uid>`.
    pub fn cluster_tag(&self) -> String {
        format!("{}={}", TAG_CLUSTER_ID, self.uid)
    }
}

/// metal-lib's tag keys.
pub const TAG_CLUSTER_ID: &str = "cluster.metal-stack.io/id";
pub const TAG_CLUSTER_NAME: &str = "cluster.metal-stack.io/name";
pub const TAG_CLUSTER_PROJECT: &str = "cluster.metal-stack.io/project";
pub const TAG_CLUSTER_PARTITION: &str = "cluster.metal-stack.io/partition";
pub const TAG_CLUSTER_EGRESS: &str = "cluster.metal-stack.io/id/egress";
pub const TAG_CLUSTER_SERVICE_FQN: &str = "cluster.metal-stack.io/id/namespace/service";

#[cfg(test)]
pub(crate) mod fixtures {
    use serde_json::{Value, json};

    use crate::core::provider_config::API_VERSION;

    /// A Cluster of shoot `shoot--p--s1` (UID `uid-1`) in partition `part-a` of control plane
    /// `cp` (endpoint `http://metal.example`), firewall networks `internet`.
    pub fn cluster() -> Value {
        json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster",
            "metadata": {"name": "shoot--p--s1"},
            "spec": {
                "shoot": {
                    "metadata": {"name": "s1", "namespace": "garden-p", "uid": "uid-1"},
                    "spec": {
                        "region": "eu",
                        "networking": {"type": "calico"},
                        "provider": {
                            "type": "metal",
                            "infrastructureConfig": {
                                "apiVersion": API_VERSION, "kind": "InfrastructureConfig",
                                "partitionID": "part-a", "projectID": "proj-1",
                                "firewall": {"size": "c1-xlarge-x86", "image": "firewall-ubuntu-3.0",
                                             "networks": ["internet"]},
                            },
                        },
                    },
                },
                "cloudProfile": {
                    "metadata": {"name": "metal"},
                    "spec": {"providerConfig": {
                        "apiVersion": API_VERSION, "kind": "CloudProfileConfig",
                        "metalControlPlanes": {"cp": {
                            "endpoint": "http://metal.example",
                            "partitions": {"part-a": {"firewallTypes": ["c1-xlarge-x86"]}},
                        }},
                    }},
                },
                "seed": {"metadata": {"name": "seed-1"}},
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_gives_the_shoots_metal_context() {
        let shoot = Shoot::from_cluster(&fixtures::cluster()).unwrap();
        assert_eq!(shoot.namespace, "shoot--p--s1");
        assert_eq!(shoot.uid, "uid-1");
        assert_eq!(shoot.project_id(), "proj-1");
        assert_eq!(shoot.partition_id(), "part-a");
        assert_eq!(shoot.endpoint(), "http://metal.example");
        assert_eq!(shoot.cluster_tag(), "cluster.metal-stack.io/id=uid-1");
        assert_eq!(shoot.network_access(), NetworkAccessType::Baseline);
        assert!(!shoot.hibernated);
    }

    #[test]
    fn a_partition_no_control_plane_serves_is_a_configuration_error() {
        let mut cluster = fixtures::cluster();
        cluster["spec"]["shoot"]["spec"]["provider"]["infrastructureConfig"]["partitionID"] =
            "part-z".into();
        let e = Shoot::from_cluster(&cluster).unwrap_err();
        assert_eq!(
            e.code,
            Some(super::super::operation::ErrorCode::Configuration)
        );
        assert!(e.message.contains("\"part-z\""), "{e}");
    }
}
