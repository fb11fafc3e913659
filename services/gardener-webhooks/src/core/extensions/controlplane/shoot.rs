//! The ManagedResource `extension-controlplane-shoot` (into the shoot): what upstream's
//! `charts/internal/shoot-control-plane` puts there for the parts metal-mesh replaces.
//! - Namespace `firewall` with the ClusterwideNetworkPolicy CRD and the default policies
//!   (upstream's `network-policies.yaml`): DNS (UDP+TCP 53) and NTP (UDP 123) to the
//!   network-access CIDRs, the VPN (UDP+TCP 4314) and, when known, the kube-apiserver (TCP 443,
//!   8443, 8132) to the kube-apiserver's addresses, and HTTP/HTTPS to anywhere for a baseline
//!   cluster or the registry mirrors for a restricted one.
//! - ConfigMap `kube-system/shoot-info-node-cidr` (key `node-cidr`), read by vpn-shoot.
//! - rule-compiler's RBAC: like firewall-controller, it runs on the firewall, not in the shoot,
//!   and reaches the shoot as the ServiceAccount `kube-system/firewall-controller-manager`
//!   (upstream's firewall controller shares firewall-controller-manager's identity). Its rules
//!   mirror `helm/metal-mesh/templates/rule-compiler/rbac.yaml` (policy namespace `firewall`).
//! - lb-allocator's RBAC for its ServiceAccount `kube-system/lb-allocator` (the shoot access
//!   Secret's): `helm/metal-mesh/templates/lb-allocator/rbac.yaml`, the Lease in kube-system,
//!   MetalLB's namespace `metallb-system` with cilium or metallb rules as the network decides.

use kube::CustomResourceExt as _;
use kube_resources::ClusterwideNetworkPolicy;
use kube_resources::cwnp::{EgressRule, IpBlock, NetworkPolicyPort, PolicySpec, Protocol};
use serde_json::{Value, json};

use super::manifests::{
    ManagedResource, cluster_role, cluster_role_binding, labels, namespace, role_and_binding, rule,
};
use super::seed::LB_ALLOCATOR;
use super::values::{LoadBalancer, Values};

pub const RESOURCE: &str = "extension-controlplane-shoot";
pub const FIREWALL_NAMESPACE: &str = "firewall";
pub const NODE_CIDR_CONFIG_MAP: &str = "shoot-info-node-cidr";
const METALLB_NAMESPACE: &str = "metallb-system";
const RULE_COMPILER: &str = "rule-compiler";
/// The identity the firewall's controller reaches the shoot with.
const FIREWALL_ACCOUNT: &str = "firewall-controller-manager";
const KUBE_SYSTEM: &str = "kube-system";
/// The kube-apiserver's VPN port the shoot's vpn-shoot dials.
const VPN_PORT: i32 = 4314;

pub fn resources(values: &Values) -> ManagedResource {
    let mut objects = vec![namespace(FIREWALL_NAMESPACE, labels("firewall")), crd()];
    objects.extend(policies(values));
    objects.push(node_cidr(values));
    objects.extend(rule_compiler_rbac());
    objects.extend(lb_allocator_rbac(values.load_balancer));
    ManagedResource {
        name: RESOURCE,
        class: None,
        objects,
    }
}

/// The CRD the policies need, as metal-mesh generates it (`helm/metal-mesh/crds`).
fn crd() -> Value {
    serde_json::to_value(ClusterwideNetworkPolicy::crd()).expect("a CRD serializes")
}

fn port(protocol: Protocol, port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some(protocol),
        port: Some(port),
        end_port: None,
    }
}

fn to(cidrs: impl IntoIterator<Item = String>) -> Vec<IpBlock> {
    cidrs
        .into_iter()
        .map(|cidr| IpBlock { cidr, except: None })
        .collect()
}

fn policy(name: &str, egress: Vec<EgressRule>) -> Value {
    let mut policy = ClusterwideNetworkPolicy::new(
        name,
        PolicySpec {
            egress: Some(egress),
            ..Default::default()
        },
    );
    policy.metadata.namespace = Some(FIREWALL_NAMESPACE.to_owned());
    let mut value = serde_json::to_value(policy).expect("a policy serializes");
    value["metadata"]["labels"] = labels("firewall");
    value
}

fn egress(cidrs: Vec<IpBlock>, ports: Vec<NetworkPolicyPort>) -> EgressRule {
    EgressRule {
        ports: Some(ports),
        to: Some(cidrs),
        to_fqdns: None,
    }
}

