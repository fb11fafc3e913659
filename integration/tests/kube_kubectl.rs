//! The real kubectl against `kube-testserver --listen … --crd <our CWNP CRD>`: create, get (by
//! short name and label selector), delete, a raw `?watch=1` stream, and a CWNP with a
//! non-integer port refused by the CRD schema; kubectl's typed `create` commands, which
//! speak protobuf; and `cordon`/`uncordon` of a Node, with `get` of the other cluster kinds.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use integration::kube::{KubeTestServer, cwnp_crd, write_kubeconfig};
use serde_json::Value;

/// kubectl from PATH; CI must have it (`.ci/run` installs it), a laptop may not.
fn kubectl_path() -> Option<String> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path.display().to_string()),
        None if std::env::var_os("CI").is_some() => panic!("kubectl is required in CI"),
        None => {
            eprintln!("skipping: kubectl not on PATH");
            None
        }
    }
}

struct Kubectl {
    bin: String,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(bin: String, url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        write_kubeconfig(dir.path(), url);
        Self { bin, dir }
    }

    fn run(&self, args: &[&str], stdin_file: Option<&str>) -> Output {
        let mut cmd = Command::new(&self.bin);
        cmd.env("KUBECONFIG", self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .arg("--request-timeout=20s")
            .args(args);
        if let Some(name) = stdin_file {
            cmd.arg("-f").arg(self.dir.path().join(name));
        }
        cmd.output().expect("run kubectl")
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str], file: Option<&str>) -> String {
        let out = self.run(args, file);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn file(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }
}

const SERVICE: &str = "apiVersion: v1
kind: Service
metadata: {name: web, labels: {app: web}}
spec:
  type: LoadBalancer
  ports: [{port: 443, targetPort: 8443}]
";

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: firewall}\n";

fn cwnp(name: &str, port: &str) -> String {
    format!(
        "apiVersion: metal-stack.io/v1
kind: ClusterwideNetworkPolicy
metadata: {{name: {name}, namespace: firewall, labels: {{app: dns}}}}
spec:
  egress:
  - to: [{{cidr: 1.1.1.1/32}}]
    ports: [{{port: {port}, protocol: UDP}}]
"
    )
}

