//! Async client for metal-api v1.
//!
//! Every request is signed fresh (HMAC) or carries the bearer token, sends and receives JSON,
//! and runs in a `metal_api` tracing span. Failures become a typed [`Error`]; updates that lose
//! an optimistic-concurrency race (409) are retried.

mod error;
mod ip;
mod machine;
mod masterdata;
mod network;
mod retry;
mod route;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;

pub use error::Error;

use crate::auth::{self, HEADER_DATE, HEADER_SALT, HmacKind};
use crate::model::{HealthResponse, Version};
use retry::OnConflict;

const JSON: &str = "application/json";

/// How requests authenticate.
#[derive(Clone)]
pub enum Auth {
    None,
    /// metal-api's HMAC scheme; `kind` selects the server-side key and permission group.
    Hmac {
        kind: HmacKind,
        key: String,
    },
    /// `Authorization: Bearer <token>`.
    Bearer(String),
}

/// Keeps secrets out of logs.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::Hmac { kind, .. } => write!(f, "Hmac({})", kind.as_str()),
            Auth::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL including the deployment's base path, e.g. "http://127.0.0.1:8080" or
    /// "https://api.example/metal".
    pub url: String,
    pub auth: Auth,
    /// Per request, connecting included.
    pub timeout: Duration,
    /// How often an update that got 409 is sent again.
    pub conflict_retries: u32,
    pub user_agent: String,
    /// PEM CA bundle trusted instead of the system roots (a metal-api serving a private CA's
    /// certificate, like the chart's embedded one).
    pub ca_file: Option<std::path::PathBuf>,
}

impl ClientConfig {
    /// Defaults: 30 s timeout, 5 conflict retries, user agent `metal-api-sdk/<version>`.
    pub fn new(url: impl Into<String>, auth: Auth) -> Self {
        ClientConfig {
            url: url.into(),
            auth,
            timeout: Duration::from_secs(30),
            conflict_retries: 5,
            user_agent: concat!("metal-api-sdk/", env!("CARGO_PKG_VERSION")).to_owned(),
            ca_file: None,
        }
    }
}

/// Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// The API root without trailing slash; request paths start with `/v1/`.
    base: String,
    /// Signs each request; a bearer token is a default header of `http` instead.
    hmac: Option<(HmacKind, Vec<u8>)>,
    conflict_retries: u32,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        // reqwest is built without a rustls provider; whoever installs one first wins.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let base = route::base(&config.url)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(JSON));
        let hmac = match config.auth {
            Auth::None => None,
            Auth::Hmac { key, .. } if key.is_empty() => {
                return Err(Error::Config("the HMAC key is empty".into()));
            }
            Auth::Hmac { kind, key } => Some((kind, key.into_bytes())),
            Auth::Bearer(token) if token.is_empty() => {
                return Err(Error::Config("the bearer token is empty".into()));
            }
            Auth::Bearer(token) => {
                let mut value =
                    HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                        Error::Config("the bearer token is not a valid header value".into())
                    })?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
                None
            }
        };
        let mut http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(config.user_agent)
            .default_headers(headers);
        if let Some(path) = &config.ca_file {
            let shown = path.display();
            let pem = std::fs::read(path)
                .map_err(|e| Error::Config(format!("reading the CA file {shown}: {e}")))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| Error::Config(format!("the CA file {shown}: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config(format!(
                    "the CA file {shown} holds no PEM certificate"
                )));
            }
            http = http.tls_certs_only(certs);
        }
        let http = http.build().map_err(error::transport)?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                hmac,
                conflict_retries: config.conflict_retries,
            }),
        })
    }

    /// GET /v1/health (no authentication needed).
    pub async fn health(&self) -> Result<HealthResponse, Error> {
        self.get(route::path(&["health"])).await
    }

    /// GET /v1/version (no authentication needed).
    pub async fn version(&self) -> Result<Version, Error> {
        self.get(route::path(&["version"])).await
    }

    async fn get<R: DeserializeOwned>(&self, path: String) -> Result<R, Error> {
        self.call(Method::GET, path, None, OnConflict::Fail).await
    }

    async fn delete<R: DeserializeOwned>(&self, path: String) -> Result<R, Error> {
        self.call(Method::DELETE, path, None, OnConflict::Fail)
            .await
    }

    async fn post<B, R>(&self, path: String, body: &B) -> Result<R, Error>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call(Method::POST, path, Some(encode(body)?), OnConflict::Fail)
            .await
    }

    async fn put<B, R>(&self, path: String, body: &B) -> Result<R, Error>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call(Method::PUT, path, Some(encode(body)?), OnConflict::Fail)
            .await
    }

    /// POST of an update that only sets fields, so it is safe to repeat after a lost race.
    async fn update<B, R>(&self, path: String, body: &B) -> Result<R, Error>
    where
        B: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call(Method::POST, path, Some(encode(body)?), OnConflict::Retry)
            .await
    }

    async fn call<R: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<Vec<u8>>,
        on_conflict: OnConflict,
    ) -> Result<R, Error> {
        let span = tracing::info_span!("metal_api", %method, %path, status = tracing::field::Empty);
        let max_retries = self.inner.conflict_retries;
        async {
            let mut retries = 0;
            loop {
                match self.attempt(&method, &path, body.as_deref()).await {
                    Err(e) if retry::should_retry(on_conflict, &e, retries, max_retries) => {
                        let delay = retry::backoff(retries);
                        retries += 1;
                        tracing::debug!(retries, ?delay, error = %e, "conflict, retrying");
                        tokio::time::sleep(delay).await;
                    }
                    result => return result,
                }
            }
        }
        .instrument(span)
        .await
    }

    /// One HTTP exchange, signed with a fresh date and salt.
    async fn attempt<R: DeserializeOwned>(
        &self,
        method: &Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<R, Error> {
        let url = format!("{}{path}", self.inner.base);
        let mut request = self.inner.http.request(method.clone(), url);
        if let Some((kind, key)) = &self.inner.hmac {
            let signed = auth::sign(*kind, key, method.as_str(), chrono::Utc::now());
            let mut authorization = HeaderValue::try_from(signed.authorization)
                .map_err(|e| Error::Config(format!("HMAC header: {e}")))?;
            authorization.set_sensitive(true);
            request = request
                .header(AUTHORIZATION, authorization)
                .header(HEADER_DATE, signed.date)
                .header(HEADER_SALT, signed.salt);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, JSON).body(body.to_vec());
        }

        let response = request.send().await.map_err(error::transport)?;
        let status = response.status();
        tracing::Span::current().record("status", status.as_u16());
        let bytes = response.bytes().await.map_err(error::transport)?;
        if !status.is_success() {
            return Err(error::from_response(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Decode(format!("response of {method} {path}: {e}")))
    }
}

fn encode<B: Serialize + ?Sized>(body: &B) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(body).map_err(|e| Error::Decode(format!("request body: {e}")))
}
