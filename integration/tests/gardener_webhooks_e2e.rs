//! gardener-webhooks end to end: the binary over HTTPS, reading CloudProfiles, Secrets and
//! Clusters from kube-testserver, answering AdmissionReviews as kube-apiserver sends them.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use integration::auth::{ADMIN_TOKEN, StaticAuth, TestPki, bearer_tls_client};
use integration::gardener::{
    SHOOT_NAMESPACE, TENANT, Webhooks, cloud_profile, crds, review, shoot,
};
use integration::kube::{KubeTestServer, client, create_namespaces, write_kubeconfig};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{Value, json};

struct Mesh {
    _dir: tempfile::TempDir,
    _kube: KubeTestServer,
    kube: kube::Client,
    webhooks: Webhooks,
    /// Sends no credential: kube-apiserver calling a webhook.
    anonymous: reqwest::Client,
    admin: reqwest::Client,
}

fn resource(api_version: &str, kind: &str, plural: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

async fn create(client: &kube::Client, plural: &str, object: &Value) {
    let ar = resource(
        object["apiVersion"].as_str().unwrap(),
        object["kind"].as_str().unwrap(),
        plural,
    );
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    };
    let object: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create {plural}: {e}"));
}

fn secret(namespace: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": namespace}, "data": data})
}

async fn start(args: &[&str], env: &[(&str, &str)]) -> Mesh {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let crd_files = crds(dir.path());
    let crd_refs: Vec<&Path> = crd_files.iter().map(|p| p.as_path()).collect();
    let server = KubeTestServer::start(&crd_refs, &[]);
    let kube = client(&server.url());
    create_namespaces(&kube, &[SHOOT_NAMESPACE]).await;
    create(&kube, "cloudprofiles", &cloud_profile(20)).await;
    let hmac = base64::engine::general_purpose::STANDARD.encode("hmac");
    create(
        &kube,
        "secrets",
        &secret(SHOOT_NAMESPACE, "good", json!({"metalAPIHMac": hmac})),
    )
    .await;
    create(
        &kube,
        "secrets",
        &secret(
            SHOOT_NAMESPACE,
            "both",
            json!({"metalAPIHMac": hmac, "metalAPIKey": hmac}),
        ),
    )
    .await;
    let kubeconfig = write_kubeconfig(dir.path(), &server.url());
    let pki = TestPki::new("gardener-webhooks");
    let auth = StaticAuth::new();
    let mut all_args: Vec<String> = auth.flags();
    all_args.extend(args.iter().map(|s| s.to_string()));
    let arg_refs: Vec<&str> = all_args.iter().map(String::as_str).collect();
    let webhooks = Webhooks::start(dir.path(), &pki, &kubeconfig, &arg_refs, env).await;
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let anonymous = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    // Keep the auth files alive as long as the service runs.
    std::mem::forget(auth);
    Mesh {
        admin: bearer_tls_client(ADMIN_TOKEN, &pki.ca_pem),
        anonymous,
        webhooks,
        kube,
        _kube: server,
        _dir: dir,
    }
}

impl Mesh {
    /// POSTs `body` to `path` without a credential; status and JSON body.
    async fn post(&self, path: &str, body: &[u8]) -> (u16, Value) {
        post(&self.anonymous, &self.webhooks.url(path), body).await
    }

