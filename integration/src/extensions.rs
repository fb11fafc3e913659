//! The extension controllers of gardener-webhooks end to end: kube-testserver serving
//! Gardener's, MCM's and the firewall kinds, the embedded metal-api with two machine pools,
//! gardener-webhooks with `--os-controller --extensions`, machine-lifecycle with
//! `--machine-deployments` and the kubelet simulator; and the objects gardenlet would write for
//! a shoot of type metal (Cluster, cloudprovider Secret, Infrastructure, OperatingSystemConfig,
//! ControlPlane, Worker).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use metal_api_sdk::Client;
use metal_api_sdk::model::{IpFindRequest, MachineResponse, NetworkFindRequest, NetworkResponse};
use serde_json::{Value, json};

use crate::auth::TestPki;
use crate::gardener::Webhooks;
use crate::kube::{KubeTestServer, client, create_namespaces, write_kubeconfig};
use crate::machines::{Kubelet, MachineLifecycle, Pool, metal_client, tail};
use crate::metal_api::{ADMIN_KEY, MetalApi, PARTITION, PROJECT};

pub const PROVIDER_API: &str = "metal.provider.extensions.gardener.cloud/v1alpha1";
pub const EXTENSIONS_API: &str = "extensions.gardener.cloud/v1alpha1";
/// The metal image machine image `ubuntu 24.4` maps to (compose/seed.yaml).
pub const IMAGE: &str = "ubuntu-24.04.20260101";
pub const FIREWALL_IMAGE: &str = "firewall-ubuntu-3.0.20260101";
pub const CLUSTER_LABEL: &str = "cluster.metal-stack.io/id";

/// One shoot: its seed namespace, name and UID.
#[derive(Debug, Clone, Copy)]
pub struct ShootRef {
    pub namespace: &'static str,
    pub name: &'static str,
    pub uid: &'static str,
}

/// The shoot the Machines are built for: machine-lifecycle's namespace.
pub const SHOOT: ShootRef = ShootRef {
    namespace: crate::machines::NAMESPACE,
    name: "c1",
    uid: "c1d2e3f4-0000-4000-8000-0000000000c1",
};
/// A second shoot of the same project, which the first one's deletion must not touch.
pub const OTHER: ShootRef = ShootRef {
    namespace: "shoot--prod--c2",
    name: "c2",
    uid: "c1d2e3f4-0000-4000-8000-0000000000c2",
};

pub fn resource(group_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = group_version.split_once('/').unwrap_or(("", group_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The CRDs served: upstream's from `../shared/contracts` plus schema-less stand-ins for
/// Gardener's CloudProfiles and the resource manager's ManagedResources.
pub fn crds(dir: &Path) -> Vec<PathBuf> {
    let contracts = kube_resources::contracts::upstream_crds()
        .expect("the extension tests need ../shared/contracts/crds");
    let mut files: Vec<PathBuf> = [
        "extensions.gardener.cloud_infrastructures.yaml",
        "extensions.gardener.cloud_controlplanes.yaml",
        "extensions.gardener.cloud_workers.yaml",
        "extensions.gardener.cloud_operatingsystemconfigs.yaml",
        "machine.sapcloud.io_machines.yaml",
        "machine.sapcloud.io_machineclasses.yaml",
        "machine.sapcloud.io_machinedeployments.yaml",
        "machine.sapcloud.io_machinesets.yaml",
        "firewall.metal-stack.io_firewalldeployments.yaml",
        "firewall.metal-stack.io_firewalls.yaml",
        "metal-stack.io_clusterwidenetworkpolicies.yaml",
    ]
    .iter()
    .map(|f| contracts.join(f))
    .collect();
    files.extend(crate::gardener::crds(dir));
    // The test API server has no apps group: the seed's Deployments are a stand-in too.
    for (group, version, kind, plural) in [
        (
            "resources.gardener.cloud",
            "v1alpha1",
            "ManagedResource",
            "managedresources",
        ),
        (
            "extensions.gardener.cloud",
            "v1alpha1",
            "DNSRecord",
            "dnsrecords",
        ),
        ("apps", "v1", "Deployment", "deployments"),
    ] {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group, "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                          "listKind": format!("{kind}List")},
                "versions": [{"name": version, "served": true, "storage": true,
                              "subresources": {"status": {}},
                              "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
            },
        });
        let path = dir.join(format!("{plural}.{group}.yaml"));
        std::fs::write(&path, serde_json::to_string(&crd).unwrap()).unwrap();
        files.push(path);
    }
    files
}

/// The CloudProfile as the Cluster carries it: one metal control plane (the test's metal-api)
/// serving the partition, firewall images and controller versions.
pub fn cloud_profile(metal_url: &str) -> Value {
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile",
        "metadata": {"name": "metal"},
        "spec": {
            "type": "metal",
            "regions": [{"name": "eu", "zones": [{"name": PARTITION}]}],
            "machineImages": [{"name": "ubuntu", "versions": [{"version": "24.4"}]}],
            "providerConfig": {
                "apiVersion": PROVIDER_API, "kind": "CloudProfileConfig",
                "metalControlPlanes": {"local": {
                    "endpoint": metal_url,
                    "partitions": {PARTITION: {"firewallTypes": ["n1-medium-x86"]}},
                    "firewallImages": [FIREWALL_IMAGE],
                    "firewallControllerVersions": [
                        {"version": "v2.3.0", "url": "https://example.com/fwc-v2.3.0", "classification": "supported"},
                        {"version": "v2.4.0", "url": "https://example.com/fwc-v2.4.0", "classification": "preview"},
                    ],
                    "nftablesExporter": {"version": "v0.3.0", "url": "https://example.com/nftables-exporter"},
                }},
            },
        },
    })
}

