use super::*;
use crate::core::filters;
use crate::core::networks;
use crate::core::testing::{OTHER_PROJECT, PARTITION, PROJECT, run, seeded};
use metal_api_sdk::model::{IpFindRequest, NetworkAllocateRequest, NetworkCreateRequest};

fn req(network: &str) -> IpAllocateRequest {
    IpAllocateRequest {
        networkid: network.into(),
        projectid: PROJECT.into(),
        ..Default::default()
    }
}

fn alloc(s: &mut State, r: IpAllocateRequest) -> ApiResult<Ip> {
    run(s, |s, ctx| allocate(s, ctx, &r, Wanted::Any))
}

fn alloc_specific(s: &mut State, r: IpAllocateRequest, addr: &str) -> ApiResult<Ip> {
    run(s, |s, ctx| {
        allocate(s, ctx, &r, Wanted::Specific(addr.into()))
    })
}

fn status<T: std::fmt::Debug>(r: ApiResult<T>) -> u16 {
    r.expect_err("expected an error").status
}

#[test]
fn allocates_first_free_addresses_in_order() {
    let mut s = seeded();
    let a = alloc(&mut s, req("internet")).unwrap();
    let b = alloc(&mut s, req("internet")).unwrap();
    assert_eq!(a.address.to_string(), "185.1.2.1");
    assert_eq!(b.address.to_string(), "185.1.2.2");
    assert_ne!(a.allocationuuid, b.allocationuuid);
    assert_eq!(a.ip_type, IpType::Ephemeral);
    assert_eq!(s.ips.len(), 2);
}

#[test]
fn type_is_static_only_when_asked_exactly() {
    let mut s = seeded();
    for (given, want) in [
        (None, IpType::Ephemeral),
        (Some("static"), IpType::Static),
        (Some("Static"), IpType::Ephemeral),
        (Some("x"), IpType::Ephemeral),
    ] {
        let ip = alloc(
            &mut s,
            IpAllocateRequest {
                ip_type: given.map(str::to_string),
                ..req("internet")
            },
        )
        .unwrap();
        assert_eq!(ip.ip_type, want, "type {given:?}");
    }
}

#[test]
fn address_family_selects_the_prefix() {
    let mut s = seeded();
    let v6 = alloc(
        &mut s,
        IpAllocateRequest {
            addressfamily: Some(AddressFamily::IPv6),
            ..req("internet")
        },
    )
    .unwrap();
    assert_eq!(v6.address.to_string(), "2a02:c00:20::1");
    // storage network has no IPv6 prefix
    assert_eq!(
        status(alloc(
            &mut s,
            IpAllocateRequest {
                addressfamily: Some(AddressFamily::IPv6),
                ..req("storage-fra-equ01")
            }
        )),
        400
    );
    // family and a specific address together are refused
    assert_eq!(
        status(alloc_specific(
            &mut s,
            IpAllocateRequest {
                addressfamily: Some(AddressFamily::IPv4),
                ..req("internet")
            },
            "185.1.2.9"
        )),
        400
    );
}

#[test]
fn request_errors_have_upstream_codes_and_change_nothing() {
    let mut s = seeded();
    let before = s.ips.clone();
    assert_eq!(status(alloc(&mut s, req(""))), 400);
    assert_eq!(
        status(alloc(
            &mut s,
            IpAllocateRequest {
                projectid: String::new(),
                ..req("internet")
            }
        )),
        400
    );
    assert_eq!(status(alloc(&mut s, req("no-such-network"))), 404);
    assert_eq!(
        status(alloc(
            &mut s,
            IpAllocateRequest {
                projectid: "nope".into(),
                ..req("internet")
            }
        )),
        404
    );
    assert_eq!(
        status(alloc(&mut s, req("tenant-super-network-fra-equ01"))),
        500
    );
    assert_eq!(s.ips, before);
}

#[test]
fn specific_allocation_rules() {
    let mut s = seeded();
    let ip = alloc_specific(&mut s, req("internet"), "185.1.2.77").unwrap();
    assert_eq!(ip.address.to_string(), "185.1.2.77");
    assert_eq!(
        status(alloc_specific(&mut s, req("internet"), "185.1.2.77")),
        409,
        "taken"
    );
    assert_eq!(
        status(alloc_specific(&mut s, req("internet"), "185.1.2.0")),
        409,
        "network address"
    );
    assert_eq!(
        status(alloc_specific(&mut s, req("internet"), "185.1.2.255")),
        409,
        "broadcast"
    );
    assert_eq!(
        status(alloc_specific(&mut s, req("internet"), "10.9.9.9")),
        422,
        "outside"
    );
    assert_eq!(
        status(alloc_specific(&mut s, req("internet"), "not-an-ip")),
        422,
        "malformed"
    );
    // random allocation skips the taken address
    for _ in 0..76 {
        alloc(&mut s, req("internet")).unwrap();
    }
    assert_eq!(
        alloc(&mut s, req("internet")).unwrap().address.to_string(),
        "185.1.2.78"
    );
}

