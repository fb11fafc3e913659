//! The shoot's FirewallDeployment (`firewall.metal-stack.io/v2`, `shoot-firewall`), which
//! firewall-controller-manager turns into firewall machines, and the firewall backup kept in
//! the Infrastructure's `status.state` for a control plane migration.
//!
//! Upstream writes it from the Worker controller (not the ControlPlane one) because FCM's
//! mutating webhook, deployed with the control plane, must inject the firewall userdata first.

use std::net::{IpAddr, SocketAddr};

use serde_json::{Value, json};

use crate::core::extensions::operation::ExtError;
use crate::core::extensions::shoot::{Shoot, TAG_CLUSTER_ID};
use crate::core::provider_config::{
    FirewallControllerVersion, MetalControlPlane, NetworkAccessType,
};

pub const API_VERSION: &str = "firewall.metal-stack.io/v2";
pub const DEPLOYMENT_NAME: &str = "shoot-firewall";
/// FCM reconciles a deployment carrying it (and removes it).
pub const RECONCILE_ANNOTATION: &str = "firewall.metal-stack.io/reconcile";
pub const FINALIZER: &str = "firewall.metal-stack.io/firewall-controller-manager";
/// The object selector of FCM's mutating webhook of this shoot namespace: without it no
/// userdata is injected.
pub const WEBHOOK_SELECTOR_LABEL: &str = "gardener-shoot-namespace";
const AUTO: &str = "auto";

/// What the FirewallDeployment is made of besides the shoot.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub shoot: &'a Shoot,
    /// The shoot's private network.
    pub network_id: &'a str,
    /// The component configuration's `firewallInternalPrefixes`.
    pub internal_prefixes: &'a [String],
    pub ssh_public_key: Option<&'a str>,
    /// The image of the deployment as found, if any (see [`image`]).
    pub current_image: Option<&'a str>,
}

/// The FirewallDeployment to apply.
pub fn deployment(inputs: &Inputs) -> Result<Value, ExtError> {
    let shoot = inputs.shoot;
    let firewall = &shoot.infrastructure.firewall;
    let plane = &shoot.metal_control_plane.1;
    let version = controller_version(plane, &firewall.controller_version)?;
    let mut networks = firewall.networks.clone();
    networks.push(inputs.network_id.to_owned());
    let mut spec = json!({
        "partition": shoot.partition_id(),
        "project": shoot.project_id(),
        "size": firewall.size,
        "image": image(firewall.auto_update_machine_image, inputs.current_image, &firewall.image)?,
        "networks": networks,
        "controllerVersion": version.version,
        "controllerURL": version.url,
        "logAcceptedConnections": firewall.log_accepted_connections,
        // Upstream clears the address for non-isolated clusters rather than dropping it.
        "dnsServerAddress": "",
    });
    if !firewall.rate_limits.is_empty() {
        spec["rateLimits"] = firewall
            .rate_limits
            .iter()
            .map(|r| json!({"networkID": r.network_id, "rate": r.rate_limit}))
            .collect();
    }
    if !firewall.egress_rules.is_empty() {
        spec["egressRules"] = firewall
            .egress_rules
            .iter()
            .map(|r| json!({"networkID": r.network_id, "ips": r.ips}))
            .collect();
    }
    if !inputs.internal_prefixes.is_empty() {
        spec["internalPrefixes"] = json!(inputs.internal_prefixes);
    }
    if let Some(exporter) = &plane.nftables_exporter {
        spec["nftablesExporterVersion"] = json!(exporter.version);
        spec["nftablesExporterURL"] = json!(exporter.url);
    }
    if let Some(key) = inputs.ssh_public_key {
        spec["sshPublicKeys"] = json!([key]);
    }
    let access = shoot.network_access();
    let isolation = shoot.partition.network_isolation.as_ref();
    if access != NetworkAccessType::Baseline
        && let Some(first) = isolation.and_then(|i| i.dns_servers.first())
    {
        let (address, port) = dns_server(first)?;
        spec["dnsServerAddress"] = json!(address);
        if let Some(port) = port {
            spec["dnsPort"] = json!(port);
        }
    }
    if access == NetworkAccessType::Forbidden {
        // Without any egress the firewall could not even reach the registry: refuse.
        let allowed = isolation
            .map(|i| &i.allowed_networks)
            .filter(|a| !a.egress.is_empty())
            .ok_or_else(|| {
                ExtError::configuration(format!(
                    "network access forbidden needs partition {:?} to have \
                     networkIsolation.allowedNetworks.egress",
                    shoot.partition_id()
                ))
            })?;
        spec["allowedNetworks"] = json!({"ingress": allowed.ingress, "egress": allowed.egress});
    }
    let cluster = json!({TAG_CLUSTER_ID: shoot.uid});
    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": "FirewallDeployment",
        "metadata": {
            "name": DEPLOYMENT_NAME,
            "namespace": shoot.namespace,
            "annotations": {RECONCILE_ANNOTATION: "true"},
            "labels": {WEBHOOK_SELECTOR_LABEL: shoot.namespace},
            "finalizers": [FINALIZER],
        },
        "spec": {
            "replicas": 1,
            "autoUpdate": {"machineImage": firewall.auto_update_machine_image},
            // Set explicitly: a migrated deployment must select the same firewalls.
            "selector": cluster,
            "template": {
                "metadata": {"labels": cluster},
                "spec": spec,
            },
        },
    }))
}

