//! OperatingSystemConfigs in the `controlplane` webhook. Upstream: metal-stack's
//! `pkg/webhook/controlplane/add.go` (`mutateOperatingSystemConfig`, every purpose) and, for
//! purpose `reconcile`, Gardener's generic mutator calling metal's kubelet ensurers
//! (`EnsureKubeletServiceUnitOptions`, `EnsureKubeletConfiguration` in `ensurer.go`).

use base64::Engine as _;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value, json};

use super::systemd_unit;
use super::{Cluster, flags, pod};
use crate::core::provider_config::{
    API_VERSION, NetworkAccessType, NetworkIsolation, RegistryMirror,
};
use crate::core::shoot::find_partition;

const KUBELET_UNIT: &str = "kubelet.service";
const KUBELET_CONFIG_PATH: &str = "/var/lib/kubelet/config/kubelet";
const KERNEL_SETTINGS_PATH: &str = "/etc/sysctl.d/99-k8s-general.conf";
const WORKER_POOL_LABEL: &str = "worker.gardener.cloud/pool";
/// CSI feature gates upstream keeps out of the kubelet configuration.
const CSI_FEATURE_GATES: [&str; 3] = [
    "VolumeSnapshotDataSource",
    "CSINodeInfo",
    "CSIDriverRegistry",
];
/// Files through which nodes used to get the partition's DNS and NTP servers (GEPM #433).
const LEGACY_NETWORK_FILES: [&str; 3] = [
    "/etc/systemd/resolved.conf.d/dns.conf",
    "/etc/resolv.conf",
    "/etc/systemd/timesyncd.conf",
];

pub(super) fn mutate(
    object: &mut Value,
    cluster: &Cluster,
    old: Option<&Value>,
) -> Result<(), String> {
    ensure_provider_config(object, cluster, old)?;
    match object.pointer("/spec/purpose").and_then(Value::as_str) {
        Some("reconcile") => reconcile(object, cluster, old),
        // Metal ensures no extra files or units for `provision`.
        _ => Ok(()),
    }
}

/// For restricted or forbidden network access in a partition with network isolation, the OS
/// extension gets the isolation as the OSC's `spec.providerConfig` (an ImageProviderConfig).
/// DNS and NTP servers now reach machines through the metal-api, so they are passed on only
/// while the node still has the files an older OS extension wrote for them (the old OSC's
/// `status.extensionFiles`); dropping them would cut existing nodes off.
fn ensure_provider_config(
    object: &mut Value,
    cluster: &Cluster,
    old: Option<&Value>,
) -> Result<(), String> {
    let profile = cluster.cloud_profile_config()?;
    let infrastructure = cluster.infrastructure_config()?;
    let partition_id = &infrastructure.partition_id;
    let (_, _, partition) = find_partition(&profile, partition_id).ok_or_else(|| {
        format!("no metal control plane found for partition {partition_id} in cloud profile config")
    })?;
    let access = cluster.control_plane_config()?.network_access_type;
    if matches!(access, None | Some(NetworkAccessType::Baseline)) {
        return Ok(());
    }
    let Some(isolation) = &partition.network_isolation else {
        return Ok(());
    };
    let keep_dns_ntp = old.is_some_and(has_legacy_network_files);
    pod::object_at(object, &["spec"]).insert(
        "providerConfig".to_string(),
        image_provider_config(isolation, keep_dns_ntp),
    );
    Ok(())
}

fn has_legacy_network_files(old: &Value) -> bool {
    old.pointer("/status/extensionFiles")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("path").and_then(Value::as_str))
        .any(|path| LEGACY_NETWORK_FILES.contains(&path))
}

/// `list` under `key` unless empty (Go's `omitempty`).
fn insert_list(map: &mut Map<String, Value>, key: &str, list: &[String]) {
    if !list.is_empty() {
        map.insert(key.to_string(), json!(list));
    }
}

