//! A conformance suite written from the CSI spec (and what the community's csi-sanity checks),
//! run over the real unix socket against the real binary on real lvm2 metadata on loop devices.
//! The machines this runs on have no device-mapper, so the driver runs with `--no-activation`:
//! every controller call is real lvm, metadata only.

mod common;

use common::*;
use tonic::Code;
use volume_manager::csi::controller_client::ControllerClient;
use volume_manager::csi::identity_client::IdentityClient;
use volume_manager::csi::node_client::NodeClient;
use volume_manager::csi::{self, volume_capability::access_mode::Mode};

struct Setup {
    _loops: Vec<Loop>,
    vg: String,
    fast: String,
    driver: Driver,
}

/// Two 256 MiB PVs in the default VG, one 128 MiB PV in a second VG `fast`.
fn setup(extra: &[&str]) -> Setup {
    let loops = vec![
        Loop::new(256 << 20),
        Loop::new(256 << 20),
        Loop::new(128 << 20),
    ];
    let (vg, fast) = (unique("vmc"), unique("vmf"));
    let driver = Driver::start(
        &[
            (&vg, vec![loops[0].path(), loops[1].path()]),
            (&fast, vec![loops[2].path()]),
        ],
        extra,
    );
    Setup {
        _loops: loops,
        vg,
        fast,
        driver,
    }
}

fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> Code {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => s.code(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_and_node_info() {
    if !lvm_here() {
        return;
    }
    let s = setup(&[]);
    let ch = s.driver.channel().await;
    let mut id = IdentityClient::new(ch.clone());
    let info = id
        .get_plugin_info(csi::GetPluginInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.name, "lvm.csi.metal-stack.io");
    assert!(!info.vendor_version.is_empty());
    let caps = id
        .get_plugin_capabilities(csi::GetPluginCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let text = format!("{caps:?}");
    use csi::plugin_capability::{Type, service, volume_expansion};
    let services: Vec<i32> = caps
        .capabilities
        .iter()
        .filter_map(|c| match &c.r#type {
            Some(Type::Service(s)) => Some(s.r#type),
            _ => None,
        })
        .collect();
    assert!(
        services.contains(&(service::Type::ControllerService as i32)),
        "{text}"
    );
    assert!(
        services.contains(&(service::Type::VolumeAccessibilityConstraints as i32)),
        "{text}"
    );
    assert!(caps.capabilities.iter().any(|c| matches!(&c.r#type, Some(Type::VolumeExpansion(e)) if e.r#type == volume_expansion::Type::Online as i32)), "{text}");
    let probe = id.probe(csi::ProbeRequest {}).await.unwrap().into_inner();
    assert_eq!(probe.ready, Some(true));

    let mut node = NodeClient::new(ch.clone());
    let info = node
        .node_get_info(csi::NodeGetInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.node_id, "node-a");
    assert_eq!(
        info.accessible_topology.unwrap().segments["topology.lvm.csi/node"],
        "node-a"
    );
    let caps = node
        .node_get_capabilities(csi::NodeGetCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(caps.capabilities.len(), 5, "{caps:?}");

    let mut ctl = ControllerClient::new(ch);
    let caps = ctl
        .controller_get_capabilities(csi::ControllerGetCapabilitiesRequest {})
        .await
        .unwrap()
        .into_inner();
    let text = format!("{caps:?}");
    assert!(
        !text.contains("ExpandVolume") && caps.capabilities.len() == 10,
        "no controller expansion unless asked: {text}"
    );

    // Probe reports a missing volume group.
    lvm(&["vgremove", "--force", "--yes", &s.fast]);
    let e = id.probe(csi::ProbeRequest {}).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains(&s.fast), "{}", e.message());
}

#[tokio::test(flavor = "multi_thread")]
async fn create_volume_follows_the_spec() {
    if !lvm_here() {
        return;
    }
    let s = setup(&[]);
    let mut ctl = ControllerClient::new(s.driver.channel().await);

    // Argument errors, nothing created.
    assert_eq!(
        code(ctl.create_volume(create_req("", MIB, &[])).await),
        Code::InvalidArgument
    );
    let mut no_caps = create_req("v-nocaps", MIB, &[]);
    no_caps.volume_capabilities.clear();
    assert_eq!(
        code(ctl.create_volume(no_caps).await),
        Code::InvalidArgument
    );
    for params in [
        &[("type", "raid5")][..],
        &[("integrity", "true")],
        &[("vgname", "x")],
        &[("vgName", "nosuch")],
    ] {
        let e = ctl
            .create_volume(create_req("v-bad", MIB, params))
            .await
            .unwrap_err();
        assert_eq!(
            e.code(),
            Code::InvalidArgument,
            "{params:?}: {}",
            e.message()
        );
    }
    let mut multi = create_req("v-multi", MIB, &[]);
    multi.volume_capabilities[0].access_mode = Some(csi::volume_capability::AccessMode {
        mode: Mode::MultiNodeMultiWriter as i32,
    });
    assert_eq!(code(ctl.create_volume(multi).await), Code::InvalidArgument);
    assert!(
        lvs(&s.vg, "lv_name").is_empty(),
        "bad requests created nothing"
    );

    // No capacity: the default size; the real rounded size comes back.
    let v = ctl
        .create_volume(create_req("v-default", 0, &[]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(v.capacity_bytes, 16 * MIB);
    assert_eq!(
        v.accessible_topology[0].segments["topology.lvm.csi/node"],
        "node-a"
    );
    let v = ctl
        .create_volume(create_req("v-10", 10 * MIB + 1, &[]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!((v.volume_id.as_str(), v.capacity_bytes), ("v-10", 12 * MIB));
    assert_eq!(
        lvs(&s.vg, "lv_name,lv_size,lv_tags")
            .iter()
            .find(|l| l.starts_with("v-10|"))
            .unwrap(),
        "v-10|12582912|isBlock=false,lv.metal-stack.io/csi-lvm-driver,lv.metal-stack.io/type=linear"
    );

    // Idempotent on name; a different size is ALREADY_EXISTS.
    let again = ctl
        .create_volume(create_req("v-10", 10 * MIB + 1, &[]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(again, v);
    assert_eq!(
        code(ctl.create_volume(create_req("v-10", 20 * MIB, &[])).await),
        Code::AlreadyExists
    );

    // limit_bytes honoured.
    let mut limited = create_req("v-lim", 5 * MIB, &[]);
    limited.capacity_range.as_mut().unwrap().limit_bytes = 9 * MIB;
    assert_eq!(
        ctl.create_volume(limited)
            .await
            .unwrap()
            .into_inner()
            .volume
            .unwrap()
            .capacity_bytes,
        8 * MIB
    );
    let mut impossible = create_req("v-imp", 5 * MIB, &[]);
    impossible.capacity_range.as_mut().unwrap().limit_bytes = 7 * MIB;
    assert_eq!(code(ctl.create_volume(impossible).await), Code::OutOfRange);

    // The longest name the spec allows.
    let long = "n".repeat(128);
    let a = ctl
        .create_volume(create_req(&long, MIB, &[]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    let b = ctl
        .create_volume(create_req(&long, MIB, &[]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(a.volume_id, b.volume_id);
    assert!(a.volume_id.starts_with("vol-"));

    // Striped over both PVs.
    let st = ctl
        .create_volume(create_req("v-striped", 10 * MIB, &[("type", "striped")]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(st.capacity_bytes, 16 * MIB, "whole stripes of 2 x 4 MiB");
    assert_eq!(
        lvs(&s.vg, "lv_name,segtype,stripes")
            .iter()
            .find(|l| l.starts_with("v-striped|"))
            .unwrap(),
        "v-striped|striped|2"
    );

    // Mirror needs device-mapper to be created: with it a raid1, without it a clear
    // FAILED_PRECONDITION and nothing left behind.
    match ctl
        .create_volume(create_req("v-mirror", 8 * MIB, &[("type", "mirror")]))
        .await
    {
        Ok(_) => assert_eq!(
            lvs(&s.vg, "lv_name,segtype")
                .iter()
                .find(|l| l.starts_with("v-mirror|"))
                .unwrap(),
            "v-mirror|raid1"
        ),
        Err(e) => {
            assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
            assert!(e.message().contains("device-mapper"), "{}", e.message());
            assert!(!lvs(&s.vg, "lv_name").iter().any(|l| l == "v-mirror"));
        }
    }

    // A second volume group by parameter, and the topology requirement.
    let f = ctl
        .create_volume(create_req("v-fast", 8 * MIB, &[("vgName", &s.fast)]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(f.volume_context["vgName"], s.fast);
    assert_eq!(lvs(&s.fast, "lv_name"), ["v-fast"]);
    assert_eq!(
        code(ctl.create_volume(create_req("v-fast", 8 * MIB, &[])).await),
        Code::AlreadyExists,
        "same name in another VG"
    );
    let mut elsewhere = create_req("v-elsewhere", MIB, &[]);
    elsewhere.accessibility_requirements = Some(csi::TopologyRequirement {
        requisite: vec![csi::Topology {
            segments: [("topology.lvm.csi/node".to_string(), "node-b".to_string())].into(),
        }],
        preferred: vec![],
    });
    assert_eq!(
        code(ctl.create_volume(elsewhere).await),
        Code::ResourceExhausted
    );

    // Exhaustion: RESOURCE_EXHAUSTED, nothing created, the driver keeps serving.
    let before = lvs(&s.vg, "lv_name").len();
    let e = ctl
        .create_volume(create_req("v-huge", 2048 * MIB, &[]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{}", e.message());
    assert_eq!(lvs(&s.vg, "lv_name").len(), before);
    let e = ctl
        .create_volume(create_req("v-fast-huge", 200 * MIB, &[("vgName", &s.fast)]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{}", e.message());

    // Unknown content sources.
    let mut from = create_req("v-from", MIB, &[]);
    from.volume_content_source = Some(csi::VolumeContentSource {
        r#type: Some(csi::volume_content_source::Type::Snapshot(
            csi::volume_content_source::SnapshotSource {
                snapshot_id: "nosuch".into(),
            },
        )),
    });
    assert_eq!(code(ctl.create_volume(from).await), Code::NotFound);
    let mut from = create_req("v-from", MIB, &[]);
    from.volume_content_source = Some(csi::VolumeContentSource {
        r#type: Some(csi::volume_content_source::Type::Volume(
            csi::volume_content_source::VolumeSource {
                volume_id: "nosuch".into(),
            },
        )),
    });
    assert_eq!(code(ctl.create_volume(from).await), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread")]
async fn list_capacity_validate_expand_delete() {
    if !lvm_here() {
        return;
    }
    let s = setup(&["--controller-expansion"]);
    let mut ctl = ControllerClient::new(s.driver.channel().await);

    // GetCapacity with an empty request: the default VG, linear.
    let empty = ctl
        .get_capacity(csi::GetCapacityRequest::default())
        .await
        .unwrap()
        .into_inner();
    let free: i64 = lvm(&[
        "vgs",
        "--noheadings",
        "--units",
        "b",
        "--nosuffix",
        "-o",
        "vg_free",
        &s.vg,
    ])
    .parse()
    .unwrap();
    assert_eq!(empty.available_capacity, free);
    let striped = ctl
        .get_capacity(csi::GetCapacityRequest {
            parameters: [("type".to_string(), "striped".to_string())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        striped.available_capacity, free,
        "equal PVs: striped can use all"
    );
    let other_node = ctl
        .get_capacity(csi::GetCapacityRequest {
            accessible_topology: Some(csi::Topology {
                segments: [("topology.lvm.csi/node".to_string(), "node-b".to_string())].into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other_node.available_capacity, 0);
    assert_eq!(
        code(
            ctl.get_capacity(csi::GetCapacityRequest {
                parameters: [("type".to_string(), "raid5".to_string())].into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );

    for name in ["c", "a", "b"] {
        ctl.create_volume(create_req(name, 4 * MIB, &[]))
            .await
            .unwrap();
    }
    let after = ctl
        .get_capacity(csi::GetCapacityRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(after.available_capacity, free - 12 * MIB);

    // ListVolumes: sorted, paged, foreign tokens ABORTED.
    let p1 = ctl
        .list_volumes(csi::ListVolumesRequest {
            max_entries: 2,
            starting_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<String> = p1
        .entries
        .iter()
        .map(|e| e.volume.as_ref().unwrap().volume_id.clone())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    let p2 = ctl
        .list_volumes(csi::ListVolumesRequest {
            max_entries: 2,
            starting_token: p1.next_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(p2.entries[0].volume.as_ref().unwrap().volume_id, "c");
    assert!(p2.next_token.is_empty());
    assert_eq!(
        code(
            ctl.list_volumes(csi::ListVolumesRequest {
                max_entries: 0,
                starting_token: "invalid-token".into()
            })
            .await
        ),
        Code::Aborted
    );
    assert!(
        !p1.entries[0]
            .status
            .as_ref()
            .unwrap()
            .volume_condition
            .as_ref()
            .unwrap()
            .abnormal
    );

    // ValidateVolumeCapabilities.
    let validate =
        |id: &str, caps: Vec<csi::VolumeCapability>| csi::ValidateVolumeCapabilitiesRequest {
            volume_id: id.into(),
            volume_capabilities: caps,
            ..Default::default()
        };
    assert_eq!(
        code(
            ctl.validate_volume_capabilities(validate("", vec![mount_cap("")]))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            ctl.validate_volume_capabilities(validate("a", vec![]))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            ctl.validate_volume_capabilities(validate("nosuch", vec![mount_cap("")]))
                .await
        ),
        Code::NotFound
    );
    let ok = ctl
        .validate_volume_capabilities(validate("a", vec![mount_cap("xfs"), block_cap()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.confirmed.unwrap().volume_capabilities.len(), 2);
    let mut multi = mount_cap("");
    multi.access_mode = Some(csi::volume_capability::AccessMode {
        mode: Mode::MultiNodeReaderOnly as i32,
    });
    let no = ctl
        .validate_volume_capabilities(validate("a", vec![multi]))
        .await
        .unwrap()
        .into_inner();
    assert!(
        no.confirmed.is_none() && no.message.contains("local to one node"),
        "{no:?}"
    );

    // ControllerExpandVolume: grows, idempotent, never shrinks.
    let expand = |id: &str, bytes: i64| csi::ControllerExpandVolumeRequest {
        volume_id: id.into(),
        capacity_range: Some(csi::CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        ..Default::default()
    };
    let r = ctl
        .controller_expand_volume(expand("a", 9 * MIB))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.capacity_bytes, r.node_expansion_required),
        (12 * MIB, true)
    );
    assert_eq!(
        ctl.controller_expand_volume(expand("a", 9 * MIB))
            .await
            .unwrap()
            .into_inner()
            .capacity_bytes,
        12 * MIB
    );
    assert_eq!(
        ctl.controller_expand_volume(expand("a", 4 * MIB))
            .await
            .unwrap()
            .into_inner()
            .capacity_bytes,
        12 * MIB
    );
    assert_eq!(
        lvs(&s.vg, "lv_name,lv_size")
            .iter()
            .find(|l| l.starts_with("a|"))
            .unwrap(),
        "a|12582912"
    );
    assert_eq!(
        code(
            ctl.controller_expand_volume(expand("nosuch", 9 * MIB))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            ctl.controller_expand_volume(csi::ControllerExpandVolumeRequest {
                volume_id: "a".into(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(ctl.controller_expand_volume(expand("a", 4096 * MIB)).await),
        Code::ResourceExhausted
    );
    let got = ctl
        .controller_get_volume(csi::ControllerGetVolumeRequest {
            volume_id: "a".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.volume.unwrap().capacity_bytes, 12 * MIB);

    // DeleteVolume: argument check, idempotent, gone from lvm.
    assert_eq!(
        code(ctl.delete_volume(delete_req("")).await),
        Code::InvalidArgument
    );
    ctl.delete_volume(delete_req("nosuch")).await.unwrap();
    ctl.delete_volume(delete_req("b")).await.unwrap();
    ctl.delete_volume(delete_req("b")).await.unwrap();
    assert_eq!(lvs(&s.vg, "lv_name"), ["a", "c"]);

    // An LV the driver did not create is never deleted.
    lvm(&[
        "lvcreate",
        "--activate",
        "n",
        "--zero",
        "n",
        "--wipesignatures",
        "n",
        "--yes",
        "--name",
        "foreign",
        "--size",
        "4m",
        &s.vg,
    ]);
    ctl.delete_volume(delete_req("foreign")).await.unwrap();
    assert!(lvs(&s.vg, "lv_name").contains(&"foreign".to_string()));
    assert_eq!(
        code(ctl.create_volume(create_req("foreign", 4 * MIB, &[])).await),
        Code::AlreadyExists
    );

    // The REST view agrees.
    let volumes = s.driver.get("/v1/volumes");
    let ids: Vec<&str> = volumes
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "c"]);
    assert_eq!(volumes[0]["size_bytes"], 12 * MIB);
    let groups = s.driver.get("/v1/volumegroups");
    assert_eq!(groups[0]["name"], s.vg.as_str());
    assert_eq!(groups[0]["default"], true);
    assert_eq!(groups[0]["pvs"].as_array().unwrap().len(), 2);
    assert_eq!(groups[1]["name"], s.fast.as_str());
    let capacity = s.driver.get("/v1/capacity");
    assert_eq!(capacity.as_array().unwrap().len(), 6, "3 types x 2 VGs");
    assert_eq!(s.driver.get("/v1/snapshots"), serde_json::json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn snapshots_follow_the_spec() {
    if !lvm_here() {
        return;
    }
    let s = setup(&[]);
    let mut ctl = ControllerClient::new(s.driver.channel().await);
    let snap = |name: &str, source: &str| csi::CreateSnapshotRequest {
        name: name.into(),
        source_volume_id: source.into(),
        ..Default::default()
    };
    assert_eq!(
        code(ctl.create_snapshot(snap("", "v")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(ctl.create_snapshot(snap("s", "")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(ctl.create_snapshot(snap("s", "nosuch")).await),
        Code::NotFound
    );
    ctl.create_volume(create_req("v", 8 * MIB, &[]))
        .await
        .unwrap();
    // A thick COW snapshot needs device-mapper: with it, a snapshot LV of the volume;
    // without it, FAILED_PRECONDITION naming the reason and nothing created.
    match ctl.create_snapshot(snap("snapshot-1", "v")).await {
        Ok(r) => {
            let sn = r.into_inner().snapshot.unwrap();
            assert_eq!((sn.source_volume_id.as_str(), sn.ready_to_use), ("v", true));
            let again = ctl
                .create_snapshot(snap("snapshot-1", "v"))
                .await
                .unwrap()
                .into_inner()
                .snapshot
                .unwrap();
            assert_eq!(again.snapshot_id, sn.snapshot_id);
        }
        Err(e) => {
            assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
            assert!(e.message().contains("device-mapper"), "{}", e.message());
            assert_eq!(lvs(&s.vg, "lv_name"), ["v"]);
        }
    }
    let listed = ctl
        .list_snapshots(csi::ListSnapshotsRequest {
            snapshot_id: "nosuch".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.entries.is_empty());
    assert_eq!(
        code(
            ctl.list_snapshots(csi::ListSnapshotsRequest {
                starting_token: "invalid-token".into(),
                ..Default::default()
            })
            .await
        ),
        Code::Aborted
    );
    assert_eq!(
        code(
            ctl.delete_snapshot(csi::DeleteSnapshotRequest {
                snapshot_id: String::new(),
                ..Default::default()
            })
            .await
        ),
        Code::InvalidArgument
    );
    ctl.delete_snapshot(csi::DeleteSnapshotRequest {
        snapshot_id: "nosuch".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    ctl.delete_snapshot(csi::DeleteSnapshotRequest {
        snapshot_id: "v".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        lvs(&s.vg, "lv_name"),
        ["v"],
        "DeleteSnapshot never removes a volume"
    );
    assert_eq!(
        code(
            ctl.get_snapshot(csi::GetSnapshotRequest {
                snapshot_id: "nosuch".into(),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    // Restoring needs active LVs to copy blocks; without activation it is refused up front.
    let mut from = create_req("restored", 8 * MIB, &[]);
    from.volume_content_source = Some(csi::VolumeContentSource {
        r#type: Some(csi::volume_content_source::Type::Volume(
            csi::volume_content_source::VolumeSource {
                volume_id: "v".into(),
            },
        )),
    });
    let e = ctl.create_volume(from).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert_eq!(lvs(&s.vg, "lv_name"), ["v"]);
}

/// A snapshot lvm holds (made in its metadata: lvm refuses to create one without
/// device-mapper, see `join_as_snapshot`) is listed, found again by CreateSnapshot, protects its
/// origin from DeleteVolume, and goes with DeleteSnapshot.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_lvm_holds_are_listed_protected_and_removed() {
    if !lvm_here() {
        return;
    }
    let s = setup(&[]);
    let mut ctl = ControllerClient::new(s.driver.channel().await);
    ctl.create_volume(create_req("origin", 8 * MIB, &[]))
        .await
        .unwrap();
    let snap_lv = volume_manager::core::names::snapshot_lv_name("snapshot-of-origin");
    lvm(&[
        "lvcreate",
        "--yes",
        "--activate",
        "n",
        "--zero",
        "n",
        "--name",
        &snap_lv,
        "--size",
        "8m",
        "--addtag",
        "lv.metal-stack.io/csi-lvm-snapshot",
        &s.vg,
    ]);
    join_as_snapshot(&s.vg, "origin", &snap_lv);
    assert_eq!(
        lvs(&s.vg, "lv_name,origin"),
        ["origin|".to_string(), format!("{snap_lv}|origin")]
    );

    let listed = ctl
        .list_snapshots(csi::ListSnapshotsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.entries.len(), 1, "{listed:?}");
    let sn = listed.entries[0].snapshot.clone().unwrap();
    assert_eq!(sn.snapshot_id, snap_lv);
    assert_eq!(sn.source_volume_id, "origin");
    assert_eq!(sn.size_bytes, 8 * MIB);
    assert!(sn.ready_to_use);
    let by_source = ctl
        .list_snapshots(csi::ListSnapshotsRequest {
            source_volume_id: "origin".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_source.entries.len(), 1);
    let rest = s.driver.get("/v1/snapshots");
    assert_eq!(rest.as_array().map(Vec::len), Some(1), "{rest}");

    // CreateSnapshot of that name finds it (idempotent); for another source it conflicts.
    let snap = |source: &str| csi::CreateSnapshotRequest {
        name: "snapshot-of-origin".into(),
        source_volume_id: source.into(),
        ..Default::default()
    };
    let again = ctl
        .create_snapshot(snap("origin"))
        .await
        .unwrap()
        .into_inner()
        .snapshot
        .unwrap();
    assert_eq!(again.snapshot_id, snap_lv);
    ctl.create_volume(create_req("other", 4 * MIB, &[]))
        .await
        .unwrap();
    assert_eq!(
        code(ctl.create_snapshot(snap("other")).await),
        Code::AlreadyExists
    );

    // The origin cannot go while its snapshot exists; lvm removes nothing.
    let e = ctl.delete_volume(delete_req("origin")).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains(&snap_lv), "{}", e.message());
    assert_eq!(lvs(&s.vg, "lv_name").len(), 3);

    // Restoring needs active LVs: refused up front without activation.
    let mut from = create_req("restored", 8 * MIB, &[]);
    from.volume_content_source = Some(csi::VolumeContentSource {
        r#type: Some(csi::volume_content_source::Type::Snapshot(
            csi::volume_content_source::SnapshotSource {
                snapshot_id: snap_lv.clone(),
            },
        )),
    });
    let e = ctl.create_volume(from).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());

    // DeleteSnapshot removes the snapshot only; then the origin can go.
    ctl.delete_snapshot(csi::DeleteSnapshotRequest {
        snapshot_id: snap_lv.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(lvs(&s.vg, "lv_name"), ["origin", "other"]);
    assert!(
        ctl.list_snapshots(csi::ListSnapshotsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .entries
            .is_empty()
    );
    ctl.delete_volume(delete_req("origin")).await.unwrap();
    assert_eq!(lvs(&s.vg, "lv_name"), ["other"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn node_argument_errors() {
    if !lvm_here() {
        return;
    }
    let s = setup(&[]);
    let mut node = NodeClient::new(s.driver.channel().await);
    let target = s.driver.dir.path().join("target").display().to_string();
    let publish = |id: &str, target: &str, cap: Option<csi::VolumeCapability>| {
        csi::NodePublishVolumeRequest {
            volume_id: id.into(),
            target_path: target.into(),
            staging_target_path: "/tmp/staging".into(),
            volume_capability: cap,
            ..Default::default()
        }
    };
    for req in [
        publish("", &target, Some(mount_cap(""))),
        publish("v", "", Some(mount_cap(""))),
        publish("v", &target, None),
    ] {
        assert_eq!(
            code(node.node_publish_volume(req).await),
            Code::InvalidArgument
        );
    }
    assert_eq!(
        code(
            node.node_publish_volume(publish("nosuch", &target, Some(mount_cap(""))))
                .await
        ),
        Code::NotFound
    );
    for (id, path) in [("", target.as_str()), ("v", "")] {
        let r = node
            .node_unpublish_volume(csi::NodeUnpublishVolumeRequest {
                volume_id: id.into(),
                target_path: path.into(),
            })
            .await;
        assert_eq!(code(r), Code::InvalidArgument);
    }
    let stage =
        |id: &str, path: &str, cap: Option<csi::VolumeCapability>| csi::NodeStageVolumeRequest {
            volume_id: id.into(),
            staging_target_path: path.into(),
            volume_capability: cap,
            ..Default::default()
        };
    for req in [
        stage("", "/tmp/s", Some(mount_cap(""))),
        stage("v", "", Some(mount_cap(""))),
        stage("v", "/tmp/s", None),
    ] {
        assert_eq!(
            code(node.node_stage_volume(req).await),
            Code::InvalidArgument
        );
    }
    for (id, path) in [("", "/tmp/s"), ("v", "")] {
        assert_eq!(
            code(
                node.node_unstage_volume(csi::NodeUnstageVolumeRequest {
                    volume_id: id.into(),
                    staging_target_path: path.into()
                })
                .await
            ),
            Code::InvalidArgument
        );
    }
    let stats = |id: &str, path: &str| csi::NodeGetVolumeStatsRequest {
        volume_id: id.into(),
        volume_path: path.into(),
        ..Default::default()
    };
    assert_eq!(
        code(node.node_get_volume_stats(stats("", "/tmp")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(node.node_get_volume_stats(stats("v", "")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(node.node_get_volume_stats(stats("nosuch", "/tmp")).await),
        Code::NotFound
    );
    let mut ctl = ControllerClient::new(s.driver.channel().await);
    ctl.create_volume(create_req("v", 4 * MIB, &[]))
        .await
        .unwrap();
    assert_eq!(
        code(
            node.node_get_volume_stats(stats("v", "/nonexistent/path"))
                .await
        ),
        Code::NotFound
    );
    let expand = |id: &str, path: &str| csi::NodeExpandVolumeRequest {
        volume_id: id.into(),
        volume_path: path.into(),
        ..Default::default()
    };
    assert_eq!(
        code(node.node_expand_volume(expand("", "/tmp")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(node.node_expand_volume(expand("v", "")).await),
        Code::InvalidArgument
    );
    assert_eq!(
        code(node.node_expand_volume(expand("nosuch", "/tmp")).await),
        Code::NotFound
    );
    // Without activation there is no device: a clear FAILED_PRECONDITION, not a crash.
    let e = node
        .node_stage_volume(stage(
            "v",
            &format!("{target}-staging"),
            Some(mount_cap("")),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(e.message().contains("--no-activation"), "{}", e.message());
    // Controller publish is not needed for local volumes.
    assert_eq!(
        code(
            ctl.controller_publish_volume(csi::ControllerPublishVolumeRequest::default())
                .await
        ),
        Code::Unimplemented
    );
}
