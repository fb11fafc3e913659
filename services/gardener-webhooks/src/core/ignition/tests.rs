//! Golden, error, placeholder and property tests of the renderer. Cases come from Gardener's OSC
//! contract (docs/extensions/resources/operatingsystemconfig.md), gardenlet's provision OSC
//! (node-init files and units), os-metal-extension's actuator conditions and its transpiler test,
//! and machine-controller-manager's placeholder replacement.

use std::borrow::Cow;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::core::provider_config::API_VERSION;
use crate::core::test_support::with;

const NODE_AGENT_IMAGE: &str =
    "europe-docker.pkg.dev/gardener-project/releases/gardener/node-agent:v1.120.0";
const CA_BUNDLE: &str = "-----BEGIN CERTIFICATE-----\nMIIBdzCCAR2gAwIBAgIBADAKBggqhkjOPQQDAjAPMQ0wCwYDVQQDEwRyb290\n-----END CERTIFICATE-----\n";

fn b64(text: &str) -> String {
    B64.encode(text)
}

/// What the provider's controlplane webhook writes for a restricted partition.
fn isolation() -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "ImageProviderConfig",
        "networkIsolation": {
            "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["10.0.0.0/8", "100.64.0.0/10"]},
            "dnsServers": ["10.0.0.53", "10.0.0.54"],
            "ntpServers": ["10.0.0.123", "10.0.0.124"],
            "registryMirrors": [{
                "name": "metal-stack registry",
                "endpoint": "https://r.metal-stack.io",
                "ip": "10.0.0.5",
                "port": 443,
                "mirrorOf": ["docker.io", "ghcr.io"],
            }],
        },
    })
}

/// A provision OSC shaped like gardenlet's: node-init unit and script, the placeholder files
/// (transmitUnencoded), the node-agent config, a CA from a Secret, the node-agent binary from an
/// image, plus a file in each encoding and one the extension replaces.
fn provision_osc() -> Value {
    json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1",
        "kind": "OperatingSystemConfig",
        "metadata": {"name": "worker-a1b2c-provision", "namespace": "shoot--prod--c1"},
        "spec": {
            "type": "ubuntu",
            "purpose": "provision",
            "providerConfig": isolation(),
            "criConfig": {"name": "containerd", "cgroupDriver": "systemd"},
            "units": [
                {
                    "name": "gardener-node-init.service",
                    "command": "start",
                    "enable": true,
                    "content": "[Unit]\nDescription=Downloads the gardener-node-agent binary and bootstraps it.\nRequires=containerd.service\nAfter=containerd.service\n[Service]\nType=oneshot\nExecStart=/var/lib/gardener-node-agent/init.sh\n[Install]\nWantedBy=multi-user.target",
                    "filePaths": ["/var/lib/gardener-node-agent/init.sh"],
                },
                {
                    "name": "containerd.service",
                    "dropIns": [{"name": "10-log-level.conf", "content": "[Service]\nEnvironment=\"LOG_LEVEL=info\"\n"}],
                },
                {
                    "name": "gardener-node-agent.service",
                    "enable": false,
                    "content": "[Unit]\nDescription=Gardener Node Agent\nAfter=network-online.target\n[Service]\nExecStart=/opt/bin/gardener-node-agent --config-dir=/var/lib/gardener-node-agent\nRestart=always\n[Install]\nWantedBy=multi-user.target\n",
                    "filePaths": ["/opt/bin/gardener-node-agent", "/var/lib/gardener-node-agent/config.yaml"],
                },
            ],
            "files": [
                {
                    "path": "/var/lib/gardener-node-agent/credentials/bootstrap-token",
                    "permissions": 0o640,
                    "content": {"inline": {"encoding": "", "data": "<<BOOTSTRAP_TOKEN>>"}, "transmitUnencoded": true},
                },
                {
                    "path": "/var/lib/gardener-node-agent/machine-name",
                    "permissions": 0o640,
                    "content": {"inline": {"encoding": "", "data": "<<MACHINE_NAME>>"}, "transmitUnencoded": true},
                },
                {
                    "path": "/var/lib/gardener-node-agent/init.sh",
                    "permissions": 0o755,
                    "content": {"inline": {"encoding": "b64", "data": b64("#!/usr/bin/env bash\nset -o errexit\necho \"> bootstrap\"\n")}},
                },
                {
                    "path": "/var/lib/gardener-node-agent/config.yaml",
                    "permissions": 0o600,
                    "content": {"inline": {"encoding": "", "data": "apiVersion: nodeagent.config.gardener.cloud/v1alpha1\nkind: NodeAgentConfiguration\napiServer:\n  server: https://api.c1.prod.example.com\n"}},
                },
                {
                    "path": "/var/lib/kubelet/ca.crt",
                    "permissions": 0o644,
                    "content": {"secretRef": {"name": "cloud-config-ca", "dataKey": "bundle.crt"}},
                },
                {
                    "path": "/etc/motd",
                    "content": {"inline": {"data": "Welcome & <enjoy> 100% ünicode!\n"}},
                },
                {
                    "path": "/etc/resolv.conf",
                    "permissions": 0o644,
                    "content": {"inline": {"encoding": "", "data": "nameserver 8.8.8.8\n"}},
                },
                {
                    "path": "/opt/bin/gardener-node-agent",
                    "permissions": 0o755,
                    "content": {"imageRef": {"image": NODE_AGENT_IMAGE, "filePathInImage": "/gardener-node-agent"}},
                },
            ],
        },
    })
}

fn reconcile_osc(cgroup_driver: Option<&str>) -> Value {
    let mut cri =
        json!({"name": "containerd", "containerd": {"sandboxImage": "registry.k8s.io/pause:3.10"}});
    if let Some(driver) = cgroup_driver {
        cri["cgroupDriver"] = json!(driver);
    }
    json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1",
        "kind": "OperatingSystemConfig",
        "metadata": {"name": "worker-a1b2c-original", "namespace": "shoot--prod--c1"},
        "spec": {
            "type": "debian",
            "purpose": "reconcile",
            "providerConfig": isolation(),
            "criConfig": cri,
            "units": [{"name": "kubelet.service", "content": "[Service]\nExecStart=/opt/bin/kubelet\n"}],
            "files": [{"path": "/var/lib/kubelet/ca.crt", "content": {"secretRef": {"name": "not-read", "dataKey": "x"}}}],
        },
    })
}

