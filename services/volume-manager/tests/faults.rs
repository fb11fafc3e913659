//! Faults against real lvm2 metadata: the driver killed right after lvm did the work and before
//! the gRPC reply, then restarted; and many concurrent calls for one name.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;
use tonic::Code;
use volume_manager::csi;
use volume_manager::csi::controller_client::ControllerClient;

/// An `--lvm` program that runs the real lvm and, the first time it sees `sub`, SIGKILLs its
/// parent (the driver) after lvm has finished: the change is on disk, the reply never sent.
fn killing_lvm(dir: &Path, sub: &str) -> PathBuf {
    let marker = dir.join(format!("killed-on-{sub}"));
    let script = dir.join(format!("lvm-kill-on-{sub}"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nlvm \"$@\"\nrc=$?\nif [ \"$1\" = {sub} ] && [ ! -e {m} ]; then\n  \
             touch {m}\n  kill -9 $PPID\nfi\nexit $rc\n",
            m = marker.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn lv_uuids(vg: &str) -> Vec<String> {
    lvs(vg, "lv_name,lv_uuid,lv_size")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_driver_killed_before_its_reply_gives_the_same_volume_on_retry() {
    if !lvm_here() {
        return;
    }
    let pv = Loop::new(128 << 20);
    let vg = unique("vmf");
    let scripts = tempfile::tempdir().unwrap();

    // CreateVolume: lvcreate succeeds, the driver dies before answering.
    let create_killer = killing_lvm(scripts.path(), "lvcreate");
    let mut first = Driver::start_in(
        tempfile::tempdir().unwrap(),
        &[(&vg, vec![pv.path()])],
        &[],
        Some(&create_killer),
    );
    let mut ctl = ControllerClient::new(first.channel().await);
    let lost = ctl
        .create_volume(create_req("pvc-crash", 20 * MIB, &[]))
        .await
        .expect_err("the driver died before replying");
    assert!(
        matches!(
            lost.code(),
            Code::Unavailable | Code::Unknown | Code::Internal
        ),
        "{lost:?}"
    );
    let status = first.child.wait().unwrap();
    assert!(!status.success(), "killed: {status}");
    let after_crash = lv_uuids(&vg);
    assert_eq!(after_crash.len(), 1, "lvcreate ran: {after_crash:?}");
    // The next process owns the VG from here on.
    let guards = std::mem::take(&mut first.guards);

    // Restarted (deletes are killed next): the retry is answered from the LV that exists.
    let delete_killer = killing_lvm(scripts.path(), "lvremove");
    let mut second = Driver::start_in(
        tempfile::tempdir().unwrap(),
        &[(&vg, vec![pv.path()])],
        &[],
        Some(&delete_killer),
    );
    std::mem::forget(std::mem::take(&mut second.guards));
    let mut ctl = ControllerClient::new(second.channel().await);
    let retried = ctl
        .create_volume(create_req("pvc-crash", 20 * MIB, &[]))
        .await
        .unwrap()
        .into_inner()
        .volume
        .unwrap();
    assert_eq!(retried.volume_id, "pvc-crash");
    assert_eq!(retried.capacity_bytes, 20 * MIB);
    assert_eq!(lv_uuids(&vg), after_crash, "no second LV, the same one");

    // DeleteVolume: lvremove succeeds, the driver dies; the retry reports success.
    let delete = delete_req("pvc-crash");
    ctl.delete_volume(delete.clone())
        .await
        .expect_err("the driver died before replying");
    second.child.wait().unwrap();
    assert!(lv_uuids(&vg).is_empty());
    let third = Driver::start_in(
        tempfile::tempdir().unwrap(),
        &[(&vg, vec![pv.path()])],
        &[],
        None,
    );
    let mut ctl = ControllerClient::new(third.channel().await);
    ctl.delete_volume(delete).await.unwrap();
    drop(guards);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_of_one_name_make_one_volume() {
    if !lvm_here() {
        return;
    }
    let pv = Loop::new(128 << 20);
    let vg = unique("vmc");
    let driver = Driver::start(&[(&vg, vec![pv.path()])], &[]);
    let channel = driver.channel().await;
    let calls = (0..16).map(|_| {
        let mut ctl = ControllerClient::new(channel.clone());
        tokio::spawn(async move {
            ctl.create_volume(create_req("pvc-same", 8 * MIB, &[]))
                .await
        })
    });
    let volumes: Vec<csi::Volume> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().into_inner().volume.unwrap())
        .collect();
    assert_eq!(volumes.len(), 16);
    assert!(volumes.iter().all(|v| v == &volumes[0]), "{volumes:?}");
    assert_eq!(lvs(&vg, "lv_name"), ["pvc-same"]);

    // The same name with another size, concurrently with itself: one answer each, the LV as
    // it was.
    let calls = (0..8).map(|_| {
        let mut ctl = ControllerClient::new(channel.clone());
        tokio::spawn(async move {
            ctl.create_volume(create_req("pvc-same", 12 * MIB, &[]))
                .await
        })
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.unwrap().unwrap_err().code(), Code::AlreadyExists);
    }
    assert_eq!(lvs(&vg, "lv_name,lv_size"), ["pvc-same|8388608"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_made_behind_the_drivers_back_are_seen() {
    if !lvm_here() {
        return;
    }
    let pv = Loop::new(128 << 20);
    let vg = unique("vmb");
    let driver = Driver::start(&[(&vg, vec![pv.path()])], &[]);
    let mut ctl = ControllerClient::new(driver.channel().await);
    ctl.create_volume(create_req("pvc-gone", 8 * MIB, &[]))
        .await
        .unwrap();
    let before = lv_uuids(&vg);

    // An operator removes the LV: the retried CreateVolume makes it again.
    lvm(&["lvremove", "--yes", &format!("{vg}/pvc-gone")]);
    ctl.create_volume(create_req("pvc-gone", 8 * MIB, &[]))
        .await
        .unwrap();
    let after = lv_uuids(&vg);
    assert_eq!(after.len(), 1);
    assert_ne!(after, before, "a new LV, not the removed one");

    // An LV with the driver's tags that the driver never made: DeleteVolume removes it.
    lvm(&[
        "lvcreate",
        "--yes",
        "--activate",
        "n",
        "--zero",
        "n",
        "--name",
        "pvc-foreign-made",
        "--size",
        "4m",
        "--addtag",
        "lv.metal-stack.io/csi-lvm-driver",
        &vg,
    ]);
    ctl.delete_volume(delete_req("pvc-foreign-made"))
        .await
        .unwrap();
    assert_eq!(lvs(&vg, "lv_name"), ["pvc-gone"]);

    // Space freed behind its back is used: fill the VG, free it outside, create again.
    lvm(&[
        "lvcreate",
        "--yes",
        "--activate",
        "n",
        "--zero",
        "n",
        "--name",
        "filler",
        "--extents",
        "100%FREE",
        &vg,
    ]);
    let full = ctl
        .create_volume(create_req("pvc-big", 64 * MIB, &[]))
        .await
        .unwrap_err();
    assert_eq!(
        full.code(),
        Code::ResourceExhausted,
        "lvm refused: {full:?}"
    );
    let full = ctl
        .create_volume(create_req("pvc-big", 64 * MIB, &[]))
        .await
        .unwrap_err();
    assert_eq!(
        full.code(),
        Code::ResourceExhausted,
        "the model knows: {full:?}"
    );
    lvm(&["lvremove", "--yes", &format!("{vg}/filler")]);
    ctl.create_volume(create_req("pvc-big", 64 * MIB, &[]))
        .await
        .unwrap();
}
