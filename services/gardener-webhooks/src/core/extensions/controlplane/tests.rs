use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use k8s_openapi::api::storage::v1::{CSIDriver, StorageClass};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube_resources::ClusterwideNetworkPolicy;
use metal_api_sdk::model::NetworkResponse;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::secrets::{self, Existing, Issued, Reason};
use super::values::{self, LABEL_DEFAULT, LABEL_DEFAULT_EXTERNAL, LoadBalancer};
use super::*;
use crate::core::extensions::operation::ErrorCode;
use crate::core::extensions::shoot::{Shoot, fixtures};
use crate::core::provider_config::{
    CloudControllerManagerConfig, ControlPlaneConfig, CustomDefaultStorageClass, NetworkAccessType,
    NetworkIsolation, Partition, RegistryMirror,
};

fn network(id: &str, parent: Option<&str>, labels: &[&str], privatesuper: bool) -> NetworkResponse {
    NetworkResponse {
        id: id.into(),
        name: None,
        description: None,
        partitionid: None,
        projectid: None,
        parentnetworkid: parent.map(Into::into),
        prefixes: Vec::new(),
        destinationprefixes: Vec::new(),
        defaultchildprefixlength: None,
        vrf: None,
        vrfshared: None,
        shared: None,
        nat: false,
        privatesuper,
        underlay: false,
        labels: labels
            .iter()
            .map(|l| (l.to_string(), String::new()))
            .collect(),
        additional_announcable_cidrs: Vec::new(),
        networktype: String::new(),
        nattype: String::new(),
        usage: Default::default(),
        consumption: Default::default(),
        created: None,
        changed: None,
    }
}

/// Upstream's networks of `Test_getDefaultExternalNetwork`.
fn networks() -> Vec<NetworkResponse> {
    vec![
        network("own-external-network", None, &[], false),
        network("somebody-external-network", None, &[], false),
        network(
            "internet",
            None,
            &[LABEL_DEFAULT_EXTERNAL, LABEL_DEFAULT],
            false,
        ),
        network("mpls-network", None, &[LABEL_DEFAULT_EXTERNAL], false),
        network(
            "dmz-network",
            Some("super-network"),
            &[LABEL_DEFAULT_EXTERNAL],
            false,
        ),
        network("super-network", None, &[], true),
    ]
}