fn mirror(m: &RegistryMirror) -> Value {
    let mut out = Map::new();
    for (key, text) in [("name", &m.name), ("endpoint", &m.endpoint), ("ip", &m.ip)] {
        if !text.is_empty() {
            out.insert(key.to_string(), json!(text));
        }
    }
    if m.port != 0 {
        out.insert("port".to_string(), json!(m.port));
    }
    insert_list(&mut out, "mirrorOf", &m.mirror_of);
    Value::Object(out)
}

/// The ImageProviderConfig as upstream's Go types marshal it.
fn image_provider_config(isolation: &NetworkIsolation, with_dns_ntp: bool) -> Value {
    let mut allowed = Map::new();
    insert_list(&mut allowed, "ingress", &isolation.allowed_networks.ingress);
    insert_list(&mut allowed, "egress", &isolation.allowed_networks.egress);
    let mut network_isolation = Map::new();
    network_isolation.insert("allowedNetworks".to_string(), Value::Object(allowed));
    if with_dns_ntp {
        insert_list(&mut network_isolation, "dnsServers", &isolation.dns_servers);
        insert_list(&mut network_isolation, "ntpServers", &isolation.ntp_servers);
    }
    if !isolation.registry_mirrors.is_empty() {
        network_isolation.insert(
            "registryMirrors".to_string(),
            isolation.registry_mirrors.iter().map(mirror).collect(),
        );
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "ImageProviderConfig",
        "networkIsolation": network_isolation,
    })
}

/// The generic mutator's `reconcile` pass. The ensurers do not use the kubelet version, but
/// upstream computes it first and refuses one it cannot read; it also refuses old content it
/// cannot decode.
fn reconcile(object: &mut Value, cluster: &Cluster, old: Option<&Value>) -> Result<(), String> {
    let pool = object
        .pointer("/metadata/labels")
        .and_then(|labels| labels.get(WORKER_POOL_LABEL))
        .and_then(Value::as_str);
    cluster.kubelet_version(pool)?;

    if let Some(content) = unit_content_mut(object, KUBELET_UNIT) {
        if let Some(old_content) = old.and_then(|o| unit_content(o, KUBELET_UNIT)) {
            systemd_unit::deserialize(old_content).map_err(|e| {
                format!("could not deserialize old kubelet.service unit content: {e}")
            })?;
        }
        *content = kubelet_unit(content)?;
    }

    if let Some(inline) = inline_content_mut(object, KUBELET_CONFIG_PATH) {
        if let Some(old_inline) = old.and_then(|o| inline_content(o, KUBELET_CONFIG_PATH)) {
            decode_kubelet_configuration(old_inline)
                .map_err(|e| format!("could not decode old kubelet configuration: {e}"))?;
        }
        ensure_kubelet_configuration(inline)?;
    }

    // Metal leaves the kernel settings as they are, but upstream decodes them all the same.
    for (osc, which) in [(Some(&*object), ""), (old, "old ")] {
        if let Some(inline) = osc.and_then(|o| inline_content(o, KERNEL_SETTINGS_PATH)) {
            decode_inline(inline).map_err(|e| {
                format!("could not decode {which}kubernetes general configuration: {e}")
            })?;
        }
    }
    Ok(())
}

fn named<'a>(osc: &'a Value, list: &str, key: &str, name: &str) -> Option<&'a Value> {
    osc.pointer(&format!("/spec/{list}"))?
        .as_array()?
        .iter()
        .find(|item| item.get(key).and_then(Value::as_str) == Some(name))
}

fn named_mut<'a>(osc: &'a mut Value, list: &str, key: &str, name: &str) -> Option<&'a mut Value> {
    osc.pointer_mut(&format!("/spec/{list}"))?
        .as_array_mut()?
        .iter_mut()
        .find(|item| item.get(key).and_then(Value::as_str) == Some(name))
}

/// The content of the first unit named `name`, if it has one.
fn unit_content<'a>(osc: &'a Value, name: &str) -> Option<&'a str> {
    named(osc, "units", "name", name)?.get("content")?.as_str()
}

fn unit_content_mut<'a>(osc: &'a mut Value, name: &str) -> Option<&'a mut String> {
    match named_mut(osc, "units", "name", name)?.get_mut("content")? {
        Value::String(content) => Some(content),
        _ => None,
    }
}

