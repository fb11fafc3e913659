//! Gardener's ManagedResources (`resources.gardener.cloud/v1alpha1`): objects handed to
//! gardener-resource-manager as one multi-document YAML in a Secret, which it applies (into
//! the seed with class `seed`, else into the shoot), keeps applied, reports on in the
//! ResourcesApplied/ResourcesHealthy conditions and deletes with the ManagedResource. Also the
//! pieces every rendered workload shares with the metal-mesh chart (`helm/metal-mesh`): its
//! labels, securityContexts, probes and TLS flags, with the chart's default values.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::core::extensions::operation::ExtError;

pub const API_VERSION: &str = "resources.gardener.cloud/v1alpha1";
pub const KIND: &str = "ManagedResource";
/// The one data key of every ManagedResource Secret.
pub const DATA_KEY: &str = "objects.yaml";
/// Who manages what we render (the chart's `app.kubernetes.io/managed-by`).
pub const MANAGER: &str = "provider-metal";

/// One ManagedResource and the objects it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedResource {
    pub name: &'static str,
    /// `seed` for objects of the seed; none for the shoot.
    pub class: Option<&'static str>,
    pub objects: Vec<Value>,
}

/// The Secret holding the objects of the ManagedResource `name`.
pub fn secret_name(name: &str) -> String {
    format!("managedresource-{name}")
}

impl ManagedResource {
    pub fn secret_name(&self) -> String {
        secret_name(self.name)
    }

    /// The objects as one multi-document YAML stream.
    pub fn yaml(&self) -> Result<String, ExtError> {
        let mut out = String::new();
        for object in &self.objects {
            let doc = serde_saphyr::to_string(object)
                .map_err(|e| ExtError::internal(format!("rendering {} as YAML: {e}", self.name)))?;
            out.push_str("---\n");
            out.push_str(&doc);
            if !doc.ends_with('\n') {
                out.push('\n');
            }
        }
        Ok(out)
    }

    pub fn secret(&self, namespace: &str) -> Result<Value, ExtError> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(self.yaml()?);
        Ok(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": self.secret_name(), "namespace": namespace},
            "type": "Opaque",
            "data": {DATA_KEY: encoded},
        }))
    }

    pub fn object(&self, namespace: &str) -> Value {
        let mut spec = json!({
            "secretRefs": [{"name": self.secret_name()}],
            "keepObjects": false,
        });
        match self.class {
            Some(class) => spec["class"] = json!(class),
            // As Gardener's shoot resources: the shoot's cleanup leaves them to us.
            None => spec["injectLabels"] = json!({"shoot.gardener.cloud/no-cleanup": "true"}),
        }
        json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.name, "namespace": namespace},
            "spec": spec,
        })
    }
}

/// The chart's labels of one component's objects (`metal-mesh.labels`, without Helm's).
pub fn labels(component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "metal-mesh",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "metal-mesh",
        "app.kubernetes.io/managed-by": MANAGER,
    })
}

/// The chart's selector labels (`metal-mesh.selectorLabels`, without the release).
pub fn selector(component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": "metal-mesh",
        "app.kubernetes.io/component": component,
    })
}

/// `metadata` of an object of `component`.
pub fn metadata(name: &str, namespace: Option<&str>, component: &str) -> Value {
    let mut meta = json!({"name": name, "labels": labels(component)});
    if let Some(namespace) = namespace {
        meta["namespace"] = json!(namespace);
    }
    meta
}

/// The chart's default pod securityContext of a non-root service.
pub fn pod_security_context() -> Value {
    json!({
        "runAsNonRoot": true,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

/// The chart's default container securityContext of a non-root service.
pub fn container_security_context() -> Value {
    json!({
        "runAsNonRoot": true,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn https_get(path: &str) -> Value {
    json!({"path": path, "port": "https", "scheme": "HTTPS"})
}

/// The chart's default liveness probe.
pub fn liveness_probe() -> Value {
    json!({"httpGet": https_get("/healthz"), "periodSeconds": 10, "timeoutSeconds": 3, "failureThreshold": 6})
}

/// The chart's default readiness probe.
pub fn readiness_probe() -> Value {
    json!({"httpGet": https_get("/readyz"), "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 3})
}

/// The chart's default startup probe.
pub fn startup_probe() -> Value {
    json!({"httpGet": https_get("/healthz"), "periodSeconds": 2, "failureThreshold": 60})
}

/// Where the serving certificate is mounted (`metal-mesh.tls.volumeMounts`).
pub const TLS_DIR: &str = "/etc/metal-mesh/tls";

/// The flags every service gets from the chart (`metal-mesh.serverArgs`): TLS from the mounted
/// Secret and delegated authentication and authorization.
pub fn server_args() -> Vec<String> {
    [
        "--tls-cert-file",
        "/etc/metal-mesh/tls/tls.crt",
        "--tls-key-file",
        "/etc/metal-mesh/tls/tls.key",
        "--auth",
        "kubernetes",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// The serving certificate's volume (`metal-mesh.tls.volumes`): the whole Secret, which the
/// binaries re-read when it is renewed in place.
pub fn tls_volume(secret: &str) -> Value {
    json!({"name": "tls", "secret": {"secretName": secret, "defaultMode": 0o440}})
}

pub fn tls_volume_mount() -> Value {
    json!({"name": "tls", "mountPath": TLS_DIR, "readOnly": true})
}

/// A ClusterRoleBinding of `role` to the ServiceAccount `account` in `namespace`.
pub fn cluster_role_binding(
    name: &str,
    role: &str,
    account: &str,
    namespace: &str,
    component: &str,
) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": metadata(name, None, component),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
    })
}

/// A Role `name` in `namespace` bound to the ServiceAccount `account` of `account_namespace`.
pub fn role_and_binding(
    name: &str,
    namespace: &str,
    rules: Value,
    account: &str,
    account_namespace: &str,
    component: &str,
) -> [Value; 2] {
    [
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": metadata(name, Some(namespace), component),
            "rules": rules,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": metadata(name, Some(namespace), component),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": account_namespace}],
        }),
    ]
}

/// The ClusterRole `name` with `rules`.
pub fn cluster_role(name: &str, rules: Value, component: &str) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": metadata(name, None, component),
        "rules": rules,
    })
}

/// A rule of `verbs` on `resources` of API group `group`.
pub fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
}

pub fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}