fn explicit(network: &str) -> ControlPlaneConfig {
    ControlPlaneConfig {
        cloud_controller_manager: Some(CloudControllerManagerConfig {
            default_external_network: Some(network.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[test]
fn the_default_external_network_follows_upstreams_choice() {
    let internet_firewall = ["mpls-network", "own-external-network", "internet"].map(String::from);
    let dmz_firewall = ["dmz-network".to_owned()];
    /// Name, config, firewall networks, the network or the error.
    type Case<'a> = (
        &'a str,
        ControlPlaneConfig,
        &'a [String],
        Result<&'a str, &'a str>,
    );
    let cases: [Case; 4] = [
        (
            "specific default external network as specified by user",
            explicit("own-external-network"),
            &internet_firewall,
            Ok("own-external-network"),
        ),
        (
            "cannot specify external network of somebody else",
            explicit("somebody-external-network"),
            &internet_firewall,
            Err("given default external network not contained in firewall networks"),
        ),
        (
            "use internet as default external network",
            ControlPlaneConfig::default(),
            &internet_firewall,
            Ok("internet"),
        ),
        (
            "fallback to dmz network",
            ControlPlaneConfig::default(),
            &dmz_firewall,
            Ok("dmz-network"),
        ),
    ];
    for (name, config, firewall, want) in cases {
        let got = values::default_external_network(&networks(), &config, firewall);
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{name}"),
            (Err(e), Err(want)) => {
                assert_eq!(e.message, want, "{name}");
                assert_eq!(e.code, Some(ErrorCode::Configuration), "{name}");
            }
            (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_forbidden_cluster_has_no_default_and_every_firewall_network_must_exist() {
    let forbidden = ControlPlaneConfig {
        network_access_type: Some(NetworkAccessType::Forbidden),
        ..Default::default()
    };
    let internet = ["internet".to_owned()];
    assert_eq!(
        values::default_external_network(&networks(), &forbidden, &internet).unwrap(),
        ""
    );
    let unknown = ["nowhere".to_owned()];
    let e = values::default_external_network(&networks(), &ControlPlaneConfig::default(), &unknown)
        .unwrap_err();
    assert!(e.message.contains("does not exist in metal-api"), "{e}");
    let orphan = [network(
        "dmz",
        Some("gone"),
        &[LABEL_DEFAULT_EXTERNAL],
        false,
    )];
    let e =
        values::default_external_network(&orphan, &ControlPlaneConfig::default(), &["dmz".into()])
            .unwrap_err();
    assert!(
        e.message.contains("parent network that does not exist"),
        "{e}"
    );
    // Several unlabelled-default externals: the first in the firewall's order.
    let two = [
        network("a", None, &[LABEL_DEFAULT_EXTERNAL], false),
        network("b", None, &[LABEL_DEFAULT_EXTERNAL], false),
    ];
    let order = ["b".to_owned(), "a".to_owned()];
    assert_eq!(
        values::default_external_network(&two, &ControlPlaneConfig::default(), &order).unwrap(),
        "b"
    );
    let none = [network("plain", None, &[], false)];
    assert_eq!(
        values::default_external_network(&none, &ControlPlaneConfig::default(), &["plain".into()])
            .unwrap(),
        ""
    );
}

fn isolated() -> Partition {
    Partition {
        firewall_types: Vec::new(),
        network_isolation: Some(NetworkIsolation {
            dns_servers: vec!["10.0.0.53".into(), "2001:db8::53".into()],
            ntp_servers: vec!["10.0.0.123".into()],
            registry_mirrors: vec![RegistryMirror {
                name: "r".into(),
                endpoint: "https://r.example.com".into(),
                ip: "10.0.0.5".into(),
                port: 443,
                mirror_of: vec!["docker.io".into()],
            }],
            ..Default::default()
        }),
    }
}

#[test]
fn network_access_opens_anything_for_baseline_and_the_partitions_servers_otherwise() {
    let baseline =
        values::network_access(NetworkAccessType::Baseline, &Partition::default(), "p").unwrap();
    assert!(!baseline.restricted);
    assert_eq!(baseline.dns_cidrs, ["0.0.0.0/0"]);
    assert_eq!(baseline.ntp_cidrs, ["0.0.0.0/0"]);

    let e = values::network_access(NetworkAccessType::Restricted, &Partition::default(), "p")
        .unwrap_err();
    assert_eq!(
        e.message,
        "cluster-isolation is not supported in partition \"p\""
    );
    assert_eq!(e.code, Some(ErrorCode::Configuration));

    let restricted =
        values::network_access(NetworkAccessType::Forbidden, &isolated(), "p").unwrap();
    assert!(restricted.restricted);
    assert_eq!(restricted.dns_cidrs, ["10.0.0.53/32", "2001:db8::53/128"]);
    assert_eq!(restricted.ntp_cidrs, ["10.0.0.123/32"]);
    assert_eq!(restricted.registry_mirrors[0].cidr, "10.0.0.5/32");
    assert_eq!(restricted.registry_mirrors[0].port, 443);

    let mut broken = isolated();
    broken.network_isolation.as_mut().unwrap().ntp_servers = vec!["ntp.example".into()];
    let e = values::network_access(NetworkAccessType::Restricted, &broken, "p").unwrap_err();
    assert!(e.message.contains("ntp"), "{e}");
    broken
        .network_isolation
        .as_mut()
        .unwrap()
        .dns_servers
        .clear();
    let e = values::network_access(NetworkAccessType::Restricted, &broken, "p").unwrap_err();
    assert_eq!(e.message, "no dns configured");
}

fn shoot() -> Shoot {
    Shoot::from_cluster(&fixtures::cluster()).unwrap()
}

fn credential() -> Credential {
    Credential {
        secret: "cloudprovider".into(),
        key: Credential::HMAC.into(),
    }
}

fn values_of(shoot: &Shoot, config: &ControlPlaneConfig) -> Values {
    let networks = [network(
        "internet",
        None,
        &[LABEL_DEFAULT_EXTERNAL, LABEL_DEFAULT],
        false,
    )];
    values(Inputs {
        shoot,
        config,
        nodes_cidr: "10.0.0.0/22",
        node_network_id: "node-net",
        networks: &networks,
        ssh_public_key: Some(" ssh-ed25519 AAAA key\n"),
        credential: credential(),
        apiserver_ips: vec!["203.0.113.10".into()],
    })
    .unwrap()
}

#[test]
fn values_carry_the_shoots_metal_settings() {
    let shoot = shoot();
    let v = values_of(&shoot, &ControlPlaneConfig::default());
    assert_eq!(v.replicas, 1);
    assert_eq!(
        (
            v.project_id.as_str(),
            v.cluster_id.as_str(),
            v.partition_id.as_str()
        ),
        ("proj-1", "uid-1", "part-a")
    );
    assert_eq!(v.default_external_network, "internet");
    assert_eq!(v.additional_networks, "internet");
    assert_eq!(v.ssh_public_key.as_deref(), Some("ssh-ed25519 AAAA key"));
    assert_eq!(v.metal_endpoint, "http://metal.example");
    assert_eq!(v.load_balancer, LoadBalancer::Metallb);
    assert_eq!(
        v.storage,
        Some(values::Storage {
            default_class: true
        })
    );
    assert_eq!(v.apiserver_ips, ["203.0.113.10"]);

    let mut hibernated = shoot.clone();
    hibernated.hibernated = true;
    hibernated.networking_type = Some("cilium".into());
    let other_default = ControlPlaneConfig {
        custom_default_storage_class: Some(CustomDefaultStorageClass {
            class_name: "fast".into(),
        }),
        ..Default::default()
    };
    let v = values_of(&hibernated, &other_default);
    assert_eq!(v.replicas, 0);
    assert!(v.apiserver_ips.is_empty());
    assert_eq!(v.load_balancer, LoadBalancer::Cilium);
    assert_eq!(
        v.storage,
        Some(values::Storage {
            default_class: false
        })
    );

    let mut disabled = ControlPlaneConfig::default();
    disabled.feature_gates.disable_csi_lvm = Some(true);
    assert_eq!(values_of(&shoot, &disabled).storage, None);
}

#[test]
fn the_credential_key_and_the_node_network_are_unambiguous() {
    let data = |keys: &[&str]| -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.to_string(), "v".to_string()))
            .collect()
    };
    assert!(
        Credential::of("cp", &data(&["metalAPIHMac"]))
            .unwrap()
            .is_hmac()
    );
    assert_eq!(
        Credential::of("cp", &data(&["metalAPIKey"])).unwrap().key,
        "metalAPIKey"
    );
    assert!(Credential::of("cp", &data(&["metalAPIHMac", "metalAPIKey"])).is_err());
    assert!(Credential::of("cp", &data(&[])).is_err());

    let found = [network("n1", None, &[], false)];
    assert_eq!(
        values::node_network(&found, "p", "10.0.0.0/22").unwrap(),
        "n1"
    );
    assert!(values::node_network(&[], "p", "10.0.0.0/22").is_err());

    let mut shoot = shoot();
    let infra = json!({"status": {"nodesCIDR": "10.1.0.0/22"}});
    assert_eq!(
        values::nodes_cidr(&shoot, Some(&infra)).as_deref(),
        Some("10.1.0.0/22")
    );
    assert_eq!(values::nodes_cidr(&shoot, None), None);
    shoot.nodes_cidr = Some("10.2.0.0/22".into());
    assert_eq!(
        values::nodes_cidr(&shoot, Some(&infra)).as_deref(),
        Some("10.2.0.0/22")
    );
}

#[test]
fn the_control_planes_provider_config_wins_over_the_shoots() {
    let shoot = shoot();
    let object = json!({"spec": {"providerConfig": {
        "apiVersion": crate::core::provider_config::API_VERSION, "kind": "ControlPlaneConfig",
        "networkAccessType": "forbidden",
    }}});
    let config = values::control_plane_config(&object, &shoot).unwrap();
    assert_eq!(
        config.network_access_type,
        Some(NetworkAccessType::Forbidden)
    );
    assert_eq!(
        values::control_plane_config(&json!({"spec": {}}), &shoot).unwrap(),
        shoot.control_plane
    );
    let bad = json!({"spec": {"providerConfig": {"kind": "Nope"}}});
    assert_eq!(
        values::control_plane_config(&bad, &shoot).unwrap_err().code,
        Some(ErrorCode::Configuration)
    );
}

// ------------------------------------------------------------------------------------------
// secrets

fn existing_for(configs: &[secrets::CertConfig], now: i64) -> BTreeMap<String, Existing> {
    let mut found = BTreeMap::new();
    for config in configs {
        let ca = config.signed_by.map(|ca| format!("CA {ca}"));
        let issued = Issued {
            cert: if config.is_ca() {
                format!("CA {}", config.name)
            } else {
                "cert".into()
            },
            key: "key".into(),
            issued_at: now,
        };
        let secret = secrets::secret(config, "ns", &issued, ca.as_deref());
        found.insert(config.name.to_owned(), existing_of(&secret));
    }
    found
}

fn existing_of(secret: &Value) -> Existing {
    let text = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    };
    let decode = |s: String| {
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(s).unwrap()).unwrap()
    };
    Existing {
        labels: text(&secret["metadata"]["labels"]),
        data: text(&secret["data"])
            .into_iter()
            .map(|(k, v)| (k, decode(v)))
            .collect(),
    }
}

#[test]
fn a_fresh_namespace_gets_every_secret_cas_first() {
    let configs = secrets::configs("shoot--p--s1");
    let plan = secrets::plan(&configs, &BTreeMap::new(), 1000);
    let names: Vec<&str> = plan.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            secrets::CA_CONTROLPLANE,
            secrets::CA_DROPTAILER,
            secrets::CA_METALLB_WEBHOOK,
            secrets::LB_ALLOCATOR_SERVER,
            secrets::FIREWALL_CONTROLLER_MANAGER,
            secrets::DROPTAILER_CLIENT,
            secrets::DROPTAILER_SERVER,
            secrets::METALLB_WEBHOOK,
            secrets::VOLUME_MANAGER_SERVER,
        ]
    );
    assert!(plan.iter().all(|(_, r)| *r == Reason::Missing));
    let metallb = configs
        .iter()
        .find(|c| c.name == secrets::METALLB_WEBHOOK)
        .unwrap();
    assert_eq!(
        metallb.common_name,
        "metallb-webhook-service.metallb-system.svc"
    );
    assert_eq!(metallb.signed_by, Some(secrets::CA_METALLB_WEBHOOK));
    let lb = configs
        .iter()
        .find(|c| c.name == secrets::LB_ALLOCATOR_SERVER)
        .unwrap();
    assert!(
        lb.alt_names
            .contains(&"lb-allocator.shoot--p--s1.svc".to_owned())
    );
}

