use super::*;
use crate::core::filters;
use crate::core::networks;
use crate::core::testing::{OTHER_PROJECT, PARTITION, PROJECT, run, seeded};
use metal_api_sdk::model::{
    IpType, MachineAllocationNetwork, MachineFindRequest, NetworkAllocateRequest,
};

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBnY9n1bZZHpS0x0Qf4y8x7JbX9b5wVdM1f2E1G3H4I5 user@host";

fn private_network(s: &mut State, project: &str) -> String {
    run(s, |s, ctx| {
        networks::allocate(
            s,
            ctx,
            &NetworkAllocateRequest {
                projectid: project.into(),
                partitionid: PARTITION.into(),
                ..Default::default()
            },
        )
    })
    .unwrap()
    .id
}

fn req(network: &str) -> MachineAllocateRequest {
    MachineAllocateRequest {
        name: Some("worker-1".into()),
        hostname: Some("worker-1".into()),
        projectid: PROJECT.into(),
        partitionid: PARTITION.into(),
        sizeid: "c1-large-x86".into(),
        imageid: "ubuntu-24.04".into(),
        ssh_pub_keys: vec![KEY.into()],
        networks: Some(vec![MachineAllocationNetwork {
            networkid: network.into(),
            autoacquire: true,
        }]),
        tags: Some(vec![
            "cluster.metal-stack.io/id=c1".into(),
            "role=worker".into(),
            "role=node".into(),
        ]),
        ..Default::default()
    }
}

fn alloc(s: &mut State, r: MachineAllocateRequest) -> ApiResult<Machine> {
    run(s, |s, ctx| {
        allocate(s, ctx, &r, MachineRole::Machine, "Metal-Edit")
    })
}

#[test]
fn allocation_acquires_ips_and_sets_system_tags() {
    let mut s = seeded();
    let net = private_network(&mut s, PROJECT);
    let m = alloc(&mut s, req(&net)).unwrap();
    let a = m.allocation.as_ref().unwrap();
    assert_eq!(m.sizeid, "c1-large-x86");
    assert_eq!(
        a.image.as_ref().unwrap().id,
        "ubuntu-24.04.20260101",
        "latest image resolved"
    );
    assert_eq!(a.role, MachineRole::Machine);
    assert_eq!(a.creator, "Metal-Edit");
    assert_eq!(a.networks.len(), 1);
    let n = &a.networks[0];
    assert_eq!(n.networktype, "privateprimaryunshared");
    assert_eq!(n.asn, ASN_BASE);
    assert_eq!(n.ips, vec!["10.128.0.1".to_string()]);
    let ip = &s.ips[&"10.128.0.1".parse().unwrap()];
    assert_eq!(ip.tags, vec![format!("machine.metal-stack.io/id={}", m.id)]);
    assert_eq!(
        (ip.name.as_str(), ip.description.as_str(), ip.ip_type),
        ("worker-1", "autoassigned", IpType::Ephemeral)
    );
    for t in [
        "cluster.metal-stack.io/id=c1",
        "role=node",
        "machine.metal-stack.io/network.primary.asn=4200000001",
    ] {
        assert!(m.tags.contains(&t.to_string()), "{t} in {:?}", m.tags);
    }
    assert!(
        !m.tags.contains(&"role=worker".to_string()),
        "k=v tags de-duplicated by key"
    );
    assert!(
        m.tags
            .iter()
            .any(|t| t.starts_with("machine.metal-stack.io/rack="))
    );
    assert!(
        m.tags
            .iter()
            .any(|t| t.starts_with("machine.metal-stack.io/chassis="))
    );
    assert_eq!(a.dns_servers.len(), 2, "partition DNS servers by default");
}

#[test]
fn no_machine_available_when_the_size_is_used_up_and_unfit_machines_are_skipped() {
    let mut s = seeded();
    let net = private_network(&mut s, PROJECT);
    let large: Vec<String> = s
        .machines
        .values()
        .filter(|m| m.sizeid == "c1-large-x86")
        .map(|m| m.id.clone())
        .collect();
    assert_eq!(large.len(), 4);
    // One dead, one locked, one reserved: only one is allocatable.
    s.machines.get_mut(&large[0]).unwrap().liveliness = "Dead".into();
    s.machines.get_mut(&large[1]).unwrap().state.value = "LOCKED".into();
    s.machines.get_mut(&large[2]).unwrap().state.value = "RESERVED".into();
    let m = alloc(&mut s, req(&net)).unwrap();
    assert_eq!(m.id, large[3]);
    let err = alloc(&mut s, req(&net)).unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (422, "no machine available")
    );
    assert_eq!(s.ips.len(), 1, "the failed allocation acquired no IP");
}

#[test]
fn placement_tags_spread_machines_over_racks() {
    let mut s = seeded();
    let net = private_network(&mut s, PROJECT);
    let placement = Some(vec!["cluster.metal-stack.io/id=c1".to_string()]);
    let racks: Vec<Option<String>> = (0..2)
        .map(|_| {
            alloc(
                &mut s,
                MachineAllocateRequest {
                    placement_tags: placement.clone(),
                    ..req(&net)
                },
            )
            .unwrap()
            .rackid
        })
        .collect();
    assert_ne!(
        racks[0], racks[1],
        "two machines of one cluster land in different racks"
    );
}

