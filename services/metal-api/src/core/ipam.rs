//! Address and prefix management, go-ipam's semantics: the first unused address of a
//! prefix, the network address (and for IPv4 the broadcast address) never handed out, and
//! child prefixes carved from a super prefix without overlap.
//!
//! The used-address set is the IP table itself (keyed by address), so IPAM state can never
//! disagree with the IPs that exist: both are written in one transaction.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use super::State;

fn to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(value: u128, like: IpAddr) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(value as u32)),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(value)),
    }
}

/// First and last address that may be handed out from `prefix`.
pub fn host_range(prefix: IpNet) -> Option<(IpAddr, IpAddr)> {
    let network = to_u128(prefix.network());
    let last = to_u128(prefix.broadcast());
    let (first, last) = match prefix {
        // /31 and /32 have no room for network and broadcast addresses.
        IpNet::V4(p) if p.prefix_len() >= 31 => (network, last),
        IpNet::V4(_) => (network + 1, last - 1),
        IpNet::V6(p) if p.prefix_len() == 128 => (network, last),
        IpNet::V6(_) => (network + 1, last),
    };
    (first <= last).then(|| {
        (
            from_u128(first, prefix.network()),
            from_u128(last, prefix.network()),
        )
    })
}

/// True when `addr` may be handed out from `prefix`.
pub fn is_allocatable(prefix: IpNet, addr: IpAddr) -> bool {
    host_range(prefix).is_some_and(|(first, last)| first <= addr && addr <= last)
}

/// The number of addresses that can be handed out from `prefix` (saturating).
pub fn capacity(prefix: IpNet) -> u64 {
    host_range(prefix).map_or(0, |(first, last)| {
        u64::try_from(to_u128(last) - to_u128(first) + 1).unwrap_or(u64::MAX)
    })
}

/// The lowest address of `prefix` not in use, without taking it.
pub fn first_free(state: &mut State, prefix: IpNet) -> Option<IpAddr> {
    let (first, last) = host_range(prefix)?;
    let start = state
        .free_hint
        .get(&prefix)
        .copied()
        .filter(|hint| *hint >= first)
        .unwrap_or(first);
    let mut candidate = to_u128(start);
    let last = to_u128(last);
    for used in state
        .ips
        .range(start..=from_u128(last, start))
        .map(|(a, _)| to_u128(*a))
    {
        if used != candidate {
            break;
        }
        candidate += 1;
    }
    if candidate > last {
        state.free_hint.insert(prefix, from_u128(last, start));
        return None;
    }
    let found = from_u128(candidate, start);
    state.free_hint.insert(prefix, found);
    Some(found)
}

/// The first subnet of `super_prefix` with length `len` that overlaps none of `taken`.
pub fn free_child(super_prefix: IpNet, len: u8, taken: &[IpNet]) -> Option<IpNet> {
    if len < super_prefix.prefix_len() || len > super_prefix.max_prefix_len() {
        return None;
    }
    super_prefix
        .subnets(len)
        .ok()?
        .find(|candidate| !taken.iter().any(|t| overlaps(*t, *candidate)))
}

/// True when two prefixes share at least one address.
pub fn overlaps(a: IpNet, b: IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// "IPv4" or "IPv6", the keys metal-api uses for per-family maps.
pub fn family_key(prefix: &IpNet) -> &'static str {
    match prefix {
        IpNet::V4(_) => "IPv4",
        IpNet::V6(_) => "IPv6",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Ip;
    use crate::core::testing::now;
    use metal_api_sdk::model::IpType;

    fn ip(addr: &str) -> Ip {
        Ip {
            address: addr.parse().unwrap(),
            allocationuuid: String::new(),
            name: String::new(),
            description: String::new(),
            networkid: "n".into(),
            projectid: "p".into(),
            ip_type: IpType::Ephemeral,
            tags: vec![],
            created: now(),
            changed: now(),
            rev: 0,
        }
    }

    #[test]
    fn ipv4_skips_network_and_broadcast() {
        let p: IpNet = "10.0.0.0/30".parse().unwrap();
        assert_eq!(
            host_range(p),
            Some(("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()))
        );
        assert!(!is_allocatable(p, "10.0.0.0".parse().unwrap()));
        assert!(!is_allocatable(p, "10.0.0.3".parse().unwrap()));
        assert_eq!(capacity(p), 2);
        assert_eq!(capacity("10.0.0.5/32".parse().unwrap()), 1);
    }

    #[test]
    fn ipv6_skips_only_the_network_address() {
        let p: IpNet = "2001:db8::/126".parse().unwrap();
        assert_eq!(capacity(p), 3);
        assert!(is_allocatable(p, "2001:db8::3".parse().unwrap()));
    }

    #[test]
    fn first_free_finds_gaps_and_exhaustion() {
        let p: IpNet = "10.0.0.0/29".parse().unwrap();
        let mut s = State::default();
        for a in ["10.0.0.1", "10.0.0.2", "10.0.0.4"] {
            s.put_ip(ip(a));
        }
        assert_eq!(first_free(&mut s, p), Some("10.0.0.3".parse().unwrap()));
        s.put_ip(ip("10.0.0.3"));
        assert_eq!(first_free(&mut s, p), Some("10.0.0.5".parse().unwrap()));
        for a in ["10.0.0.5", "10.0.0.6"] {
            s.put_ip(ip(a));
        }
        assert_eq!(first_free(&mut s, p), None);
        // Freeing lowers the hint so the freed address is found again.
        s.delete_ip("10.0.0.2".parse().unwrap());
        assert_eq!(first_free(&mut s, p), Some("10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn children_never_overlap() {
        let sup: IpNet = "10.0.0.0/16".parse().unwrap();
        let taken: Vec<IpNet> = vec![
            "10.0.0.0/22".parse().unwrap(),
            "10.0.8.0/21".parse().unwrap(),
        ];
        assert_eq!(
            free_child(sup, 22, &taken),
            Some("10.0.4.0/22".parse().unwrap())
        );
        assert_eq!(
            free_child(sup, 20, &taken),
            Some("10.0.16.0/20".parse().unwrap())
        );
        assert_eq!(free_child(sup, 8, &taken), None);
        assert_eq!(
            free_child(
                "10.0.0.0/23".parse().unwrap(),
                23,
                &["10.0.0.0/24".parse().unwrap()]
            ),
            None
        );
    }

    proptest::proptest! {
        /// Allocating first-free addresses in any order of frees never yields a used address.
        #[test]
        fn first_free_never_returns_a_used_address(frees in proptest::collection::vec(0u8..60, 0..30)) {
            let p: IpNet = "10.1.0.0/26".parse().unwrap();
            let mut s = State::default();
            while let Some(a) = first_free(&mut s, p) { s.put_ip(ip(&a.to_string())); }
            for f in frees {
                let a: IpAddr = format!("10.1.0.{}", f + 1).parse().unwrap();
                s.delete_ip(a);
            }
            while let Some(a) = first_free(&mut s, p) {
                proptest::prop_assert!(!s.ips.contains_key(&a));
                proptest::prop_assert!(is_allocatable(p, a));
                s.put_ip(ip(&a.to_string()));
            }
            proptest::prop_assert_eq!(s.ips.len() as u64, capacity(p));
        }
    }
}
