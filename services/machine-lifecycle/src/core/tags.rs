//! Tag and providerID formats, as upstream writes them.

/// The tag key naming the cluster a machine belongs to (`cluster.metal-stack.io/id=<id>`).
pub const CLUSTER_ID: &str = "cluster.metal-stack.io/id";
/// The allocation role of worker machines; firewalls have `firewall`.
pub const ROLE_MACHINE: &str = "machine";

pub fn cluster_tag(id: &str) -> String {
    format!("{CLUSTER_ID}={id}")
}

/// The cluster id of the first `cluster.metal-stack.io/id=` tag with a value.
pub fn cluster_id(tags: &[String]) -> Option<&str> {
    tags.iter()
        .filter_map(|t| t.strip_prefix(CLUSTER_ID)?.strip_prefix('='))
        .find(|id| !id.is_empty())
}

/// `metal:///<partition>/<machine-id>`.
pub fn provider_id(partition: &str, machine: &str) -> String {
    format!("metal:///{partition}/{machine}")
}

/// The machine id of a providerID: the last `/` segment, as upstream decodes it (also the
/// older `metal://<partition>/<id>` form and a bare id). `None` for an empty one.
pub fn machine_id(provider_id: &str) -> Option<&str> {
    let id = provider_id.rsplit('/').next().unwrap_or_default().trim();
    (!id.is_empty()).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_round_trip_and_old_forms_decode() {
        let id = provider_id("fra-equ01", "00000000-0000-0000-0000-000000000007");
        assert_eq!(
            id,
            "metal:///fra-equ01/00000000-0000-0000-0000-000000000007"
        );
        assert_eq!(
            machine_id(&id),
            Some("00000000-0000-0000-0000-000000000007")
        );
        assert_eq!(machine_id("metal://fra-equ01/m1"), Some("m1"));
        assert_eq!(machine_id("m1"), Some("m1"));
        assert_eq!(machine_id(""), None);
        assert_eq!(machine_id("metal:///fra-equ01/"), None);
    }

    #[test]
    fn the_cluster_id_is_read_from_its_tag() {
        let tags = vec![
            "a=b".to_string(),
            "cluster.metal-stack.io/id=".to_string(),
            "cluster.metal-stack.io/id=c1".to_string(),
        ];
        assert_eq!(cluster_id(&tags), Some("c1"));
        assert_eq!(cluster_id(&["cluster.metal-stack.io/idx=c".into()]), None);
        assert_eq!(cluster_tag("c1"), "cluster.metal-stack.io/id=c1");
    }
}