/// `10.0.0.53`, `10.0.0.53:5353`, `[fd00::53]:53` → address and port.
fn dns_server(server: &str) -> Result<(String, Option<u16>), ExtError> {
    if let Ok(ip) = server.parse::<IpAddr>() {
        return Ok((ip.to_string(), None));
    }
    if let Ok(socket) = server.parse::<SocketAddr>() {
        return Ok((socket.ip().to_string(), Some(socket.port())));
    }
    match server.rsplit_once(':') {
        Some((address, port)) => port
            .parse::<u16>()
            .map(|port| (address.to_owned(), Some(port)))
            .map_err(|_| {
                ExtError::configuration(format!(
                    "partition dns server {server:?}: invalid port {port:?}"
                ))
            }),
        None => Ok((server.to_owned(), None)),
    }
}

fn semver_of(version: &str) -> Option<semver::Version> {
    semver::Version::parse(version.trim_start_matches('v')).ok()
}

/// The firewall-controller version: the one named exactly, or for `""`/`auto` the latest
/// semver among those classified `supported` (the admission accepts the same).
pub fn controller_version<'a>(
    plane: &'a MetalControlPlane,
    wanted: &str,
) -> Result<&'a FirewallControllerVersion, ExtError> {
    let versions = &plane.firewall_controller_versions;
    if wanted.is_empty() || wanted == AUTO {
        return versions
            .iter()
            .filter(|v| v.classification.as_deref() == Some("supported"))
            .filter_map(|v| Some((semver_of(&v.version)?, v)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v)
            .ok_or_else(|| {
                ExtError::configuration(
                    "the cloud profile offers no supported firewall controller version",
                )
            });
    }
    versions
        .iter()
        .find(|v| v.version == wanted)
        .ok_or_else(|| {
            ExtError::configuration(format!(
                "firewall controller version {wanted:?} is not offered by the cloud profile ({})",
                versions
                    .iter()
                    .map(|v| v.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The image to deploy. With auto-update FCM follows patch releases of the image itself, so a
/// change of only the patch level keeps the deployment's current image; any other change (OS,
/// major, minor) is applied.
pub fn image(auto_update: bool, current: Option<&str>, wanted: &str) -> Result<String, ExtError> {
    match current.filter(|c| !c.is_empty()) {
        Some(current) if auto_update && !wanted.is_empty() => {
            if is_patch_update(current, wanted)? {
                Ok(current.to_owned())
            } else {
                Ok(wanted.to_owned())
            }
        }
        _ => Ok(wanted.to_owned()),
    }
}

/// An image name's OS and version (metal-lib's `GetOsAndSemverFromImage`): split on the last
/// `-`, the version read as leniently as Masterminds' semver (`v`, missing minor or patch).
fn os_and_version(image: &str) -> Option<(&str, [u64; 3])> {
    let (os, version) = image.rsplit_once('-')?;
    let version = version.strip_prefix('v').unwrap_or(version);
    let core = version.split_once('+').map_or(version, |(core, _)| core);
    let mut numbers = [0u64; 3];
    let mut parts = core.split('.');
    for slot in &mut numbers {
        match parts.next() {
            None => break,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                *slot = p.parse().ok()?;
            }
            Some(_) => return None,
        }
    }
    (parts.next().is_none() && !core.is_empty()).then_some((os, numbers))
}

/// Whether `old` → `new` changes only the patch level (same OS, major and minor).
pub fn is_patch_update(old: &str, new: &str) -> Result<bool, ExtError> {
    fn parse(image: &str) -> Result<(&str, [u64; 3]), ExtError> {
        os_and_version(image).ok_or_else(|| {
            ExtError::configuration(format!(
                "firewall image {image:?}: cannot read an OS and version from it"
            ))
        })
    }
    let ((old_os, o), (new_os, n)) = (parse(old)?, parse(new)?);
    Ok(old_os == new_os && o[0] == n[0] && o[1] == n[1] && o[2] != n[2])
}

/// The Infrastructure `status.state` backing up the namespace's Firewalls: each one without
/// its status, owner and server-kept metadata, as JSON text. Text, not objects, because
/// upstream's restore reads a list of YAML strings, and JSON is YAML.
pub fn state(firewalls: &[Value]) -> Value {
    let entries: Vec<String> = firewalls
        .iter()
        .map(|firewall| {
            let mut firewall = firewall.clone();
            if let Some(object) = firewall.as_object_mut() {
                object.remove("status");
            }
            if let Some(meta) = firewall.get_mut("metadata").and_then(Value::as_object_mut) {
                for field in ["ownerReferences", "resourceVersion", "managedFields"] {
                    meta.remove(field);
                }
            }
            firewall.to_string()
        })
        .collect();
    json!({"firewalls": entries})
}

/// The Firewalls of a [`state`] (the Infrastructure's `status.state`) to create again in
/// `namespace` when the shoot arrives on a new seed: as backed up, without what the old seed's
/// API server kept (uid, timestamps, generation, finalizers: firewall-controller-manager adds
/// its own). No state: none. Upstream reads each entry as YAML, of which JSON is a part.
pub fn restored(state: Option<&Value>, namespace: &str) -> Result<Vec<Value>, ExtError> {
    let Some(entries) = state.and_then(|s| s.get("firewalls")) else {
        return Ok(Vec::new());
    };
    let entries = entries.as_array().ok_or_else(|| {
        ExtError::configuration("the infrastructure's status.state.firewalls is not a list")
    })?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let bad = |why: String| {
                ExtError::configuration(format!(
                    "firewall {i} of the infrastructure's status.state: {why}"
                ))
            };
            let text = entry.as_str().ok_or_else(|| bad("not a string".into()))?;
            let mut firewall: Value =
                serde_saphyr::from_str(text).map_err(|e| bad(e.to_string()))?;
            if firewall.get("kind").and_then(Value::as_str) != Some("Firewall") {
                return Err(bad("not a Firewall".into()));
            }
            let meta = firewall
                .get_mut("metadata")
                .and_then(Value::as_object_mut)
                .filter(|m| m.get("name").and_then(Value::as_str).is_some())
                .ok_or_else(|| bad("no metadata.name".into()))?;
            for field in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "resourceVersion",
                "managedFields",
                "ownerReferences",
                "finalizers",
            ] {
                meta.remove(field);
            }
            meta.insert("namespace".into(), json!(namespace));
            if let Some(object) = firewall.as_object_mut() {
                object.remove("status");
            }
            Ok(firewall)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::extensions::operation::ErrorCode;
    use crate::core::extensions::worker::tests::shoot_with;

    fn versions(list: &[(&str, Option<&str>)]) -> MetalControlPlane {
        MetalControlPlane {
            firewall_controller_versions: list
                .iter()
                .map(|(v, c)| FirewallControllerVersion {
                    version: (*v).into(),
                    url: format!("https://x/{v}"),
                    classification: c.map(str::to_owned),
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_controller_version_is_named_or_the_latest_supported() {
        let plane = versions(&[
            ("v1.9.0", Some("supported")),
            ("v2.10.0", Some("supported")),
            ("v2.9.0", Some("supported")),
            ("v3.0.0", Some("preview")),
            ("v4.0.0", None),
            ("latest", Some("supported")),
        ]);
        let table = [
            ("", Ok("v2.10.0")),
            ("auto", Ok("v2.10.0")),
            ("v3.0.0", Ok("v3.0.0")),
            ("latest", Ok("latest")),
            (
                "v9.9.9",
                Err("\"v9.9.9\" is not offered by the cloud profile (v1.9.0, v2.10.0"),
            ),
        ];
        for (wanted, want) in table {
            match (controller_version(&plane, wanted), want) {
                (Ok(v), Ok(version)) => {
                    assert_eq!(v.version, version, "{wanted}");
                    assert_eq!(v.url, format!("https://x/{version}"));
                }
                (Err(e), Err(text)) => {
                    assert_eq!(e.code, Some(ErrorCode::Configuration));
                    assert!(e.message.contains(text), "{e}");
                }
                (got, want) => panic!("{wanted}: got {got:?}, want {want:?}"),
            }
        }
        let none = versions(&[("v1.0.0", Some("preview")), ("x", Some("supported"))]);
        let e = controller_version(&none, "").unwrap_err();
        assert!(
            e.message
                .contains("no supported firewall controller version"),
            "{e}"
        );
    }

    #[test]
    fn patch_updates_as_upstream_reads_them() {
        // Upstream's patchUpdate table.
        let table = [
            ("firewall-ubuntu-3.0", "firewall-ubuntu-3.0", false),
            (
                "firewall-ubuntu-3.0.20240101",
                "firewall-ubuntu-3.0.20240101",
                false,
            ),
            (
                "firewall-ubuntu-3.0.20240101",
                "firewall-ubuntu-3.0.20240201",
                true,
            ),
            (
                "firewall-ubuntu-3.0.20240101",
                "firewall-ubuntu-3.1.20240101",
                false,
            ),
            (
                "firewall-ubuntu-3.0.20240101",
                "firewall-ubuntu-4.0.20240101",
                false,
            ),
            (
                "firewall-ubuntu-3.0.20240101",
                "firewall-debian-3.0.20240101",
                false,
            ),
            ("firewall-ubuntu-3.0", "firewall-ubuntu-3.0.20240101", true),
        ];
        for (old, new, want) in table {
            assert_eq!(is_patch_update(old, new).unwrap(), want, "{old} → {new}");
        }
        for bad in [
            "firewall",
            "firewall-ubuntu-latest",
            "firewall-ubuntu-3.0.1.2",
            "firewall-",
        ] {
            let e = is_patch_update(bad, "firewall-ubuntu-3.0").unwrap_err();
            assert!(e.message.contains(bad), "{e}");
        }
    }

    #[test]
    fn auto_update_keeps_the_current_image_across_patch_releases_only() {
        let old = "firewall-ubuntu-3.0.20240101";
        let patch = "firewall-ubuntu-3.0.20240201";
        let minor = "firewall-ubuntu-3.1.20240101";
        assert_eq!(image(true, Some(old), patch).unwrap(), old);
        assert_eq!(image(true, Some(old), minor).unwrap(), minor);
        assert_eq!(image(false, Some(old), patch).unwrap(), patch);
        assert_eq!(image(true, None, patch).unwrap(), patch);
        assert_eq!(image(true, Some(""), patch).unwrap(), patch);
        assert!(image(true, Some("custom"), patch).is_err());
    }

    #[test]
    fn dns_servers_with_and_without_ports() {
        let table = [
            ("10.0.0.53", Ok(("10.0.0.53", None))),
            ("10.0.0.53:5353", Ok(("10.0.0.53", Some(5353)))),
            ("fd00::53", Ok(("fd00::53", None))),
            ("[fd00::53]:53", Ok(("fd00::53", Some(53)))),
            ("dns.example", Ok(("dns.example", None))),
            ("10.0.0.53:dns", Err("invalid port \"dns\"")),
        ];
        for (server, want) in table {
            match (dns_server(server), want) {
                (Ok((a, p)), Ok((address, port))) => assert_eq!((a.as_str(), p), (address, port)),
                (Err(e), Err(text)) => assert!(e.message.contains(text), "{e}"),
                (got, want) => panic!("{server}: got {got:?}, want {want:?}"),
            }
        }
    }

    fn deployment_of(shoot: &Shoot, current_image: Option<&str>) -> Result<Value, ExtError> {
        deployment(&Inputs {
            shoot,
            network_id: "private-1",
            internal_prefixes: &["10.240.0.0/12".to_owned()],
            ssh_public_key: Some("ssh-ed25519 AAAA"),
            current_image,
        })
    }

    #[test]
    fn the_deployment_carries_the_shoots_firewall() {
        let shoot = shoot_with(&[], None);
        let d = deployment_of(&shoot, None).unwrap();
        insta::assert_json_snapshot!("firewall_deployment_baseline", d);
        assert_eq!(d["spec"]["selector"], json!({TAG_CLUSTER_ID: "uid-1"}));
        assert_eq!(
            d["spec"]["template"]["spec"]["networks"],
            json!(["internet", "private-1"])
        );
    }

    #[test]
    fn isolated_clusters_get_dns_and_forbidden_ones_allowed_networks() {
        let restricted = shoot_with(&[], Some("restricted"));
        let d = deployment_of(&restricted, None).unwrap();
        let spec = &d["spec"]["template"]["spec"];
        assert_eq!(spec["dnsServerAddress"], "10.9.0.53");
        assert_eq!(spec["dnsPort"], 5353);
        assert!(spec.get("allowedNetworks").is_none());

        let forbidden = shoot_with(&[], Some("forbidden"));
        let d = deployment_of(&forbidden, None).unwrap();
        assert_eq!(
            d["spec"]["template"]["spec"]["allowedNetworks"],
            json!({"ingress": ["10.9.0.0/16"], "egress": ["10.9.0.0/16", "100.64.0.0/10"]})
        );

        let mut bare = shoot_with(&[], Some("forbidden"));
        bare.partition
            .network_isolation
            .as_mut()
            .unwrap()
            .allowed_networks
            .egress
            .clear();
        let e = deployment_of(&bare, None).unwrap_err();
        assert_eq!(e.code, Some(ErrorCode::Configuration));
        assert!(e.message.contains("\"part-a\""), "{e}");
    }

    #[test]
    fn the_state_keeps_firewalls_without_status_and_owners() {
        let firewall = json!({
            "apiVersion": API_VERSION, "kind": "Firewall",
            "metadata": {"name": "shoot-firewall-x", "namespace": "ns", "resourceVersion": "7",
                         "ownerReferences": [{"name": "set"}], "managedFields": [{}],
                         "labels": {"a": "b"}},
            "spec": {"size": "s"}, "distance": 3, "status": {"phase": "Running"},
        });
        let backup = state(&[firewall]);
        let entries = backup["firewalls"].as_array().unwrap();
        assert_eq!(entries.len(), 1);
        let back: Value = serde_json::from_str(entries[0].as_str().unwrap()).unwrap();
        assert_eq!(
            back,
            json!({"apiVersion": API_VERSION, "kind": "Firewall",
                   "metadata": {"name": "shoot-firewall-x", "namespace": "ns", "labels": {"a": "b"}},
                   "spec": {"size": "s"}, "distance": 3})
        );
        assert_eq!(state(&[]), json!({"firewalls": []}));
    }

    #[test]
    fn the_backed_up_firewalls_are_restored_into_the_new_namespace_without_server_fields() {
        let firewall = json!({
            "apiVersion": API_VERSION, "kind": "Firewall",
            "metadata": {"name": "shoot-firewall-x", "namespace": "old", "uid": "u", "generation": 3,
                         "creationTimestamp": "2026-01-01T00:00:00Z",
                         "finalizers": [FINALIZER], "labels": {"a": "b"}},
            "spec": {"size": "s"}, "status": {"phase": "Running"},
        });
        let backup = state(&[firewall]);
        let back = restored(Some(&backup), "new").unwrap();
        assert_eq!(
            back,
            [json!({"apiVersion": API_VERSION, "kind": "Firewall",
                    "metadata": {"name": "shoot-firewall-x", "namespace": "new", "labels": {"a": "b"}},
                    "spec": {"size": "s"}})]
        );
        // Upstream's YAML entries are read too.
        let yaml = json!({"firewalls": [
            "apiVersion: firewall.metal-stack.io/v2\nkind: Firewall\nmetadata:\n  name: fw-y\nspec:\n  size: s\n"
        ]});
        assert_eq!(
            restored(Some(&yaml), "new").unwrap()[0]["metadata"]["name"],
            "fw-y"
        );
        assert!(restored(None, "new").unwrap().is_empty());
        assert!(restored(Some(&json!({})), "new").unwrap().is_empty());
        for bad in [
            json!({"firewalls": "x"}),
            json!({"firewalls": [1]}),
            json!({"firewalls": ["kind: FirewallSet\nmetadata:\n  name: a\n"]}),
            json!({"firewalls": ["kind: Firewall\nmetadata: {}\n"]}),
            json!({"firewalls": ["{not yaml"]}),
        ] {
            let e = restored(Some(&bad), "new").unwrap_err();
            assert_eq!(e.code, Some(ErrorCode::Configuration), "{bad}");
            assert!(e.message.contains("status.state"), "{e}");
        }
    }
}
