//! The bridge between the reconciler and the DNS proxy (crate `rule-compiler-fqdn`): which
//! selectors are in use, their set elements for a full ruleset, `status.fqdn_state`, the
//! upstream resolver from the Firewall, and the cache persisted in ConfigMap
//! `firewall/fqdnstate` (restored at start).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kube_resources::cwnp::{FqdnSelector, IpSet};
use parking_lot::{Mutex, RwLock};
use rule_compiler_fqdn::cache::Cache;
use rule_compiler_fqdn::proxy::{Proxy, ProxyConfig, ProxyHandle};
use rule_compiler_fqdn::selector::{self, Matcher};
use rule_compiler_fqdn::sink::{NftSink, SetSink};
use tokio::sync::watch;

use crate::actors::reconciler::{Dns, Inputs};
use crate::core::compile::{DnsSnapshot, TABLE};
use crate::core::ranges::Family;
use crate::metrics::{DnsLabels, Metrics};
use crate::nft::Nft;

/// Upstream's default resolver when neither the flag nor the Firewall names one.
const DEFAULT_UPSTREAM: &str = "8.8.8.8:53";
/// How often the cache is written to its ConfigMap (when it changed).
const PERSIST_EVERY: Duration = Duration::from_secs(10);

/// The nft set holding the addresses of selector `key` (shared by compiler and proxy).
pub fn set_name(key: &str, family: Family) -> String {
    let family = match family {
        Family::V4 => selector::Family::V4,
        Family::V6 => selector::Family::V6,
    };
    selector::set_name(key, family)
}

pub struct DnsBridge {
    cache: Arc<Mutex<Cache>>,
    sink: Arc<NftSink>,
    matchers: watch::Sender<Arc<Vec<Matcher>>>,
    handle: ProxyHandle,
    listen: SocketAddr,
    fixed_upstream: Option<SocketAddr>,
    inputs: Arc<RwLock<Inputs>>,
    upstream: Mutex<SocketAddr>,
}

fn matchers_of(selectors: &[FqdnSelector]) -> Vec<Matcher> {
    selectors
        .iter()
        .filter_map(|s| Matcher::new(s).ok())
        .collect()
}

impl DnsBridge {
    pub async fn start(
        listen: &str,
        fixed_upstream: Option<SocketAddr>,
        inputs: Arc<RwLock<Inputs>>,
        nft: Nft,
        kube: Option<(kube::Client, String)>,
        metrics: &Metrics,
    ) -> anyhow::Result<Arc<Self>> {
        let listen: SocketAddr = listen
            .parse()
            .map_err(|e| anyhow::anyhow!("--dns-listen {listen:?}: {e}"))?;
        let mut cache = Cache::new();
        if let Some((client, namespace)) = &kube
            && let Some(state) = crate::k8s::load_fqdn_state(client, namespace).await
        {
            match Cache::from_state(&state) {
                Ok(restored) => cache = restored,
                Err(e) => {
                    tracing::warn!(error = %e, "the fqdnstate ConfigMap is unreadable; starting with an empty cache")
                }
            }
        }
        let cache = Arc::new(Mutex::new(cache));
        let (matchers, matchers_rx) = watch::channel(Arc::new(Vec::new()));
        let upstream =
            fixed_upstream.unwrap_or_else(|| DEFAULT_UPSTREAM.parse().expect("constant"));
        let sink = NftSink::new(nft.argv().to_vec(), &format!("inet {TABLE}"))
            .map_err(|e| anyhow::anyhow!("DNS proxy sink: {e}"))?;
        let sink = Arc::new(sink);
        let handle = Proxy::start(
            ProxyConfig::new(listen, upstream),
            cache.clone(),
            matchers_rx,
            sink.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("DNS proxy on {listen}: {e}"))?;
        let bridge = Arc::new(Self {
            cache,
            sink,
            matchers,
            listen: handle.local_addr(),
            handle,
            fixed_upstream,
            inputs,
            upstream: Mutex::new(upstream),
        });
        bridge.spawn_stats(metrics.clone());
        if let Some((client, namespace)) = kube {
            bridge.spawn_persist(client, namespace);
        }
        Ok(bridge)
    }