fn secrets() -> Secrets {
    let mut data = Map::new();
    data.insert("bundle.crt".into(), json!(b64(CA_BUNDLE)));
    Secrets::from([("cloud-config-ca".to_owned(), data)])
}

fn render_ok(osc: &Value, version: IgnitionVersion) -> Rendered {
    render(osc, &secrets(), version).unwrap_or_else(|e| panic!("render failed: {e}"))
}

fn error(osc: &Value) -> String {
    render(osc, &secrets(), IgnitionVersion::V2_3_0)
        .unwrap_err()
        .to_string()
}

/// The userdata, parsed, after checking it against the Ignition schema of its version.
fn userdata(rendered: &Rendered) -> Value {
    let text = rendered
        .user_data
        .as_deref()
        .expect("provision renders userdata");
    let document: Value = serde_json::from_str(text).expect("userdata is JSON");
    assert_valid(rendered.version, &document);
    document
}

fn assert_valid(version: IgnitionVersion, document: &Value) {
    assert_eq!(document["ignition"]["version"], version.as_str());
    let violations = violations(version, document);
    assert!(violations.is_empty(), "{version}: {violations:#?}");
}

/// Where `document` breaks the Ignition schema of `version`, or uses keys it does not declare
/// (the schemas leave objects open, Ignition reports unknown keys).
fn violations(version: IgnitionVersion, document: &Value) -> Vec<String> {
    let Some((_, schema, validator)) = schema(version) else {
        return Vec::new();
    };
    let mut found: Vec<String> = validator
        .iter_errors(document)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    undeclared(schema, schema, document, "", &mut found);
    found
}

type Schema = (&'static str, Value, jsonschema::Validator);

/// The upstream Ignition schema of `version`, compiled once; `None` outside CI without contracts.
fn schema(version: IgnitionVersion) -> Option<&'static Schema> {
    static V2: OnceLock<Option<Schema>> = OnceLock::new();
    static V3: OnceLock<Option<Schema>> = OnceLock::new();
    let (cell, contract) = match version {
        IgnitionVersion::V2_3_0 => (&V2, "ignition-spec2x.schema.json"),
        IgnitionVersion::V3_4_0 => (&V3, "ignition-v3_4.schema.json"),
    };
    cell.get_or_init(|| {
        let path = kube_resources::contracts::upstream(contract)?;
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let validator = jsonschema::validator_for(&schema).expect("the Ignition schema compiles");
        Some((contract, schema, validator))
    })
    .as_ref()
}

/// Keys of `document` that `schema` (following `$ref` and `allOf`) does not declare.
fn undeclared(root: &Value, schema: &Value, document: &Value, at: &str, out: &mut Vec<String>) {
    fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => resolve(
                root,
                root.pointer(reference.trim_start_matches('#'))
                    .unwrap_or_else(|| panic!("{reference}")),
            ),
            None => schema,
        }
    }
    fn collect<'a>(
        root: &'a Value,
        schema: &'a Value,
        properties: &mut Vec<&'a Map<String, Value>>,
        items: &mut Option<&'a Value>,
    ) {
        let schema = resolve(root, schema);
        if let Some(p) = schema.get("properties").and_then(Value::as_object) {
            properties.push(p);
        }
        if let Some(i) = schema.get("items") {
            *items = Some(i);
        }
        for branch in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect(root, branch, properties, items);
        }
    }
    let (mut properties, mut items) = (Vec::new(), None);
    collect(root, schema, &mut properties, &mut items);
    match document {
        Value::Object(map) if !properties.is_empty() => {
            for (key, value) in map {
                match properties.iter().find_map(|p| p.get(key)) {
                    Some(sub) => undeclared(root, sub, value, &format!("{at}/{key}"), out),
                    None => out.push(format!("{at}/{key}: not declared")),
                }
            }
        }
        Value::Array(list) => {
            if let Some(items) = items {
                for (i, value) in list.iter().enumerate() {
                    undeclared(root, items, value, &format!("{at}/{i}"), out);
                }
            }
        }
        _ => {}
    }
}

fn files(document: &Value) -> &Vec<Value> {
    document["storage"]["files"]
        .as_array()
        .expect("storage.files")
}

fn file<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    files(document).iter().find(|f| f["path"] == path)
}

fn file_text(document: &Value, path: &str) -> String {
    let file = file(document, path).unwrap_or_else(|| panic!("no file {path}"));
    let source = file["contents"]["source"].as_str().unwrap();
    String::from_utf8(data_url::decode(source).unwrap()).unwrap()
}

fn unit<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    document["systemd"]["units"]
        .as_array()?
        .iter()
        .find(|u| u["name"] == name)
}

fn paths(files: &[Value]) -> Vec<&str> {
    files.iter().map(|f| f["path"].as_str().unwrap()).collect()
}

const METAL_FILES: [&str; 5] = [
    "/etc/systemd/resolved.conf.d/dns.conf",
    "/etc/resolv.conf",
    "/etc/systemd/timesyncd.conf",
    "/etc/containerd/certs.d/docker.io/hosts.toml",
    "/etc/containerd/certs.d/ghcr.io/hosts.toml",
];

// ---------------------------------------------------------------------------------------------
// Golden output