/// The shoot's two pools: sizes and minimums.
pub struct PoolSpec {
    pub name: &'static str,
    pub size: String,
    pub minimum: i64,
    pub maximum: i64,
}

/// The Shoot as Gardener copies it into the Cluster.
pub fn shoot(shoot: ShootRef, pools: &[PoolSpec], egress: &[&str]) -> Value {
    let workers: Vec<Value> = pools
        .iter()
        .map(|p| {
            json!({
                "name": p.name, "minimum": p.minimum, "maximum": p.maximum,
                "machine": {"type": p.size, "image": {"name": "ubuntu", "version": "24.4"}},
            })
        })
        .collect();
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
        "metadata": {"name": shoot.name, "namespace": "garden-prod", "uid": shoot.uid},
        "spec": {
            "region": "eu",
            "kubernetes": {"version": "1.31.4"},
            "networking": {"type": "calico", "pods": "10.244.0.0/16", "services": "10.96.0.0/16"},
            "maintenance": {"timeWindow": {"begin": "220000+0000", "end": "230000+0000"}},
            "provider": {
                "type": "metal",
                "infrastructureConfig": {
                    "apiVersion": PROVIDER_API, "kind": "InfrastructureConfig",
                    "partitionID": PARTITION, "projectID": PROJECT,
                    "firewall": {
                        "size": "n1-medium-x86", "image": FIREWALL_IMAGE, "networks": ["internet"],
                        "egressRules": if egress.is_empty() { json!([]) } else {
                            json!([{"networkID": "internet", "ips": egress}])
                        },
                    },
                },
                "controlPlaneConfig": {"apiVersion": PROVIDER_API, "kind": "ControlPlaneConfig"},
                "workers": workers,
            },
        },
    })
}

pub fn cluster(shoot_ref: ShootRef, shoot: Value, metal_url: &str) -> Value {
    json!({
        "apiVersion": EXTENSIONS_API, "kind": "Cluster",
        "metadata": {"name": shoot_ref.namespace},
        "spec": {
            "shoot": shoot,
            "cloudProfile": cloud_profile(metal_url),
            "seed": {"apiVersion": "core.gardener.cloud/v1beta1", "kind": "Seed", "metadata": {"name": "local"}},
        },
    })
}

fn extension(kind: &str, shoot: ShootRef, spec: Value) -> Value {
    let mut spec = spec;
    spec["type"] = "metal".into();
    json!({
        "apiVersion": EXTENSIONS_API, "kind": kind,
        "metadata": {"name": shoot.name, "namespace": shoot.namespace},
        "spec": spec,
    })
}

pub fn infrastructure(shoot_ref: ShootRef, shoot: &Value) -> Value {
    extension(
        "Infrastructure",
        shoot_ref,
        json!({
            "region": "eu",
            "secretRef": {"name": "cloudprovider", "namespace": shoot_ref.namespace},
            "providerConfig": shoot.pointer("/spec/provider/infrastructureConfig").unwrap(),
        }),
    )
}

pub fn control_plane(shoot_ref: ShootRef, shoot: &Value) -> Value {
    extension(
        "ControlPlane",
        shoot_ref,
        json!({
            "region": "eu",
            "secretRef": {"name": "cloudprovider", "namespace": shoot_ref.namespace},
            "providerConfig": shoot.pointer("/spec/provider/controlPlaneConfig").unwrap(),
        }),
    )
}

