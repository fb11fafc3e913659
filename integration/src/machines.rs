//! machine-lifecycle end to end: the binary as a child process against a metal-api process
//! and a kube-testserver serving machine-controller-manager's kinds, a machine pool of its own
//! in metal-api (a size with N registered machines and a private network of the project),
//! the MachineClass and Secret that point at it, and a kubelet simulator that joins a Ready
//! Node for every Machine that got a providerID.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Node, Secret, SecretReference};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube_resources::mcm::{ClassSpec, Machine, MachineClass, MachineSpec};
use metal_api_sdk::auth::HmacKind;
use metal_api_sdk::client::{Auth, Client, ClientConfig};
use metal_api_sdk::model::{
    MachineAllocateRequest, MachineAllocationNetwork, MachineBios, MachineBlockDevice,
    MachineFindRequest, MachineHardware, MachineNic, MachineRegisterRequest, MachineResponse,
    NetworkAllocateRequest, SizeConstraint, SizeCreateRequest,
};
use serde_json::{Value, json};

use crate::kube::{KubeTestServer, client, create_namespaces, write_kubeconfig};
use crate::metal_api::{ADMIN_KEY, MetalApi, PARTITION, PROJECT};

/// The image of every MachineClass here (from compose/seed.yaml).
pub const IMAGE: &str = "ubuntu-24.04.20260101";
/// The finalizer machine-controller-manager's machine controller holds on Machines.
pub const FINALIZER: &str = "machine.sapcloud.io/machine-controller";
/// The tag key naming a machine's cluster.
pub const CLUSTER_TAG: &str = "cluster.metal-stack.io/id";
pub const SSH_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMetalMeshMachineLifecycleTestKey0";
pub const USER_DATA: &str = "{\"ignition\":{\"version\":\"3.4.0\"}}";
/// The namespace of the Machines (a shoot's control plane namespace in the seed).
pub const NAMESPACE: &str = "shoot--prod--c1";
pub const CLASS: &str = "metal-pool";
pub const SECRET: &str = "metal-pool-secret";

pub fn cluster_tag(cluster: &str) -> String {
    format!("{CLUSTER_TAG}={cluster}")
}

/// `metal:///<partition>/<machine id>`.
pub fn provider_id(id: &str) -> String {
    format!("metal:///{PARTITION}/{id}")
}

/// MCM's Machine, MachineClass, MachineDeployment and MachineSet CRDs from
/// `../shared/contracts`, else schema-less stand-ins (all but MachineClass with the status
/// subresource) written into `dir`.
pub fn mcm_crds(dir: &Path) -> Vec<PathBuf> {
    let files = [
        "machine.sapcloud.io_machines.yaml",
        "machine.sapcloud.io_machineclasses.yaml",
        "machine.sapcloud.io_machinedeployments.yaml",
        "machine.sapcloud.io_machinesets.yaml",
    ];
    if let Some(contracts) = kube_resources::contracts::upstream_crds() {
        let paths: Vec<PathBuf> = files.iter().map(|f| contracts.join(f)).collect();
        if paths.iter().all(|p| p.exists()) {
            return paths;
        }
    }
    eprintln!("NOTE: no upstream MCM CRDs; using schema-less stand-ins");
    [
        ("Machine", "machines", true),
        ("MachineClass", "machineclasses", false),
        ("MachineDeployment", "machinedeployments", true),
        ("MachineSet", "machinesets", true),
    ]
    .iter()
    .map(|(kind, plural, status)| {
        let mut version = json!({
            "name": "v1alpha1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        });
        if *status {
            version["subresources"] = json!({"status": {}});
        }
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.machine.sapcloud.io")},
            "spec": {
                "group": "machine.sapcloud.io", "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                          "listKind": format!("{kind}List")},
                "versions": [version],
            },
        });
        let path = dir.join(format!("{plural}.machine.sapcloud.io.yaml"));
        std::fs::write(&path, serde_json::to_string(&crd).unwrap()).expect("write CRD");
        path
    })
    .collect()
}

/// A metal-api SDK client signing with the admin HMAC key (what the MachineClass Secret holds).
pub fn metal_client(api: &MetalApi) -> Client {
    let mut config = ClientConfig::new(
        api.url(""),
        Auth::Hmac {
            kind: HmacKind::Admin,
            key: ADMIN_KEY.into(),
        },
    );
    config.timeout = Duration::from_secs(10);
    Client::new(config).expect("metal-api client")
}

