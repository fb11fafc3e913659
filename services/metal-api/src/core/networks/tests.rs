use super::*;
use crate::core::ips;
use crate::core::testing::{OTHER_PROJECT, PARTITION, PROJECT, run, seeded};
use metal_api_sdk::model::IpAllocateRequest;

fn alloc_req() -> NetworkAllocateRequest {
    NetworkAllocateRequest {
        projectid: PROJECT.into(),
        partitionid: PARTITION.into(),
        name: Some("shoot".into()),
        ..Default::default()
    }
}

fn allocate_net(s: &mut State, r: NetworkAllocateRequest) -> ApiResult<Network> {
    run(s, |s, ctx| allocate(s, ctx, &r))
}

#[test]
fn children_are_carved_from_the_private_super_network() {
    let mut s = seeded();
    let a = allocate_net(&mut s, alloc_req()).unwrap();
    let b = allocate_net(&mut s, alloc_req()).unwrap();
    assert_eq!(a.prefixes, vec!["10.128.0.0/22".parse::<IpNet>().unwrap()]);
    assert_eq!(b.prefixes, vec!["10.128.4.0/22".parse::<IpNet>().unwrap()]);
    assert_eq!(
        a.parentnetworkid.as_deref(),
        Some("tenant-super-network-fra-equ01")
    );
    assert_eq!(a.projectid.as_deref(), Some(PROJECT));
    assert_ne!(a.vrf, b.vrf);
    assert_eq!(a.network_type(), "child");
    let custom = allocate_net(
        &mut s,
        NetworkAllocateRequest {
            length: Some([("IPv4".to_string(), 24)].into()),
            ..alloc_req()
        },
    )
    .unwrap();
    assert_eq!(
        custom.prefixes,
        vec!["10.128.8.0/24".parse::<IpNet>().unwrap()]
    );
}

#[test]
fn allocation_errors() {
    let mut s = seeded();
    let count = s.networks.len();
    let code = |r: ApiResult<Network>| r.unwrap_err().status;
    assert_eq!(
        code(allocate_net(
            &mut s,
            NetworkAllocateRequest {
                projectid: String::new(),
                ..alloc_req()
            }
        )),
        400
    );
    assert_eq!(
        code(allocate_net(
            &mut s,
            NetworkAllocateRequest {
                partitionid: String::new(),
                ..alloc_req()
            }
        )),
        400
    );
    assert_eq!(
        code(allocate_net(
            &mut s,
            NetworkAllocateRequest {
                partitionid: "nope".into(),
                ..alloc_req()
            }
        )),
        404
    );
    assert_eq!(
        code(allocate_net(
            &mut s,
            NetworkAllocateRequest {
                projectid: "nope".into(),
                ..alloc_req()
            }
        )),
        404
    );
    assert_eq!(
        code(allocate_net(
            &mut s,
            NetworkAllocateRequest {
                length: Some([("IPv4".to_string(), 8)].into()),
                ..alloc_req()
            }
        )),
        400
    );
    assert_eq!(s.networks.len(), count);
}

#[test]
fn super_network_exhaustion() {
    let mut s = seeded();
    // /14 split into /16s: exactly four children.
    for _ in 0..4 {
        allocate_net(
            &mut s,
            NetworkAllocateRequest {
                length: Some([("IPv4".to_string(), 16)].into()),
                ..alloc_req()
            },
        )
        .unwrap();
    }
    let err = allocate_net(&mut s, alloc_req()).unwrap_err();
    assert_eq!(err.status, 500);
    assert!(
        err.message.contains("no more child prefixes"),
        "{}",
        err.message
    );
}

#[test]
fn free_refuses_networks_with_ips_and_releases_the_prefix() {
    let mut s = seeded();
    let n = allocate_net(&mut s, alloc_req()).unwrap();
    let ip = run(&mut s, |s, ctx| {
        ips::allocate(
            s,
            ctx,
            &IpAllocateRequest {
                networkid: n.id.clone(),
                projectid: PROJECT.into(),
                ..Default::default()
            },
            ips::Wanted::Any,
        )
    })
    .unwrap();
    assert_eq!(run(&mut s, |s, _| free(s, &n.id)).unwrap_err().status, 409);
    run(&mut s, |s, _| ips::free(s, &ip.address.to_string())).unwrap();
    run(&mut s, |s, _| free(s, &n.id)).unwrap();
    assert_eq!(run(&mut s, |s, _| free(s, &n.id)).unwrap_err().status, 404);
    assert_eq!(
        run(&mut s, |s, _| free(s, "internet")).unwrap_err().status,
        400
    );
    let again = allocate_net(
        &mut s,
        NetworkAllocateRequest {
            projectid: OTHER_PROJECT.into(),
            ..alloc_req()
        },
    )
    .unwrap();
    assert_eq!(again.prefixes, n.prefixes, "the released prefix is reused");
}

#[test]
fn create_rules() {
    let mut s = seeded();
    let create_net = |s: &mut State, r: NetworkCreateRequest| run(s, |s, ctx| create(s, ctx, &r));
    let base = NetworkCreateRequest {
        id: "ext2".into(),
        prefixes: vec!["192.0.2.0/24".into()],
        ..Default::default()
    };
    create_net(&mut s, base.clone()).unwrap();
    assert_eq!(
        create_net(&mut s, base.clone()).unwrap_err().status,
        409,
        "duplicate id"
    );
    assert_eq!(
        create_net(
            &mut s,
            NetworkCreateRequest {
                id: "ov".into(),
                prefixes: vec!["192.0.2.128/25".into()],
                ..Default::default()
            }
        )
        .unwrap_err()
        .status,
        422,
        "overlap"
    );
    assert_eq!(
        create_net(
            &mut s,
            NetworkCreateRequest {
                id: "bad".into(),
                prefixes: vec!["192.0.2.0/33".into()],
                ..Default::default()
            }
        )
        .unwrap_err()
        .status,
        400
    );
    assert_eq!(
        create_net(
            &mut s,
            NetworkCreateRequest {
                id: "host".into(),
                prefixes: vec!["198.51.100.1/24".into()],
                ..Default::default()
            }
        )
        .unwrap_err()
        .status,
        400
    );
    let second_super = NetworkCreateRequest {
        id: "super2".into(),
        partitionid: Some(PARTITION.into()),
        prefixes: vec!["172.16.0.0/12".into()],
        privatesuper: true,
        defaultchildprefixlength: Some([("IPv4".to_string(), 22)].into()),
        ..Default::default()
    };
    assert_eq!(create_net(&mut s, second_super).unwrap_err().status, 400);
    assert_eq!(
        create_net(
            &mut s,
            NetworkCreateRequest {
                id: "p".into(),
                partitionid: Some("nope".into()),
                ..Default::default()
            }
        )
        .unwrap_err()
        .status,
        404
    );
}

#[test]
fn delete_refuses_networks_in_use() {
    let mut s = seeded();
    allocate_net(&mut s, alloc_req()).unwrap();
    assert_eq!(
        run(&mut s, |s, _| delete(s, "tenant-super-network-fra-equ01"))
            .unwrap_err()
            .status,
        409
    );
    run(&mut s, |s, _| delete(s, "storage-fra-equ01")).unwrap();
    assert!(!s.networks.contains_key("storage-fra-equ01"));
}
