//! Credentials for the services under test: a static token file and allow file (what
//! `metal-mesh up` and compose use), clients that send a token, and certificates for TLS.

use std::path::{Path, PathBuf};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

/// May do everything on every service started with [`StaticAuth::flags`].
pub const ADMIN_TOKEN: &str = "integration-admin-token";
/// May only `get`.
pub const VIEWER_TOKEN: &str = "integration-viewer-token";
/// Known, but granted nothing.
pub const NOBODY_TOKEN: &str = "integration-nobody-token";

/// A static token file and allow file in a temporary directory.
pub struct StaticAuth {
    dir: tempfile::TempDir,
}

impl Default for StaticAuth {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticAuth {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("tokens.csv"),
            format!(
                "{ADMIN_TOKEN},admin,1,\"metal-mesh:admins\"\n\
                 {VIEWER_TOKEN},viewer,2,\"metal-mesh:viewers\"\n\
                 {NOBODY_TOKEN},nobody,3\n"
            ),
        )
        .expect("write tokens");
        std::fs::write(
            dir.path().join("allow.yaml"),
            "- groups: [\"metal-mesh:admins\"]\n  paths: [/]\n  verbs: [\"*\"]\n\
             - groups: [\"metal-mesh:viewers\"]\n  paths: [/]\n  verbs: [get]\n",
        )
        .expect("write allow file");
        Self { dir }
    }

    pub fn token_file(&self) -> PathBuf {
        self.dir.path().join("tokens.csv")
    }

    pub fn allow_file(&self) -> PathBuf {
        self.dir.path().join("allow.yaml")
    }

    /// `--auth static --auth-token-file F --auth-allow F`.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--auth".into(),
            "static".into(),
            "--auth-token-file".into(),
            self.token_file().display().to_string(),
            "--auth-allow".into(),
            self.allow_file().display().to_string(),
        ]
    }
}

/// Whether `args` already choose an auth mode.
pub fn chooses_auth(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--auth" || a.starts_with("--auth="))
}

/// A reqwest client sending `Authorization: Bearer <token>` with every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    client_builder(token)
        .build()
        .expect("reqwest client with a token")
}

/// [`bearer_client`] trusting only the CA in `ca_pem` (PEM).
pub fn bearer_tls_client(token: &str, ca_pem: &str) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM");
    client_builder(token)
        .tls_certs_only([ca])
        .build()
        .expect("reqwest TLS client with a token")
}

fn client_builder(token: &str) -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).expect("token header");
    value.set_sensitive(true);
    let headers = HeaderMap::from_iter([(AUTHORIZATION, value)]);
    reqwest::Client::builder().default_headers(headers)
}

/// A CA and a serving certificate for `localhost` / `127.0.0.1` signed by it, as PEM.
pub struct TestPki {
    pub ca_pem: String,
    ca: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, as PEM.
pub struct Pair {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestPki {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let key = rcgen::KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            ca_pem: cert.pem(),
            ca: rcgen::Issuer::new(params, key),
        }
    }

    /// A serving certificate for localhost, with `common_name` to tell rotations apart.
    pub fn serving(&self, common_name: &str) -> Pair {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let mut params = rcgen::CertificateParams::new(names).expect("serving params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let key = rcgen::KeyPair::generate().expect("serving key");
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("serving certificate");
        Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A client certificate: CN is the user, each O a group (as kube-apiserver reads them).
    pub fn client(&self, user: &str, groups: &[&str]) -> Pair {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, user);
        for group in groups {
            params
                .distinguished_name
                .push(rcgen::DnType::OrganizationName, *group);
        }
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = rcgen::KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("client certificate");
        Pair {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Pair {
    /// Writes `tls.crt` and `tls.key` into `dir` (replacing them, as cert-manager does).
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        write_atomically(&cert, &self.cert_pem);
        write_atomically(&key, &self.key_pem);
        (cert, key)
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename into place");
}
