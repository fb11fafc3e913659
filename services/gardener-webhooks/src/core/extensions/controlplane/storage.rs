//! The ManagedResource `extension-controlplane-storageclasses` (into the shoot, unless
//! `featureGates.disableCsiLvm`): volume-manager, which replaces csi-lvm, in upstream's
//! namespace `csi-lvm`, with upstream's StorageClass `csi-lvm` (the default class unless
//! `customDefaultStorageClass` names another).
//!
//! Mirrors `helm/metal-mesh/templates/volume-manager/{csidriver,serviceaccount,rbac,daemonset,
//! storageclasses}.yaml` with the chart's default values (driver name, volume group, device
//! glob, sidecar images and flags, probes, resources, securityContexts, host paths). Like the
//! chart there is no controller Deployment: every node's provisioner runs with
//! `--node-deployment` beside the plugin. Differences, as a shoot needs them: the snapshotter
//! sidecar and its rules are left out (the shoot gets no snapshot CRDs or controller from us:
//! the chart's `sidecars.snapshotter.enabled: false`), the serving certificate comes from the
//! secrets manager (`volume-manager-server`) in a Secret of this resource, and the namespace
//! admits privileged pods (Pod Security), which the plugin is.

use base64::Engine as _;
use serde_json::{Value, json};

use super::manifests::{
    ManagedResource, cluster_role, cluster_role_binding, labels, liveness_probe, metadata,
    namespace, readiness_probe, role_and_binding, rule, server_args, tls_volume, tls_volume_mount,
};
use super::values::Values;

pub const RESOURCE: &str = "extension-controlplane-storageclasses";
/// Upstream's namespace and StorageClass.
pub const CSI_LVM: &str = "csi-lvm";
/// The chart's CSI driver name.
pub const DRIVER: &str = "lvm.csi.metal-stack.io";
const VOLUME_MANAGER: &str = "volume-manager";
const TLS_SECRET: &str = "volume-manager-tls";
const PORT: u16 = 8083;
const HEALTH_PORT: u16 = 9898;
const KUBELET_DIR: &str = "/var/lib/kubelet";
const HOST_WRITE_PATH: &str = "/etc/lvm";
const SIDECARS: &str = "registry.k8s.io/sig-storage";

/// The serving certificate of volume-manager (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub cert: String,
    pub key: String,
    pub ca: String,
}

/// `None` when csi-lvm is disabled.
pub fn resources(values: &Values, image: &str, tls: &Tls) -> Option<ManagedResource> {
    let storage = values.storage?;
    let mut objects = vec![
        namespace(
            CSI_LVM,
            json!({
                "app.kubernetes.io/part-of": "metal-mesh",
                // Mount propagation and device-mapper need a privileged plugin.
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/audit": "privileged",
                "pod-security.kubernetes.io/warn": "privileged",
            }),
        ),
        csi_driver(),
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(VOLUME_MANAGER, Some(CSI_LVM), VOLUME_MANAGER),
            "automountServiceAccountToken": false,
        }),
    ];
    objects.extend(rbac());
    objects.push(tls_secret(tls));
    objects.push(daemon_set(image));
    objects.extend(storage_classes(storage.default_class));
    Some(ManagedResource {
        name: RESOURCE,
        class: None,
        objects,
    })
}

fn csi_driver() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": metadata(DRIVER, None, VOLUME_MANAGER),
        "spec": {
            "attachRequired": false,
            "podInfoOnMount": true,
            "storageCapacity": true,
            "volumeLifecycleModes": ["Persistent", "Ephemeral"],
            "fsGroupPolicy": "File",
        },
    })
}

