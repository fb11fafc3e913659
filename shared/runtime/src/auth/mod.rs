//! Who may call a service's API. Every route but the probes and the API description needs a
//! credential: a bearer token (checked with a `TokenReview`, or found in a static token file) or
//! a client certificate, and then the right to its verb on its path (a `SubjectAccessReview` for
//! the path as a non-resource URL, or a rule of the allow file). So a ClusterRole rule
//! `nonResourceURLs: ["/v1/loadbalancers*"], verbs: ["create"]` is what lets a caller allocate.

mod access;
mod cache;
mod middleware;
pub mod policy;
pub mod review;
pub mod static_files;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
};
use sha2::{Digest as _, Sha256};

pub use access::{Access, NonResourceRule, document};
pub use middleware::Caller;
pub(crate) use middleware::guard;

use crate::{cli::parse_duration, metrics::MetricsRegistry, shutdown::ShutdownSignal};
use cache::{DecisionCache, Verdict};
use policy::{BearerError, RouteClass};
use review::{ReviewError, Reviewer};
use static_files::{AllowRules, StaticTokens};

/// Authentication and authorization flags every service binary gets.
#[derive(clap::Args, Debug, Clone)]
pub struct AuthArgs {
    /// Who may call the API: kubernetes (bearer tokens checked with TokenReview, then
    /// SubjectAccessReview for the path as a non-resource URL; --auth-token-file and
    /// --auth-allow are consulted first when given), static (only --auth-token-file and
    /// --auth-allow), none (anybody: refused with a non-loopback --listen unless
    /// --auth-insecure-allow-remote). Default: kubernetes
    #[arg(long = "auth", value_enum)]
    pub mode: Option<AuthMode>,
    /// Kubeconfig of the API server that reviews tokens and access; default: the service's own
    /// Kubernetes client, else KUBECONFIG, ~/.kube/config or the in-cluster config
    #[arg(long)]
    pub auth_kubeconfig: Option<PathBuf>,
    /// Static tokens in kube-apiserver's token file format: token,user,uid,"group1,group2"
    #[arg(long)]
    pub auth_token_file: Option<PathBuf>,
    /// YAML list of {users, groups, paths (prefixes), verbs} saying what static-token users and
    /// client-certificate users may do
    #[arg(long)]
    pub auth_allow: Option<PathBuf>,
    /// How long an allowed review result is reused
    #[arg(long, default_value = "2m", value_parser = parse_duration)]
    pub auth_cache_ttl: Duration,
    /// How long a denied review result (unknown token, forbidden) is reused
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub auth_denied_cache_ttl: Duration,
    /// Most review results kept
    #[arg(long, default_value_t = 10_000)]
    pub auth_cache_size: u64,
    /// How long a TokenReview or SubjectAccessReview may take before the caller gets 503
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub auth_review_timeout: Duration,
    /// Serve /metrics without a credential (default: it needs verb get on /metrics)
    #[arg(long)]
    pub metrics_open: bool,
    /// Allow --auth none on a non-loopback --listen address
    #[arg(long)]
    pub auth_insecure_allow_remote: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Kubernetes,
    Static,
    None,
}

/// Which of a service's routes the runtime guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthScope {
    /// Every route but the open ones (the default).
    #[default]
    Api,
    /// Only `/metrics`: the service authenticates its API itself (metal-api's HMAC).
    MetricsOnly,
    /// Every route but the open ones and those under these path prefixes, which answer without
    /// a credential: admission webhooks, which kube-apiserver calls without one unless it is
    /// given an admission kubeconfig, and which change nothing.
    ApiExcept(&'static [&'static str]),
}

