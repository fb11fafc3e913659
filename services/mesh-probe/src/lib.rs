//! mesh-probe: a tiny HTTP(S) GET probe for container healthchecks and `helm test` Pods.
//!
//! The metal-mesh image is `FROM scratch` (compose/Dockerfile): no curl, no wget, no shell for
//! probes. `mesh-probe URL [--cacert FILE] [--timeout 3s] [--insecure-skip-verify]` sends one
//! `GET` (HTTP/1.1, `Connection: close`) and exits 0 on a 2xx status, 1 otherwise (any other
//! status, a refused or timed-out connection, a TLS failure, bad arguments), printing one line
//! that says why. `http://` is plain std TCP; `https://` is rustls (ring), trusting `--cacert`
//! (PEM, one or more certificates) or else the system bundle (`$SSL_CERT_FILE`, default
//! /etc/ssl/certs/ca-certificates.crt). The timeout bounds the whole probe (connect, TLS,
//! request and status line) of each attempt; `--retry N` (default 0) probes up to N more times
//! after a failure, `--retry-delay` (default 1s) apart, e.g. for a `helm test` Pod that may start
//! before the Service has endpoints.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

pub const USAGE: &str =
    "usage: mesh-probe URL [--cacert FILE] [--timeout 3s] [--insecure-skip-verify]
                  [--retry N] [--retry-delay 1s]
  GET URL (http:// or https://); exit 0 on a 2xx answer, 1 otherwise.
  --cacert FILE            trust the PEM certificate(s) in FILE for https://
                           (default: $SSL_CERT_FILE or /etc/ssl/certs/ca-certificates.crt)
  --timeout DURATION       bound on the whole probe, e.g. 500ms, 3s (default 3s)
  --insecure-skip-verify   do not verify the server's certificate (https://)
  --retry N                probe up to N more times after a failure (default 0)
  --retry-delay DURATION   pause between attempts (default 1s)";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// A status line longer than this is not HTTP.
const MAX_STATUS_LINE: u64 = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub url: String,
    pub cacert: Option<PathBuf>,
    pub timeout: Duration,
    pub insecure_skip_verify: bool,
    /// Further attempts after a failed one.
    pub retries: u32,
    pub retry_delay: Duration,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
}

impl Options {
    /// Parses the arguments (without the program name). `--flag value` and `--flag=value`.
    pub fn parse(args: &[String]) -> Result<Parsed, String> {
        let mut url = None;
        let mut cacert = None;
        let mut timeout = DEFAULT_TIMEOUT;
        let mut insecure_skip_verify = false;
        let mut retries = 0;
        let mut retry_delay = DEFAULT_RETRY_DELAY;
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
                _ => (arg.as_str(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| it.next().cloned())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match flag {
                "-h" | "--help" => return Ok(Parsed::Help),
                "--cacert" => cacert = Some(PathBuf::from(value("--cacert")?)),
                "--timeout" => {
                    let v = value("--timeout")?;
                    timeout =
                        humantime::parse_duration(&v).map_err(|e| format!("--timeout {v}: {e}"))?;
                    if timeout.is_zero() {
                        return Err("--timeout must be positive".into());
                    }
                }
                "--retry" => {
                    let v = value("--retry")?;
                    retries = v
                        .parse()
                        .map_err(|_| format!("--retry {v}: not a non-negative integer"))?;
                }
                "--retry-delay" => {
                    let v = value("--retry-delay")?;
                    retry_delay = humantime::parse_duration(&v)
                        .map_err(|e| format!("--retry-delay {v}: {e}"))?;
                }
                "--insecure-skip-verify" => {
                    if inline.is_some() {
                        return Err("--insecure-skip-verify takes no value".into());
                    }
                    insecure_skip_verify = true;
                }
                f if f.starts_with('-') => return Err(format!("unknown option {f}")),
                _ if url.is_some() => return Err(format!("unexpected argument {arg}")),
                _ => url = Some(arg.clone()),
            }
        }
        let url = url.ok_or("a URL is required")?;
        Ok(Parsed::Run(Options {
            url,
            cacert,
            timeout,
            insecure_skip_verify,
            retries,
            retry_delay,
        }))
    }
}

