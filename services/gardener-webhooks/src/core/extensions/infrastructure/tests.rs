use metal_api_sdk::model::{IpResponse, IpType, NetworkResponse};
use serde_json::json;

use super::*;
use crate::core::extensions::shoot::fixtures;

fn shoot() -> Shoot {
    Shoot::from_cluster(&fixtures::cluster()).unwrap()
}

fn shoot_with_egress(ips: &[&str]) -> Shoot {
    let mut cluster = fixtures::cluster();
    cluster["spec"]["shoot"]["spec"]["provider"]["infrastructureConfig"]["firewall"]["egressRules"] =
        json!([{"networkID": "internet", "ips": ips}]);
    Shoot::from_cluster(&cluster).unwrap()
}

fn network(id: &str, prefix: &str, uid: Option<&str>) -> NetworkResponse {
    serde_json::from_value(json!({
        "id": id, "prefixes": [prefix], "destinationprefixes": [],
        "projectid": "proj-1", "partitionid": "part-a",
        "labels": uid.map(|u| json!({TAG_CLUSTER_ID: u})).unwrap_or(json!({})),
        "nat": false, "privatesuper": false, "underlay": false,
        "additional_announcable_cidrs": [], "networktype": "", "nattype": "",
        "usage": {"available_ips": 0, "used_ips": 0, "available_prefixes": 0, "used_prefixes": 0},
        "consumption": {},
    }))
    .unwrap()
}

fn ip(address: &str, ip_type: IpType, tags: &[&str]) -> IpResponse {
    IpResponse {
        ipaddress: address.into(),
        allocationuuid: format!("a-{address}"),
        name: String::new(),
        description: String::new(),
        networkid: "internet".into(),
        projectid: "proj-1".into(),
        ip_type,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        created: None,
        changed: None,
    }
}

#[test]
fn a_named_node_network_is_used_else_the_clusters_is_looked_up_and_allocated() {
    let mut cluster = fixtures::cluster();
    cluster["spec"]["shoot"]["spec"]["networking"]["nodes"] = "10.9.0.0/22".into();
    let given = Shoot::from_cluster(&cluster).unwrap();
    assert_eq!(
        node_network(&given),
        NodeNetwork::Given("10.9.0.0/22".into())
    );

    let shoot = shoot();
    let NodeNetwork::Find(find) = node_network(&shoot) else {
        panic!("looked up")
    };
    assert_eq!(find.projectid.as_deref(), Some("proj-1"));
    assert_eq!(find.partitionid.as_deref(), Some("part-a"));
    assert_eq!(find.labels.unwrap()[TAG_CLUSTER_ID], "uid-1");
    let request = allocate_request(&shoot);
    assert_eq!(request.name.as_deref(), Some("s1"));
    assert_eq!(request.description.as_deref(), Some("uid-1"));
    assert_eq!(request.labels[TAG_CLUSTER_ID], "uid-1");
    assert_eq!(
        (request.projectid.as_str(), request.partitionid.as_str()),
        ("proj-1", "part-a")
    );
}

#[test]
fn a_found_network_is_reused_and_a_reported_one_that_vanished_is_an_error() {
    let found = [network("n1", "10.0.0.0/22", Some("uid-1"))];
    assert_eq!(
        found_network(&found, None).unwrap().as_deref(),
        Some("10.0.0.0/22")
    );
    assert_eq!(found_network(&[], None).unwrap(), None);
    assert_eq!(
        found_network(&found, Some("10.0.0.0/22"))
            .unwrap()
            .as_deref(),
        Some("10.0.0.0/22")
    );
    let gone = found_network(&[], Some("10.0.0.0/22")).unwrap_err();
    assert!(gone.message.contains("node network disappeared"), "{gone}");
}

#[test]
fn egress_ips_are_tagged_when_wanted_and_untagged_when_not() {
    let shoot = shoot_with_egress(&["1.1.1.1", "1.1.1.2"]);
    let tag = egress_tag(&shoot);
    assert_eq!(tag, "cluster.metal-stack.io/id/egress=uid-1");
    let tagged = [
        ip("1.1.1.1", IpType::Static, &[&tag]),
        ip("1.1.1.9", IpType::Static, &[&tag, "keep=me"]),
    ];
    let plan = egress_plan(&shoot, &tagged);
    assert_eq!(
        plan.tag,
        [EgressIp {
            ip: "1.1.1.2".into(),
            network_id: "internet".into()
        }]
    );
    assert_eq!(plan.untag.len(), 1);
    assert_eq!(plan.untag[0].ipaddress, "1.1.1.9");
    assert_eq!(
        plan.untag[0].tags.as_deref(),
        Some(&["keep=me".to_string()][..])
    );
}