/// The DNSRecord of the shoot's API server (gardenlet's `<shoot>-external`), whose addresses
/// the control plane's network policies allow.
pub fn dns_record(shoot: ShootRef) -> Value {
    json!({
        "apiVersion": EXTENSIONS_API, "kind": "DNSRecord",
        "metadata": {"name": format!("{}-external", shoot.name), "namespace": shoot.namespace},
        "spec": {"type": "local", "name": format!("api.{}.example.com", shoot.name),
                 "recordType": "A", "values": ["203.0.113.10"],
                 "secretRef": {"name": "dns", "namespace": shoot.namespace}},
    })
}

/// What firewall-controller-manager does when a FirewallDeployment is deleted (there is none
/// here): drops its finalizer, so the Worker's deletion can finish. Runs until the task is
/// aborted.
pub fn firewall_manager_stand_in(
    kube: kube::Client,
    namespace: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<DynamicObject> = Api::namespaced_with(
            kube,
            namespace,
            &resource(
                "firewall.metal-stack.io/v2",
                "FirewallDeployment",
                "firewalldeployments",
            ),
        );
        loop {
            let list = api.list(&Default::default()).await;
            if let Err(e) = &list {
                eprintln!("firewall-controller-manager stand-in: listing: {e}");
            }
            if let Ok(list) = list {
                for fd in list.items {
                    if fd.metadata.deletion_timestamp.is_some()
                        && fd
                            .metadata
                            .finalizers
                            .as_ref()
                            .is_some_and(|f| !f.is_empty())
                    {
                        let patch = json!({"metadata": {"finalizers": []}});
                        let name = fd.metadata.name.as_deref().unwrap_or_default();
                        if let Err(e) = api
                            .patch(name, &PatchParams::default(), &Patch::Merge(patch))
                            .await
                        {
                            eprintln!("firewall-controller-manager stand-in: {name}: {e}");
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
}

/// The provision OSC of a pool (what gardenlet writes for each worker pool).
pub fn osc(shoot: ShootRef, pool: &str) -> Value {
    use base64::Engine as _;
    json!({
        "apiVersion": EXTENSIONS_API, "kind": "OperatingSystemConfig",
        "metadata": {"name": format!("osc-{pool}"), "namespace": shoot.namespace},
        "spec": {
            "type": "ubuntu", "purpose": "provision",
            "units": [{"name": "kubelet.service", "command": "start", "enable": true,
                       "content": format!("[Service]\nExecStart=/opt/bin/kubelet --node-labels=pool={pool}\n")}],
            "files": [{"path": "/etc/motd", "content": {"inline": {
                "encoding": "b64",
                "data": base64::engine::general_purpose::STANDARD.encode(format!("pool {pool}\n")),
            }}}],
        },
    })
}

pub const SSH_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMetalMeshExtensionsTestKey00000000";

pub fn worker(shoot: ShootRef, pools: &[PoolSpec]) -> Value {
    use base64::Engine as _;
    let pools: Vec<Value> = pools
        .iter()
        .map(|p| json!({
            "name": p.name, "machineType": p.size, "minimum": p.minimum, "maximum": p.maximum,
            "maxSurge": 1, "maxUnavailable": 0,
            "machineImage": {"name": "ubuntu", "version": "24.4"},
            "userDataSecretRef": {"name": format!("osc-result-osc-{}", p.name), "key": "cloud_config"},
            "labels": {"worker.gardener.cloud/pool": p.name},
            "zones": [PARTITION],
        }))
        .collect();
    extension(
        "Worker",
        shoot,
        json!({
            "region": "eu",
            "secretRef": {"name": "cloudprovider", "namespace": shoot.namespace},
            "sshPublicKey": base64::engine::general_purpose::STANDARD.encode(SSH_KEY),
            "pools": pools,
        }),
    )
}

/// Everything the tests need; processes drop before their directory.
pub struct Stack {
    pub kubelet: Option<Kubelet>,
    pub ml: Option<MachineLifecycle>,
    pub webhooks: Webhooks,
    pub server: KubeTestServer,
    pub kube: kube::Client,
    pub kubeconfig: PathBuf,
    pub metal: Client,
    pub metal_api: MetalApi,
    pub pools: Vec<Pool>,
    pub pki: TestPki,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// metal-api with a machine size per entry of `pools` (`machines` each), kube-testserver,
    /// gardener-webhooks with the extension and OS controllers; machine-lifecycle and the
    /// kubelet simulator only with `machines`.
    pub async fn start(pools: &[(&str, usize)], machines: bool) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("metal-api");
        std::fs::create_dir_all(&data).unwrap();
        let metal_api = MetalApi::start(&data);
        let metal = metal_client(&metal_api);
        let mut created = Vec::new();
        for (size, count) in pools {
            created.push(Pool::create(&metal, size, "pool-owner", *count).await);
        }
        let crds = crds(dir.path());
        let crds: Vec<&Path> = crds.iter().map(PathBuf::as_path).collect();
        let server = KubeTestServer::start(&crds, &[]);
        let kube = client(&server.url());
        create_namespaces(&kube, &[SHOOT.namespace, OTHER.namespace, "garden"]).await;
        let kubeconfig = write_kubeconfig(dir.path(), &server.url());
        let pki = TestPki::new("extensions");
        let image = format!("ubuntu:24.4={IMAGE}");
        let webhooks = Webhooks::start(
            dir.path(),
            &pki,
            &kubeconfig,
            &[
                "--auth",
                "none",
                "--os-controller",
                "--extensions",
                "--machine-image",
                &image,
                "--firewall-internal-prefix",
                "10.0.0.0/8",
                "--metal-api-timeout",
                "3s",
                "--log-level",
                &std::env::var("GW_LOG").unwrap_or_else(|_| "info,kube=warn,hyper=warn".into()),
            ],
            &[],
        )
        .await;
        let (ml, kubelet) = if machines {
            let ml = MachineLifecycle::start(
                dir.path(),
                Some(&kubeconfig),
                &[
                    "--machine-deployments",
                    "--retry-short",
                    "1s",
                    "--retry-medium",
                    "3s",
                ],
            )
            .await;
            (
                Some(ml),
                Some(Kubelet::start(kube.clone(), SHOOT.namespace)),
            )
        } else {
            (None, None)
        };
        Stack {
            kubelet,
            ml,
            webhooks,
            server,
            kube,
            kubeconfig,
            metal,
            metal_api,
            pools: created,
            pki,
            dir,
        }
    }

    pub fn api(&self, namespace: Option<&str>, ar: &ApiResource) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.kube.clone(), ns, ar),
            None => Api::all_with(self.kube.clone(), ar),
        }
    }

    pub fn extension_api(&self, kind: &str, plural: &str, namespace: &str) -> Api<DynamicObject> {
        self.api(Some(namespace), &resource(EXTENSIONS_API, kind, plural))
    }

    /// Creates `object` (its kind's plural is `plural`).
    pub async fn create(&self, plural: &str, object: &Value) {
        let api_version = object["apiVersion"].as_str().unwrap();
        let kind = object["kind"].as_str().unwrap();
        let ar = resource(api_version, kind, plural);
        let api = self.api(
            object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str),
            &ar,
        );
        let object: DynamicObject = serde_json::from_value(object.clone()).unwrap();
        api.create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "creating {kind} {}: {e}",
                    object.metadata.name.clone().unwrap_or_default()
                )
            });
    }

    /// The cloudprovider Secret of `shoot`: metal-api's admin HMAC key.
    pub async fn cloudprovider_secret(&self, shoot: ShootRef) {
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cloudprovider", "namespace": shoot.namespace},
            "stringData": {"metalAPIHMac": ADMIN_KEY},
        });
        let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(secret).unwrap();
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(self.kube.clone(), shoot.namespace)
            .create(&PostParams::default(), &secret)
            .await
            .expect("create the cloudprovider secret");
    }

    /// Merge-patches the Cluster's shoot (as gardenlet updates it).
    pub async fn patch_cluster_shoot(&self, shoot: ShootRef, patch: Value) {
        let api = self.api(None, &resource(EXTENSIONS_API, "Cluster", "clusters"));
        api.patch(
            shoot.namespace,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"shoot": patch}})),
        )
        .await
        .expect("patch the Cluster");
    }

    /// Sets the operation annotation gardenlet sets to ask for a reconcile.
    pub async fn annotate_reconcile(&self, kind: &str, plural: &str, shoot: ShootRef) {
        self.annotate_operation(kind, plural, shoot, "reconcile")
            .await;
    }

    /// Sets gardenlet's operation annotation (`reconcile`, `migrate`, `restore`).
    pub async fn annotate_operation(&self, kind: &str, plural: &str, shoot: ShootRef, op: &str) {
        let patch = json!({"metadata": {"annotations": {"gardener.cloud/operation": op}}});
        self.extension_api(kind, plural, shoot.namespace)
            .patch(shoot.name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("annotate");
    }

    pub async fn get(&self, kind: &str, plural: &str, shoot: ShootRef) -> Option<Value> {
        self.extension_api(kind, plural, shoot.namespace)
            .get_opt(shoot.name)
            .await
            .expect("read extension object")
            .map(|o| serde_json::to_value(o).unwrap())
    }

    pub async fn delete(&self, kind: &str, plural: &str, shoot: ShootRef) {
        match self
            .extension_api(kind, plural, shoot.namespace)
            .delete(shoot.name, &DeleteParams::default())
            .await
        {
            Ok(_) | Err(kube::Error::Api(_)) => {}
            Err(e) => panic!("deleting {kind}: {e}"),
        }
    }

    /// Waits for the extension object to report `state` for its last operation, and returns it.
    pub async fn operation_state(
        &self,
        kind: &str,
        plural: &str,
        shoot: ShootRef,
        state: &str,
        deadline: Duration,
    ) -> Value {
        self.eventually(
            &format!("{kind} {} lastOperation {state}", shoot.name),
            deadline,
            || async {
                let object = self.get(kind, plural, shoot).await?;
                let last = object
                    .pointer("/status/lastOperation/state")
                    .and_then(Value::as_str);
                (last == Some(state)).then_some(object)
            },
        )
        .await
    }

    /// Waits until the object is gone (its finalizer removed).
    pub async fn gone(&self, kind: &str, plural: &str, shoot: ShootRef, deadline: Duration) {
        self.eventually(
            &format!("{kind} {} deleted", shoot.name),
            deadline,
            || async {
                let object = self.get(kind, plural, shoot).await;
                if let Some(object) = &object {
                    // Shown when the wait times out.
                    eprintln!(
                        "{kind} {}: {}",
                        shoot.name, object["status"]["lastOperation"]
                    );
                }
                object.is_none().then_some(())
            },
        )
        .await
    }

    pub async fn eventually<T, F, Fut>(&self, what: &str, deadline: Duration, probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        crate::eventually(what, deadline, Duration::from_millis(200), probe).await
    }

    /// The networks metal-api holds for `shoot` (by the cluster label).
    pub async fn networks(&self, shoot: ShootRef) -> Vec<NetworkResponse> {
        self.metal
            .find_networks(&NetworkFindRequest {
                labels: Some([(CLUSTER_LABEL.to_string(), shoot.uid.to_string())].into()),
                ..Default::default()
            })
            .await
            .expect("find networks")
    }

    /// The machines allocated for `shoot` (by the cluster tag).
    pub async fn machines(&self, shoot: ShootRef) -> Vec<MachineResponse> {
        crate::machines::allocations(&self.metal, shoot.uid)
            .await
            .expect("find machines")
    }

    /// The IPs of the project carrying `tag`.
    pub async fn ips_tagged(&self, tag: &str) -> Vec<metal_api_sdk::model::IpResponse> {
        self.metal
            .find_ips(&IpFindRequest {
                projectid: Some(PROJECT.into()),
                tags: Some(vec![tag.into()]),
                ..Default::default()
            })
            .await
            .expect("find IPs")
    }
}