#[test]
fn exhaustion_is_500_no_ips_left() {
    let mut s = seeded();
    run(&mut s, |s, ctx| {
        networks::create(
            s,
            ctx,
            &NetworkCreateRequest {
                id: "tiny".into(),
                prefixes: vec!["192.0.2.0/30".into()],
                ..Default::default()
            },
        )
    })
    .unwrap();
    alloc(&mut s, req("tiny")).unwrap();
    alloc(&mut s, req("tiny")).unwrap();
    let err = alloc(&mut s, req("tiny")).unwrap_err();
    assert_eq!(err.status, 500);
    assert!(err.message.contains("no ips left"), "{}", err.message);
}

#[test]
fn private_networks_belong_to_their_project() {
    let mut s = seeded();
    let net = run(&mut s, |s, ctx| {
        networks::allocate(
            s,
            ctx,
            &NetworkAllocateRequest {
                projectid: PROJECT.into(),
                partitionid: PARTITION.into(),
                ..Default::default()
            },
        )
    })
    .unwrap();
    alloc(&mut s, req(&net.id)).unwrap();
    assert_eq!(
        status(alloc(
            &mut s,
            IpAllocateRequest {
                projectid: OTHER_PROJECT.into(),
                ..req(&net.id)
            }
        )),
        422
    );
    // external networks accept any project
    alloc(
        &mut s,
        IpAllocateRequest {
            projectid: OTHER_PROJECT.into(),
            ..req("internet")
        },
    )
    .unwrap();
}

#[test]
fn machineid_becomes_a_tag_and_tags_are_deduplicated() {
    let mut s = seeded();
    let ip = alloc(
        &mut s,
        IpAllocateRequest {
            machineid: Some("m1".into()),
            tags: Some(vec!["b=1".into(), "a".into(), "b=1".into()]),
            ..req("internet")
        },
    )
    .unwrap();
    assert_eq!(
        ip.tags,
        vec![
            "a".to_string(),
            "b=1".into(),
            "machine.metal-stack.io/id=m1".into()
        ]
    );
}

fn upd(address: &str) -> IpUpdateRequest {
    IpUpdateRequest {
        ipaddress: address.into(),
        ..Default::default()
    }
}

#[test]
fn update_null_tags_keep_empty_tags_clear() {
    let mut s = seeded();
    let ip = alloc(
        &mut s,
        IpAllocateRequest {
            tags: Some(vec!["x=1".into()]),
            ..req("internet")
        },
    )
    .unwrap();
    let addr = ip.address.to_string();
    let kept = run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &IpUpdateRequest {
                name: Some("n".into()),
                ..upd(&addr)
            },
            None,
        )
    })
    .unwrap();
    assert_eq!(kept.tags, vec!["x=1".to_string()]);
    assert_eq!(kept.name, "n");
    assert_eq!(kept.rev, ip.rev + 1);
    let cleared = run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &IpUpdateRequest {
                tags: Some(vec![]),
                ..upd(&addr)
            },
            None,
        )
    })
    .unwrap();
    assert!(cleared.tags.is_empty());
    assert_eq!(s.ips[&ip.address].tags, Vec::<String>::new());
}

#[test]
fn update_type_rules() {
    let mut s = seeded();
    let ip = alloc(&mut s, req("internet")).unwrap();
    let addr = ip.address.to_string();
    let st = run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &IpUpdateRequest {
                ip_type: Some("static".into()),
                ..upd(&addr)
            },
            None,
        )
    })
    .unwrap();
    assert_eq!(st.ip_type, IpType::Static);
    assert_eq!(
        status(run(&mut s, |s, ctx| update(
            s,
            ctx,
            &IpUpdateRequest {
                ip_type: Some("ephemeral".into()),
                ..upd(&addr)
            },
            None
        ))),
        400
    );
    assert_eq!(
        s.ips[&ip.address].ip_type,
        IpType::Static,
        "refused update changed nothing"
    );
    assert_eq!(
        status(run(&mut s, |s, ctx| update(
            s,
            ctx,
            &upd("185.1.2.200"),
            None
        ))),
        404
    );
}

