//! The `kube-testserver` binary as a child process, a kubeconfig for kubectl, and a kube-rs
//! client for it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Our CWNP CRD as `crdgen` writes it into the chart.
pub fn cwnp_crd() -> PathBuf {
    crate::workspace_root()
        .join("helm/metal-mesh/crds/metal-stack.io_clusterwidenetworkpolicies.yaml")
}

/// A running `kube-testserver`. Killed on drop.
pub struct KubeTestServer {
    pub addr: SocketAddr,
    child: Child,
}

impl KubeTestServer {
    /// `kube-testserver --listen <free port> [--crd FILE]... [extra...]`.
    pub fn start(crds: &[&Path], extra: &[&str]) -> Self {
        let addr = crate::free_addr();
        let mut cmd = Command::new(crate::binary("kube-testserver"));
        cmd.arg("--listen").arg(addr.to_string());
        for crd in crds {
            cmd.arg("--crd").arg(crd);
        }
        let child = cmd
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kube-testserver");
        crate::wait_for_port(addr, Duration::from_secs(30));
        Self { addr, child }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for KubeTestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a kubeconfig for `url` (namespace `default`) into `dir` and returns its path.
pub fn write_kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, kube_testserver::kubeconfig(url)).expect("write kubeconfig");
    path
}

/// A kube-rs client for a plain-HTTP server.
pub fn client(url: &str) -> kube::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::Config::new(url.parse().expect("server URL"));
    kube::Client::try_from(config).expect("kube client")
}

/// Creates the namespaces `names` (kube-testserver does not create them on demand).
pub async fn create_namespaces(client: &kube::Client, names: &[&str]) {
    use k8s_openapi::api::core::v1::Namespace;
    let namespaces: kube::Api<Namespace> = kube::Api::all(client.clone());
    for name in names {
        let namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))
            .expect("namespace object");
        namespaces
            .create(&kube::api::PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
    }
}

/// Writes a kube-apiserver static token file (`token,user,uid,"groups"`) for
/// `kube-testserver --token-file` and returns its path.
pub fn write_token_file(dir: &Path, tokens: &[(&str, &str, &[&str])]) -> PathBuf {
    let path = dir.join("kube-tokens.csv");
    let text: String = tokens
        .iter()
        .enumerate()
        .map(|(i, (token, user, groups))| format!("{token},{user},{i},\"{}\"\n", groups.join(",")))
        .collect();
    std::fs::write(&path, text).expect("write token file");
    path
}

/// Creates the ClusterRoles `metal-mesh:<service>:viewer` and `…:editor` as the chart renders
/// them from the service's declared access.
pub async fn create_access_roles(
    client: &kube::Client,
    service: &str,
    access: &mesh_runtime::auth::Access,
) {
    use k8s_openapi::api::rbac::v1::ClusterRole;
    let roles: kube::Api<ClusterRole> = kube::Api::all(client.clone());
    for (capability, rules) in [("viewer", access.viewer()), ("editor", access.editor())] {
        let rules: Vec<_> = rules
            .iter()
            .map(|r| serde_json::json!({"nonResourceURLs": r.urls, "verbs": [r.verb]}))
            .collect();
        let name = format!("metal-mesh:{service}:{capability}");
        let role = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "rules": rules,
        }))
        .expect("ClusterRole object");
        roles
            .create(&kube::api::PostParams::default(), &role)
            .await
            .unwrap_or_else(|e| panic!("creating ClusterRole {name}: {e}"));
    }
}

/// Binds the ClusterRole `role` to the user `user` with a ClusterRoleBinding.
pub async fn bind_user(client: &kube::Client, role: &str, user: &str) {
    let subject =
        serde_json::json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user});
    bind(
        client,
        role,
        &format!("{}-{user}", role.replace(':', "-")),
        subject,
    )
    .await;
}

/// Binds the ClusterRole `role` to `subject` (a User, Group or ServiceAccount subject) with the
/// ClusterRoleBinding `name`.
pub async fn bind(client: &kube::Client, role: &str, name: &str, subject: serde_json::Value) {
    use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
    let bindings: kube::Api<ClusterRoleBinding> = kube::Api::all(client.clone());
    let binding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [subject],
    }))
    .expect("ClusterRoleBinding object");
    bindings
        .create(&kube::api::PostParams::default(), &binding)
        .await
        .unwrap_or_else(|e| panic!("creating ClusterRoleBinding {name}: {e}"));
}