#[test]
fn secrets_are_renewed_after_80_percent_of_their_validity_and_with_their_ca() {
    let configs = secrets::configs("ns");
    let issued = 1_000_000;
    let found = existing_for(&configs, issued);
    assert_eq!(secrets::plan(&configs, &found, issued + 10), []);

    // A certificate is due after 80 % of a year; the CAs (ten years) are not.
    let due = issued + secrets::CERT_VALIDITY * 8 / 10 + 1;
    let plan = secrets::plan(&configs, &found, due);
    assert_eq!(plan.len(), 6);
    assert!(
        plan.iter()
            .all(|(n, r)| *r == Reason::Due && !n.starts_with("ca-"))
    );
    // ... or within 10 days of its end, whichever comes first (here: 80 %).
    let mut labels = BTreeMap::new();
    labels.insert(secrets::LABEL_ISSUED_AT.to_owned(), "0".to_owned());
    labels.insert(
        secrets::LABEL_VALID_UNTIL.to_owned(),
        (20 * 86_400).to_string(),
    );
    assert!(!secrets::renewal_due(&labels, 9 * 86_400));
    assert!(secrets::renewal_due(&labels, 11 * 86_400));
    assert!(
        secrets::renewal_due(&BTreeMap::new(), 0),
        "unreadable labels are due"
    );

    // A renewed CA takes what it signs along.
    let mut stale_ca = found.clone();
    stale_ca
        .get_mut(secrets::CA_DROPTAILER)
        .unwrap()
        .labels
        .insert(secrets::LABEL_VALID_UNTIL.into(), "1".into());
    let plan = secrets::plan(&configs, &stale_ca, issued + 10);
    assert_eq!(
        plan,
        [
            (secrets::CA_DROPTAILER, Reason::Due),
            (secrets::DROPTAILER_CLIENT, Reason::CaRenewed),
            (secrets::DROPTAILER_SERVER, Reason::CaRenewed),
        ]
    );

    // Signed by a CA that is no longer the current one, a changed config, a lost key.
    let mut other = found.clone();
    other
        .get_mut(secrets::CA_METALLB_WEBHOOK)
        .unwrap()
        .data
        .insert("ca.crt".into(), "another CA".into());
    other
        .get_mut(secrets::LB_ALLOCATOR_SERVER)
        .unwrap()
        .labels
        .insert(secrets::LABEL_CHECKSUM_CONFIG.into(), "old".into());
    other
        .get_mut(secrets::DROPTAILER_SERVER)
        .unwrap()
        .data
        .remove("tls.key");
    let plan = secrets::plan(&configs, &other, issued + 10);
    assert_eq!(
        plan,
        [
            (secrets::LB_ALLOCATOR_SERVER, Reason::ConfigChanged),
            (secrets::DROPTAILER_SERVER, Reason::Incomplete),
            (secrets::METALLB_WEBHOOK, Reason::CaChanged),
        ]
    );
}

