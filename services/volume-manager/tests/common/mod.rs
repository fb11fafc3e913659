//! Fixtures for the tests against real lvm2: loop devices, a volume group on them, the real
//! `volume-manager` binary serving CSI on a unix socket, and a gRPC client for it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use volume_manager::csi;

/// Whether the lvm tests can run here (root, lvm2, loop devices). Under CI they must.
pub fn lvm_here() -> bool {
    let root = nix::unistd::geteuid().is_root();
    let lvm = Command::new("lvm")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ok = root && lvm && Path::new("/dev/loop-control").exists();
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the lvm tests: root {root}, lvm2 {lvm}"
        );
        eprintln!("skipped: needs root, lvm2 and loop devices");
    }
    ok
}

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}x{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A loop device over a sparse file; detached on drop.
pub struct Loop {
    pub dev: PathBuf,
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Loop {
    pub fn new(size: u64) -> Loop {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        std::fs::File::create(&file).unwrap().set_len(size).unwrap();
        let dev = run("losetup", &["--find", "--show", file.to_str().unwrap()]);
        Loop {
            dev: PathBuf::from(dev),
            file,
            _dir: dir,
        }
    }

    /// Grows the backing file and tells the kernel.
    pub fn grow(&self, size: u64) {
        std::fs::OpenOptions::new()
            .write(true)
            .open(&self.file)
            .unwrap()
            .set_len(size)
            .unwrap();
        run("losetup", &["--set-capacity", self.dev.to_str().unwrap()]);
    }

    pub fn path(&self) -> &str {
        self.dev.to_str().unwrap()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

/// lvm, metadata only.
pub fn lvm(args: &[&str]) -> String {
    let mut all = vec![args[0], "--driverloaded", "n"];
    all.extend(&args[1..]);
    run("lvm", &all)
}

/// Makes the LV `cow` a thick snapshot of `origin` in lvm's metadata, as `lvcreate --snapshot`
/// would if this kernel had device-mapper (without it lvm refuses to create one): the VG's
/// metadata is backed up, given the hidden snapshot LV that joins the two, and restored.
pub fn join_as_snapshot(vg: &str, origin: &str, cow: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vg.txt");
    lvm(&["vgcfgbackup", "-f", file.to_str().unwrap(), vg]);
    let text = std::fs::read_to_string(&file).unwrap();
    let seqno: u64 = text
        .split("seqno = ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("seqno in the metadata");
    let text = text.replacen(
        &format!("seqno = {seqno}"),
        &format!("seqno = {}", seqno + 1),
        1,
    );
    let cow_block = text
        .split(&format!("\t\t{cow} {{"))
        .nth(1)
        .expect("the cow LV in the metadata");
    let extents: u64 = cow_block
        .split("extent_count = ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("extent_count of the cow LV");
    let snapshot = format!(
        "\t\tsnapshot0 {{\n\t\t\tid = \"SNAPSH-OTAA-AAAA-AAAA-AAAA-AAAA-AAAAAA\"\n\
         \t\t\tstatus = [\"READ\", \"WRITE\"]\n\t\t\tflags = []\n\
         \t\t\tcreation_time = 1796220000\n\t\t\tcreation_host = \"test\"\n\
         \t\t\tsegment_count = 1\n\t\t\tsegment1 {{\n\t\t\t\tstart_extent = 0\n\
         \t\t\t\textent_count = {extents}\n\t\t\t\ttype = \"snapshot\"\n\
         \t\t\t\tchunk_size = 8\n\t\t\t\torigin = \"{origin}\"\n\
         \t\t\t\tcow_store = \"{cow}\"\n\t\t\t}}\n\t\t}}\n"
    );
    // The logical_volumes section is the VG's last: it closes just before the VG does.
    let end = text.rfind("\t}\n\n}").expect("end of logical_volumes");
    let text = format!("{}{snapshot}{}", &text[..end], &text[end..]);
    std::fs::write(&file, text).unwrap();
    lvm(&["vgcfgrestore", "-f", file.to_str().unwrap(), vg]);
}

/// Removes a VG and its PV labels when dropped.
pub struct VgGuard {
    pub name: String,
    pub devices: Vec<String>,
}

impl Drop for VgGuard {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("lvm")
                .args(args)
                .env("LVM_SUPPRESS_FD_WARNINGS", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        quiet(&[
            "vgremove",
            "--driverloaded",
            "n",
            "--force",
            "--yes",
            &self.name,
        ]);
        for d in &self.devices {
            quiet(&["pvremove", "--driverloaded", "n", "--force", "--yes", d]);
        }
    }
}

/// The LVs in `vg` with the given fields (`lv_name,lv_size,...`), one line per LV (lvs prints
/// a line per segment when the separator form is used on a multi-segment LV).
pub fn lvs(vg: &str, fields: &str) -> Vec<String> {
    let mut out: Vec<String> = lvm(&[
        "lvs",
        "--noheadings",
        "--units",
        "b",
        "--nosuffix",
        "--separator",
        "|",
        "-o",
        fields,
        vg,
    ])
    .lines()
    .map(|l| l.trim().to_string())
    .filter(|l| !l.is_empty())
    .collect();
    out.dedup();
    out
}

/// The real binary, serving CSI on a socket in a temp dir.
pub struct Driver {
    pub child: Child,
    pub socket: PathBuf,
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
    pub guards: Vec<VgGuard>,
}

pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

impl Driver {
    /// Starts `volume-manager` with the acceptance CLI plus `extra`, and waits until its VGs are
    /// ready. `vgs` are (name, devices) of the default and further groups.
    pub fn start(vgs: &[(&str, Vec<&str>)], extra: &[&str]) -> Driver {
        Self::start_in(tempfile::tempdir().unwrap(), vgs, extra, None)
    }

    pub fn start_in(
        dir: tempfile::TempDir,
        vgs: &[(&str, Vec<&str>)],
        extra: &[&str],
        lvm_program: Option<&Path>,
    ) -> Driver {
        let socket = dir.path().join("csi.sock");
        let http = free_addr();
        let (tokens, allow) = (dir.path().join("tokens.csv"), dir.path().join("allow.yaml"));
        std::fs::write(&tokens, format!("{TEST_TOKEN},tester,1\n")).unwrap();
        std::fs::write(&allow, "- users: [tester]\n  paths: [/]\n  verbs: [get]\n").unwrap();
        let (default, rest) = vgs.split_first().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_volume-manager"));
        cmd.args(["--csi-endpoint", &format!("unix://{}", socket.display())])
            .args(["--node-id", "node-a", "--vg-name", default.0])
            .args(["--devices", &default.1.join(",")])
            .arg("--no-activation")
            .args(["--listen", &http.to_string()])
            .args(["--default-size", "16Mi"])
            .args(["--auth", "static", "--auth-token-file"])
            .arg(&tokens)
            .arg("--auth-allow")
            .arg(&allow);
        for (name, devices) in rest {
            cmd.args(["--volume-group", &format!("{name}={}", devices.join(","))]);
        }
        if let Some(p) = lvm_program {
            cmd.arg("--lvm").arg(p);
        }
        cmd.args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        let child = cmd.spawn().expect("start volume-manager");
        let guards = vgs
            .iter()
            .map(|(n, d)| VgGuard {
                name: n.to_string(),
                devices: d.iter().map(|s| s.to_string()).collect(),
            })
            .collect();
        let driver = Driver {
            child,
            socket,
            http,
            dir,
            guards,
        };
        driver.wait_ready();
        driver
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("http://{}/readyz", self.http);
        loop {
            if self.socket.exists() && http_get(&url).is_some_and(|(code, _)| code == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "volume-manager did not become ready: {:?}",
                http_get(&url)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub async fn channel(&self) -> Channel {
        channel(&self.socket).await
    }

    pub fn get(&self, path: &str) -> serde_json::Value {
        let (code, body) = http_get(&format!("http://{}{path}", self.http)).expect("GET");
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn channel(socket: &Path) -> Channel {
    volume_manager::grpc::connect(socket)
        .await
        .expect("connect to the CSI socket")
}

/// The bearer token the test driver's REST API accepts (it may `get` everything).
pub const TEST_TOKEN: &str = "volume-manager-test-token";

/// A tiny blocking HTTP GET (status, body) with [`TEST_TOKEN`], without pulling in a client.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nAuthorization: Bearer {TEST_TOKEN}\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

pub fn mount_cap(fs: &str) -> csi::VolumeCapability {
    use csi::volume_capability::{AccessMode, AccessType, MountVolume, access_mode::Mode};
    csi::VolumeCapability {
        access_type: Some(AccessType::Mount(MountVolume {
            fs_type: fs.into(),
            mount_flags: vec![],
            volume_mount_group: String::new(),
        })),
        access_mode: Some(AccessMode {
            mode: Mode::SingleNodeWriter as i32,
        }),
    }
}

pub fn block_cap() -> csi::VolumeCapability {
    use csi::volume_capability::{AccessMode, AccessType, BlockVolume, access_mode::Mode};
    csi::VolumeCapability {
        access_type: Some(AccessType::Block(BlockVolume {})),
        access_mode: Some(AccessMode {
            mode: Mode::SingleNodeWriter as i32,
        }),
    }
}

pub fn create_req(name: &str, bytes: i64, params: &[(&str, &str)]) -> csi::CreateVolumeRequest {
    csi::CreateVolumeRequest {
        name: name.into(),
        capacity_range: Some(csi::CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        volume_capabilities: vec![mount_cap("")],
        parameters: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

pub fn delete_req(id: &str) -> csi::DeleteVolumeRequest {
    csi::DeleteVolumeRequest {
        volume_id: id.into(),
        ..Default::default()
    }
}

pub const MIB: i64 = 1 << 20;
