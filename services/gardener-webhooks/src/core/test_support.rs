//! Helpers of the rule tables: objects changed at one JSON pointer, errors as text.

use serde_json::{Value, json};

use super::provider_config::API_VERSION;
use super::shoot::TENANT_ANNOTATION;

use super::field::FieldError;

/// `base` with `value` at `pointer` (`None`: removed); `~1` in the last segment stands for `/`.
pub fn with(base: Value, pointer: &str, value: Option<Value>) -> Value {
    let mut changed = base;
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let key = key.replace("~1", "/");
    match (
        changed
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{parent}")),
        value,
    ) {
        (Value::Object(map), Some(v)) => {
            map.insert(key, v);
        }
        (Value::Object(map), None) => {
            map.remove(&key);
        }
        (Value::Array(list), Some(v)) => list[key.parse::<usize>().expect("an index")] = v,
        (other, _) => panic!("{pointer}: cannot set in {other}"),
    }
    changed
}

pub fn messages(errors: Vec<FieldError>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

/// A CloudProfile with one control plane: an isolated partition, a plain one and one without
/// firewall types, in two regions.
pub fn profile() -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile",
        "metadata": {"name": "metal"},
        "spec": {
            "type": "metal",
            "regions": [
                {"name": "fra", "zones": [{"name": "fra-equ01"}, {"name": "fra-equ02"}]},
                {"name": "nbg", "zones": [{"name": "nbg-w8101"}]},
            ],
            "machineImages": [{"name": "ubuntu", "versions": [{"version": "24.4.20240101"}]}],
            "providerConfig": {
                "apiVersion": API_VERSION, "kind": "CloudProfileConfig",
                "metalControlPlanes": {"prod": {
                    "endpoint": "https://api.example.com/metal",
                    "partitions": {
                        "fra-equ01": {"firewallTypes": ["c1-xlarge-x86"], "networkIsolation": {
                            "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["10.0.0.0/8"]},
                            "dnsServers": ["10.0.0.53"], "ntpServers": ["10.0.0.123"],
                            "registryMirrors": [{"name": "m", "endpoint": "https://m.example.com",
                                                 "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io"]}],
                        }},
                        "fra-equ02": {"firewallTypes": ["c1-xlarge-x86"]},
                        "nbg-w8101": {},
                    },
                    "firewallImages": ["firewall-ubuntu-3.0.20240101"],
                    "firewallControllerVersions": [
                        {"version": "v2.3.4", "url": "https://x", "classification": "supported"},
                        {"version": "v2.4.0", "url": "https://x", "classification": "preview"},
                    ],
                }},
            },
        },
    })
}

/// A Shoot that passes every rule against [`profile`].
pub fn shoot() -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
        "metadata": {"name": "s", "namespace": "garden-p", "annotations": {TENANT_ANNOTATION: "acme"}},
        "spec": {
            "cloudProfileName": "metal", "region": "fra",
            "provider": {
                "type": "metal",
                "infrastructureConfig": {
                    "apiVersion": API_VERSION, "kind": "InfrastructureConfig",
                    "partitionID": "fra-equ01", "projectID": "p1",
                    "firewall": {
                        "size": "c1-xlarge-x86", "image": "firewall-ubuntu-3.0.20240101",
                        "networks": ["internet", "mpls"],
                        "rateLimits": [{"networkID": "internet", "rateLimit": 100}],
                        "egressRules": [{"networkID": "internet", "ips": ["185.1.2.3"]}],
                    },
                },
                "controlPlaneConfig": {"apiVersion": API_VERSION, "kind": "ControlPlaneConfig",
                                       "networkAccessType": "restricted"},
                "workers": [{"name": "w", "minimum": 1, "maximum": 2,
                             "machine": {"type": "c1-xlarge-x86", "image": {"name": "ubuntu", "version": "24.4.20240101"}}}],
            },
        },
    })
}