fn rbac() -> Vec<Value> {
    let name = "metal-mesh:volume-manager";
    let all = &[
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let mut objects = vec![
        cluster_role(
            name,
            json!([
                // external-provisioner
                rule(
                    "",
                    &["persistentvolumes"],
                    &["get", "list", "watch", "create", "patch", "delete"]
                ),
                rule(
                    "",
                    &["persistentvolumeclaims"],
                    &["get", "list", "watch", "update"]
                ),
                rule(
                    "storage.k8s.io",
                    &["storageclasses"],
                    &["get", "list", "watch"]
                ),
                rule("storage.k8s.io", &["csinodes"], &["get", "list", "watch"]),
                rule("", &["nodes"], &["get", "list", "watch"]),
                rule(
                    "snapshot.storage.k8s.io",
                    &["volumesnapshots"],
                    &["get", "list", "watch", "update"]
                ),
                rule(
                    "snapshot.storage.k8s.io",
                    &["volumesnapshotcontents"],
                    &["get", "list"]
                ),
                // external-resizer
                rule("", &["persistentvolumeclaims/status"], &["patch"]),
                rule("", &["pods"], &["list", "watch"]),
                rule(
                    "",
                    &["events"],
                    &["list", "watch", "create", "update", "patch"]
                ),
            ]),
            VOLUME_MANAGER,
        ),
        cluster_role_binding(name, name, VOLUME_MANAGER, CSI_LVM, VOLUME_MANAGER),
        cluster_role_binding(
            "metal-mesh:volume-manager:auth-delegator",
            "system:auth-delegator",
            VOLUME_MANAGER,
            CSI_LVM,
            VOLUME_MANAGER,
        ),
    ];
    // The provisioner's CSIStorageCapacity objects in its own namespace.
    objects.extend(role_and_binding(
        "volume-manager-capacity",
        CSI_LVM,
        json!([
            rule("storage.k8s.io", &["csistoragecapacities"], all),
            rule("", &["pods"], &["get"]),
        ]),
        VOLUME_MANAGER,
        CSI_LVM,
        VOLUME_MANAGER,
    ));
    objects
}

fn tls_secret(tls: &Tls) -> Value {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(TLS_SECRET, Some(CSI_LVM), VOLUME_MANAGER),
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": b64(&tls.cert), "tls.key": b64(&tls.key), "ca.crt": b64(&tls.ca)},
    })
}

/// The chart's sidecar securityContext: root for the sockets, nothing else.
fn sidecar_security_context() -> Value {
    json!({
        "runAsNonRoot": false,
        "runAsUser": 0,
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    })
}