/// The (type, name) of each watch event line, until `want` lines were read.
async fn read_events(mut resp: reqwest::Response, want: usize) -> Vec<(String, String)> {
    let mut buffer = Vec::new();
    let mut events = Vec::new();
    while events.len() < want {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("watch event within 10s")
            .expect("chunk")
            .expect("stream open");
        buffer.extend_from_slice(&chunk);
        while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=pos).collect();
            let event: Value = serde_json::from_slice(&line).unwrap();
            events.push((
                event["type"].as_str().unwrap().to_string(),
                event["object"]["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ));
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_creates_gets_watches_and_deletes() {
    let Some(bin) = kubectl_path() else { return };
    let crd = cwnp_crd();
    let server = KubeTestServer::start(&[Path::new(&crd)], &[]);
    let kubectl = Kubectl::new(bin, &server.url());

    // The watch is open before anything is created: ADDED, two changes (apply, label), DELETED.
    let watch = integration::http_client()
        .get(format!(
            "{}/apis/metal-stack.io/v1/clusterwidenetworkpolicies?watch=1",
            server.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), 200);
    let events = tokio::spawn(read_events(watch, 4));

    kubectl.file("svc.yaml", SERVICE);
    kubectl.file("ns.yaml", NAMESPACE);
    kubectl.file("cwnp.yaml", &cwnp("allow-dns", "53"));
    kubectl.file("bad.yaml", &cwnp("bad-port", "dns"));

    assert!(
        kubectl
            .ok(&["create"], Some("svc.yaml"))
            .contains("service/web created")
    );
    assert!(
        kubectl
            .ok(&["create"], Some("ns.yaml"))
            .contains("namespace/firewall created")
    );
    assert!(
        kubectl
            .ok(&["create"], Some("cwnp.yaml"))
            .contains("clusterwidenetworkpolicy.metal-stack.io/allow-dns created")
    );

    // get: the server renders Tables, so columns come from the kind.
    let services = kubectl.ok(&["get", "services"], None);
    assert!(
        services.contains("web") && services.contains("LoadBalancer"),
        "{services}"
    );
    assert!(
        kubectl
            .ok(&["get", "svc", "-l", "app=web", "-o", "name"], None)
            .contains("service/web")
    );
    assert!(
        kubectl
            .ok(&["get", "svc", "-l", "app=db", "-o", "name"], None)
            .trim()
            .is_empty()
    );
    let by_short = kubectl.ok(&["get", "cwnp", "-n", "firewall"], None);
    assert!(
        by_short.contains("allow-dns") && by_short.contains("STATUS"),
        "{by_short}"
    );
    let by_label = kubectl.ok(&["get", "cwnp", "-A", "-l", "app=dns", "-o", "json"], None);
    let list: Value = serde_json::from_str(&by_label).unwrap();
    assert_eq!(
        list["items"][0]["spec"]["egress"][0]["ports"][0]["port"],
        53
    );
    assert_eq!(list["items"][0]["metadata"]["namespace"], "firewall");
    assert!(
        kubectl
            .ok(&["get", "cwnp", "-A", "-l", "app!=dns", "-o", "name"], None)
            .trim()
            .is_empty()
    );

    // Client-side apply: a strategic merge patch for the Service, a merge patch for the CWNP.
    kubectl.file(
        "svc.yaml",
        &SERVICE.replace(
            "ports: [{port: 443, targetPort: 8443}]",
            "ports: [{port: 443, targetPort: 8443}, {port: 80}]",
        ),
    );
    kubectl.ok(&["apply"], Some("svc.yaml"));
    kubectl.file(
        "svc.yaml",
        &SERVICE.replace("targetPort: 8443", "targetPort: 9443"),
    );
    assert!(
        kubectl
            .ok(&["apply"], Some("svc.yaml"))
            .contains("service/web configured")
    );
    let ports = kubectl.ok(&["get", "svc", "web", "-o", "jsonpath={.spec.ports}"], None);
    let ports: Value = serde_json::from_str(&ports).unwrap();
    assert_eq!(
        ports,
        serde_json::json!([{"port": 443, "protocol": "TCP", "targetPort": 9443}])
    );
    kubectl.file("cwnp.yaml", &cwnp("allow-dns", "5353"));
    assert!(
        kubectl
            .ok(&["apply"], Some("cwnp.yaml"))
            .contains("configured")
    );
    kubectl.ok(
        &["label", "cwnp", "-n", "firewall", "allow-dns", "team=net"],
        None,
    );
    let applied = kubectl.ok(
        &[
            "get", "cwnp", "-n", "firewall", "-l", "team=net", "-o", "json",
        ],
        None,
    );
    let applied: Value = serde_json::from_str(&applied).unwrap();
    assert_eq!(
        applied["items"][0]["spec"]["egress"][0]["ports"][0]["port"],
        5353
    );

    let refused = kubectl.run(&["create"], Some("bad.yaml"));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is invalid") && stderr.contains("spec.egress[0].ports[0].port"),
        "{stderr}"
    );
    let missing = kubectl.run(&["get", "cwnp", "bad-port", "-n", "firewall"], None);
    assert!(
        !missing.status.success(),
        "the refused object was not stored"
    );

    assert!(
        kubectl
            .ok(&["delete"], Some("cwnp.yaml"))
            .contains("deleted")
    );
    assert!(
        kubectl
            .ok(&["delete", "svc", "web"], None)
            .contains("service \"web\" deleted")
    );
    let gone = kubectl.run(&["get", "svc", "web"], None);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
    assert!(
        kubectl
            .ok(&["get", "cwnp", "-A", "-o", "name"], None)
            .trim()
            .is_empty()
    );

    let seen = events.await.unwrap();
    let expected: Vec<(String, String)> = ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]
        .iter()
        .map(|t| (t.to_string(), "allow-dns".to_string()))
        .collect();
    assert_eq!(seen, expected);
}

/// kubectl's typed `create` commands (namespace, secret, configmap, serviceaccount, service,
/// rolebinding) send protobuf bodies and ask for protobuf answers; `label` and `delete` then work
/// on what they created, and everything reads back as JSON.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_typed_commands_speak_protobuf() {
    let Some(bin) = kubectl_path() else { return };
    let server = KubeTestServer::start(&[], &[]);
    let kubectl = Kubectl::new(bin, &server.url());
    let json = |args: &[&str]| -> Value {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        serde_json::from_str(&kubectl.ok(&all, None)).unwrap()
    };

    assert!(
        kubectl
            .ok(&["create", "namespace", "proto"], None)
            .contains("namespace/proto created")
    );
    assert!(
        kubectl
            .ok(
                &[
                    "create",
                    "secret",
                    "generic",
                    "creds",
                    "-n",
                    "proto",
                    "--from-literal=user=admin",
                    "--from-literal=password=s3cr3t",
                ],
                None,
            )
            .contains("secret/creds created")
    );
    assert!(
        kubectl
            .ok(
                &[
                    "create",
                    "configmap",
                    "settings",
                    "-n",
                    "proto",
                    "--from-literal=mode=fast",
                ],
                None,
            )
            .contains("configmap/settings created")
    );
    assert!(
        kubectl
            .ok(&["create", "serviceaccount", "robot", "-n", "proto"], None)
            .contains("serviceaccount/robot created")
    );

    assert!(
        kubectl
            .ok(
                &[
                    "create",
                    "service",
                    "clusterip",
                    "web",
                    "-n",
                    "proto",
                    "--tcp=443:https"
                ],
                None,
            )
            .contains("service/web created")
    );
    assert!(
        kubectl
            .ok(
                &[
                    "create",
                    "rolebinding",
                    "robot-view",
                    "-n",
                    "proto",
                    "--clusterrole=view",
                    "--serviceaccount=proto:robot",
                ],
                None,
            )
            .contains("rolebinding.rbac.authorization.k8s.io/robot-view created")
    );
    let svc = json(&["service", "web", "-n", "proto"]);
    assert_eq!(
        svc["spec"]["ports"],
        serde_json::json!([{"name": "443-https", "port": 443, "protocol": "TCP", "targetPort": "https"}])
    );
    assert_eq!(svc["spec"]["selector"], serde_json::json!({"app": "web"}));
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .unwrap()
            .starts_with("10.96.")
    );
    let binding = json(&["rolebinding", "robot-view", "-n", "proto"]);
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "robot", "namespace": "proto"}])
    );
    assert_eq!(
        binding["roleRef"],
        serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"})
    );

    let ns = json(&["namespace", "proto"]);
    assert_eq!(ns["kind"], "Namespace");
    assert_eq!(ns["metadata"]["name"], "proto");
    assert_eq!(ns["status"]["phase"], "Active");
    let secret = json(&["secret", "creds", "-n", "proto"]);
    assert_eq!(
        secret["data"],
        serde_json::json!({"user": "YWRtaW4=", "password": "czNjcjN0"})
    );
    assert_eq!(secret["metadata"]["namespace"], "proto");
    let cm = json(&["configmap", "settings", "-n", "proto"]);
    assert_eq!(cm["data"], serde_json::json!({"mode": "fast"}));
    let sa = json(&["serviceaccount", "robot", "-n", "proto"]);
    assert_eq!(sa["kind"], "ServiceAccount");
    assert_eq!(sa["metadata"]["name"], "robot");

    // What kubectl sent is what a JSON client reads.
    let raw: Value = integration::http_client()
        .get(format!(
            "{}/api/v1/namespaces/proto/secrets/creds",
            server.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["data"], secret["data"]);

    // Typed commands again, now failing: the protobuf Status reaches kubectl intact.
    let again = kubectl.run(&["create", "configmap", "settings", "-n", "proto"], None);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("configmaps \"settings\" already exists"),
        "{stderr}"
    );

    kubectl.ok(&["label", "namespace", "proto", "team=net"], None);
    kubectl.ok(
        &["label", "secret", "creds", "-n", "proto", "tier=db"],
        None,
    );
    kubectl.ok(
        &["label", "configmap", "settings", "-n", "proto", "tier=app"],
        None,
    );
    kubectl.ok(&["label", "sa", "robot", "-n", "proto", "tier=bot"], None);
    assert_eq!(
        json(&["namespace", "proto"])["metadata"]["labels"]["team"],
        "net"
    );
    let labelled = json(&["secret", "creds", "-n", "proto"]);
    assert_eq!(labelled["metadata"]["labels"]["tier"], "db");
    assert_eq!(labelled["data"], secret["data"]);
    assert_eq!(
        json(&["configmap", "settings", "-n", "proto"])["metadata"]["labels"]["tier"],
        "app"
    );
    assert_eq!(
        json(&["sa", "robot", "-n", "proto"])["metadata"]["labels"]["tier"],
        "bot"
    );

    assert!(
        kubectl
            .ok(&["delete", "secret", "creds", "-n", "proto"], None)
            .contains("secret \"creds\" deleted")
    );
    assert!(
        kubectl
            .ok(&["delete", "configmap", "settings", "-n", "proto"], None)
            .contains("configmap \"settings\" deleted")
    );
    assert!(
        kubectl
            .ok(&["delete", "serviceaccount", "robot", "-n", "proto"], None)
            .contains("serviceaccount \"robot\" deleted")
    );
    assert!(
        kubectl
            .ok(&["delete", "namespace", "proto"], None)
            .contains("namespace \"proto\" deleted")
    );
    let gone = kubectl.run(&["get", "namespace", "proto"], None);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("NotFound"));
}

