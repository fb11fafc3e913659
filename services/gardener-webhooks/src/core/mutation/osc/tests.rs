//! OperatingSystemConfig mutations: the ImageProviderConfig for isolated clusters, the kubelet
//! unit's cloud provider flag and the kubelet configuration's CSI feature gates.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::core::mutation::Webhook;
use crate::core::mutation::tests::{Setup, fixture};
use crate::core::provider_config::API_VERSION;

/// The kubelet unit of the fixture after the mutation, in go-systemd's layout: a blank line
/// between sections, `ExecStart` with the binary and first flag on one line, every further item
/// on its own line, `--cloud-provider=external` last (after `$KUBELET_EXTRA_ARGS`, as upstream).
const KUBELET_UNIT: &str = r#"[Unit]
Description=kubelet daemon
Documentation=https://kubernetes.io/docs/admin/kubelet
After=containerd.service

[Install]
WantedBy=multi-user.target

[Service]
Restart=always
RestartSec=5
Environment="HTTP2_READ_IDLE_TIMEOUT_SECONDS=30" "HTTP2_PING_TIMEOUT_SECONDS=15"
EnvironmentFile=/etc/environment
EnvironmentFile=-/var/lib/kubelet/extra_args
ExecStart=/opt/bin/kubelet --bootstrap-kubeconfig=/var/lib/kubelet/kubeconfig-bootstrap \
    --config=/var/lib/kubelet/config/kubelet \
    --kubeconfig=/var/lib/kubelet/kubeconfig-real \
    --node-labels=worker.gardener.cloud/kubernetes-version=1.30.4 \
    --node-labels=worker.gardener.cloud/pool=default \
    --container-runtime-endpoint=unix:///run/containerd/containerd.sock \
    --runtime-cgroups=/system.slice/containerd.service \
    --v=2 \
    $KUBELET_EXTRA_ARGS \
    --cloud-provider=external
"#;

fn mutate(setup: &Setup, object: &Value) -> Result<Value, String> {
    setup.mutate(Webhook::ControlPlane, object)
}

fn unit_content(osc: &Value) -> &str {
    osc["spec"]["units"][1]["content"].as_str().unwrap()
}

fn kubelet_file(osc: &Value) -> &Value {
    &osc["spec"]["files"][1]["content"]["inline"]
}

fn kubelet_config(osc: &Value) -> Value {
    let inline = kubelet_file(osc);
    let data = inline["data"].as_str().unwrap();
    let text = match inline["encoding"].as_str().unwrap() {
        "b64" => String::from_utf8(STANDARD.decode(data).unwrap()).unwrap(),
        _ => data.to_string(),
    };
    serde_saphyr::from_str(&text).unwrap()
}

fn access(kind: Option<&str>) -> impl FnOnce(&mut Value) {
    let kind = kind.map(str::to_string);
    move |shoot| {
        let cp = &mut shoot["spec"]["provider"]["controlPlaneConfig"];
        match kind {
            Some(kind) => cp["networkAccessType"] = json!(kind),
            None => {
                cp.as_object_mut().unwrap().remove("networkAccessType");
            }
        }
    }
}

fn partition(id: &str) -> impl FnOnce(&mut Value) {
    let id = id.to_string();
    move |shoot| shoot["spec"]["provider"]["infrastructureConfig"]["partitionID"] = json!(id)
}

/// An old OSC whose status lists the extension files of the given paths.
fn old_with_files(paths: &[&str]) -> Value {
    let mut old = fixture("osc");
    old["status"]["extensionFiles"] = paths
        .iter()
        .map(|p| json!({"path": p, "content": {"inline": {"encoding": "", "data": "x"}}}))
        .collect();
    old
}

// spec.providerConfig

