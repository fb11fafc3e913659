//! The node side on real block devices: the driver runs with `--no-activation` (no
//! device-mapper here) and `--dev-dir` pointing at a directory where each LV's device node is a
//! loop device standing in for the active LV. Formatting, mounting, binding, statistics and
//! growth are the real thing on that device.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tonic::Code;
use volume_manager::csi;
use volume_manager::csi::controller_client::ControllerClient;
use volume_manager::csi::node_client::NodeClient;

struct Setup {
    _pv: Loop,
    vg: String,
    driver: Driver,
    dev_dir: PathBuf,
}

fn setup() -> Setup {
    let pv = Loop::new(256 << 20);
    let vg = unique("vmn");
    let dir = tempfile::tempdir().unwrap();
    let dev_dir = dir.path().join("dev");
    std::fs::create_dir_all(dev_dir.join(&vg)).unwrap();
    let driver = Driver::start_in(
        dir,
        &[(&vg, vec![pv.path()])],
        &["--dev-dir", dev_dir.to_str().unwrap()],
        None,
    );
    Setup {
        _pv: pv,
        vg,
        driver,
        dev_dir,
    }
}

impl Setup {
    /// Makes `stand_in` the device node of LV `lv`.
    fn attach(&self, lv: &str, stand_in: &Loop) {
        std::os::unix::fs::symlink(&stand_in.dev, self.dev_dir.join(&self.vg).join(lv)).unwrap();
    }

    fn path(&self, name: &str) -> PathBuf {
        self.driver.dir.path().join(name)
    }
}