/// A failing test shows the end of the controllers' logs (all of them with MESH_TEST_LOGS).
impl Drop for Stack {
    fn drop(&mut self) {
        let all = std::env::var_os("MESH_TEST_LOGS").is_some();
        if !all && !std::thread::panicking() {
            return;
        }
        let gw = std::fs::read_to_string(&self.webhooks.log).unwrap_or_default();
        eprintln!(
            "gardener-webhooks log:\n{}",
            if all { gw } else { tail(&gw, 200) }
        );
        if let Some(ml) = &self.ml {
            let log = ml.log();
            eprintln!(
                "machine-lifecycle log:\n{}",
                if all { log } else { tail(&log, 120) }
            );
        }
    }
}

/// `python3 integration/scripts/validate_manifests.py` on `docs` (YAML or JSON documents):
/// `Ok(summary)`, `Err(report)` on invalid manifests, `None` when the Python packages are
/// missing (outside CI only).
pub fn validate_manifests(docs: &[Value]) -> Option<Result<String, String>> {
    use std::io::Write as _;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = crate::workspace_root().join("integration/scripts/validate_manifests.py");
    let mut child = std::process::Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let input = serde_json::to_string(docs).unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout).to_string();
    let err = String::from_utf8_lossy(&output.stderr).to_string();
    match output.status.code() {
        Some(0) => Some(Ok(out)),
        Some(3) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "kubernetes-validate is missing and CI is set: {err}"
            );
            None
        }
        _ => Some(Err(format!("{out}\n{err}"))),
    }
}
