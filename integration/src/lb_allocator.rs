//! The lb-allocator binary as a child process against a metal-api process and (optionally) a
//! kube-testserver, configured through metal-ccm's environment variables.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::metal_api::{ADMIN_KEY, MetalApi, PARTITION, PROJECT};

pub const CLUSTER: &str = "11111111-2222-3333-4444-555555555555";

/// The MetalLB CRDs for kube-testserver: MetalLB's own from `../shared/contracts` when present
/// (CI), else permissive stand-ins written into `dir` (no schema: nothing is validated).
pub fn metallb_crds(dir: &Path) -> Vec<PathBuf> {
    let files = [
        "metallb.io_ipaddresspools.yaml",
        "metallb.io_bgpadvertisements.yaml",
        "metallb.io_bgppeers.yaml",
    ];
    if let Some(contracts) = kube_resources::contracts::upstream_crds() {
        return files.iter().map(|f| contracts.join(f)).collect();
    }
    eprintln!("NOTE: no upstream MetalLB CRDs; using schema-less stand-ins");
    let stand_ins = kube_resources::crds::stand_in_crds_yaml().expect("render the stand-ins");
    files
        .iter()
        .map(|file| {
            let (_, yaml) = stand_ins
                .iter()
                .find(|(name, _)| name == file)
                .unwrap_or_else(|| panic!("no stand-in {file}"));
            let path = dir.join(file);
            std::fs::write(&path, yaml).expect("write CRD stand-in");
            path
        })
        .collect()
}

/// How to start the allocator.
pub struct Options<'a> {
    pub metal_api: &'a MetalApi,
    /// None: `--no-kubernetes`.
    pub kubeconfig: Option<&'a Path>,
    pub default_network: &'a str,
    pub additional_networks: &'a str,
    pub sync_interval: &'a str,
    pub log_level: &'a str,
    pub extra: Vec<String>,
    pub env: Vec<(String, String)>,
}

impl<'a> Options<'a> {
    pub fn new(metal_api: &'a MetalApi, kubeconfig: Option<&'a Path>) -> Self {
        Self {
            metal_api,
            kubeconfig,
            default_network: "internet",
            additional_networks: "internet",
            sync_interval: "1m",
            log_level: "info,kube=warn",
            extra: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// A running lb-allocator. Killed on drop.
pub struct LbAllocator {
    pub addr: SocketAddr,
    child: Child,
    /// The static tokens it accepts, unless the options chose an auth mode.
    auth: Option<crate::auth::StaticAuth>,
}

impl LbAllocator {
    pub fn start(options: &Options) -> Self {
        let addr = crate::free_addr();
        let mut cmd = Command::new(crate::binary("lb-allocator"));
        cmd.arg("--listen")
            .arg(addr.to_string())
            .args(["--log-level", options.log_level])
            .args(["--sync-interval", options.sync_interval])
            .env("METAL_API_URL", options.metal_api.url(""))
            .env("METAL_AUTH_HMAC", ADMIN_KEY)
            .env("METAL_AUTH_HMAC_AUTH_TYPE", "Metal-Admin")
            .env("METAL_PROJECT_ID", PROJECT)
            .env("METAL_PARTITION_ID", PARTITION)
            .env("METAL_CLUSTER_ID", CLUSTER)
            .env("METAL_DEFAULT_EXTERNAL_NETWORK_ID", options.default_network)
            .env("METAL_ADDITIONAL_NETWORKS", options.additional_networks)
            .env_remove("METAL_AUTH_TOKEN")
            .env_remove("KUBECONFIG");
        match options.kubeconfig {
            Some(path) => cmd.arg("--kubeconfig").arg(path),
            None => cmd.arg("--no-kubernetes"),
        };
        let auth = (!crate::auth::chooses_auth(&options.extra)).then(crate::auth::StaticAuth::new);
        if let Some(auth) = &auth {
            cmd.args(auth.flags());
        }
        let child = cmd
            .args(&options.extra)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            // MESH_TEST_LOGS=1 shows the allocator's log lines among the test output.
            .stdout(if std::env::var_os("MESH_TEST_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start lb-allocator");
        crate::wait_for_port(addr, Duration::from_secs(60));
        Self { addr, child, auth }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A client allowed everything: the static admin token (with the default auth mode).
    pub fn http(&self) -> reqwest::Client {
        assert!(self.auth.is_some(), "started with its own --auth");
        crate::auth::bearer_client(crate::auth::ADMIN_TOKEN)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Exit status, if it has exited.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for LbAllocator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