impl AuthScope {
    /// Whether an API route (not an open one, not `/metrics`) at `path` is guarded.
    fn guards_api(self, path: &str) -> bool {
        match self {
            AuthScope::Api => true,
            AuthScope::MetricsOnly => false,
            AuthScope::ApiExcept(prefixes) => !prefixes.iter().any(|p| path.starts_with(p)),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    pub groups: Vec<String>,
}

/// Every authenticated user is in this group, as in Kubernetes.
const AUTHENTICATED: &str = "system:authenticated";

impl UserInfo {
    fn authenticated(mut self) -> Self {
        if !self.groups.iter().any(|g| g == AUTHENTICATED) {
            self.groups.push(AUTHENTICATED.into());
        }
        self
    }
}

/// An authorization answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

impl Verdict for Decision {
    fn allowed(&self) -> bool {
        self.allowed
    }
}

impl Verdict for Option<UserInfo> {
    fn allowed(&self) -> bool {
        self.is_some()
    }
}

/// Why a request is refused; each becomes its own status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Denial {
    /// 400: a path the router and the authorizer could read differently.
    BadPath(String),
    /// 401.
    Unauthenticated(String),
    /// 403.
    Forbidden {
        user: String,
        verb: String,
        path: String,
        reason: String,
    },
    /// 503: a review could not be had.
    Unavailable(String),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReviewLabels {
    review: &'static str,
    result: &'static str,
}

#[derive(Clone, Default)]
struct AuthMetrics {
    decisions: Family<OutcomeLabels, Counter>,
    reviews: Family<ReviewLabels, Counter>,
}

impl AuthMetrics {
    fn register(registry: &MetricsRegistry) -> Self {
        let metrics = Self::default();
        registry.with(|r| {
            r.register(
                "http_auth_decisions",
                "Guarded requests by outcome (allowed, unauthenticated, forbidden, unavailable, bad_path)",
                metrics.decisions.clone(),
            );
            r.register(
                "auth_reviews",
                "TokenReviews and SubjectAccessReviews sent to Kubernetes, by result",
                metrics.reviews.clone(),
            );
        });
        metrics
    }

    fn review(&self, review: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        self.reviews
            .get_or_create(&ReviewLabels { review, result })
            .inc();
    }
}

/// The guard of one service, shared by its HTTP workers.
pub(crate) struct Auth {
    mode: AuthMode,
    scope: AuthScope,
    metrics_open: bool,
    tokens: StaticTokens,
    allow: AllowRules,
    reviewer: Option<Reviewer>,
    /// Keyed by a digest of the token, never the token.
    authn: DecisionCache<[u8; 32], Option<UserInfo>>,
    authz: DecisionCache<(UserInfo, String, String), Decision>,
    metrics: AuthMetrics,
}

impl Auth {
    /// Checks the flags and reads the files; with Kubernetes reviews, finds the API server
    /// (`kube`: the service's own client, used unless --auth-kubeconfig names another).
    pub(crate) async fn build(
        args: &AuthArgs,
        listen: SocketAddr,
        scope: AuthScope,
        kube: Option<kube::Client>,
        registry: &MetricsRegistry,
    ) -> anyhow::Result<Self> {
        let mode = args.mode.unwrap_or(AuthMode::Kubernetes);
        if mode == AuthMode::None && !listen.ip().is_loopback() && !args.auth_insecure_allow_remote
        {
            anyhow::bail!(
                "--auth none lets anybody who reaches {listen} call every route without a \
                 credential: it is refused with a non-loopback --listen unless \
                 --auth-insecure-allow-remote is given too"
            );
        }
        if mode == AuthMode::Static && (args.auth_token_file.is_none() || args.auth_allow.is_none())
        {
            anyhow::bail!("--auth static needs --auth-token-file and --auth-allow");
        }
        let tokens = match &args.auth_token_file {
            Some(path) => StaticTokens::parse(&read(path).await?)
                .map_err(|e| anyhow::anyhow!("--auth-token-file {}: {e}", path.display()))?,
            None => StaticTokens::default(),
        };
        let allow = match &args.auth_allow {
            Some(path) => AllowRules::parse(&read(path).await?)
                .map_err(|e| anyhow::anyhow!("--auth-allow {}: {e}", path.display()))?,
            None => AllowRules::default(),
        };
        let needs_reviews =
            mode == AuthMode::Kubernetes && (scope != AuthScope::MetricsOnly || !args.metrics_open);
        let reviewer = if needs_reviews {
            let client = review_client(args, kube).await?;
            Some(Reviewer::new(client, args.auth_review_timeout))
        } else {
            None
        };
        Ok(Self {
            mode,
            scope,
            metrics_open: args.metrics_open,
            tokens,
            allow,
            reviewer,
            authn: DecisionCache::new(
                args.auth_cache_size,
                args.auth_cache_ttl,
                args.auth_denied_cache_ttl,
            ),
            authz: DecisionCache::new(
                args.auth_cache_size,
                args.auth_cache_ttl,
                args.auth_denied_cache_ttl,
            ),
            metrics: AuthMetrics::register(registry),
        })
    }

    /// With `--auth none`: a warning now and every 10 minutes until `shutdown`.
    pub(crate) fn warn_while_open(&self, service: &'static str, shutdown: ShutdownSignal) {
        if self.mode != AuthMode::None {
            return;
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(600));
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tick.tick() => tracing::warn!(
                        service,
                        "--auth none: every route answers every caller without a credential"
                    ),
                }
            }
        });
    }

    fn count(&self, outcome: &'static str) {
        self.metrics
            .decisions
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Decides one request: `Ok(None)` for a route that needs nobody, `Ok(Some(user))` for an
    /// allowed caller.
    pub(crate) async fn check(
        &self,
        class: RouteClass,
        verb: &str,
        path: &str,
        authorization: Option<&actix_web::http::header::HeaderValue>,
        certificate: Option<UserInfo>,
    ) -> Result<Option<UserInfo>, Denial> {
        let guarded = match class {
            RouteClass::Open => false,
            RouteClass::Metrics => !self.metrics_open,
            RouteClass::Api => self.scope.guards_api(path),
        };
        if class == RouteClass::Api && !guarded {
            // An exempt prefix must not let `/webhooks/../v1/...` slip past the guard.
            policy::check_path(path).map_err(Denial::BadPath)?;
        }
        if !guarded || self.mode == AuthMode::None {
            return Ok(None);
        }
        let outcome = self.decide(verb, path, authorization, certificate).await;
        self.count(match &outcome {
            Ok(_) => "allowed",
            Err(Denial::BadPath(_)) => "bad_path",
            Err(Denial::Unauthenticated(_)) => "unauthenticated",
            Err(Denial::Forbidden { .. }) => "forbidden",
            Err(Denial::Unavailable(_)) => "unavailable",
        });
        outcome.map(Some)
    }

    async fn decide(
        &self,
        verb: &str,
        path: &str,
        authorization: Option<&actix_web::http::header::HeaderValue>,
        certificate: Option<UserInfo>,
    ) -> Result<UserInfo, Denial> {
        policy::check_path(path).map_err(Denial::BadPath)?;
        let user = match certificate {
            Some(user) => user.authenticated(),
            None => self.authenticate(authorization).await?,
        };
        self.authorize(&user, verb, path).await?;
        Ok(user)
    }

    async fn authenticate(
        &self,
        authorization: Option<&actix_web::http::header::HeaderValue>,
    ) -> Result<UserInfo, Denial> {
        let token = policy::bearer(authorization).map_err(|e| {
            Denial::Unauthenticated(match e {
                BearerError::Missing if self.reviewer.is_none() && self.tokens.is_empty() => {
                    "no credential: this service accepts client certificates only".into()
                }
                e => e.to_string(),
            })
        })?;
        if let Some(user) = self.tokens.lookup(token) {
            return Ok(user.clone().authenticated());
        }
        let Some(reviewer) = &self.reviewer else {
            return Err(Denial::Unauthenticated("the token is not known".into()));
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let reviewed = self
            .authn
            .get_or_review(key, async {
                let answer = reviewer.token(token).await;
                self.metrics.review("TokenReview", answer.is_ok());
                answer
            })
            .await
            .map_err(unavailable)?;
        reviewed.ok_or_else(|| Denial::Unauthenticated("the token is not valid".into()))
    }

    async fn authorize(&self, user: &UserInfo, verb: &str, path: &str) -> Result<(), Denial> {
        if self.allow.allows(user, verb, path) {
            return Ok(());
        }
        let reason = match &self.reviewer {
            None => String::new(),
            Some(reviewer) => {
                let key = (user.clone(), verb.to_string(), path.to_string());
                let decision = self
                    .authz
                    .get_or_review(key, async {
                        let answer = reviewer.access(user, verb, path).await;
                        self.metrics.review("SubjectAccessReview", answer.is_ok());
                        answer
                    })
                    .await
                    .map_err(unavailable)?;
                if decision.allowed {
                    return Ok(());
                }
                decision.reason
            }
        };
        Err(Denial::Forbidden {
            user: user.username.clone(),
            verb: verb.to_string(),
            path: path.to_string(),
            reason,
        })
    }
}

fn unavailable(e: Arc<ReviewError>) -> Denial {
    Denial::Unavailable(e.to_string())
}

async fn read(path: &std::path::Path) -> anyhow::Result<String> {
    tokio::fs::read_to_string(path)
        .await
        .with_context(|| format!("reading {}", path.display()))
}

/// The client for reviews: --auth-kubeconfig, else the service's, else the default places.
async fn review_client(args: &AuthArgs, own: Option<kube::Client>) -> anyhow::Result<kube::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Some(path) = &args.auth_kubeconfig {
        let kubeconfig = kube::config::Kubeconfig::read_from(path)
            .with_context(|| format!("--auth-kubeconfig {}", path.display()))?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
            .await
            .with_context(|| format!("--auth-kubeconfig {}", path.display()))?;
        return kube::Client::try_from(config).context("Kubernetes client for reviews");
    }
    if let Some(client) = own {
        return Ok(client);
    }
    kube::Client::try_default().await.context(
        "--auth kubernetes needs a Kubernetes API for TokenReviews and SubjectAccessReviews \
         (none found in --auth-kubeconfig, KUBECONFIG, ~/.kube/config or the in-cluster \
         config); use --auth static with --auth-token-file and --auth-allow where there is none",
    )
}
