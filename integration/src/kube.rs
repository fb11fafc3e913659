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
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster: {{server: \"{url}\"}}\n\
         contexts:\n- name: test\n  context: {{cluster: test, user: test, namespace: default}}\n\
         users:\n- name: test\n  user: {{}}\ncurrent-context: test\n"
    );
    std::fs::write(&path, text).expect("write kubeconfig");
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