#[test]
fn a_secret_is_labelled_as_gardeners_secrets_manager_labels_it() {
    let configs = secrets::configs("ns");
    let issued = Issued {
        cert: "CERT".into(),
        key: "KEY".into(),
        issued_at: 100,
    };
    let ca = configs
        .iter()
        .find(|c| c.name == secrets::CA_CONTROLPLANE)
        .unwrap();
    let secret = secrets::secret(ca, "ns", &issued, None);
    let labels = &secret["metadata"]["labels"];
    assert_eq!(labels["managed-by"], "secrets-manager");
    assert_eq!(labels["manager-identity"], "provider-metal");
    assert_eq!(labels["name"], secrets::CA_CONTROLPLANE);
    assert_eq!(labels["persist"], "true");
    assert_eq!(labels["issued-at-time"], "100");
    assert_eq!(
        labels["valid-until-time"],
        (100 + secrets::CA_VALIDITY).to_string()
    );
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(existing_of(&secret).data["ca.key"], "KEY");

    let lb = configs
        .iter()
        .find(|c| c.name == secrets::LB_ALLOCATOR_SERVER)
        .unwrap();
    let secret = secrets::secret(lb, "ns", &issued, Some("CA PEM"));
    assert_eq!(secret["type"], "kubernetes.io/tls");
    assert_eq!(
        secret["metadata"]["labels"]["checksum-of-signing-ca"],
        secrets::digest("CA PEM")
    );
    let data = existing_of(&secret).data;
    assert_eq!(
        (data["tls.crt"].as_str(), data["tls.key"].as_str()),
        ("CERT", "KEY")
    );
    assert!(
        !data.contains_key("ca.crt"),
        "lb-allocator's certificate keeps its CA to itself"
    );
    let fcm = configs
        .iter()
        .find(|c| c.name == secrets::FIREWALL_CONTROLLER_MANAGER)
        .unwrap();
    assert_eq!(
        existing_of(&secrets::secret(fcm, "ns", &issued, Some("CA PEM"))).data["ca.crt"],
        "CA PEM"
    );
    roundtrip::<Secret>(&secret);
    assert!(
        secret["metadata"]["labels"]
            .as_object()
            .unwrap()
            .values()
            .all(|v| v.as_str().unwrap().len() <= 63)
    );
}

// ------------------------------------------------------------------------------------------
// manifests

fn tls() -> storage::Tls {
    storage::Tls {
        cert: "CERT".into(),
        key: "KEY".into(),
        ca: "CA".into(),
    }
}

