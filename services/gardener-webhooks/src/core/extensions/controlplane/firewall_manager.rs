//! firewall-controller-manager (FCM), which upstream deploys beside each shoot's control plane:
//! it turns the Worker's FirewallDeployment `shoot-firewall` into FirewallSets, Firewalls and
//! firewall machines in metal-api, and hands the firewall's controller (our rule-compiler)
//! its access to the shoot. It is metal-stack's own controller, run from its image; these are
//! the objects of upstream's `control-plane` chart for it, in the seed ManagedResource:
//! ServiceAccount, Role and RoleBinding in the shoot namespace, Deployment, Service, the
//! Mutating- and ValidatingWebhookConfiguration `firewall-controller-manager-<namespace>`
//! (which the Infrastructure's deletion removes) and the NetworkPolicy admitting its webhook.
//! In the shoot, through the shoot ManagedResource, it gets the ClusterRole of upstream's
//! `shoot-control-plane` chart, and its token comes from the shoot access Secret
//! `shoot-access-firewall-controller-manager`.

use base64::Engine as _;
use serde_json::{Value, json};

use super::manifests::{cluster_role, cluster_role_binding, role_and_binding, rule};
use super::values::Values;

pub const NAME: &str = "firewall-controller-manager";
/// The shoot access Secret whose token FCM (and the firewall's controller) uses in the shoot.
pub const SHOOT_ACCESS_SECRET: &str = "shoot-access-firewall-controller-manager";
/// Its ClusterRole in the shoot, upstream's name.
pub const SHOOT_ROLE: &str = "system:firewall-controller-manager";
/// The image upstream's release pins for FCM; `--firewall-controller-manager-image` overrides.
pub const DEFAULT_IMAGE: &str = "ghcr.io/metal-stack/firewall-controller-manager:v0.6.1";
const WEBHOOK_PORT: u16 = 9443;
const METRICS_PORT: u16 = 2112;
const HEALTH_PORT: u16 = 8081;
const CERT_DIR: &str = "/certs";
const TOKEN_DIR: &str = "/token";
/// FCM authenticates to metal-api with the HMAC of the cloudprovider Secret only.
const HMAC_KEY: &str = "metalAPIHMac";
const APP: &str = "app";

/// What FCM is configured with besides [`Values`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallManager {
    pub image: String,
    /// The seed's API server as the firewalls reach it (they report their status there).
    pub seed_api_url: String,
    /// The shoot's API server as the firewalls reach it (`https://api.<domain>`).
    pub shoot_api_url: String,
    /// The Secret of the shoot's SSH key pair (`id_rsa.pub`), put on the firewalls.
    pub ssh_key_secret: String,
    /// The CA (PEM) of FCM's serving certificate, for the webhook configurations.
    pub ca_bundle: String,
    /// Gardener's generic token kubeconfig of the shoot.
    pub shoot_kubeconfig_secret: String,
}

/// FCM's objects in the seed (the shoot namespace and the two cluster-scoped webhook
/// configurations).
pub fn seed_objects(values: &Values, fcm: &FirewallManager) -> Vec<Value> {
    let namespace = values.namespace.as_str();
    let mut objects = vec![json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta(NAME, Some(namespace)),
    })];
    objects.extend(role_and_binding(
        NAME,
        namespace,
        seed_rules(),
        NAME,
        namespace,
        NAME,
    ));
    objects.extend([
        deployment(values, fcm),
        service(namespace),
        mutating_webhooks(namespace, &fcm.ca_bundle),
        validating_webhooks(namespace, &fcm.ca_bundle),
        webhook_network_policy(namespace),
    ]);
    objects
}

/// FCM's ClusterRole and binding in the shoot (for the ServiceAccount of its shoot access).
pub fn shoot_objects() -> Vec<Value> {
    vec![
        cluster_role(SHOOT_ROLE, shoot_rules(), NAME),
        cluster_role_binding(SHOOT_ROLE, SHOOT_ROLE, NAME, "kube-system", NAME),
    ]
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut meta = super::manifests::metadata(name, namespace, NAME);
    meta["labels"][APP] = json!(NAME);
    meta
}

const READ_WRITE: &[&str] = &["get", "list", "watch", "update", "patch", "create"];

