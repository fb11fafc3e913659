//! The proxy against a real test DNS server, over real sockets on 127.0.0.1.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use kube_resources::cwnp::FqdnSelector;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::watch;

use super::test_server::TestServer;
use super::*;
use crate::selector::Family;

const WAIT: Duration = Duration::from_secs(5);

/// Records every `add`, after sleeping `delay`; fails every call when `fail`.
#[derive(Clone, Default)]
struct RecordingSink {
    delay: Duration,
    fail: bool,
    calls: Arc<Mutex<Vec<BTreeMap<String, SetContents>>>>,
}

impl SetSink for RecordingSink {
    fn add(&self, sets: BTreeMap<String, SetContents>) -> BoxFuture<'static, Result<(), String>> {
        let this = self.clone();
        async move {
            tokio::time::sleep(this.delay).await;
            this.calls.lock().push(sets);
            if this.fail {
                Err("set does not exist".into())
            } else {
                Ok(())
            }
        }
        .boxed()
    }
}

impl RecordingSink {
    fn calls(&self) -> Vec<BTreeMap<String, SetContents>> {
        self.calls.lock().clone()
    }
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

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Fixture {
    server: TestServer,
    proxy: ProxyHandle,
    cache: Arc<Mutex<Cache>>,
    sink: RecordingSink,
    matchers: watch::Sender<Arc<Vec<Matcher>>>,
}

async fn fixture_with(matchers: Vec<Matcher>, sink: RecordingSink, timeout: Duration) -> Fixture {
    let server = TestServer::start().await;
    let cache = Arc::new(Mutex::new(Cache::new()));
    let (tx, rx) = watch::channel(Arc::new(matchers));
    let mut config = ProxyConfig::new("127.0.0.1:0".parse().unwrap(), server.addr);
    config.timeout = timeout;
    let proxy = Proxy::start(config, cache.clone(), rx, Arc::new(sink.clone()))
        .await
        .unwrap();
    Fixture {
        server,
        proxy,
        cache,
        sink,
        matchers: tx,
    }
}

async fn fixture(matchers: Vec<Matcher>) -> Fixture {
    fixture_with(matchers, RecordingSink::default(), Duration::from_secs(10)).await
}

fn query(id: u16, name: &str, rtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    let mut q = Message::new();
    q.set_id(id)
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        q.set_edns(e);
    }
    q.to_vec().unwrap()
}

async fn ask_udp(to: SocketAddr, query: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(query, to).await.unwrap();
    let mut buf = vec![0u8; 65_535];
    let (len, _) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("a reply")
        .unwrap();
    buf.truncate(len);
    buf
}

async fn ask_tcp(to: SocketAddr, query: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(to).await.unwrap();
    let len = u16::try_from(query.len()).unwrap().to_be_bytes();
    stream.write_all(&[&len[..], query].concat()).await.unwrap();
    let exchange = async {
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.unwrap();
        buf
    };
    tokio::time::timeout(WAIT, exchange).await.expect("a reply")
}

fn parse(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).unwrap()
}