    /// The AdmissionReview's response for `object` at webhook `path`.
    async fn admit(
        &self,
        path: &str,
        resource: &str,
        operation: &str,
        object: &Value,
        old: Option<&Value>,
    ) -> Value {
        let body = serde_json::to_vec(&review("uid-1", resource, operation, object, old)).unwrap();
        let (status, answer) = self.post(path, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(answer["response"]["uid"], "uid-1");
        answer["response"].clone()
    }
}

async fn post(http: &reqwest::Client, url: &str, body: &[u8]) -> (u16, Value) {
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e:?}"));
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `object` with the response's JSON patch applied, as kube-apiserver applies it.
fn patched(object: &Value, response: &Value) -> Value {
    let mut result = object.clone();
    if let Some(patch) = response["patch"].as_str() {
        assert_eq!(response["patchType"], "JSONPatch");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(patch)
            .unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(&bytes).unwrap();
        json_patch::patch(&mut result, &patch).unwrap();
    }
    result
}

/// `object` with `value` at `pointer` (the parent must exist).
fn set(mut object: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    let parent = object
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{pointer}"));
    match parent {
        Value::Object(map) => {
            map.insert(key.replace("~1", "/"), value);
        }
        Value::Array(list) => list[key.parse::<usize>().unwrap()] = value,
        other => panic!("{pointer}: cannot set in {other}"),
    }
    object
}

#[tokio::test(flavor = "multi_thread")]
async fn garden_admission_over_https() {
    let mesh = start(&["--webhooks", "validator,secrets-validator,mutator"], &[]).await;
    let good = shoot("part-03");

    // Allowed, and denied with the field path and every violation.
    let allowed = mesh
        .admit("/webhooks/validate", "shoots", "CREATE", &good, None)
        .await;
    assert_eq!(allowed["allowed"], true, "{allowed}");
    let bad = set(
        good.clone(),
        "/spec/provider/infrastructureConfig/firewall/size",
        json!("x1-huge"),
    );
    let bad = set(bad, "/spec/provider/workers/0/zones", json!(["part-01"]));
    let denied = mesh
        .admit("/webhooks/validate", "shoots", "CREATE", &bad, None)
        .await;
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["status"]["code"], 422);
    let message = denied["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(
            "spec.provider.infrastructureConfig.firewall.size: Unsupported value: \"x1-huge\": supported values: \"n1-medium-x86\", \"c1-xlarge-x86\""
        ),
        "{message}"
    );
    assert!(
        message.contains("spec.provider.workers[0].zones"),
        "{message}"
    );
    let fields: Vec<&str> = denied["status"]["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields.len(), 2, "{denied}");

    // Update: the tenant stays.
    let moved = set(
        good.clone(),
        "/metadata/annotations",
        json!({TENANT: "other"}),
    );
    let denied = mesh
        .admit(
            "/webhooks/validate",
            "shoots",
            "UPDATE",
            &moved,
            Some(&good),
        )
        .await;
    assert_eq!(denied["allowed"], false);
    assert!(
        denied["status"]["message"]
            .as_str()
            .unwrap()
            .contains(TENANT),
        "{denied}"
    );

    // A provider config with an unknown field is a denial naming it.
    let unknown = set(
        good.clone(),
        "/spec/provider/infrastructureConfig/firewall/colour",
        json!("red"),
    );
    let denied = mesh
        .admit("/webhooks/validate", "shoots", "CREATE", &unknown, None)
        .await;
    assert!(
        denied["status"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{denied}"
    );

    // CloudProfiles.
    let profile = cloud_profile(20);
    let allowed = mesh
        .admit(
            "/webhooks/validate",
            "cloudprofiles",
            "CREATE",
            &profile,
            None,
        )
        .await;
    assert_eq!(allowed["allowed"], true, "{allowed}");
    let dropped = set(
        profile.clone(),
        "/spec/providerConfig/metalControlPlanes/prod/partitions/part-00/networkIsolation",
        Value::Null,
    );
    let denied = mesh
        .admit(
            "/webhooks/validate",
            "cloudprofiles",
            "UPDATE",
            &dropped,
            Some(&profile),
        )
        .await;
    assert_eq!(denied["allowed"], false, "{denied}");

    // Bindings read their Secret from the API.
    let binding = |name: &str| {
        json!({"apiVersion": "core.gardener.cloud/v1beta1", "kind": "SecretBinding",
               "metadata": {"name": "b", "namespace": SHOOT_NAMESPACE},
               "secretRef": {"name": name, "namespace": SHOOT_NAMESPACE}, "provider": {"type": "metal"}})
    };
    let ok = mesh
        .admit(
            "/webhooks/validate",
            "secretbindings",
            "CREATE",
            &binding("good"),
            None,
        )
        .await;
    assert_eq!(ok["allowed"], true, "{ok}");
    let both = mesh
        .admit(
            "/webhooks/validate",
            "secretbindings",
            "CREATE",
            &binding("both"),
            None,
        )
        .await;
    assert_eq!(
        both["status"]["message"],
        "secretRef: Invalid value: secret garden-p/both: data: either hmac or api key must be set, not both"
    );
    let gone = mesh
        .admit(
            "/webhooks/validate",
            "secretbindings",
            "CREATE",
            &binding("gone"),
            None,
        )
        .await;
    assert_eq!(
        gone["status"]["message"],
        "secretRef: Not found: secret garden-p/gone not found"
    );
    let credentials = json!({"apiVersion": "security.gardener.cloud/v1alpha1", "kind": "CredentialsBinding",
        "metadata": {"name": "c", "namespace": SHOOT_NAMESPACE},
        "credentialsRef": {"apiVersion": "security.gardener.cloud/v1alpha1", "kind": "WorkloadIdentity", "name": "w", "namespace": SHOOT_NAMESPACE},
        "provider": {"type": "metal"}});
    let refused = mesh
        .admit(
            "/webhooks/validate",
            "credentialsbindings",
            "CREATE",
            &credentials,
            None,
        )
        .await;
    assert!(
        refused["status"]["message"]
            .as_str()
            .unwrap()
            .contains("unsupported credentials reference"),
        "{refused}"
    );

    // The secrets webhook.
    let empty = secret(SHOOT_NAMESPACE, "new", json!({}));
    let denied = mesh
        .admit(
            "/webhooks/validate/secrets",
            "secrets",
            "CREATE",
            &empty,
            None,
        )
        .await;
    assert_eq!(
        denied["status"]["message"],
        "data: Required value: either hmac or api key must be set"
    );

    // The defaulter: the patch turns the Shoot into the defaulted one.
    let bare = set(
        good.clone(),
        "/spec/provider/infrastructureConfig/firewall/image",
        json!(""),
    );
    let bare = set(bare, "/spec/networking", json!({"nodes": "10.0.16.0/22"}));
    let response = mesh
        .admit("/webhooks/mutate", "shoots", "CREATE", &bare, None)
        .await;
    assert_eq!(response["allowed"], true, "{response}");
    let defaulted = patched(&bare, &response);
    let at = |p: &str| defaulted.pointer(p).cloned().unwrap_or(Value::Null);
    assert_eq!(
        at("/spec/provider/infrastructureConfig/firewall/image"),
        "firewall-debian-2.0"
    );
    assert_eq!(at("/spec/kubernetes/kubelet/maxPods"), 250);
    assert_eq!(
        at("/spec/kubernetes/kubeControllerManager/nodeCIDRMaskSize"),
        23
    );
    assert_eq!(at("/spec/networking/type"), "calico");
    assert_eq!(at("/spec/networking/pods"), "10.240.0.0/13");
    assert_eq!(at("/spec/networking/services"), "10.248.0.0/18");
    assert_eq!(at("/spec/networking/nodes"), "10.0.16.0/22");
    // Defaulting twice changes nothing more.
    let again = mesh
        .admit(
            "/webhooks/mutate",
            "shoots",
            "UPDATE",
            &defaulted,
            Some(&defaulted),
        )
        .await;
    assert!(again.get("patch").is_none(), "{again}");

    // A CloudProfile changed in the API is what the next review is checked against.
    let ar = resource(
        "core.gardener.cloud/v1beta1",
        "CloudProfile",
        "cloudprofiles",
    );
    let api: Api<DynamicObject> = Api::all_with(mesh.kube.clone(), &ar);
    let patch = json!({"spec": {"providerConfig": {"metalControlPlanes": {"prod": {"partitions": {"part-03": {"firewallTypes": ["x1-huge"]}}}}}}});
    api.patch(
        "metal",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&patch),
    )
    .await
    .unwrap();
    let only_size = set(
        good.clone(),
        "/spec/provider/infrastructureConfig/firewall/size",
        json!("x1-huge"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = mesh
            .admit("/webhooks/validate", "shoots", "CREATE", &only_size, None)
            .await;
        if answer["allowed"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the watch never delivered the change: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_reviews_rest_and_credentials() {
    let mesh = start(
        &[],
        &[
            ("DEFAULTER_MAXPODS", "110"),
            ("DEFAULTER_NODECIDRMASKSIZE", "many"),
        ],
    )
    .await;

    // Not a review: 400 problem+json, never a 500.
    for (body, words) in [
        (b"not json".to_vec(), "not JSON"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}"#
                .to_vec(),
            "admission.k8s.io/v1",
        ),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(),
            "no request",
        ),
    ] {
        let (status, problem) = mesh.post("/webhooks/validate", &body).await;
        assert_eq!(status, 400, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(words),
            "{problem}"
        );
    }
    let wrong_kind = review(
        "u",
        "shoots",
        "CREATE",
        &json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        None,
    );
    let mut wrong_kind = wrong_kind;
    wrong_kind["request"]["kind"] =
        json!({"group": "core.gardener.cloud", "version": "v1beta1", "kind": "Shoot"});
    let (status, _) = mesh
        .post(
            "/webhooks/validate",
            &serde_json::to_vec(&wrong_kind).unwrap(),
        )
        .await;
    assert_eq!(status, 400);
    // An object that cannot be decoded: a denial with the decode error.
    let mut broken = review("u", "shoots", "CREATE", &shoot("part-01"), None);
    broken["request"]["object"]["metadata"]["labels"] = json!("not a map");
    let (status, answer) = mesh
        .post("/webhooks/validate", &serde_json::to_vec(&broken).unwrap())
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["allowed"], false);
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot decode the Shoot"),
        "{answer}"
    );

    // REST: pure validation and defaulting, behind a credential.
    let body = json!({"shoot": set(shoot("part-01"), "/spec/provider/infrastructureConfig/firewall/size", json!("")), "cloudProfile": cloud_profile(20)});
    let (status, _) = post(
        &mesh.anonymous,
        &mesh.webhooks.url("/v1/validate/shoot"),
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 401);
    let (status, verdict) = post(
        &mesh.admin,
        &mesh.webhooks.url("/v1/validate/shoot"),
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["allowed"], false);
    assert_eq!(
        verdict["causes"][0]["field"],
        "spec.provider.infrastructureConfig.firewall.size"
    );
    assert_eq!(verdict["causes"][0]["type"], "FieldValueRequired");
    let (status, defaulted) = post(
        &mesh.admin,
        &mesh.webhooks.url("/v1/default/shoot"),
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{defaulted}");
    assert_eq!(
        defaulted["shoot"]["spec"]["provider"]["infrastructureConfig"]["firewall"]["size"],
        "n1-medium-x86"
    );
    // DEFAULTER_* from the environment; the unparsable one falls back and is logged.
    assert_eq!(
        defaulted["shoot"]["spec"]["kubernetes"]["kubelet"]["maxPods"],
        110
    );
    assert_eq!(
        defaulted["shoot"]["spec"]["kubernetes"]["kubeControllerManager"]["nodeCIDRMaskSize"],
        23
    );
    let mut replayed = body["shoot"].clone();
    let patch: json_patch::Patch = serde_json::from_value(defaulted["patch"].clone()).unwrap();
    json_patch::patch(&mut replayed, &patch).unwrap();
    assert_eq!(replayed, defaulted["shoot"]);
    let log = std::fs::read_to_string(&mesh.webhooks.log).unwrap();
    assert!(log.contains("DEFAULTER_NODECIDRMASKSIZE"), "{log}");
    let (status, problem) = post(
        &mesh.admin,
        &mesh.webhooks.url("/v1/validate/shoot"),
        br#"{"shoot": 1}"#,
    )
    .await;
    assert_eq!(status, 400, "{problem}");

    // The webhooks need no credential (kube-apiserver sends none) and /metrics counts them.
    let allowed = mesh
        .admit(
            "/webhooks/validate",
            "shoots",
            "CREATE",
            &shoot("part-01"),
            None,
        )
        .await;
    assert_eq!(allowed["allowed"], true);
    let metrics = mesh
        .admin
        .get(mesh.webhooks.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with(
            "gardener_webhooks_reviews_total{webhook=\"validator\",result=\"malformed\"} 4"
        )),
        "{metrics}"
    );
}

