//! Tag and label keys as metal-stack spells them (metal-lib `pkg/tag`).
//! A tag is `key=value`, split at the first `=`.

pub const CLUSTER_ID: &str = "cluster.metal-stack.io/id";
pub const CLUSTER_NAME: &str = "cluster.metal-stack.io/name";
pub const CLUSTER_PROJECT: &str = "cluster.metal-stack.io/project";
pub const CLUSTER_SERVICE_FQN: &str = "cluster.metal-stack.io/id/namespace/service";
pub const CLUSTER_EGRESS: &str = "cluster.metal-stack.io/id/egress";
pub const MACHINE_ID: &str = "machine.metal-stack.io/id";
pub const MACHINE_NETWORK_PRIMARY_ASN: &str = "machine.metal-stack.io/network.primary.asn";
pub const MACHINE_RACK: &str = "machine.metal-stack.io/rack";
pub const MACHINE_CHASSIS: &str = "machine.metal-stack.io/chassis";
pub const NETWORK_DEFAULT: &str = "network.metal-stack.io/default";
pub const NETWORK_DEFAULT_EXTERNAL: &str = "network.metal-stack.io/default-external";
pub const NETWORK_PARTITION_STORAGE: &str = "network.metal-stack.io/partition-storage";

/// `key=value` for a tag key.
pub fn tag(key: &str, value: &str) -> String {
    format!("{key}={value}")
}

/// The key and value of a tag; a tag without `=` is all key.
pub fn split(tag: &str) -> (&str, &str) {
    tag.split_once('=').unwrap_or((tag, ""))
}
