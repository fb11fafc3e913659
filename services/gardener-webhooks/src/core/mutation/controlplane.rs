//! The `controlplane` webhook (KindShoot) in a shoot namespace of the seed. Upstream:
//! metal-stack's `pkg/webhook/controlplane/{add,ensurer}.go` behind Gardener's generic
//! mutator (`extensions/pkg/webhook/controlplane/genericmutator/mutator.go`), which picks the
//! ensurer by the object's type and name.

use serde_json::{Value, json};

use super::pod::CommandLine;
use super::{Cluster, Context, Meta, Needs, checksum, osc, pod};

/// What this webhook mutates, by type and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    KubeApiServer,
    KubeControllerManager,
    MachineControllerManager,
    VpnSeedServer,
    ResourceManagerConfig,
    OperatingSystemConfig,
}

fn target(meta: &Meta) -> Option<Target> {
    if meta.is("apps", "Deployment") {
        // The generic mutator also routes the virtual garden's control plane here.
        return match meta.name {
            "kube-apiserver" | "virtual-garden-kube-apiserver" => Some(Target::KubeApiServer),
            "kube-controller-manager" | "virtual-garden-kube-controller-manager" => {
                Some(Target::KubeControllerManager)
            }
            "machine-controller-manager" => Some(Target::MachineControllerManager),
            "vpn-seed-server" => Some(Target::VpnSeedServer),
            _ => None,
        };
    }
    if meta.is("", "ConfigMap") && meta.name.starts_with("gardener-resource-manager-") {
        return Some(Target::ResourceManagerConfig);
    }
    if meta.is("extensions.gardener.cloud", "OperatingSystemConfig") {
        return Some(Target::OperatingSystemConfig);
    }
    None
}

pub(super) fn needs(meta: &Meta) -> Needs {
    match target(meta) {
        Some(Target::KubeApiServer | Target::KubeControllerManager) => Needs {
            cluster: true,
            cloudprovider_secret: true,
        },
        Some(
            Target::MachineControllerManager
            | Target::VpnSeedServer
            | Target::OperatingSystemConfig,
        ) => Needs {
            cluster: true,
            cloudprovider_secret: false,
        },
        Some(Target::ResourceManagerConfig) | None => Needs::default(),
    }
}

pub(super) fn mutate(meta: &Meta, object: &mut Value, ctx: &Context) -> Result<(), String> {
    let Some(target) = target(meta) else {
        return Ok(());
    };
    let namespace = meta.namespace;
    match target {
        Target::KubeApiServer => kube_apiserver(object, cluster(ctx, namespace)?, ctx),
        Target::KubeControllerManager => {
            kube_controller_manager(object, cluster(ctx, namespace)?, ctx)
        }
        Target::MachineControllerManager => machine_controller_manager(object, namespace, ctx),
        Target::VpnSeedServer => vpn_seed_server(object, cluster(ctx, namespace)?),
        Target::ResourceManagerConfig => resource_manager_config(object),
        Target::OperatingSystemConfig => osc::mutate(object, cluster(ctx, namespace)?, ctx.old),
    }
}

/// The Cluster of the namespace, which these ensurers cannot do without.
fn cluster<'a>(ctx: &Context<'a>, namespace: &str) -> Result<&'a Cluster, String> {
    ctx.cluster
        .ok_or_else(|| format!("could not get cluster for namespace '{namespace}': not found"))
}

/// `checksum/secret-cloudprovider` on the pod template; upstream denies when the Secret is
/// missing.
fn ensure_secret_checksum(object: &mut Value, ctx: &Context) -> Result<(), String> {
    let namespace = Meta::of(object).namespace.to_string();
    let data = ctx.cloudprovider_data.ok_or_else(|| {
        format!(
            "could not get secret '{namespace}/{}': not found",
            checksum::SECRET_NAME
        )
    })?;
    pod::ensure_template_annotation(object, checksum::ANNOTATION, &checksum::secret_data(data));
    Ok(())
}

/// The VPN gets the node network right away instead of on the next shoot reconcile (works
/// around a regression from gardener/gardener#4691, as upstream notes).
fn ensure_node_network(container: &mut serde_json::Map<String, Value>, node_cidr: &str) {
    pod::ensure_env(
        container,
        json!({"name": "NODE_NETWORK", "value": node_cidr}),
    );
}