#[test]
fn network_rules() {
    let mut s = seeded();
    let mine = private_network(&mut s, PROJECT);
    let theirs = private_network(&mut s, OTHER_PROJECT);
    let code = |s: &mut State, r| alloc(s, r).unwrap_err().status;
    let nets = |ids: &[&str]| {
        Some(
            ids.iter()
                .map(|id| MachineAllocationNetwork {
                    networkid: id.to_string(),
                    autoacquire: true,
                })
                .collect(),
        )
    };
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                networks: nets(&[&mine, &theirs]),
                ..req(&mine)
            }
        ),
        400,
        "two private"
    );
    assert_eq!(code(&mut s, req(&theirs)), 400, "another project's network");
    assert_eq!(
        code(&mut s, req("tenant-super-network-fra-equ01")),
        400,
        "private super"
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                networks: nets(&[&mine, "underlay-fra-equ01"]),
                ..req(&mine)
            }
        ),
        400,
        "underlay"
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                networks: nets(&["internet"]),
                ..req(&mine)
            }
        ),
        400,
        "no private"
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                networks: None,
                ..req(&mine)
            }
        ),
        400,
        "no networks"
    );
    assert_eq!(code(&mut s, req("nope")), 404);
    let m = alloc(
        &mut s,
        MachineAllocateRequest {
            networks: nets(&[&mine, "internet"]),
            ..req(&mine)
        },
    )
    .unwrap();
    let types: Vec<&str> = m
        .allocation
        .as_ref()
        .unwrap()
        .networks
        .iter()
        .map(|n| n.networktype.as_str())
        .collect();
    assert_eq!(types, vec!["privateprimaryunshared", "external"]);
    assert!(
        s.machines
            .values()
            .filter(|m| m.allocation.is_some())
            .count()
            == 1
    );
}

#[test]
fn request_validation() {
    let mut s = seeded();
    let net = private_network(&mut s, PROJECT);
    let code = |s: &mut State, r| alloc(s, r).unwrap_err().status;
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                projectid: String::new(),
                ..req(&net)
            }
        ),
        400
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                projectid: "nope".into(),
                ..req(&net)
            }
        ),
        404
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                sizeid: String::new(),
                ..req(&net)
            }
        ),
        400
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                sizeid: "nope".into(),
                ..req(&net)
            }
        ),
        404
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                imageid: "firewall-ubuntu-3.0".into(),
                ..req(&net)
            }
        ),
        400,
        "image lacks feature"
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                imageid: "debian-12".into(),
                ..req(&net)
            }
        ),
        404
    );
    assert_eq!(
        code(
            &mut s,
            MachineAllocateRequest {
                ssh_pub_keys: vec!["not a key".into()],
                ..req(&net)
            }
        ),
        400
    );
    assert!(s.machines.values().all(|m| m.allocation.is_none()));
}

#[test]
fn exhausting_the_private_network_rolls_the_whole_allocation_back() {
    let mut s = seeded();
    let net = run(&mut s, |s, ctx| {
        networks::allocate(
            s,
            ctx,
            &NetworkAllocateRequest {
                projectid: PROJECT.into(),
                partitionid: PARTITION.into(),
                length: Some([("IPv4".to_string(), 31)].into()),
                ..Default::default()
            },
        )
    })
    .unwrap()
    .id;
    let medium = MachineAllocateRequest {
        sizeid: "c1-medium-x86".into(),
        ..req(&net)
    };
    alloc(&mut s, medium.clone()).unwrap();
    alloc(&mut s, medium.clone()).unwrap();
    let before = (s.machines.clone(), s.ips.clone());
    let err = alloc(&mut s, medium).unwrap_err();
    assert_eq!(err.status, 500);
    assert_eq!(
        (s.machines.clone(), s.ips.clone()),
        before,
        "nothing half-allocated"
    );
}

#[test]
fn free_releases_ephemeral_ips_keeps_static_ones_and_refuses_locked_machines() {
    let mut s = seeded();
    let net = private_network(&mut s, PROJECT);
    let static_ip = run(&mut s, |s, ctx| {
        crate::core::ips::allocate(
            s,
            ctx,
            &metal_api_sdk::model::IpAllocateRequest {
                networkid: "internet".into(),
                projectid: PROJECT.into(),
                ip_type: Some("static".into()),
                ..Default::default()
            },
            crate::core::ips::Wanted::Any,
        )
    })
    .unwrap();
    let m = alloc(
        &mut s,
        MachineAllocateRequest {
            networks: Some(vec![MachineAllocationNetwork {
                networkid: net.clone(),
                autoacquire: true,
            }]),
            ips: Some(vec![static_ip.address.to_string()]),
            ..req(&net)
        },
    )
    .unwrap();
    assert!(
        s.ips[&static_ip.address]
            .tags
            .contains(&format!("machine.metal-stack.io/id={}", m.id))
    );
    s.machines.get_mut(&m.id).unwrap().state.value = "LOCKED".into();
    assert_eq!(
        run(&mut s, |s, ctx| free(s, ctx, &m.id))
            .unwrap_err()
            .status,
        422
    );
    s.machines.get_mut(&m.id).unwrap().state.value = String::new();
    let freed = run(&mut s, |s, ctx| free(s, ctx, &m.id)).unwrap();
    assert!(freed.allocation.is_none() && freed.tags.is_empty());
    assert_eq!(s.ips.len(), 1, "the ephemeral machine IP is gone");
    assert!(
        s.ips[&static_ip.address].tags.is_empty(),
        "the static IP stays, untagged"
    );
    assert_eq!(
        run(&mut s, |s, ctx| free(s, ctx, "nope"))
            .unwrap_err()
            .status,
        404
    );
    // the machine is allocatable again
    alloc(&mut s, req(&net)).unwrap();
}

