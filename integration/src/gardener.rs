//! The gardener-webhooks binary as a child process over TLS against a kube-testserver that
//! serves Gardener's kinds, and the garden objects the tests and the benchmark review.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::auth::TestPki;

pub const METAL_API_VERSION: &str = "metal.provider.extensions.gardener.cloud/v1alpha1";
pub const SHOOT_NAMESPACE: &str = "garden-p";
pub const TENANT: &str = "cluster.metal-stack.io/tenant";

/// Schema-less CRDs for the garden's CloudProfiles and NamespacedCloudProfiles (served by
/// Gardener's aggregated API, not CRDs) and the seed's Clusters (upstream's CRD from
/// `../shared/contracts` when present), written into `dir`.
pub fn crds(dir: &Path) -> Vec<PathBuf> {
    let mut kinds = vec![
        (
            "core.gardener.cloud",
            "v1beta1",
            "CloudProfile",
            "cloudprofiles",
            "Cluster",
        ),
        (
            "core.gardener.cloud",
            "v1beta1",
            "NamespacedCloudProfile",
            "namespacedcloudprofiles",
            "Namespaced",
        ),
    ];
    let mut files = Vec::new();
    match kube_resources::contracts::upstream_crds() {
        Some(contracts) => files.push(contracts.join("extensions.gardener.cloud_clusters.yaml")),
        None => kinds.push((
            "extensions.gardener.cloud",
            "v1alpha1",
            "Cluster",
            "clusters",
            "Cluster",
        )),
    }
    for (group, version, kind, plural, scope) in kinds {
        let path = dir.join(format!("{plural}.{group}.yaml"));
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group, "scope": scope,
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                "versions": [{"name": version, "served": true, "storage": true,
                              "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
            },
        });
        std::fs::write(&path, serde_json::to_string(&crd).unwrap()).expect("write CRD");
        files.push(path);
    }
    files
}

/// A CloudProfile `metal` with `partitions` zones `part-00`… in region `eu`, one control
/// plane, firewall types, images and controller versions; partition `part-00` is isolated.
pub fn cloud_profile(partitions: usize) -> Value {
    let names: Vec<String> = (0..partitions).map(|i| format!("part-{i:02}")).collect();
    let mut configs = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let mut partition = json!({"firewallTypes": ["n1-medium-x86", "c1-xlarge-x86"]});
        if i == 0 {
            partition["networkIsolation"] = json!({
                "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["10.0.0.0/8", "100.64.0.0/10"]},
                "dnsServers": ["10.0.0.53", "10.0.1.53"], "ntpServers": ["10.0.0.123"],
                "registryMirrors": [{"name": "mirror", "endpoint": "https://mirror.example.com",
                                     "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io", "ghcr.io"]}],
            });
        }
        configs.insert(name.clone(), partition);
    }
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "CloudProfile",
        "metadata": {"name": "metal", "labels": {"provider.extensions.gardener.cloud/metal": "true"}},
        "spec": {
            "type": "metal",
            "kubernetes": {"versions": [{"version": "1.32.4"}, {"version": "1.31.9"}]},
            "machineImages": [{"name": "ubuntu", "versions": [{"version": "24.4.20250101"}, {"version": "22.4.20240601"}]}],
            "machineTypes": [{"name": "c1-xlarge-x86", "cpu": "32", "gpu": "0", "memory": "128Gi"}],
            "regions": [{"name": "eu", "zones": names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>()}],
            "providerConfig": {
                "apiVersion": METAL_API_VERSION, "kind": "CloudProfileConfig",
                "metalControlPlanes": {"prod": {
                    "endpoint": "https://api.example.com/metal",
                    "partitions": configs,
                    "firewallImages": ["firewall-ubuntu-3.0.20240101", "firewall-ubuntu-3.0.20250101", "firewall-debian-2.0"],
                    "firewallControllerVersions": [
                        {"version": "v2.3.4", "url": "https://example.com/fc/v2.3.4", "classification": "supported"},
                        {"version": "v2.4.0", "url": "https://example.com/fc/v2.4.0", "classification": "preview"},
                    ],
                    "nftablesExporter": {"version": "v0.3.0", "url": "https://example.com/nft"},
                }},
            },
        },
    })
}

