//! The shoot webhook: vpn-shoot's node network from the ConfigMap, calico's eBPF settings.

use serde_json::{Value, json};

use crate::core::mutation::Webhook;
use crate::core::mutation::tests::{Setup, fixture};

fn mutate(object: &Value) -> Value {
    let setup = Setup {
        cluster: None,
        secret: None,
        ..Setup::default()
    };
    setup.mutate(Webhook::Shoot, object).unwrap()
}

fn env(object: &Value) -> &Value {
    &object["spec"]["template"]["spec"]["containers"][0]["env"]
}

#[test]
fn vpn_shoot_reads_the_node_network_from_the_configmap() {
    let before = fixture("vpn-shoot");
    let after = mutate(&before);
    assert_eq!(
        env(&after),
        &json!([
            {"name": "ENDPOINT", "value": "vpn-seed-server.shoot--prod--alpha.svc"},
            {"name": "NODE_NETWORK", "valueFrom": {"configMapKeyRef": {"name": "shoot-info-node-cidr", "key": "node-cidr"}}},
            {"name": "SERVICE_NETWORK", "value": "10.243.0.0/16"},
        ])
    );
    let mut rest = after.clone();
    rest["spec"]["template"]["spec"]["containers"][0]["env"] = env(&before).clone();
    assert_eq!(rest, before);
}

#[test]
fn vpn_shoot_without_its_container_or_under_another_name_passes_unchanged() {
    let mut other_container = fixture("vpn-shoot");
    other_container["spec"]["template"]["spec"]["containers"][0]["name"] = json!("vpn-shoot-s0");
    let mut other_name = fixture("vpn-shoot");
    other_name["metadata"]["name"] = json!("vpn-shoot-s0");
    let mut daemon_set = fixture("vpn-shoot");
    daemon_set["kind"] = json!("DaemonSet");
    for object in [other_container, other_name, daemon_set] {
        assert_eq!(mutate(&object), object);
    }
}

#[test]
fn calico_node_with_ebpf_gets_metals_dataplane_settings() {
    let before = fixture("calico-node");
    let after = mutate(&before);
    assert_eq!(
        env(&after),
        &json!([
            {"name": "DATASTORE_TYPE", "value": "kubernetes"},
            {"name": "CLUSTER_TYPE", "value": "k8s,bgp"},
            {"name": "CALICO_NETWORKING_BACKEND", "value": "bird"},
            {"name": "FELIX_BPFENABLED", "value": "true"},
            {"name": "FELIX_BPFEXTERNALSERVICEMODE", "value": "DSR"},
            {"name": "FELIX_IPINIPMTU", "valueFrom": {"configMapKeyRef": {"name": "calico-config", "key": "veth_mtu"}}},
            {"name": "NODENAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "FELIX_BPFDATAIFACEPATTERN",
             "value": "^((en|wl|ww|sl|ib)[Popsx].*|(lan|eth|wlan|wwan).*|tunl0$|vxlan.calico$|wireguard.cali$|wg-v6.cali$)"},
            {"name": "FELIX_MTUIFACEPATTERN", "value": "lan"},
            {"name": "FELIX_BPFCONNECTTIMELOADBALANCING", "value": "Enabled"},
        ])
    );
    let mut rest = after.clone();
    rest["spec"]["template"]["spec"]["containers"][0]["env"] = env(&before).clone();
    assert_eq!(rest, before);
}

fn with_bpf(value: Value) -> Value {
    let mut ds = fixture("calico-node");
    ds["spec"]["template"]["spec"]["containers"][0]["env"][3] = value;
    ds
}

#[test]
fn ebpf_counts_as_enabled_for_gos_true_values_only() {
    for value in ["1", "t", "T", "TRUE", "True"] {
        let ds = with_bpf(json!({"name": "FELIX_BPFENABLED", "value": value}));
        assert_ne!(mutate(&ds), ds, "{value}");
    }
    let disabled = [
        json!({"name": "FELIX_BPFENABLED", "value": "false"}),
        json!({"name": "FELIX_BPFENABLED", "value": "yes"}),
        json!({"name": "FELIX_BPFENABLED", "value": ""}),
        json!({"name": "FELIX_BPFENABLED", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "bpf"}}}),
        json!({"name": "FELIX_IPV6SUPPORT", "value": "true"}),
    ];
    for env in disabled {
        let ds = with_bpf(env.clone());
        assert_eq!(mutate(&ds), ds, "{env}");
    }
}

#[test]
fn other_daemon_sets_and_containers_pass_unchanged() {
    let mut other_name = fixture("calico-node");
    other_name["metadata"]["name"] = json!("calico-typha");
    let mut other_container = fixture("calico-node");
    other_container["spec"]["template"]["spec"]["containers"][0]["name"] = json!("calico-felix");
    let mut deployment = fixture("calico-node");
    deployment["kind"] = json!("Deployment");
    for object in [other_name, other_container, deployment] {
        assert_eq!(mutate(&object), object);
    }
}
