//! What a Service asks for: which Service, which network, which fixed IPs, which address
//! families. Read from a `type: LoadBalancer` Service or from a REST request.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Service;
use metal_api_sdk::model::AddressFamily;
use serde::{Deserialize, Serialize};

use super::error::LbError;

/// MetalLB's current pool annotation; it wins over the deprecated one, as in MetalLB.
pub const POOL_ANNOTATION: &str = "metallb.io/address-pool";
/// The deprecated key, the only one metal-ccm reads.
pub const POOL_ANNOTATION_LEGACY: &str = "metallb.universe.tf/address-pool";
/// MetalLB's annotation for fixed IPs (one per family), the successor of `spec.loadBalancerIP`.
pub const IPS_ANNOTATION: &str = "metallb.io/loadBalancerIPs";
pub const IPS_ANNOTATION_LEGACY: &str = "metallb.universe.tf/loadBalancerIPs";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServiceKey {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl ServiceKey {
    /// Validates both parts as Kubernetes names (DNS-1123 labels), so a tag built from them
    /// can be parsed back.
    pub fn new(namespace: &str, name: &str) -> Result<Self, LbError> {
        for (what, value) in [("namespace", namespace), ("name", name)] {
            if !is_dns_label(value) {
                return Err(LbError::Invalid(format!(
                    "{what} {value:?} is not a valid Kubernetes name (lower-case letters, digits and '-', at most 63)"
                )));
            }
        }
        Ok(Self {
            namespace: namespace.into(),
            name: name.into(),
        })
    }
}

/// RFC 1123 label: what Service names and namespaces are.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Which address families to allocate on the automatic path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Families {
    /// One IP, family chosen by metal-api (IPv4 unless the network is IPv6-only), as metal-ccm.
    Any,
    /// One IP of this family.
    Only(AddressFamily),
    /// One IP per family; `required`: fail unless both can be had (RequireDualStack), else
    /// take what the network offers (PreferDualStack).
    Both { required: bool },
}

impl Families {
    pub fn wanted(self) -> Vec<Option<AddressFamily>> {
        match self {
            Families::Any => vec![None],
            Families::Only(f) => vec![Some(f)],
            Families::Both { .. } => vec![Some(AddressFamily::IPv4), Some(AddressFamily::IPv6)],
        }
    }

    /// From a REST request's `families`.
    pub fn from_list(list: &[AddressFamily]) -> Result<Self, LbError> {
        match list {
            [] => Ok(Families::Any),
            [f] => Ok(Families::Only(*f)),
            [a, b] if a != b => Ok(Families::Both { required: true }),
            _ => Err(LbError::Invalid(
                "families must be empty, one family, or IPv4 and IPv6 once each".into(),
            )),
        }
    }
}

/// What one load balancer needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LbRequest {
    pub key: ServiceKey,
    /// Pre-allocated IPs to adopt (at most one per family); empty: allocate automatically.
    pub fixed: Vec<IpAddr>,
    /// Network for automatic allocation; None: the default external network.
    pub network: Option<String>,
    pub families: Families,
}

pub fn family_of(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::IPv4,
        IpAddr::V6(_) => AddressFamily::IPv6,
    }
}

/// The network an address-pool annotation names: the stable key wins over the deprecated one,
/// and a `-ephemeral` or `-static` suffix (our pool names) is stripped.
pub fn pool_network(annotations: &BTreeMap<String, String>) -> Option<String> {
    let value = [POOL_ANNOTATION, POOL_ANNOTATION_LEGACY]
        .iter()
        .filter_map(|k| annotations.get(*k))
        .map(|v| v.trim())
        .find(|v| !v.is_empty())?;
    let network = value
        .strip_suffix("-ephemeral")
        .or_else(|| value.strip_suffix("-static"))
        .unwrap_or(value);
    Some(network.to_string())
}

/// Parses and checks fixed IPs: valid addresses, at most one per family.
pub fn parse_fixed(values: &[&str]) -> Result<Vec<IpAddr>, LbError> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for value in values.iter().map(|v| v.trim()).filter(|v| !v.is_empty()) {
        let ip: IpAddr = value
            .parse()
            .map_err(|_| LbError::Invalid(format!("{value:?} is not an IP address")))?;
        if ips.iter().any(|i| family_of(i) == family_of(&ip)) {
            return Err(LbError::Invalid(format!(
                "more than one {:?} address requested; a load balancer has at most one per family",
                family_of(&ip)
            )));
        }
        ips.push(ip);
    }
    Ok(ips)
}