#[tokio::test]
async fn udp_answer_passes_through_unchanged() {
    let f = fixture(vec![]).await;
    let reply = ask_udp(
        f.proxy.local_addr(),
        &query(0xbeef, "A.Example.com.", RecordType::A, None),
    )
    .await;
    assert_eq!(
        reply,
        f.server.sent(0xbeef),
        "byte for byte what the upstream sent"
    );
    let m = parse(&reply);
    assert_eq!(m.id(), 0xbeef);
    assert_eq!(m.message_type(), MessageType::Response);
    assert!(m.authoritative() && m.recursion_available() && m.recursion_desired());
    assert_eq!(m.answers().len(), 1);
    assert_eq!(f.server.udp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(f.server.tcp_queries.load(Ordering::SeqCst), 0);
    assert_eq!(
        f.proxy.stats(),
        ProxyStats {
            queries_udp: 1,
            ..ProxyStats::default()
        }
    );
    // Learned although no selector wants it yet; no selector, no sink call.
    assert!(
        f.cache
            .lock()
            .get("a.example.com")
            .unwrap()
            .contains_key(&ip("192.0.2.1"))
    );
    assert!(f.sink.calls().is_empty());
}

#[tokio::test]
async fn chain_reaches_cache_and_sets_before_the_reply() {
    let www = by_name("www.example.com");
    let multi_level = by_pattern("*.example.net");
    let unrelated = by_name("a.example.com");
    let sink = RecordingSink {
        delay: Duration::from_millis(200),
        ..RecordingSink::default()
    };
    let f = fixture_with(
        vec![www.clone(), multi_level.clone(), unrelated.clone()],
        sink,
        Duration::from_secs(10),
    )
    .await;

    let started = Instant::now();
    let reply = ask_udp(
        f.proxy.local_addr(),
        &query(1, "WWW.example.com.", RecordType::A, None),
    )
    .await;
    // Checked right after the client's recv returned: the sink has already finished.
    let calls = f.sink.calls();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(reply, f.server.sent(1));
    assert_eq!(calls.len(), 1, "one sink call per answer");
    let expected = SetContents {
        family: Family::V4,
        elements: BTreeMap::from([(ip("192.0.2.10"), 30)]),
    };
    assert_eq!(
        calls[0],
        BTreeMap::from([
            (www.set_name(Family::V4), expected.clone()),
            (multi_level.set_name(Family::V4), expected),
        ]),
        "only the selectors matching the chain, only non-empty sets"
    );

    let cache = f.cache.lock();
    for name in [
        "www.example.com.",
        "edge.cdn.example.net.",
        "host.cdn.example.net.",
    ] {
        let ips = cache.get(name).unwrap_or_else(|| panic!("{name} cached"));
        let left = (ips[&ip("192.0.2.10")] - Utc::now()).num_seconds();
        assert!((28..=30).contains(&left), "{name}: {left}");
    }
    assert_eq!(cache.len(), 3);
}

#[tokio::test]
async fn aaaa_answers_fill_v6_sets() {
    let dual = by_name("dual.example.com");
    let f = fixture(vec![dual.clone()]).await;
    let reply = ask_udp(
        f.proxy.local_addr(),
        &query(2, "dual.example.com.", RecordType::AAAA, None),
    )
    .await;
    assert_eq!(parse(&reply).answers().len(), 1);
    assert_eq!(
        f.sink.calls(),
        [BTreeMap::from([(
            dual.set_name(Family::V6),
            SetContents {
                family: Family::V6,
                elements: BTreeMap::from([(ip("2001:db8::2"), 200)]),
            }
        )])]
    );
    assert!(
        f.cache
            .lock()
            .get("dual.example.com")
            .unwrap()
            .contains_key(&ip("2001:db8::2"))
    );
}

#[tokio::test]
async fn tcp_is_forwarded_over_tcp() {
    let pattern = by_pattern("*.cdn.example.net");
    let f = fixture(vec![pattern.clone()]).await;
    let addr = f.proxy.local_addr();
    let reply = ask_tcp(addr, &query(3, "www.example.com.", RecordType::AAAA, None)).await;
    assert_eq!(reply, f.server.sent(3));
    assert_eq!(parse(&reply).answers().len(), 3);
    assert_eq!(f.server.tcp_queries.load(Ordering::SeqCst), 1);
    assert_eq!(f.server.udp_queries.load(Ordering::SeqCst), 0);
    assert_eq!(f.proxy.stats().queries_tcp, 1);
    assert_eq!(
        f.sink.calls()[0][&pattern.set_name(Family::V6)].elements,
        BTreeMap::from([(ip("2001:db8::10"), 40)])
    );
    // Two queries on one connection, answered in order.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    for id in [31, 32] {
        let q = query(id, "a.example.com.", RecordType::A, None);
        let len = u16::try_from(q.len()).unwrap().to_be_bytes();
        stream.write_all(&[&len[..], &q].concat()).await.unwrap();
    }
    for id in [31, 32] {
        let len = stream.read_u16().await.unwrap();
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(parse(&buf).id(), id);
    }
}