/// A machine pool of its own in metal-api: a size with exactly `machines` machines registered
/// in the partition, and a private network of the project.
#[derive(Debug, Clone)]
pub struct Pool {
    pub size: String,
    pub network: String,
    pub cluster: String,
    pub machine_ids: Vec<String>,
}

impl Pool {
    /// Creates the size `size` with `machines` machines and allocates the cluster's network.
    pub async fn create(metal: &Client, size: &str, cluster: &str, machines: usize) -> Pool {
        metal
            .create_size(&SizeCreateRequest {
                id: size.into(),
                name: Some(size.into()),
                description: Some(format!("{machines} test machines")),
                constraints: vec![SizeConstraint {
                    constraint_type: "cores".into(),
                    min: Some(8),
                    max: Some(8),
                    identifier: None,
                }],
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("creating size {size}: {e}"));
        // Ids and MACs unique per size within one metal-api.
        let tag = size.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        let mut machine_ids = Vec::with_capacity(machines);
        for i in 0..machines {
            let id = format!("{tag:08x}-0000-4000-8000-{i:012}");
            let mac = |nic: usize| {
                format!(
                    "b4:96:{:02x}:{:02x}:{:02x}:{:02x}",
                    tag & 0xff,
                    (tag >> 8) & 0xff,
                    i / 256,
                    (i % 256) ^ (nic << 7)
                )
            };
            metal
                .register_machine(&MachineRegisterRequest {
                    id: id.clone(),
                    partitionid: PARTITION.into(),
                    sizeid: size.into(),
                    name: Some(format!("{size}-{i:03}")),
                    rackid: Some(format!("rack{:02}", i % 2 + 1)),
                    chassis: Some(format!("CZ{tag:08x}{i:04}")),
                    hardware: MachineHardware {
                        cpu_cores: 8,
                        memory: 34_359_738_368,
                        disks: vec![MachineBlockDevice {
                            name: "/dev/nvme0n1".into(),
                            size: 960_000_000_000,
                        }],
                        nics: (0..2)
                            .map(|n| MachineNic {
                                name: format!("lan{n}"),
                                mac: mac(n),
                                identifier: format!("0000:01:00.{n}"),
                                neighbors: vec![],
                            })
                            .collect(),
                    },
                    bios: MachineBios {
                        vendor: "American Megatrends Inc.".into(),
                        version: "3.4".into(),
                        date: "12/01/2025".into(),
                    },
                })
                .await
                .unwrap_or_else(|e| panic!("registering machine {id}: {e}"));
            machine_ids.push(id);
        }
        let network = metal
            .allocate_network(&NetworkAllocateRequest {
                projectid: PROJECT.into(),
                partitionid: PARTITION.into(),
                name: Some(format!("{cluster}-nodes")),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("allocating the private network of {cluster}: {e}"))
            .id;
        Pool {
            size: size.into(),
            network,
            cluster: cluster.into(),
            machine_ids,
        }
    }

    /// The MachineClass providerSpec of this pool.
    pub fn provider_spec(&self) -> Value {
        json!({
            "partition": PARTITION,
            "size": self.size,
            "image": IMAGE,
            "project": PROJECT,
            "network": self.network,
            "tags": [
                cluster_tag(&self.cluster),
                format!("kubernetes.io/cluster={}", self.cluster),
                "machine.metal-stack.io/pool=worker",
            ],
            "sshKeys": [SSH_KEY],
            "dnsServers": [{"ip": "1.1.1.1"}],
            "ntpServers": [{"address": "time.cloudflare.com"}],
        })
    }

    /// The allocation the driver would send for the Machine `name`: what a driver killed right
    /// after metal-api answered leaves behind.
    pub fn allocate_request(&self, name: &str) -> MachineAllocateRequest {
        MachineAllocateRequest {
            name: Some(name.into()),
            hostname: Some(name.into()),
            description: Some(format!("{name} created by Gardener.")),
            projectid: PROJECT.into(),
            partitionid: PARTITION.into(),
            sizeid: self.size.clone(),
            imageid: IMAGE.into(),
            user_data: Some(USER_DATA.into()),
            ssh_pub_keys: vec![SSH_KEY.into()],
            networks: Some(vec![MachineAllocationNetwork {
                networkid: self.network.clone(),
                autoacquire: true,
            }]),
            tags: Some(vec![cluster_tag(&self.cluster)]),
            placement_tags: Some(vec![cluster_tag(&self.cluster)]),
            ..Default::default()
        }
    }
}

/// The Secret data of a MachineClass for `metal_url`.
pub fn secret_data(metal_url: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("metalAPIURL".to_string(), metal_url.to_string()),
        ("metalAPIHMac".to_string(), ADMIN_KEY.to_string()),
        ("userData".to_string(), USER_DATA.to_string()),
    ])
}

