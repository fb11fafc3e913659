//! Ensuring a load balancer, decided over the IPs that already carry the Service's tag: which
//! to keep, which to let go, what to allocate or adopt. Declarative, so a changed annotation,
//! `loadBalancerIP` or family policy converges like a new Service does.

use std::net::IpAddr;

use metal_api_sdk::model::{AddressFamily, IpResponse};

use super::config::Config;
use super::error::LbError;
use super::service::{Families, LbRequest, family_of};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Tagged IPs that stay.
    pub keep: Vec<IpResponse>,
    /// Tagged IPs to drop our tag from (freed when ephemeral and untagged then).
    pub release: Vec<String>,
    /// Automatic path: allocate one IP per entry in `network` (None: metal-api's family).
    pub allocate: Vec<Option<AddressFamily>>,
    /// Fixed path: pre-allocated IPs to add our tag to.
    pub adopt: Vec<IpAddr>,
}

fn parsed(ip: &IpResponse) -> Option<IpAddr> {
    ip.ipaddress.parse().ok()
}

/// The network automatic allocation uses, checked against the cluster's networks.
pub fn auto_network(config: &Config, request: &LbRequest) -> Result<String, LbError> {
    let network = request
        .network
        .clone()
        .or_else(|| config.default_network.clone())
        .ok_or(LbError::NoDefaultNetwork)?;
    if !config.network_allowed(&network) {
        return Err(LbError::NetworkNotAllowed { network });
    }
    Ok(network)
}

/// The plan for `request`, given the IPs currently tagged for it; `network` is the automatic
/// path's network (unused on the fixed path).
pub fn plan(request: &LbRequest, tagged: &[IpResponse], network: &str) -> Plan {
    let mut plan = Plan::default();
    let mut rest: Vec<&IpResponse> = Vec::new();
    if request.fixed.is_empty() {
        let mut candidates: Vec<&IpResponse> = tagged
            .iter()
            .filter(|ip| ip.networkid == network && parsed(ip).is_some())
            .collect();
        // Lowest address first, so the choice among duplicates is stable.
        candidates.sort_by_key(|ip| parsed(ip));
        for wanted in request.families.wanted() {
            let found = candidates.iter().position(|ip| {
                wanted.is_none_or(|f| parsed(ip).is_some_and(|a| family_of(&a) == f))
            });
            match found {
                Some(i) => plan.keep.push(candidates.remove(i).clone()),
                None => plan.allocate.push(wanted),
            }
        }
        rest.extend(candidates);
        rest.extend(
            tagged
                .iter()
                .filter(|ip| !(ip.networkid == network && parsed(ip).is_some())),
        );
    } else {
        for ip in tagged {
            match parsed(ip) {
                Some(a) if request.fixed.contains(&a) => plan.keep.push(ip.clone()),
                _ => rest.push(ip),
            }
        }
        plan.adopt = request
            .fixed
            .iter()
            .filter(|a| !plan.keep.iter().any(|k| parsed(k) == Some(**a)))
            .copied()
            .collect();
    }
    plan.release = rest.iter().map(|ip| ip.ipaddress.clone()).collect();
    plan.release.sort();
    plan.release.dedup();
    plan
}

/// Whether a missing family is acceptable: only under PreferDualStack, and only while at least
/// one address was had.
pub fn family_optional(families: Families, got_any: bool) -> bool {
    matches!(families, Families::Both { required: false }) && got_any
}

#[cfg(test)]
mod tests {
    use metal_api_sdk::model::IpType;

    use super::*;
    use crate::core::service::ServiceKey;

    fn ip(address: &str, network: &str) -> IpResponse {
        IpResponse {
            ipaddress: address.into(),
            allocationuuid: String::new(),
            name: String::new(),
            description: String::new(),
            networkid: network.into(),
            projectid: "p".into(),
            ip_type: IpType::Ephemeral,
            tags: vec!["t".into()],
            created: None,
            changed: None,
        }
    }

    fn request(fixed: &[&str], network: Option<&str>, families: Families) -> LbRequest {
        LbRequest {
            key: ServiceKey::new("ns", "svc").unwrap(),
            fixed: fixed.iter().map(|f| f.parse().unwrap()).collect(),
            network: network.map(str::to_string),
            families,
        }
    }

    #[test]
    fn new_service_allocates_one_per_family() {
        let p = plan(&request(&[], None, Families::Any), &[], "internet");
        assert_eq!(p.allocate, vec![None]);
        let p = plan(
            &request(&[], None, Families::Both { required: true }),
            &[],
            "internet",
        );
        assert_eq!(
            p.allocate,
            vec![Some(AddressFamily::IPv4), Some(AddressFamily::IPv6)]
        );
        assert!(p.keep.is_empty() && p.release.is_empty() && p.adopt.is_empty());
    }

    #[test]
    fn existing_ips_are_kept_extra_and_foreign_ones_released() {
        let tagged = [
            ip("185.1.2.9", "internet"),
            ip("185.1.2.3", "internet"),
            ip("10.9.0.1", "dmz"),
        ];
        let p = plan(&request(&[], None, Families::Any), &tagged, "internet");
        assert_eq!(p.keep, vec![tagged[1].clone()], "the lowest address stays");
        assert!(p.allocate.is_empty());
        assert_eq!(p.release, ["10.9.0.1", "185.1.2.9"]);

        // Going dual-stack keeps the v4 address and adds a v6 one.
        let p = plan(
            &request(&[], None, Families::Both { required: true }),
            &tagged[1..2],
            "internet",
        );
        assert_eq!(p.keep.len(), 1);
        assert_eq!(p.allocate, vec![Some(AddressFamily::IPv6)]);

        // The annotation moved to another network: a new address there, the old one goes.
        let p = plan(
            &request(&[], Some("dmz"), Families::Any),
            &tagged[1..2],
            "dmz",
        );
        assert_eq!(p.allocate, vec![None]);
        assert_eq!(p.release, ["185.1.2.3"]);
    }

    #[test]
    fn fixed_ips_are_adopted_and_previous_ones_released() {
        let tagged = [ip("185.1.2.3", "internet")];
        let p = plan(&request(&["185.1.2.7"], None, Families::Any), &tagged, "");
        assert_eq!(p.adopt, vec!["185.1.2.7".parse::<IpAddr>().unwrap()]);
        assert_eq!(p.release, ["185.1.2.3"]);
        assert!(p.allocate.is_empty());
        let p = plan(&request(&["185.1.2.3"], None, Families::Any), &tagged, "");
        assert!(p.adopt.is_empty() && p.release.is_empty());
        assert_eq!(p.keep.len(), 1);
    }

    #[test]
    fn auto_network_rules() {
        let mut config = Config::for_tests();
        let r = request(&[], None, Families::Any);
        assert_eq!(auto_network(&config, &r).unwrap(), "internet");
        let r = request(&[], Some("mpls"), Families::Any);
        assert!(matches!(
            auto_network(&config, &r),
            Err(LbError::NetworkNotAllowed { .. })
        ));
        config.default_network = None;
        assert_eq!(
            auto_network(&config, &request(&[], None, Families::Any)),
            Err(LbError::NoDefaultNetwork)
        );
    }
}