const CLUSTER_OBJECTS: &str = "apiVersion: v1
kind: Node
metadata: {name: worker-1, labels: {kubernetes.io/hostname: worker-1}}
spec: {providerID: 'metal://worker-1'}
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets:
- addresses: [{ip: 10.244.1.5, nodeName: worker-1}]
  ports: [{name: https, port: 443, protocol: TCP}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: leader, namespace: kube-system}
spec: {holderIdentity: controller-0, leaseDurationSeconds: 15, renewTime: '2026-12-06T10:00:00.123456Z'}
---
apiVersion: v1
kind: Event
metadata: {name: worker-1.started, namespace: default}
involvedObject: {kind: Node, name: worker-1}
reason: Started
type: Normal
";

/// `cordon` and `uncordon` on an applied Node (kubectl's typed client, protobuf answers), and
/// `get` of the cluster kinds that now speak protobuf too.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_cordons_nodes_and_gets_cluster_kinds() {
    let Some(bin) = kubectl_path() else { return };
    let server = KubeTestServer::start(&[], &[]);
    let kubectl = Kubectl::new(bin, &server.url());
    kubectl.file("cluster.yaml", CLUSTER_OBJECTS);
    kubectl.ok(&["apply"], Some("cluster.yaml"));
    let unschedulable = || -> Value {
        let node: Value =
            serde_json::from_str(&kubectl.ok(&["get", "node", "worker-1", "-o", "json"], None))
                .unwrap();
        node["spec"]["unschedulable"].clone()
    };

    assert!(
        kubectl
            .ok(&["cordon", "worker-1"], None)
            .contains("node/worker-1 cordoned")
    );
    assert_eq!(unschedulable(), Value::Bool(true));
    assert!(
        kubectl
            .ok(&["uncordon", "worker-1"], None)
            .contains("node/worker-1 uncordoned")
    );
    assert!(matches!(unschedulable(), Value::Null | Value::Bool(false)));

    for (args, want) in [
        (&["get", "nodes"][..], "worker-1"),
        (&["get", "endpoints"][..], "web"),
        (&["get", "leases", "-A"][..], "leader"),
        (&["get", "events", "-A"][..], "worker-1.started"),
    ] {
        let out = kubectl.ok(args, None);
        assert!(out.contains(want), "kubectl {args:?}: {out}");
    }
}