#[test]
fn provision_renders_ignition_2_3_0_with_the_metal_files_of_an_isolated_partition() {
    let rendered = render_ok(&provision_osc(), IgnitionVersion::V2_3_0);
    assert_eq!(rendered.version, IgnitionVersion::V2_3_0);
    assert!(rendered.extension_files.is_empty() && rendered.extension_units.is_empty());
    let document = userdata(&rendered);
    insta::assert_json_snapshot!("provision_2_3_0_isolated", document);

    let all = paths(files(&document));
    for path in METAL_FILES {
        assert!(all.contains(&path), "{path} missing from {all:?}");
    }
    assert!(
        !all.contains(&"/etc/containerd/config.toml"),
        "not for provision"
    );
    // The spec's /etc/resolv.conf is replaced in place, not duplicated.
    assert_eq!(all.iter().filter(|p| **p == "/etc/resolv.conf").count(), 1);
    assert_eq!(all[6], "/etc/resolv.conf");
    assert_eq!(
        file_text(&document, "/etc/resolv.conf"),
        "# Generated by os-extension-metal\nnameserver 10.0.0.53\nnameserver 10.0.0.54\n"
    );
    assert_eq!(file_text(&document, "/var/lib/kubelet/ca.crt"), CA_BUNDLE);
    assert_eq!(
        file_text(&document, "/var/lib/gardener-node-agent/init.sh"),
        "#!/usr/bin/env bash\nset -o errexit\necho \"> bootstrap\"\n"
    );
    assert_eq!(
        file_text(&document, "/etc/motd"),
        "Welcome & <enjoy> 100% ünicode!\n"
    );
    // Every unit enabled, whatever the OSC says.
    for unit in document["systemd"]["units"].as_array().unwrap() {
        assert_eq!(unit["enabled"], true, "{unit}");
    }
}

#[test]
fn provision_renders_ignition_3_4_0_when_the_annotation_asks_for_it() {
    let osc = with(
        provision_osc(),
        "/metadata/annotations",
        Some(json!({VERSION_ANNOTATION: "3.4.0"})),
    );
    let rendered = render_ok(&osc, IgnitionVersion::V2_3_0);
    assert_eq!(rendered.version, IgnitionVersion::V3_4_0);
    let document = userdata(&rendered);
    insta::assert_json_snapshot!("provision_3_4_0_isolated", document);
    for path in METAL_FILES {
        assert!(file(&document, path).is_some(), "{path}");
    }
    for file in files(&document) {
        assert!(
            file.get("filesystem").is_none(),
            "v3 has no filesystem: {file}"
        );
        assert_eq!(file["overwrite"], true);
    }
}

#[test]
fn the_schema_check_catches_what_ignition_would_reject() {
    if schema(IgnitionVersion::V2_3_0).is_none() || schema(IgnitionVersion::V3_4_0).is_none() {
        return;
    }
    let v2 = json!({"ignition": {"version": "2.3.0"}, "storage": {"files": [{"path": "/x", "mode": "420"}]}});
    assert_eq!(
        violations(IgnitionVersion::V2_3_0, &v2).len(),
        2,
        "no filesystem, mode a string"
    );
    let v3 = json!({"ignition": {"version": "3.4.0"},
        "storage": {"files": [{"filesystem": "root", "path": "/x"}]},
        "systemd": {"units": [{"name": "a.service", "enable": true}]}});
    assert_eq!(
        violations(IgnitionVersion::V3_4_0, &v3),
        [
            "/storage/files/0/filesystem: not declared",
            "/systemd/units/0/enable: not declared"
        ]
    );
}

#[test]
fn the_callers_default_picks_the_version_and_the_annotation_overrides_it() {
    let rendered = render_ok(&provision_osc(), IgnitionVersion::V3_4_0);
    assert_eq!(rendered.version, IgnitionVersion::V3_4_0);
    assert_eq!(userdata(&rendered)["ignition"], json!({"version": "3.4.0"}));

    let osc = with(
        provision_osc(),
        "/metadata/annotations",
        Some(json!({VERSION_ANNOTATION: "2.3.0"})),
    );
    let rendered = render_ok(&osc, IgnitionVersion::V3_4_0);
    assert_eq!(rendered.version, IgnitionVersion::V2_3_0);
    userdata(&rendered);
}

#[test]
fn provision_without_network_isolation_renders_no_metal_files() {
    let osc = with(provision_osc(), "/spec/providerConfig", None);
    let document = userdata(&render_ok(&osc, IgnitionVersion::V2_3_0));
    insta::assert_json_snapshot!("provision_2_3_0_not_isolated", document);
    for path in METAL_FILES.into_iter().filter(|p| *p != "/etc/resolv.conf") {
        assert!(file(&document, path).is_none(), "{path}");
    }
    assert_eq!(
        file_text(&document, "/etc/resolv.conf"),
        "nameserver 8.8.8.8\n",
        "the spec's own file"
    );
    // A null providerConfig and one without networkIsolation mean the same.
    let null = with(provision_osc(), "/spec/providerConfig", Some(Value::Null));
    let empty = with(
        provision_osc(),
        "/spec/providerConfig",
        Some(json!({"apiVersion": API_VERSION, "kind": "ImageProviderConfig"})),
    );
    let expected = render_ok(&osc, IgnitionVersion::V2_3_0);
    assert_eq!(render_ok(&null, IgnitionVersion::V2_3_0), expected);
    assert_eq!(render_ok(&empty, IgnitionVersion::V2_3_0), expected);
}

#[test]
fn reconcile_with_cgroupfs_returns_dns_ntp_containerd_config_and_mirror_files() {
    let rendered = render_ok(&reconcile_osc(Some("cgroupfs")), IgnitionVersion::V2_3_0);
    assert_eq!(rendered.user_data, None);
    assert!(rendered.extension_units.is_empty());
    insta::assert_json_snapshot!("reconcile_cgroupfs_isolated", rendered.extension_files);
    assert_eq!(
        paths(&rendered.extension_files),
        [
            "/etc/systemd/resolved.conf.d/dns.conf",
            "/etc/resolv.conf",
            "/etc/systemd/timesyncd.conf",
            "/etc/containerd/config.toml",
            "/etc/containerd/certs.d/docker.io/hosts.toml",
            "/etc/containerd/certs.d/ghcr.io/hosts.toml",
        ]
    );
}

