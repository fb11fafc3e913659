//! The ControlPlane's workloads follow the project's chart.
//!
//! gardener-webhooks renders lb-allocator (ManagedResource `extension-controlplane-seed`) and
//! volume-manager (`extension-controlplane-storageclasses`) in Rust, mirroring
//! `helm/metal-mesh` (no Helm engine runs in the controller). Here Helm renders the chart with
//! the same settings (through `integration/scripts/render_chart.py`) and every container,
//! flag, environment variable, probe, resource, securityContext, mount, host path, RBAC rule,
//! CSIDriver and StorageClass field of the chart must be in the ControlPlane's objects as well,
//! with the same value, except the differences listed (and asserted) below, which are what a
//! Gardener seed or shoot needs. A chart change that is not carried into the controller (or
//! the other way round) fails here.

use std::collections::BTreeMap;

use gardener_webhooks::core::extensions::controlplane::{
    self, ManagedResource, storage,
    values::{Credential, LoadBalancer, NetworkAccess, Storage, Values},
};
use serde_json::{Value, json};

const IMAGE: &str = "metal-mesh:dev";
const PROJECT: &str = "p-1";
const PARTITION: &str = "fra-equ01";
const CLUSTER: &str = "0b5e8a4c-6c2b-4a53-9d35-4f8c1d2e3f40";
const METAL_API: &str = "https://metal-api.example:8443";
const INTERNET: &str = "internet";
const MPLS: &str = "mpls";
const SSH_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0wmN/Cr3JXqmLW7u+g9pTh+wyqDHpSQEIQczXkVx9q op@metal";

fn values() -> Values {
    Values {
        namespace: "shoot--p--c".into(),
        replicas: 1,
        project_id: PROJECT.into(),
        cluster_id: CLUSTER.into(),
        partition_id: PARTITION.into(),
        node_network_id: "node-net".into(),
        nodes_cidr: "10.0.0.0/22".into(),
        default_external_network: INTERNET.into(),
        additional_networks: format!("{INTERNET},{MPLS}"),
        ssh_public_key: Some(SSH_KEY.into()),
        metal_endpoint: METAL_API.into(),
        credential: Credential {
            secret: "cloudprovider".into(),
            key: "metalAPIHMac".into(),
        },
        load_balancer: LoadBalancer::Metallb,
        network_access: NetworkAccess {
            restricted: false,
            dns_cidrs: vec!["0.0.0.0/0".into()],
            ntp_cidrs: vec!["0.0.0.0/0".into()],
            registry_mirrors: vec![],
        },
        apiserver_ips: vec!["203.0.113.10".into()],
        storage: Some(Storage {
            default_class: true,
        }),
    }
}

/// The chart with the same settings; the snapshotter is off, as a shoot gets no snapshot CRDs.
fn chart() -> Option<Vec<Value>> {
    let set = [
        "lbAllocator.enabled=true".to_string(),
        format!("lbAllocator.projectId={PROJECT}"),
        format!("lbAllocator.partitionId={PARTITION}"),
        format!("lbAllocator.clusterId={CLUSTER}"),
        format!("lbAllocator.metalApi.url={METAL_API}"),
        "lbAllocator.metalApi.auth.existingSecret=cloudprovider".into(),
        "lbAllocator.metalApi.auth.existingSecretKey=metalAPIHMac".into(),
        "lbAllocator.metalApi.auth.existingSecretKind=hmac".into(),
        format!("lbAllocator.defaultExternalNetwork={INTERNET}"),
        format!("lbAllocator.additionalNetworks={{{INTERNET},{MPLS}}}"),
        format!("lbAllocator.sshPublicKey={SSH_KEY}"),
        "volumeManager.enabled=true".into(),
        "volumeManager.sidecars.snapshotter.enabled=false".into(),
        "volumeManager.snapshotClass.enabled=false".into(),
    ];
    integration::chart::render(&set.iter().map(String::as_str).collect::<Vec<_>>())
}