/// `value` read as `T` and written back is `value`: every field is one `T` has, with its type.
fn roundtrip<T: DeserializeOwned + Serialize>(value: &Value) {
    let typed: T =
        serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{e}: {value:#}"));
    assert_eq!(
        &serde_json::to_value(typed).unwrap(),
        value,
        "fields lost or changed"
    );
}

fn check_object(object: &Value) {
    let kind = object["kind"].as_str().unwrap();
    match kind {
        "Deployment" => roundtrip::<Deployment>(object),
        "DaemonSet" => roundtrip::<DaemonSet>(object),
        "Service" => roundtrip::<Service>(object),
        "ServiceAccount" => roundtrip::<ServiceAccount>(object),
        "Secret" => roundtrip::<Secret>(object),
        "ConfigMap" => roundtrip::<ConfigMap>(object),
        "Namespace" => roundtrip::<Namespace>(object),
        "ClusterRole" => roundtrip::<ClusterRole>(object),
        "ClusterRoleBinding" => roundtrip::<ClusterRoleBinding>(object),
        "Role" => roundtrip::<Role>(object),
        "RoleBinding" => roundtrip::<RoleBinding>(object),
        "CSIDriver" => roundtrip::<CSIDriver>(object),
        "StorageClass" => roundtrip::<StorageClass>(object),
        "CustomResourceDefinition" => roundtrip::<CustomResourceDefinition>(object),
        "ClusterwideNetworkPolicy" => roundtrip::<ClusterwideNetworkPolicy>(object),
        "MutatingWebhookConfiguration" => roundtrip::<MutatingWebhookConfiguration>(object),
        "ValidatingWebhookConfiguration" => roundtrip::<ValidatingWebhookConfiguration>(object),
        "NetworkPolicy" => roundtrip::<NetworkPolicy>(object),
        other => panic!("unexpected kind {other}"),
    }
    assert!(
        object["metadata"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
}

const FCM_CA: &str = "-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n";

fn fcm() -> FirewallManager {
    FirewallManager {
        image: firewall_manager::DEFAULT_IMAGE.into(),
        seed_api_url: "https://seed.example:443".into(),
        shoot_api_url: "https://api.s1.p.example.com".into(),
        ssh_key_secret: "ssh-keypair-1a2b3c".into(),
        ca_bundle: FCM_CA.into(),
        shoot_kubeconfig_secret: seed::GENERIC_KUBECONFIG.into(),
    }
}

fn rendered(values: &Values) -> Vec<ManagedResource> {
    render(
        values,
        "registry.example/metal-mesh:1.0",
        &tls(),
        Some(&fcm()),
    )
}

#[test]
fn firewall_controller_manager_serves_the_shoot_as_upstream_deploys_it() {
    let values = values_of(&shoot(), &ControlPlaneConfig::default());
    let resources = rendered(&values);
    let seed = &resources[0];
    let shoot_resource = &resources[1];
    assert_eq!(seed.name, seed::RESOURCE);
    let deployment = find(seed, "Deployment", firewall_manager::NAME);
    assert_eq!(deployment["spec"]["replicas"], values.replicas);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], firewall_manager::DEFAULT_IMAGE);
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    for want in [
        format!("-cluster-id={}", values.cluster_id),
        format!("-namespace={}", values.namespace),
        format!("-metal-api-url={}", values.metal_endpoint),
        "-seed-api-url=https://seed.example:443".into(),
        "-shoot-api-url=https://api.s1.p.example.com".into(),
        "-ssh-key-secret-name=ssh-keypair-1a2b3c".into(),
        format!("-shoot-kubeconfig-secret-name={}", seed::GENERIC_KUBECONFIG),
        format!(
            "-shoot-token-secret-name={}",
            firewall_manager::SHOOT_ACCESS_SECRET
        ),
        "-enable-leader-election".into(),
    ] {
        assert!(args.contains(&want.as_str()), "{want} in {args:?}");
    }
    // Go flags: one token each, so nothing is a bare value.
    assert!(args.iter().all(|a| a.starts_with('-')), "{args:?}");
    let env = &container["env"][0];
    assert_eq!(env["name"], "METAL_AUTH_HMAC");
    assert_eq!(
        env["valueFrom"]["secretKeyRef"],
        json!({"name": values.credential.secret, "key": "metalAPIHMac"})
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
        secrets::FIREWALL_CONTROLLER_MANAGER
    );

    // Its webhooks: the FirewallDeployment the Worker writes carries the selector label.
    let name = firewall_manager::webhook_configuration_name(&values.namespace);
    assert_eq!(
        name,
        format!("firewall-controller-manager-{}", values.namespace)
    );
    let mutating = find(seed, "MutatingWebhookConfiguration", &name);
    let validating = find(seed, "ValidatingWebhookConfiguration", &name);
    for (config, action) in [(mutating, "mutate"), (validating, "validate")] {
        let hooks = config["webhooks"].as_array().unwrap();
        assert_eq!(hooks.len(), 3);
        for hook in hooks {
            let ca = base64::engine::general_purpose::STANDARD
                .decode(hook["clientConfig"]["caBundle"].as_str().unwrap())
                .unwrap();
            assert_eq!(String::from_utf8(ca).unwrap(), FCM_CA.trim());
            let service = &hook["clientConfig"]["service"];
            assert_eq!(service["name"], firewall_manager::NAME);
            assert_eq!(service["namespace"], values.namespace.as_str());
            assert!(
                service["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("/{action}-firewall-metal-stack-io-v2-"))
            );
            assert_eq!(hook["failurePolicy"], "Fail");
        }
    }
    assert_eq!(
        mutating["webhooks"][2]["objectSelector"]["matchLabels"]
            [crate::core::extensions::worker::firewall::WEBHOOK_SELECTOR_LABEL],
        values.namespace.as_str()
    );
    assert_eq!(
        validating["webhooks"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
        values.namespace.as_str()
    );
    let role = find(seed, "Role", firewall_manager::NAME);
    assert_eq!(role["rules"][0]["verbs"], json!(["*"]));
    find(
        seed,
        "NetworkPolicy",
        "allow-to-firewall-controller-manager-webhook",
    );

    // In the shoot: its ClusterRole, bound to the ServiceAccount of its shoot access.
    find(shoot_resource, "ClusterRole", firewall_manager::SHOOT_ROLE);
    let binding = find(
        shoot_resource,
        "ClusterRoleBinding",
        firewall_manager::SHOOT_ROLE,
    );
    assert_eq!(
        binding["subjects"][0],
        json!({"kind": "ServiceAccount", "name": firewall_manager::NAME, "namespace": "kube-system"})
    );

    // Hibernated: no replicas. Without FCM (run by the operator): none of these objects.
    let mut hibernated = shoot();
    hibernated.hibernated = true;
    let values = values_of(&hibernated, &ControlPlaneConfig::default());
    let seed = &rendered(&values)[0];
    assert_eq!(
        find(seed, "Deployment", firewall_manager::NAME)["spec"]["replicas"],
        0
    );
    let without = render(&values, "img", &tls(), None);
    for resource in &without {
        assert!(
            !resource.objects.iter().any(|o| o["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.contains("firewall-controller-manager"))),
            "{}",
            resource.name
        );
    }
}

#[test]
fn every_rendered_object_is_a_well_formed_kubernetes_object() {
    let shoot = shoot();
    let mut hibernated_cilium = shoot.clone();
    hibernated_cilium.hibernated = true;
    hibernated_cilium.networking_type = Some("cilium".into());
    let restricted = ControlPlaneConfig {
        network_access_type: Some(NetworkAccessType::Restricted),
        ..Default::default()
    };
    let mut isolated_shoot = shoot.clone();
    isolated_shoot.partition = isolated();
    for values in [
        values_of(&shoot, &ControlPlaneConfig::default()),
        values_of(&hibernated_cilium, &ControlPlaneConfig::default()),
        values_of(&isolated_shoot, &restricted),
    ] {
        let resources = rendered(&values);
        assert_eq!(resources.len(), 3);
        for resource in &resources {
            let names: Vec<(&str, &str)> = resource
                .objects
                .iter()
                .map(|o| {
                    (
                        o["kind"].as_str().unwrap(),
                        o["metadata"]["name"].as_str().unwrap(),
                    )
                })
                .collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "duplicates in {}", resource.name);
            resource.objects.iter().for_each(check_object);
            check_object(&resource.secret("shoot--p--s1").unwrap());
        }
    }
}

#[test]
fn the_policies_validate_against_the_crd_of_the_chart() {
    let crd: Value = serde_saphyr::from_str(include_str!(
        "../../../../../../helm/metal-mesh/crds/metal-stack.io_clusterwidenetworkpolicies.yaml"
    ))
    .unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let validator = jsonschema::validator_for(schema).unwrap();
    let mut isolated_shoot = shoot();
    isolated_shoot.partition = isolated();
    let restricted = ControlPlaneConfig {
        network_access_type: Some(NetworkAccessType::Restricted),
        ..Default::default()
    };
    for values in [
        values_of(&shoot(), &ControlPlaneConfig::default()),
        values_of(&isolated_shoot, &restricted),
    ] {
        for policy in shoot::policies(&values) {
            let errors: Vec<String> = validator
                .iter_errors(&policy)
                .map(|e| e.to_string())
                .collect();
            assert!(
                errors.is_empty(),
                "{}: {errors:?}",
                policy["metadata"]["name"]
            );
        }
    }
}

fn policy<'a>(policies: &'a [Value], name: &str) -> Option<&'a Value> {
    policies.iter().find(|p| p["metadata"]["name"] == name)
}

#[test]
fn a_baseline_cluster_may_reach_anything_on_http_and_https() {
    let values = values_of(&shoot(), &ControlPlaneConfig::default());
    let policies = shoot::policies(&values);
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "allow-to-dns",
            "allow-to-ntp",
            "allow-to-vpn",
            "allow-to-https",
            "allow-to-http",
            "allow-to-apiserver"
        ]
    );
    assert!(
        policies
            .iter()
            .all(|p| p["metadata"]["namespace"] == "firewall")
    );
    let dns = policy(&policies, "allow-to-dns").unwrap();
    assert_eq!(
        dns["spec"]["egress"],
        json!([{"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                "to": [{"cidr": "0.0.0.0/0"}]}])
    );
    let vpn = policy(&policies, "allow-to-vpn").unwrap();
    assert_eq!(
        vpn["spec"]["egress"],
        json!([{"ports": [{"protocol": "UDP", "port": 4314}, {"protocol": "TCP", "port": 4314}],
                "to": [{"cidr": "203.0.113.10/32"}]}])
    );
    let https = policy(&policies, "allow-to-https").unwrap();
    assert_eq!(
        https["spec"]["egress"][0]["ports"],
        json!([{"protocol": "TCP", "port": 443}])
    );
    let apiserver = policy(&policies, "allow-to-apiserver").unwrap();
    assert_eq!(
        apiserver["spec"]["egress"][0]["ports"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_restricted_cluster_reaches_only_its_partitions_servers_and_mirrors() {
    let mut shoot = shoot();
    shoot.partition = isolated();
    shoot.hibernated = true;
    let config = ControlPlaneConfig {
        network_access_type: Some(NetworkAccessType::Restricted),
        ..Default::default()
    };
    let policies = shoot::policies(&values_of(&shoot, &config));
    assert!(policy(&policies, "allow-to-http").is_none());
    assert!(policy(&policies, "allow-to-https").is_none());
    assert!(
        policy(&policies, "allow-to-apiserver").is_none(),
        "hibernated: no addresses"
    );
    let registry = policy(&policies, "allow-to-registry").unwrap();
    assert_eq!(
        registry["spec"]["egress"],
        json!([{"ports": [{"protocol": "TCP", "port": 443}], "to": [{"cidr": "10.0.0.5/32"}]}])
    );
    let ntp = policy(&policies, "allow-to-ntp").unwrap();
    assert_eq!(
        ntp["spec"]["egress"][0]["to"],
        json!([{"cidr": "10.0.0.123/32"}])
    );
}

fn find<'a>(resource: &'a ManagedResource, kind: &str, name: &str) -> &'a Value {
    resource
        .objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} not in {}", resource.name))
}

/// The flags of `args` that no source of the binary declares (clap derives `--a-b` from a
/// field `a_b` unless `long = "..."` names it).
fn undeclared(args: &[String], sources: &[&str]) -> Vec<String> {
    args.iter()
        .filter_map(|a| a.strip_prefix("--"))
        .map(|a| a.split('=').next().unwrap().to_owned())
        .filter(|flag| {
            let field = format!("pub {}:", flag.replace('-', "_"));
            let long = format!("long = \"{flag}\"");
            !sources
                .iter()
                .any(|s| s.contains(&field) || s.contains(&long))
        })
        .collect()
}

const RUNTIME_SOURCES: [&str; 3] = [
    include_str!("../../../../../../shared/runtime/src/cli.rs"),
    include_str!("../../../../../../shared/runtime/src/tls.rs"),
    include_str!("../../../../../../shared/runtime/src/auth/mod.rs"),
];

#[test]
fn lb_allocator_runs_in_the_seed_with_the_shoots_metal_settings() {
    let values = values_of(&shoot(), &ControlPlaneConfig::default());
    let seed = seed::resources(&values, "img");
    assert_eq!(
        (seed.name, seed.class),
        ("extension-controlplane-seed", Some("seed"))
    );
    let deployment = find(&seed, "Deployment", "lb-allocator");
    assert_eq!(deployment["metadata"]["namespace"], "shoot--p--s1");
    assert_eq!(deployment["spec"]["replicas"], 1);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "img");
    let args: Vec<String> = serde_json::from_value(container["args"].clone()).unwrap();
    let pairs = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].as_str())
    };
    assert_eq!(pairs("--metal-project-id"), Some("proj-1"));
    assert_eq!(pairs("--metal-cluster-id"), Some("uid-1"));
    assert_eq!(pairs("--metal-partition-id"), Some("part-a"));
    assert_eq!(
        pairs("--metal-default-external-network-id"),
        Some("internet")
    );
    assert_eq!(pairs("--metal-additional-networks"), Some("internet"));
    assert_eq!(pairs("--metal-ssh-publickey"), Some("ssh-ed25519 AAAA key"));
    assert_eq!(pairs("--metal-api-url"), Some("http://metal.example"));
    assert_eq!(pairs("--loadbalancer"), Some("metallb"));
    assert_eq!(pairs("--leader-elect-namespace"), Some("kube-system"));
    assert_eq!(
        pairs("--kubeconfig"),
        Some("/var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/kubeconfig")
    );
    let lb_cli = include_str!("../../../../../lb-allocator/src/cli.rs");
    let mut sources = RUNTIME_SOURCES.to_vec();
    sources.push(lb_cli);
    assert_eq!(undeclared(&args, &sources), Vec::<String>::new());
    assert_eq!(
        container["env"][1],
        json!({"name": "METAL_AUTH_HMAC", "valueFrom": {"secretKeyRef": {"name": "cloudprovider", "key": "metalAPIHMac"}}})
    );
    assert!(
        lb_cli.contains("env = \"METAL_AUTH_HMAC\"")
            && lb_cli.contains("env = \"METAL_AUTH_TOKEN\"")
    );
    let volumes = &deployment["spec"]["template"]["spec"]["volumes"];
    assert_eq!(
        volumes[1]["secret"]["secretName"],
        secrets::LB_ALLOCATOR_SERVER
    );
    assert_eq!(
        volumes[2]["projected"]["sources"][1]["secret"]["name"],
        seed::SHOOT_ACCESS_SECRET
    );

    let mut token = values.clone();
    token.credential.key = Credential::TOKEN.into();
    token.replicas = 0;
    token.ssh_public_key = None;
    token.default_external_network.clear();
    let seed = seed::resources(&token, "img");
    let deployment = find(&seed, "Deployment", "lb-allocator");
    assert_eq!(deployment["spec"]["replicas"], 0);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["env"][1]["name"], "METAL_AUTH_TOKEN");
    let args = container["args"].as_array().unwrap();
    assert!(
        !args
            .iter()
            .any(|a| a == "--metal-ssh-publickey" || a == "--metal-default-external-network-id")
    );

    let access = seed::shoot_access_secret("ns", seed::SHOOT_ACCESS_SECRET, seed::LB_ALLOCATOR);
    assert_eq!(
        access["metadata"]["labels"]["resources.gardener.cloud/purpose"],
        "token-requestor"
    );
    assert_eq!(
        access["metadata"]["annotations"]["serviceaccount.resources.gardener.cloud/name"],
        "lb-allocator"
    );
    roundtrip::<Secret>(&access);
}

