//! The DNS proxy: forwards every query to the upstream resolver, learns the addresses in the
//! answers, and puts those of selected names into their nft sets *before* releasing the answer.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::answer::{self, Chain, chain, fit_udp, fqdn};
use crate::cache::{Cache, SetContents};
use crate::selector::{Matcher, normalize};
use crate::sink::SetSink;
use crate::upstream;

/// A TTL of 0 would expire the address before the client's connection reaches the firewall;
/// one second is enough for the SYN, conntrack carries the flow afterwards.
const MIN_TTL: u32 = 1;
/// EDNS buffer size of our own lookups (the DNS flag day 2020 value).
const LOOKUP_PAYLOAD: u16 = 1232;

#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Where clients' (DNAT'ed) queries arrive, UDP and TCP; port 0 picks one.
    pub listen: SocketAddr,
    /// The resolver queries are forwarded to (`spec.dnsServerAddress:dnsPort`).
    pub upstream: SocketAddr,
    /// Per upstream exchange.
    pub timeout: Duration,
}

impl ProxyConfig {
    pub fn new(listen: SocketAddr, upstream: SocketAddr) -> ProxyConfig {
        ProxyConfig {
            listen,
            upstream,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Counter values since start, for Prometheus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub queries_udp: u64,
    pub queries_tcp: u64,
    /// Upstream exchanges that failed or timed out (proxied queries and lookups).
    pub upstream_errors: u64,
    pub sink_errors: u64,
    /// UDP answers cut to the client's buffer size.
    pub truncated: u64,
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) queries_udp: AtomicU64,
    pub(super) queries_tcp: AtomicU64,
    upstream_errors: AtomicU64,
    sink_errors: AtomicU64,
    truncated: AtomicU64,
}

pub(super) fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0:?} is not a valid DNS name")]
    Name(String),
    #[error("upstream {upstream}: {source}")]
    Upstream {
        upstream: SocketAddr,
        source: io::Error,
    },
    #[error("upstream answered {rcode} for {name} {rtype}")]
    Rcode {
        name: String,
        rtype: RecordType,
        rcode: ResponseCode,
    },
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Transport {
    Udp,
    Tcp,
}

pub(super) struct Shared {
    upstream: RwLock<SocketAddr>,
    timeout: Duration,
    cache: Arc<Mutex<Cache>>,
    matchers: watch::Receiver<Arc<Vec<Matcher>>>,
    sink: Arc<dyn SetSink>,
    pub(super) counters: Counters,
}

/// A cheap, clonable reference to a running proxy's upstream, cache and counters.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

/// Owns the listening sockets; dropping it (or [`ProxyHandle::shutdown`]) stops serving and
/// abandons queries in flight.
pub struct ProxyHandle {
    proxy: Proxy,
    local: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Proxy {
    /// Binds UDP and TCP on `config.listen` (the same port for both) and serves until the
    /// handle goes. `matchers` are the selectors in use; their sets must already exist in the
    /// kernel whenever they are published (see [`crate::NftSink`]).
    pub async fn start(
        config: ProxyConfig,
        cache: Arc<Mutex<Cache>>,
        matchers: watch::Receiver<Arc<Vec<Matcher>>>,
        sink: Arc<dyn SetSink>,
    ) -> io::Result<ProxyHandle> {
        let (udp, tcp) = serve::bind(config.listen).await?;
        let local = udp.local_addr()?;
        let proxy = Proxy {
            shared: Arc::new(Shared {
                upstream: RwLock::new(config.upstream),
                timeout: config.timeout,
                cache,
                matchers,
                sink,
                counters: Counters::default(),
            }),
        };
        let tasks = vec![
            tokio::spawn(serve::udp(proxy.shared.clone(), Arc::new(udp))),
            tokio::spawn(serve::tcp(proxy.shared.clone(), tcp)),
        ];
        debug!(%local, upstream = %config.upstream, "dns proxy listening");
        Ok(ProxyHandle {
            proxy,
            local,
            tasks,
        })
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            queries_udp: get(&c.queries_udp),
            queries_tcp: get(&c.queries_tcp),
            upstream_errors: get(&c.upstream_errors),
            sink_errors: get(&c.sink_errors),
            truncated: get(&c.truncated),
        }
    }

