//! A tiny authoritative DNS server on 127.0.0.1 (UDP and TCP, one port) for the proxy tests.
//!
//! Zone (names are case-insensitive):
//! - `a.example.com` A 192.0.2.1 (300 s)
//! - `dual.example.com` A 192.0.2.2 (100 s), AAAA 2001:db8::2 (200 s)
//! - `www.example.com` CNAME `edge.cdn.example.net` CNAME `host.cdn.example.net`,
//!   A 192.0.2.10 (30 s), AAAA 2001:db8::10 (40 s)
//! - `big.example.com` 60 × A 198.51.100.x, sent whole even over UDP without EDNS
//! - `tc.example.com` over UDP: an empty TC answer; over TCP: A 192.0.2.20, AAAA 2001:db8::20
//! - `zero.example.com` A 192.0.2.30 with TTL 0
//! - `servfail.example.com` SERVFAIL; `slow.example.com` never answered; anything else NXDOMAIN

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Edns, Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::task::JoinHandle;

pub(super) struct TestServer {
    pub addr: SocketAddr,
    /// Response bytes sent, by message id.
    pub sent: Arc<Mutex<HashMap<u16, Vec<u8>>>>,
    pub udp_queries: Arc<AtomicUsize>,
    pub tcp_queries: Arc<AtomicUsize>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

fn addr(owner: &str, ip: &str, ttl: u32) -> Record {
    let rdata = match ip.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(name(owner), ttl, rdata)
}

fn cname(owner: &str, target: &str) -> Record {
    Record::from_rdata(name(owner), 3600, RData::CNAME(CNAME(name(target))))
}

/// The reply to `query`, or `None` to stay silent.
fn respond(query: &Message, tcp: bool) -> Option<Message> {
    let q = query.queries().first()?;
    let qname = q.name().to_ascii().to_ascii_lowercase();
    let qtype = q.query_type();
    let mut r = Message::new();
    r.set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(query.op_code())
        .set_authoritative(true)
        .set_recursion_desired(query.recursion_desired())
        .set_recursion_available(true)
        .add_queries(query.queries().iter().cloned());
    if query.extensions().is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(4096);
        r.set_edns(edns);
    }
    let (a, aaaa) = (qtype == RecordType::A, qtype == RecordType::AAAA);
    match qname.as_str() {
        "slow.example.com." => return None,
        "servfail.example.com." => {
            r.set_response_code(ResponseCode::ServFail);
        }
        "a.example.com." if a => {
            r.add_answer(addr("a.example.com.", "192.0.2.1", 300));
        }
        "dual.example.com." if a => {
            r.add_answer(addr("dual.example.com.", "192.0.2.2", 100));
        }
        "dual.example.com." if aaaa => {
            r.add_answer(addr("dual.example.com.", "2001:db8::2", 200));
        }
        "www.example.com." if a || aaaa => {
            r.add_answer(cname("www.example.com.", "edge.cdn.example.net."));
            r.add_answer(cname("edge.cdn.example.net.", "host.cdn.example.net."));
            r.add_answer(if a {
                addr("host.cdn.example.net.", "192.0.2.10", 30)
            } else {
                addr("host.cdn.example.net.", "2001:db8::10", 40)
            });
        }
        "big.example.com." if a => {
            for i in 0..60 {
                r.add_answer(addr("big.example.com.", &format!("198.51.100.{i}"), 60));
            }
        }
        "tc.example.com." if !tcp => {
            r.set_truncated(true);
        }
        "tc.example.com." if a => {
            r.add_answer(addr("tc.example.com.", "192.0.2.20", 50));
        }
        "tc.example.com." if aaaa => {
            r.add_answer(addr("tc.example.com.", "2001:db8::20", 50));
        }
        "zero.example.com." if a => {
            r.add_answer(addr("zero.example.com.", "192.0.2.30", 0));
        }
        "a.example.com." | "dual.example.com." | "www.example.com." | "big.example.com."
        | "tc.example.com." | "zero.example.com." => {} // NODATA
        _ => {
            r.set_response_code(ResponseCode::NXDomain);
        }
    }
    Some(r)
}

impl TestServer {
    pub async fn start() -> TestServer {
        // The proxy's own binding: UDP and TCP on one free port, retried when another
        // process holds the TCP side of the port UDP got.
        let (udp, tcp) = super::serve::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = udp.local_addr().unwrap();
        let sent = Arc::new(Mutex::new(HashMap::new()));
        let udp_queries = Arc::new(AtomicUsize::new(0));
        let tcp_queries = Arc::new(AtomicUsize::new(0));

        let udp_task = {
            let (sent, count) = (sent.clone(), udp_queries.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_535];
                loop {
                    let (len, peer) = udp.recv_from(&mut buf).await.unwrap();
                    count.fetch_add(1, Ordering::SeqCst);
                    let query = Message::from_vec(&buf[..len]).unwrap();
                    if let Some(reply) = respond(&query, false) {
                        let bytes = reply.to_vec().unwrap();
                        sent.lock().insert(query.id(), bytes.clone());
                        udp.send_to(&bytes, peer).await.unwrap();
                    }
                }
            })
        };
        let tcp_task = {
            let (sent, count) = (sent.clone(), tcp_queries.clone());
            tokio::spawn(async move {
                loop {
                    let (mut stream, _) = tcp.accept().await.unwrap();
                    let (sent, count) = (sent.clone(), count.clone());
                    tokio::spawn(async move {
                        while let Ok(len) = stream.read_u16().await {
                            let mut buf = vec![0u8; usize::from(len)];
                            stream.read_exact(&mut buf).await.unwrap();
                            count.fetch_add(1, Ordering::SeqCst);
                            let query = Message::from_vec(&buf).unwrap();
                            let Some(reply) = respond(&query, true) else {
                                continue;
                            };
                            let bytes = reply.to_vec().unwrap();
                            sent.lock().insert(query.id(), bytes.clone());
                            let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
                            stream
                                .write_all(&[&len[..], &bytes].concat())
                                .await
                                .unwrap();
                        }
                    });
                }
            })
        };
        TestServer {
            addr,
            sent,
            udp_queries,
            tcp_queries,
            tasks: vec![udp_task, tcp_task],
        }
    }

    pub fn sent(&self, id: u16) -> Vec<u8> {
        self.sent
            .lock()
            .get(&id)
            .cloned()
            .expect("server answered this id")
    }
}