fn ours() -> Vec<ManagedResource> {
    let tls = storage::Tls {
        cert: "cert".into(),
        key: "key".into(),
        ca: "ca".into(),
    };
    controlplane::render(&values(), IMAGE, &tls, None)
}

fn object<'a>(resources: &'a [ManagedResource], kind: &str, name: &str) -> &'a Value {
    resources
        .iter()
        .flat_map(|r| &r.objects)
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("the ControlPlane renders no {kind} {name}"))
}

/// A command line's flags: `--name value`, `--name=value` and bare switches (`None`).
fn flags(args: &Value) -> BTreeMap<String, Option<String>> {
    let args: Vec<String> = serde_json::from_value(args.clone()).unwrap_or_default();
    let mut flags = BTreeMap::new();
    let mut iter = args.iter().peekable();
    while let Some(arg) = iter.next() {
        assert!(
            arg.starts_with("--"),
            "a positional argument {arg:?} in {args:?}"
        );
        if let Some((name, value)) = arg.split_once('=') {
            flags.insert(name.to_owned(), Some(value.to_owned()));
        } else if iter.peek().is_some_and(|next| !next.starts_with("--")) {
            flags.insert(arg.clone(), iter.next().cloned());
        } else {
            flags.insert(arg.clone(), None);
        }
    }
    flags
}

fn env(container: &Value) -> BTreeMap<String, Value> {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let mut value = e.clone();
            value.as_object_mut().unwrap().remove("name");
            (e["name"].as_str().unwrap().to_owned(), value)
        })
        .collect()
}

/// Mount path → (volume source, readOnly, mountPropagation) of a pod's container.
fn mounts(pod: &Value, container: &Value) -> BTreeMap<String, Value> {
    let volumes: BTreeMap<&str, &Value> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let volume = volumes[m["name"].as_str().unwrap()];
            // The source without the volume's name (names are local to the pod).
            let mut source = volume.clone();
            source.as_object_mut().unwrap().remove("name");
            let path = m["mountPath"].as_str().unwrap().to_owned();
            (path, json!([source, m["readOnly"], m["mountPropagation"]]))
        })
        .collect()
}

/// What a container of the ControlPlane may do differently from the chart's.
#[derive(Default)]
struct Differences<'a> {
    /// Chart environment variables passed as flags instead: (variable, flag).
    env_as_flags: &'a [(&'a str, &'a str)],
    /// Chart environment variables left out.
    env_dropped: &'a [&'a str],
    /// Chart mount paths whose volume differs (the source the ControlPlane mounts there).
    mounts: &'a [(&'a str, Value)],
    /// Whether the image is the release's own (compared by command, not by tag).
    own_image: bool,
}

fn same_container(what: &str, chart: (&Value, &Value), ours: (&Value, &Value), d: &Differences) {
    let ((chart_pod, chart), (our_pod, ours)) = (chart, ours);
    for field in [
        "command",
        "imagePullPolicy",
        "ports",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "resources",
        "securityContext",
    ] {
        assert_eq!(ours[field], chart[field], "{what}: {field}");
    }
    if d.own_image {
        assert_eq!(ours["image"], IMAGE, "{what}");
    } else {
        assert_eq!(ours["image"], chart["image"], "{what}: image");
    }

    let our_flags = flags(&ours["args"]);
    for (flag, value) in flags(&chart["args"]) {
        assert_eq!(
            our_flags.get(&flag),
            Some(&value),
            "{what}: the chart's {flag}"
        );
    }

    let our_env = env(ours);
    for (name, value) in env(chart) {
        if d.env_dropped.contains(&name.as_str()) {
            assert!(!our_env.contains_key(&name), "{what}: {name} dropped");
        } else if let Some((_, flag)) = d.env_as_flags.iter().find(|(e, _)| *e == name) {
            let want = value["value"].as_str().expect("a literal value");
            assert_eq!(
                our_flags.get(*flag).cloned().flatten().as_deref(),
                Some(want),
                "{what}: {name} as {flag}"
            );
        } else {
            assert_eq!(our_env.get(&name), Some(&value), "{what}: env {name}");
        }
    }

    let our_mounts = mounts(our_pod, ours);
    for (path, mount) in mounts(chart_pod, chart) {
        let got = our_mounts
            .get(&path)
            .unwrap_or_else(|| panic!("{what}: no mount at {path}"));
        match d.mounts.iter().find(|(p, _)| *p == path) {
            Some((_, source)) => assert_eq!(&got[0], source, "{what}: {path} as declared"),
            None => assert_eq!(got, &mount, "{what}: the mount at {path}"),
        }
    }
}

