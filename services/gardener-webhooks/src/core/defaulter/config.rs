//! The defaulter's values and their `DEFAULTER_*` overrides (upstream's `config.go`).
//!
//! Upstream takes any string for the string-typed values; here a value the Shoot would then be
//! refused for (an empty string, a CIDR that does not parse, a mode the networking extension does
//! not know, a list with an empty device) counts as unparsable too, so it falls back to the
//! default with a warning instead of breaking every defaulted Shoot.

use std::fmt::Debug;

use ipnet::IpNet;

/// Every default, as upstream names them; `Default` gives upstream's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaults {
    /// `spec.kubernetes.kubelet.maxPods`.
    pub max_pods: i32,
    /// `spec.kubernetes.kubeControllerManager.nodeCIDRMaskSize`.
    pub node_cidr_mask_size: i32,
    /// `spec.networking.pods`.
    pub pods_cidr: String,
    /// `spec.networking.services`.
    pub services_cidr: String,
    /// `spec.networking.type`.
    pub network_type: String,
    pub calico_backend: String,
    pub calico_kube_proxy_enabled: bool,
    pub calico_pool_mode: String,
    pub calico_typha_enabled: bool,
    pub cilium_hubble_enabled: bool,
    pub cilium_kube_proxy_enabled: bool,
    pub cilium_tunnel: String,
    pub cilium_devices: Vec<String>,
    pub cilium_direct_routing_device: String,
    pub cilium_bgp_control_plane_enabled: bool,
    pub cilium_ipv4_native_routing_cidr_enabled: bool,
    pub cilium_load_balancing_mode: String,
    pub cilium_mtu: i32,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            max_pods: 250,
            node_cidr_mask_size: 23,
            pods_cidr: "10.240.0.0/13".into(),
            services_cidr: "10.248.0.0/18".into(),
            network_type: "calico".into(),
            calico_backend: "none".into(),
            calico_kube_proxy_enabled: true,
            calico_pool_mode: "Never".into(),
            calico_typha_enabled: false,
            cilium_hubble_enabled: true,
            cilium_kube_proxy_enabled: false,
            cilium_tunnel: "disabled".into(),
            cilium_devices: vec!["lan+".into(), "lo".into()],
            cilium_direct_routing_device: "lo".into(),
            cilium_bgp_control_plane_enabled: true,
            cilium_ipv4_native_routing_cidr_enabled: true,
            cilium_load_balancing_mode: "dsr".into(),
            cilium_mtu: 1440,
        }
    }
}

/// The values of the calico and cilium API types the defaults go into.
const CALICO_BACKENDS: &[&str] = &["bird", "none", "vxlan"];
const CALICO_POOL_MODES: &[&str] = &["Always", "Never", "CrossSubnet", "Off"];
const CILIUM_TUNNEL_MODES: &[&str] = &["vxlan", "geneve", "disabled"];
const CILIUM_LOAD_BALANCING_MODES: &[&str] = &["snat", "dsr", "hybrid"];

