//! The listening side: sockets, accept loops, per-connection framing.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tracing::{Instrument as _, debug, debug_span, warn};

use super::{Shared, Transport, inc};
use crate::upstream::MAX_MESSAGE;

/// Queries being forwarded at once over UDP; more are dropped (the client retries).
const MAX_UDP_IN_FLIGHT: usize = 1024;
/// Open client TCP connections; more are closed on accept.
const MAX_TCP_CONNECTIONS: usize = 256;
/// A client TCP connection with no complete query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// UDP and TCP on one port; with port 0, the UDP port is picked first and retried if TCP has
/// it taken.
pub(super) async fn bind(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    if listen.port() != 0 {
        return Ok((
            UdpSocket::bind(listen).await?,
            TcpListener::bind(listen).await?,
        ));
    }
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(listen).await?;
        let mut addr = listen;
        addr.set_port(udp.local_addr()?.port());
        match TcpListener::bind(addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("tried at least once"))
}

pub(super) async fn udp(shared: Arc<Shared>, socket: Arc<UdpSocket>) {
    let mut in_flight = JoinSet::new();
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (len, peer) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        debug!(error = %e, "udp receive failed");
                        continue;
                    }
                };
                inc(&shared.counters.queries_udp);
                if in_flight.len() >= MAX_UDP_IN_FLIGHT {
                    debug!(%peer, "too many queries in flight, dropping one");
                    continue;
                }
                let query = buf[..len].to_vec();
                let (shared, socket) = (shared.clone(), socket.clone());
                let span = debug_span!("dns", transport = "udp", %peer);
                in_flight.spawn(
                    async move {
                        if let Some(reply) = shared.handle(&query, Transport::Udp).await
                            && let Err(e) = socket.send_to(&reply, peer).await
                        {
                            debug!(error = %e, "udp reply failed");
                        }
                    }
                    .instrument(span),
                );
            }
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
}

pub(super) async fn tcp(shared: Arc<Shared>, listener: TcpListener) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if connections.len() >= MAX_TCP_CONNECTIONS {
                        debug!(%peer, "too many tcp connections, closing one");
                        continue;
                    }
                    let span = debug_span!("dns", transport = "tcp", %peer);
                    connections.spawn(connection(shared.clone(), stream).instrument(span));
                }
                Err(e) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Queries on one connection are answered in order (RFC 7766 allows that).
async fn connection(shared: Arc<Shared>, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    loop {
        let query = async {
            let len = stream.read_u16().await?;
            let mut query = vec![0u8; usize::from(len)];
            stream.read_exact(&mut query).await?;
            io::Result::Ok(query)
        };
        let Ok(Ok(query)) = tokio::time::timeout(TCP_IDLE, query).await else {
            return;
        };
        inc(&shared.counters.queries_tcp);
        let Some(reply) = shared.handle(&query, Transport::Tcp).await else {
            return;
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
