//! One query/response exchange with the upstream resolver, per transport.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};

/// Largest DNS message: UDP datagram or TCP length prefix.
pub(crate) const MAX_MESSAGE: usize = 65_535;

fn id_of(message: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*message.first()?, *message.get(1)?]))
}

fn timed_out(what: &str, timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("upstream {what} timed out after {timeout:?}"),
    )
}

/// Sends `query` over UDP from a fresh socket (a new random source port per query) and
/// returns the first datagram carrying the same id.
pub(crate) async fn udp(
    upstream: SocketAddr,
    query: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let id = id_of(query).ok_or_else(|| io::Error::other("query shorter than an id"))?;
    let exchange = async {
        let local: SocketAddr = if upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        // Connected: the kernel drops datagrams from anyone but the upstream.
        socket.connect(upstream).await?;
        socket.send(query).await?;
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let len = socket.recv(&mut buf).await?;
            if id_of(&buf[..len]) == Some(id) {
                buf.truncate(len);
                return Ok(buf);
            }
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| timed_out("udp", timeout))?
}

/// Sends `query` over a new TCP connection with 2-byte length framing; returns the response.
pub(crate) async fn tcp(
    upstream: SocketAddr,
    query: &[u8],
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let len = u16::try_from(query.len()).map_err(|_| io::Error::other("query too long"))?;
    let exchange = async {
        let mut stream = TcpStream::connect(upstream).await?;
        stream.set_nodelay(true)?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(query);
        stream.write_all(&framed).await?;
        let len = stream.read_u16().await?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await?;
        if id_of(&buf) != id_of(query) {
            return Err(io::Error::other("upstream answered with another id"));
        }
        Ok(buf)
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| timed_out("tcp", timeout))?
}
