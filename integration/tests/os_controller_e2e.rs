//! gardener-webhooks' OperatingSystemConfig controller end to end: the binary with
//! `--os-controller --leader-elect` against kube-testserver over HTTP with watches, rendering
//! OSCs into result Secrets and status as Gardener's extension contract asks.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use integration::auth::{TestPki, bearer_tls_client};
use integration::gardener::Webhooks;
use integration::kube::{KubeTestServer, client, create_namespaces, write_kubeconfig};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde_json::{Value, json};

const NS: &str = "shoot--prod--c1";
const FINALIZER: &str = "extensions.gardener.cloud/os-metal";
const LEASE: &str = "gardener-webhooks-os-controller";
const IDENTITY: &str = "os-controller-e2e-0";
const DEADLINE: Duration = Duration::from_secs(30);

fn osc_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(
            "extensions.gardener.cloud",
            "v1alpha1",
            "OperatingSystemConfig",
        ),
        "operatingsystemconfigs",
    )
}

/// Gardener's OSC CRD from the contracts, else a schema-less stand-in with the status
/// subresource, written into `dir`.
fn osc_crd(dir: &Path) -> PathBuf {
    let upstream = kube_resources::contracts::upstream_crds()
        .map(|d| d.join("extensions.gardener.cloud_operatingsystemconfigs.yaml"))
        .filter(|p| p.exists());
    if let Some(path) = upstream {
        return path;
    }
    let path = dir.join("operatingsystemconfigs.extensions.gardener.cloud.yaml");
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "operatingsystemconfigs.extensions.gardener.cloud"},
        "spec": {
            "group": "extensions.gardener.cloud", "scope": "Namespaced",
            "names": {"kind": "OperatingSystemConfig", "plural": "operatingsystemconfigs",
                      "singular": "operatingsystemconfig", "listKind": "OperatingSystemConfigList"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    });
    std::fs::write(&path, serde_json::to_string(&crd).unwrap()).expect("write CRD");
    path
}

struct Mesh {
    _dir: tempfile::TempDir,
    _kube: KubeTestServer,
    kube: kube::Client,
    webhooks: Webhooks,
    pki: TestPki,
}

impl Mesh {
    async fn start() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let crd = osc_crd(dir.path());
        let server = KubeTestServer::start(&[crd.as_path()], &[]);
        let kube = client(&server.url());
        create_namespaces(&kube, &[NS]).await;
        let kubeconfig = write_kubeconfig(dir.path(), &server.url());
        let pki = TestPki::new("gardener-webhooks");
        // No webhook needs a watch of garden objects: the controller is the subject here.
        let args = [
            "--auth",
            "none",
            "--webhooks",
            "secrets-validator",
            "--os-controller",
            "--leader-elect",
            "--leader-elect-namespace",
            "default",
        ];
        let webhooks = Webhooks::start(
            dir.path(),
            &pki,
            &kubeconfig,
            &args,
            &[("POD_NAME", IDENTITY), ("RUST_LOG", "info")],
        )
        .await;
        Mesh {
            _dir: dir,
            _kube: server,
            kube,
            webhooks,
            pki,
        }
    }

    fn oscs(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.kube.clone(), NS, &osc_resource())
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.kube.clone(), NS)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.webhooks.log).unwrap_or_default()
    }

    async fn osc(&self, name: &str) -> Option<Value> {
        self.oscs()
            .get_opt(name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap())
    }

    async fn secret(&self, name: &str) -> Option<Value> {
        self.secrets()
            .get_opt(name)
            .await
            .unwrap()
            .map(|s| serde_json::to_value(s).unwrap())
    }

    async fn create_osc(&self, osc: Value) {
        let object: DynamicObject = serde_json::from_value(osc).unwrap();
        self.oscs()
            .create(&PostParams::default(), &object)
            .await
            .expect("create OSC");
    }

    async fn put_secret(&self, name: &str, key: &str, value: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS},
            "data": {key: B64.encode(value)},
        }))
        .unwrap();
        match self.secrets().get_opt(name).await.unwrap() {
            Some(_) => {
                let patch = json!({"data": {key: B64.encode(value)}});
                self.secrets()
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .expect("update Secret");
            }
            None => {
                self.secrets()
                    .create(&PostParams::default(), &secret)
                    .await
                    .expect("create Secret");
            }
        }
    }

    /// Polls `probe` until it yields a value; fails with `what` and the service log.
    async fn eventually<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The OSC once its status says `state` for the current generation.
    async fn osc_in_state(&self, name: &str, state: &str) -> Value {
        self.eventually(&format!("OSC {name} in state {state}"), || async {
            let osc = self.osc(name).await?;
            let generation = osc.pointer("/metadata/generation").cloned();
            (osc.pointer("/status/lastOperation/state") == Some(&json!(state))
                && osc.pointer("/status/observedGeneration").cloned() == generation)
                .then_some(osc)
        })
        .await
    }

    /// The Ignition document in the result Secret once `accept` takes it.
    async fn userdata(&self, name: &str, accept: impl Fn(&Value) -> bool) -> (Value, Value) {
        let secret_name = format!("osc-result-{name}");
        self.eventually(&format!("userdata in {secret_name}"), || async {
            let secret = self.secret(&secret_name).await?;
            let encoded = secret.pointer("/data/cloud_config")?.as_str()?;
            let ignition: Value = serde_json::from_slice(&B64.decode(encoded).ok()?).ok()?;
            accept(&ignition).then_some((secret, ignition))
        })
        .await
    }
}

