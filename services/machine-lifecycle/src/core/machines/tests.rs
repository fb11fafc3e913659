use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;
use crate::core::class::{Class, KEY_HMAC, KEY_URL, KEY_USER_DATA};
use crate::core::code::Code;

fn class() -> Class {
    let spec = json!({
        "partition": "fra-equ01", "size": "c1-medium-x86", "image": "ubuntu-24.04",
        "project": "p1", "network": "private-1",
        "tags": ["kubernetes.io/cluster=c1", "cluster.metal-stack.io/id=c1"],
        "sshKeys": ["ssh-ed25519 AAAA"], "dnsServers": [{"ip": "1.1.1.1"}],
        "ntpServers": [{"address": "time.example"}],
    });
    let secret: BTreeMap<String, Vec<u8>> = [
        (KEY_URL, "http://metal"),
        (KEY_HMAC, "k"),
        (KEY_USER_DATA, "{\"ignition\":{}}\n"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
    .collect();
    Class::parse("pool-a", &spec, &secret).unwrap()
}

fn network(id: &str, private: bool, underlay: bool, ips: &[&str]) -> Value {
    json!({
        "networkid": id, "prefixes": [], "ips": ips, "destinationprefixes": [], "vrf": 1,
        "asn": 4200000001i64, "nat": !private, "private": private, "underlay": underlay,
        "projectid": "p1", "networktype": if private { "privateprimaryunshared" } else { "external" },
        "networktypev2": "", "nattypev2": "",
    })
}

/// A metal-api machine; `allocation` None for a free one.
fn machine(id: &str, cluster: Option<&str>, allocation: Option<(&str, &str)>) -> MachineResponse {
    let tags: Vec<String> = cluster
        .map(|c| vec![format!("cluster.metal-stack.io/id={c}")])
        .unwrap_or_default();
    let allocation = allocation.map(|(hostname, role)| {
        json!({
            "allocationuuid": "a", "name": hostname, "hostname": hostname, "project": "p1",
            "role": role, "ssh_pub_keys": [], "succeeded": true, "reinstall": false,
            "creator": "x", "created": "2026-01-01T00:00:00Z",
            "networks": [
                network("private-1", true, false, &["10.128.0.9"]),
                network("internet", false, false, &["185.1.2.7"]),
                network("underlay", false, true, &["10.1.0.4"]),
            ],
        })
    });
    serde_json::from_value(json!({
        "id": id,
        "partition": {"id": "fra-equ01", "bootconfig": {}},
        "allocation": allocation,
        "hardware": {"cpu_cores": 8, "memory": 1},
        "bios": {"vendor": "", "version": "", "date": ""},
        "state": {"value": "", "description": "", "metal_hammer_version": ""},
        "ledstate": {"value": "", "description": ""},
        "liveliness": "Alive",
        "events": {"log": [], "crash_loop": false, "failed_machine_reclaim": false},
        "tags": tags,
    }))
    .expect("machine fixture")
}

#[test]
fn the_allocation_carries_everything_upstream_sends() {
    let request = allocate_request(&class(), "w-1");
    assert_eq!(request.name.as_deref(), Some("w-1"));
    assert_eq!(request.hostname.as_deref(), Some("w-1"));
    assert_eq!(
        request.description.as_deref(),
        Some("w-1 created by Gardener.")
    );
    assert_eq!(request.user_data.as_deref(), Some("{\"ignition\":{}}"));
    assert_eq!(
        (
            request.sizeid.as_str(),
            request.partitionid.as_str(),
            request.projectid.as_str(),
            request.imageid.as_str()
        ),
        ("c1-medium-x86", "fra-equ01", "p1", "ubuntu-24.04")
    );
    let networks = request.networks.unwrap();
    assert_eq!(networks.len(), 1);
    assert_eq!(networks[0].networkid, "private-1");
    assert!(networks[0].autoacquire);
    assert!(
        request
            .tags
            .unwrap()
            .contains(&"cluster.metal-stack.io/id=c1".to_string())
    );
    assert_eq!(
        request.placement_tags.unwrap(),
        vec!["cluster.metal-stack.io/id=c1"]
    );
    assert_eq!(request.ssh_pub_keys, vec!["ssh-ed25519 AAAA"]);
    assert_eq!(request.dns_servers.unwrap()[0].ip, "1.1.1.1");
    assert_eq!(request.ntp_servers.unwrap()[0].address, "time.example");
}

#[test]
fn lookups_stay_within_the_cluster_project_and_role() {
    let by_name = find_by_name(&class(), "w-1");
    assert_eq!(by_name.allocation_name.as_deref(), Some("w-1"));
    assert_eq!(by_name.allocation_project.as_deref(), Some("p1"));
    assert_eq!(by_name.allocation_role.as_deref(), Some("machine"));
    assert_eq!(
        by_name.tags.as_deref(),
        Some(&["cluster.metal-stack.io/id=c1".to_string()][..])
    );
    let by_id = find_by_id(&class(), "m-9");
    assert_eq!(by_id.id.as_deref(), Some("m-9"));
    assert_eq!(by_id.allocation_name, None);
}

#[test]
fn status_of_an_allocated_machine_of_this_cluster() {
    let found = status(
        &class(),
        &machine("m-1", Some("c1"), Some(("w-1", "machine"))),
    )
    .unwrap();
    assert_eq!(found.provider_id, "metal:///fra-equ01/m-1");
    assert_eq!(found.node_name, "w-1");
    let addresses: Vec<(&str, &str)> = found
        .addresses
        .iter()
        .map(|a| (a.kind.as_str(), a.address.as_str()))
        .collect();
    assert_eq!(
        addresses,
        vec![
            ("InternalIP", "10.128.0.9"),
            ("ExternalIP", "185.1.2.7"),
            ("Hostname", "w-1")
        ]
    );
}

#[test]
fn released_foreign_and_untagged_machines_are_not_found() {
    let cases = [
        (machine("m-1", Some("c1"), None), "already released"),
        (
            machine("m-1", Some("c2"), Some(("w-1", "machine"))),
            "does not belong to this cluster anymore",
        ),
        (machine("m-1", None, Some(("w-1", "machine"))), "has no"),
    ];
    for (m, message) in cases {
        let e = status(&class(), &m).unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        assert!(e.message.contains(message), "{e}");
    }
}

#[test]
fn a_machine_belongs_to_the_machine_it_is_allocated_under() {
    let m = machine("m-1", Some("c1"), Some(("w-1", "machine")));
    assert!(allocated_as(&m, "w-1"));
    assert!(!allocated_as(&m, "w-2"), "re-allocated to another Machine");
    assert!(
        !allocated_as(&machine("m-1", Some("c1"), None), "w-1"),
        "free"
    );
}

#[test]
fn of_duplicates_under_one_name_the_earliest_is_kept() {
    let mut late = machine("m-1", Some("c1"), Some(("w-1", "machine")));
    late.allocation.as_mut().unwrap().created = "2026-01-02T00:00:00Z".parse().unwrap();
    let early = machine("m-2", Some("c1"), Some(("w-1", "machine")));
    let tie = machine("m-3", Some("c1"), Some(("w-1", "machine")));
    assert!(keep_earliest(&[]).is_none());
    let found = [late, tie, early];
    let (keep, rest) = keep_earliest(&found).unwrap();
    assert_eq!(keep.id, "m-2", "earliest allocation, then the smaller id");
    let rest: Vec<&str> = rest.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(rest, ["m-3", "m-1"]);
}

#[test]
fn list_maps_provider_ids_to_names_and_skips_firewalls() {
    let found = [
        machine("m-1", Some("c1"), Some(("w-1", "machine"))),
        machine("fw-1", Some("c1"), Some(("fw", "firewall"))),
    ];
    let listed = list(&found).unwrap();
    assert_eq!(
        listed.into_iter().collect::<Vec<_>>(),
        vec![("metal:///fra-equ01/m-1".to_string(), "w-1".to_string())]
    );
    let e = list(&[machine("m-3", Some("c1"), None)]).unwrap_err();
    assert!(e.message.contains("no allocation"), "{e}");
}

#[test]
fn volume_ids_of_csi_volumes_with_the_lightbits_nguid() {
    let specs = [
        VolumeSpec::default(),
        VolumeSpec {
            csi_driver: "csi.lightbitslabs.com".into(),
            volume_handle: "mgmt:10.0.0.1:443|nguid:d22d7a1b|proj:default".into(),
        },
        VolumeSpec {
            csi_driver: "csi.lightbitslabs.com".into(),
            volume_handle: "no-nguid-here".into(),
        },
        VolumeSpec {
            csi_driver: "lvm.csi.metal-stack.io".into(),
            volume_handle: "pvc-1".into(),
        },
    ];
    assert_eq!(
        volume_ids(&specs),
        vec!["d22d7a1b", "no-nguid-here", "pvc-1"]
    );
}