    /// Switches the resolver for all following queries (a changed `spec.dnsServerAddress`).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.write() = upstream;
    }

    pub fn upstream(&self) -> SocketAddr {
        *self.shared.upstream.read()
    }

    /// Looks `name` up (A and AAAA, UDP then TCP if truncated) and records the answers in the
    /// cache; returns the addresses learned (empty for NXDOMAIN or no data). The sets are not
    /// touched: the caller resolves missing `matchName`s before it renders, and the render
    /// declares the sets with the cache's contents. Whatever family succeeded is recorded even
    /// when the other failed.
    pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        let qname =
            Name::from_ascii(normalize(name)).map_err(|_| ResolveError::Name(name.into()))?;
        let (a, aaaa) = futures::join!(
            self.lookup(&qname, RecordType::A),
            self.lookup(&qname, RecordType::AAAA)
        );
        let now = Utc::now();
        let mut learned = Vec::new();
        let mut failure = None;
        for result in [a, aaaa] {
            match result {
                Ok(answers) => {
                    if let Some(chain) = self.shared.remember(&fqdn(&qname), &answers, now) {
                        learned.extend(chain.ips.into_iter().map(|(ip, _)| ip));
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(learned),
        }
    }

    async fn lookup(&self, qname: &Name, rtype: RecordType) -> Result<Vec<Record>, ResolveError> {
        let mut query = Message::new();
        query
            .set_id(random_id())
            .set_message_type(MessageType::Query)
            .set_op_code(OpCode::Query)
            .set_recursion_desired(true)
            .add_query(Query::query(qname.clone(), rtype));
        let mut edns = Edns::new();
        edns.set_max_payload(LOOKUP_PAYLOAD);
        query.set_edns(edns);
        let raw = query
            .to_vec()
            .map_err(|_| ResolveError::Name(qname.to_string()))?;

        let upstream = self.upstream();
        let shared = &self.shared;
        let fail = |source: io::Error| {
            inc(&shared.counters.upstream_errors);
            ResolveError::Upstream { upstream, source }
        };
        let mut response = exchange(upstream, &raw, Transport::Udp, shared.timeout)
            .await
            .map_err(fail)?
            .1;
        if response.truncated() {
            response = exchange(upstream, &raw, Transport::Tcp, shared.timeout)
                .await
                .map_err(fail)?
                .1;
        }
        match response.response_code() {
            ResponseCode::NoError => Ok(response.take_answers()),
            ResponseCode::NXDomain => Ok(Vec::new()),
            rcode => Err(ResolveError::Rcode {
                name: qname.to_string(),
                rtype,
                rcode,
            }),
        }
    }
}

impl ProxyHandle {
    /// The bound address (UDP and TCP), with the real port when `listen` had port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    pub fn proxy(&self) -> Proxy {
        self.proxy.clone()
    }

    pub fn stats(&self) -> ProxyStats {
        self.proxy.stats()
    }

    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.proxy.set_upstream(upstream);
    }

    pub async fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, ResolveError> {
        self.proxy.resolve(name).await
    }

    /// Stops serving and waits until the sockets are closed.
    pub async fn shutdown(mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        for task in &tasks {
            task.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// An id for our own lookups. It need not be unguessable: the exchange runs on a connected
/// socket with a fresh kernel-chosen source port, so no rand dependency for 16 bits.
fn random_id() -> u16 {
    use std::hash::BuildHasher as _;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    std::collections::hash_map::RandomState::new().hash_one(nanos) as u16
}

/// Forwards raw `query` bytes; returns the raw and the parsed response.
async fn exchange(
    upstream: SocketAddr,
    query: &[u8],
    transport: Transport,
    timeout: Duration,
) -> io::Result<(Vec<u8>, Message)> {
    let raw = match transport {
        Transport::Udp => upstream::udp(upstream, query, timeout).await?,
        Transport::Tcp => upstream::tcp(upstream, query, timeout).await?,
    };
    let message = Message::from_vec(&raw).map_err(io::Error::other)?;
    Ok((raw, message))
}

impl Shared {
    /// The reply to one client query, or `None` to send nothing (not a DNS query).
    pub(super) async fn handle(&self, raw: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let query = match Message::from_vec(raw) {
            Ok(q) if q.message_type() == MessageType::Query => q,
            Ok(_) => return None,
            Err(e) => {
                debug!(error = %e, "dropping unparseable query");
                return None;
            }
        };
        let upstream = *self.upstream.read();
        let (raw_response, response) = match exchange(upstream, raw, transport, self.timeout).await
        {
            Ok(r) => r,
            Err(e) => {
                inc(&self.counters.upstream_errors);
                warn!(%upstream, error = %e, "upstream failed, answering REFUSED");
                return answer::refused(&query).to_vec().ok();
            }
        };
        if response.response_code() == ResponseCode::NoError
            && let Some(q) = query.queries().first()
        {
            self.learn(&fqdn(q.name()), response.answers()).await;
        }
        match transport {
            Transport::Tcp => Some(raw_response),
            Transport::Udp => {
                let (bytes, truncated) = fit_udp(raw_response, &response, query.max_payload());
                if truncated {
                    inc(&self.counters.truncated);
                }
                Some(bytes)
            }
        }
    }

    /// Records the answer's chain in the cache and waits until the addresses are in the sets
    /// of every selector matching a name of the chain. Upstream sends the answer first and
    /// races the client's connection against the set update; we do not.
    async fn learn(&self, qname: &str, answers: &[Record]) {
        let now = Utc::now();
        let Some(chain) = self.remember(qname, answers, now) else {
            return;
        };
        let sets = self.sets_for(&chain, now);
        if sets.is_empty() {
            return;
        }
        if let Err(e) = self.sink.add(sets).await {
            inc(&self.counters.sink_errors);
            warn!(qname, error = %e, "adding resolved addresses to nft sets failed");
        }
    }

    /// Puts the chain's addresses in the cache; returns the chain when it had any.
    fn remember(&self, qname: &str, answers: &[Record], now: DateTime<Utc>) -> Option<Chain> {
        let mut chain = chain(qname, answers);
        if chain.ips.is_empty() {
            return None;
        }
        for (_, ttl) in &mut chain.ips {
            *ttl = (*ttl).max(MIN_TTL);
        }
        self.cache.lock().record(&chain.names, &chain.ips, now);
        debug!(names = ?chain.names, ips = ?chain.ips, "learned");
        Some(chain)
    }

    /// The non-empty sets of selectors matching any chain name, restricted to the chain's
    /// addresses (a pattern like `*` would otherwise resend the whole cache on every answer).
    /// Timeouts still come from the latest expiry among all names of the selector.
    fn sets_for(&self, chain: &Chain, now: DateTime<Utc>) -> BTreeMap<String, SetContents> {
        let matchers: Vec<Matcher> = self
            .matchers
            .borrow()
            .iter()
            .filter(|m| chain.names.iter().any(|n| m.matches(n)))
            .cloned()
            .collect();
        if matchers.is_empty() {
            return BTreeMap::new();
        }
        let fresh: BTreeSet<IpAddr> = chain.ips.iter().map(|(ip, _)| *ip).collect();
        let mut sets = self
            .cache
            .lock()
            .elements_where(&matchers, now, |ip| fresh.contains(ip));
        sets.retain(|_, s| !s.elements.is_empty());
        sets
    }
}

mod serve;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod tests;
