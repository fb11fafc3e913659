//! Our `ClusterwideNetworkPolicy` CRD against firewall-controller's
//! (`contracts/crds/metal-stack.io_clusterwidenetworkpolicies.yaml`): same identity, same field
//! paths and types, and the same verdict on realistic and broken objects.

mod common;

use std::collections::BTreeMap;

use kube::CustomResourceExt;
use kube_resources::ClusterwideNetworkPolicy;
use kube_resources::schema::{UpstreamSchema, openapi_schema, parse_crd};
use serde_json::{Value, json};

const UPSTREAM_FILE: &str = "metal-stack.io_clusterwidenetworkpolicies.yaml";

struct Crds {
    ours: Value,
    upstream: Value,
}

fn crds() -> Option<Crds> {
    let dir = common::upstream_crds()?;
    let upstream = parse_crd(&common::upstream_crd(&dir, UPSTREAM_FILE)).expect("upstream CRD");
    let ours = serde_json::to_value(ClusterwideNetworkPolicy::crd()).expect("our CRD");
    Some(Crds { ours, upstream })
}

fn validators(crds: &Crds) -> (UpstreamSchema, UpstreamSchema) {
    let ours = UpstreamSchema::from_openapi(openapi_schema(&crds.ours, "v1").unwrap()).unwrap();
    let upstream =
        UpstreamSchema::from_openapi(openapi_schema(&crds.upstream, "v1").unwrap()).unwrap();
    (ours, upstream)
}