#[test]
fn update_rules() {
    let mut s = seeded();
    let net = private_network(&mut s, PROJECT);
    let free_id = s.machines.keys().next().unwrap().clone();
    let upd = |id: &str| MachineUpdateRequest {
        id: id.into(),
        ..Default::default()
    };
    assert_eq!(
        run(&mut s, |s, ctx| update(s, ctx, &upd(&free_id), None))
            .unwrap_err()
            .status,
        400,
        "not allocated"
    );
    let m = alloc(&mut s, req(&net)).unwrap();
    let kept = run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &MachineUpdateRequest {
                tags: Some(vec![]),
                description: Some("d".into()),
                ..upd(&m.id)
            },
            None,
        )
    })
    .unwrap();
    assert_eq!(kept.tags, m.tags, "empty tags leave them alone");
    assert_eq!(kept.description.as_deref(), Some("d"));
    let replaced = run(&mut s, |s, ctx| {
        update(
            s,
            ctx,
            &MachineUpdateRequest {
                tags: Some(vec!["x=y".into()]),
                ..upd(&m.id)
            },
            None,
        )
    })
    .unwrap();
    assert!(replaced.tags.contains(&"x=y".to_string()));
    assert!(!replaced.tags.contains(&"role=node".to_string()));
    assert!(
        replaced
            .tags
            .contains(&"machine.metal-stack.io/network.primary.asn=4200000001".to_string()),
        "system labels kept"
    );
    assert_eq!(
        run(&mut s, |s, ctx| update(s, ctx, &upd(&m.id), Some(m.rev)))
            .unwrap_err()
            .status,
        409
    );
    assert_eq!(
        run(&mut s, |s, ctx| update(s, ctx, &upd("nope"), None))
            .unwrap_err()
            .status,
        404
    );
}

#[test]
fn firewalls_get_the_underlay_and_need_a_firewall_image() {
    let mut s = seeded();
    let net = private_network(&mut s, PROJECT);
    let fw = MachineAllocateRequest {
        sizeid: "n1-medium-x86".into(),
        imageid: "firewall-ubuntu-3.0".into(),
        ..req(&net)
    };
    assert_eq!(
        alloc(&mut s, fw.clone()).unwrap_err().status,
        400,
        "machine role with firewall image"
    );
    let m = run(&mut s, |s, ctx| {
        allocate(s, ctx, &fw, MachineRole::Firewall, "Metal-Edit")
    })
    .unwrap();
    let nets: Vec<&str> = m
        .allocation
        .as_ref()
        .unwrap()
        .networks
        .iter()
        .map(|n| n.networkid.as_str())
        .collect();
    assert!(nets.contains(&"underlay-fra-equ01"));
    let found = filters::machines(
        &s,
        &MachineFindRequest {
            allocation_role: Some("firewall".into()),
            ..Default::default()
        },
    );
    assert_eq!(found.len(), 1);
    let by_tag = filters::machines(
        &s,
        &MachineFindRequest {
            tags: Some(vec!["cluster.metal-stack.io/id=c1".into()]),
            allocation_project: Some(PROJECT.into()),
            ..Default::default()
        },
    );
    assert_eq!(by_tag.len(), 1);
}

#[test]
fn register_adds_inventory() {
    let mut s = seeded();
    let r = MachineRegisterRequest {
        id: "new".into(),
        partitionid: PARTITION.into(),
        sizeid: "c1-large-x86".into(),
        ..Default::default()
    };
    let m = run(&mut s, |s, ctx| register(s, ctx, &r)).unwrap();
    assert_eq!(
        (m.liveliness.as_str(), m.state.value.as_str()),
        ("Alive", "")
    );
    assert_eq!(
        run(&mut s, |s, ctx| register(s, ctx, &r))
            .unwrap_err()
            .status,
        409
    );
    assert_eq!(
        run(&mut s, |s, ctx| register(
            s,
            ctx,
            &MachineRegisterRequest {
                id: "x".into(),
                sizeid: "nope".into(),
                ..r.clone()
            }
        ))
        .unwrap_err()
        .status,
        404
    );
}