/// The machines allocated with the cluster's tag (what `POST /v1/machine/find` answers).
pub async fn allocations(
    metal: &Client,
    cluster: &str,
) -> Result<Vec<MachineResponse>, metal_api_sdk::client::Error> {
    let found = metal
        .find_machines(&MachineFindRequest {
            tags: Some(vec![cluster_tag(cluster)]),
            ..Default::default()
        })
        .await?;
    Ok(found
        .into_iter()
        .filter(|m| m.allocation.is_some())
        .collect())
}

/// The allocation name of an allocated machine.
pub fn allocation_name(machine: &MachineResponse) -> &str {
    machine
        .allocation
        .as_ref()
        .map(|a| a.name.as_str())
        .unwrap_or_default()
}

/// A running machine-lifecycle. Killed on drop.
pub struct MachineLifecycle {
    pub addr: SocketAddr,
    pub socket: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
    child: Child,
}

impl MachineLifecycle {
    /// `machine-lifecycle --listen <free> --auth none --grpc-socket <dir>/driver.sock
    /// [--kubeconfig K --namespace NS | --no-kubernetes] [extra…]`, logging into
    /// `dir/machine-lifecycle.log` (appended across restarts); returns once `/readyz` is 200.
    /// `ML_LOG` overrides its `--log-level`.
    pub async fn start(dir: &Path, kubeconfig: Option<&Path>, extra: &[&str]) -> Self {
        let socket = dir.join("driver.sock");
        let mut args: Vec<String> = vec![
            "--auth".into(),
            "none".into(),
            "--grpc-socket".into(),
            socket.display().to_string(),
            "--log-level".into(),
            std::env::var("ML_LOG").unwrap_or_else(|_| "info,kube=warn,hyper=warn".into()),
        ];
        match kubeconfig {
            Some(path) => {
                args.extend(["--kubeconfig".into(), path.display().to_string()]);
                args.extend(["--namespace".into(), NAMESPACE.into()]);
            }
            None => args.push("--no-kubernetes".into()),
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = dir.join("machine-lifecycle.log");
        let addr = crate::free_addr();
        let child = spawn(addr, &args, &log);
        let ml = Self {
            addr,
            socket,
            log,
            args,
            child,
        };
        ml.wait_ready().await;
        ml
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again with the same arguments (on a new port).
    pub async fn restart(&mut self) {
        self.kill9();
        self.addr = crate::free_addr();
        self.child = spawn(self.addr, &self.args, &self.log);
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        crate::wait_for_port(self.addr, Duration::from_secs(60));
        let http = crate::http_client();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready && self.socket.exists() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "machine-lifecycle not ready; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for MachineLifecycle {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn(addr: SocketAddr, args: &[String], log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the machine-lifecycle log");
    Command::new(crate::binary("machine-lifecycle"))
        .arg("--listen")
        .arg(addr.to_string())
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("POD_NAME")
        .stdout(out.try_clone().expect("log file"))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("start machine-lifecycle")
}

/// A kubelet for every Machine: once a Machine of the namespace has a providerID (and is not
/// being deleted), a Node named after it joins with that providerID and turns Ready. Each
/// Machine (by uid) joins once, so a Node the controller deletes stays deleted.
pub struct Kubelet {
    task: tokio::task::JoinHandle<()>,
    joined: Arc<Mutex<HashSet<String>>>,
}

impl Kubelet {
    pub fn start(kube: kube::Client, namespace: &str) -> Self {
        let machines: Api<Machine> = Api::namespaced(kube.clone(), namespace);
        let nodes: Api<Node> = Api::all(kube);
        let joined: Arc<Mutex<HashSet<String>>> = Arc::default();
        let seen = joined.clone();
        let task = tokio::spawn(async move {
            let mut events = watcher(machines, watcher::Config::default())
                .default_backoff()
                .applied_objects()
                .boxed();
            while let Some(event) = events.next().await {
                let Ok(machine) = event else { continue };
                let provider_id = machine.spec.provider_id.clone().unwrap_or_default();
                if provider_id.is_empty() || machine.metadata.deletion_timestamp.is_some() {
                    continue;
                }
                let uid = machine.metadata.uid.clone().unwrap_or_default();
                if !seen.lock().unwrap().insert(uid) {
                    continue;
                }
                let name = machine.metadata.name.clone().unwrap_or_default();
                tokio::spawn(join(nodes.clone(), name, provider_id));
            }
        });
        Self { task, joined }
    }

    /// How many Machines got a Node.
    pub fn joined(&self) -> usize {
        self.joined.lock().unwrap().len()
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Creates the Node `name` and reports it Ready (the server drops status on create), retrying
/// briefly on errors.
async fn join(nodes: Api<Node>, name: String, provider_id: String) {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"providerID": provider_id},
    }))
    .expect("Node object");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let status = json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "KubeletReady",
        "message": "kubelet is posting ready status",
        "lastHeartbeatTime": now, "lastTransitionTime": now,
    }]}});
    for _ in 0..50 {
        let created = match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => true,
            Err(kube::Error::Api(e)) if e.code == 409 => true,
            Err(_) => false,
        };
        if created
            && nodes
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                .await
                .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("kubelet simulator: Node {name} did not join");
}

