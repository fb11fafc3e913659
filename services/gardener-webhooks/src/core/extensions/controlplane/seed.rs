//! The ManagedResource `extension-controlplane-seed` (class seed, in the shoot's namespace):
//! lb-allocator, which replaces metal-ccm, beside the shoot's control plane.
//!
//! Mirrors `helm/metal-mesh/templates/lb-allocator/{deployment,service,serviceaccount}.yaml`
//! with the chart's default values (image command, listener, leader election, intervals,
//! probes, resources, securityContexts, TLS flags and volume), with what running in a seed
//! changes, as upstream's `charts/internal/control-plane` cloud-controller-manager does:
//! - the Kubernetes API is the shoot's, through Gardener's generic token kubeconfig and the
//!   token of the shoot access Secret `shoot-access-lb-allocator` (a projected volume), so the
//!   pod mounts no ServiceAccount token and its Lease lives in the shoot's kube-system;
//! - the metal settings are flags (what the chart passes as environment variables), the
//!   credential a reference to the shoot's cloudprovider Secret;
//! - the serving certificate is the secrets manager's `cloud-controller-manager-server`;
//! - the pod carries Gardener's network-policy labels of a control-plane component.

use serde_json::{Value, json};

use super::manifests::{
    self, ManagedResource, container_security_context, liveness_probe, metadata,
    pod_security_context, readiness_probe, selector, server_args, startup_probe, tls_volume,
    tls_volume_mount,
};
use super::secrets::LB_ALLOCATOR_SERVER;
use super::values::{LoadBalancer, Values};

pub const RESOURCE: &str = "extension-controlplane-seed";
/// lb-allocator's Deployment, Service and ServiceAccount (and its ServiceAccount in the shoot).
pub const LB_ALLOCATOR: &str = "lb-allocator";
/// Gardener's shoot access Secret of lb-allocator: gardener-resource-manager's token requestor
/// keeps a token of the shoot's ServiceAccount `kube-system/lb-allocator` in it.
pub const SHOOT_ACCESS_SECRET: &str = "shoot-access-lb-allocator";
/// Gardener's kubeconfig of the shoot that reads its token from a file next to it.
pub const GENERIC_KUBECONFIG: &str = "generic-token-kubeconfig";
const KUBECONFIG_DIR: &str = "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig";
/// The chart's lb-allocator port (`--listen 0.0.0.0:8080`, Service port 8080).
pub const PORT: u16 = 8080;
/// Where the shoot's Leases live.
const LEASE_NAMESPACE: &str = "kube-system";

pub fn resources(values: &Values, image: &str) -> ManagedResource {
    ManagedResource {
        name: RESOURCE,
        class: Some("seed"),
        objects: vec![
            service_account(values),
            service(values),
            deployment(values, image),
        ],
    }
}

/// A shoot access Secret of Gardener (applied directly, not through a ManagedResource: the token
/// requestor writes the token of the shoot's ServiceAccount `kube-system/<account>` into it).
pub fn shoot_access_secret(namespace: &str, name: &str, account: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "resources.gardener.cloud/purpose": "token-requestor",
                "resources.gardener.cloud/class": "shoot",
            },
            "annotations": {
                "serviceaccount.resources.gardener.cloud/name": account,
                "serviceaccount.resources.gardener.cloud/namespace": "kube-system",
            },
        },
        "type": "Opaque",
    })
}

fn service_account(values: &Values) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(LB_ALLOCATOR, Some(&values.namespace), LB_ALLOCATOR),
        // It talks to the shoot, never to the seed.
        "automountServiceAccountToken": false,
    })
}

fn service(values: &Values) -> Value {
    let mut meta = metadata(LB_ALLOCATOR, Some(&values.namespace), LB_ALLOCATOR);
    // Lets the seed's Prometheus reach /metrics (Gardener's network policies).
    meta["annotations"] = json!({
        "networking.resources.gardener.cloud/from-all-scrape-targets-allowed-ports":
            json!([{"port": PORT, "protocol": "TCP"}]).to_string(),
    });
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": selector(LB_ALLOCATOR),
            "ports": [{"name": "https", "port": PORT, "targetPort": "https", "protocol": "TCP"}],
        },
    })
}