/// The chart's Deployment runs the binary with flags it accepts and settings it takes.
#[test]
fn the_charts_arguments_are_the_binarys() {
    let root = integration::workspace_root();
    let out = std::process::Command::new("python3")
        .arg(root.join("integration/scripts/render_chart.py"))
        .args([
            "--set",
            "gardenerWebhooks.garden.enabled=true",
            "--set",
            "gardenerWebhooks.seed.enabled=true",
            "--set",
            "gardenerWebhooks.seed.etcd.storageClassName=csi-driver-lvm",
            "--set",
            "gardenerWebhooks.seed.etcd.backupSchedule=0 */24 * * *",
            "--set",
            "gardenerWebhooks.seed.etcd.backupDeltaSnapshotPeriod=5m",
            "--set",
            "gardenerWebhooks.seed.etcd.evictionAllowed=true",
            "--set",
            "gardenerWebhooks.webhooksRequireAuth=true",
            "--set",
            "gardenerWebhooks.seed.osController.enabled=true",
            "--set",
            "gardenerWebhooks.seed.osController.ignitionVersion=3.4.0",
        ])
        .output()
        .expect("run render_chart.py");
    if out.status.code() == Some(77) {
        let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(!ci, "helm-python-sdk missing and CI is set");
        eprintln!("SKIPPED: pip install helm-python-sdk to run this test");
        return;
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let deployment = docs
        .iter()
        .find(|d| {
            d["kind"] == "Deployment"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("gardener-webhooks"))
        })
        .expect("a gardener-webhooks Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    let argv = std::iter::once("gardener-webhooks".to_string()).chain(args.clone());
    let parsed: gardener_webhooks::Args =
        mesh_runtime::try_parse_args_from(gardener_webhooks::cli::ENV_PREFIX, argv)
            .unwrap_or_else(|e| panic!("the chart's args {args:?}: {e}"));
    assert_eq!(parsed.check(), Ok(()));
    assert_eq!(parsed.enabled(), gardener_webhooks::cli::WebhookName::ALL);
    assert!(parsed.webhooks_require_auth);
    let seed = parsed.seed_config();
    assert_eq!(
        seed.etcd.storage_class_name.as_deref(),
        Some("csi-driver-lvm")
    );
    assert_eq!(
        seed.etcd.backup_delta_snapshot_period.as_deref(),
        Some("5m")
    );
    assert!(seed.etcd.is_eviction_allowed);
    assert!(parsed.runtime.tls.enabled(), "served over TLS");
    assert!(parsed.os_controller && parsed.leader_elect);
    assert_eq!(
        parsed.ignition_version,
        gardener_webhooks::core::ignition::IgnitionVersion::V3_4_0
    );
}

/// A fixture of the mutation core's tables (`services/gardener-webhooks/src/core/mutation/testdata`).
fn fixture(name: &str) -> Value {
    let path = integration::workspace_root()
        .join("services/gardener-webhooks/src/core/mutation/testdata")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn container<'a>(object: &'a Value, name: &str) -> &'a Value {
    let pointer = if object["kind"] == "Deployment" || object["kind"] == "DaemonSet" {
        "/spec/template/spec/containers"
    } else {
        panic!("no containers in {}", object["kind"])
    };
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .and_then(|list| list.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name}"))
}