#[test]
fn the_shoot_gets_the_node_cidr_the_crd_and_the_rbac_of_our_services() {
    let values = values_of(&shoot(), &ControlPlaneConfig::default());
    let resource = shoot::resources(&values);
    assert_eq!(
        (resource.name, resource.class),
        ("extension-controlplane-shoot", None)
    );
    let config_map = find(&resource, "ConfigMap", "shoot-info-node-cidr");
    assert_eq!(config_map["metadata"]["namespace"], "kube-system");
    assert_eq!(config_map["data"]["node-cidr"], "10.0.0.0/22");
    find(&resource, "Namespace", "firewall");
    find(
        &resource,
        "CustomResourceDefinition",
        "clusterwidenetworkpolicies.metal-stack.io",
    );
    let binding = find(&resource, "ClusterRoleBinding", "metal-mesh:lb-allocator");
    assert_eq!(
        binding["subjects"][0],
        json!({"kind": "ServiceAccount", "name": "lb-allocator", "namespace": "kube-system"})
    );
    find(&resource, "Role", "lb-allocator-metallb");
    find(&resource, "Role", "rule-compiler-policy");
    let rules = &find(&resource, "ClusterRole", "metal-mesh:rule-compiler")["rules"];
    assert_eq!(rules[0]["resources"], json!(["clusterwidenetworkpolicies"]));
    // The storage ManagedResource is the shoot's too, the seed one is not.
    let object = resource.object("shoot--p--s1");
    assert_eq!(
        object["spec"]["secretRefs"],
        json!([{"name": "managedresource-extension-controlplane-shoot"}])
    );
    assert_eq!(
        object["spec"]["injectLabels"]["shoot.gardener.cloud/no-cleanup"],
        "true"
    );
    assert!(object["spec"].get("class").is_none());
    let seed = seed::resources(&values, "img").object("shoot--p--s1");
    assert_eq!(seed["spec"]["class"], "seed");
    assert_eq!(seed["apiVersion"], "resources.gardener.cloud/v1alpha1");
}