/// No in-tree cloud provider; for Kubernetes < 1.31 the `PersistentVolumeLabel` admission plugin
/// (an in-tree cloud-provider one) is disabled; the `vpn-seed` sidecar learns the node network.
fn kube_apiserver(object: &mut Value, cluster: &Cluster, ctx: &Context) -> Result<(), String> {
    let version = cluster.kubernetes_version()?;
    let node_cidr = cluster.node_cidr()?;
    if let Some(container) = pod::container_mut(object, "kube-apiserver") {
        let mut line = CommandLine::of(container);
        line.remove_with_prefix("--cloud-provider=");
        line.remove_with_prefix("--cloud-config=");
        if version.below(1, 31) {
            let plugin = "PersistentVolumeLabel";
            line.remove_from_lists("--enable-admission-plugins=", plugin, ",");
            line.ensure_in_list("--disable-admission-plugins=", plugin, ",");
        }
        line.write(container);
    }
    if let Some(container) = pod::container_mut(object, "vpn-seed") {
        ensure_node_network(container, node_cidr);
    }
    ensure_secret_checksum(object, ctx)
}

/// The pod labels that open the network policies for the cloud-controller-manager's peers.
const KCM_NETWORK_LABELS: [&str; 3] = [
    "networking.gardener.cloud/to-public-networks",
    "networking.gardener.cloud/to-private-networks",
    "networking.gardener.cloud/to-blocked-cidrs",
];

/// The external cloud provider (metal-ccm) runs the cloud controllers.
fn kube_controller_manager(
    object: &mut Value,
    cluster: &Cluster,
    ctx: &Context,
) -> Result<(), String> {
    // Upstream reads the version but sets the same flags for every version.
    cluster.kubernetes_version()?;
    if let Some(container) = pod::container_mut(object, "kube-controller-manager") {
        let mut line = CommandLine::of(container);
        line.ensure_with_prefix("--cloud-provider=", "external");
        line.remove_with_prefix("--cloud-config=");
        line.remove_with_prefix("--external-cloud-volume-plugin=");
        line.write(container);
    }
    for label in KCM_NETWORK_LABELS {
        pod::ensure_template_label(object, label, "allowed");
    }
    ensure_secret_checksum(object, ctx)
}

fn vpn_seed_server(object: &mut Value, cluster: &Cluster) -> Result<(), String> {
    let node_cidr = cluster.node_cidr()?;
    if let Some(container) = pod::container_mut(object, "vpn-seed-server") {
        ensure_node_network(container, node_cidr);
    }
    Ok(())
}

const PROVIDER_SIDECAR: &str = "machine-controller-manager-provider-metal";
/// The image is metal-mesh's, which holds every binary and has no entrypoint: the sidecar runs
/// machine-lifecycle, which understands the standard provider sidecar's flags.
const PROVIDER_COMMAND: &str = "/usr/local/bin/machine-lifecycle";
const PROVIDER_METRICS_PORT: u16 = 10259;
const GENERIC_KUBECONFIG_DIR: &str = "/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig";
/// Seven days: a bare-metal machine may take long to come back, and replacing it is expensive.
const MACHINE_HEALTH_TIMEOUT: &str = "10080m";

/// The provider sidecar (our machine-lifecycle) joins the machine-controller-manager.
fn machine_controller_manager(
    object: &mut Value,
    namespace: &str,
    ctx: &Context,
) -> Result<(), String> {
    let image = &ctx.config.machine_controller_manager_image;
    if image.is_empty() {
        return Err(format!("could not find image {PROVIDER_SIDECAR:?}"));
    }
    let cluster = ctx
        .cluster
        .ok_or_else(|| format!("failed reading Cluster: no cluster for namespace '{namespace}'"))?;
    let sidecar = provider_sidecar(image, namespace, cluster.self_hosted());
    pod::ensure_container(object, sidecar);
    Ok(())
}

/// Where the sidecar finds the shoot: the generic kubeconfig; for a self-hosted shoot the
/// in-cluster config inside the shoot (`kube-system`), or none while bootstrapping.
fn target_kubeconfig(self_hosted: bool, namespace: &str) -> String {
    match (self_hosted, namespace) {
        (false, _) => format!("{GENERIC_KUBECONFIG_DIR}/kubeconfig"),
        (true, "kube-system") => String::new(),
        (true, _) => "none".to_string(),
    }
}

