//! A small network tool for the firewall tests, run inside network namespaces
//! (`ip netns exec NS net-probe ...`):
//!
//! - `serve ADDR...`: TCP listeners; each connection gets `hello\n`, then everything sent is
//!   counted and, at EOF, the byte count is written back.
//! - `connect ADDR [TIMEOUT_MS]`: exit 0 and print `connected` when a listener greets us,
//!   exit 1 (`blocked: ...`) otherwise.
//! - `send ADDR BYTES`: push BYTES through a connection; print `{"bytes":..,"seconds":..}`.
//! - `rate ADDR COUNT`: open COUNT connections one after another (each greeted, then closed);
//!   print `{"connections":..,"seconds":..}`: the cost of new flows through a ruleset.
//! - `dns ADDR NAME=IP[,IP]...`: an authoritative DNS server (UDP and TCP) answering A/AAAA
//!   for those names with TTL 60, NXDOMAIN for others.
//! - `resolve SERVER NAME`: one A and one AAAA query over UDP; print the addresses.
//! - `relay FROM TO`: accept on FROM, connect each connection to TO and copy both ways; each
//!   is `tcp:ADDR` or `unix:PATH`. Unix sockets cross network namespaces, so two relays join
//!   a TCP server on the host's loopback to a namespace's loopback without new interfaces.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("connect") => connect(
            &args[1],
            args.get(2).and_then(|t| t.parse().ok()).unwrap_or(1500),
        ),
        Some("send") => send(&args[1], args[2].parse().expect("BYTES")),
        Some("rate") => rate(&args[1], args[2].parse().expect("COUNT")),
        Some("dns") => dns(&args[1], &args[2..]),
        Some("resolve") => resolve(&args[1], &args[2]),
        Some("relay") => relay(&args[1], &args[2]),
        _ => {
            eprintln!("usage: net-probe serve|connect|send|dns|resolve ...");
            2
        }
    };
    std::process::exit(code);
}

fn serve(addrs: &[String]) -> i32 {
    let mut threads = Vec::new();
    for addr in addrs {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        threads.push(std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || handle(stream));
            }
        }));
    }
    println!("listening");
    for t in threads {
        let _ = t.join();
    }
    0
}

fn handle(mut stream: TcpStream) {
    let _ = stream.write_all(b"hello\n");
    let mut buf = vec![0u8; 256 * 1024];
    let mut total: u64 = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n as u64,
        }
    }
    let _ = stream.write_all(format!("{total}\n").as_bytes());
}

fn greet(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    let addr: SocketAddr = addr.parse().expect("ADDR");
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut hello = [0u8; 6];
    stream.read_exact(&mut hello)?;
    if &hello != b"hello\n" {
        return Err(std::io::Error::other("no greeting"));
    }
    Ok(stream)
}

fn connect(addr: &str, timeout_ms: u64) -> i32 {
    match greet(addr, Duration::from_millis(timeout_ms)) {
        Ok(_) => {
            println!("connected");
            0
        }
        Err(e) => {
            println!("blocked: {e}");
            1
        }
    }
}

fn send(addr: &str, bytes: u64) -> i32 {
    let mut stream = match greet(addr, Duration::from_secs(3)) {
        Ok(s) => s,
        Err(e) => {
            println!("blocked: {e}");
            return 1;
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let chunk = vec![0x5au8; 256 * 1024];
    let start = Instant::now();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n]).expect("send");
        left -= n as u64;
    }
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let seconds = start.elapsed().as_secs_f64();
    let received: u64 = answer.trim().parse().unwrap_or(0);
    println!("{{\"bytes\":{received},\"seconds\":{seconds}}}");
    if received == bytes { 0 } else { 1 }
}