/// The Kubernetes side: kube-testserver with MCM's kinds, the namespace, and a client.
pub struct Kube {
    pub server: KubeTestServer,
    pub client: kube::Client,
    pub kubeconfig: PathBuf,
}

impl Kube {
    pub async fn start(dir: &Path) -> Self {
        let crds = mcm_crds(dir);
        let crds: Vec<&Path> = crds.iter().map(PathBuf::as_path).collect();
        let server = KubeTestServer::start(&crds, &[]);
        let client = client(&server.url());
        create_namespaces(&client, &[NAMESPACE]).await;
        let kubeconfig = write_kubeconfig(dir, &server.url());
        Self {
            server,
            client,
            kubeconfig,
        }
    }

    pub fn machines(&self) -> Api<Machine> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    pub fn classes(&self) -> Api<MachineClass> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), NAMESPACE)
    }

    pub fn nodes(&self) -> Api<Node> {
        Api::all(self.client.clone())
    }

    /// Creates or replaces the data of the Secret `name`.
    pub async fn put_secret(&self, name: &str, data: &BTreeMap<String, String>) {
        let data: BTreeMap<String, ByteString> = data
            .iter()
            .map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes())))
            .collect();
        match self.secrets().get_opt(name).await.expect("read Secret") {
            Some(mut secret) => {
                secret.data = Some(data);
                self.secrets()
                    .replace(name, &PostParams::default(), &secret)
                    .await
                    .unwrap_or_else(|e| panic!("replacing Secret {name}: {e}"));
            }
            None => {
                let secret = Secret {
                    metadata: kube::api::ObjectMeta {
                        name: Some(name.into()),
                        namespace: Some(NAMESPACE.into()),
                        ..Default::default()
                    },
                    data: Some(data),
                    ..Default::default()
                };
                self.secrets()
                    .create(&PostParams::default(), &secret)
                    .await
                    .unwrap_or_else(|e| panic!("creating Secret {name}: {e}"));
            }
        }
    }

    /// Creates the MachineClass `name` of provider metal with its Secret `secret`.
    pub async fn create_class(&self, name: &str, provider_spec: Value, secret: &str) {
        let mut class = MachineClass::new(name, provider_spec);
        class.metadata.namespace = Some(NAMESPACE.into());
        class.provider = Some("metal".into());
        class.secret_ref = Some(SecretReference {
            name: Some(secret.into()),
            namespace: Some(NAMESPACE.into()),
        });
        self.classes()
            .create(&PostParams::default(), &class)
            .await
            .unwrap_or_else(|e| panic!("creating MachineClass {name}: {e}"));
    }

    /// Creates the Machine `name` of class `class`, with `finalizers` already set.
    pub async fn create_machine(&self, name: &str, class: &str, finalizers: &[&str]) {
        let mut machine = Machine::new(
            name,
            MachineSpec {
                class: Some(ClassSpec {
                    name: class.into(),
                    kind: Some("MachineClass".into()),
                    api_group: Some("machine.sapcloud.io".into()),
                }),
                ..Default::default()
            },
        );
        machine.metadata.namespace = Some(NAMESPACE.into());
        if !finalizers.is_empty() {
            machine.metadata.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
        }
        self.machines()
            .create(&PostParams::default(), &machine)
            .await
            .unwrap_or_else(|e| panic!("creating Machine {name}: {e}"));
    }

    /// Creates the Machines `names` at once (concurrently).
    pub async fn create_machines(&self, names: &[String], class: &str) {
        futures::future::join_all(names.iter().map(|n| self.create_machine(n, class, &[]))).await;
    }

    pub async fn list_machines(&self) -> Vec<Machine> {
        self.machines()
            .list(&ListParams::default())
            .await
            .expect("list Machines")
            .items
    }
}

