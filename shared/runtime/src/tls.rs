//! HTTPS serving with certificate files that are re-read when they change: cert-manager and
//! Gardener rotate Secrets in place, so new connections get the new pair without a restart and
//! open connections keep theirs. A new pair that does not load is refused (an error log) and the
//! last good one stays in use. With a client CA, client certificates it signed authenticate their
//! connection as CN (user) and O (groups), as kube-apiserver does.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use actix_tls::accept::rustls_0_23::TlsStream;
use actix_web::{dev::Extensions, rt::net::TcpStream};
use anyhow::Context as _;
use parking_lot::{Mutex, RwLock};
use prometheus_client::metrics::gauge::Gauge;
use rustls::{
    DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
    client::danger::HandshakeSignatureValid,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject as _},
    server::{
        ClientHello, ResolvesServerCert, WebPkiClientVerifier,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
    sign::CertifiedKey,
};
use sha2::{Digest as _, Sha256};

use crate::{cli::parse_duration, metrics::MetricsRegistry, shutdown::ShutdownSignal};

/// TLS flags every service binary gets.
#[derive(clap::Args, Debug, Clone)]
pub struct TlsArgs {
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key-file); re-read when it changes
    #[arg(long, requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file; re-read when it changes
    #[arg(long, requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA bundle for client certificates (mTLS): a certificate it signed authenticates as
    /// its CN (user) and O (groups); clients without a certificate may still use a bearer token
    #[arg(long, requires = "tls_cert_file")]
    pub tls_client_ca_file: Option<PathBuf>,
    /// How often the TLS files are checked for changes
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub tls_reload_interval: Duration,
}

impl TlsArgs {
    pub fn enabled(&self) -> bool {
        self.tls_cert_file.is_some()
    }
}

/// Who a verified client certificate says the peer is; stored per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertIdentity {
    pub user: String,
    pub groups: Vec<String>,
}

/// The files of one serving pair and the state of their last reading.
struct Watched {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
    /// Digest of the contents last looked at (loaded or refused); `None` while unreadable.
    seen: Mutex<Option<[u8; 32]>>,
}

/// The serving side of TLS: what rustls asks for at every handshake, and the reload loop.
pub(crate) struct ServingTls {
    files: Watched,
    interval: Duration,
    provider: Arc<CryptoProvider>,
    cert: Arc<ReloadingCert>,
    client_ca: Option<Arc<ReloadingClientCa>>,
    expiry: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl ServingTls {
    /// Loads the files given in `args` (a failure here is a startup error), or `None` without
    /// TLS.
    pub(crate) fn load(args: &TlsArgs, registry: &MetricsRegistry) -> anyhow::Result<Option<Self>> {
        let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
            return Ok(None);
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let files = Watched {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.tls_client_ca_file.clone(),
            seen: Mutex::new(None),
        };
        let contents = files.read().context("reading the TLS files")?;
        let pair = Pair::parse(&contents, &provider)?;
        *files.seen.lock() = Some(contents.digest());
        let expiry = Gauge::default();
        registry.with(|r| {
            r.register(
                "tls_certificate_expiration_timestamp_seconds",
                "When the serving certificate in use expires (Unix time)",
                expiry.clone(),
            )
        });
        expiry.set(pair.not_after);
        let client_ca = pair
            .client_verifier
            .map(|v| Arc::new(ReloadingClientCa(RwLock::new(v))));
        Ok(Some(Self {
            files,
            interval: args.tls_reload_interval,
            provider,
            cert: Arc::new(ReloadingCert(RwLock::new(pair.certified))),
            client_ca,
            expiry,
        }))
    }

    /// The rustls configuration for the listener; it keeps asking `self` for the current pair.
    pub(crate) fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let builder = match &self.client_ca {
            Some(verifier) => builder.with_client_cert_verifier(verifier.clone()),
            None => builder.with_no_client_auth(),
        };
        Ok(builder.with_cert_resolver(self.cert.clone()))
    }

    /// Checks the files every reload interval until `shutdown`.
    pub(crate) async fn watch(self: Arc<Self>, shutdown: ShutdownSignal) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tick.tick() => {}
            }
            let this = self.clone();
            // File reads are blocking calls: off the async threads.
            let _ = tokio::task::spawn_blocking(move || this.reload()).await;
        }
    }

    /// Takes the files' contents into use if they changed and load; logs what it refused.
    fn reload(&self) {
        let contents = match self.files.read() {
            Ok(contents) => contents,
            Err(e) => {
                if self.files.seen.lock().take().is_some() {
                    tracing::error!("TLS files unreadable, keeping the pair in use: {e:#}");
                }
                return;
            }
        };
        let digest = contents.digest();
        let mut seen = self.files.seen.lock();
        if *seen == Some(digest) {
            return;
        }
        *seen = Some(digest);
        match Pair::parse(&contents, &self.provider) {
            Ok(pair) => {
                *self.cert.0.write() = pair.certified;
                if let (Some(current), Some(new)) = (&self.client_ca, pair.client_verifier) {
                    *current.0.write() = new;
                }
                self.expiry.set(pair.not_after);
                tracing::info!(cert = %self.files.cert.display(), "TLS files changed: new connections use the new pair");
            }
            Err(e) => {
                tracing::error!("TLS files changed but do not load, keeping the pair in use: {e:#}")
            }
        }
    }
}

/// The raw contents of the watched files.
struct Contents {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
}

