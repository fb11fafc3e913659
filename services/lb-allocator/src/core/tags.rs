//! IP tags are the record of which Service owns which IP (metal-lib tag keys). Everything here
//! is a decision over tags; the allocator actor carries it out against metal-api.

use metal_api_sdk::model::{IpResponse, IpType};
use metal_api_sdk::tags::{self, CLUSTER_EGRESS, CLUSTER_ID, CLUSTER_SERVICE_FQN, MACHINE_ID};

use super::error::LbError;
use super::service::ServiceKey;

/// `cluster.metal-stack.io/id/namespace/service=<cluster>/<namespace>/<name>`.
pub fn service_tag(cluster: &str, key: &ServiceKey) -> String {
    tags::tag(
        CLUSTER_SERVICE_FQN,
        &format!("{cluster}/{}/{}", key.namespace, key.name),
    )
}

/// The Service a tag of `cluster` names, if it is such a service tag.
pub fn service_of(cluster: &str, tag: &str) -> Option<ServiceKey> {
    let (key, value) = tags::split(tag);
    if key != CLUSTER_SERVICE_FQN {
        return None;
    }
    let rest = value.strip_prefix(cluster)?.strip_prefix('/')?;
    let (namespace, name) = rest.split_once('/')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains('/')).then(|| ServiceKey {
        namespace: namespace.into(),
        name: name.into(),
    })
}

fn has_key(ip: &IpResponse, key: &str) -> bool {
    ip.tags.iter().any(|t| tags::split(t).0 == key)
}

/// IPs of machines (firewalls among them) and egress IPs are never announced nor adopted.
pub fn reserved_for(ip: &IpResponse) -> Option<&'static str> {
    if has_key(ip, MACHINE_ID) {
        Some("a machine")
    } else if has_key(ip, CLUSTER_EGRESS) {
        Some("egress purposes")
    } else {
        None
    }
}

/// Whether an IP belongs to `cluster` (metal-ccm's rule, reference §6): not reserved, and some
/// tag under `cluster.metal-stack.io/id` with a value starting with the cluster ID. That covers
/// service tags and a plain `cluster.metal-stack.io/id=<cluster>`.
pub fn belongs_to_cluster(ip: &IpResponse, cluster: &str) -> bool {
    reserved_for(ip).is_none()
        && ip.tags.iter().any(|t| {
            let (key, value) = tags::split(t);
            key.starts_with(CLUSTER_ID) && value.starts_with(cluster)
        })
}

/// What releasing a Service's claim on one IP means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The tag is not there: nothing to do.
    Untouched,
    /// Ephemeral and no tags left: give the IP back.
    Free,
    /// Keep the IP with these tags (static, or still used by others).
    Retag(Vec<String>),
}

/// Removes every copy of `tag` from `ip`; frees it exactly when it is ephemeral and no tag is
/// left. Static IPs are never freed.
pub fn release(ip: &IpResponse, tag: &str) -> Release {
    if !ip.tags.iter().any(|t| t == tag) {
        return Release::Untouched;
    }
    let rest: Vec<String> = ip.tags.iter().filter(|t| *t != tag).cloned().collect();
    if ip.ip_type == IpType::Ephemeral && rest.is_empty() {
        Release::Free
    } else {
        Release::Retag(rest)
    }
}

/// The tags of `ip` with `tag` added; None when it is already there.
pub fn with_tag(ip: &IpResponse, tag: &str) -> Option<Vec<String>> {
    if ip.tags.iter().any(|t| t == tag) {
        return None;
    }
    let mut tags = ip.tags.clone();
    tags.push(tag.to_string());
    Some(tags)
}