#[tokio::test]
async fn udp_is_truncated_to_the_clients_buffer() {
    let big = by_name("big.example.com");
    let f = fixture(vec![big.clone()]).await;
    let addr = f.proxy.local_addr();

    let reply = ask_udp(addr, &query(4, "big.example.com.", RecordType::A, None)).await;
    assert!(reply.len() <= 512, "{}", reply.len());
    assert!(f.server.sent(4).len() > 512, "the upstream sent more");
    let m = parse(&reply);
    assert!(m.truncated());
    assert_eq!(m.id(), 4);
    assert!(m.answers().is_empty());
    assert_eq!(m.queries().len(), 1);
    assert_eq!(f.proxy.stats().truncated, 1);
    // The proxy saw the whole answer, so the set has all of it anyway.
    assert_eq!(
        f.sink.calls()[0][&big.set_name(Family::V4)].elements.len(),
        60
    );

    // With a big enough EDNS buffer the answer passes whole; over TCP too.
    let reply = ask_udp(
        addr,
        &query(5, "big.example.com.", RecordType::A, Some(4096)),
    )
    .await;
    assert_eq!(reply, f.server.sent(5));
    assert_eq!(parse(&reply).answers().len(), 60);
    let reply = ask_tcp(addr, &query(6, "big.example.com.", RecordType::A, None)).await;
    assert_eq!(parse(&reply).answers().len(), 60);
    assert_eq!(f.proxy.stats().truncated, 1);
}

#[tokio::test]
async fn servfail_passes_through_and_teaches_nothing() {
    let f = fixture(vec![by_pattern("*")]).await;
    let reply = ask_udp(
        f.proxy.local_addr(),
        &query(7, "servfail.example.com.", RecordType::A, None),
    )
    .await;
    assert_eq!(reply, f.server.sent(7));
    assert_eq!(parse(&reply).response_code(), ResponseCode::ServFail);
    assert!(f.cache.lock().is_empty());
    assert!(f.sink.calls().is_empty());
    assert_eq!(f.proxy.stats().upstream_errors, 0);
}

#[tokio::test]
async fn upstream_timeout_is_refused() {
    let f = fixture_with(vec![], RecordingSink::default(), Duration::from_millis(300)).await;
    let started = Instant::now();
    for (id, tcp) in [(8u16, false), (9, true)] {
        let q = query(id, "slow.example.com.", RecordType::A, None);
        let reply = if tcp {
            ask_tcp(f.proxy.local_addr(), &q).await
        } else {
            ask_udp(f.proxy.local_addr(), &q).await
        };
        let m = parse(&reply);
        assert_eq!(m.id(), id);
        assert_eq!(m.response_code(), ResponseCode::Refused);
        assert_eq!(m.queries()[0].name().to_ascii(), "slow.example.com.");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(f.proxy.stats().upstream_errors, 2);
}

#[tokio::test]
async fn dead_upstream_is_refused_until_set_upstream() {
    let f = fixture(vec![]).await;
    // A port nobody listens on (UDP nor TCP).
    let dead = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    f.proxy.set_upstream(dead);
    assert_eq!(f.proxy.proxy().upstream(), dead);
    let addr = f.proxy.local_addr();
    let udp = parse(&ask_udp(addr, &query(10, "a.example.com.", RecordType::A, None)).await);
    let tcp = parse(&ask_tcp(addr, &query(11, "a.example.com.", RecordType::A, None)).await);
    for (m, id) in [(udp, 10), (tcp, 11)] {
        assert_eq!(m.id(), id);
        assert_eq!(m.response_code(), ResponseCode::Refused);
    }
    assert_eq!(f.proxy.stats().upstream_errors, 2);

    f.proxy.set_upstream(f.server.addr);
    let m = parse(&ask_udp(addr, &query(12, "a.example.com.", RecordType::A, None)).await);
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert_eq!(m.answers().len(), 1);
}

#[tokio::test]
async fn sink_failure_is_counted_and_the_answer_still_sent() {
    let a = by_name("a.example.com");
    let sink = RecordingSink {
        fail: true,
        ..RecordingSink::default()
    };
    let f = fixture_with(vec![a], sink, Duration::from_secs(10)).await;
    let reply = ask_udp(
        f.proxy.local_addr(),
        &query(13, "a.example.com.", RecordType::A, None),
    )
    .await;
    assert_eq!(reply, f.server.sent(13));
    assert_eq!(f.sink.calls().len(), 1);
    assert_eq!(f.proxy.stats().sink_errors, 1);
    assert!(f.cache.lock().get("a.example.com").is_some());
}

#[tokio::test]
async fn new_matchers_apply_to_the_next_answer() {
    let f = fixture(vec![]).await;
    let addr = f.proxy.local_addr();
    ask_udp(addr, &query(14, "a.example.com.", RecordType::A, None)).await;
    assert!(f.sink.calls().is_empty());
    let a = by_name("a.example.com");
    f.matchers.send(Arc::new(vec![a.clone()])).unwrap();
    ask_udp(addr, &query(15, "a.example.com.", RecordType::A, None)).await;
    let calls = f.sink.calls();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0][&a.set_name(Family::V4)]
            .elements
            .contains_key(&ip("192.0.2.1"))
    );
}