/// In the shoot namespace: its own kinds, its Lease, the Secrets and ServiceAccounts it keeps
/// for the firewalls, their RBAC, Events.
fn seed_rules() -> Value {
    json!([
        rule(
            "firewall.metal-stack.io",
            &[
                "firewalls",
                "firewalls/status",
                "firewallsets",
                "firewallsets/status",
                "firewalldeployments",
                "firewalldeployments/status",
            ],
            &["*"],
        ),
        rule("coordination.k8s.io", &["leases"], READ_WRITE),
        rule("", &["secrets", "serviceaccounts"], READ_WRITE),
        rule(
            "rbac.authorization.k8s.io",
            &["roles", "rolebindings"],
            READ_WRITE
        ),
        rule("", &["events"], READ_WRITE),
    ])
}

/// In the shoot: the FirewallMonitors, the firewall namespace, the firewall's access (its
/// ServiceAccount, token Secret and RBAC), and what the firewall's controller reads with the
/// same access (Services, Endpoints, network policies and ClusterwideNetworkPolicies).
fn shoot_rules() -> Value {
    let mut with_delete = READ_WRITE.to_vec();
    with_delete.push("delete");
    json!([
        rule(
            "firewall.metal-stack.io",
            &["firewallmonitors", "firewallmonitors/status"],
            &with_delete,
        ),
        rule("", &["namespaces"], READ_WRITE),
        rule("", &["secrets", "serviceaccounts"], &with_delete),
        rule(
            "rbac.authorization.k8s.io",
            &["clusterroles", "clusterrolebindings"],
            READ_WRITE,
        ),
        rule(
            "",
            &["pods", "services", "endpoints"],
            &["get", "list", "watch"]
        ),
        rule("", &["events"], &["*"]),
        rule(
            "apiextensions.k8s.io",
            &["customresourcedefinitions"],
            &["get", "list", "watch", "create", "update"],
        ),
        rule(
            "networking.k8s.io",
            &["networkpolicies"],
            &["get", "list", "watch"]
        ),
        rule(
            "metal-stack.io",
            &[
                "firewalls",
                "firewalls/status",
                "clusterwidenetworkpolicies",
                "clusterwidenetworkpolicies/status",
            ],
            &with_delete,
        ),
    ])
}

/// FCM's command line (Go flags: `-name=value`).
pub fn args(values: &Values, fcm: &FirewallManager) -> Vec<String> {
    [
        format!("-cert-dir={CERT_DIR}"),
        "-log-level=info".into(),
        format!("-seed-api-url={}", fcm.seed_api_url),
        format!("-shoot-api-url={}", fcm.shoot_api_url),
        format!("-cluster-id={}", values.cluster_id),
        "-enable-leader-election".into(),
        format!("-metal-api-url={}", values.metal_endpoint),
        format!("-namespace={}", values.namespace),
        format!(
            "-shoot-kubeconfig-secret-name={}",
            fcm.shoot_kubeconfig_secret
        ),
        format!("-shoot-token-secret-name={SHOOT_ACCESS_SECRET}"),
        format!("-ssh-key-secret-name={}", fcm.ssh_key_secret),
        format!("-shoot-token-path={TOKEN_DIR}"),
    ]
    .to_vec()
}

fn deployment(values: &Values, fcm: &FirewallManager) -> Value {
    let namespace = values.namespace.as_str();
    let mut pod_labels = json!({APP: NAME});
    for key in [
        "networking.gardener.cloud/to-dns",
        // metal-api, wherever it runs.
        "networking.gardener.cloud/to-public-networks",
        "networking.gardener.cloud/to-private-networks",
        // The seed's API server, and the shoot's.
        "networking.gardener.cloud/to-runtime-apiserver",
        "networking.resources.gardener.cloud/to-kube-apiserver-tcp-443",
    ] {
        pod_labels[key] = json!("allowed");
    }
    pod_labels["gardener.cloud/role"] = json!("controlplane");
    let probe = |path: &str, delay: u32, period: u32| json!({"httpGet": {"path": path, "port": HEALTH_PORT}, "initialDelaySeconds": delay, "periodSeconds": period});
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(NAME, Some(namespace)),
        "spec": {
            // None while hibernated: the firewall goes with the workers.
            "replicas": values.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {APP: NAME}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": true,
                    "enableServiceLinks": false,
                    "securityContext": {
                        // The image's user (nobody).
                        "runAsNonRoot": true,
                        "runAsUser": 65534,
                        "runAsGroup": 65534,
                        "fsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [{
                        "name": NAME,
                        "image": fcm.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": args(values, fcm),
                        "env": [{"name": "METAL_AUTH_HMAC", "valueFrom": {"secretKeyRef": {
                            "name": values.credential.secret, "key": HMAC_KEY,
                        }}}],
                        "ports": [
                            {"name": "webhooks", "containerPort": WEBHOOK_PORT, "protocol": "TCP"},
                            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                            {"name": "health", "containerPort": HEALTH_PORT, "protocol": "TCP"},
                        ],
                        "livenessProbe": probe("/healthz", 15, 20),
                        "readinessProbe": probe("/readyz", 5, 10),
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "20Mi"},
                            "limits": {"cpu": "400m", "memory": "400Mi"},
                        },
                        "securityContext": {
                            "allowPrivilegeEscalation": false,
                            "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [
                            {"name": "webhook-certs", "mountPath": CERT_DIR, "readOnly": true},
                            {"name": "token-dir", "mountPath": TOKEN_DIR},
                        ],
                    }],
                    "volumes": [
                        {"name": "webhook-certs", "secret": {
                            "secretName": super::secrets::FIREWALL_CONTROLLER_MANAGER,
                            "defaultMode": 0o440,
                            "items": [
                                {"key": "tls.crt", "path": "tls.crt"},
                                {"key": "tls.key", "path": "tls.key"},
                            ],
                        }},
                        {"name": "token-dir", "emptyDir": {"sizeLimit": "1Mi"}},
                    ],
                },
            },
        },
    })
}