#[test]
fn volume_manager_comes_with_the_csi_lvm_class_unless_disabled() {
    let values = values_of(&shoot(), &ControlPlaneConfig::default());
    let resource = storage::resources(&values, "img", &tls()).unwrap();
    assert_eq!(resource.name, "extension-controlplane-storageclasses");
    let class = find(&resource, "StorageClass", "csi-lvm");
    assert_eq!(
        class["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(class["provisioner"], storage::DRIVER);
    find(&resource, "CSIDriver", storage::DRIVER);
    let daemon_set = find(&resource, "DaemonSet", "volume-manager");
    assert_eq!(daemon_set["metadata"]["namespace"], "csi-lvm");
    let containers = daemon_set["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "volume-manager",
            "csi-provisioner",
            "csi-resizer",
            "node-driver-registrar",
            "livenessprobe"
        ]
    );
    let args: Vec<String> = serde_json::from_value(containers[0]["args"].clone()).unwrap();
    let mut sources = RUNTIME_SOURCES.to_vec();
    sources.push(include_str!("../../../../../volume-manager/src/cli.rs"));
    assert_eq!(undeclared(&args, &sources), Vec::<String>::new());
    let secret = find(&resource, "Secret", "volume-manager-tls");
    assert_eq!(
        secret["data"]["tls.crt"],
        base64::engine::general_purpose::STANDARD.encode("CERT")
    );

    let mut other = values.clone();
    other.storage = Some(values::Storage {
        default_class: false,
    });
    let resource = storage::resources(&other, "img", &tls()).unwrap();
    assert!(
        find(&resource, "StorageClass", "csi-lvm")["metadata"]
            .get("annotations")
            .is_none()
    );
    other.storage = None;
    assert!(storage::resources(&other, "img", &tls()).is_none());
    assert_eq!(render(&other, "img", &tls(), None).len(), 2);
}

#[test]
fn a_managed_resource_secret_holds_its_objects_as_one_yaml_stream() {
    let values = values_of(&shoot(), &ControlPlaneConfig::default());
    let resource = shoot::resources(&values);
    let secret = resource.secret("ns").unwrap();
    assert_eq!(
        secret["metadata"]["name"],
        "managedresource-extension-controlplane-shoot"
    );
    let yaml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"]["objects.yaml"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let documents: Vec<Value> = yaml
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d.trim_start_matches("---\n")).unwrap())
        .collect();
    assert_eq!(documents, resource.objects);
}