/// A Shoot of tenant `acme` in `partition` with three worker pools and a firewall with four
/// networks, rate limits and egress rules: what the validator sees in production.
pub fn shoot(partition: &str) -> Value {
    let pool = |name: &str| {
        json!({"name": name, "minimum": 2, "maximum": 5, "maxSurge": 1, "maxUnavailable": 0,
               "machine": {"type": "c1-xlarge-x86", "image": {"name": "ubuntu", "version": "24.4.20250101"}},
               "labels": {"pool": name}})
    };
    json!({
        "apiVersion": "core.gardener.cloud/v1beta1", "kind": "Shoot",
        "metadata": {"name": "prod", "namespace": SHOOT_NAMESPACE, "uid": "3c1d4f6a-0000-4000-8000-000000000001",
                     "annotations": {TENANT: "acme"},
                     "labels": {"provider.extensions.gardener.cloud/metal": "true"}},
        "spec": {
            "cloudProfileName": "metal", "region": "eu", "secretBindingName": "metal-credentials",
            "kubernetes": {"version": "1.32.4"},
            "networking": {"type": "calico", "nodes": "10.0.16.0/22"},
            "provider": {
                "type": "metal",
                "infrastructureConfig": {
                    "apiVersion": METAL_API_VERSION, "kind": "InfrastructureConfig",
                    "partitionID": partition, "projectID": "8d1b2c3e-0000-4000-8000-00000000000a",
                    "firewall": {
                        "size": "c1-xlarge-x86", "image": "firewall-ubuntu-3.0.20250101",
                        "networks": ["internet", "mpls", "dmz", "storage"],
                        "rateLimits": [{"networkID": "internet", "rateLimit": 1000}, {"networkID": "mpls", "rateLimit": 500}],
                        "egressRules": [{"networkID": "internet", "ips": ["185.1.2.3", "185.1.2.4"]}],
                        "controllerVersion": "auto",
                    },
                },
                "controlPlaneConfig": {"apiVersion": METAL_API_VERSION, "kind": "ControlPlaneConfig",
                                       "networkAccessType": "baseline"},
                "workers": [pool("system"), pool("apps"), pool("batch")],
            },
        },
    })
}

/// An AdmissionReview request for `object` (kind from the object).
pub fn review(
    uid: &str,
    resource: &str,
    operation: &str,
    object: &Value,
    old: Option<&Value>,
) -> Value {
    let api_version = object["apiVersion"].as_str().unwrap_or("v1");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": object["kind"]},
            "resource": {"group": group, "version": version, "resource": resource},
            "name": object["metadata"]["name"], "namespace": object["metadata"]["namespace"],
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:garden:gardener-apiserver"},
            "object": object, "oldObject": old,
            "dryRun": false,
        },
    })
}

/// A running gardener-webhooks, serving TLS with a certificate of `pki`. Killed on drop.
pub struct Webhooks {
    pub addr: SocketAddr,
    child: Child,
    pub log: PathBuf,
}

impl Webhooks {
    /// `gardener-webhooks --listen <free port> --tls-cert-file … --tls-key-file …
    /// --kubeconfig <kubeconfig> [args…]`, logging into `dir/gardener-webhooks.log`; returns
    /// once `/readyz` answers 200 (the watches have listed).
    pub async fn start(
        dir: &Path,
        pki: &TestPki,
        kubeconfig: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let serving = pki.serving("gardener-webhooks");
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).unwrap();
        let (cert, key) = serving.write(&tls);
        let addr = crate::free_addr();
        let log = dir.join("gardener-webhooks.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(crate::binary("gardener-webhooks"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--tls-cert-file")
            .arg(&cert)
            .arg("--tls-key-file")
            .arg(&key)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("KUBECONFIG")
            .stdout(out.try_clone().unwrap())
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start gardener-webhooks");
        let webhooks = Self { addr, child, log };
        webhooks.wait_ready(pki).await;
        webhooks
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    async fn wait_ready(&self, pki: &TestPki) {
        crate::wait_for_port(self.addr, Duration::from_secs(60));
        let http = crate::auth::bearer_tls_client("none", &pki.ca_pem);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = http
                .get(self.url("/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gardener-webhooks not ready; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
