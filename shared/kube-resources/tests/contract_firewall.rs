//! `Firewall` / `FirewallMonitor` against firewall-controller-manager's CRDs: what we serialize
//! validates against upstream, and upstream objects with fields we do not model still read.

mod common;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube_resources::firewall::{
    ControllerStatus, Counter, DeviceStat, EgressRuleSnat, FirewallSpec, FirewallStats, IdsStat,
    RateLimit, RuleStat,
};
use kube_resources::schema::UpstreamSchema;
use kube_resources::{Firewall, FirewallMonitor};
use serde_json::{Value, json};

fn schema(file: &str) -> Option<UpstreamSchema> {
    let dir = common::upstream_crds()?;
    Some(UpstreamSchema::from_crd_yaml(&common::upstream_crd(&dir, file), "v2").expect("compiles"))
}

fn upstream_firewall() -> Value {
    json!({
        "apiVersion": "firewall.metal-stack.io/v2",
        "kind": "Firewall",
        "metadata": {"name": "shoot--p--c-firewall-1a2b3", "namespace": "shoot--p--c"},
        "distance": 0,
        "spec": {
            "size": "n1-medium-x86", "image": "firewall-ubuntu-3.0", "partition": "fra-equ01",
            "project": "p1", "networks": ["internet", "tenant-net"], "interval": "10s",
            "rateLimits": [{"networkID": "internet", "rate": 100}],
            "egressRules": [{"networkID": "internet", "ips": ["203.0.113.7"]}],
            "internalPrefixes": ["10.0.0.0/8"],
            "allowedNetworks": {"ingress": ["0.0.0.0/0"], "egress": ["::/0"]},
            "controllerURL": "https://example.org/fwc", "controllerVersion": "v2.3.0",
            "dnsServerAddress": "8.8.8.8", "dnsPort": 53, "logAcceptedConnections": true
        },
        "status": {
            "phase": "Running",
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "Connected", "message": "",
                "lastTransitionTime": "2026-11-23T10:00:00Z", "lastUpdateTime": "2026-11-23T10:00:00Z"
            }],
            "machineStatus": {
                "machineID": "m-1", "imageID": "firewall-ubuntu-3.0", "liveliness": "Alive",
                "crashLoop": false, "allocationTimestamp": "2026-11-23T09:00:00Z",
                "lastEvent": {"event": "Phoned Home", "message": "", "timestamp": "2026-11-23T09:30:00Z"}
            },
            "controllerStatus": {"actualVersion": "v2.3.0", "actualDistance": 0,
                "lastRun": "2026-11-23T10:00:00Z"},
            "firewallNetworks": [{
                "networkID": "internet", "networkType": "external", "vrf": 104009, "asn": 4200003073u64,
                "nat": true, "prefixes": ["203.0.113.0/24"], "ips": ["203.0.113.7"],
                "destinationPrefixes": ["0.0.0.0/0"]
            }],
            "shootAccess": {"genericKubeconfigSecretName": "gk", "tokenSecretName": "tok",
                "namespace": "shoot--p--c", "apiServerURL": "https://api.example.org"}
        }
    })
}

#[test]
fn firewall_reads_upstream_objects_and_writes_valid_ones() {
    let Some(schema) = schema("firewall.metal-stack.io_firewalls.yaml") else {
        return;
    };
    let original = upstream_firewall();
    schema
        .validate(&original)
        .expect("sample is valid upstream");
    let firewall: Firewall = serde_json::from_value(original.clone()).expect("reads");
    assert_eq!(serde_json::to_value(&firewall).unwrap(), original);

    let mut with_unknown = original;
    with_unknown["spec"]["futureField"] = json!({"a": 1});
    with_unknown["status"]["newStatus"] = json!(true);
    let read: Firewall = serde_json::from_value(with_unknown).expect("unknown fields ignored");
    assert_eq!(read, firewall);

    let minimal = Firewall::new(
        "fw",
        FirewallSpec {
            size: "s".into(),
            image: "i".into(),
            partition: "p".into(),
            project: "pr".into(),
            networks: vec!["internet".into()],
            ..FirewallSpec::default()
        },
    );
    schema
        .validate(&serde_json::to_value(&minimal).unwrap())
        .expect("minimal Firewall is valid upstream");
    assert_eq!(Firewall::api_version(&()), "firewall.metal-stack.io/v2");
    assert_eq!(
        Firewall::url_path(&(), Some("ns")),
        "/apis/firewall.metal-stack.io/v2/namespaces/ns/firewalls"
    );
}

#[test]
fn firewall_monitor_we_write_is_valid_upstream() {
    let Some(schema) = schema("firewall.metal-stack.io_firewallmonitors.yaml") else {
        return;
    };
    let monitor = FirewallMonitor {
        api_version: "firewall.metal-stack.io/v2".into(),
        kind: "FirewallMonitor".into(),
        metadata: ObjectMeta {
            name: Some("shoot--p--c-firewall-1a2b3".into()),
            namespace: Some("firewall".into()),
            ..ObjectMeta::default()
        },
        size: "n1-medium-x86".into(),
        image: "firewall-ubuntu-3.0".into(),
        partition: "fra-equ01".into(),
        project: "p1".into(),
        networks: vec!["internet".into()],
        rate_limits: Some(vec![RateLimit {
            network_id: "internet".into(),
            rate: 100,
        }]),
        egress_rules: Some(vec![EgressRuleSnat {
            network_id: "internet".into(),
            ips: vec!["203.0.113.7".into()],
        }]),
        log_accepted_connections: Some(false),
        machine_status: None,
        conditions: Vec::new(),
        controller_status: Some(ControllerStatus {
            message: Some("rules applied".into()),
            stats: Some(FirewallStats {
                rules: BTreeMap::from([(
                    "accept".into(),
                    BTreeMap::from([(
                        "accept traffic for np web tcp".into(),
                        RuleStat {
                            counter: Counter {
                                bytes: 1024,
                                packets: 8,
                            },
                        },
                    )]),
                )]),
                devices: BTreeMap::from([("vlan104009".into(), DeviceStat { in_: 10, out: 20 })]),
                ids_stats: BTreeMap::from([(
                    "eth0".into(),
                    IdsStat {
                        drop: 0,
                        invalid_checksums: 0,
                        packets: 5,
                    },
                )]),
            }),
            controller_version: Some("v0.1.0".into()),
            nftables_exporter_version: Some(String::new()),
            last_run: None,
            last_run_against_seed: None,
            distance: Some(0),
            distance_supported: Some(false),
        }),
    };
    let value = serde_json::to_value(&monitor).unwrap();
    schema.validate(&value).expect("valid upstream");
    let back: FirewallMonitor = serde_json::from_value(value).unwrap();
    assert_eq!(back, monitor);

    let mut bad = serde_json::to_value(&monitor).unwrap();
    bad["controllerStatus"]["stats"]
        .as_object_mut()
        .unwrap()
        .remove("devices");
    assert!(schema.validate(&bad).is_err(), "stats.devices is required");
}