fn resources_of(cpu: &str, memory: &str, limit: &str) -> Value {
    json!({"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}})
}

fn field_env(name: &str, path: &str) -> Value {
    json!({"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}})
}

fn socket_mount() -> Value {
    json!({"name": "socket-dir", "mountPath": "/csi"})
}

fn sidecar(name: &str, image: &str, args: &[String], memory: &str, limit: &str) -> Value {
    json!({
        "name": name,
        "image": format!("{SIDECARS}/{image}"),
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "resources": resources_of("10m", memory, limit),
        "securityContext": sidecar_security_context(),
        "volumeMounts": [socket_mount()],
    })
}

fn plugin_args() -> Vec<String> {
    let mut args: Vec<String> = [
        "--csi-endpoint",
        "unix:///csi/csi.sock",
        "--node-id",
        "$(KUBE_NODE_NAME)",
        "--vg-name",
        CSI_LVM,
        "--devices",
        "/dev/nvme[0-9]n[0-9]",
        "--listen",
        "0.0.0.0:8083",
        "--driver-name",
        DRIVER,
        "--default-type",
        "linear",
        "--max-volumes-per-node",
        "0",
        "--host-write-path",
        HOST_WRITE_PATH,
        "--log-format",
        "text",
        "--log-level",
        "info",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(server_args());
    args
}

fn daemon_set(image: &str) -> Value {
    let socket_dir = format!("{KUBELET_DIR}/plugins/{DRIVER}");
    let bidirectional = |name: &str, path: &str| json!({"name": name, "mountPath": path, "mountPropagation": "Bidirectional"});
    let host = |name: &str, path: &str, kind: Option<&str>| {
        let mut host_path = json!({"path": path});
        if let Some(kind) = kind {
            host_path["type"] = json!(kind);
        }
        json!({"name": name, "hostPath": host_path})
    };
    let csi = "--csi-address=/csi/csi.sock".to_owned();
    let mut provisioner = sidecar(
        "csi-provisioner",
        "csi-provisioner:v6.3.0",
        &[
            csi.clone(),
            "--node-deployment".into(),
            "--enable-capacity".into(),
            "--capacity-ownerref-level=1".into(),
            "--strict-topology".into(),
            "--extra-create-metadata".into(),
        ],
        "32Mi",
        "256Mi",
    );
    provisioner["env"] = json!([
        field_env("NODE_NAME", "spec.nodeName"),
        field_env("NAMESPACE", "metadata.namespace"),
        field_env("POD_NAME", "metadata.name"),
    ]);
    let resizer = sidecar(
        "csi-resizer",
        "csi-resizer:v2.2.1",
        std::slice::from_ref(&csi),
        "32Mi",
        "256Mi",
    );
    let mut registrar = sidecar(
        "node-driver-registrar",
        "csi-node-driver-registrar:v2.17.0",
        &[
            csi.clone(),
            format!("--kubelet-registration-path={socket_dir}/csi.sock"),
        ],
        "16Mi",
        "64Mi",
    );
    registrar["volumeMounts"] =
        json!([socket_mount(), {"name": "registration-dir", "mountPath": "/registration"}]);
    let mut liveness = sidecar(
        "livenessprobe",
        "livenessprobe:v2.19.0",
        &[csi, format!("--http-endpoint=:{HEALTH_PORT}")],
        "16Mi",
        "64Mi",
    );
    liveness["ports"] =
        json!([{"name": "csi-healthz", "containerPort": HEALTH_PORT, "protocol": "TCP"}]);
    let plugin = json!({
        "name": VOLUME_MANAGER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/usr/local/bin/volume-manager"],
        "args": plugin_args(),
        "env": [field_env("KUBE_NODE_NAME", "spec.nodeName")],
        "ports": [{"name": "https", "containerPort": PORT, "protocol": "TCP"}],
        "livenessProbe": liveness_probe(),
        "readinessProbe": readiness_probe(),
        "resources": resources_of("20m", "64Mi", "512Mi"),
        "securityContext": {"privileged": true, "runAsNonRoot": false, "runAsUser": 0},
        "volumeMounts": [
            socket_mount(),
            bidirectional("mountpoint-dir", &format!("{KUBELET_DIR}/pods")),
            bidirectional("plugins-dir", &format!("{KUBELET_DIR}/plugins")),
            bidirectional("dev-dir", "/dev"),
            {"name": "lib-modules", "mountPath": "/lib/modules", "readOnly": true},
            bidirectional("lvm-host-write", HOST_WRITE_PATH),
            tls_volume_mount(),
        ],
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata(VOLUME_MANAGER, Some(CSI_LVM), VOLUME_MANAGER),
        "spec": {
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": super::manifests::selector(VOLUME_MANAGER)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": labels(VOLUME_MANAGER)},
                "spec": {
                    "serviceAccountName": VOLUME_MANAGER,
                    "automountServiceAccountToken": true,
                    "enableServiceLinks": false,
                    "terminationGracePeriodSeconds": 30,
                    "containers": [plugin, provisioner, resizer, registrar, liveness],
                    "volumes": [
                        host("socket-dir", &socket_dir, Some("DirectoryOrCreate")),
                        host("mountpoint-dir", &format!("{KUBELET_DIR}/pods"), Some("Directory")),
                        host("plugins-dir", &format!("{KUBELET_DIR}/plugins"), Some("Directory")),
                        host("registration-dir", &format!("{KUBELET_DIR}/plugins_registry"), Some("Directory")),
                        host("dev-dir", "/dev", Some("Directory")),
                        host("lib-modules", "/lib/modules", None),
                        host("lvm-host-write", HOST_WRITE_PATH, Some("DirectoryOrCreate")),
                        tls_volume(TLS_SECRET),
                    ],
                },
            },
        },
    })
}

fn storage_class(name: &str, lv_type: &str, default: bool) -> Value {
    let mut meta = metadata(name, None, VOLUME_MANAGER);
    if default {
        meta["annotations"] = json!({"storageclass.kubernetes.io/is-default-class": "true"});
    }
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": DRIVER,
        "parameters": {"type": lv_type},
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": true,
    })
}

/// Upstream's `csi-lvm` (linear LVs) and the chart's classes of every LV type.
fn storage_classes(default: bool) -> Vec<Value> {
    let mut classes = vec![storage_class(CSI_LVM, "linear", default)];
    for lv_type in ["linear", "striped", "mirror"] {
        classes.push(storage_class(
            &format!("csi-driver-lvm-{lv_type}"),
            lv_type,
            false,
        ));
    }
    classes
}