fn env(container: &Value, name: &str) -> Value {
    container["env"]
        .as_array()
        .and_then(|list| list.iter().find(|e| e["name"] == name).cloned())
        .unwrap_or(Value::Null)
}

fn flags(container: &Value) -> Vec<String> {
    ["command", "args"]
        .iter()
        .flat_map(|k| container[*k].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_and_shoot_mutations_over_https() {
    let mesh = start(
        &[
            "--webhooks",
            "controlplane,seedprovider,shoot",
            "--machine-controller-manager-image",
            "registry.example.com/metal-mesh:1.2.3",
            "--etcd-storage-class-name",
            "csi-driver-lvm-mirror",
            "--etcd-storage-capacity",
            "25Gi",
            "--etcd-backup-schedule",
            "0 */12 * * *",
            "--etcd-backup-delta-snapshot-period",
            "10m",
        ],
        &[],
    )
    .await;
    let cluster = fixture("cluster.json");
    let namespace = cluster["metadata"]["name"].as_str().unwrap().to_string();
    create_namespaces(&mesh.kube, &[&namespace]).await;
    create(&mesh.kube, "clusters", &cluster).await;
    let key = base64::engine::general_purpose::STANDARD.encode("key");
    create(
        &mesh.kube,
        "secrets",
        &secret(&namespace, "cloudprovider", json!({"metalAPIKey": key})),
    )
    .await;

    // kube-apiserver: the cloud provider flags gone, NODE_NETWORK for vpn-seed, the checksum.
    let apiserver = fixture("kube-apiserver-deployment.json");
    let response = mesh
        .admit(
            "/webhooks/controlplane",
            "deployments",
            "UPDATE",
            &apiserver,
            Some(&apiserver),
        )
        .await;
    assert_eq!(response["allowed"], true, "{response}");
    let mutated = patched(&apiserver, &response);
    let kube_apiserver = container(&mutated, "kube-apiserver");
    assert!(
        !flags(kube_apiserver)
            .iter()
            .any(|f| f.starts_with("--cloud-provider=") || f.starts_with("--cloud-config="))
    );
    assert_eq!(
        env(container(&mutated, "vpn-seed"), "NODE_NETWORK")["value"],
        "10.130.4.0/22"
    );
    let checksum =
        &mutated["spec"]["template"]["metadata"]["annotations"]["checksum/secret-cloudprovider"];
    assert_eq!(checksum.as_str().map(str::len), Some(64), "{mutated}");

    // kube-controller-manager: the external cloud provider.
    let kcm = fixture("kube-controller-manager-deployment.json");
    let mutated = patched(
        &kcm,
        &mesh
            .admit(
                "/webhooks/controlplane",
                "deployments",
                "CREATE",
                &kcm,
                None,
            )
            .await,
    );
    assert!(
        flags(container(&mutated, "kube-controller-manager"))
            .contains(&"--cloud-provider=external".to_string())
    );
    assert_eq!(
        mutated["spec"]["template"]["metadata"]["labels"]["networking.gardener.cloud/to-public-networks"],
        "allowed"
    );

    // machine-controller-manager: our sidecar, with the week-long health timeout.
    let mcm = fixture("machine-controller-manager-deployment.json");
    let mutated = patched(
        &mcm,
        &mesh
            .admit(
                "/webhooks/controlplane",
                "deployments",
                "CREATE",
                &mcm,
                None,
            )
            .await,
    );
    let sidecar = container(&mutated, "machine-controller-manager-provider-metal");
    assert_eq!(sidecar["image"], "registry.example.com/metal-mesh:1.2.3");
    assert_eq!(
        sidecar["command"],
        json!(["/usr/local/bin/machine-lifecycle"])
    );
    assert!(
        flags(sidecar).contains(&"--machine-health-timeout=10080m".to_string()),
        "{sidecar}"
    );
    // machine-lifecycle takes the sidecar's arguments as they are.
    let mut argv = vec!["machine-lifecycle".to_string()];
    argv.extend(
        sidecar["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str().map(str::to_string)),
    );
    let args: machine_lifecycle::Args =
        mesh_runtime::try_parse_args_from(machine_lifecycle::cli::ENV_PREFIX, argv)
            .unwrap_or_else(|e| panic!("the sidecar's arguments: {e}"));
    assert_eq!(args.runtime().listen.to_string(), "0.0.0.0:10259");

    // The OperatingSystemConfig: the kubelet runs with the external cloud provider.
    let osc = fixture("operatingsystemconfig.json");
    let mutated = patched(
        &osc,
        &mesh
            .admit(
                "/webhooks/controlplane",
                "operatingsystemconfigs",
                "CREATE",
                &osc,
                None,
            )
            .await,
    );
    let kubelet = mutated["spec"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "kubelet.service")
        .unwrap();
    assert!(
        kubelet["content"]
            .as_str()
            .unwrap()
            .contains("--cloud-provider=external"),
        "{kubelet}"
    );
    assert!(
        mutated["spec"]["providerConfig"]["networkIsolation"].is_object(),
        "{}",
        mutated["spec"]
    );

    // gardener-resource-manager may reach the namespaces of our components.
    let grm = fixture("gardener-resource-manager-configmap.json");
    let mutated = patched(
        &grm,
        &mesh
            .admit("/webhooks/controlplane", "configmaps", "CREATE", &grm, None)
            .await,
    );
    let config = mutated["data"]["config.yaml"].as_str().unwrap();
    for ns in ["firewall", "metallb-system", "csi-lvm", "audit"] {
        assert!(config.contains(ns), "{ns} missing in {config}");
    }

    // etcd-main: the configured volume and backups.
    let etcd = fixture("etcd-main.json");
    let mutated = patched(
        &etcd,
        &mesh
            .admit("/webhooks/seedprovider", "etcds", "CREATE", &etcd, None)
            .await,
    );
    assert_eq!(mutated["spec"]["storageCapacity"], "25Gi");
    assert_eq!(mutated["spec"]["storageClass"], "csi-driver-lvm-mirror");
    assert_eq!(
        mutated["spec"]["backup"]["fullSnapshotSchedule"],
        "0 */12 * * *"
    );
    assert_eq!(mutated["spec"]["backup"]["deltaSnapshotPeriod"], "10m0s");

    // The shoot webhook: calico-node in eBPF mode, vpn-shoot.
    let calico = fixture("calico-node-daemonset.json");
    let mutated = patched(
        &calico,
        &mesh
            .admit("/webhooks/shoot", "daemonsets", "CREATE", &calico, None)
            .await,
    );
    let node = container(&mutated, "calico-node");
    assert_eq!(env(node, "FELIX_BPFEXTERNALSERVICEMODE")["value"], "DSR");
    assert_eq!(env(node, "FELIX_MTUIFACEPATTERN")["value"], "lan");
    let vpn = fixture("vpn-shoot-deployment.json");
    let mutated = patched(
        &vpn,
        &mesh
            .admit("/webhooks/shoot", "deployments", "CREATE", &vpn, None)
            .await,
    );
    let node_network = env(container(&mutated, "vpn-shoot"), "NODE_NETWORK");
    assert_eq!(
        node_network["valueFrom"]["configMapKeyRef"]["name"], "shoot-info-node-cidr",
        "{node_network}"
    );

    // Objects being deleted, and objects nobody handles, pass unchanged.
    let deleting = set(
        apiserver.clone(),
        "/metadata/deletionTimestamp",
        json!("2026-12-06T00:00:00Z"),
    );
    let response = mesh
        .admit(
            "/webhooks/controlplane",
            "deployments",
            "UPDATE",
            &deleting,
            Some(&deleting),
        )
        .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none(), "{response}");
    let other = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": namespace}, "data": {}});
    let response = mesh
        .admit(
            "/webhooks/controlplane",
            "configmaps",
            "CREATE",
            &other,
            None,
        )
        .await;
    assert_eq!(response["allowed"], true);
    assert!(response.get("patch").is_none(), "{response}");

    // A shoot namespace without a Cluster: a denial that says so, not a 500.
    let elsewhere = set(kcm.clone(), "/metadata/namespace", json!("shoot--other--x"));
    let mut body = review("uid-1", "deployments", "CREATE", &elsewhere, None);
    body["request"]["namespace"] = json!("shoot--other--x");
    let (status, answer) = mesh
        .post(
            "/webhooks/controlplane",
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(answer["response"]["allowed"], false, "{answer}");
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("cluster"),
        "{answer}"
    );
}

/// Every validator rule of reference §1.7, one violation each, through the binary: denied, and
/// every cause names the field.
#[tokio::test(flavor = "multi_thread")]
async fn every_validator_rule_denies_over_https_naming_its_field() {
    let mesh = start(&["--webhooks", "validator"], &[]).await;
    let good = shoot("part-03");
    let infra = "/spec/provider/infrastructureConfig";
    let fw = "/spec/provider/infrastructureConfig/firewall";
    let with = |pointer: &str, value: Value| set(good.clone(), pointer, value);
    let without = |pointer: &str| {
        let mut s = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let removed = s
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .and_then(|map| map.remove(&key.replace("~1", "/")));
        assert!(removed.is_some(), "nothing at {pointer}");
        s
    };
    let shoots: Vec<(&str, Value, Option<Value>, &str)> = vec![
        (
            "1 tenant required",
            without("/metadata/annotations/cluster.metal-stack.io~1tenant"),
            None,
            "metadata.annotations",
        ),
        (
            "2 infrastructureConfig required",
            without(infra),
            None,
            "spec.provider.infrastructureConfig",
        ),
        (
            "3 projectID required",
            with(&format!("{infra}/projectID"), json!("")),
            None,
            "spec.provider.infrastructureConfig.projectID",
        ),
        (
            "3 no empty network",
            with(&format!("{fw}/networks/3"), json!("")),
            None,
            "spec.provider.infrastructureConfig.firewall.networks",
        ),
        (
            "3 rate limit on a firewall network",
            with(&format!("{fw}/rateLimits/0/networkID"), json!("elsewhere")),
            None,
            "spec.provider.infrastructureConfig.firewall.rateLimits[0].networkID",
        ),
        (
            "3 egress IPs parse",
            with(&format!("{fw}/egressRules/0/ips/1"), json!("not-an-ip")),
            None,
            "spec.provider.infrastructureConfig.firewall.egressRules[0].ips",
        ),
        (
            "4 partition is a zone",
            with(&format!("{infra}/partitionID"), json!("nowhere")),
            None,
            "spec.provider.infrastructureConfig.partitionID",
        ),
        (
            "4 image offered",
            with(&format!("{fw}/image"), json!("firewall-ubuntu-9.9")),
            None,
            "spec.provider.infrastructureConfig.firewall.image",
        ),
        (
            "4 controller version resolves",
            with(&format!("{fw}/controllerVersion"), json!("v9.9.9")),
            None,
            "spec.provider.infrastructureConfig.firewall.controllerVersion",
        ),
        (
            "5 project immutable",
            with(&format!("{infra}/projectID"), json!("another")),
            Some(good.clone()),
            "spec.provider.infrastructureConfig.projectID",
        ),
        (
            "6 isolation needs the partition's",
            with(
                "/spec/provider/controlPlaneConfig/networkAccessType",
                json!("forbidden"),
            ),
            None,
            "spec.provider.controlPlaneConfig.networkAccessType",
        ),
        (
            "7 no worker volume",
            with("/spec/provider/workers/0/volume", json!({"size": "20Gi"})),
            None,
            "spec.provider.workers[0].volume",
        ),
        (
            "7 machine image offered",
            with(
                "/spec/provider/workers/2/machine/image/version",
                json!("1.0.0"),
            ),
            None,
            "spec.provider.workers[2].machine.image",
        ),
    ];
    for (rule, object, old, field) in shoots {
        let operation = if old.is_some() { "UPDATE" } else { "CREATE" };
        let response = mesh
            .admit(
                "/webhooks/validate",
                "shoots",
                operation,
                &object,
                old.as_ref(),
            )
            .await;
        assert_eq!(response["allowed"], false, "rule {rule}: {response}");
        let causes = response["status"]["details"]["causes"].as_array().unwrap();
        assert!(!causes.is_empty(), "rule {rule}: {response}");
        for cause in causes {
            let named = cause["field"].as_str().unwrap();
            assert!(
                named.starts_with(field),
                "rule {rule}: {named} is not {field}"
            );
        }
    }

    let profile = cloud_profile(20);
    let plane = "/spec/providerConfig/metalControlPlanes/prod";
    let isolation = format!("{plane}/partitions/part-00/networkIsolation");
    let change = |pointer: &str, value: Value| set(profile.clone(), pointer, value);
    let profiles: Vec<(&str, Value, Option<Value>, &str)> = vec![
        (
            "1 strict config",
            change(&format!("{plane}/colour"), json!("red")),
            None,
            "spec.providerConfig",
        ),
        (
            "2 classification",
            change(
                &format!("{plane}/firewallControllerVersions/0/classification"),
                json!("beta"),
            ),
            None,
            "spec.providerConfig.metalControlPlanes[prod].firewallControllerVersions[0].classification",
        ),
        (
            "3 partition is a zone",
            change(&format!("{plane}/partitions/nowhere"), json!({})),
            None,
            "spec.providerConfig.metalControlPlanes[prod].partitions[nowhere]",
        ),
        (
            "4 DNS servers",
            change(&format!("{isolation}/dnsServers"), json!([])),
            None,
            "spec.providerConfig.metalControlPlanes[prod].partitions[part-00].networkIsolation.dnsServers",
        ),
        (
            "4 mirror endpoint scheme",
            change(
                &format!("{isolation}/registryMirrors/0/endpoint"),
                json!("ftp://mirror"),
            ),
            None,
            "spec.providerConfig.metalControlPlanes[prod].partitions[part-00].networkIsolation.registryMirrors[0].endpoint",
        ),
        (
            "5 DNS servers immutable",
            change(&format!("{isolation}/dnsServers/0"), json!("10.9.9.9")),
            Some(profile.clone()),
            "spec.providerConfig.metalControlPlanes[prod].partitions[part-00].networkIsolation.dnsServers",
        ),
    ];
    for (rule, object, old, field) in profiles {
        let operation = if old.is_some() { "UPDATE" } else { "CREATE" };
        let response = mesh
            .admit(
                "/webhooks/validate",
                "cloudprofiles",
                operation,
                &object,
                old.as_ref(),
            )
            .await;
        assert_eq!(response["allowed"], false, "rule {rule}: {response}");
        let causes = response["status"]["details"]["causes"].as_array().unwrap();
        assert!(
            causes
                .iter()
                .any(|c| c["field"].as_str().unwrap().starts_with(field)),
            "rule {rule}: no cause names {field}: {response}"
        );
    }
}

/// `POST /v1/render/ignition`: the OS extension's rendering as a pure call, behind a credential.
#[tokio::test(flavor = "multi_thread")]
async fn ignition_renders_over_rest() {
    let mesh = start(&["--webhooks", "validator"], &[]).await;
    let ca =
        base64::engine::general_purpose::STANDARD.encode("-----BEGIN CERTIFICATE-----\nMIIB\n");
    let osc = json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "OperatingSystemConfig",
        "metadata": {"name": "pool-a", "namespace": "shoot--p--s"},
        "spec": {"type": "ubuntu", "purpose": "provision",
                 "units": [{"name": "kubelet.service", "content": "[Service]\nExecStart=/opt/bin/kubelet\n",
                            "dropIns": [{"name": "10-args.conf", "content": "[Service]\nEnvironment=A=1\n"}]}],
                 "files": [{"path": "/var/lib/kubelet/ca.crt", "permissions": 0o600,
                            "content": {"secretRef": {"name": "kubelet-ca", "dataKey": "ca.crt"}}},
                           {"path": "/etc/token", "content": {"inline": {"encoding": "", "data": "<<BOOTSTRAP_TOKEN>>"}}}]},
    });
    let url = mesh.webhooks.url("/v1/render/ignition");
    let body = json!({"osc": osc, "secrets": {"kubelet-ca": {"ca.crt": ca}}});
    let bytes = serde_json::to_vec(&body).unwrap();
    let (status, _) = post(&mesh.anonymous, &url, &bytes).await;
    assert_eq!(status, 401);
    let (status, rendered) = post(&mesh.admin, &url, &bytes).await;
    assert_eq!(status, 200, "{rendered}");
    assert_eq!(rendered["version"], "2.3.0");
    let ignition: Value = serde_json::from_str(rendered["userData"].as_str().unwrap()).unwrap();
    assert_eq!(ignition["ignition"]["version"], "2.3.0");
    assert_eq!(ignition["systemd"]["units"][0]["enabled"], true);
    let user_data = rendered["userData"].as_str().unwrap();
    assert!(
        user_data.contains("%3C%3CBOOTSTRAP_TOKEN%3E%3E"),
        "{user_data}"
    );

    let newer = json!({"osc": body["osc"], "secrets": body["secrets"], "version": "3.4.0"});
    let (status, rendered) = post(&mesh.admin, &url, &serde_json::to_vec(&newer).unwrap()).await;
    assert_eq!(status, 200, "{rendered}");
    let ignition: Value = serde_json::from_str(rendered["userData"].as_str().unwrap()).unwrap();
    assert_eq!(ignition["ignition"]["version"], "3.4.0");

    let missing = json!({"osc": body["osc"]});
    let (status, problem) = post(&mesh.admin, &url, &serde_json::to_vec(&missing).unwrap()).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("kubelet-ca"),
        "{problem}"
    );
    let odd = json!({"osc": body["osc"], "version": "2.2.0"});
    let (status, problem) = post(&mesh.admin, &url, &serde_json::to_vec(&odd).unwrap()).await;
    assert_eq!(status, 400, "{problem}");
}