fn blkid_type(dev: &Path) -> String {
    let out = std::process::Command::new("blkid")
        .args(["-p", "-o", "value", "-s", "TYPE"])
        .arg(dev)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn is_mounted(path: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
}

fn stage_req(id: &str, staging: &Path, cap: csi::VolumeCapability) -> csi::NodeStageVolumeRequest {
    csi::NodeStageVolumeRequest {
        volume_id: id.into(),
        staging_target_path: staging.display().to_string(),
        volume_capability: Some(cap),
        ..Default::default()
    }
}

fn publish_req(
    id: &str,
    staging: &Path,
    target: &Path,
    cap: csi::VolumeCapability,
) -> csi::NodePublishVolumeRequest {
    csi::NodePublishVolumeRequest {
        volume_id: id.into(),
        staging_target_path: staging.display().to_string(),
        target_path: target.display().to_string(),
        volume_capability: Some(cap),
        ..Default::default()
    }
}

fn unpublish_req(id: &str, target: &Path) -> csi::NodeUnpublishVolumeRequest {
    csi::NodeUnpublishVolumeRequest {
        volume_id: id.into(),
        target_path: target.display().to_string(),
    }
}

async fn volume_stats(
    node: &mut NodeClient<tonic::transport::Channel>,
    id: &str,
    path: &Path,
) -> csi::NodeGetVolumeStatsResponse {
    node.node_get_volume_stats(csi::NodeGetVolumeStatsRequest {
        volume_id: id.into(),
        volume_path: path.display().to_string(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
}

fn usage(
    stats: &csi::NodeGetVolumeStatsResponse,
    unit: csi::volume_usage::Unit,
) -> csi::VolumeUsage {
    stats
        .usage
        .iter()
        .find(|u| u.unit == unit as i32)
        .cloned()
        .expect("usage of that unit")
}

#[tokio::test(flavor = "multi_thread")]
async fn filesystem_volume_keeps_its_data_across_remounts() {
    if !lvm_here() {
        return;
    }
    let s = setup();
    let ch = s.driver.channel().await;
    let (mut ctl, mut node) = (ControllerClient::new(ch.clone()), NodeClient::new(ch));
    ctl.create_volume(create_req("data", 64 * MIB, &[]))
        .await
        .unwrap();
    let disk = Loop::new(64 << 20);
    s.attach("data", &disk);
    let (staging, target) = (s.path("staging"), s.path("pods/p1/mount"));
    std::fs::create_dir_all(&staging).unwrap();

    // Stage formats the blank device (ext4 by default) and mounts it; publish binds it.
    node.node_stage_volume(stage_req("data", &staging, mount_cap("")))
        .await
        .unwrap();
    assert_eq!(blkid_type(&disk.dev), "ext4");
    node.node_stage_volume(stage_req("data", &staging, mount_cap("")))
        .await
        .unwrap();
    node.node_publish_volume(publish_req("data", &staging, &target, mount_cap("")))
        .await
        .unwrap();
    node.node_publish_volume(publish_req("data", &staging, &target, mount_cap("")))
        .await
        .unwrap();
    std::fs::write(target.join("hello"), "kept").unwrap();

    // Statistics: bytes and inodes of the filesystem.
    let stats = volume_stats(&mut node, "data", &target).await;
    let bytes = usage(&stats, csi::volume_usage::Unit::Bytes);
    assert!(
        bytes.total > 50 * MIB && bytes.total <= 64 * MIB,
        "{bytes:?}"
    );
    assert!(bytes.used > 0 && bytes.available > 0);
    assert!(usage(&stats, csi::volume_usage::Unit::Inodes).total > 1000);
    assert!(!stats.volume_condition.unwrap().abnormal);

    // Unpublish removes the target path; unstage unmounts; re-stage never reformats.
    node.node_unpublish_volume(unpublish_req("data", &target))
        .await
        .unwrap();
    assert!(!target.exists(), "NodeUnpublish removes the target path");
    node.node_unpublish_volume(unpublish_req("data", &target))
        .await
        .unwrap();
    node.node_unstage_volume(csi::NodeUnstageVolumeRequest {
        volume_id: "data".into(),
        staging_target_path: staging.display().to_string(),
    })
    .await
    .unwrap();
    assert!(!is_mounted(&staging));
    node.node_stage_volume(stage_req("data", &staging, mount_cap("")))
        .await
        .unwrap();
    node.node_publish_volume(publish_req("data", &staging, &target, mount_cap("")))
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("hello")).unwrap(),
        "kept",
        "data survives unmount and re-mount"
    );

    // Read-only publish.
    let ro = s.path("pods/p2/mount");
    let mut req = publish_req("data", &staging, &ro, mount_cap(""));
    req.readonly = true;
    node.node_publish_volume(req).await.unwrap();
    assert!(
        std::fs::write(ro.join("x"), "no").is_err(),
        "read-only bind"
    );
    node.node_unpublish_volume(unpublish_req("data", &ro))
        .await
        .unwrap();

    // A filesystem of another type is never overwritten.
    let e = node
        .node_stage_volume(stage_req("data", &s.path("staging-xfs"), mount_cap("xfs")))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert_eq!(blkid_type(&disk.dev), "ext4");

    node.node_unpublish_volume(unpublish_req("data", &target))
        .await
        .unwrap();
    node.node_unstage_volume(csi::NodeUnstageVolumeRequest {
        volume_id: "data".into(),
        staging_target_path: staging.display().to_string(),
    })
    .await
    .unwrap();
    assert!(!is_mounted(&staging));
}

#[tokio::test(flavor = "multi_thread")]
async fn xfs_block_and_ephemeral_volumes() {
    if !lvm_here() {
        return;
    }
    let s = setup();
    let ch = s.driver.channel().await;
    let (mut ctl, mut node) = (ControllerClient::new(ch.clone()), NodeClient::new(ch));

    // XFS, formatted so that kernels before 5.19 can mount it.
    ctl.create_volume(create_req("x", 300 * MIB / 2, &[]))
        .await
        .unwrap();
    let xdisk = Loop::new(320 << 20);
    s.attach("x", &xdisk);
    let staging = s.path("xstaging");
    std::fs::create_dir_all(&staging).unwrap();
    node.node_stage_volume(stage_req("x", &staging, mount_cap("xfs")))
        .await
        .unwrap();
    assert_eq!(blkid_type(&xdisk.dev), "xfs");
    let info = std::process::Command::new("xfs_info")
        .arg(&staging)
        .output()
        .unwrap();
    let info = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.contains("nrext64=0") || !info.contains("nrext64"),
        "{info}"
    );
    let target = s.path("pods/x/mount");
    node.node_publish_volume(publish_req("x", &staging, &target, mount_cap("xfs")))
        .await
        .unwrap();
    std::fs::write(target.join("hello"), "kept").unwrap();

    // Expansion: the LV grows in LVM (metadata), the stand-in device grows, the filesystem
    // follows online. (XFS here: ext4's online resize needs CAP_SYS_RESOURCE, which these
    // sandboxes drop; the code path is the same, resize2fs instead of xfs_growfs.)
    let total = |stats: &csi::NodeGetVolumeStatsResponse| {
        usage(stats, csi::volume_usage::Unit::Bytes).total
    };
    let before = volume_stats(&mut node, "x", &target).await;
    xdisk.grow(400 << 20);
    let r = node
        .node_expand_volume(csi::NodeExpandVolumeRequest {
            volume_id: "x".into(),
            volume_path: target.display().to_string(),
            capacity_range: Some(csi::CapacityRange {
                required_bytes: 200 * MIB,
                limit_bytes: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.capacity_bytes, 200 * MIB);
    assert_eq!(lvs(&s.vg, "lv_name,lv_size"), ["x|209715200"]);
    let stats = volume_stats(&mut node, "x", &target).await;
    assert!(
        total(&stats) > total(&before),
        "grown: {before:?} → {stats:?}"
    );
    // Idempotent: the same request again changes nothing and succeeds.
    node.node_expand_volume(csi::NodeExpandVolumeRequest {
        volume_id: "x".into(),
        volume_path: target.display().to_string(),
        capacity_range: Some(csi::CapacityRange {
            required_bytes: 200 * MIB,
            limit_bytes: 0,
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("hello")).unwrap(),
        "kept"
    );
    node.node_unpublish_volume(unpublish_req("x", &target))
        .await
        .unwrap();
    node.node_unstage_volume(csi::NodeUnstageVolumeRequest {
        volume_id: "x".into(),
        staging_target_path: staging.display().to_string(),
    })
    .await
    .unwrap();

    // Block: the device bind-mounted onto a file; stats report the device size.
    let mut req = create_req("raw", 16 * MIB, &[]);
    req.volume_capabilities = vec![block_cap()];
    ctl.create_volume(req).await.unwrap();
    let raw = Loop::new(16 << 20);
    s.attach("raw", &raw);
    let target = s.path("pods/b/dev/raw");
    node.node_stage_volume(stage_req("raw", &s.path("rawstaging"), block_cap()))
        .await
        .unwrap();
    node.node_publish_volume(publish_req(
        "raw",
        &s.path("rawstaging"),
        &target,
        block_cap(),
    ))
    .await
    .unwrap();
    assert!(is_mounted(&target));
    assert_eq!(
        blkid_type(&raw.dev),
        "",
        "block volumes are never formatted"
    );
    let stats = volume_stats(&mut node, "raw", &target).await;
    assert_eq!(stats.usage.len(), 1);
    assert_eq!(stats.usage[0].total, 16 * MIB);
    node.node_unpublish_volume(unpublish_req("raw", &target))
        .await
        .unwrap();
    assert!(!target.exists());

    // Ephemeral inline volume: created at publish, tagged, removed at unpublish.
    let id = "csi-0123456789abcdef";
    let eph = Loop::new(32 << 20);
    s.attach(id, &eph);
    let target = s.path("pods/e/mount");
    let req = csi::NodePublishVolumeRequest {
        volume_id: id.into(),
        target_path: target.display().to_string(),
        volume_capability: Some(mount_cap("")),
        volume_context: [
            (
                "csi.storage.k8s.io/ephemeral".to_string(),
                "true".to_string(),
            ),
            ("size".to_string(), "20Mi".to_string()),
            ("csi.storage.k8s.io/pod.name".to_string(), "e".to_string()),
        ]
        .into(),
        ..Default::default()
    };
    node.node_publish_volume(req).await.unwrap();
    let lv = lvs(&s.vg, "lv_name,lv_size,lv_tags");
    assert!(
        lv.iter().any(|l| l.starts_with(&format!("{id}|20971520|"))
            && l.contains("lv.metal-stack.io/ephemeral=true")),
        "{lv:?}"
    );
    std::fs::write(target.join("f"), "x").unwrap();
    node.node_unpublish_volume(unpublish_req(id, &target))
        .await
        .unwrap();
    assert!(
        !lvs(&s.vg, "lv_name").iter().any(|l| l == id),
        "ephemeral LV removed"
    );
    // A persistent volume whose name starts with csi- is not ephemeral (upstream's heuristic).
    ctl.create_volume(create_req("csi-persistent", 4 * MIB, &[]))
        .await
        .unwrap();
    let p = Loop::new(8 << 20);
    s.attach("csi-persistent", &p);
    let (st, tg) = (s.path("pst"), s.path("pods/q/mount"));
    node.node_stage_volume(stage_req("csi-persistent", &st, mount_cap("")))
        .await
        .unwrap();
    node.node_publish_volume(publish_req("csi-persistent", &st, &tg, mount_cap("")))
        .await
        .unwrap();
    node.node_unpublish_volume(unpublish_req("csi-persistent", &tg))
        .await
        .unwrap();
    node.node_unstage_volume(csi::NodeUnstageVolumeRequest {
        volume_id: "csi-persistent".into(),
        staging_target_path: st.display().to_string(),
    })
    .await
    .unwrap();
    assert!(lvs(&s.vg, "lv_name").iter().any(|l| l == "csi-persistent"));
}
