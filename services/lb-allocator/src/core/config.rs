//! The allocator's settings, validated once at start (see `cli.rs` for where they come from).

/// What announces the load-balancer IPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerKind {
    /// MetalLB `IPAddressPool`, `BGPAdvertisement` and `BGPPeer` objects.
    Metallb,
    /// Cilium `CiliumLoadBalancerIPPool` and `CiliumBGPPeeringPolicy` objects.
    Cilium,
}

impl LoadBalancerKind {
    /// `LOADBALANCER` as metal-ccm reads it: empty means MetalLB, anything unknown is refused.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim() {
            "" | "metallb" => Ok(Self::Metallb),
            "cilium" => Ok(Self::Cilium),
            other => Err(format!(
                "LOADBALANCER {other:?} is not supported: use metallb or cilium"
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub project: String,
    pub partition: String,
    pub cluster: String,
    /// None: an isolated cluster, Services must name a pre-allocated IP.
    pub default_network: Option<String>,
    pub additional_networks: Vec<String>,
    pub ssh_public_key: Option<String>,
    pub loadbalancer: LoadBalancerKind,
    pub metallb_namespace: String,
}

impl Config {
    /// Whether IPs of `network` may be announced: the additional networks and the default
    /// external network. With neither configured every network is allowed (a local setup);
    /// metal-ccm would announce nothing then.
    pub fn network_allowed(&self, network: &str) -> bool {
        if self.additional_networks.is_empty() && self.default_network.is_none() {
            return true;
        }
        self.default_network.as_deref() == Some(network)
            || self.additional_networks.iter().any(|n| n == network)
    }

    /// A configuration for tests: project `p`, partition `fra-equ01`, cluster `c`, default
    /// network `internet`, additional networks `internet` and `dmz`.
    #[cfg(test)]
    pub fn for_tests() -> Self {
        Self {
            project: "p".into(),
            partition: "fra-equ01".into(),
            cluster: "c".into(),
            default_network: Some("internet".into()),
            additional_networks: vec!["internet".into(), "dmz".into()],
            ssh_public_key: None,
            loadbalancer: LoadBalancerKind::Metallb,
            metallb_namespace: "metallb-system".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_networks() {
        let mut c = Config::for_tests();
        assert!(c.network_allowed("internet") && c.network_allowed("dmz"));
        assert!(!c.network_allowed("mpls"));
        c.additional_networks.clear();
        assert!(c.network_allowed("internet") && !c.network_allowed("dmz"));
        c.default_network = None;
        assert!(c.network_allowed("anything"));
    }
}