fn rate(addr: &str, count: u32) -> i32 {
    let start = Instant::now();
    for _ in 0..count {
        match greet(addr, Duration::from_secs(3)) {
            Ok(stream) => drop(stream),
            Err(e) => {
                println!("blocked: {e}");
                return 1;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!("{{\"connections\":{count},\"seconds\":{seconds}}}");
    0
}

fn records(table: &HashMap<String, Vec<IpAddr>>, query: &Query) -> Option<Vec<Record>> {
    let name = query.name().to_ascii().to_lowercase();
    let ips = table.get(name.trim_end_matches('.'))?;
    Some(
        ips.iter()
            .filter_map(|ip| {
                let data = match (ip, query.query_type()) {
                    (IpAddr::V4(v4), RecordType::A) => RData::A(rdata::A(*v4)),
                    (IpAddr::V6(v6), RecordType::AAAA) => RData::AAAA(rdata::AAAA(*v6)),
                    _ => return None,
                };
                Some(Record::from_rdata(query.name().clone(), 60, data))
            })
            .collect(),
    )
}

fn answer(table: &HashMap<String, Vec<IpAddr>>, request: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(request).ok()?;
    let mut reply = Message::new();
    reply
        .set_id(request.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_authoritative(true)
        .set_recursion_desired(request.recursion_desired())
        .set_recursion_available(true);
    for q in request.queries() {
        reply.add_query(q.clone());
        match records(table, q) {
            Some(rs) => {
                reply.add_answers(rs);
            }
            None => {
                reply.set_response_code(ResponseCode::NXDomain);
            }
        }
    }
    reply.to_vec().ok()
}

fn dns(addr: &str, entries: &[String]) -> i32 {
    let mut table: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for e in entries {
        let (name, ips) = e.split_once('=').expect("NAME=IP,IP");
        table.insert(
            name.to_lowercase(),
            ips.split(',').map(|ip| ip.parse().expect("IP")).collect(),
        );
    }
    let table = std::sync::Arc::new(table);
    let udp = UdpSocket::bind(addr).unwrap_or_else(|e| panic!("bind udp {addr}: {e}"));
    let tcp = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind tcp {addr}: {e}"));
    let tcp_table = table.clone();
    std::thread::spawn(move || {
        for mut stream in tcp.incoming().flatten() {
            let table = tcp_table.clone();
            std::thread::spawn(move || {
                let mut len = [0u8; 2];
                while stream.read_exact(&mut len).is_ok() {
                    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
                    if stream.read_exact(&mut msg).is_err() {
                        return;
                    }
                    if let Some(reply) = answer(&table, &msg) {
                        let _ = stream.write_all(&(reply.len() as u16).to_be_bytes());
                        let _ = stream.write_all(&reply);
                    }
                }
            });
        }
    });
    println!("listening");
    let mut buf = [0u8; 4096];
    loop {
        let Ok((n, peer)) = udp.recv_from(&mut buf) else {
            continue;
        };
        if let Some(reply) = answer(&table, &buf[..n]) {
            let _ = udp.send_to(&reply, peer);
        }
    }
}

fn resolve(server: &str, name: &str) -> i32 {
    let server: SocketAddr = server.parse().expect("SERVER");
    let bind = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut found = Vec::new();
    for (id, rtype) in [(1u16, RecordType::A), (2, RecordType::AAAA)] {
        let mut query = Message::new();
        query
            .set_id(id)
            .set_recursion_desired(true)
            .add_query(Query::query(Name::from_ascii(name).expect("NAME"), rtype));
        socket.send_to(&query.to_vec().unwrap(), server).unwrap();
        let mut buf = [0u8; 4096];
        let Ok(n) = socket.recv(&mut buf) else {
            println!("no answer");
            return 1;
        };
        let reply = Message::from_vec(&buf[..n]).expect("reply");
        for r in reply.answers() {
            match r.data() {
                RData::A(a) => found.push(a.0.to_string()),
                RData::AAAA(a) => found.push(a.0.to_string()),
                _ => {}
            }
        }
    }
    println!("{}", found.join(" "));
    if found.is_empty() { 1 } else { 0 }
}

enum Endpoint {
    Tcp(String),
    Unix(String),
}

fn endpoint(text: &str) -> Endpoint {
    match text.split_once(':') {
        Some(("tcp", addr)) => Endpoint::Tcp(addr.to_string()),
        Some(("unix", path)) => Endpoint::Unix(path.to_string()),
        _ => panic!("{text}: want tcp:ADDR or unix:PATH"),
    }
}

trait Stream: Read + Write + Send + 'static {
    fn split(&self) -> Box<dyn Stream>;
    /// Shuts the socket itself down (every clone of it), so a peer blocked on it sees EOF.
    fn close(&self);
}

impl Stream for TcpStream {
    fn split(&self) -> Box<dyn Stream> {
        Box::new(self.try_clone().expect("clone"))
    }
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

impl Stream for std::os::unix::net::UnixStream {
    fn split(&self) -> Box<dyn Stream> {
        Box::new(self.try_clone().expect("clone"))
    }
    fn close(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }
}

fn dial(to: &Endpoint) -> std::io::Result<Box<dyn Stream>> {
    Ok(match to {
        Endpoint::Tcp(addr) => Box::new(TcpStream::connect(addr)?),
        Endpoint::Unix(path) => Box::new(std::os::unix::net::UnixStream::connect(path)?),
    })
}

/// Copies both ways until either side ends, then closes both: a clone held by the other
/// direction's thread must not keep a finished connection open.
fn pump(mut a: Box<dyn Stream>, mut b: Box<dyn Stream>) {
    let (mut a2, mut b2) = (a.split(), b.split());
    let forward = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a2, &mut b2);
        a2.close();
        b2.close();
    });
    let _ = std::io::copy(&mut b, &mut a);
    a.close();
    b.close();
    let _ = forward.join();
}

fn relay(from: &str, to: &str) -> i32 {
    let to = std::sync::Arc::new(endpoint(to));
    let accept: Box<dyn Iterator<Item = Box<dyn Stream>>> = match endpoint(from) {
        Endpoint::Tcp(addr) => {
            let l = TcpListener::bind(&addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
            println!("listening");
            Box::new(std::iter::from_fn(move || {
                Some(Box::new(l.accept().ok()?.0) as Box<dyn Stream>)
            }))
        }
        Endpoint::Unix(path) => {
            let _ = std::fs::remove_file(&path);
            let l = std::os::unix::net::UnixListener::bind(&path)
                .unwrap_or_else(|e| panic!("bind {path}: {e}"));
            println!("listening");
            Box::new(std::iter::from_fn(move || {
                Some(Box::new(l.accept().ok()?.0) as Box<dyn Stream>)
            }))
        }
    };
    for inbound in accept {
        let to = to.clone();
        std::thread::spawn(move || match dial(&to) {
            Ok(outbound) => pump(inbound, outbound),
            Err(_) => inbound.close(),
        });
    }
    0
}