fn service(namespace: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(NAME, Some(namespace)),
        "spec": {
            "type": "ClusterIP",
            "selector": {APP: NAME},
            "ports": [
                {"name": "webhooks", "port": WEBHOOK_PORT, "targetPort": "webhooks", "protocol": "TCP"},
                {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
            ],
        },
    })
}

/// The webhook configurations' name: one per shoot namespace, all cluster-scoped.
pub fn webhook_configuration_name(namespace: &str) -> String {
    format!("{NAME}-{namespace}")
}

/// One webhook of FCM for `plural` (firewalls, firewallsets, firewalldeployments).
fn webhook(
    namespace: &str,
    ca_bundle: &str,
    action: &str,
    plural: &str,
    operations: &[&str],
) -> Value {
    let singular = plural.trim_end_matches('s');
    json!({
        "name": format!("{singular}.metal-stack.io"),
        "admissionReviewVersions": ["v1"],
        "clientConfig": {
            "caBundle": base64::engine::general_purpose::STANDARD.encode(ca_bundle.trim()),
            "service": {
                "name": NAME,
                "namespace": namespace,
                "port": WEBHOOK_PORT,
                "path": format!("/{action}-firewall-metal-stack-io-v2-{singular}"),
            },
        },
        "failurePolicy": "Fail",
        "sideEffects": "None",
        "rules": [{
            "apiGroups": ["firewall.metal-stack.io"],
            "apiVersions": ["v2"],
            "operations": operations,
            "resources": [plural],
        }],
    })
}

const KINDS: [&str; 3] = ["firewalls", "firewallsets", "firewalldeployments"];

/// Defaulting (the firewall's userdata among it) of the objects labelled with this namespace,
/// on create.
fn mutating_webhooks(namespace: &str, ca_bundle: &str) -> Value {
    let webhooks: Vec<Value> = KINDS
        .iter()
        .map(|plural| {
            let mut hook = webhook(namespace, ca_bundle, "mutate", plural, &["CREATE"]);
            hook["objectSelector"] = json!({"matchLabels": {
                crate::core::extensions::worker::firewall::WEBHOOK_SELECTOR_LABEL: namespace,
            }});
            hook
        })
        .collect();
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": meta(&webhook_configuration_name(namespace), None),
        "webhooks": webhooks,
    })
}

/// Validation of the objects of this namespace, on create and update.
fn validating_webhooks(namespace: &str, ca_bundle: &str) -> Value {
    let webhooks: Vec<Value> = KINDS
        .iter()
        .map(|plural| {
            let mut hook = webhook(
                namespace,
                ca_bundle,
                "validate",
                plural,
                &["CREATE", "UPDATE"],
            );
            hook["namespaceSelector"] =
                json!({"matchLabels": {"kubernetes.io/metadata.name": namespace}});
            hook
        })
        .collect();
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": meta(&webhook_configuration_name(namespace), None),
        "webhooks": webhooks,
    })
}

/// The seed's API server calls the webhooks.
fn webhook_network_policy(namespace: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("allow-to-firewall-controller-manager-webhook", Some(namespace)),
        "spec": {
            "podSelector": {"matchLabels": {APP: NAME}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": WEBHOOK_PORT, "protocol": "TCP"}]}],
        },
    })
}