    /// The proxy's counters into the metrics.
    fn spawn_stats(self: &Arc<Self>, metrics: Metrics) {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else { return };
                let s = this.handle.stats();
                for (kind, value) in [
                    ("queries_udp", s.queries_udp),
                    ("queries_tcp", s.queries_tcp),
                    ("upstream_errors", s.upstream_errors),
                    ("sink_errors", s.sink_errors),
                    ("truncated", s.truncated),
                ] {
                    metrics
                        .dns
                        .get_or_create(&DnsLabels { kind: kind.into() })
                        .set(value as i64);
                }
                metrics
                    .dns
                    .get_or_create(&DnsLabels {
                        kind: "cached_names".into(),
                    })
                    .set(this.cache.lock().len() as i64);
            }
        });
    }

    /// Writes the cache to its ConfigMap whenever it changed.
    fn spawn_persist(self: &Arc<Self>, client: kube::Client, namespace: String) {
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut last = String::new();
            let mut tick = tokio::time::interval(PERSIST_EVERY);
            loop {
                tick.tick().await;
                let Some(this) = this.upgrade() else { return };
                let state = this.cache.lock().to_state();
                if state != last {
                    match crate::k8s::save_fqdn_state(&client, &namespace, state.clone()).await {
                        Ok(()) => last = state,
                        Err(e) => {
                            tracing::warn!(error = %e, "writing the fqdnstate ConfigMap failed")
                        }
                    }
                }
            }
        });
    }

    /// The resolver: the flag, else the Firewall's `dnsServerAddress:dnsPort`, else 8.8.8.8.
    fn wanted_upstream(&self) -> SocketAddr {
        if let Some(fixed) = self.fixed_upstream {
            return fixed;
        }
        let inputs = self.inputs.read();
        let spec = inputs.firewall.as_ref().map(|f| &f.spec);
        let address = spec
            .and_then(|s| s.dns_server_address.as_deref())
            .and_then(|a| a.parse::<IpAddr>().ok());
        let port = spec
            .and_then(|s| s.dns_port)
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(53);
        match address {
            Some(ip) => SocketAddr::new(ip, port),
            None => DEFAULT_UPSTREAM.parse().expect("constant"),
        }
    }
}

impl Dns for DnsBridge {
    fn set_selectors(&self, selectors: &[FqdnSelector]) {
        let wanted = self.wanted_upstream();
        {
            let mut current = self.upstream.lock();
            if *current != wanted {
                tracing::info!(upstream = %wanted, "DNS proxy upstream changed");
                self.handle.set_upstream(wanted);
                *current = wanted;
            }
        }
        let matchers = Arc::new(matchers_of(selectors));
        // matchNames nobody asked for yet are looked up now, as upstream does at render time;
        // their addresses go straight into the (now declared) sets.
        let missing = self.cache.lock().names_missing(&matchers);
        for name in missing {
            let (proxy, cache, sink, matchers) = (
                self.handle.proxy(),
                self.cache.clone(),
                self.sink.clone(),
                matchers.clone(),
            );
            tokio::spawn(async move {
                if let Err(e) = proxy.resolve(&name).await {
                    tracing::debug!(error = %e, name, "resolving a matchName failed");
                    return;
                }
                let elements = cache.lock().elements(&matchers, chrono::Utc::now());
                let elements = elements
                    .into_iter()
                    .filter(|(_, c)| !c.elements.is_empty())
                    .collect();
                if let Err(e) = sink.add(elements).await {
                    tracing::warn!(error = %e, name, "adding resolved addresses to the sets failed");
                }
            });
        }
        self.matchers.send_replace(matchers);
    }

    fn snapshot(&self, selectors: &[FqdnSelector]) -> DnsSnapshot {
        let now = chrono::Utc::now();
        self.cache
            .lock()
            .elements(&matchers_of(selectors), now)
            .into_iter()
            .map(|(set, contents)| (set, contents.elements.into_iter().collect()))
            .collect()
    }

    fn fqdn_state(&self, selectors: &[FqdnSelector]) -> BTreeMap<String, Vec<IpSet>> {
        self.cache
            .lock()
            .fqdn_state(&matchers_of(selectors), chrono::Utc::now())
    }

    fn proxy(&self) -> Option<IpAddr> {
        Some(self.listen.ip())
    }
}
