//! volume-manager benchmarks against real lvm2 metadata on loop devices (`--no-activation`:
//! these kernels have no device-mapper), each against a baseline in the same run:
//!
//! 1. N CreateVolume and then N DeleteVolume calls, one after another, through gRPC on the
//!    unix socket, against the same `lvcreate` / `lvremove` argument vectors the driver runs,
//!    run directly one after another on a volume group of the same size. Rounds alternate
//!    between the two; the ratio is per round, and the median is reported.
//! 2. 32 CreateVolume calls at once on one volume group (then 32 DeleteVolume calls at once):
//!    every call must succeed, with no lvm lock error.
//!
//! Needs root and lvm2. Run:
//! `cargo run --release -p integration --bin vm-bench -- [N] [ROUNDS]`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use volume_manager::core::params::LvType;
use volume_manager::core::plan::{self, NewLv};
use volume_manager::core::tags::VolumeMeta;
use volume_manager::csi;
use volume_manager::csi::controller_client::ControllerClient;
use volume_manager::lvm::Lvm;

const VOLUME: u64 = 4 << 20;
const CONCURRENT: usize = 32;

/// A loop device over a sparse file, detached on drop.
struct Loop {
    dev: String,
    _dir: tempfile::TempDir,
}

impl Loop {
    fn new(size: u64) -> Loop {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pv.img");
        std::fs::File::create(&file).unwrap().set_len(size).unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(&file)
            .output()
            .expect("losetup");
        assert!(out.status.success(), "losetup: {out:?}");
        Loop {
            dev: String::from_utf8_lossy(&out.stdout).trim().to_string(),
            _dir: dir,
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// A volume group on its own loop device; removed with its PV on drop.
struct Vg {
    name: String,
    lvm: Lvm,
    pv: Loop,
}

impl Vg {
    fn new(name: &str, lvm: &Lvm) -> Vg {
        let pv = Loop::new(8 << 30);
        lvm.vgcreate(name, &[PathBuf::from(&pv.dev)])
            .expect("vgcreate");
        Vg {
            name: name.into(),
            lvm: lvm.clone(),
            pv,
        }
    }
}

impl Drop for Vg {
    fn drop(&mut self) {
        let _ = self.lvm.run(&[
            "vgremove".into(),
            "--force".into(),
            "--yes".into(),
            self.name.clone(),
        ]);
        let _ = self
            .lvm
            .run(&["pvremove".into(), "--yes".into(), self.pv.dev.clone()]);
    }
}

/// The LV the driver plans for a 4 MiB linear filesystem volume.
fn planned(vg: &str, name: String) -> NewLv {
    NewLv {
        lv: name,
        vg: vg.into(),
        size: VOLUME,
        stripes: 1,
        meta: VolumeMeta {
            lv_type: LvType::Linear,
            block: false,
            ephemeral: false,
            integrity: false,
            source: None,
        },
    }
}

/// N lvcreate, then N lvremove, exactly as the driver words them.
fn direct(vg: &Vg, n: usize, round: usize) -> (Duration, Duration) {
    let names: Vec<String> = (0..n).map(|i| format!("pvc-r{round}-{i}")).collect();
    let started = Instant::now();
    for name in &names {
        let args = plan::lvcreate_args(&planned(&vg.name, name.clone()), true);
        vg.lvm.run(&args).expect("lvcreate");
    }
    let create = started.elapsed();
    let started = Instant::now();
    for name in &names {
        vg.lvm
            .run(&plan::lvremove_volume_args(&vg.name, name))
            .expect("lvremove");
    }
    (create, started.elapsed())
}

fn create_request(name: String) -> csi::CreateVolumeRequest {
    use csi::volume_capability::{AccessMode, AccessType, MountVolume, access_mode::Mode};
    csi::CreateVolumeRequest {
        name,
        capacity_range: Some(csi::CapacityRange {
            required_bytes: VOLUME as i64,
            limit_bytes: 0,
        }),
        volume_capabilities: vec![csi::VolumeCapability {
            access_type: Some(AccessType::Mount(MountVolume::default())),
            access_mode: Some(AccessMode {
                mode: Mode::SingleNodeWriter as i32,
            }),
        }],
        ..Default::default()
    }
}

fn delete_request(volume_id: String) -> csi::DeleteVolumeRequest {
    csi::DeleteVolumeRequest {
        volume_id,
        ..Default::default()
    }
}

/// N CreateVolume, then N DeleteVolume, each waiting for the previous answer.
async fn through_grpc(channel: &Channel, n: usize, round: usize) -> (Duration, Duration) {
    let mut ctl = ControllerClient::new(channel.clone());
    let names: Vec<String> = (0..n).map(|i| format!("pvc-r{round}-{i}")).collect();
    let started = Instant::now();
    for name in &names {
        let volume = ctl
            .create_volume(create_request(name.clone()))
            .await
            .expect("CreateVolume")
            .into_inner()
            .volume
            .unwrap();
        assert_eq!(volume.capacity_bytes, VOLUME as i64);
    }
    let create = started.elapsed();
    let started = Instant::now();
    for name in &names {
        ctl.delete_volume(delete_request(name.clone()))
            .await
            .expect("DeleteVolume");
    }
    (create, started.elapsed())
}

struct Driver {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Driver {
    fn start(vg: &str, device: &str) -> Driver {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("csi.sock");
        let http = integration::free_addr();
        let child = Command::new(integration::binary("volume-manager"))
            .args(["--csi-endpoint", &format!("unix://{}", socket.display())])
            .args(["--node-id", "bench", "--vg-name", vg, "--devices", device])
            .arg("--no-activation")
            .args(["--listen", &http.to_string()])
            // It measures CSI over the socket; the REST API only answers /readyz here.
            .args(["--auth", "none"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start volume-manager");
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready = format!("http://{http}/readyz");
        while !socket.exists() || !answers_200(&ready) {
            assert!(Instant::now() < deadline, "volume-manager not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            socket,
            _dir: dir,
        }
    }

    async fn channel(&self) -> Channel {
        volume_manager::grpc::connect(&self.socket)
            .await
            .expect("connect to the CSI socket")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A readiness probe without an async runtime: `GET` over a plain TCP socket.
fn answers_200(url: &str) -> bool {
    use std::io::{Read as _, Write as _};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_once('/').unwrap();
    let Ok(mut s) = std::net::TcpStream::connect(host) else {
        return false;
    };
    let _ = write!(s, "GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    text.split_whitespace().nth(1) == Some("200")
}

fn lv_count(lvm: &Lvm, vg: &str) -> usize {
    lvm.lvs(&[vg.to_string()]).expect("lvs").len()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(200, |a| a.parse().expect("N"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    assert!(
        nix::unistd::geteuid().is_root(),
        "vm-bench needs root (losetup, lvm)"
    );
    assert!(Path::new("/dev/loop-control").exists(), "no loop devices");

    let lvm = Lvm::new("lvm", true, None, None);
    let pid = std::process::id();
    let base = Vg::new(&format!("vmbench{pid}base"), &lvm);
    let driven = Vg::new(&format!("vmbench{pid}drv"), &lvm);
    let driver = Driver::start(&driven.name, &driven.pv.dev);
    let channel = driver.channel().await;

    println!("{n} CreateVolume + {n} DeleteVolume, sequential, {rounds} rounds");
    println!(
        "| round | direct lvcreate | gRPC CreateVolume | ratio | direct lvremove | gRPC DeleteVolume | ratio | both ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let (mut creates, mut deletes, mut both) = (vec![], vec![], vec![]);
    for round in 0..rounds {
        let (dc, dd) = direct(&base, n, round);
        let (gc, gd) = through_grpc(&channel, n, round).await;
        assert_eq!(lv_count(&lvm, &driven.name), 0, "every volume deleted");
        let (rc, rd) = (ms(gc) / ms(dc), ms(gd) / ms(dd));
        let rb = (ms(gc) + ms(gd)) / (ms(dc) + ms(dd));
        println!(
            "| {round} | {:.0} ms ({:.1} ms each) | {:.0} ms ({:.1} ms each) | {rc:.3} | {:.0} ms | {:.0} ms | {rd:.3} | {rb:.3} |",
            ms(dc),
            ms(dc) / n as f64,
            ms(gc),
            ms(gc) / n as f64,
            ms(dd),
            ms(gd),
        );
        creates.push(rc);
        deletes.push(rd);
        both.push(rb);
    }
    let overall = median(both);
    println!(
        "median ratio: create {:.3}, delete {:.3}, both {overall:.3} (target ≤ 1.10)",
        median(creates),
        median(deletes),
    );

    // 32 at once: all succeed, the VG's actor serializes them for lvm.
    let started = Instant::now();
    let calls = (0..CONCURRENT).map(|i| {
        let mut ctl = ControllerClient::new(channel.clone());
        tokio::spawn(async move { ctl.create_volume(create_request(format!("pvc-c{i}"))).await })
    });
    let results = futures::future::join_all(calls).await;
    let created = started.elapsed();
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| match r {
            Ok(Ok(_)) => None,
            Ok(Err(status)) => Some(status.to_string()),
            Err(e) => Some(e.to_string()),
        })
        .collect();
    let lvs = lv_count(&lvm, &driven.name);
    let started = Instant::now();
    let calls = (0..CONCURRENT).map(|i| {
        let mut ctl = ControllerClient::new(channel.clone());
        tokio::spawn(async move { ctl.delete_volume(delete_request(format!("pvc-c{i}"))).await })
    });
    let deleted_ok = futures::future::join_all(calls)
        .await
        .iter()
        .filter(|r| matches!(r, Ok(Ok(_))))
        .count();
    let deleted = started.elapsed();
    println!(
        "{CONCURRENT} concurrent CreateVolume: {} succeeded, {} failed, {lvs} LVs, {:.0} ms; \
         {CONCURRENT} concurrent DeleteVolume: {deleted_ok} succeeded, {} LVs left, {:.0} ms",
        CONCURRENT - failed.len(),
        failed.len(),
        ms(created),
        lv_count(&lvm, &driven.name),
        ms(deleted),
    );
    for f in &failed {
        println!("  failed: {f}");
    }
    drop(channel);
    drop(driver);
    let ok = failed.is_empty() && lvs == CONCURRENT && deleted_ok == CONCURRENT;
    let within = overall <= 1.10;
    if !(ok && within) {
        println!("TARGET MISSED: concurrency ok {ok}, ratio within 1.10 {within}");
    }
}