fn provider_config(with_dns_ntp: bool) -> Value {
    let mut isolation = json!({
        "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["10.0.0.0/8", "100.64.0.0/10"]},
        "registryMirrors": [{"name": "metal registry", "endpoint": "https://registry.metal.example.com",
                             "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io", "ghcr.io"]}],
    });
    if with_dns_ntp {
        isolation["dnsServers"] = json!(["10.0.0.53", "10.0.0.54"]);
        isolation["ntpServers"] = json!(["10.0.0.123"]);
    }
    json!({"apiVersion": API_VERSION, "kind": "ImageProviderConfig", "networkIsolation": isolation})
}

#[test]
fn isolated_clusters_pass_their_network_isolation_to_the_os_extension() {
    for kind in ["restricted", "forbidden"] {
        let setup = Setup::default().with_shoot(access(Some(kind)));
        let after = mutate(&setup, &fixture("osc")).unwrap();
        assert_eq!(
            after["spec"]["providerConfig"],
            provider_config(false),
            "{kind}"
        );
    }
}

#[test]
fn dns_and_ntp_servers_stay_only_for_nodes_that_had_their_files() {
    let cases = [
        (None, false),
        (Some(fixture("osc")), false),
        (Some(old_with_files(&["/etc/systemd/timesyncd.conf"])), true),
        (Some(old_with_files(&["/etc/resolv.conf"])), true),
        (
            Some(old_with_files(&[
                "/etc/systemd/resolved.conf.d/dns.conf",
                "/etc/hosts",
            ])),
            true,
        ),
        (Some(old_with_files(&["/etc/hosts"])), false),
    ];
    for (old, with_dns_ntp) in cases {
        let setup = Setup {
            old,
            ..Setup::default()
        };
        let after = mutate(&setup, &fixture("osc")).unwrap();
        assert_eq!(
            after["spec"]["providerConfig"],
            provider_config(with_dns_ntp)
        );
    }
}

#[test]
fn empty_isolation_fields_are_left_out_as_go_omits_them() {
    let setup = Setup {
        cluster: Some({
            let mut cluster = crate::core::mutation::tests::cluster();
            let partition = &mut cluster.cloud_profile["spec"]["providerConfig"]["metalControlPlanes"]
                ["prod"]["partitions"]["fra-equ01"];
            partition["networkIsolation"] = json!({"allowedNetworks": {"egress": ["10.0.0.0/8"]},
                                                   "registryMirrors": [{"endpoint": "https://r", "mirrorOf": []}]});
            cluster
        }),
        old: Some(old_with_files(&["/etc/resolv.conf"])),
        ..Setup::default()
    };
    let after = mutate(&setup, &fixture("osc")).unwrap();
    assert_eq!(
        after["spec"]["providerConfig"]["networkIsolation"],
        json!({"allowedNetworks": {"egress": ["10.0.0.0/8"]}, "registryMirrors": [{"endpoint": "https://r"}]})
    );
}

#[test]
fn baseline_access_or_a_partition_without_isolation_sets_no_provider_config() {
    let setups = [
        Setup::default().with_shoot(access(Some("baseline"))),
        Setup::default().with_shoot(access(None)),
        Setup::default().with_shoot(|s| {
            s["spec"]["provider"]
                .as_object_mut()
                .unwrap()
                .remove("controlPlaneConfig");
        }),
        Setup::default().with_shoot(partition("fra-equ02")),
    ];
    for setup in setups {
        let after = mutate(&setup, &fixture("osc")).unwrap();
        assert!(after["spec"].get("providerConfig").is_none());
    }
}