#[test]
fn reconcile_with_systemd_cgroups_leaves_containerd_config_to_gardener() {
    let rendered = render_ok(&reconcile_osc(Some("systemd")), IgnitionVersion::V2_3_0);
    insta::assert_json_snapshot!("reconcile_systemd_isolated", rendered.extension_files);
    assert!(!paths(&rendered.extension_files).contains(&"/etc/containerd/config.toml"));
    assert_eq!(rendered.extension_files.len(), 5);
}

#[test]
fn reconcile_without_isolation_returns_containerd_config_only_when_cgroup_driver_is_not_systemd() {
    let plain = |driver| with(reconcile_osc(driver), "/spec/providerConfig", None);
    let files = render_ok(&plain(None), IgnitionVersion::V2_3_0).extension_files;
    assert_eq!(paths(&files), ["/etc/containerd/config.toml"]);
    assert_eq!(files[0]["permissions"], 0o644);
    assert!(
        render_ok(&plain(Some("systemd")), IgnitionVersion::V2_3_0)
            .extension_files
            .is_empty()
    );
    // Without containerd there is nothing to configure for it.
    let no_cri = with(reconcile_osc(Some("cgroupfs")), "/spec/criConfig", None);
    assert_eq!(
        paths(&render_ok(&no_cri, IgnitionVersion::V2_3_0).extension_files),
        METAL_FILES[..3]
    );
}

#[test]
fn dns_and_ntp_need_registry_mirrors_as_upstream_decides() {
    let osc = with(
        reconcile_osc(Some("systemd")),
        "/spec/providerConfig/networkIsolation/registryMirrors",
        Some(json!([])),
    );
    assert!(
        render_ok(&osc, IgnitionVersion::V2_3_0)
            .extension_files
            .is_empty()
    );
    let no_ntp = with(
        reconcile_osc(Some("systemd")),
        "/spec/providerConfig/networkIsolation/ntpServers",
        Some(json!([])),
    );
    let files = render_ok(&no_ntp, IgnitionVersion::V2_3_0).extension_files;
    assert!(!paths(&files).contains(&"/etc/systemd/timesyncd.conf"));
    assert!(paths(&files).contains(&"/etc/resolv.conf"));
}

#[test]
fn two_mirrors_of_one_registry_leave_one_hosts_file_the_last_one() {
    let osc = with(
        reconcile_osc(Some("systemd")),
        "/spec/providerConfig/networkIsolation/registryMirrors",
        Some(json!([
            {"name": "first", "endpoint": "https://first.example.com", "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io"]},
            {"name": "second", "endpoint": "https://second.example.com", "ip": "10.0.0.6", "port": 443, "mirrorOf": ["docker.io"]},
        ])),
    );
    let files = render_ok(&osc, IgnitionVersion::V2_3_0).extension_files;
    let hosts: Vec<&Value> = files
        .iter()
        .filter(|f| f["path"] == "/etc/containerd/certs.d/docker.io/hosts.toml")
        .collect();
    assert_eq!(hosts.len(), 1);
    assert!(
        hosts[0]["content"]["inline"]["data"]
            .as_str()
            .unwrap()
            .contains("[host.\"https://second.example.com\"]")
    );
}

/// os-metal-extension's transpile test: one file without content (here: empty plain content),
/// byte for byte the JSON its transpiler produced.
#[test]
fn a_file_renders_byte_for_byte_as_upstream() {
    let osc = json!({"spec": {"type": "ubuntu", "purpose": "provision", "files": [
        {"path": "/etc/a", "content": {"inline": {"encoding": "", "data": ""}}},
    ]}});
    let rendered = render_ok(&osc, IgnitionVersion::V2_3_0);
    assert_eq!(
        rendered.user_data.as_deref().unwrap(),
        r#"{"ignition":{"config":{},"security":{"tls":{}},"timeouts":{},"version":"2.3.0"},"networkd":{},"passwd":{},"storage":{"files":[{"filesystem":"root","overwrite":true,"path":"/etc/a","contents":{"source":"data:,","verification":{}},"mode":420}]},"systemd":{}}"#
    );
    userdata(&rendered);
}

