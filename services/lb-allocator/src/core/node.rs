//! Node metadata from a node's machine, as a cloud provider's node controller publishes it:
//! provider ID, addresses, instance type, zone and region labels, machine tags as labels. And
//! what happens to a Node whose machine is gone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use metal_api_sdk::model::MachineResponse;
use metal_api_sdk::tags::{self, CLUSTER_ID};
use serde::Serialize;
use utoipa::ToSchema;

use super::config::Config;

pub const UNINITIALIZED_TAINT: &str = "node.cloudprovider.kubernetes.io/uninitialized";
pub const INSTANCE_TYPE_LABEL: &str = "node.kubernetes.io/instance-type";
pub const INSTANCE_TYPE_LABEL_BETA: &str = "beta.kubernetes.io/instance-type";
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const REGION_LABEL: &str = "topology.kubernetes.io/region";
/// Gardener manages this label itself; metal-ccm never copies the tag.
pub const EXCLUDED_TAG: &str = "networking.gardener.cloud/node-local-dns-enabled";

const PROVIDER_PREFIX: &str = "metal://";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NodeAddress {
    /// Hostname, InternalIP or ExternalIP.
    #[serde(rename = "type")]
    pub type_: String,
    pub address: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeMetadata {
    pub machine_id: String,
    /// `metal://<partition>/<machine>`.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    pub instance_type: String,
    pub zone: String,
    pub region: String,
    pub addresses: Vec<NodeAddress>,
    /// Labels to set: instance type, zone, region and every `k=v` machine tag.
    pub labels: BTreeMap<String, String>,
    /// Machine tags that cannot be labels, with the reason.
    pub skipped_tags: Vec<String>,
}

pub fn provider_id(partition: &str, machine: &str) -> String {
    format!("{PROVIDER_PREFIX}{partition}/{machine}")
}

/// The machine ID of a provider ID: `metal://<id>`, `metal://<partition>/<id>`, or any deeper
/// path, the last segment winning (metal-ccm's rule, `metal:///a/b/id` included).
pub fn machine_of(provider_id: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "unexpected providerID format {provider_id:?}, format should be \"metal://<machine-id>\" or \"metal://<partition-id>/<machine-id>\""
        )
    };
    let rest = provider_id.strip_prefix(PROVIDER_PREFIX).ok_or_else(bad)?;
    match rest.rsplit('/').next() {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(bad()),
    }
}

/// The partition ID up to its first `-` (`fra-equ01` → `fra`).
pub fn region(partition: &str) -> &str {
    partition.split('-').next().unwrap_or(partition)
}

/// Label key: an optional DNS-subdomain prefix and `/`, then a name of up to 63 characters.
pub fn valid_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    prefix.is_none_or(super::lbconfig::is_dns_subdomain)
        && valid_label_value(name)
        && !name.is_empty()
}

/// Label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`, starting and ending
/// alphanumeric.
pub fn valid_label_value(value: &str) -> bool {
    let b = value.as_bytes();
    value.len() <= 63
        && (b.is_empty()
            || (b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))))
}

/// Labels from machine tags: every `k=v` tag except the excluded one; tags that cannot be
/// labels come back as skipped.
pub fn tag_labels(machine_tags: &[String]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut labels = BTreeMap::new();
    let mut skipped = Vec::new();
    for tag in machine_tags {
        let Some((key, value)) = tag.split_once('=') else {
            continue;
        };
        if key == EXCLUDED_TAG {
            continue;
        }
        if valid_label_key(key) && valid_label_value(value) {
            labels.insert(key.to_string(), value.to_string());
        } else {
            skipped.push(tag.clone());
        }
    }
    (labels, skipped)
}

/// Why a machine does not (or no longer) back a node of this cluster.
pub fn machine_mismatch(machine: &MachineResponse, project: &str) -> Option<String> {
    match &machine.allocation {
        None => Some(format!("machine {} is not allocated", machine.id)),
        Some(a) if a.project != project => Some(format!(
            "machine {} belongs to project {:?}, not {project:?}",
            machine.id, a.project
        )),
        Some(_) => None,
    }
}