/// The decoded content of the Ignition file at `path` (a `data:,` URL), if there is one.
fn file_content(ignition: &Value, path: &str) -> Option<String> {
    let file = ignition
        .pointer("/storage/files")?
        .as_array()?
        .iter()
        .find(|f| f["path"] == path)?;
    let source = file.pointer("/contents/source")?.as_str()?;
    Some(percent_decode(source.strip_prefix("data:,")?))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn provision_osc(name: &str, secret: &str) -> Value {
    json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "OperatingSystemConfig",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "type": "ubuntu", "purpose": "provision",
            "units": [{"name": "kubelet.service", "command": "start", "enable": true,
                       "content": "[Service]\nExecStart=/opt/bin/kubelet\n"}],
            "files": [
                {"path": "/var/lib/kubelet/ca.crt", "permissions": 420,
                 "content": {"secretRef": {"name": secret, "dataKey": "ca.crt"}}},
                {"path": "/etc/motd", "content": {"inline": {"encoding": "b64", "data": B64.encode("metal\n")}}},
            ],
        },
    })
}

fn reconcile_osc(name: &str) -> Value {
    json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "OperatingSystemConfig",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "type": "debian", "purpose": "reconcile",
            "criConfig": {"name": "containerd", "cgroupDriver": "cgroupfs"},
            "providerConfig": {
                "apiVersion": "metal.provider.extensions.gardener.cloud/v1alpha1",
                "kind": "ImageProviderConfig",
                "networkIsolation": {
                    "allowedNetworks": {"ingress": ["10.0.0.0/8"], "egress": ["10.0.0.0/8"]},
                    "dnsServers": ["10.0.0.53", "10.0.1.53"], "ntpServers": ["10.0.0.123"],
                    "registryMirrors": [{"name": "mirror", "endpoint": "https://mirror.example.com",
                                         "ip": "10.0.0.5", "port": 443, "mirrorOf": ["docker.io", "ghcr.io"]}],
                },
            },
        },
    })
}

