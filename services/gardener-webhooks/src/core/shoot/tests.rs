use serde_json::{Value, json};

use super::*;
use crate::core::test_support::{messages, profile, shoot, with};

const INFRA: &str = "/spec/provider/infrastructureConfig";
const FW: &str = "/spec/provider/infrastructureConfig/firewall";

#[test]
fn a_complete_shoot_is_allowed_on_create_and_update() {
    assert_eq!(
        messages(validate_create(&shoot(), &profile())),
        Vec::<String>::new()
    );
    assert_eq!(
        messages(validate_update(&shoot(), &shoot(), &profile())),
        Vec::<String>::new()
    );
    // "" and auto resolve to the supported version; an exact preview version is listed.
    for version in ["", "auto", "v2.4.0"] {
        let s = with(
            shoot(),
            &format!("{FW}/controllerVersion"),
            Some(json!(version)),
        );
        assert_eq!(
            messages(validate_create(&s, &profile())),
            Vec::<String>::new(),
            "{version}"
        );
    }
}

#[test]
fn each_create_rule_denies_with_its_field_path() {
    let p = profile();
    let cases: Vec<(Value, Value, &str)> = vec![
        // 1. tenant
        (
            with(shoot(), "/metadata/annotations", Some(json!({}))),
            p.clone(),
            "metadata.annotations[cluster.metal-stack.io/tenant]: Required value",
        ),
        // 2. infrastructureConfig present and decodable
        (
            with(shoot(), INFRA, None),
            p.clone(),
            "spec.provider.infrastructureConfig: Required value",
        ),
        (
            with(shoot(), &format!("{FW}/sizes"), Some(json!("x"))),
            p.clone(),
            "unknown field `sizes`",
        ),
        // 3. on its own
        (
            with(shoot(), &format!("{INFRA}/projectID"), Some(json!(""))),
            p.clone(),
            "infrastructureConfig.projectID: Required value",
        ),
        (
            with(shoot(), &format!("{FW}/networks/1"), Some(json!(""))),
            p.clone(),
            "firewall.networks[1]: Invalid value: must not be empty",
        ),
        (
            with(
                shoot(),
                &format!("{FW}/rateLimits/0/networkID"),
                Some(json!("dmz")),
            ),
            p.clone(),
            "firewall.rateLimits[0].networkID: Invalid value: \"dmz\": not one of the firewall's networks",
        ),
        (
            with(
                shoot(),
                &format!("{FW}/egressRules/0/networkID"),
                Some(json!("")),
            ),
            p.clone(),
            "firewall.egressRules[0].networkID: Required value",
        ),
        (
            with(shoot(), &format!("{FW}/egressRules/0/ips"), Some(json!([]))),
            p.clone(),
            "firewall.egressRules[0].ips: Required value",
        ),
        (
            with(
                shoot(),
                &format!("{FW}/egressRules/0/ips/0"),
                Some(json!("185.1.2")),
            ),
            p.clone(),
            "firewall.egressRules[0].ips[0]: Invalid value",
        ),
        // 4. against the profile
        (
            with(shoot(), "/spec/region", Some(json!("nbg"))),
            p.clone(),
            "infrastructureConfig.partitionID: Invalid value: \"fra-equ01\": not a zone of the shoot's region",
        ),
        (
            with(
                with(
                    with(shoot(), &format!("{FW}/networks"), Some(json!([]))),
                    &format!("{FW}/rateLimits"),
                    None,
                ),
                &format!("{FW}/egressRules"),
                None,
            ),
            p.clone(),
            "firewall.networks: Required value",
        ),
        (
            with(
                shoot(),
                &format!("{FW}/image"),
                Some(json!("firewall-ubuntu-2.0")),
            ),
            p.clone(),
            "firewall.image: Unsupported value: \"firewall-ubuntu-2.0\"",
        ),
        (
            with(shoot(), &format!("{FW}/size"), Some(json!("n1-medium-x86"))),
            p.clone(),
            "firewall.size: Unsupported value: \"n1-medium-x86\"",
        ),
        (
            with(
                shoot(),
                &format!("{FW}/controllerVersion"),
                Some(json!("v9.9.9")),
            ),
            p.clone(),
            "firewall.controllerVersion: Invalid value: \"v9.9.9\": not a firewall controller version",
        ),
        (
            shoot(),
            with(
                p.clone(),
                "/spec/providerConfig/metalControlPlanes/prod/firewallControllerVersions/0/classification",
                Some(json!("deprecated")),
            ),
            "firewall.controllerVersion: Invalid value: \"\": the cloud profile offers no supported",
        ),
        // 6. control plane config
        (
            with(
                shoot(),
                "/spec/provider/controlPlaneConfig/networkAccessType",
                Some(json!("open")),
            ),
            p.clone(),
            "spec.provider.controlPlaneConfig: Invalid value: cannot decode ControlPlaneConfig",
        ),
        (
            with(
                with(
                    shoot(),
                    &format!("{INFRA}/partitionID"),
                    Some(json!("fra-equ02")),
                ),
                "/spec/provider/controlPlaneConfig/networkAccessType",
                Some(json!("forbidden")),
            ),
            p.clone(),
            "controlPlaneConfig.networkAccessType: Forbidden: partition \"fra-equ02\" has no network isolation",
        ),
        (
            with(
                shoot(),
                &format!("{INFRA}/partitionID"),
                Some(json!("fra-equ01x")),
            ),
            with(
                p.clone(),
                "/spec/regions/0/zones/0",
                Some(json!({"name": "fra-equ01x"})),
            ),
            "infrastructureConfig.partitionID: Invalid value: missing partition with name \"fra-equ01x\"",
        ),
        // 7. workers
        (
            with(
                shoot(),
                "/spec/provider/workers/0/volume",
                Some(json!({"size": "20Gi"})),
            ),
            p.clone(),
            "spec.provider.workers[0].volume: Forbidden",
        ),
        (
            with(
                shoot(),
                "/spec/provider/workers/0/zones",
                Some(json!(["fra-equ01"])),
            ),
            p.clone(),
            "spec.provider.workers[0].zones: Forbidden",
        ),
        (
            with(
                shoot(),
                "/spec/provider/workers/0/machine/image/version",
                Some(json!("22.4")),
            ),
            p.clone(),
            "spec.provider.workers[0].machine.image: Unsupported value: ubuntu-22.4",
        ),
    ];
    for (shoot, profile, want) in cases {
        let got = messages(validate_create(&shoot, &profile));
        assert_eq!(
            got.len(),
            1,
            "want one error containing {want:?}, got {got:?}"
        );
        assert!(got[0].contains(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn updates_keep_tenant_project_and_partition_and_recheck_a_changed_firewall() {
    let p = profile();
    let old = shoot();
    let tenant = with(
        shoot(),
        &format!(
            "/metadata/annotations/{}",
            TENANT_ANNOTATION.replace('/', "~1")
        ),
        Some(json!("other")),
    );
    let got = messages(validate_update(&old, &tenant, &p));
    assert_eq!(
        got,
        [
            "metadata.annotations[cluster.metal-stack.io/tenant]: Forbidden: immutable: was \"acme\", now \"other\""
        ]
    );
    let dropped = with(shoot(), "/metadata/annotations", Some(json!({})));
    assert!(messages(validate_update(&old, &dropped, &p))[0].contains("Required value"));
    for (field, value) in [("projectID", "p2"), ("partitionID", "fra-equ02")] {
        let moved = with(shoot(), &format!("{INFRA}/{field}"), Some(json!(value)));
        let got = messages(validate_update(&old, &moved, &p));
        assert!(
            got.iter().any(|e| e.contains(&format!(
                "infrastructureConfig.{field}: Forbidden: immutable"
            ))),
            "{got:?}"
        );
    }
    // A changed firewall is checked against the profile again ...
    let resized = with(shoot(), &format!("{FW}/size"), Some(json!("n1-medium-x86")));
    assert!(
        messages(validate_update(&old, &resized, &p))[0]
            .contains("firewall.size: Unsupported value")
    );
    // ... an unchanged one is not, so a profile that dropped the image keeps old shoots valid.
    let narrowed = with(
        p.clone(),
        "/spec/providerConfig/metalControlPlanes/prod/firewallImages",
        Some(json!(["firewall-ubuntu-3.1"])),
    );
    assert_eq!(
        messages(validate_update(&old, &shoot(), &narrowed)),
        Vec::<String>::new()
    );
    // Workers are always checked.
    let zoned = with(
        shoot(),
        "/spec/provider/workers/0/zones",
        Some(json!(["fra-equ01"])),
    );
    assert_eq!(messages(validate_update(&old, &zoned, &p)).len(), 1);
}

#[test]
fn partitions_are_found_across_control_planes() {
    let mut config = cloudprofile::config(&profile()).unwrap();
    let mut other = config.metal_control_planes["prod"].clone();
    other.partitions.clear();
    other.partitions.insert("ams1".into(), Partition::default());
    config.metal_control_planes.insert("test".into(), other);
    assert_eq!(find_partition(&config, "ams1").map(|f| f.0), Some("test"));
    assert_eq!(
        find_partition(&config, "fra-equ02").map(|f| f.0),
        Some("prod")
    );
    assert!(find_partition(&config, "nowhere").is_none());
}