/// Whether the Service is a load balancer this allocator serves: `type: LoadBalancer` without
/// a `loadBalancerClass` (a class means another implementation serves it, as with any CCM).
pub fn is_ours(svc: &Service) -> bool {
    svc.spec.as_ref().is_some_and(|s| {
        s.type_.as_deref() == Some("LoadBalancer") && s.load_balancer_class.is_none()
    })
}

/// The request a Service makes; the caller checked [`is_ours`].
pub fn request_for(svc: &Service) -> Result<LbRequest, LbError> {
    let key = ServiceKey::new(
        svc.metadata.namespace.as_deref().unwrap_or("default"),
        svc.metadata.name.as_deref().unwrap_or_default(),
    )?;
    let spec = svc.spec.clone().unwrap_or_default();
    let empty = BTreeMap::new();
    let annotations = svc.metadata.annotations.as_ref().unwrap_or(&empty);

    let from_spec = spec.load_balancer_ip.as_deref().unwrap_or("").trim();
    let from_annotation = [IPS_ANNOTATION, IPS_ANNOTATION_LEGACY]
        .iter()
        .find_map(|k| annotations.get(*k))
        .map(|v| v.split(',').collect::<Vec<_>>())
        .unwrap_or_default();
    let spec_ips = parse_fixed(&[from_spec])?;
    let annotated = parse_fixed(&from_annotation)?;
    let fixed = match (spec_ips.is_empty(), annotated.is_empty()) {
        (_, true) => spec_ips,
        (true, false) => annotated,
        (false, false) if annotated.contains(&spec_ips[0]) => annotated,
        (false, false) => {
            return Err(LbError::Invalid(format!(
                "spec.loadBalancerIP {from_spec} is not among the {IPS_ANNOTATION} annotation's addresses"
            )));
        }
    };

    let dual = matches!(
        spec.ip_family_policy.as_deref(),
        Some("PreferDualStack" | "RequireDualStack")
    );
    let listed: Vec<AddressFamily> = spec
        .ip_families
        .unwrap_or_default()
        .iter()
        .filter_map(|f| match f.as_str() {
            "IPv4" => Some(AddressFamily::IPv4),
            "IPv6" => Some(AddressFamily::IPv6),
            _ => None,
        })
        .collect();
    let families = match listed.as_slice() {
        [_, _] if dual => Families::Both {
            required: spec.ip_family_policy.as_deref() == Some("RequireDualStack"),
        },
        [AddressFamily::IPv6, ..] => Families::Only(AddressFamily::IPv6),
        _ => Families::Any,
    };

    Ok(LbRequest {
        key,
        fixed,
        network: pool_network(annotations),
        families,
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::ServiceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn service(annotations_: &[(&str, &str)], spec: ServiceSpec) -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("shop".into()),
                annotations: Some(annotations(annotations_)),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                type_: Some("LoadBalancer".into()),
                ..spec
            }),
            status: None,
        }
    }

    #[test]
    fn pool_annotation_stable_key_wins_and_suffixes_strip() {
        assert_eq!(pool_network(&annotations(&[])), None);
        assert_eq!(
            pool_network(&annotations(&[(
                POOL_ANNOTATION_LEGACY,
                "internet-ephemeral"
            )])),
            Some("internet".into())
        );
        assert_eq!(
            pool_network(&annotations(&[(POOL_ANNOTATION, "dmz-static")])),
            Some("dmz".into())
        );
        assert_eq!(
            pool_network(&annotations(&[
                (POOL_ANNOTATION, "dmz"),
                (POOL_ANNOTATION_LEGACY, "internet")
            ])),
            Some("dmz".into())
        );
        assert_eq!(
            pool_network(&annotations(&[
                (POOL_ANNOTATION, " "),
                (POOL_ANNOTATION_LEGACY, "internet")
            ])),
            Some("internet".into()),
            "an empty stable key does not hide the legacy one"
        );
        // Only one suffix is ours; a network that really ends in it keeps the rest.
        assert_eq!(
            pool_network(&annotations(&[(POOL_ANNOTATION, "a-static-ephemeral")])),
            Some("a-static".into())
        );
    }

    #[test]
    fn requests_from_services() {
        let plain = request_for(&service(&[], ServiceSpec::default())).unwrap();
        assert_eq!(
            plain,
            LbRequest {
                key: ServiceKey::new("shop", "web").unwrap(),
                fixed: vec![],
                network: None,
                families: Families::Any,
            }
        );
        let fixed = request_for(&service(
            &[],
            ServiceSpec {
                load_balancer_ip: Some("185.1.2.3".into()),
                ..Default::default()
            },
        ))
        .unwrap();
        assert_eq!(fixed.fixed, vec!["185.1.2.3".parse::<IpAddr>().unwrap()]);

        let dual = request_for(&service(
            &[(IPS_ANNOTATION, "185.1.2.3, 2a02:c00:20::5")],
            ServiceSpec {
                ip_family_policy: Some("RequireDualStack".into()),
                ip_families: Some(vec!["IPv4".into(), "IPv6".into()]),
                ..Default::default()
            },
        ))
        .unwrap();
        assert_eq!(dual.fixed.len(), 2);
        assert_eq!(dual.families, Families::Both { required: true });

        let prefer = request_for(&service(
            &[],
            ServiceSpec {
                ip_family_policy: Some("PreferDualStack".into()),
                ip_families: Some(vec!["IPv6".into(), "IPv4".into()]),
                ..Default::default()
            },
        ))
        .unwrap();
        assert_eq!(prefer.families, Families::Both { required: false });

        let v6 = request_for(&service(
            &[],
            ServiceSpec {
                ip_families: Some(vec!["IPv6".into()]),
                ..Default::default()
            },
        ))
        .unwrap();
        assert_eq!(v6.families, Families::Only(AddressFamily::IPv6));

        let single_prefer = request_for(&service(
            &[],
            ServiceSpec {
                ip_family_policy: Some("PreferDualStack".into()),
                ip_families: Some(vec!["IPv4".into()]),
                ..Default::default()
            },
        ))
        .unwrap();
        assert_eq!(single_prefer.families, Families::Any);
    }

    #[test]
    fn bad_fixed_ips_are_refused_with_the_reason() {
        let bad = request_for(&service(
            &[],
            ServiceSpec {
                load_balancer_ip: Some("185.1.2".into()),
                ..Default::default()
            },
        ))
        .unwrap_err();
        assert_eq!(bad.to_string(), "\"185.1.2\" is not an IP address");
        let two_v4 = parse_fixed(&["1.1.1.1", "2.2.2.2"]).unwrap_err();
        assert!(
            two_v4.to_string().contains("at most one per family"),
            "{two_v4}"
        );
        let disagree = request_for(&service(
            &[(IPS_ANNOTATION, "1.1.1.1")],
            ServiceSpec {
                load_balancer_ip: Some("2.2.2.2".into()),
                ..Default::default()
            },
        ))
        .unwrap_err();
        assert!(disagree.to_string().contains("not among"), "{disagree}");
    }

    #[test]
    fn only_classless_load_balancers_are_ours() {
        assert!(is_ours(&service(&[], ServiceSpec::default())));
        let classed = service(
            &[],
            ServiceSpec {
                load_balancer_class: Some("example.com/other".into()),
                ..Default::default()
            },
        );
        assert!(!is_ours(&classed));
        let mut cluster_ip = service(&[], ServiceSpec::default());
        cluster_ip.spec.as_mut().unwrap().type_ = Some("ClusterIP".into());
        assert!(!is_ours(&cluster_ip));
    }

    #[test]
    fn names_and_families_are_validated() {
        assert!(ServiceKey::new("shop", "web-1").is_ok());
        assert!(ServiceKey::new("Shop", "web").is_err());
        assert!(ServiceKey::new("shop", "a/b").is_err());
        assert!(ServiceKey::new("", "web").is_err());
        use AddressFamily::*;
        assert_eq!(Families::from_list(&[]).unwrap(), Families::Any);
        assert_eq!(Families::from_list(&[IPv6]).unwrap(), Families::Only(IPv6));
        assert_eq!(
            Families::from_list(&[IPv4, IPv6]).unwrap(),
            Families::Both { required: true }
        );
        assert!(Families::from_list(&[IPv4, IPv4]).is_err());
    }
}