fn finalizers(object: &Value) -> Vec<&str> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn operating_system_configs_are_rendered_into_result_secrets_and_status() {
    let mesh = Mesh::start().await;

    // Leader election: this replica holds the Lease.
    let leases: Api<Lease> = Api::namespaced(mesh.kube.clone(), "default");
    mesh.eventually("the Lease held by this replica", || async {
        let lease = leases.get_opt(LEASE).await.unwrap()?;
        (lease.spec?.holder_identity.as_deref() == Some(IDENTITY)).then_some(())
    })
    .await;

    // 1. A provision OSC with a file from a Secret: result Secret, status, finalizer.
    mesh.put_secret("kubelet-ca", "ca.crt", "CA-ONE").await;
    mesh.create_osc(provision_osc("worker-a", "kubelet-ca"))
        .await;
    let osc = mesh.osc_in_state("worker-a", "Succeeded").await;
    let (secret, ignition) = mesh
        .userdata("worker-a", |i| {
            file_content(i, "/var/lib/kubelet/ca.crt").as_deref() == Some("CA-ONE")
        })
        .await;
    assert_eq!(ignition.pointer("/ignition/version"), Some(&json!("2.3.0")));
    assert_eq!(
        file_content(&ignition, "/etc/motd").as_deref(),
        Some("metal\n")
    );
    assert_eq!(
        secret.pointer("/metadata/ownerReferences"),
        Some(&json!([{
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "OperatingSystemConfig",
            "name": "worker-a", "uid": osc["metadata"]["uid"],
            "controller": true, "blockOwnerDeletion": true,
        }]))
    );
    assert_eq!(
        osc.pointer("/status/cloudConfig/secretRef"),
        Some(&json!({"name": "osc-result-worker-a", "namespace": NS}))
    );
    let last = &osc["status"]["lastOperation"];
    assert_eq!(last["type"], "Create");
    assert_eq!(last["progress"], 100);
    assert!(
        last["lastUpdateTime"].as_str().unwrap().ends_with('Z'),
        "{last}"
    );
    assert_eq!(
        osc["status"]["observedGeneration"],
        osc["metadata"]["generation"]
    );
    assert!(osc["status"].get("lastError").is_none(), "{osc}");
    assert_eq!(finalizers(&osc), [FINALIZER]);

    // 2. The referenced Secret changes: new userdata.
    mesh.put_secret("kubelet-ca", "ca.crt", "CA-TWO").await;
    mesh.userdata("worker-a", |i| {
        file_content(i, "/var/lib/kubelet/ca.crt").as_deref() == Some("CA-TWO")
    })
    .await;
    let osc = mesh.osc_in_state("worker-a", "Succeeded").await;
    assert_eq!(osc["status"]["lastOperation"]["type"], "Reconcile");

    // 3. A reconcile OSC: extension files in the status, no result Secret.
    mesh.create_osc(reconcile_osc("worker-r")).await;
    let osc = mesh.osc_in_state("worker-r", "Succeeded").await;
    let paths: Vec<&str> = osc["status"]["extensionFiles"]
        .as_array()
        .unwrap_or_else(|| panic!("no extensionFiles: {osc}"))
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    for path in [
        "/etc/containerd/certs.d/docker.io/hosts.toml",
        "/etc/containerd/certs.d/ghcr.io/hosts.toml",
        "/etc/containerd/config.toml",
        "/etc/systemd/resolved.conf.d/dns.conf",
        "/etc/systemd/timesyncd.conf",
    ] {
        assert!(paths.contains(&path), "{path} missing from {paths:?}");
    }
    assert!(osc["status"].get("cloudConfig").is_none(), "{osc}");
    assert!(mesh.secret("osc-result-worker-r").await.is_none());
    assert_eq!(finalizers(&osc), [FINALIZER]);

    // 4. A missing Secret: Error naming it (and an Event), then Succeeded once it exists.
    mesh.create_osc(provision_osc("worker-m", "late-ca")).await;
    let osc = mesh.osc_in_state("worker-m", "Error").await;
    let description = osc["status"]["lastOperation"]["description"]
        .as_str()
        .unwrap();
    assert!(
        description.contains("\"late-ca\" not found"),
        "{description}"
    );
    assert_eq!(osc["status"]["lastError"]["description"], description);
    assert_eq!(osc["status"]["lastOperation"]["type"], "Create");
    assert_eq!(finalizers(&osc), [FINALIZER]);
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(mesh.kube.clone(), NS);
    mesh.eventually("a RenderFailed Event on worker-m", || async {
        let list = events.list(&ListParams::default()).await.unwrap();
        list.items
            .iter()
            .any(|e| {
                e.reason.as_deref() == Some("RenderFailed")
                    && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("worker-m")
            })
            .then_some(())
    })
    .await;
    mesh.put_secret("late-ca", "ca.crt", "CA-LATE").await;
    mesh.userdata("worker-m", |i| {
        file_content(i, "/var/lib/kubelet/ca.crt").as_deref() == Some("CA-LATE")
    })
    .await;
    let osc = mesh.osc_in_state("worker-m", "Succeeded").await;
    assert_eq!(osc["status"]["lastOperation"]["type"], "Create");
    assert!(osc["status"].get("lastError").is_none(), "{osc}");

    // 5. The reconcile annotation: rendered again, the annotation removed. (Status times are
    // in seconds: wait for the next one so the new lastUpdateTime is later.)
    let before = mesh.osc("worker-a").await.unwrap()["status"]["lastOperation"]["lastUpdateTime"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let patch = json!({"metadata": {"annotations": {"gardener.cloud/operation": "reconcile"}}});
    mesh.oscs()
        .patch("worker-a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let osc = mesh
        .eventually("worker-a reconciled on request", || async {
            let osc = mesh.osc("worker-a").await?;
            let annotated = osc
                .pointer("/metadata/annotations/gardener.cloud~1operation")
                .is_some();
            let last = &osc["status"]["lastOperation"];
            let time = last["lastUpdateTime"].as_str()?;
            (!annotated && last["state"] == "Succeeded" && time > before.as_str()).then_some(osc)
        })
        .await;
    assert_eq!(osc["status"]["lastOperation"]["type"], "Reconcile");

    // 6. Other OS types are left alone.
    let mut other = provision_osc("worker-g", "kubelet-ca");
    other["spec"]["type"] = json!("gardenlinux");
    mesh.create_osc(other).await;

    // 7. Deletion: the finalizer is released, the OSC and (by owner reference) its result
    // Secret go.
    mesh.oscs()
        .delete("worker-a", &DeleteParams::default())
        .await
        .unwrap();
    mesh.eventually("worker-a gone", || async {
        mesh.osc("worker-a").await.is_none().then_some(())
    })
    .await;
    mesh.eventually("osc-result-worker-a garbage-collected", || async {
        mesh.secret("osc-result-worker-a")
            .await
            .is_none()
            .then_some(())
    })
    .await;

    let other = mesh.osc("worker-g").await.unwrap();
    assert!(finalizers(&other).is_empty(), "{other}");
    assert!(
        other
            .get("status")
            .is_none_or(|s| s.get("lastOperation").is_none()),
        "{other}"
    );
    assert!(mesh.secret("osc-result-worker-g").await.is_none());

    // Reconcile metrics.
    let http = bearer_tls_client("none", &mesh.pki.ca_pem);
    let metrics = http
        .get(mesh.webhooks.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"reconciles_total{controller="operatingsystemconfig",result="success"}"#),
        "{metrics}"
    );
}