#[tokio::test]
async fn zero_ttl_still_opens_the_set_for_a_second() {
    let zero = by_name("zero.example.com");
    let f = fixture(vec![zero.clone()]).await;
    ask_udp(
        f.proxy.local_addr(),
        &query(16, "zero.example.com.", RecordType::A, None),
    )
    .await;
    assert_eq!(
        f.sink.calls()[0][&zero.set_name(Family::V4)].elements,
        BTreeMap::from([(ip("192.0.2.30"), 1)])
    );
}

#[tokio::test]
async fn resolve_records_both_families_of_the_chain() {
    let f = fixture(vec![by_name("www.example.com")]).await;
    let mut learned = f.proxy.resolve("WWW.example.com").await.unwrap();
    learned.sort();
    assert_eq!(learned, [ip("192.0.2.10"), ip("2001:db8::10")]);
    let cache = f.cache.lock();
    for name in [
        "www.example.com.",
        "edge.cdn.example.net.",
        "host.cdn.example.net.",
    ] {
        assert_eq!(cache.get(name).unwrap().len(), 2, "{name}");
    }
    assert!(
        f.sink.calls().is_empty(),
        "resolve feeds the render, not the sink"
    );
}

#[tokio::test]
async fn resolve_retries_truncated_answers_over_tcp() {
    let f = fixture(vec![]).await;
    let mut learned = f.proxy.resolve("tc.example.com").await.unwrap();
    learned.sort();
    assert_eq!(learned, [ip("192.0.2.20"), ip("2001:db8::20")]);
    assert_eq!(f.server.udp_queries.load(Ordering::SeqCst), 2);
    assert_eq!(f.server.tcp_queries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn resolve_reports_failures_and_accepts_nxdomain() {
    let f = fixture_with(vec![], RecordingSink::default(), Duration::from_millis(300)).await;
    assert_eq!(
        f.proxy.resolve("nothing.example.com").await.unwrap(),
        Vec::<IpAddr>::new()
    );
    assert!(matches!(
        f.proxy.resolve("servfail.example.com").await,
        Err(ResolveError::Rcode {
            rcode: ResponseCode::ServFail,
            ..
        })
    ));
    assert!(matches!(
        f.proxy.resolve("slow.example.com").await,
        Err(ResolveError::Upstream { .. })
    ));
    assert_eq!(f.proxy.stats().upstream_errors, 2, "A and AAAA timed out");
    let too_long_label = format!("{}.com", "x".repeat(64));
    assert!(matches!(
        f.proxy.resolve(&too_long_label).await,
        Err(ResolveError::Name(_))
    ));
    assert!(f.cache.lock().is_empty());
}

#[tokio::test]
async fn shutdown_closes_both_sockets() {
    let f = fixture(vec![]).await;
    let addr = f.proxy.local_addr();
    assert_ne!(addr.port(), 0);
    ask_tcp(addr, &query(17, "a.example.com.", RecordType::A, None)).await;
    f.proxy.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "tcp listener closed"
    );
    // The UDP port can be bound again, so the proxy's socket is gone.
    UdpSocket::bind(addr).await.unwrap();
}
