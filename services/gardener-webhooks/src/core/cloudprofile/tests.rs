use serde_json::{Value, json};

use super::*;
use crate::core::provider_config::API_VERSION;
use crate::core::test_support::{self, messages};

fn isolation() -> Value {
    json!({
        "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["100.64.0.0/10", "2001:db8::/32"]},
        "dnsServers": ["10.0.0.53", "10.0.0.54"],
        "ntpServers": ["10.0.0.123"],
        "registryMirrors": [{"name": "mirror", "endpoint": "https://mirror.example.com",
                             "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io", "ghcr.io"]}],
    })
}

/// A valid profile: zones fra-equ01 and fra-equ02, partition fra-equ01 isolated.
fn profile() -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile",
        "metadata": {"name": "metal"},
        "spec": {
            "type": "metal",
            "regions": [{"name": "fra", "zones": [{"name": "fra-equ01"}, {"name": "fra-equ02"}]}],
            "providerConfig": {
                "apiVersion": API_VERSION, "kind": "CloudProfileConfig",
                "metalControlPlanes": {"prod": {
                    "endpoint": "https://api.example.com/metal",
                    "partitions": {
                        "fra-equ01": {"firewallTypes": ["c1-xlarge-x86"], "networkIsolation": isolation()},
                        "fra-equ02": {"firewallTypes": ["c1-xlarge-x86"]},
                    },
                    "firewallControllerVersions": [
                        {"version": "v2.3.4", "url": "https://x/v2.3.4", "classification": "supported"},
                        {"version": "v2.4.0", "url": "https://x/v2.4.0", "classification": "preview"},
                    ],
                }},
            },
        },
    })
}

/// `profile()` with the JSON `value` at `pointer` (`None`: removed).
fn with(pointer: &str, value: Option<Value>) -> Value {
    test_support::with(profile(), pointer, value)
}

const PARTITION: &str = "/spec/providerConfig/metalControlPlanes/prod/partitions/fra-equ01";
const ISOLATION: &str =
    "/spec/providerConfig/metalControlPlanes/prod/partitions/fra-equ01/networkIsolation";
const ISOLATION_PATH: &str =
    "spec.providerConfig.metalControlPlanes[prod].partitions[fra-equ01].networkIsolation";

#[test]
fn a_complete_profile_is_allowed() {
    assert_eq!(messages(validate(&profile())), Vec::<String>::new());
}

#[test]
fn each_create_rule_denies_with_its_field_path() {
    let versions = "/spec/providerConfig/metalControlPlanes/prod/firewallControllerVersions";
    let cases: Vec<(Value, &str)> = vec![
        // 1. providerConfig required and strict.
        (
            with("/spec/providerConfig", None),
            "spec.providerConfig: Required value",
        ),
        (
            with("/spec/providerConfig/metalControlPlane", Some(json!({}))),
            "unknown field `metalControlPlane`",
        ),
        (
            with(
                "/spec/providerConfig/kind",
                Some(json!("InfrastructureConfig")),
            ),
            "spec.providerConfig.kind: Unsupported value",
        ),
        // 2. classification and unique versions.
        (
            with(
                &format!("{versions}/1/classification"),
                Some(json!("expired")),
            ),
            "firewallControllerVersions[1].classification: Unsupported value: \"expired\"",
        ),
        (
            with(&format!("{versions}/1/classification"), None),
            "firewallControllerVersions[1].classification: Unsupported value: \"\"",
        ),
        (
            with(&format!("{versions}/1/version"), Some(json!("v2.3.4"))),
            "firewallControllerVersions[1].version: Duplicate value: \"v2.3.4\"",
        ),
        // 3. partitions are zones.
        (
            with(
                "/spec/providerConfig/metalControlPlanes/prod/partitions/nbg-w8101",
                Some(json!({})),
            ),
            "partitions[nbg-w8101]: Invalid value: partition \"nbg-w8101\" is not a zone",
        ),
        // 4. network isolation.
        (
            with(&format!("{ISOLATION}/dnsServers"), Some(json!([]))),
            "networkIsolation.dnsServers: Required value",
        ),
        (
            with(
                &format!("{ISOLATION}/dnsServers"),
                Some(json!(["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"])),
            ),
            "networkIsolation.dnsServers: Too many: 4",
        ),
        (
            with(
                &format!("{ISOLATION}/dnsServers/1"),
                Some(json!("dns.example.com")),
            ),
            "networkIsolation.dnsServers[1]: Invalid value",
        ),
        (
            with(&format!("{ISOLATION}/ntpServers"), None),
            "networkIsolation.ntpServers: Required value",
        ),
        (
            with(
                &format!("{ISOLATION}/ntpServers/0"),
                Some(json!("10.0.0.300")),
            ),
            "networkIsolation.ntpServers[0]: Invalid value",
        ),
        (
            with(
                &format!("{ISOLATION}/allowedNetworks/egress"),
                Some(json!([])),
            ),
            "allowedNetworks.egress: Required value",
        ),
        (
            with(
                &format!("{ISOLATION}/allowedNetworks/ingress/0"),
                Some(json!("10.0.0.0/33")),
            ),
            "allowedNetworks.ingress[0]: Invalid value",
        ),
        (
            with(&format!("{ISOLATION}/registryMirrors"), Some(json!([]))),
            "networkIsolation.registryMirrors: Required value",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/name"),
                Some(json!("")),
            ),
            "registryMirrors[0].name: Required value",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/endpoint"),
                Some(json!("ftp://mirror.example.com")),
            ),
            "registryMirrors[0].endpoint: Invalid value: \"ftp://mirror.example.com\": the scheme",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/endpoint"),
                Some(json!("mirror")),
            ),
            "registryMirrors[0].endpoint: Invalid value: \"mirror\": not a URL",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/ip"),
                Some(json!("")),
            ),
            "registryMirrors[0].ip: Invalid value",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/port"),
                Some(json!(0)),
            ),
            "registryMirrors[0].port: Invalid value",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/mirrorOf"),
                Some(json!([])),
            ),
            "registryMirrors[0].mirrorOf: Required value",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/mirrorOf/1"),
                Some(json!("https://ghcr.io")),
            ),
            "registryMirrors[0].mirrorOf[1]: Invalid value",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/mirrorOf/1"),
                Some(json!("ghcr.io/x")),
            ),
            "registryMirrors[0].mirrorOf[1]: Invalid value",
        ),
        (
            with(
                &format!("{ISOLATION}/registryMirrors/0/mirrorOf/1"),
                Some(json!("")),
            ),
            "registryMirrors[0].mirrorOf[1]: Invalid value",
        ),
    ];
    for (profile, want) in cases {
        let got = messages(validate(&profile));
        assert_eq!(
            got.len(),
            1,
            "want one error containing {want:?}, got {got:?}"
        );
        assert!(got[0].contains(want), "want {want:?}, got {got:?}");
    }
}