#[test]
fn an_egress_ip_must_be_one_static_untagged_ip() {
    let shoot = shoot_with_egress(&["1.1.1.2"]);
    let wanted = EgressIp {
        ip: "1.1.1.2".into(),
        network_id: "internet".into(),
    };
    let ok = tag_egress_ip(&shoot, &wanted, &[ip("1.1.1.2", IpType::Static, &[])]).unwrap();
    assert_eq!(ok.tags.unwrap(), [egress_tag(&shoot)]);
    for (found, why) in [
        (vec![], "not found in project proj-1"),
        (
            vec![
                ip("1.1.1.2", IpType::Static, &[]),
                ip("1.1.1.2", IpType::Static, &[]),
            ],
            "found 2 times",
        ),
        (vec![ip("1.1.1.2", IpType::Ephemeral, &[])], "is ephemeral"),
        (
            vec![ip(
                "1.1.1.2",
                IpType::Static,
                &["cluster.metal-stack.io/id=other"],
            )],
            "is in use",
        ),
    ] {
        let e = tag_egress_ip(&shoot, &wanted, &found).unwrap_err();
        assert!(
            e.message.contains(why) && e.message.contains("1.1.1.2"),
            "{e}"
        );
        assert_eq!(
            e.code,
            Some(crate::core::extensions::operation::ErrorCode::Configuration)
        );
    }
}

#[test]
fn deletion_frees_only_what_is_this_clusters_alone() {
    let shoot = shoot();
    let mine = "cluster.metal-stack.io/id/namespace/service=uid-1/default/web";
    let other = "cluster.metal-stack.io/id/namespace/service=uid-2/default/web";
    let ephemeral = [
        ip("2.0.0.1", IpType::Ephemeral, &[mine]),
        ip("2.0.0.2", IpType::Ephemeral, &[mine, other]),
        ip("2.0.0.3", IpType::Ephemeral, &[other]),
        ip("2.0.0.4", IpType::Ephemeral, &[]),
        // A prefix of the UID is another cluster.
        ip(
            "2.0.0.5",
            IpType::Ephemeral,
            &["cluster.metal-stack.io/id/namespace/service=uid-10/x/y"],
        ),
    ];
    let egress_tag = egress_tag(&shoot);
    let egress = [ip("3.0.0.1", IpType::Static, &[&egress_tag, "note=x"])];
    let releases = release(&shoot, &ephemeral, &egress);
    assert_eq!(
        releases,
        [
            Release::Free("2.0.0.1".into()),
            Release::Update(IpUpdateRequest {
                ipaddress: "2.0.0.2".into(),
                tags: Some(vec![other.into()]),
                ..Default::default()
            }),
            Release::Update(IpUpdateRequest {
                ipaddress: "3.0.0.1".into(),
                tags: Some(vec!["note=x".into()]),
                ..Default::default()
            }),
        ]
    );
    let networks = [
        network("n1", "10.0.0.0/22", Some("uid-1")),
        network("n2", "10.0.4.0/22", Some("uid-2")),
        network("n3", "10.0.8.0/22", None),
    ];
    assert_eq!(networks_to_free(&shoot, &networks), ["n1"]);
}

#[test]
fn the_status_reports_the_node_cidr_and_keeps_the_firewall_machine_id() {
    let status = status(
        "10.0.0.0/22",
        Some(&json!({"firewall": {"machineID": "fw-1"}})),
    );
    assert_eq!(status["nodesCIDR"], "10.0.0.0/22");
    assert_eq!(status["providerStatus"]["kind"], "InfrastructureStatus");
    assert_eq!(status["providerStatus"]["firewall"]["machineID"], "fw-1");
}

#[test]
fn the_maintenance_window_is_read_in_its_zone_and_wraps_midnight() {
    let shoot = |begin: &str, end: &str| json!({"spec": {"maintenance": {"timeWindow": {"begin": begin, "end": end}}}});
    let at = |h: u32, m: u32| h * 3600 + m * 60;
    // 22:00–23:00 at +01:00 is 21:00–22:00 UTC.
    let window = shoot("220000+0100", "230000+0100");
    assert!(in_maintenance_window(&window, at(21, 30)));
    assert!(!in_maintenance_window(&window, at(22, 30)));
    let wrapping = shoot("230000+0000", "010000+0000");
    assert!(in_maintenance_window(&wrapping, at(0, 30)));
    assert!(in_maintenance_window(&wrapping, at(23, 30)));
    assert!(!in_maintenance_window(&wrapping, at(12, 0)));
    assert!(!in_maintenance_window(
        &shoot("nonsense", "230000+0100"),
        at(21, 30)
    ));
    assert!(!in_maintenance_window(&json!({}), at(21, 30)));
}