/// Gardener's standard MCM provider sidecar (`machinecontrollermanager.ProviderSidecarContainer`)
/// with metal's longer machine health timeout.
fn provider_sidecar(image: &str, namespace: &str, self_hosted: bool) -> Value {
    let args = [
        "--control-kubeconfig=inClusterConfig".to_string(),
        "--kube-api-qps=100".to_string(),
        "--kube-api-burst=200".to_string(),
        "--machine-creation-timeout=20m".to_string(),
        "--machine-drain-timeout=2h".to_string(),
        format!("--machine-health-timeout={MACHINE_HEALTH_TIMEOUT}"),
        "--machine-safety-apiserver-statuscheck-timeout=30s".to_string(),
        "--machine-safety-apiserver-statuscheck-period=1m".to_string(),
        "--machine-safety-orphan-vms-period=30m".to_string(),
        format!("--namespace={namespace}"),
        format!("--port={PROVIDER_METRICS_PORT}"),
        format!(
            "--target-kubeconfig={}",
            target_kubeconfig(self_hosted, namespace)
        ),
        "--v=3".to_string(),
    ];
    let mut container = json!({
        "name": PROVIDER_SIDECAR,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": [PROVIDER_COMMAND],
        "args": args,
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": PROVIDER_METRICS_PORT, "scheme": "HTTP"},
            "initialDelaySeconds": 30,
            "timeoutSeconds": 5,
            "periodSeconds": 10,
            "successThreshold": 1,
            "failureThreshold": 3,
        },
        "ports": [{"name": "providermetrics", "containerPort": PROVIDER_METRICS_PORT, "protocol": "TCP"}],
        "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}},
        "securityContext": {"allowPrivilegeEscalation": false},
    });
    if !self_hosted {
        container["volumeMounts"] = json!([
            {"name": "kubeconfig", "mountPath": GENERIC_KUBECONFIG_DIR, "readOnly": true}
        ]);
    }
    container
}

const RESOURCE_MANAGER_CONFIG_KEY: &str = "config.yaml";
/// Namespaces of the shoot whose ManagedResources metal's charts deliver. `audit` belongs to
/// gardener-extension-audit but is listed unconditionally, as upstream does.
const RESOURCE_MANAGER_NAMESPACES: [&str; 4] = ["firewall", "metallb-system", "csi-lvm", "audit"];

/// The shoot's gardener-resource-manager watches only listed namespaces of the shoot; metal's
/// components live in further ones. A namespace already listed is not added again, so a second
/// pass (webhook reinvocation) changes nothing.
fn resource_manager_config(object: &mut Value) -> Result<(), String> {
    let Some(raw) = object
        .pointer("/data")
        .and_then(|d| d.get(RESOURCE_MANAGER_CONFIG_KEY))
        .and_then(Value::as_str)
    else {
        return Err(
            "gardener-resource-manager config map does not contain config.yaml key".to_string(),
        );
    };
    let decode_error =
        |e: String| format!("unable to decode gardener-resource-manager configuration: {e}");
    let mut config: Value = serde_saphyr::from_str(raw).map_err(|e| decode_error(e.to_string()))?;
    let connection = config
        .get_mut("targetClientConnection")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| decode_error("it has no targetClientConnection".to_string()))?;
    let namespaces = connection
        .entry("namespaces")
        .or_insert_with(|| Value::Array(Vec::new()));
    let Some(namespaces) = namespaces.as_array_mut() else {
        return Err(decode_error(
            "targetClientConnection.namespaces is not a list".to_string(),
        ));
    };
    let missing: Vec<&str> = RESOURCE_MANAGER_NAMESPACES
        .into_iter()
        .filter(|ns| !namespaces.iter().any(|n| n.as_str() == Some(ns)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    namespaces.extend(missing.into_iter().map(|ns| Value::String(ns.to_string())));
    let encoded = serde_saphyr::to_string(&config)
        .map_err(|e| format!("unable to encode gardener-resource-manager configuration: {e}"))?;
    object["data"][RESOURCE_MANAGER_CONFIG_KEY] = Value::String(encoded);
    Ok(())
}

#[cfg(test)]
mod tests;
