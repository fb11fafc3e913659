//! What the DNS answers said: FQDN → IP → expiry. Pure; the clock is always passed in.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use kube_resources::cwnp::IpSet;

use crate::selector::{Family, Matcher, normalize};

/// The elements one nft set should hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetContents {
    pub family: Family,
    /// IP → remaining lifetime in whole seconds (rounded up, so always ≥ 1): the nft element
    /// `timeout`.
    pub elements: BTreeMap<IpAddr, u64>,
}

/// Resolved addresses per normalized FQDN, each with its own expiry (lookup time + record TTL).
///
/// An IP is live while `expiry > now`. Names are only present while they hold at least one IP
/// (until [`Cache::prune`] runs, possibly only expired ones).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cache {
    pub(crate) names: BTreeMap<String, BTreeMap<IpAddr, DateTime<Utc>>>,
}

impl Cache {
    pub fn new() -> Cache {
        Cache::default()
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The addresses (v4 and v6) of a name, with their expiry; `name` is normalized first.
    pub fn get(&self, name: &str) -> Option<&BTreeMap<IpAddr, DateTime<Utc>>> {
        self.names.get(&normalize(name))
    }

    /// Records one answer. `names` is the CNAME chain (the queried name and every alias that
    /// led to the addresses); each of them gets every address, expiring at `now + ttl`. An
    /// address already known keeps the later of its two expiries. Expired addresses of these
    /// names are dropped on the way. Names get no entry when `ips` is empty.
    pub fn record(&mut self, names: &[String], ips: &[(IpAddr, u32)], now: DateTime<Utc>) {
        for name in names {
            let key = normalize(name);
            if ips.is_empty() && !self.names.contains_key(&key) {
                continue;
            }
            let entry = self.names.entry(key.clone()).or_default();
            entry.retain(|_, expiry| *expiry > now);
            for &(ip, ttl) in ips {
                let expiry = now + TimeDelta::seconds(i64::from(ttl));
                entry
                    .entry(ip)
                    .and_modify(|e| *e = (*e).max(expiry))
                    .or_insert(expiry);
            }
            if entry.is_empty() {
                self.names.remove(&key);
            }
        }
    }

    /// Drops expired addresses and names left without any.
    pub fn prune(&mut self, now: DateTime<Utc>) {
        self.names.retain(|_, ips| {
            ips.retain(|_, expiry| *expiry > now);
            !ips.is_empty()
        });
    }

    /// The contents of every matcher's v4 and v6 set: the union over matching names of their
    /// live addresses, each with the latest expiry among those names. Every matcher yields both
    /// sets, possibly empty, because the ruleset declares both.
    pub fn elements(
        &self,
        matchers: &[Matcher],
        now: DateTime<Utc>,
    ) -> BTreeMap<String, SetContents> {
        self.elements_where(matchers, now, |_| true)
    }

    /// [`Cache::elements`] restricted to the addresses `keep` accepts (sets still all present).
    pub(crate) fn elements_where(
        &self,
        matchers: &[Matcher],
        now: DateTime<Utc>,
        keep: impl Fn(&IpAddr) -> bool,
    ) -> BTreeMap<String, SetContents> {
        let mut out = BTreeMap::new();
        for m in matchers {
            let [v4, v6] = Family::ALL.map(|family| {
                let name = m.set_name(family);
                out.entry(name.clone()).or_insert(SetContents {
                    family,
                    elements: BTreeMap::new(),
                });
                name
            });
            for (fqdn, ips) in &self.names {
                if !m.matches(fqdn) {
                    continue;
                }
                for (ip, expiry) in ips {
                    let Some(remaining) = remaining_secs(*expiry, now) else {
                        continue;
                    };
                    if !keep(ip) {
                        continue;
                    }
                    let set = if ip.is_ipv4() { &v4 } else { &v6 };
                    let elements = &mut out.get_mut(set).expect("inserted above").elements;
                    let e = elements.entry(*ip).or_insert(remaining);
                    *e = (*e).max(remaining);
                }
            }
        }
        out
    }

    /// `status.fqdn_state` of a CWNP with these selectors: per selector key, one [`IpSet`] per
    /// (matching name, family with live addresses), sorted by name then family. A selector
    /// that matches nothing yet maps to an empty list.
    pub fn fqdn_state(
        &self,
        matchers: &[Matcher],
        now: DateTime<Utc>,
    ) -> BTreeMap<String, Vec<IpSet>> {
        let mut out = BTreeMap::new();
        for m in matchers {
            let mut sets = Vec::new();
            for (fqdn, ips) in self.names.iter().filter(|(n, _)| m.matches(n)) {
                for family in Family::ALL {
                    let times: BTreeMap<String, String> = ips
                        .iter()
                        .filter(|(ip, expiry)| Family::of(ip) == family && **expiry > now)
                        .map(|(ip, expiry)| {
                            (
                                ip.to_string(),
                                expiry.to_rfc3339_opts(SecondsFormat::Secs, true),
                            )
                        })
                        .collect();
                    if times.is_empty() {
                        continue;
                    }
                    sets.push(IpSet {
                        fqdn: Some(fqdn.clone()),
                        set_name: Some(m.set_name(family)),
                        ip_expiration_times: Some(times),
                        version: Some(family.version().to_string()),
                        ..IpSet::default()
                    });
                }
            }
            out.insert(m.key().to_string(), sets);
        }
        out
    }

    /// Normalized `matchName`s without a cache entry, sorted and deduplicated: the caller
    /// resolves them actively (upstream does so while rendering). Call [`Cache::prune`] first
    /// for "no live entry".
    pub fn names_missing(&self, matchers: &[Matcher]) -> Vec<String> {
        let mut missing: Vec<String> = matchers
            .iter()
            .filter_map(Matcher::name)
            .filter(|n| !self.names.contains_key(*n))
            .map(str::to_string)
            .collect();
        missing.sort();
        missing.dedup();
        missing
    }
}

/// Whole seconds from `now` to `expiry`, rounded up; `None` once expired.
fn remaining_secs(expiry: DateTime<Utc>, now: DateTime<Utc>) -> Option<u64> {
    let left = expiry - now;
    if left <= TimeDelta::zero() {
        return None;
    }
    let secs = left.num_seconds() + i64::from(left.subsec_nanos() > 0);
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube_resources::cwnp::FqdnSelector;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn names(ns: &[&str]) -> Vec<String> {
        ns.iter().map(|s| s.to_string()).collect()
    }
    fn by_name(n: &str) -> Matcher {
        Matcher::new(&FqdnSelector {
            match_name: Some(n.into()),
            match_pattern: None,
        })
        .unwrap()
    }
    fn by_pattern(p: &str) -> Matcher {
        Matcher::new(&FqdnSelector {
            match_name: None,
            match_pattern: Some(p.into()),
        })
        .unwrap()
    }

    #[test]
    fn record_gives_every_chain_name_every_address() {
        let mut c = Cache::new();
        c.record(
            &names(&["www.Example.com", "cdn.example.net."]),
            &[(ip("192.0.2.1"), 60), (ip("2001:db8::1"), 30)],
            t(0),
        );
        for n in ["www.example.com.", "cdn.example.net."] {
            let ips = c.get(n).unwrap();
            assert_eq!(ips[&ip("192.0.2.1")], t(60));
            assert_eq!(ips[&ip("2001:db8::1")], t(30));
        }
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn record_keeps_the_later_expiry_and_drops_expired() {
        let mut c = Cache::new();
        let n = names(&["a.com"]);
        c.record(&n, &[(ip("192.0.2.1"), 100), (ip("192.0.2.2"), 5)], t(0));
        // A shorter TTL later does not shorten; the expired .2 is swept.
        c.record(&n, &[(ip("192.0.2.1"), 10), (ip("192.0.2.3"), 10)], t(20));
        let ips = c.get("a.com").unwrap();
        assert_eq!(ips[&ip("192.0.2.1")], t(100));
        assert_eq!(ips[&ip("192.0.2.3")], t(30));
        assert!(!ips.contains_key(&ip("192.0.2.2")));
        // A longer one extends.
        c.record(&n, &[(ip("192.0.2.1"), 200)], t(20));
        assert_eq!(c.get("a.com").unwrap()[&ip("192.0.2.1")], t(220));
    }

    #[test]
    fn record_without_addresses_creates_nothing_but_sweeps() {
        let mut c = Cache::new();
        c.record(&names(&["a.com"]), &[], t(0));
        assert!(c.is_empty());
        c.record(&names(&["a.com"]), &[(ip("192.0.2.1"), 5)], t(0));
        c.record(&names(&["a.com"]), &[], t(10));
        assert!(c.is_empty());
    }

    #[test]
    fn prune_drops_expired_addresses_and_empty_names() {
        let mut c = Cache::new();
        c.record(&names(&["a.com"]), &[(ip("192.0.2.1"), 10)], t(0));
        c.record(
            &names(&["b.com"]),
            &[(ip("192.0.2.2"), 10), (ip("192.0.2.3"), 100)],
            t(0),
        );
        c.prune(t(10));
        assert!(c.get("a.com").is_none());
        assert_eq!(c.get("b.com").unwrap().len(), 1);
        assert!(c.get("b.com").unwrap().contains_key(&ip("192.0.2.3")));
    }

    #[test]
    fn elements_union_per_selector_with_latest_expiry() {
        let mut c = Cache::new();
        c.record(&names(&["a.example.com"]), &[(ip("192.0.2.1"), 10)], t(0));
        c.record(
            &names(&["b.c.example.com"]),
            &[(ip("192.0.2.1"), 50), (ip("2001:db8::2"), 20)],
            t(0),
        );
        c.record(&names(&["other.org"]), &[(ip("198.51.100.1"), 99)], t(0));
        let star = by_pattern("*.example.com");
        let a = by_name("a.example.com");
        let none = by_name("nothing.example");
        let sets = c.elements(
            &[star.clone(), a.clone(), none.clone()],
            t(0) + TimeDelta::milliseconds(500),
        );

        assert_eq!(sets.len(), 6, "two sets per selector, even when empty");
        let s4 = &sets[&star.set_name(Family::V4)];
        assert_eq!(s4.family, Family::V4);
        // max(10, 50) - 0.5 s, rounded up.
        assert_eq!(s4.elements, BTreeMap::from([(ip("192.0.2.1"), 50)]));
        let s6 = &sets[&star.set_name(Family::V6)];
        assert_eq!(s6.family, Family::V6);
        assert_eq!(s6.elements, BTreeMap::from([(ip("2001:db8::2"), 20)]));
        assert_eq!(
            sets[&a.set_name(Family::V4)].elements,
            BTreeMap::from([(ip("192.0.2.1"), 10)])
        );
        assert!(sets[&a.set_name(Family::V6)].elements.is_empty());
        assert!(sets[&none.set_name(Family::V4)].elements.is_empty());
        assert!(sets[&none.set_name(Family::V6)].elements.is_empty());
    }

    #[test]
    fn elements_skip_expired_even_before_prune() {
        let mut c = Cache::new();
        c.record(
            &names(&["a.com"]),
            &[(ip("192.0.2.1"), 10), (ip("192.0.2.2"), 11)],
            t(0),
        );
        let m = by_name("a.com");
        let sets = c.elements(std::slice::from_ref(&m), t(10));
        assert_eq!(
            sets[&m.set_name(Family::V4)].elements,
            BTreeMap::from([(ip("192.0.2.2"), 1)])
        );
    }

    #[test]
    fn fqdn_state_per_name_and_family() {
        let mut c = Cache::new();
        c.record(
            &names(&["www.example.com", "edge.example.com"]),
            &[(ip("192.0.2.1"), 60), (ip("2001:db8::1"), 60)],
            t(0) + TimeDelta::milliseconds(250),
        );
        c.record(
            &names(&["v4only.example.com"]),
            &[(ip("192.0.2.9"), 5)],
            t(0),
        );
        let star = by_pattern("*.example.com");
        let missing = by_name("missing.org");
        let state = c.fqdn_state(&[star.clone(), missing], t(1));
        assert_eq!(state["missing.org"], Vec::<IpSet>::new());
        let sets = &state["*.example.com"];
        let summary: Vec<(&str, &str)> = sets
            .iter()
            .map(|s| (s.fqdn.as_deref().unwrap(), s.version.as_deref().unwrap()))
            .collect();
        assert_eq!(
            summary,
            [
                ("edge.example.com.", "ip"),
                ("edge.example.com.", "ip6"),
                ("v4only.example.com.", "ip"),
                ("www.example.com.", "ip"),
                ("www.example.com.", "ip6"),
            ]
        );
        assert_eq!(
            sets[0].set_name.as_deref(),
            Some(star.set_name(Family::V4).as_str())
        );
        assert_eq!(
            sets[1].set_name.as_deref(),
            Some(star.set_name(Family::V6).as_str())
        );
        assert_eq!(
            sets[1].ip_expiration_times,
            Some(BTreeMap::from([(
                "2001:db8::1".to_string(),
                "2023-11-14T22:14:20Z".to_string()
            )]))
        );
        // Expired names disappear from the status.
        let later = c.fqdn_state(std::slice::from_ref(&star), t(6));
        assert_eq!(later["*.example.com"].len(), 4);
    }

    #[test]
    fn names_missing_lists_unresolved_match_names_only() {
        let mut c = Cache::new();
        c.record(&names(&["known.com"]), &[(ip("192.0.2.1"), 60)], t(0));
        let ms = [
            by_name("Known.com"),
            by_name("unknown.com"),
            by_name("UNKNOWN.com."),
            by_pattern("*.never.com"),
        ];
        assert_eq!(c.names_missing(&ms), ["unknown.com."]);
    }

    #[test]
    fn remaining_rounds_up() {
        assert_eq!(remaining_secs(t(10), t(10)), None);
        assert_eq!(remaining_secs(t(10), t(11)), None);
        assert_eq!(remaining_secs(t(10), t(9)), Some(1));
        assert_eq!(
            remaining_secs(t(10), t(9) + TimeDelta::nanoseconds(999_999_999)),
            Some(1)
        );
        assert_eq!(
            remaining_secs(t(10), t(8) + TimeDelta::milliseconds(1)),
            Some(2)
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn arb_ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                (0u8..4).prop_map(|i| IpAddr::from([192, 0, 2, i])),
                (0u16..4).prop_map(|i| IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, i])),
            ]
        }
        fn arb_name() -> impl Strategy<Value = String> {
            prop::sample::select(vec!["a.x.com", "b.x.com", "c.y.com", "x.com"])
                .prop_map(str::to_string)
        }
        fn arb_record() -> impl Strategy<Value = (Vec<String>, Vec<(IpAddr, u32)>, i64)> {
            (
                prop::collection::vec(arb_name(), 1..3),
                prop::collection::vec((arb_ip(), 0u32..100), 0..4),
                0i64..100_000,
            )
        }