/// The inline content of the first file at `path`, if it is inline.
fn inline_content<'a>(osc: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
    named(osc, "files", "path", path)?
        .pointer("/content/inline")?
        .as_object()
}

fn inline_content_mut<'a>(osc: &'a mut Value, path: &str) -> Option<&'a mut Map<String, Value>> {
    named_mut(osc, "files", "path", path)?
        .pointer_mut("/content/inline")?
        .as_object_mut()
}

/// The kubelet uses the external cloud provider: `--cloud-provider=external` in `ExecStart`.
/// The unit is always written back, in go-systemd's layout, as upstream does.
fn kubelet_unit(content: &str) -> Result<String, String> {
    let mut options = systemd_unit::deserialize(content)
        .map_err(|e| format!("could not deserialize kubelet.service unit content: {e}"))?;
    if let Some(exec_start) = options
        .iter_mut()
        .find(|o| o.section == "Service" && o.name == "ExecStart")
    {
        let mut command = systemd_unit::split_command_line(&exec_start.value);
        flags::ensure_with_prefix(&mut command, "--cloud-provider=", "external");
        exec_start.value = systemd_unit::join_command_line(&command);
    }
    Ok(systemd_unit::serialize(&options))
}

/// Go's `base64.StdEncoding`: padded, tolerant of line breaks and of non-zero trailing bits.
const GO_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The bytes of an inline file content, by its `encoding` (`""` plain, `b64` base64).
fn decode_inline(inline: &Map<String, Value>) -> Result<Vec<u8>, String> {
    let encoding = inline
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data = inline
        .get("data")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match encoding {
        "" => Ok(data.as_bytes().to_vec()),
        "b64" => {
            let compact: String = data.chars().filter(|c| !matches!(c, '\r' | '\n')).collect();
            GO_BASE64
                .decode(compact)
                .map_err(|e| format!("could not decode data using file codec: {e}"))
        }
        other => Err(format!(
            "could not parse file codec ID '{other}': invalid file codec id {other:?}"
        )),
    }
}

fn encode_inline(inline: &mut Map<String, Value>, text: &str) {
    let encoding = inline
        .get("encoding")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let data = match encoding {
        "b64" => GO_BASE64.encode(text),
        _ => text.to_string(),
    };
    inline.insert("data".to_string(), Value::String(data));
}

/// The KubeletConfiguration YAML of an inline file content.
fn decode_kubelet_configuration(inline: &Map<String, Value>) -> Result<Value, String> {
    let bytes = decode_inline(inline)?;
    let text = String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    let config: Value = serde_saphyr::from_str(&text).map_err(|e| format!("not YAML: {e}"))?;
    if !config.is_object() {
        return Err("not a KubeletConfiguration object".to_string());
    }
    match config.get("kind").and_then(Value::as_str) {
        Some(kind) if kind != "KubeletConfiguration" => {
            Err(format!("kind {kind:?} is not KubeletConfiguration"))
        }
        _ => Ok(config),
    }
}

/// Drops the CSI feature gates. Upstream re-encodes the whole configuration through the Go
/// types; that output cannot be reproduced field for field, so the YAML is re-encoded only when
/// a gate was dropped, and otherwise left byte for byte.
fn ensure_kubelet_configuration(inline: &mut Map<String, Value>) -> Result<(), String> {
    let mut config = decode_kubelet_configuration(inline)
        .map_err(|e| format!("could not decode kubelet configuration: {e}"))?;
    let Some(gates) = config
        .get_mut("featureGates")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    let before = gates.len();
    gates.retain(|name, _| !CSI_FEATURE_GATES.contains(&name.as_str()));
    if gates.len() == before {
        return Ok(());
    }
    if gates.is_empty() {
        // `omitempty` in the Go type.
        config
            .as_object_mut()
            .expect("checked")
            .remove("featureGates");
    }
    let yaml = serde_saphyr::to_string(&config)
        .map_err(|e| format!("could not encode kubelet configuration: {e}"))?;
    encode_inline(inline, &yaml);
    Ok(())
}

#[cfg(test)]
mod tests;