#[test]
fn update_with_a_stale_revision_is_a_conflict() {
    let mut s = seeded();
    let ip = alloc(&mut s, req("internet")).unwrap();
    let addr = ip.address.to_string();
    run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &IpUpdateRequest {
                name: Some("first".into()),
                ..upd(&addr)
            },
            Some(ip.rev),
        )
    })
    .unwrap();
    let lost = run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &IpUpdateRequest {
                name: Some("second".into()),
                ..upd(&addr)
            },
            Some(ip.rev),
        )
    });
    assert_eq!(lost.unwrap_err(), ApiError::changed_concurrently());
    assert_eq!(s.ips[&ip.address].name, "first");
}

#[test]
fn machine_scope_ips_cannot_be_freed() {
    let mut s = seeded();
    let ip = alloc(
        &mut s,
        IpAllocateRequest {
            machineid: Some("m1".into()),
            ..req("internet")
        },
    )
    .unwrap();
    assert_eq!(
        status(run(&mut s, |s, _| free(s, &ip.address.to_string()))),
        400
    );
    assert!(s.ips.contains_key(&ip.address));
    // scope rule: a machine IP may move to project scope by dropping the machine tag, then be freed
    run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &IpUpdateRequest {
                tags: Some(vec![]),
                ..upd(&ip.address.to_string())
            },
            None,
        )
    })
    .unwrap();
    run(&mut s, |s, _| free(s, &ip.address.to_string())).unwrap();
    assert!(!s.ips.contains_key(&ip.address));
}

#[test]
fn freed_addresses_are_handed_out_again() {
    let mut s = seeded();
    let a = alloc(&mut s, req("internet")).unwrap();
    alloc(&mut s, req("internet")).unwrap();
    run(&mut s, |s, _| free(s, &a.address.to_string())).unwrap();
    assert_eq!(
        status(run(&mut s, |s, _| free(s, &a.address.to_string()))),
        404
    );
    assert_eq!(alloc(&mut s, req("internet")).unwrap().address, a.address);
}

#[test]
fn find_combines_filters_with_and_and_tags_contain_all() {
    let mut s = seeded();
    alloc(
        &mut s,
        IpAllocateRequest {
            tags: Some(vec!["a".into(), "b".into()]),
            name: Some("x".into()),
            ..req("internet")
        },
    )
    .unwrap();
    alloc(
        &mut s,
        IpAllocateRequest {
            tags: Some(vec!["a".into()]),
            name: Some("x".into()),
            ..req("internet")
        },
    )
    .unwrap();
    alloc(
        &mut s,
        IpAllocateRequest {
            machineid: Some("m9".into()),
            addressfamily: Some(AddressFamily::IPv6),
            ..req("internet")
        },
    )
    .unwrap();
    let find = |s: &State, f: IpFindRequest| filters::ips(s, &f).unwrap().len();
    assert_eq!(find(&s, IpFindRequest::default()), 3);
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                tags: Some(vec!["a".into()]),
                ..Default::default()
            }
        ),
        2
    );
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                tags: Some(vec!["a".into(), "b".into()]),
                ..Default::default()
            }
        ),
        1
    );
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                tags: Some(vec!["a".into()]),
                name: Some("y".into()),
                ..Default::default()
            }
        ),
        0
    );
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                machineid: Some("m9".into()),
                ..Default::default()
            }
        ),
        1
    );
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                addressfamily: Some(AddressFamily::IPv6),
                ..Default::default()
            }
        ),
        1
    );
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                networkprefix: Some("185.1.2.0/24".into()),
                ..Default::default()
            }
        ),
        2
    );
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                ip_type: Some("static".into()),
                ..Default::default()
            }
        ),
        0
    );
    assert_eq!(
        find(
            &s,
            IpFindRequest {
                projectid: Some(PROJECT.into()),
                ip_type: Some("ephemeral".into()),
                ..Default::default()
            }
        ),
        3
    );
    assert_eq!(
        filters::ips(
            &s,
            &IpFindRequest {
                networkprefix: Some("bad".into()),
                ..Default::default()
            }
        )
        .unwrap_err()
        .status,
        400
    );
}

#[test]
fn rollback_undoes_every_change_of_a_failed_operation() {
    let mut s = seeded();
    alloc(&mut s, req("internet")).unwrap();
    let before = (s.ips.clone(), s.networks.clone());
    let result: ApiResult<()> = run(&mut s, |s, ctx| {
        allocate(s, ctx, &req("internet"), Wanted::Any)?;
        allocate(s, ctx, &req("internet"), Wanted::Any)?;
        Err(ApiError::internal("boom"))
    });
    assert!(result.is_err());
    assert_eq!((s.ips.clone(), s.networks.clone()), before);
    assert_eq!(
        alloc(&mut s, req("internet")).unwrap().address.to_string(),
        "185.1.2.2"
    );
}