#[test]
fn identity_matches_upstream() {
    let Some(crds) = crds() else { return };
    for pointer in [
        "/metadata/name",
        "/spec/group",
        "/spec/scope",
        "/spec/names/kind",
        "/spec/names/plural",
        "/spec/names/singular",
        "/spec/names/shortNames",
    ] {
        assert_eq!(
            crds.ours.pointer(pointer),
            crds.upstream.pointer(pointer),
            "{pointer}"
        );
    }
    let versions = |crd: &Value| -> Vec<(Value, Value, Value, Value, Value)> {
        crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].clone(),
                    v["served"].clone(),
                    v["storage"].clone(),
                    v["subresources"].clone(),
                    v["additionalPrinterColumns"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(versions(&crds.ours), versions(&crds.upstream));
}

/// `path → type` for every field; `[]` marks array items, `{}` map values. The object header
/// (`apiVersion`, `kind`, `metadata`) is left out: kube-derive does not list it.
fn field_types(schema: &Value, path: &str, out: &mut BTreeMap<String, String>) {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("");
    out.insert(path.to_string(), ty.to_string());
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            if path.is_empty() && ["apiVersion", "kind", "metadata"].contains(&name.as_str()) {
                continue;
            }
            field_types(sub, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = schema.get("items") {
        field_types(items, &format!("{path}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        field_types(values, &format!("{path}{{}}"), out);
    }
}

#[test]
fn field_paths_and_types_match_upstream() {
    let Some(crds) = crds() else { return };
    let mut ours = BTreeMap::new();
    let mut upstream = BTreeMap::new();
    field_types(openapi_schema(&crds.ours, "v1").unwrap(), "", &mut ours);
    field_types(
        openapi_schema(&crds.upstream, "v1").unwrap(),
        "",
        &mut upstream,
    );
    assert_eq!(ours, upstream);
    assert!(ours.contains_key(".spec.egress[].toFQDNs[].matchPattern"));
    assert!(ours.contains_key(".status.fqdn_state{}[].ipExpirationTimes{}"));
}

fn cwnp(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "metal-stack.io/v1",
        "kind": "ClusterwideNetworkPolicy",
        "metadata": {"name": name, "namespace": "firewall", "labels": {"app": "web"}},
        "spec": spec,
    })
}

fn valid_samples() -> Vec<Value> {
    vec![
        cwnp("empty", json!({})),
        cwnp(
            "ingress-web",
            json!({
                "description": "allow https and an 8000-8010 range from the office, v4 and v6",
                "ingress": [{
                    "from": [
                        {"cidr": "192.0.2.0/24", "except": ["192.0.2.8/32"]},
                        {"cidr": "2001:db8:1::/48", "except": ["2001:db8:1:ff::/64"]}
                    ],
                    "ports": [
                        {"protocol": "TCP", "port": 443},
                        {"protocol": "TCP", "port": 8000, "endPort": 8010}
                    ]
                }]
            }),
        ),
        cwnp(
            "egress-dns-and-fqdn",
            json!({
                "egress": [
                    {
                        "to": [{"cidr": "198.51.100.0/24"}, {"cidr": "2001:db8::/32"}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
                    },
                    {
                        "toFQDNs": [
                            {"matchName": "example.com"},
                            {"matchPattern": "*.storage.example.org"}
                        ],
                        "ports": [{"port": 443}]
                    }
                ]
            }),
        ),
        json!({
            "apiVersion": "metal-stack.io/v1",
            "kind": "ClusterwideNetworkPolicy",
            "metadata": {"name": "with-status", "namespace": "firewall"},
            "spec": {"egress": [{"toFQDNs": [{"matchName": "example.com"}], "ports": [{"port": 443}]}]},
            "status": {
                "state": "deployed",
                "message": "",
                "fqdn_state": {
                    "example.com": [{
                        "fqdn": "example.com",
                        "setName": "a1b2c3d4e5f6a7b8",
                        "version": "ip",
                        "ipExpirationTimes": {"93.184.216.34": "2026-11-23T22:00:00Z"}
                    }]
                }
            }
        }),
    ]
}

#[test]
fn realistic_objects_pass_both_schemas_and_round_trip() {
    let Some(crds) = crds() else { return };
    let (ours, upstream) = validators(&crds);
    for sample in valid_samples() {
        let name = &sample["metadata"]["name"];
        upstream
            .validate(&sample)
            .unwrap_or_else(|e| panic!("upstream rejects {name}: {e:?}"));
        ours.validate(&sample)
            .unwrap_or_else(|e| panic!("ours rejects {name}: {e:?}"));
        let typed: ClusterwideNetworkPolicy =
            serde_json::from_value(sample.clone()).expect("deserializes");
        assert_eq!(serde_json::to_value(&typed).unwrap(), sample, "{name}");
    }
}

#[test]
fn broken_objects_fail_both_schemas() {
    let Some(crds) = crds() else { return };
    let (ours, upstream) = validators(&crds);
    let port = |p: Value| json!({"ingress": [{"ports": [{"protocol": "TCP", "port": p}]}]});
    let broken = [
        ("named port", cwnp("named-port", port(json!("https")))),
        // Upstream's port is a plain int32, not int-or-string: even numeric strings are refused.
        (
            "numeric string port",
            cwnp("string-port", port(json!("443"))),
        ),
        ("fractional port", cwnp("fraction", port(json!(44.5)))),
        (
            "ipblock without cidr",
            cwnp(
                "no-cidr",
                json!({"egress": [{"to": [{"except": ["10.0.0.0/8"]}]}]}),
            ),
        ),
        (
            "fqdn with a space",
            cwnp(
                "bad-fqdn",
                json!({"egress": [{"toFQDNs": [{"matchName": "exa mple.com"}]}]}),
            ),
        ),
        (
            "unknown spec field",
            cwnp("unknown", json!({"ingress": [], "podSelector": {}})),
        ),
    ];
    for (what, object) in broken {
        assert!(
            upstream.validate(&object).is_err(),
            "upstream accepts {what}"
        );
        assert!(ours.validate(&object).is_err(), "ours accepts {what}");
    }
}

/// Deliberate difference: upstream leaves `protocol` a free string and rejects anything but
/// TCP/UDP only in firewall-controller's code; our schema refuses it at admission already.
#[test]
fn protocol_outside_tcp_udp_is_refused_by_ours_only() {
    let Some(crds) = crds() else { return };
    let (ours, upstream) = validators(&crds);
    let sctp = cwnp(
        "sctp",
        json!({"ingress": [{"ports": [{"protocol": "SCTP", "port": 9}]}]}),
    );
    assert!(upstream.validate(&sctp).is_ok());
    let errors = ours.validate(&sctp).unwrap_err();
    assert!(
        errors[0].starts_with("/spec/ingress/0/ports/0/protocol"),
        "{errors:?}"
    );
    assert!(serde_json::from_value::<ClusterwideNetworkPolicy>(sctp).is_err());
}
