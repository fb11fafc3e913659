//! The `shoot` webhook, inside the shoot's kube-system. Upstream: metal-stack's
//! `pkg/webhook/shoot/{add,mutator}.go`. ConfigMaps and Secrets are registered too but not
//! changed.

use serde_json::{Value, json};

use super::{Meta, pod};

pub(super) fn mutate(meta: &Meta, object: &mut Value) {
    match (meta.group, meta.kind, meta.name) {
        ("apps", "Deployment", "vpn-shoot") => vpn_shoot(object),
        ("apps", "DaemonSet", "calico-node") => calico_node(object),
        _ => {}
    }
}

/// vpn-shoot reads the node network from the ConfigMap the control plane chart ships, so it has
/// it before the next shoot reconcile (works around gardener/gardener#4691, as upstream notes).
fn vpn_shoot(object: &mut Value) {
    if let Some(container) = pod::container_mut(object, "vpn-shoot") {
        pod::ensure_env(
            container,
            json!({
                "name": "NODE_NETWORK",
                "valueFrom": {"configMapKeyRef": {"name": "shoot-info-node-cidr", "key": "node-cidr"}},
            }),
        );
    }
}

/// Go's `strconv.ParseBool` true values.
fn go_true(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// calico's eBPF data plane on metal nodes: the `lan*` interfaces carry data and set the MTU,
/// services answer directly (DSR), and connect-time load balancing is on (host → service UDP).
const CALICO_EBPF_ENV: [(&str, &str); 4] = [
    (
        "FELIX_BPFDATAIFACEPATTERN",
        // calico's default pattern with `lan` added.
        "^((en|wl|ww|sl|ib)[Popsx].*|(lan|eth|wlan|wwan).*|tunl0$|vxlan.calico$|wireguard.cali$|wg-v6.cali$)",
    ),
    ("FELIX_BPFEXTERNALSERVICEMODE", "DSR"),
    ("FELIX_MTUIFACEPATTERN", "lan"),
    ("FELIX_BPFCONNECTTIMELOADBALANCING", "Enabled"),
];

fn calico_node(object: &mut Value) {
    let Some(container) = pod::container_mut(object, "calico-node") else {
        return;
    };
    let ebpf = container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|env| env.get("name").and_then(Value::as_str) == Some("FELIX_BPFENABLED"))
        .any(|env| {
            env.get("value")
                .and_then(Value::as_str)
                .is_some_and(go_true)
        });
    if !ebpf {
        return;
    }
    for (name, value) in CALICO_EBPF_ENV {
        pod::ensure_env(container, json!({"name": name, "value": value}));
    }
}

#[cfg(test)]
mod tests;