/// The one IP a fixed-IP Service may adopt, from a project-scoped search by address.
pub fn adoptable<'a>(
    found: &'a [IpResponse],
    address: &str,
    project: &str,
) -> Result<&'a IpResponse, LbError> {
    let ip = match found {
        [] => {
            return Err(LbError::NotAllocated {
                ip: address.into(),
                project: project.into(),
            });
        }
        [ip] => ip,
        _ => {
            return Err(LbError::Ambiguous {
                ip: address.into(),
                project: project.into(),
            });
        }
    };
    match reserved_for(ip) {
        Some(purpose) => Err(LbError::Reserved {
            ip: address.into(),
            purpose,
        }),
        None => Ok(ip),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    pub fn ip(address: &str, ip_type: IpType, tags: &[&str]) -> IpResponse {
        IpResponse {
            ipaddress: address.into(),
            allocationuuid: format!("uuid-{address}"),
            name: String::new(),
            description: String::new(),
            networkid: "internet".into(),
            projectid: "p".into(),
            ip_type,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created: None,
            changed: None,
        }
    }

    fn key(ns: &str, name: &str) -> ServiceKey {
        ServiceKey {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    #[test]
    fn service_tags_round_trip() {
        let tag = service_tag("c1", &key("default", "web"));
        assert_eq!(
            tag,
            "cluster.metal-stack.io/id/namespace/service=c1/default/web"
        );
        assert_eq!(service_of("c1", &tag), Some(key("default", "web")));
        assert_eq!(service_of("c2", &tag), None);
        assert_eq!(service_of("c1", "cluster.metal-stack.io/id=c1"), None);
        assert_eq!(
            service_of("c1", "cluster.metal-stack.io/id/namespace/service=c1/ns"),
            None
        );
    }

    #[test]
    fn cluster_membership_follows_metal_ccm() {
        let svc = "cluster.metal-stack.io/id/namespace/service=c1/default/web";
        assert!(belongs_to_cluster(
            &ip("1.1.1.1", IpType::Ephemeral, &[svc]),
            "c1"
        ));
        assert!(belongs_to_cluster(
            &ip("1.1.1.1", IpType::Static, &["cluster.metal-stack.io/id=c1"]),
            "c1"
        ));
        assert!(!belongs_to_cluster(
            &ip("1.1.1.1", IpType::Static, &[svc]),
            "c2"
        ));
        assert!(!belongs_to_cluster(
            &ip("1.1.1.1", IpType::Static, &[]),
            "c1"
        ));
        // Firewall and egress IPs never, even when they carry the cluster tag.
        let machine = ip(
            "1.1.1.1",
            IpType::Ephemeral,
            &[svc, "machine.metal-stack.io/id=m1"],
        );
        assert!(!belongs_to_cluster(&machine, "c1"));
        let egress = ip(
            "1.1.1.1",
            IpType::Static,
            &["cluster.metal-stack.io/id/egress=c1"],
        );
        assert!(!belongs_to_cluster(&egress, "c1"));
    }

    #[test]
    fn release_removes_only_our_tag() {
        let ours = "svc=a";
        assert_eq!(
            release(&ip("1.1.1.1", IpType::Ephemeral, &[ours]), ours),
            Release::Free
        );
        assert_eq!(
            release(&ip("1.1.1.1", IpType::Ephemeral, &[ours, ours]), ours),
            Release::Free,
            "duplicates all go"
        );
        assert_eq!(
            release(&ip("1.1.1.1", IpType::Static, &[ours]), ours),
            Release::Retag(vec![])
        );
        assert_eq!(
            release(&ip("1.1.1.1", IpType::Ephemeral, &[ours, "svc=b"]), ours),
            Release::Retag(vec!["svc=b".into()])
        );
        assert_eq!(
            release(&ip("1.1.1.1", IpType::Ephemeral, &["svc=b"]), ours),
            Release::Untouched
        );
        assert_eq!(
            release(&ip("1.1.1.1", IpType::Ephemeral, &[]), ours),
            Release::Untouched
        );
    }

    #[test]
    fn adoption_needs_exactly_one_unreserved_ip() {
        let free = ip("1.1.1.1", IpType::Static, &[]);
        assert_eq!(
            adoptable(std::slice::from_ref(&free), "1.1.1.1", "p")
                .unwrap()
                .ipaddress,
            "1.1.1.1"
        );
        let err = adoptable(&[], "1.1.1.1", "p").unwrap_err();
        assert_eq!(err.to_string(), "ip 1.1.1.1 for projectID: p not allocated");
        let err = adoptable(&[free.clone(), free], "1.1.1.1", "p").unwrap_err();
        assert!(err.to_string().contains("ambiguous"), "{err}");
        let fw = ip("1.1.1.1", IpType::Static, &["machine.metal-stack.io/id=m"]);
        let err = adoptable(&[fw], "1.1.1.1", "p").unwrap_err();
        assert!(
            err.to_string().contains("ip is used for a machine"),
            "{err}"
        );
        let eg = ip(
            "1.1.1.1",
            IpType::Static,
            &["cluster.metal-stack.io/id/egress=c"],
        );
        let err = adoptable(&[eg], "1.1.1.1", "p").unwrap_err();
        assert!(
            err.to_string().contains("ip is used for egress purposes"),
            "{err}"
        );
    }

    #[test]
    fn with_tag_adds_once() {
        let i = ip("1.1.1.1", IpType::Static, &["a"]);
        assert_eq!(with_tag(&i, "b"), Some(vec!["a".into(), "b".into()]));
        assert_eq!(with_tag(&i, "a"), None);
    }

    fn arb_tags() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(
            prop::sample::select(vec!["ours", "theirs", "x=y", "m"]),
            0..5,
        )
        .prop_map(|v| v.into_iter().map(str::to_string).collect())
    }

    proptest! {
        /// An IP is freed exactly when it is ephemeral and no tag is left after removing ours;
        /// otherwise only our tag goes and every other tag stays, in order.
        #[test]
        fn freed_exactly_when_ephemeral_and_untagged(tags in arb_tags(), is_static in any::<bool>()) {
            let ip_type = if is_static { IpType::Static } else { IpType::Ephemeral };
            let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
            let subject = ip("10.0.0.1", ip_type, &refs);
            let others: Vec<String> = tags.iter().filter(|t| *t != "ours").cloned().collect();
            let carried = tags.iter().any(|t| t == "ours");
            match release(&subject, "ours") {
                Release::Free => prop_assert!(carried && !is_static && others.is_empty()),
                Release::Retag(rest) => {
                    prop_assert!(carried && (is_static || !others.is_empty()));
                    prop_assert_eq!(rest, others);
                }
                Release::Untouched => prop_assert!(!carried),
            }
        }
    }
}
