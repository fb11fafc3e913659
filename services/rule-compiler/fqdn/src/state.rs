//! The cache as the YAML kept in ConfigMap `firewall/fqdnstate`, key `state`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::cache::Cache;
use crate::selector::normalize;

const VERSION: u32 = 1;

/// Why a stored state was not loaded. The caller logs it and starts with an empty cache (the
/// next answers refill it), as upstream does.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("fqdn state is not valid YAML of the expected shape: {0}")]
    Yaml(String),
    #[error("fqdn state has version {0}, this build reads version {VERSION}")]
    Version(u32),
    #[error("fqdn state: {name}: {ip:?} is not an IP address")]
    Ip { name: String, ip: String },
    #[error("fqdn state: {name}: {ip}: {time:?} is not an RFC 3339 time")]
    Time {
        name: String,
        ip: String,
        time: String,
    },
}

/// The persisted shape; documented on [`Cache::to_state`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    version: u32,
    #[serde(default)]
    names: BTreeMap<String, BTreeMap<String, String>>,
}

impl Cache {
    /// The whole cache as YAML, for ConfigMap `firewall/fqdnstate` key `state`.
    ///
    /// The persisted shape: names are normalized FQDNs, times RFC 3339 UTC at full precision (so a
    /// round trip is exact). Both families share a name's map; the address says which it is.
    ///
    /// ```yaml
    /// version: 1
    /// names:
    ///   www.example.com.:
    ///     "192.0.2.1": "2025-01-01T00:01:00Z"
    ///     "2001:db8::1": "2025-01-01T00:00:30.250Z"
    /// ```
    ///
    /// (Quoted as written; unquoted scalars read the same.)
    ///
    /// Unknown fields are an error: a state written by something else (e.g. upstream's
    /// firewall-controller, whose shape differs) is rejected rather than half-read.
    pub fn to_state(&self) -> String {
        let file = StateFile {
            version: VERSION,
            names: self
                .names
                .iter()
                .map(|(name, ips)| {
                    let ips = ips
                        .iter()
                        .map(|(ip, expiry)| {
                            (
                                ip.to_string(),
                                expiry.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                            )
                        })
                        .collect();
                    (name.clone(), ips)
                })
                .collect(),
        };
        serde_saphyr::to_string(&file).expect("maps of strings always serialize")
    }

    /// Parses what [`Cache::to_state`] wrote. Expired entries are kept (prune with the caller's
    /// clock); names are normalized.
    pub fn from_state(text: &str) -> Result<Cache, StateError> {
        let file: StateFile =
            serde_saphyr::from_str(text).map_err(|e| StateError::Yaml(e.to_string()))?;
        if file.version != VERSION {
            return Err(StateError::Version(file.version));
        }
        let mut cache = Cache::new();
        for (name, ips) in file.names {
            let name = normalize(&name);
            for (ip, time) in ips {
                let addr: IpAddr = ip.parse().map_err(|_| StateError::Ip {
                    name: name.clone(),
                    ip: ip.clone(),
                })?;
                let expiry = DateTime::parse_from_rfc3339(&time)
                    .map_err(|_| StateError::Time {
                        name: name.clone(),
                        ip: ip.clone(),
                        time: time.clone(),
                    })?
                    .with_timezone(&Utc);
                let entry = cache.names.entry(name.clone()).or_default();
                let e = entry.entry(addr).or_insert(expiry);
                *e = (*e).max(expiry);
            }
        }
        Ok(cache)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn sample() -> Cache {
        let mut c = Cache::new();
        let now = t(0) + TimeDelta::nanoseconds(123_456_789);
        c.record(
            &["www.example.com".into(), "edge.cdn.net".into()],
            &[
                ("192.0.2.1".parse().unwrap(), 60),
                ("2001:db8::1".parse().unwrap(), 30),
            ],
            now,
        );
        c.record(
            &["v6.example.org".into()],
            &[("::1".parse().unwrap(), 1)],
            t(5),
        );
        c
    }

    #[test]
    fn round_trip_is_exact() {
        let c = sample();
        let text = c.to_state();
        assert!(text.contains("version: 1"), "{text}");
        assert!(text.contains("www.example.com."), "{text}");
        assert_eq!(Cache::from_state(&text).unwrap(), c);
    }

    #[test]
    fn empty_round_trip() {
        let c = Cache::new();
        assert_eq!(Cache::from_state(&c.to_state()).unwrap(), c);
    }

    #[test]
    fn documented_shape_parses() {
        let text = "version: 1\nnames:\n  WWW.example.com:\n    192.0.2.1: 2025-01-01T00:01:00Z\n    2001:db8::1: 2025-01-01T00:00:30.25Z\n";
        let c = Cache::from_state(text).unwrap();
        let ips = c.get("www.example.com.").unwrap();
        assert_eq!(
            ips[&"2001:db8::1".parse::<IpAddr>().unwrap()],
            DateTime::parse_from_rfc3339("2025-01-01T00:00:30.25Z").unwrap()
        );
        assert_eq!(ips.len(), 2);
    }

    #[test]
    fn corrupt_states_are_errors() {
        assert!(matches!(
            Cache::from_state("{{{ not yaml"),
            Err(StateError::Yaml(_))
        ));
        // Upstream's shape (or anything else unknown) is rejected, not half-read.
        assert!(matches!(
            Cache::from_state("www.example.com.:\n  ipv4:\n    setName: abc\n"),
            Err(StateError::Yaml(_))
        ));
        assert!(matches!(
            Cache::from_state("version: 2\nnames: {}\n"),
            Err(StateError::Version(2))
        ));
        assert!(matches!(
            Cache::from_state(
                "version: 1\nnames:\n  a.com.:\n    not-an-ip: 2025-01-01T00:00:00Z\n"
            ),
            Err(StateError::Ip { .. })
        ));
        assert!(matches!(
            Cache::from_state("version: 1\nnames:\n  a.com.:\n    192.0.2.1: yesterday\n"),
            Err(StateError::Time { .. })
        ));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_cache_round_trips(
                entries in prop::collection::vec(
                    (
                        "[a-z0-9-]{1,10}(\\.[a-z0-9_-]{1,10}){0,3}",
                        prop::collection::vec(
                            (any::<IpAddr>(), 0u32..1_000_000, 0i64..1_000_000_000_000),
                            1..4,
                        ),
                    ),
                    0..8,
                )
            ) {
                let mut c = Cache::new();
                for (name, ips) in &entries {
                    for (ip, ttl, at_ns) in ips {
                        c.record(
                            std::slice::from_ref(name),
                            &[(*ip, *ttl)],
                            t(0) + TimeDelta::nanoseconds(*at_ns),
                        );
                    }
                }
                let text = c.to_state();
                prop_assert_eq!(Cache::from_state(&text).unwrap(), c);
            }
        }
    }
}