        proptest! {
            #[test]
            fn elements_are_live_and_exact(
                records in prop::collection::vec(arb_record(), 0..12),
                now_ms in 0i64..200_000,
            ) {
                let mut c = Cache::new();
                for (ns, ips, at_ms) in &records {
                    c.record(ns, ips, t(0) + TimeDelta::milliseconds(*at_ms));
                }
                let now = t(0) + TimeDelta::milliseconds(now_ms);
                let ms = [by_pattern("*.x.com"), by_name("x.com"), by_pattern("*")];
                let sets = c.elements(&ms, now);
                prop_assert_eq!(sets.len(), 6);
                for m in &ms {
                    for family in Family::ALL {
                        let set = &sets[&m.set_name(family)];
                        prop_assert_eq!(set.family, family);
                        for (ip, remaining) in &set.elements {
                            prop_assert_eq!(Family::of(ip), family);
                            prop_assert!(*remaining >= 1);
                            // Exactly the latest live expiry of any matching name, rounded up.
                            let latest = c.names.iter()
                                .filter(|(n, _)| m.matches(n))
                                .filter_map(|(_, ips)| ips.get(ip))
                                .max()
                                .copied()
                                .unwrap();
                            prop_assert!(latest > now);
                            prop_assert_eq!(Some(*remaining), remaining_secs(latest, now));
                        }
                    }
                }
                // Nothing live is left out.
                for (n, ips) in &c.names {
                    for (ip, expiry) in ips {
                        if *expiry > now {
                            for m in ms.iter().filter(|m| m.matches(n)) {
                                prop_assert!(sets[&m.set_name(Family::of(ip))].elements.contains_key(ip));
                            }
                        }
                    }
                }
            }
        }
    }
}