/// The metadata of a node backed by `machine`; the machine must be allocated to the project.
pub fn metadata(config: &Config, machine: &MachineResponse) -> Result<NodeMetadata, String> {
    if let Some(reason) = machine_mismatch(machine, &config.project) {
        return Err(reason);
    }
    let allocation = machine.allocation.as_ref().expect("checked above");
    let partition = machine
        .partition
        .as_ref()
        .map(|p| p.id.clone())
        .unwrap_or_else(|| config.partition.clone());
    let instance_type = machine
        .size
        .as_ref()
        .map(|s| s.id.clone())
        .unwrap_or_default();

    let mut addresses: Vec<NodeAddress> = Vec::new();
    let mut push = |type_: &str, address: &str| {
        let a = NodeAddress {
            type_: type_.into(),
            address: address.into(),
        };
        if !addresses.contains(&a) {
            addresses.push(a);
        }
    };
    for network in &allocation.networks {
        if matches!(
            network.networktype.as_str(),
            "privateprimaryunshared" | "privateprimaryshared"
        ) && let Some(first) = network.ips.first()
        {
            push("Hostname", &allocation.hostname);
            push("InternalIP", first);
        }
        if config.default_network.as_deref() == Some(network.networkid.as_str()) {
            for ip in &network.ips {
                push("ExternalIP", ip);
            }
        }
    }

    let (mut labels, skipped_tags) = tag_labels(&machine.tags);
    let region = region(&partition).to_string();
    for (key, value) in [
        (INSTANCE_TYPE_LABEL, &instance_type),
        (INSTANCE_TYPE_LABEL_BETA, &instance_type),
        (ZONE_LABEL, &partition),
        (REGION_LABEL, &region),
    ] {
        if valid_label_value(value) {
            labels.insert(key.into(), value.clone());
        }
    }
    Ok(NodeMetadata {
        machine_id: machine.id.clone(),
        provider_id: provider_id(&partition, &machine.id),
        instance_type,
        zone: partition,
        region,
        addresses,
        labels,
        skipped_tags,
    })
}

/// Whether the node still waits for its cloud metadata.
pub fn needs_init(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    let tainted = spec
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == UNINITIALIZED_TAINT));
    let no_provider = spec
        .and_then(|s| s.provider_id.as_deref())
        .is_none_or(str::is_empty);
    tainted || no_provider
}

/// Labels of `wanted` the node lacks or has with another value (labels are added and
/// overwritten, never removed).
pub fn missing_labels(node: &Node, wanted: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let have = node.metadata.labels.as_ref();
    wanted
        .iter()
        .filter(|(k, v)| have.and_then(|h| h.get(*k)) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The machine tags with `cluster.metal-stack.io/id=<cluster>`, None when it is already there.
/// A different cluster ID is replaced (metal-ccm appends a second one).
pub fn with_cluster_tag(machine_tags: &[String], cluster: &str) -> Option<Vec<String>> {
    let tag = tags::tag(CLUSTER_ID, cluster);
    if machine_tags.contains(&tag) {
        return None;
    }
    let mut out: Vec<String> = machine_tags
        .iter()
        .filter(|t| tags::split(t).0 != CLUSTER_ID)
        .cloned()
        .collect();
    out.push(tag);
    Some(out)
}

/// The machine's SSH keys with `key` added, None when it is already there. metal-ccm replaces
/// the whole list with the one key; keys others put there are kept here.
pub fn with_ssh_key(keys: &[String], key: &str) -> Option<Vec<String>> {
    if keys.iter().any(|k| k.trim() == key.trim()) {
        return None;
    }
    let mut out = keys.to_vec();
    out.push(key.to_string());
    Some(out)
}

pub fn is_ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_some_and(|c| c.status == "True")
}

/// What to do with an initialized node after looking up its machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    Keep,
    /// The machine is gone and the node NotReady: the Node object goes, as a cloud node
    /// lifecycle controller does when the instance no longer exists.
    Delete {
        reason: String,
    },
    /// The machine is gone but the node still reports Ready (or deletion is off): a Warning,
    /// nothing else. A Ready kubelet on a machine metal-api calls freed means a misconfiguration
    /// rather than a vanished machine.
    Report {
        reason: String,
    },
}