#[test]
fn provider_config_errors_deny_as_upstream_does() {
    let no_profile_config = Setup {
        cluster: Some({
            let mut cluster = crate::core::mutation::tests::cluster();
            cluster.cloud_profile["spec"]
                .as_object_mut()
                .unwrap()
                .remove("providerConfig");
            cluster
        }),
        ..Setup::default()
    };
    let cases = [
        (
            Setup::default().with_shoot(partition("nbg-w8101")),
            "no metal control plane found for partition nbg-w8101",
        ),
        (
            no_profile_config,
            "could not decode providerConfig of cloudProfile",
        ),
        (
            Setup::default().with_shoot(|s| {
                s["spec"]["provider"]["controlPlaneConfig"]["networkAccessType"] = json!("open");
            }),
            "unknown variant `open`",
        ),
        (
            Setup {
                cluster: None,
                ..Setup::default()
            },
            "could not get cluster",
        ),
    ];
    for (setup, want) in cases {
        let e = mutate(&setup, &fixture("osc")).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn provision_configs_get_the_provider_config_but_nothing_else() {
    let mut provision = fixture("osc");
    provision["spec"]["purpose"] = json!("provision");
    let after = mutate(&Setup::default(), &provision).unwrap();
    let mut rest = after.clone();
    rest["spec"]
        .as_object_mut()
        .unwrap()
        .remove("providerConfig");
    assert_eq!(rest, provision);
    assert_eq!(after["spec"]["providerConfig"], provider_config(false));
}

// kubelet.service

#[test]
fn the_kubelet_unit_uses_the_external_cloud_provider() {
    let after = mutate(&Setup::default(), &fixture("osc")).unwrap();
    assert_eq!(unit_content(&after), KUBELET_UNIT);
    // Other units and the unit's other fields stay.
    let before = fixture("osc");
    assert_eq!(after["spec"]["units"][0], before["spec"]["units"][0]);
    let mut unit = after["spec"]["units"][1].clone();
    unit["content"] = before["spec"]["units"][1]["content"].clone();
    assert_eq!(unit, before["spec"]["units"][1]);
}

#[test]
fn an_existing_cloud_provider_flag_is_rewritten_in_place() {
    let mut osc = fixture("osc");
    osc["spec"]["units"][1]["content"] =
        json!("[Service]\nExecStart=/opt/bin/kubelet --cloud-provider=aws --v=2\n");
    let after = mutate(&Setup::default(), &osc).unwrap();
    assert_eq!(
        unit_content(&after),
        "[Service]\nExecStart=/opt/bin/kubelet --cloud-provider=external \\\n    --v=2\n"
    );
}

#[test]
fn a_kubelet_unit_without_exec_start_or_content_is_only_rewritten_in_layout() {
    let mut osc = fixture("osc");
    osc["spec"]["units"][1]["content"] =
        json!("[Unit]\nDescription=kubelet\n[Service]\nRestart=always\n");
    let after = mutate(&Setup::default(), &osc).unwrap();
    assert_eq!(
        unit_content(&after),
        "[Unit]\nDescription=kubelet\n\n[Service]\nRestart=always\n"
    );
    osc["spec"]["units"][1]
        .as_object_mut()
        .unwrap()
        .remove("content");
    let after = mutate(&Setup::default(), &osc).unwrap();
    assert_eq!(after["spec"]["units"], osc["spec"]["units"]);
}

#[test]
fn a_unit_named_otherwise_is_not_touched() {
    let mut osc = fixture("osc");
    osc["spec"]["units"][1]["name"] = json!("kubelet-monitor.service");
    let after = mutate(&Setup::default(), &osc).unwrap();
    assert_eq!(after["spec"]["units"], osc["spec"]["units"]);
}

// KubeletConfiguration

#[test]
fn the_kubelet_configuration_loses_the_csi_feature_gates() {
    let before = fixture("osc");
    let after = mutate(&Setup::default(), &before).unwrap();
    assert_eq!(kubelet_file(&after)["encoding"], "b64");
    let mut want = kubelet_config(&before);
    want["featureGates"] = json!({"RotateKubeletServerCertificate": true});
    assert_eq!(kubelet_config(&after), want);
    // The other files stay byte for byte.
    for i in [0, 2, 3] {
        assert_eq!(after["spec"]["files"][i], before["spec"]["files"][i]);
    }
}

#[test]
fn a_plain_kubelet_configuration_stays_plain_and_empty_gates_go() {
    let mut osc = fixture("osc");
    osc["spec"]["files"][1]["content"]["inline"] = json!({
        "encoding": "",
        "data": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfeatureGates:\n  CSINodeInfo: true\nmaxPods: 110\n",
    });
    let after = mutate(&Setup::default(), &osc).unwrap();
    assert_eq!(kubelet_file(&after)["encoding"], "");
    assert_eq!(
        kubelet_config(&after),
        json!({"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "maxPods": 110})
    );
}

#[test]
fn a_kubelet_configuration_without_csi_gates_stays_byte_for_byte() {
    let mut osc = fixture("osc");
    let plain = "kind: KubeletConfiguration\nfeatureGates:\n  RotateKubeletServerCertificate: true\nmaxPods: 110\n";
    osc["spec"]["files"][1]["content"]["inline"] =
        json!({"encoding": "b64", "data": STANDARD.encode(plain)});
    let after = mutate(&Setup::default(), &osc).unwrap();
    assert_eq!(after["spec"]["files"], osc["spec"]["files"]);
}

#[test]
fn undecodable_kubelet_configurations_are_denied() {
    let cases = [
        (
            json!({"encoding": "b64", "data": "not base64!"}),
            "could not decode kubelet configuration",
        ),
        (
            json!({"encoding": "gzip", "data": "x"}),
            "invalid file codec id",
        ),
        (
            json!({"encoding": "", "data": "- a list\n"}),
            "not a KubeletConfiguration",
        ),
        (
            json!({"encoding": "", "data": "kind: Pod\n"}),
            "is not KubeletConfiguration",
        ),
        (json!({"encoding": "", "data": "a: [b"}), "not YAML"),
    ];
    for (inline, want) in cases {
        let mut osc = fixture("osc");
        osc["spec"]["files"][1]["content"]["inline"] = inline.clone();
        let e = mutate(&Setup::default(), &osc).unwrap_err();
        assert!(e.contains(want), "{inline}: {e}");
        // The same content as the old object's is refused as well.
        let mut old = fixture("osc");
        old["spec"]["files"][1]["content"]["inline"] = inline;
        let setup = Setup {
            old: Some(old),
            ..Setup::default()
        };
        let e = mutate(&setup, &fixture("osc")).unwrap_err();
        assert!(
            e.contains("could not decode old kubelet configuration"),
            "{e}"
        );
    }
}

#[test]
fn other_undecodable_content_is_denied_as_upstream_does() {
    let mut bad_unit = fixture("osc");
    bad_unit["spec"]["units"][1]["content"] = json!("[Service");
    let mut bad_sysctl = fixture("osc");
    bad_sysctl["spec"]["files"][3]["content"]["inline"]["data"] = json!("%%%");
    let bad_pool = Setup::default().with_shoot(|s| {
        s["spec"]["provider"]["workers"][0]["kubernetes"] = json!({"version": "latest"});
    });
    let cases = [
        (
            Setup::default(),
            bad_unit.clone(),
            "could not deserialize kubelet.service unit content",
        ),
        (
            Setup {
                old: Some(bad_unit),
                ..Setup::default()
            },
            fixture("osc"),
            "could not deserialize old kubelet.service unit content",
        ),
        (
            Setup::default(),
            bad_sysctl.clone(),
            "could not decode kubernetes general configuration",
        ),
        (
            Setup {
                old: Some(bad_sysctl),
                ..Setup::default()
            },
            fixture("osc"),
            "could not decode old kubernetes general configuration",
        ),
        (bad_pool, fixture("osc"), "Invalid Semantic Version"),
    ];
    for (setup, osc, want) in cases {
        let e = mutate(&setup, &osc).unwrap_err();
        assert!(e.contains(want), "{e}");
    }
}

#[test]
fn a_file_that_is_not_inline_is_not_touched() {
    let mut osc = fixture("osc");
    osc["spec"]["files"][1]["content"] =
        json!({"secretRef": {"name": "kubelet-config", "dataKey": "config"}});
    let after = mutate(&Setup::default(), &osc).unwrap();
    assert_eq!(after["spec"]["files"], osc["spec"]["files"]);
}