/// lb-allocator's command line: the chart's flags with its defaults, what the seed adds (the
/// Lease's namespace, the shoot's kubeconfig) and the metal settings.
pub fn args(values: &Values) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    let mut flag = |name: &str, value: &str| args.extend([name.to_owned(), value.to_owned()]);
    flag("--listen", &format!("0.0.0.0:{PORT}"));
    flag("--log-format", "text");
    flag("--log-level", "info");
    if values.load_balancer == LoadBalancer::Metallb {
        flag("--metallb-namespace", "metallb-system");
    }
    flag("--leader-elect-lease-name", LB_ALLOCATOR);
    flag("--leader-elect-lease-duration", "15s");
    flag("--sync-interval", "1m");
    flag("--ssh-key-interval", "5m");
    flag("--machine-cache-ttl", "1m");
    flag("--health-watchdog-failures", "60");
    flag("--delete-gone-nodes", "true");
    flag("--leader-elect-namespace", LEASE_NAMESPACE);
    flag("--kubeconfig", &format!("{KUBECONFIG_DIR}/kubeconfig"));
    flag("--metal-api-url", &values.metal_endpoint);
    flag("--metal-project-id", &values.project_id);
    flag("--metal-partition-id", &values.partition_id);
    flag("--metal-cluster-id", &values.cluster_id);
    if !values.default_external_network.is_empty() {
        flag(
            "--metal-default-external-network-id",
            &values.default_external_network,
        );
    }
    if !values.additional_networks.is_empty() {
        flag("--metal-additional-networks", &values.additional_networks);
    }
    if let Some(key) = &values.ssh_public_key {
        flag("--metal-ssh-publickey", key);
    }
    flag("--loadbalancer", values.load_balancer.as_str());
    // Flags without a value: always --leader-elect, then the chart's server flags.
    args.push("--leader-elect".into());
    args.extend(server_args());
    args
}

fn env(values: &Values) -> Value {
    let from_secret = |name: &str| {
        json!({"name": name, "valueFrom": {"secretKeyRef": {
            "name": values.credential.secret, "key": values.credential.key,
        }}})
    };
    let credential = if values.credential.is_hmac() {
        vec![
            from_secret("METAL_AUTH_HMAC"),
            // The HMAC key of the cloudprovider Secret signs as Metal-Admin (as metal-go does).
            json!({"name": "METAL_AUTH_HMAC_AUTH_TYPE", "value": "Metal-Admin"}),
        ]
    } else {
        vec![from_secret("METAL_AUTH_TOKEN")]
    };
    let mut env = vec![
        json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
    ];
    env.extend(credential);
    Value::Array(env)
}

fn deployment(values: &Values, image: &str) -> Value {
    let mut pod_labels = manifests::labels(LB_ALLOCATOR);
    for (key, value) in [
        ("gardener.cloud/role", "controlplane"),
        ("networking.gardener.cloud/to-dns", "allowed"),
        // metal-api, wherever it runs.
        ("networking.gardener.cloud/to-public-networks", "allowed"),
        ("networking.gardener.cloud/to-private-networks", "allowed"),
        (
            "networking.resources.gardener.cloud/to-kube-apiserver-tcp-443",
            "allowed",
        ),
    ] {
        pod_labels[key] = json!(value);
    }
    let kubeconfig = json!({
        "name": "kubeconfig",
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"secret": {"name": GENERIC_KUBECONFIG, "optional": false,
                            "items": [{"key": "kubeconfig", "path": "kubeconfig"}]}},
                {"secret": {"name": SHOOT_ACCESS_SECRET, "optional": false,
                            "items": [{"key": "token", "path": "token"}]}},
            ],
        },
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(LB_ALLOCATOR, Some(&values.namespace), LB_ALLOCATOR),
        "spec": {
            "replicas": values.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(LB_ALLOCATOR)},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "serviceAccountName": LB_ALLOCATOR,
                    "automountServiceAccountToken": false,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security_context(),
                    "containers": [{
                        "name": LB_ALLOCATOR,
                        "image": image,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/usr/local/bin/lb-allocator"],
                        "args": args(values),
                        "env": env(values),
                        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
                        "livenessProbe": liveness_probe(),
                        "readinessProbe": readiness_probe(),
                        "startupProbe": startup_probe(),
                        "resources": {
                            "requests": {"cpu": "20m", "memory": "32Mi"},
                            "limits": {"memory": "256Mi"},
                        },
                        "securityContext": container_security_context(),
                        "volumeMounts": [
                            {"name": "tmp", "mountPath": "/tmp"},
                            tls_volume_mount(),
                            {"name": "kubeconfig", "mountPath": KUBECONFIG_DIR, "readOnly": true},
                        ],
                    }],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        tls_volume(LB_ALLOCATOR_SERVER),
                        kubeconfig,
                    ],
                },
            },
        },
    })
}