/// The default ClusterwideNetworkPolicies of upstream's shoot chart.
pub fn policies(values: &Values) -> Vec<Value> {
    let access = &values.network_access;
    let apiservers = || {
        to(values
            .apiserver_ips
            .iter()
            .filter_map(|ip| super::values::host_cidr(ip)))
    };
    let mut policies = vec![
        policy(
            "allow-to-dns",
            vec![egress(
                to(access.dns_cidrs.clone()),
                vec![port(Protocol::Udp, 53), port(Protocol::Tcp, 53)],
            )],
        ),
        policy(
            "allow-to-ntp",
            vec![egress(
                to(access.ntp_cidrs.clone()),
                vec![port(Protocol::Udp, 123)],
            )],
        ),
        policy(
            "allow-to-vpn",
            vec![egress(
                apiservers(),
                vec![port(Protocol::Udp, VPN_PORT), port(Protocol::Tcp, VPN_PORT)],
            )],
        ),
    ];
    if access.restricted {
        policies.push(policy(
            "allow-to-registry",
            access
                .registry_mirrors
                .iter()
                .map(|m| {
                    egress(
                        to([m.cidr.clone()]),
                        vec![port(Protocol::Tcp, m.port as i32)],
                    )
                })
                .collect(),
        ));
    } else {
        let anywhere = || to(["0.0.0.0/0".to_owned()]);
        policies.push(policy(
            "allow-to-https",
            vec![egress(anywhere(), vec![port(Protocol::Tcp, 443)])],
        ));
        policies.push(policy(
            "allow-to-http",
            vec![egress(anywhere(), vec![port(Protocol::Tcp, 80)])],
        ));
    }
    if !values.apiserver_ips.is_empty() {
        policies.push(policy(
            "allow-to-apiserver",
            vec![egress(
                apiservers(),
                [443, 8443, 8132].map(|p| port(Protocol::Tcp, p)).to_vec(),
            )],
        ));
    }
    policies
}

fn node_cidr(values: &Values) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": NODE_CIDR_CONFIG_MAP, "namespace": KUBE_SYSTEM},
        "data": {"node-cidr": values.nodes_cidr},
    })
}

fn rule_compiler_rbac() -> Vec<Value> {
    let name = "metal-mesh:rule-compiler";
    let mut objects = vec![
        // CWNPs of every namespace and their status, every Service, events.
        cluster_role(
            name,
            json!([
                rule(
                    "metal-stack.io",
                    &["clusterwidenetworkpolicies"],
                    &["get", "list", "watch"]
                ),
                rule(
                    "metal-stack.io",
                    &["clusterwidenetworkpolicies/status"],
                    &["get", "update", "patch"]
                ),
                rule("", &["services"], &["get", "list", "watch"]),
                rule("", &["events"], &["create", "patch"]),
                rule("events.k8s.io", &["events"], &["create", "patch"]),
            ]),
            RULE_COMPILER,
        ),
        cluster_role_binding(name, name, FIREWALL_ACCOUNT, KUBE_SYSTEM, RULE_COMPILER),
    ];
    // The FirewallMonitor and the DNS cache ConfigMap `fqdnstate` of the policy namespace.
    objects.extend(role_and_binding(
        "rule-compiler-policy",
        FIREWALL_NAMESPACE,
        json!([
            rule("firewall.metal-stack.io", &["firewallmonitors"], &["get", "list", "watch", "update", "patch"]),
            rule("", &["configmaps"], &["create"]),
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["fqdnstate"],
             "verbs": ["get", "update", "patch"]},
        ]),
        FIREWALL_ACCOUNT,
        KUBE_SYSTEM,
        RULE_COMPILER,
    ));
    objects
}

fn lb_allocator_rbac(load_balancer: LoadBalancer) -> Vec<Value> {
    let name = "metal-mesh:lb-allocator";
    let mut rules = vec![
        rule(
            "",
            &["nodes"],
            &["get", "list", "watch", "update", "patch", "delete"],
        ),
        rule("", &["nodes/status"], &["patch", "update"]),
        rule(
            "",
            &["services"],
            &["get", "list", "watch", "patch", "update"],
        ),
        rule("", &["services/status"], &["patch", "update"]),
        rule("", &["events"], &["create", "patch"]),
        rule("events.k8s.io", &["events"], &["create", "patch"]),
    ];
    if load_balancer == LoadBalancer::Cilium {
        rules.push(rule(
            "cilium.io",
            &["ciliumbgppeeringpolicies", "ciliumloadbalancerippools"],
            &[
                "get", "list", "watch", "create", "update", "patch", "delete",
            ],
        ));
    }
    let mut objects = vec![
        cluster_role(name, Value::Array(rules), LB_ALLOCATOR),
        cluster_role_binding(name, name, LB_ALLOCATOR, KUBE_SYSTEM, LB_ALLOCATOR),
        // Delegated authentication of its API (--auth kubernetes) against the shoot.
        cluster_role_binding(
            "metal-mesh:lb-allocator:auth-delegator",
            "system:auth-delegator",
            LB_ALLOCATOR,
            KUBE_SYSTEM,
            LB_ALLOCATOR,
        ),
    ];
    // Its Lease in kube-system; create cannot be limited to a name.
    objects.extend(role_and_binding(
        "lb-allocator-leader-election",
        KUBE_SYSTEM,
        json!([
            rule("coordination.k8s.io", &["leases"], &["create"]),
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
             "resourceNames": [LB_ALLOCATOR], "verbs": ["get", "update"]},
        ]),
        LB_ALLOCATOR,
        KUBE_SYSTEM,
        LB_ALLOCATOR,
    ));
    if load_balancer == LoadBalancer::Metallb {
        objects.push(namespace(METALLB_NAMESPACE, labels("metallb")));
        objects.extend(role_and_binding(
            "lb-allocator-metallb",
            METALLB_NAMESPACE,
            json!([rule(
                "metallb.io",
                &["ipaddresspools", "bgppeers", "bgpadvertisements"],
                &[
                    "get", "list", "watch", "create", "update", "patch", "delete"
                ],
            )]),
            LB_ALLOCATOR,
            KUBE_SYSTEM,
            LB_ALLOCATOR,
        ));
    }
    objects
}
