//! Why a load balancer could not be ensured or released. The messages keep metal-ccm's wording
//! where operators grep for it.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LbError {
    /// An isolated cluster (no default external network) and the Service names no IP.
    #[error(
        "no default network for ip acquisition specified, acquire an ip for your cluster's project and specify it directly in \"spec.loadBalancerIP\""
    )]
    NoDefaultNetwork,
    #[error("ip {ip} for projectID: {project} not allocated")]
    NotAllocated { ip: String, project: String },
    #[error("ip {ip} for projectID: {project} is ambiguous")]
    Ambiguous { ip: String, project: String },
    #[error("ip {ip} cannot be used for a load balancer: ip is used for {purpose}")]
    Reserved { ip: String, purpose: &'static str },
    /// metal-ccm would tag such an IP and never announce it; we refuse instead.
    #[error(
        "network {network:?} is not one of this cluster's networks (METAL_ADDITIONAL_NETWORKS), so its IPs would never be announced"
    )]
    NetworkNotAllowed { network: String },
    /// The network has no free address of a wanted family.
    #[error("failed to acquire IPs for project {project:?} in network {network:?}: {message}")]
    Exhausted {
        project: String,
        network: String,
        message: String,
    },
    /// Allocation refused for another reason (unknown network, missing family, ...).
    #[error("failed to acquire IPs for project {project:?} in network {network:?}: {message}")]
    AcquireFailed {
        project: String,
        network: String,
        message: String,
    },
    /// The Service or REST request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// metal-api could not be reached or failed; retried.
    #[error("metal-api: {0}")]
    MetalApi(String),
    /// Writing the load-balancer configuration to Kubernetes failed; retried.
    #[error("writing the load-balancer configuration: {0}")]
    Config(String),
    /// Another replica holds the leader-election lease.
    #[error("this replica is not the leader; send changes to the leader")]
    NotLeader,
}

impl LbError {
    /// Stable short name: REST problem type slug, Event reason suffix, metric label.
    pub fn slug(&self) -> &'static str {
        match self {
            LbError::NoDefaultNetwork => "no-default-network",
            LbError::NotAllocated { .. } => "ip-not-allocated",
            LbError::Ambiguous { .. } => "ip-ambiguous",
            LbError::Reserved { .. } => "ip-reserved",
            LbError::NetworkNotAllowed { .. } => "network-not-allowed",
            LbError::Exhausted { .. } => "ip-exhausted",
            LbError::AcquireFailed { .. } => "acquire-failed",
            LbError::Invalid(_) => "invalid",
            LbError::MetalApi(_) => "metal-api-unavailable",
            LbError::Config(_) => "config-write-failed",
            LbError::NotLeader => "not-leader",
        }
    }

    /// Whether the same request can succeed later without anyone changing it: transport
    /// trouble, a lost race, or capacity that may free up. Such errors back off and retry;
    /// the others wait for the Service (or the inventory) to change, at a slow pace.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            LbError::MetalApi(_) | LbError::Config(_) | LbError::NotLeader
        )
    }
}

impl From<metal_api_sdk::client::Error> for LbError {
    fn from(e: metal_api_sdk::client::Error) -> Self {
        LbError::MetalApi(e.to_string())
    }
}