#[test]
fn partitions_without_isolation_need_none_of_its_fields() {
    let open = with(&format!("{PARTITION}/networkIsolation"), None);
    assert_eq!(messages(validate(&open)), Vec::<String>::new());
}

#[test]
fn updates_keep_isolation_and_its_dns_servers() {
    let old = profile();
    // Allowed: other fields of the isolation change, another partition gains isolation.
    let widened = with(
        &format!("{ISOLATION}/allowedNetworks/egress"),
        Some(json!(["0.0.0.0/0"])),
    );
    assert_eq!(
        messages(validate_update(&old, &widened)),
        Vec::<String>::new()
    );
    let mut gained = profile();
    gained["spec"]["providerConfig"]["metalControlPlanes"]["prod"]["partitions"]["fra-equ02"]["networkIsolation"] =
        isolation();
    assert_eq!(
        messages(validate_update(&old, &gained)),
        Vec::<String>::new()
    );

    let removed = with(&format!("{PARTITION}/networkIsolation"), None);
    assert_eq!(
        messages(validate_update(&old, &removed)),
        [format!(
            "{ISOLATION_PATH}: Forbidden: network isolation cannot be removed from a partition once set"
        )]
    );
    let mut dropped = profile();
    dropped["spec"]["providerConfig"]["metalControlPlanes"]["prod"]["partitions"]
        .as_object_mut()
        .unwrap()
        .remove("fra-equ01");
    assert_eq!(messages(validate_update(&old, &dropped)).len(), 1);
    let shorter = with(
        &format!("{ISOLATION}/dnsServers"),
        Some(json!(["10.0.0.53"])),
    );
    let got = messages(validate_update(&old, &shorter));
    assert!(
        got[0].contains(
            "dnsServers: Forbidden: the number of DNS servers is immutable (2 before, 1 now)"
        ),
        "{got:?}"
    );
    let changed = with(
        &format!("{ISOLATION}/dnsServers/1"),
        Some(json!("10.0.0.55")),
    );
    let got = messages(validate_update(&old, &changed));
    assert_eq!(
        got,
        [format!(
            "{ISOLATION_PATH}.dnsServers[1]: Forbidden: immutable: was \"10.0.0.54\", now \"10.0.0.55\""
        )]
    );
    // The new object's own rules still apply on update.
    let broken = with(&format!("{ISOLATION}/ntpServers"), Some(json!([])));
    assert_eq!(messages(validate_update(&old, &broken)).len(), 1);
}