fn pod(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]
}

fn container<'a>(workload: &'a Value, name: &str) -> &'a Value {
    pod(workload)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name} in {}", workload["metadata"]["name"]))
}

fn container_names(workload: &Value) -> Vec<&str> {
    pod(workload)["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect()
}

fn same_pod(what: &str, chart: &Value, ours: &Value, fields: &[&str]) {
    for field in fields {
        assert_eq!(pod(ours)[field], pod(chart)[field], "{what}: pod {field}");
    }
    assert_eq!(
        ours["spec"]["revisionHistoryLimit"], chart["spec"]["revisionHistoryLimit"],
        "{what}"
    );
}

#[test]
fn the_seeds_lb_allocator_is_the_charts_but_for_what_a_seed_needs() {
    let Some(docs) = chart() else {
        return;
    };
    let resources = ours();
    let chart = integration::chart::find(&docs, "Deployment", "lb-allocator");
    let ours = object(&resources, "Deployment", "lb-allocator");
    // Every chart flag with its value; the seed adds --leader-elect-namespace and --kubeconfig
    // (the Lease lives in the shoot, reached through Gardener's kubeconfig).
    let differences = Differences {
        // Upstream's control-plane chart passes metal-ccm's settings the same way.
        env_as_flags: &[
            ("METAL_API_URL", "--metal-api-url"),
            ("METAL_PROJECT_ID", "--metal-project-id"),
            ("METAL_PARTITION_ID", "--metal-partition-id"),
            ("METAL_CLUSTER_ID", "--metal-cluster-id"),
            (
                "METAL_DEFAULT_EXTERNAL_NETWORK_ID",
                "--metal-default-external-network-id",
            ),
            ("METAL_ADDITIONAL_NETWORKS", "--metal-additional-networks"),
            ("METAL_SSH_PUBLICKEY", "--metal-ssh-publickey"),
            ("LOADBALANCER", "--loadbalancer"),
        ],
        // The namespace of the pod is the seed's; its Lease is in the shoot's kube-system
        // (--leader-elect-namespace).
        env_dropped: &["POD_NAMESPACE"],
        // The serving certificate is the secrets manager's.
        mounts: &[(
            "/etc/metal-mesh/tls",
            json!({"secret": {
                "secretName": controlplane::secrets::LB_ALLOCATOR_SERVER,
                "defaultMode": 0o440,
            }}),
        )],
        own_image: true,
    };
    same_container(
        "lb-allocator",
        (pod(chart), container(chart, "lb-allocator")),
        (pod(ours), container(ours, "lb-allocator")),
        &differences,
    );
    let our_flags = flags(&container(ours, "lb-allocator")["args"]);
    assert_eq!(
        our_flags.get("--leader-elect-namespace"),
        Some(&Some("kube-system".into()))
    );
    assert!(our_flags.contains_key("--kubeconfig"));
    same_pod(
        "lb-allocator",
        chart,
        ours,
        &[
            "securityContext",
            "enableServiceLinks",
            "terminationGracePeriodSeconds",
        ],
    );
    // It talks to the shoot only: the seed's ServiceAccount token is not mounted.
    assert_eq!(pod(chart)["automountServiceAccountToken"], true);
    assert_eq!(pod(ours)["automountServiceAccountToken"], false);
    assert_eq!(container_names(ours), container_names(chart));

    // The shoot's RBAC of lb-allocator is the chart's.
    let chart_role = integration::chart::find(&docs, "ClusterRole", "lb-allocator");
    let our_role = object(&resources, "ClusterRole", "metal-mesh:lb-allocator");
    assert_eq!(
        our_role["rules"], chart_role["rules"],
        "lb-allocator's ClusterRole"
    );
    for (suffix, ours) in [
        (
            "lb-allocator-leader-election",
            "lb-allocator-leader-election",
        ),
        ("lb-allocator-metallb", "lb-allocator-metallb"),
    ] {
        let chart_role = integration::chart::find(&docs, "Role", suffix);
        let our_role = object(&resources, "Role", ours);
        assert_eq!(our_role["rules"], chart_role["rules"], "Role {ours}");
    }
}

#[test]
fn the_shoots_volume_manager_is_the_charts_but_for_what_a_shoot_needs() {
    let Some(docs) = chart() else {
        return;
    };
    let resources = ours();
    let chart = integration::chart::find(&docs, "DaemonSet", "volume-manager");
    let ours = object(&resources, "DaemonSet", "volume-manager");
    assert_eq!(container_names(ours), container_names(chart));
    let tls = json!({"secret": {"secretName": "volume-manager-tls", "defaultMode": 0o440}});
    for name in container_names(chart) {
        let own = name == "volume-manager";
        let mounts = if own {
            vec![("/etc/metal-mesh/tls", tls.clone())]
        } else {
            vec![]
        };
        let differences = Differences {
            mounts: &mounts,
            own_image: own,
            ..Differences::default()
        };
        same_container(
            name,
            (pod(chart), container(chart, name)),
            (pod(ours), container(ours, name)),
            &differences,
        );
    }
    same_pod(
        "volume-manager",
        chart,
        ours,
        &[
            "securityContext",
            "enableServiceLinks",
            "terminationGracePeriodSeconds",
            "automountServiceAccountToken",
            "hostNetwork",
        ],
    );
    assert_eq!(
        ours["spec"]["updateStrategy"],
        chart["spec"]["updateStrategy"]
    );

    let chart_driver = integration::chart::find(&docs, "CSIDriver", storage::DRIVER);
    let our_driver = object(&resources, "CSIDriver", storage::DRIVER);
    assert_eq!(our_driver["spec"], chart_driver["spec"]);

    for lv_type in ["linear", "striped", "mirror"] {
        let name = format!("csi-driver-lvm-{lv_type}");
        let chart_class = integration::chart::find(&docs, "StorageClass", &name);
        let our_class = object(&resources, "StorageClass", &name);
        for field in [
            "provisioner",
            "parameters",
            "reclaimPolicy",
            "volumeBindingMode",
            "allowVolumeExpansion",
        ] {
            assert_eq!(our_class[field], chart_class[field], "{name}: {field}");
        }
    }
    // Upstream's csi-lvm class is the chart's linear one under upstream's name, the default.
    let csi_lvm = object(&resources, "StorageClass", storage::CSI_LVM);
    let linear = object(&resources, "StorageClass", "csi-driver-lvm-linear");
    for field in [
        "provisioner",
        "parameters",
        "reclaimPolicy",
        "volumeBindingMode",
    ] {
        assert_eq!(csi_lvm[field], linear[field], "csi-lvm: {field}");
    }
    assert_eq!(
        csi_lvm["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );

    let chart_role = integration::chart::find(&docs, "ClusterRole", "volume-manager");
    let our_role = object(&resources, "ClusterRole", "metal-mesh:volume-manager");
    assert_eq!(
        our_role["rules"], chart_role["rules"],
        "volume-manager's ClusterRole"
    );
    let chart_role = integration::chart::find(&docs, "Role", "volume-manager-capacity");
    let our_role = object(&resources, "Role", "volume-manager-capacity");
    assert_eq!(
        our_role["rules"], chart_role["rules"],
        "volume-manager's Role"
    );
}
