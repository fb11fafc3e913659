use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::*;

fn opts(url: String) -> Options {
    Options {
        url,
        cacert: None,
        timeout: Duration::from_secs(3),
        insecure_skip_verify: false,
        retries: 0,
        retry_delay: Duration::from_secs(1),
    }
}

/// Reads one request head from `stream`; returns its lines.
fn read_head(stream: &mut impl std::io::Read) -> Vec<String> {
    let mut reader = BufReader::new(stream);
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            return lines;
        }
        lines.push(line.trim_end().to_string());
    }
}

/// A one-shot HTTP server answering `response`; the thread returns the request head.
fn serve_once(response: &'static str) -> (SocketAddr, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let head = read_head(&mut stream);
        stream.write_all(response.as_bytes()).unwrap();
        head
    });
    (addr, handle)
}

#[test]
fn ok_on_2xx() {
    let (addr, server) = serve_once("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
    let line = probe(&opts(format!("http://{addr}/readyz?verbose"))).unwrap();
    assert_eq!(line, format!("ok: http://{addr}/readyz?verbose: 200 OK"));
    let head = server.join().unwrap();
    assert_eq!(head[0], "GET /readyz?verbose HTTP/1.1");
    assert!(head.contains(&format!("Host: {addr}")), "{head:?}");
    assert!(head.contains(&"Connection: close".to_string()), "{head:?}");

    let (addr, _server) = serve_once("HTTP/1.1 204 No Content\r\n\r\n");
    assert!(probe(&opts(format!("http://{addr}"))).is_ok());
}

#[test]
fn fails_on_503() {
    let (addr, _server) =
        serve_once("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\nnot ready");
    let err = probe(&opts(format!("http://{addr}/readyz"))).unwrap_err();
    assert_eq!(
        err,
        format!("fail: http://{addr}/readyz: 503 Service Unavailable")
    );
}

#[test]
fn fails_on_refused_connection() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The listener is dropped: nothing listens on addr any more.
    let err = probe(&opts(format!("http://{addr}/readyz"))).unwrap_err();
    assert!(
        err.starts_with(&format!("fail: http://{addr}/readyz: connect {addr}: ")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
}

#[test]
fn fails_on_timeout() {
    // Accepts, reads the request, never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        read_head(&mut stream);
        std::thread::sleep(Duration::from_secs(2));
    });
    let mut o = opts(format!("http://{addr}/readyz"));
    o.timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = probe(&o).unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        err,
        format!("fail: http://{addr}/readyz: read status line: timed out after 300ms")
    );
    server.join().unwrap();
}

#[test]
fn retries_until_success() {
    // First a 503, then a 200: with one retry the probe passes, without it fails.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for answer in [
            "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\n",
            "HTTP/1.1 503 Service Unavailable\r\n\r\n",
            "HTTP/1.1 503 Service Unavailable\r\n\r\n",
        ] {
            let (mut stream, _) = listener.accept().unwrap();
            read_head(&mut stream);
            stream.write_all(answer.as_bytes()).unwrap();
        }
    });
    let mut o = opts(format!("http://{addr}/readyz"));
    o.retries = 1;
    o.retry_delay = Duration::from_millis(10);
    assert_eq!(
        probe_with_retries(&o).unwrap(),
        format!("ok: http://{addr}/readyz: 200 OK")
    );
    assert_eq!(
        probe_with_retries(&o).unwrap_err(),
        format!("fail: http://{addr}/readyz: 503 Service Unavailable (after 2 attempts)")
    );
    server.join().unwrap();
}

#[test]
fn fails_on_garbage_and_empty_answers() {
    let (addr, _server) = serve_once("SSH-2.0-OpenSSH\r\n");
    let err = probe(&opts(format!("http://{addr}/"))).unwrap_err();
    assert!(err.contains("not an HTTP status line"), "{err}");
    let (addr, _server) = serve_once("");
    let err = probe(&opts(format!("http://{addr}/"))).unwrap_err();
    assert!(
        err.ends_with("connection closed without an answer"),
        "{err}"
    );
}