/// `gone`: why the machine no longer backs this node (404, freed, another project, another
/// hostname), or None while it does. A failed lookup is not "gone" and never gets here.
pub fn lifecycle(node: &Node, gone: Option<String>, delete_enabled: bool) -> Lifecycle {
    match gone {
        None => Lifecycle::Keep,
        Some(reason) if delete_enabled && !is_ready(node) => Lifecycle::Delete { reason },
        Some(reason) => Lifecycle::Report { reason },
    }
}

/// Why `machine` no longer backs the node called `node_name`, if it does not.
pub fn gone_reason(machine: &MachineResponse, project: &str, node_name: &str) -> Option<String> {
    if let Some(reason) = machine_mismatch(machine, project) {
        return Some(reason);
    }
    let hostname = &machine.allocation.as_ref()?.hostname;
    (hostname != node_name).then(|| {
        format!(
            "machine {} is now allocated as {hostname:?}, not as this node",
            machine.id
        )
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, Taint};
    use metal_api_sdk::model::MachineNetwork;

    use super::*;

    fn network(id: &str, kind: &str, ips: &[&str]) -> MachineNetwork {
        MachineNetwork {
            networkid: id.into(),
            prefixes: vec![],
            ips: ips.iter().map(|i| i.to_string()).collect(),
            destinationprefixes: vec![],
            vrf: 0,
            asn: 0,
            nat: false,
            private: kind.starts_with("private"),
            underlay: false,
            projectid: String::new(),
            networktype: kind.into(),
            networktypev2: String::new(),
            nattypev2: String::new(),
        }
    }

    fn machine(tags: &[&str], networks: Vec<MachineNetwork>) -> MachineResponse {
        let json = serde_json::json!({
            "id": "m1",
            "partition": {"id": "fra-equ01", "bootconfig": {}, "dns_servers": [], "ntp_servers": []},
            "size": {"id": "c1-medium-x86", "constraints": []},
            "allocation": {
                "allocationuuid": "a", "name": "worker-1", "hostname": "worker-1", "project": "p",
                "role": "machine", "ssh_pub_keys": [], "networks": networks, "succeeded": true,
                "reinstall": false, "creator": "x", "created": "2026-01-01T00:00:00Z"
            },
            "hardware": {"cpu_cores": 1, "memory": 1, "disks": [], "nics": []},
            "bios": {"vendor": "", "version": "", "date": ""},
            "state": {"value": "", "description": "", "metal_hammer_version": ""},
            "ledstate": {"value": "", "description": ""},
            "liveliness": "Alive",
            "events": {"log": [], "crash_loop": false, "failed_machine_reclaim": false},
            "tags": tags,
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn metadata_from_the_machine() {
        let m = machine(
            &[
                "machine.metal-stack.io/network.primary.asn=4200000001",
                "machine.metal-stack.io/rack=rack01",
                "networking.gardener.cloud/node-local-dns-enabled=true",
                "no-equals-sign",
                "bad key=x",
                "k=has space",
            ],
            vec![
                network(
                    "tenant",
                    "privateprimaryunshared",
                    &["10.0.0.5", "10.0.0.6"],
                ),
                network("internet", "external", &["185.1.2.3", "2a02:c00:20::3"]),
                network("storage", "privatesecondaryshared", &["10.2.0.5"]),
            ],
        );
        let md = metadata(&Config::for_tests(), &m).unwrap();
        assert_eq!(md.provider_id, "metal://fra-equ01/m1");
        assert_eq!((md.zone.as_str(), md.region.as_str()), ("fra-equ01", "fra"));
        let addrs: Vec<(&str, &str)> = md
            .addresses
            .iter()
            .map(|a| (a.type_.as_str(), a.address.as_str()))
            .collect();
        assert_eq!(
            addrs,
            [
                ("Hostname", "worker-1"),
                ("InternalIP", "10.0.0.5"),
                ("ExternalIP", "185.1.2.3"),
                ("ExternalIP", "2a02:c00:20::3")
            ]
        );
        let labels: Vec<(&str, &str)> = md
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            labels,
            [
                ("beta.kubernetes.io/instance-type", "c1-medium-x86"),
                ("machine.metal-stack.io/network.primary.asn", "4200000001"),
                ("machine.metal-stack.io/rack", "rack01"),
                ("node.kubernetes.io/instance-type", "c1-medium-x86"),
                ("topology.kubernetes.io/region", "fra"),
                ("topology.kubernetes.io/zone", "fra-equ01"),
            ]
        );
        assert_eq!(md.skipped_tags, ["bad key=x", "k=has space"]);
    }

    #[test]
    fn isolated_clusters_get_no_external_ips() {
        let mut config = Config::for_tests();
        config.default_network = None;
        let m = machine(&[], vec![network("internet", "external", &["185.1.2.3"])]);
        assert!(metadata(&config, &m).unwrap().addresses.is_empty());
    }

    #[test]
    fn foreign_or_unallocated_machines_have_no_metadata() {
        let mut m = machine(&[], vec![]);
        m.allocation.as_mut().unwrap().project = "other".into();
        assert!(
            metadata(&Config::for_tests(), &m)
                .unwrap_err()
                .contains("project")
        );
        m.allocation = None;
        assert!(
            metadata(&Config::for_tests(), &m)
                .unwrap_err()
                .contains("not allocated")
        );
    }

    #[test]
    fn provider_ids() {
        assert_eq!(machine_of("metal://m1").unwrap(), "m1");
        assert_eq!(machine_of("metal://fra-equ01/m1").unwrap(), "m1");
        assert_eq!(machine_of("metal:///a/b/m1").unwrap(), "m1");
        let err = machine_of("aws://m1").unwrap_err();
        assert!(
            err.starts_with("unexpected providerID format \"aws://m1\""),
            "{err}"
        );
        assert!(machine_of("metal://").is_err());
        assert!(machine_of("metal://fra/").is_err());
        assert_eq!(region("nbg"), "nbg");
    }

    #[test]
    fn init_state_and_label_diff() {
        let mut node = Node::default();
        assert!(needs_init(&node));
        node.spec = Some(NodeSpec {
            provider_id: Some("metal://fra-equ01/m1".into()),
            taints: Some(vec![Taint {
                key: UNINITIALIZED_TAINT.into(),
                effect: "NoSchedule".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        assert!(needs_init(&node));
        node.spec.as_mut().unwrap().taints = None;
        assert!(!needs_init(&node));
        node.metadata.labels = Some([("a".to_string(), "1".to_string())].into());
        let wanted: BTreeMap<String, String> =
            [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        assert_eq!(
            missing_labels(&node, &wanted),
            BTreeMap::from([("b".to_string(), "2".to_string())])
        );
    }

    #[test]
    fn cluster_tag_and_ssh_key_updates() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            with_cluster_tag(&t(&["a=b"]), "c"),
            Some(t(&["a=b", "cluster.metal-stack.io/id=c"]))
        );
        assert_eq!(
            with_cluster_tag(&t(&["cluster.metal-stack.io/id=c"]), "c"),
            None
        );
        assert_eq!(
            with_cluster_tag(&t(&["cluster.metal-stack.io/id=old", "x"]), "c"),
            Some(t(&["x", "cluster.metal-stack.io/id=c"]))
        );
        assert_eq!(with_ssh_key(&t(&["ssh-ed25519 A"]), "ssh-ed25519 A"), None);
        assert_eq!(
            with_ssh_key(&t(&["ssh-ed25519 A"]), "ssh-ed25519 B"),
            Some(t(&["ssh-ed25519 A", "ssh-ed25519 B"]))
        );
    }

    #[test]
    fn gone_machines_delete_only_notready_nodes() {
        let ready = |status: &str| Node {
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition {
                    type_: "Ready".into(),
                    status: status.into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(lifecycle(&ready("True"), None, true), Lifecycle::Keep);
        assert!(matches!(
            lifecycle(&ready("Unknown"), Some("freed".into()), true),
            Lifecycle::Delete { .. }
        ));
        assert!(matches!(
            lifecycle(&ready("True"), Some("freed".into()), true),
            Lifecycle::Report { .. }
        ));
        assert!(matches!(
            lifecycle(&ready("False"), Some("freed".into()), false),
            Lifecycle::Report { .. }
        ));

        let m = machine(&[], vec![]);
        assert_eq!(gone_reason(&m, "p", "worker-1"), None);
        assert!(
            gone_reason(&m, "p", "worker-2")
                .unwrap()
                .contains("allocated as")
        );
        assert!(
            gone_reason(&m, "q", "worker-1")
                .unwrap()
                .contains("project")
        );
    }
}