impl Defaults {
    /// Reads the DEFAULTER_* variables through `lookup` (the edge passes `|k| std::env::var(k).ok()`).
    /// Returns the defaults and one warning per unparsable variable, naming the variable, the value and the default used.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> (Self, Vec<String>) {
        let mut env = Env {
            lookup,
            warnings: Vec::new(),
        };
        let d = Self::default();
        let defaults = Self {
            max_pods: env.read("DEFAULTER_MAXPODS", d.max_pods, positive_int),
            node_cidr_mask_size: env.read(
                "DEFAULTER_NODECIDRMASKSIZE",
                d.node_cidr_mask_size,
                positive_int,
            ),
            pods_cidr: env.read("DEFAULTER_PODSCIDR", d.pods_cidr, cidr),
            services_cidr: env.read("DEFAULTER_SERVICESCIDR", d.services_cidr, cidr),
            network_type: env.read("DEFAULTER_NETWORKTYPE", d.network_type, non_empty),
            calico_backend: env.read("DEFAULTER_CALICOBACKEND", d.calico_backend, |v| {
                one_of(v, CALICO_BACKENDS)
            }),
            calico_kube_proxy_enabled: env.read(
                "DEFAULTER_CALICOKUBEPROXYENABLED",
                d.calico_kube_proxy_enabled,
                go_bool,
            ),
            calico_pool_mode: env.read("DEFAULTER_CALICOPOOLMODE", d.calico_pool_mode, |v| {
                one_of(v, CALICO_POOL_MODES)
            }),
            calico_typha_enabled: env.read(
                "DEFAULTER_CALICOTYPHAENABLED",
                d.calico_typha_enabled,
                go_bool,
            ),
            cilium_hubble_enabled: env.read(
                "DEFAULTER_CILIUMHUBBLEENABLED",
                d.cilium_hubble_enabled,
                go_bool,
            ),
            cilium_kube_proxy_enabled: env.read(
                "DEFAULTER_CILIUMKUBEPROXYENABLED",
                d.cilium_kube_proxy_enabled,
                go_bool,
            ),
            cilium_tunnel: env.read("DEFAULTER_CILIUMTUNNEL", d.cilium_tunnel, |v| {
                one_of(v, CILIUM_TUNNEL_MODES)
            }),
            cilium_devices: env.read("DEFAULTER_CILIUMDEVICES", d.cilium_devices, devices),
            cilium_direct_routing_device: env.read(
                "DEFAULTER_CILIUMDIRECTROUTINGDEVICE",
                d.cilium_direct_routing_device,
                non_empty,
            ),
            cilium_bgp_control_plane_enabled: env.read(
                "DEFAULTER_CILIUMBGPCONTROLPLANE",
                d.cilium_bgp_control_plane_enabled,
                go_bool,
            ),
            cilium_ipv4_native_routing_cidr_enabled: env.read(
                "DEFAULTER_CILIUMIPV4NATIVEROUTINGCIDRENABLED",
                d.cilium_ipv4_native_routing_cidr_enabled,
                go_bool,
            ),
            cilium_load_balancing_mode: env.read(
                "DEFAULTER_CILIUMLOADBALANCINGMODE",
                d.cilium_load_balancing_mode,
                |v| one_of(v, CILIUM_LOAD_BALANCING_MODES),
            ),
            cilium_mtu: env.read("DEFAULTER_CILIUMMTU", d.cilium_mtu, positive_int),
        };
        (defaults, env.warnings)
    }
}

/// The variables seen through `lookup`, and the warnings for those that did not parse.
struct Env<F> {
    lookup: F,
    warnings: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// `key` parsed, or `default` when it is unset or (with a warning) unparsable.
    fn read<T: Debug>(
        &mut self,
        key: &str,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> T {
        let Some(raw) = (self.lookup)(key) else {
            return default;
        };
        parse(&raw).unwrap_or_else(|why| {
            self.warnings.push(format!(
                "{key}={raw:?}: {why}; using the default {default:?}"
            ));
            default
        })
    }
}

/// What Go's `strconv.ParseBool` accepts.
fn go_bool(v: &str) -> Result<bool, String> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("not a boolean".into()),
    }
}

/// A decimal int32 as Go's `strconv.ParseInt(v, 10, 32)` reads it; none of the counts and
/// sizes it sets can be zero or negative.
fn positive_int(v: &str) -> Result<i32, String> {
    match v.parse::<i32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("not a positive 32-bit integer".into()),
    }
}

fn cidr(v: &str) -> Result<String, String> {
    v.parse::<IpNet>()
        .map(|_| v.to_string())
        .map_err(|_| "not a CIDR".into())
}

fn non_empty(v: &str) -> Result<String, String> {
    if v.is_empty() {
        Err("empty".into())
    } else {
        Ok(v.to_string())
    }
}

fn one_of(v: &str, allowed: &[&str]) -> Result<String, String> {
    if allowed.contains(&v) {
        Ok(v.to_string())
    } else {
        Err(format!("not one of {allowed:?}"))
    }
}

/// A comma list of device names; blanks around names are dropped, an empty name is refused.
fn devices(v: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = v.split(',').map(|d| d.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        Err("a comma list of device names must not contain an empty name".into())
    } else {
        Ok(names)
    }
}

#[cfg(test)]
mod tests;
