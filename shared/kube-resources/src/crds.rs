//! The CRDs metal-mesh owns and installs, rendered as the YAML committed in the Helm chart.
//! Only `ClusterwideNetworkPolicy`: `Firewall`/`FirewallMonitor` belong to
//! firewall-controller-manager, MetalLB and Gardener kinds to their projects.

use kube::CustomResourceExt;

use crate::ClusterwideNetworkPolicy;

/// `(file name, YAML)` for every CRD we own, in the order they are written.
pub fn owned_crds_yaml() -> Result<Vec<(&'static str, String)>, serde_saphyr::ser::Error> {
    Ok(vec![(
        "metal-stack.io_clusterwidenetworkpolicies.yaml",
        to_yaml(&ClusterwideNetworkPolicy::crd())?,
    )])
}

fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, serde_saphyr::ser::Error> {
    Ok(format!("---\n{}", serde_saphyr::to_string(value)?))
}