/// The Machine's `status.currentStatus.phase`.
pub fn phase(machine: &Machine) -> Option<&str> {
    machine
        .status
        .as_ref()?
        .current_status
        .as_ref()?
        .phase
        .as_deref()
}

/// Everything one test needs: metal-api with a pool, kube-testserver with the MachineClass
/// `CLASS` and its Secret, machine-lifecycle and the kubelet simulator.
/// Fields drop in order: the processes go before their directory.
pub struct Mesh {
    pub kubelet: Kubelet,
    pub ml: MachineLifecycle,
    pub kube: Kube,
    pub metal: Client,
    pub metal_api: MetalApi,
    pub pool: Pool,
    pub dir: tempfile::TempDir,
}

/// How to start a [`Mesh`].
pub struct Options<'a> {
    /// Machines in the pool's size.
    pub machines: usize,
    pub size: &'a str,
    pub cluster: &'a str,
    /// Extra machine-lifecycle flags.
    pub args: Vec<&'a str>,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            machines: 16,
            size: "ml-worker-x86",
            cluster: "c1d2e3f4-0000-4000-8000-000000000001",
            // Short retries so tests are quick; --retry-long keeps its default (10m).
            args: vec!["--retry-short", "1s", "--retry-medium", "5s"],
        }
    }
}

impl Mesh {
    pub async fn start(options: Options<'_>) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("metal-api");
        std::fs::create_dir_all(&data).unwrap();
        let metal_api = MetalApi::start(&data);
        let metal = metal_client(&metal_api);
        let pool = Pool::create(&metal, options.size, options.cluster, options.machines).await;
        let kube = Kube::start(dir.path()).await;
        kube.put_secret(SECRET, &secret_data(&metal_api.url("")))
            .await;
        kube.create_class(CLASS, pool.provider_spec(), SECRET).await;
        let ml = MachineLifecycle::start(dir.path(), Some(&kube.kubeconfig), &options.args).await;
        let kubelet = Kubelet::start(kube.client.clone(), NAMESPACE);
        Self {
            kubelet,
            ml,
            kube,
            metal,
            metal_api,
            pool,
            dir,
        }
    }

    /// Polls `probe` until it yields a value; fails after `deadline` naming `what` (the
    /// machine-lifecycle log follows when the Mesh drops).
    pub async fn eventually<T, F, Fut>(&self, what: &str, deadline: Duration, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        crate::eventually(what, deadline, Duration::from_millis(100), probe).await
    }

    /// The Machines once all of `names` are Running.
    pub async fn all_running(&self, names: &[String], deadline: Duration) -> Vec<Machine> {
        self.eventually(
            &format!("{} Machines Running", names.len()),
            deadline,
            || async {
                let machines = self.kube.list_machines().await;
                let running: Vec<Machine> = machines
                    .into_iter()
                    .filter(|m| {
                        names.contains(m.metadata.name.as_ref().unwrap())
                            && phase(m) == Some("Running")
                    })
                    .collect();
                (running.len() == names.len()).then_some(running)
            },
        )
        .await
    }

    /// The cluster's allocations; panics naming the failure (metal-api must be up).
    pub async fn allocations(&self) -> Vec<MachineResponse> {
        allocations(&self.metal, &self.pool.cluster)
            .await
            .expect("find the cluster's machines in metal-api")
    }
}

/// A failing test shows the end of machine-lifecycle's log (all of it with MESH_TEST_LOGS set).
impl Drop for Mesh {
    fn drop(&mut self) {
        let log = self.ml.log();
        if std::env::var_os("MESH_TEST_LOGS").is_some() {
            eprintln!("machine-lifecycle log:\n{log}");
        } else if std::thread::panicking() {
            eprintln!(
                "machine-lifecycle log (the last 150 lines):\n{}",
                tail(&log, 150)
            );
        }
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `prefix-00`, `prefix-01`, …
pub fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:02}")).collect()
}