impl Watched {
    fn read(&self) -> anyhow::Result<Contents> {
        let read = |path: &Path| std::fs::read(path).with_context(|| format!("{}", path.display()));
        Ok(Contents {
            cert: read(&self.cert)?,
            key: read(&self.key)?,
            client_ca: self.client_ca.as_deref().map(read).transpose()?,
        })
    }
}

impl Contents {
    fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        for part in [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()] {
            let part = part.map_or(&[][..], Vec::as_slice);
            hash.update((part.len() as u64).to_le_bytes());
            hash.update(part);
        }
        hash.finalize().into()
    }
}

/// A loaded, consistent set: the serving pair, its expiry and the client verifier.
struct Pair {
    certified: Arc<CertifiedKey>,
    not_after: f64,
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl Pair {
    fn parse(contents: &Contents, provider: &Arc<CryptoProvider>) -> anyhow::Result<Self> {
        let chain = certificates(&contents.cert).context("certificate file")?;
        let key = PrivateKeyDer::from_pem_slice(&contents.key)
            .map_err(|e| anyhow::anyhow!("key file: no PEM private key ({e})"))?;
        let certified = CertifiedKey::from_der(chain, key, provider)
            .map_err(|e| anyhow::anyhow!("certificate and key do not form a pair: {e}"))?;
        let (_, leaf) = x509_parser::parse_x509_certificate(&certified.cert[0])
            .map_err(|e| anyhow::anyhow!("certificate file: {e}"))?;
        let not_after = leaf.validity().not_after.timestamp() as f64;
        let client_verifier = contents
            .client_ca
            .as_deref()
            .map(|pem| client_verifier(pem, provider))
            .transpose()
            .context("client CA file")?;
        Ok(Self {
            certified: Arc::new(certified),
            not_after,
            client_verifier,
        })
    }
}

/// Every certificate in a PEM text; none is an error.
fn certificates(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("not PEM certificates ({e})"))?;
    anyhow::ensure!(!chain.is_empty(), "no PEM certificate in it");
    Ok(chain)
}

/// A verifier that accepts certificates the CA bundle signed, and connections without one (they
/// may authenticate with a bearer token instead).
fn client_verifier(
    pem: &[u8],
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for ca in certificates(pem)? {
        roots.add(ca).context("a CA certificate")?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        // The hints would have to outlive a reload; clients send their certificate without.
        .clear_root_hint_subjects()
        .build()
        .context("client certificate verifier")
}

/// The serving pair, swapped by reloads; every handshake takes the current one.
#[derive(Debug)]
struct ReloadingCert(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

/// The client CA verifier, swapped by reloads.
#[derive(Debug)]
struct ReloadingClientCa(RwLock<Arc<dyn ClientCertVerifier>>);

impl ReloadingClientCa {
    fn current(&self) -> Arc<dyn ClientCertVerifier> {
        self.0.read().clone()
    }
}

impl ClientCertVerifier for ReloadingClientCa {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current().supported_verify_schemes()
    }
}

/// `HttpServer::on_connect` hook: stores the identity of a verified client certificate in the
/// connection's data (rustls only hands over certificates its verifier accepted).
pub(crate) fn record_client_identity(io: &dyn std::any::Any, data: &mut Extensions) {
    let Some(tls) = io.downcast_ref::<TlsStream<TcpStream>>() else {
        return;
    };
    let (_, session) = tls.get_ref();
    if let Some(identity) = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| identity_of(leaf))
    {
        data.insert(identity);
    }
}

/// CN as the user and every O as a group; a certificate without CN names nobody.
fn identity_of(der: &CertificateDer<'_>) -> Option<ClientCertIdentity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let user = subject
        .iter_common_name()
        .next()?
        .as_str()
        .ok()?
        .to_string();
    let groups = subject
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(str::to_string))
        .collect();
    Some(ClientCertIdentity { user, groups })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(cn: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn contents(cert: &str, key: &str) -> Contents {
        Contents {
            cert: cert.as_bytes().to_vec(),
            key: key.as_bytes().to_vec(),
            client_ca: None,
        }
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    #[test]
    fn a_matching_pair_loads_with_its_expiry() {
        let (cert, key) = pair("a");
        let loaded = Pair::parse(&contents(&cert, &key), &provider()).unwrap();
        assert_eq!(loaded.certified.cert.len(), 1);
        assert!(loaded.not_after > 1.0e9);
    }

    #[test]
    fn garbage_a_missing_key_and_a_foreign_key_are_refused_with_their_reason() {
        let (cert, key) = pair("a");
        let (_, other_key) = pair("b");
        let err = |c: &str, k: &str| {
            Pair::parse(&contents(c, k), &provider())
                .err()
                .map(|e| format!("{e:#}"))
                .unwrap()
        };
        assert!(err("garbage", &key).contains("certificate file"));
        assert!(err(&cert, "garbage").contains("key file"));
        assert!(err(&cert, &other_key).contains("do not form a pair"));
    }

    #[test]
    fn the_digest_tells_the_files_apart() {
        let a = contents("ab", "c");
        let b = contents("a", "bc");
        assert_ne!(a.digest(), b.digest());
        assert_eq!(a.digest(), contents("ab", "c").digest());
    }

    #[test]
    fn a_client_certificate_names_its_cn_and_organizations() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "alice");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "ops");
        let cert = params.self_signed(&key).unwrap();
        let identity = identity_of(cert.der()).unwrap();
        assert_eq!(identity.user, "alice");
        assert_eq!(identity.groups, ["ops"]);
    }
}
