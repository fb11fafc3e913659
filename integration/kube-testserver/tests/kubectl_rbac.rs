//! The real kubectl applying RBAC manifests (a ServiceAccount, a ClusterRole with a `:` in its
//! name, a ClusterRoleBinding), re-applying with other subjects, listing them, and creating a
//! TokenReview; SubjectAccessReviews then see what was applied.

use std::path::Path;
use std::process::Command;

use kube_testserver::{Config, Running};
use serde_json::{Value, json};

/// kubectl from PATH; CI must have it, a laptop may not.
fn kubectl_path() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|p| p.is_file())
    });
    match found {
        Some(path) => Some(path),
        None if std::env::var_os("CI").is_some() => panic!("kubectl is required in CI"),
        None => {
            eprintln!("skipping: kubectl not on PATH");
            None
        }
    }
}

fn kubectl(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .env("KUBECONFIG", dir.join("kubeconfig"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--request-timeout=20s")
        .args(args)
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn manifest(subject: &str) -> String {
    format!(
        "apiVersion: v1
kind: ServiceAccount
metadata: {{name: lb-allocator, namespace: kube-system}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: 'metal-mesh:lb-reader', labels: {{app: metal-mesh}}}}
rules:
- apiGroups: ['']
  resources: [services, services/status]
  verbs: [get, list, watch]
- nonResourceURLs: ['/v1/loadbalancers*']
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: 'metal-mesh:lb-reader'}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'metal-mesh:lb-reader'}}
subjects:
{subject}
"
    )
}

async fn allowed(url: &str, user: &str, path: &str) -> bool {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": user, "nonResourceAttributes": {"path": path, "verb": "get"}}});
    let answer: Value = reqwest::Client::new()
        .post(format!(
            "{url}/apis/authorization.k8s.io/v1/subjectaccessreviews"
        ))
        .json(&review)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["status"]["allowed"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_applies_cluster_roles_and_bindings() {
    let Some(bin) = kubectl_path() else { return };
    let server = Running::start(Config::default()).unwrap();
    server.shared.add_token("proxy-token", "proxy", "7", vec![]);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kubeconfig"),
        kube_testserver::kubeconfig(&url),
    )
    .unwrap();
    let dir = dir.path();
    let rbac = dir.join("rbac.yaml");
    let rbac_arg = rbac.to_str().unwrap();

    std::fs::write(
        &rbac,
        manifest("- {kind: ServiceAccount, name: lb-allocator, namespace: kube-system}"),
    )
    .unwrap();
    let out = kubectl(&bin, dir, &["apply", "-f", rbac_arg]);
    assert!(
        out.contains("clusterrolebinding.rbac.authorization.k8s.io/metal-mesh:lb-reader created"),
        "{out}"
    );
    let lb = "system:serviceaccount:kube-system:lb-allocator";
    assert!(allowed(&url, lb, "/v1/loadbalancers/apps/web").await);
    assert!(!allowed(&url, "alice", "/v1/loadbalancers").await);

    // Re-applied with another subject: the list is replaced, not merged by name.
    std::fs::write(&rbac, manifest("- {kind: User, name: alice}")).unwrap();
    let out = kubectl(&bin, dir, &["apply", "-f", rbac_arg]);
    assert!(
        out.contains(
            "clusterrolebinding.rbac.authorization.k8s.io/metal-mesh:lb-reader configured"
        ),
        "{out}"
    );
    assert!(allowed(&url, "alice", "/v1/loadbalancers").await);
    assert!(!allowed(&url, lb, "/v1/loadbalancers").await);
    let binding: Value = serde_json::from_str(&kubectl(
        &bin,
        dir,
        &[
            "get",
            "clusterrolebinding",
            "metal-mesh:lb-reader",
            "-o",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(
        binding["subjects"],
        json!([{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}])
    );

    let table = kubectl(&bin, dir, &["get", "clusterrolebindings"]);
    assert!(table.contains("cluster-admin"), "{table}");
    assert!(table.contains("metal-mesh:lb-reader"), "{table}");
    let sas = kubectl(&bin, dir, &["get", "sa", "-n", "kube-system", "-o", "name"]);
    assert_eq!(sas.trim(), "serviceaccount/lb-allocator");
    let roles = kubectl(
        &bin,
        dir,
        &["get", "clusterroles", "-l", "app=metal-mesh", "-o", "name"],
    );
    assert_eq!(
        roles.trim(),
        "clusterrole.rbac.authorization.k8s.io/metal-mesh:lb-reader"
    );

    // A TokenReview through kubectl: created, answered, not stored. Without a PATCH operation
    // for the kind kubectl wants client-side schemas from /openapi/v2, which is not served.
    let review = dir.join("review.yaml");
    std::fs::write(
        &review,
        "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec: {token: proxy-token}\n",
    )
    .unwrap();
    let answer: Value = serde_json::from_str(&kubectl(
        &bin,
        dir,
        &[
            "create",
            "--validate=false",
            "-f",
            review.to_str().unwrap(),
            "-o",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(answer["status"]["user"]["username"], "proxy");
    assert_eq!(server.shared.review_counts().token_reviews, 1);

    let out = kubectl(&bin, dir, &["delete", "-f", rbac_arg]);
    assert!(out.contains("deleted"), "{out}");
    assert!(!allowed(&url, "alice", "/v1/loadbalancers").await);
}