/// A CA and a server certificate for `localhost` and 127.0.0.1 signed by it.
fn test_pki() -> (String, rustls::ServerConfig) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(vec![]).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mesh-probe test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap();
    (ca_cert.pem(), server)
}

/// An HTTPS server answering `response` to each of `n` connections (handshake failures too).
fn serve_tls(config: rustls::ServerConfig, n: usize, response: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Arc::new(config);
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            // A client that rejects the certificate makes this fail: fine.
            read_head(&mut tls);
            let _ = tls.write_all(response.as_bytes());
            let _ = tls.flush();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    addr
}

#[test]
fn https_with_cacert() {
    let (ca_pem, server) = test_pki();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, &ca_pem).unwrap();
    let addr = serve_tls(server, 4, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");

    // Trusted CA, by DNS name and by IP address.
    let mut o = opts(format!("https://localhost:{}/readyz", addr.port()));
    o.cacert = Some(ca.clone());
    assert_eq!(
        probe(&o).unwrap(),
        format!("ok: https://localhost:{}/readyz: 200 OK", addr.port())
    );
    o.url = format!("https://{addr}/readyz");
    assert!(probe(&o).is_ok(), "{:?}", probe(&o));

    // A CA that did not sign the server's certificate: refused, unless verification is off.
    let (other_ca, _) = test_pki();
    let other = dir.path().join("other.crt");
    std::fs::write(&other, other_ca).unwrap();
    o.cacert = Some(other);
    let err = probe(&o).unwrap_err();
    assert!(
        err.contains("UnknownIssuer") || err.contains("invalid peer certificate"),
        "{err}"
    );
    o.insecure_skip_verify = true;
    assert!(probe(&o).is_ok(), "{:?}", probe(&o));
}

#[test]
fn parses_arguments() {
    let args = |a: &[&str]| Options::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        args(&["http://127.0.0.1:8080/readyz"]).unwrap(),
        Parsed::Run(opts("http://127.0.0.1:8080/readyz".into()))
    );
    let Parsed::Run(o) = args(&[
        "--timeout",
        "500ms",
        "https://x.ns.svc:8443/readyz",
        "--cacert=/ca.crt",
        "--insecure-skip-verify",
        "--retry",
        "6",
        "--retry-delay=5s",
    ])
    .unwrap() else {
        panic!("not a run")
    };
    assert_eq!(o.timeout, Duration::from_millis(500));
    assert_eq!(o.cacert, Some(PathBuf::from("/ca.crt")));
    assert!(o.insecure_skip_verify);
    assert_eq!((o.retries, o.retry_delay), (6, Duration::from_secs(5)));
    assert!(args(&["http://x", "--retry", "-1"]).is_err());
    assert_eq!(args(&["--help"]).unwrap(), Parsed::Help);
    assert!(args(&[]).is_err());
    assert!(args(&["a", "b"]).is_err());
    assert!(args(&["http://x", "--timeout"]).is_err());
    assert!(args(&["http://x", "--timeout", "soon"]).is_err());
    assert!(args(&["http://x", "--bogus"]).is_err());
}

#[test]
fn parses_urls() {
    let t = Target::parse("http://127.0.0.1:8080/readyz").unwrap();
    assert_eq!(
        t,
        Target {
            tls: false,
            host: "127.0.0.1".into(),
            port: 8080,
            path: "/readyz".into()
        }
    );
    assert_eq!(t.host_header(), "127.0.0.1:8080");
    let t = Target::parse("https://svc.ns.svc").unwrap();
    assert_eq!(
        (t.port, t.path.as_str(), t.host_header().as_str()),
        (443, "/", "svc.ns.svc")
    );
    let t = Target::parse("http://[::1]:81?x=1#frag").unwrap();
    assert_eq!(
        (t.host.as_str(), t.port, t.path.as_str()),
        ("::1", 81, "/?x=1")
    );
    assert_eq!(t.host_header(), "[::1]:81");
    assert!(Target::parse("ftp://x/").is_err());
    assert!(Target::parse("http://:80/").is_err());
    assert!(Target::parse("http://x:99999/").is_err());
    assert!(Target::parse("http://u:p@x/").is_err());
}