/// os-metal-extension's mapping tests: a unit is enabled with its content; files keep their modes
/// and b64 content is decoded.
#[test]
fn units_and_files_map_as_upstream() {
    let osc = json!({"spec": {"type": "nvidia", "purpose": "provision",
    "units": [{"name": "kubelet.service", "content": "[Unit]\nDescription=kubelet\n[Install]\nWantedBy=multi-user.target\n[Service]\nExecStart=/bin/kubelet"}],
    "files": [
        {"path": "/etc/hostname", "permissions": 0o644, "content": {"inline": {"data": "testhost"}}},
        {"path": "/etc/foo", "permissions": 0o744, "content": {"inline": {"encoding": "", "data": "foo"}}},
        {"path": "/etc/bar", "permissions": 0o744, "content": {"inline": {"encoding": "b64", "data": "YmFy"}}},
    ]}});
    let document = userdata(&render_ok(&osc, IgnitionVersion::V2_3_0));
    assert_eq!(
        document["systemd"]["units"],
        json!([{"name": "kubelet.service", "enabled": true,
                "contents": "[Unit]\nDescription=kubelet\n[Install]\nWantedBy=multi-user.target\n[Service]\nExecStart=/bin/kubelet"}])
    );
    let modes: Vec<(&str, i64)> = files(&document)
        .iter()
        .map(|f| (f["path"].as_str().unwrap(), f["mode"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        modes,
        [("/etc/hostname", 420), ("/etc/foo", 484), ("/etc/bar", 484)]
    );
    assert_eq!(file_text(&document, "/etc/hostname"), "testhost");
    assert_eq!(file_text(&document, "/etc/bar"), "bar");
    assert!(files(&document).iter().all(|f| f["filesystem"] == "root"));
}

#[test]
fn unit_drop_ins_are_rendered_in_both_versions() {
    for version in [IgnitionVersion::V2_3_0, IgnitionVersion::V3_4_0] {
        let document = userdata(&render_ok(&provision_osc(), version));
        let containerd = unit(&document, "containerd.service").unwrap();
        assert_eq!(
            containerd["dropins"],
            json!([{"name": "10-log-level.conf", "contents": "[Service]\nEnvironment=\"LOG_LEVEL=info\"\n"}])
        );
        assert!(
            containerd.get("contents").is_none(),
            "no unit text of its own"
        );
        assert_eq!(containerd["enabled"], true);
    }
}

#[test]
fn an_image_file_is_extracted_by_a_unit_before_the_units_that_need_it() {
    for version in [IgnitionVersion::V2_3_0, IgnitionVersion::V3_4_0] {
        let document = userdata(&render_ok(&provision_osc(), version));
        assert!(
            file(&document, "/opt/bin/gardener-node-agent").is_none(),
            "written by the unit, not by Ignition"
        );
        let helper = file(&document, image_ref::HELPER_PATH).expect("the helper script");
        assert_eq!(helper["mode"], 0o755);
        let units = document["systemd"]["units"].as_array().unwrap();
        let extract: Vec<&Value> = units
            .iter()
            .filter(|u| {
                u["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("os-metal-extract-opt-bin-gardener-node-agent-")
            })
            .collect();
        assert_eq!(extract.len(), 1, "{units:#?}");
        let contents = extract[0]["contents"].as_str().unwrap();
        assert!(
            contents.contains("\nBefore=gardener-node-agent.service\n"),
            "{contents}"
        );
        assert!(
            contents.contains("\nWantedBy=multi-user.target gardener-node-agent.service\n"),
            "{contents}"
        );
        assert!(contents.contains(&format!(
            "\nExecStart={} {NODE_AGENT_IMAGE} /gardener-node-agent /opt/bin/gardener-node-agent 0755\n",
            image_ref::HELPER_PATH
        )));
        assert!(contents.contains("\nAfter=network-online.target containerd.service\n"));
        assert!(
            !contents.contains("gardener-node-init"),
            "does not need the file"
        );
    }
}

#[test]
fn no_helper_script_without_image_files() {
    let osc = with(
        provision_osc(),
        "/spec/files/7/content",
        Some(json!({"inline": {"encoding": "", "data": "x"}})),
    );
    let document = userdata(&render_ok(&osc, IgnitionVersion::V2_3_0));
    assert!(file(&document, image_ref::HELPER_PATH).is_none());
    assert_eq!(document["systemd"]["units"].as_array().unwrap().len(), 3);
}

#[test]
fn an_image_file_without_permissions_gets_node_agents_default() {
    let osc = with(provision_osc(), "/spec/files/7/permissions", None);
    let document = userdata(&render_ok(&osc, IgnitionVersion::V2_3_0));
    let units = document["systemd"]["units"].as_array().unwrap();
    let contents = units[3]["contents"].as_str().unwrap();
    assert!(
        contents.contains(" /opt/bin/gardener-node-agent 0600\n"),
        "{contents}"
    );
}

#[test]
fn reconcile_neither_translates_nor_reads_secrets() {
    // reconcile_osc refers to a Secret that is not passed.
    let rendered = render(
        &reconcile_osc(None),
        &Secrets::new(),
        IgnitionVersion::V2_3_0,
    )
    .unwrap();
    assert_eq!(rendered.user_data, None);
}

#[test]
fn extension_files_have_the_osc_file_shape() {
    let files =
        render_ok(&reconcile_osc(Some("cgroupfs")), IgnitionVersion::V2_3_0).extension_files;
    assert_eq!(
        files[2],
        json!({"path": "/etc/systemd/timesyncd.conf", "permissions": 420,
               "content": {"inline": {"encoding": "", "data": "# Generated by os-extension-metal\n[Time]\nNTP=10.0.0.123 10.0.0.124\n"}}})
    );
    assert_eq!(
        files[0],
        json!({"path": "/etc/systemd/resolved.conf.d/dns.conf",
               "content": {"inline": {"encoding": "", "data": "# Generated by os-extension-metal\n[Resolve]\nDNS=10.0.0.53 10.0.0.54\nDomain=~.\n"}}})
    );
    assert_eq!(
        files[4]["content"]["inline"]["data"],
        "server = \"https://docker.io\"\n\n[host.\"https://r.metal-stack.io\"]\n  capabilities = [\"pull\", \"resolve\"]\n"
    );
}

#[test]
fn large_file_data_is_borrowed_not_copied_when_decoding() {
    let value = provision_osc();
    let osc = osc::Osc::deserialize(&value).unwrap();
    let inline = osc.spec.files[3].content.inline.as_ref().unwrap();
    assert!(matches!(inline.data, Cow::Borrowed(_)));
    assert!(matches!(osc.spec.units[0].content, Cow::Borrowed(_)));
}

#[test]
fn the_osc_decoder_ignores_fields_gardener_adds_and_reads_null_as_absent() {
    let osc = json!({"metadata": null, "status": {"anything": 1}, "spec": {
    "type": "debian", "purpose": "provision", "inPlaceUpdates": {"kubelet": "1.31"},
    "units": null, "files": [
        {"path": "/etc/x", "permissions": null, "hostName": null, "newField": true,
         "content": {"inline": {"encoding": null, "data": null}, "secretRef": null}},
    ]}});
    let document = userdata(&render_ok(&osc, IgnitionVersion::V2_3_0));
    assert_eq!(file_text(&document, "/etc/x"), "");
    assert_eq!(file(&document, "/etc/x").unwrap()["mode"], 420);
}

// ---------------------------------------------------------------------------------------------
// Errors name what is wrong

#[test]
fn an_unknown_encoding_is_an_error_naming_the_file() {
    let osc = with(
        provision_osc(),
        "/spec/files/5/content/inline/encoding",
        Some(json!("gzip")),
    );
    assert_eq!(
        error(&osc),
        r#"file /etc/motd: unknown encoding "gzip": supported encodings are "" (plain) and "b64""#
    );
    let osc = with(
        provision_osc(),
        "/spec/files/2/content/inline/data",
        Some(json!("not base64!")),
    );
    let e = error(&osc);
    assert!(
        e.starts_with(
            "file /var/lib/gardener-node-agent/init.sh: content.inline.data is not valid base64"
        ),
        "{e}"
    );
}

#[test]
fn a_missing_secret_or_key_is_an_error_naming_it() {
    let mut without = secrets();
    without.remove("cloud-config-ca");
    let e = render(&provision_osc(), &without, IgnitionVersion::V2_3_0)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        r#"file /var/lib/kubelet/ca.crt: secret "cloud-config-ca" not found"#
    );

    let osc = with(
        provision_osc(),
        "/spec/files/4/content/secretRef/dataKey",
        Some(json!("ca.crt")),
    );
    assert_eq!(
        error(&osc),
        r#"file /var/lib/kubelet/ca.crt: secret "cloud-config-ca" has no key "ca.crt""#
    );

    let mut bad = secrets();
    bad.get_mut("cloud-config-ca")
        .unwrap()
        .insert("bundle.crt".into(), json!("%%%"));
    let e = render(&provision_osc(), &bad, IgnitionVersion::V2_3_0)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(
            r#"file /var/lib/kubelet/ca.crt: secret "cloud-config-ca" key "bundle.crt" is not a base64 string"#
        ),
        "{e}"
    );
}

#[test]
fn an_unknown_purpose_is_an_error() {
    let osc = with(provision_osc(), "/spec/purpose", Some(json!("delete")));
    assert_eq!(error(&osc), "unknown purpose: delete");
    let osc = with(provision_osc(), "/spec/purpose", Some(json!("")));
    assert_eq!(error(&osc), "unknown purpose: ");
}

#[test]
fn a_bad_annotation_value_is_an_error_naming_the_annotation() {
    let osc = with(
        provision_osc(),
        "/metadata/annotations",
        Some(json!({VERSION_ANNOTATION: "3.5.0"})),
    );
    assert_eq!(
        error(&osc),
        r#"annotation os.metal-stack.io/ignition-version: unsupported Ignition version "3.5.0": supported values are "2.3.0", "3.4.0""#
    );
    assert_eq!(
        "v3".parse::<IgnitionVersion>().unwrap_err().to_string(),
        r#"unsupported Ignition version "v3": supported values are "2.3.0", "3.4.0""#
    );
    for version in [IgnitionVersion::V2_3_0, IgnitionVersion::V3_4_0] {
        assert_eq!(version.to_string().parse::<IgnitionVersion>(), Ok(version));
    }
}

#[test]
fn a_bad_provider_config_is_an_error_naming_the_field() {
    let osc = with(
        provision_osc(),
        "/spec/providerConfig/networkIsolation/dnsServer",
        Some(json!(["1.1.1.1"])),
    );
    let e = error(&osc);
    assert!(e.starts_with("spec.providerConfig: Invalid value"), "{e}");
    assert!(e.contains("unknown field `dnsServer`"), "{e}");

    let osc = with(
        provision_osc(),
        "/spec/providerConfig/kind",
        Some(json!("CloudProfileConfig")),
    );
    let e = error(&osc);
    assert!(
        e.starts_with("spec.providerConfig.kind: Unsupported value"),
        "{e}"
    );

    let osc = with(
        provision_osc(),
        "/spec/providerConfig/networkIsolation/ntpServers",
        Some(json!("10.0.0.123")),
    );
    assert!(error(&osc).contains("invalid type"));
}

#[test]
fn an_unsupported_os_type_is_an_error() {
    let osc = with(provision_osc(), "/spec/type", Some(json!("flatcar")));
    assert_eq!(
        error(&osc),
        r#"unsupported operating system type "flatcar": supported types are ["ubuntu", "debian", "nvidia"]"#
    );
}

#[test]
fn what_ignition_would_refuse_is_refused_naming_it() {
    let cases = [
        (
            "/spec/files/5/content",
            json!({}),
            "file /etc/motd: no content: set one of content.inline, content.secretRef, content.imageRef",
        ),
        (
            "/spec/files/5/content/secretRef",
            json!({"name": "cloud-config-ca", "dataKey": "bundle.crt"}),
            "file /etc/motd: more than one of content.inline, content.secretRef, content.imageRef is set",
        ),
        (
            "/spec/files/5/permissions",
            json!(0o10000),
            "file /etc/motd: permissions 4096 out of range 0 to 0o7777",
        ),
        (
            "/spec/files/5/permissions",
            json!(-1),
            "file /etc/motd: permissions -1 out of range 0 to 0o7777",
        ),
        (
            "/spec/files/5/path",
            json!("etc/motd"),
            "file etc/motd: path must be absolute",
        ),
        (
            "/spec/files/5/path",
            json!("/etc/resolv.conf"),
            "file /etc/resolv.conf: duplicate path in spec.files",
        ),
        (
            "/spec/files/5/hostName",
            json!("machine-0"),
            r#"file /etc/motd: host-specific file (hostName "machine-0") cannot be rendered into userdata shared by a whole worker pool"#,
        ),
        (
            "/spec/units/1/name",
            json!("gardener-node-init.service"),
            r#"unit "gardener-node-init.service": duplicate name"#,
        ),
        (
            "/spec/units/1/name",
            json!("containerd"),
            r#"unit "containerd": name must end in a systemd unit type (.service, .socket, .device, .mount, .automount, .swap, .target, .path, .timer, .snapshot, .slice, .scope)"#,
        ),
        (
            "/spec/units/1/dropIns/0/name",
            json!("10-log-level"),
            r#"unit "containerd.service": drop-in "10-log-level": name must end in .conf"#,
        ),
        (
            "/spec/files/7/content/imageRef/image",
            json!("registry.example.com/x:1 ; rm -rf /"),
            r#"file /opt/bin/gardener-node-agent: imageRef.image "registry.example.com/x:1 ; rm -rf /" has characters other than letters, digits and . _ - / : @"#,
        ),
        (
            "/spec/files/7/content/imageRef/filePathInImage",
            json!(""),
            r#"file /opt/bin/gardener-node-agent: imageRef.filePathInImage "" is empty"#,
        ),
        (
            "/spec/files/7/content/imageRef/image",
            json!("--help"),
            r#"file /opt/bin/gardener-node-agent: imageRef.image "--help" must start with a letter, a digit or /"#,
        ),
        (
            "/spec/files/7/path",
            json!("/opt/bin/node agent"),
            "file /opt/bin/node agent: a file copied from an image needs a path of letters, digits and . _ - / + : @ only",
        ),
        (
            "/spec/providerConfig/networkIsolation/registryMirrors/0/mirrorOf/1",
            json!("../../etc"),
            r#"registry mirror "metal-stack registry": mirrorOf "../../etc" is not a bare registry host (it names a directory under /etc/containerd/certs.d)"#,
        ),
    ];
    for (pointer, value, expected) in cases {
        let osc = with(provision_osc(), pointer, Some(value));
        assert_eq!(error(&osc), expected, "{pointer}");
    }
}

#[test]
fn a_malformed_osc_is_an_error_saying_so() {
    for (osc, expected) in [
        (json!("osc"), "expected an OperatingSystemConfig object"),
        (json!({}), "missing field `spec`"),
        (
            json!({"spec": {"type": "ubuntu"}}),
            "missing field `purpose`",
        ),
        (
            json!({"spec": {"type": "ubuntu", "purpose": "provision", "files": {}}}),
            "invalid type: map, expected a sequence",
        ),
        (
            json!({"spec": {"type": "ubuntu", "purpose": "provision", "files": [{"path": "/x", "permissions": "0644", "content": {}}]}}),
            "invalid type: string \"0644\", expected i64",
        ),
    ] {
        let e = error(&osc);
        assert!(e.starts_with("invalid OperatingSystemConfig: "), "{e}");
        assert!(e.contains(expected), "{e}");
    }
}

#[test]
fn referenced_secrets_are_the_unique_secret_ref_names() {
    let osc = with(
        provision_osc(),
        "/spec/files/5/content",
        Some(json!({"secretRef": {"name": "cloud-config-ca", "dataKey": "other"}})),
    );
    let osc = with(
        osc,
        "/spec/files/6/content",
        Some(json!({"secretRef": {"name": "a-first", "dataKey": "k"}})),
    );
    assert_eq!(referenced_secrets(&osc), ["a-first", "cloud-config-ca"]);
    assert!(referenced_secrets(&json!({"spec": {"files": "x"}})).is_empty());
    assert!(referenced_secrets(&json!(null)).is_empty());
    assert!(
        referenced_secrets(&json!({"spec": {"files": [{"content": {"secretRef": {"name": 1}}}]}}))
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Placeholders: machine-controller-manager replaces them in the userdata string

const BOOTSTRAP_TOKEN: &str = "<<BOOTSTRAP_TOKEN>>";
const MACHINE_NAME: &str = "<<MACHINE_NAME>>";

/// Go's `url.QueryEscape`: everything but `A-Z a-z 0-9 - _ . ~` as `%XX`, space as `+`.
fn go_query_escape(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// machine-controller-manager's replacement: the raw placeholder if it occurs, otherwise the
/// escaped one by the escaped value.
fn mcm_replace(user_data: &str, placeholder: &str, value: &str) -> String {
    if user_data.contains(placeholder) {
        user_data.replace(placeholder, value)
    } else {
        user_data.replace(&go_query_escape(placeholder), &go_query_escape(value))
    }
}

/// A provision OSC whose files hold the placeholders plain (as gardenlet writes them), in b64,
/// and inside larger text; a unit mentions one too.
fn placeholder_osc() -> Value {
    let kubeconfig = format!(
        "users:\n- name: <<MACHINE_NAME>>\n  user:\n    token: \"{BOOTSTRAP_TOKEN}\" # 100% <secret>\n"
    );
    json!({"spec": {"type": "ubuntu", "purpose": "provision",
    "units": [{"name": "echo.service", "content": "[Service]\nExecStart=/bin/echo <<MACHINE_NAME>>\n"}],
    "files": [
        {"path": "/token", "content": {"inline": {"encoding": "", "data": BOOTSTRAP_TOKEN}, "transmitUnencoded": true}},
        {"path": "/name", "content": {"inline": {"encoding": "", "data": MACHINE_NAME}, "transmitUnencoded": true}},
        {"path": "/kubeconfig", "content": {"inline": {"encoding": "b64", "data": b64(&kubeconfig)}}},
    ]}})
}

#[test]
fn go_query_escape_of_the_placeholders_is_what_mcm_searches_for() {
    assert_eq!(
        go_query_escape(BOOTSTRAP_TOKEN),
        "%3C%3CBOOTSTRAP_TOKEN%3E%3E"
    );
    assert_eq!(go_query_escape(MACHINE_NAME), "%3C%3CMACHINE_NAME%3E%3E");
    assert_eq!(go_query_escape("a b/c"), "a+b%2Fc");
}

#[test]
fn placeholders_survive_rendering_in_query_escape_form_only() {
    for version in [IgnitionVersion::V2_3_0, IgnitionVersion::V3_4_0] {
        let user_data = render_ok(&placeholder_osc(), version).user_data.unwrap();
        for placeholder in [BOOTSTRAP_TOKEN, MACHINE_NAME] {
            // (a) The raw form occurs nowhere, not even in the unit that mentions it (Go-style
            // JSON escaping), so MCM's raw branch never fires and replacing the raw form leaves
            // the file as rendered.
            assert!(!user_data.contains(placeholder), "{version}: {placeholder}");
            let untouched = user_data.replace(placeholder, "abc.def");
            assert_eq!(untouched, user_data);
            // (b) The escaped form is in the files, once in each file that holds it.
            assert!(user_data.contains(&go_query_escape(placeholder)));
        }
        let document: Value = serde_json::from_str(&user_data).unwrap();
        assert_eq!(file_text(&document, "/token"), BOOTSTRAP_TOKEN);
        assert_eq!(
            unit(&document, "echo.service").unwrap()["contents"],
            "[Service]\nExecStart=/bin/echo <<MACHINE_NAME>>\n",
            "the unit still reads the placeholder once parsed"
        );
    }
}

#[test]
fn replacing_the_escaped_placeholders_yields_the_values_in_the_files() {
    // A real token's shape, one with characters QueryEscape escapes, and a machine name.
    let tokens = [
        "abc.def",
        "07401b.f395accd246ae52d",
        "a/b:c@d&e=f%g!h*(i)'j",
    ];
    let names = ["shoot--prod--c1-worker-a1b2c-z1-5d8f7-x9k2p", "m/1:2&3%4"];
    for version in [IgnitionVersion::V2_3_0, IgnitionVersion::V3_4_0] {
        let user_data = render_ok(&placeholder_osc(), version).user_data.unwrap();
        for token in tokens {
            for name in names {
                // (b) by hand: the escaped placeholder by the escaped value.
                let by_hand = user_data
                    .replace(&go_query_escape(BOOTSTRAP_TOKEN), &go_query_escape(token))
                    .replace(&go_query_escape(MACHINE_NAME), &go_query_escape(name));
                // And MCM's own procedure, which must end up in the same place.
                let by_mcm = mcm_replace(&user_data, BOOTSTRAP_TOKEN, token);
                let by_mcm = mcm_replace(&by_mcm, MACHINE_NAME, name);
                assert_eq!(by_mcm, by_hand);

                let document: Value = serde_json::from_str(&by_mcm).expect("still JSON");
                assert_valid(version, &document);
                assert_eq!(file_text(&document, "/token"), token);
                assert_eq!(file_text(&document, "/name"), name);
                assert_eq!(
                    file_text(&document, "/kubeconfig"),
                    format!(
                        "users:\n- name: {name}\n  user:\n    token: \"{token}\" # 100% <secret>\n"
                    )
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Properties

/// JSON of any shape, with keys the decoder looks for so that generated values reach deep.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "spec",
            "metadata",
            "annotations",
            "type",
            "purpose",
            "files",
            "units",
            "path",
            "content",
            "inline",
            "encoding",
            "data",
            "secretRef",
            "imageRef",
            "name",
            "dataKey",
            "image",
            "filePathInImage",
            "permissions",
            "providerConfig",
            "criConfig",
            "cgroupDriver",
            "dropIns",
            "filePaths",
            "hostName",
            "apiVersion",
            "kind",
            "networkIsolation",
            "registryMirrors",
            "mirrorOf",
            "dnsServers",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{0,6}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(vec![
            "ubuntu",
            "provision",
            "reconcile",
            "b64",
            "",
            "containerd",
            "/etc/x",
            "a.service",
            "YmFy",
            API_VERSION,
            "ImageProviderConfig",
            "<<BOOTSTRAP_TOKEN>>",
        ])
        .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 96, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn any_version() -> impl Strategy<Value = IgnitionVersion> {
    prop_oneof![Just(IgnitionVersion::V2_3_0), Just(IgnitionVersion::V3_4_0)]
}

proptest! {
    #[test]
    fn arbitrary_json_never_panics(osc in any_json(), version in any_version()) {
        let _ = render(&osc, &secrets(), version);
        let _ = referenced_secrets(&osc);
    }

    #[test]
    fn arbitrary_values_in_a_real_osc_never_panic(
        pointer in prop::sample::select(vec![
            "/spec/type", "/spec/purpose", "/spec/providerConfig", "/spec/criConfig",
            "/spec/units", "/spec/units/0", "/spec/units/1/dropIns", "/spec/units/2/filePaths",
            "/spec/files", "/spec/files/0", "/spec/files/0/content", "/spec/files/2/content/inline",
            "/spec/files/4/content/secretRef", "/spec/files/5/permissions", "/spec/files/7/content/imageRef",
            "/spec/providerConfig/networkIsolation", "/spec/providerConfig/networkIsolation/registryMirrors",
            "/metadata", "/metadata/name",
        ]),
        value in any_json(),
        purpose in prop::sample::select(vec!["provision", "reconcile"]),
        version in any_version(),
    ) {
        let osc = with(provision_osc(), "/spec/purpose", Some(json!(purpose)));
        let osc = with(osc, pointer, Some(value));
        if let Ok(Rendered { user_data: Some(user_data), version, .. }) = render(&osc, &secrets(), version) {
            let document: Value = serde_json::from_str(&user_data).expect("userdata is JSON");
            prop_assert_eq!(&document["ignition"]["version"], version.as_str());
        }
    }

    #[test]
    fn any_content_comes_back_from_its_data_url(
        text in ".{0,200}",
        bytes in prop::collection::vec(any::<u8>(), 0..200),
        version in any_version(),
    ) {
        let osc = json!({"spec": {"type": "debian", "purpose": "provision", "files": [
            {"path": "/plain", "content": {"inline": {"encoding": "", "data": text}}},
            {"path": "/binary", "content": {"inline": {"encoding": "b64", "data": B64.encode(&bytes)}}},
        ]}});
        let document = userdata(&render_ok(&osc, version));
        let decoded = |path: &str| {
            data_url::decode(file(&document, path).unwrap()["contents"]["source"].as_str().unwrap()).unwrap()
        };
        prop_assert_eq!(decoded("/plain"), text.as_bytes());
        prop_assert_eq!(decoded("/binary"), bytes);
    }
}