/// A parsed `http://` or `https://` URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    tls: bool,
    /// Host as written, without IPv6 brackets.
    host: String,
    port: u16,
    /// Path and query, starting with `/`.
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            return Err(format!(
                "{url}: only http:// and https:// URLs are supported"
            ));
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if authority.contains('@') {
            return Err(format!("{url}: credentials in the URL are not supported"));
        }
        let default_port = if tls { 443 } else { 80 };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url}: unclosed [ in the host"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(format!("{url}: bad host")),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| format!("{url}: bad port {p:?}"))?,
            None => default_port,
        };
        Ok(Self {
            tls,
            host: host.to_string(),
            port,
            path,
        })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default_port = if self.tls { 443 } else { 80 };
        if self.port == default_port {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why a probe failed, as its one line.
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Probes up to `1 + opts.retries` times, `opts.retry_delay` apart, until one succeeds:
/// `Ok(line)` on a 2xx answer, `Err(line)` (the last failure) otherwise.
pub fn probe_with_retries(opts: &Options) -> Result<String, String> {
    let mut attempt = 0;
    loop {
        match probe(opts) {
            Ok(line) => return Ok(line),
            Err(line) if attempt >= opts.retries => {
                return Err(if attempt == 0 {
                    line
                } else {
                    format!("{line} (after {} attempts)", attempt + 1)
                });
            }
            Err(_) => {
                attempt += 1;
                std::thread::sleep(opts.retry_delay);
            }
        }
    }
}

/// Probes once: `Ok(line)` on a 2xx answer, `Err(line)` otherwise.
pub fn probe(opts: &Options) -> Result<String, String> {
    let url = &opts.url;
    match status_line(opts) {
        Ok((code, line)) if (200..300).contains(&code) => Ok(format!("ok: {url}: {line}")),
        Ok((_, line)) => Err(format!("fail: {url}: {line}")),
        Err(e) => Err(format!("fail: {url}: {e}")),
    }
}

/// Connects, sends the GET, reads the status line: (code, "HTTP/1.1 200 OK" minus the version).
fn status_line(opts: &Options) -> Result<(u16, String), Failure> {
    let target = Target::parse(&opts.url).map_err(Failure)?;
    let deadline = Instant::now() + opts.timeout;
    let stream = connect(&target, deadline, opts.timeout)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mesh-probe/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.host_header(),
        env!("CARGO_PKG_VERSION"),
    );
    if target.tls {
        let config = tls_config(opts)?;
        let name = ServerName::try_from(target.host.clone())
            .map_err(|e| Failure(format!("bad TLS server name {:?}: {e}", target.host)))?;
        let conn = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| Failure(format!("TLS: {e}")))?;
        let tls = rustls::StreamOwned::new(conn, Deadlined { stream, deadline });
        exchange(tls, &request, opts.timeout)
    } else {
        exchange(Deadlined { stream, deadline }, &request, opts.timeout)
    }
}

fn connect(target: &Target, deadline: Instant, timeout: Duration) -> Result<TcpStream, Failure> {
    let addrs: Vec<_> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| Failure(format!("resolve {}: {e}", target.host)))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        let left = remaining(deadline, timeout)?;
        match TcpStream::connect_timeout(addr, left) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => last = Some(format!("connect {addr}: {}", describe(&e, timeout))),
        }
    }
    Err(Failure(last.unwrap_or_else(|| {
        format!("resolve {}: no addresses", target.host)
    })))
}

fn remaining(deadline: Instant, timeout: Duration) -> Result<Duration, Failure> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(Failure(format!("timed out after {}", fmt_dur(timeout))))
    } else {
        Ok(left)
    }
}

fn fmt_dur(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

fn describe(e: &io::Error, timeout: Duration) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
            format!("timed out after {}", fmt_dur(timeout))
        }
        _ => e.to_string(),
    }
}

/// A TCP stream whose every read and write is bounded by the probe's deadline.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Deadlined {
    fn left(&self) -> io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn exchange<S: Read + Write>(
    mut stream: S,
    request: &str,
    timeout: Duration,
) -> Result<(u16, String), Failure> {
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| Failure(format!("send request: {}", describe(&e, timeout))))?;
    let mut line = Vec::new();
    BufReader::new(stream.take(MAX_STATUS_LINE))
        .read_until(b'\n', &mut line)
        .map_err(|e| Failure(format!("read status line: {}", describe(&e, timeout))))?;
    let line = String::from_utf8_lossy(&line).trim_end().to_string();
    if line.is_empty() {
        return Err(Failure("connection closed without an answer".into()));
    }
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(code) if version.starts_with("HTTP/") && (100..1000).contains(&code) => {
            let reason = parts.next().unwrap_or_default();
            Ok((code, format!("{code} {reason}").trim_end().to_string()))
        }
        _ => Err(Failure(format!("not an HTTP status line: {line:?}"))),
    }
}

fn tls_config(opts: &Options) -> Result<rustls::ClientConfig, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Failure(format!("TLS: {e}")))?;
    let config = if opts.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
            .with_no_client_auth()
    } else {
        let path = match &opts.cacert {
            Some(p) => p.clone(),
            None => std::env::var_os("SSL_CERT_FILE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(SYSTEM_BUNDLE)),
        };
        let certs = CertificateDer::pem_file_iter(&path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| Failure(format!("read CA certificates {}: {e}", path.display())))?;
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(Failure(format!(
                "no usable CA certificate in {}",
                path.display()
            )));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}

/// `--insecure-skip-verify`: accepts any certificate, still checks the handshake signatures.
#[derive(Debug)]
struct SkipVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
