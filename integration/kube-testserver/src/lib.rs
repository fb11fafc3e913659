//! `kube-testserver`: a small Kubernetes API server for end-to-end tests, so controllers run
//! against real HTTP, real watches and real apiserver semantics where no kube-apiserver can be
//! installed. See the crate README for what it serves and what it leaves out.
//!
//! * [`kinds`]: the served resource types, built-in and from CRDs.
//! * [`store`]: objects and write semantics (resourceVersion, finalizers, status, GC).
//! * [`schema`]: pruning, defaulting and validation of custom resources.
//! * [`rbac`]: RBAC decisions over plain data; [`tokens`]: static token files;
//!   [`reviews`]: the TokenReview and SubjectAccessReview answers.
//! * [`selectors`], [`table`], [`watch`], [`http`]: the request surface.

pub mod http;
pub mod kinds;
pub mod openapi;
pub mod protobuf;
pub mod rbac;
pub mod reviews;
pub mod schema;
pub mod selectors;
pub mod smp;
pub mod status;
pub mod store;
pub mod table;
pub mod tokens;
pub mod watch;

pub use reviews::{ReviewCounts, ReviewFault};
pub use tokens::UserInfo;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::store::Store;

/// A kubeconfig for a server at `server` (e.g. `http://127.0.0.1:6443`): one context, namespace
/// `default`, no credentials, since this server authenticates nobody.
pub fn kubeconfig(server: &str) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: local\n  cluster:\n    server: {server}\n\
         contexts:\n\
         - name: local\n  context:\n    cluster: local\n    user: local\n    namespace: default\n\
         users:\n\
         - name: local\n  user: {{}}\n\
         current-context: local\n"
    )
}

/// Server settings; the binary's flags map onto these.
#[derive(Debug, Clone)]
pub struct Config {
    /// CRD YAML files registered at start (a file may hold several documents).
    pub crds: Vec<PathBuf>,
    /// Changes kept for watch resumption; older resourceVersions get 410 Gone.
    pub history: usize,
    /// How often watches that asked for bookmarks get one.
    pub bookmark_interval: Duration,
    /// Print every resource request to stderr.
    pub log_requests: bool,
    /// A kube-apiserver static token file (`token,user,uid[,"group1,group2"]` lines) whose
    /// tokens TokenReviews authenticate.
    pub token_file: Option<PathBuf>,
    /// Namespaces that exist at start besides kube-apiserver's own (`default`, `kube-system`,
    /// `kube-public`, `kube-node-lease`): a cluster whose add-ons are installed.
    pub namespaces: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            crds: Vec::new(),
            history: 10_000,
            bookmark_interval: Duration::from_secs(5),
            log_requests: false,
            token_file: None,
            namespaces: Vec::new(),
        }
    }
}

/// State shared by all workers.
pub struct Shared {
    pub store: Mutex<Store>,
    closer: tokio::sync::watch::Sender<u64>,
    /// Every watch request's resource and start, so tests can see how clients resumed.
    watches: Mutex<Vec<(String, watch::Start)>>,
    bookmark_interval: Duration,
    log_requests: bool,
    /// Bearer tokens TokenReviews accept, and their users.
    tokens: Mutex<HashMap<String, UserInfo>>,
    token_reviews: AtomicU64,
    subject_access_reviews: AtomicU64,
    review_fault: Mutex<ReviewFault>,
}

impl Shared {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let mut store = Store::new(config.history);
        for path in &config.crds {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            for crd in
                parse_documents(&text).with_context(|| format!("parsing {}", path.display()))?
            {
                store
                    .install_crd(crd)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            }
        }
        for name in &config.namespaces {
            store
                .ensure_namespace(name)
                .map_err(|e| anyhow::anyhow!("namespace {name:?}: {e}"))?;
        }
        let mut tokens = HashMap::new();
        if let Some(path) = &config.token_file {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let parsed = tokens::parse_token_file(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            tokens.extend(parsed.into_iter().map(|t| (t.token, t.user)));
        }
        Ok(Self {
            store: Mutex::new(store),
            closer: tokio::sync::watch::channel(0).0,
            watches: Mutex::new(Vec::new()),
            bookmark_interval: config.bookmark_interval,
            log_requests: config.log_requests,
            tokens: Mutex::new(tokens),
            token_reviews: AtomicU64::new(0),
            subject_access_reviews: AtomicU64::new(0),
            review_fault: Mutex::new(ReviewFault::None),
        })
    }

    /// Makes TokenReviews of `token` authenticate `user` (as a `--token-file` line would);
    /// replaces what the token meant before.
    pub fn add_token(
        &self,
        token: impl Into<String>,
        user: impl Into<String>,
        uid: impl Into<String>,
        groups: Vec<String>,
    ) {
        let user = UserInfo {
            username: user.into(),
            uid: uid.into(),
            groups,
        };
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.into(), user);
    }

    pub(crate) fn lookup_token(&self, token: &str) -> Option<UserInfo> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    /// The TokenReview and SubjectAccessReview POSTs received so far, faults included.
    pub fn review_counts(&self) -> ReviewCounts {
        ReviewCounts {
            token_reviews: self.token_reviews.load(Ordering::SeqCst),
            subject_access_reviews: self.subject_access_reviews.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn count_review(&self, review: reviews::Review) {
        let counter = match review {
            reviews::Review::Token => &self.token_reviews,
            reviews::Review::SubjectAccess => &self.subject_access_reviews,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }

    /// Makes the review endpoints misbehave (or, with [`ReviewFault::None`], stop doing so).
    pub fn set_review_fault(&self, fault: ReviewFault) {
        *self.review_fault.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    pub fn review_fault(&self) -> ReviewFault {
        *self.review_fault.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends every open watch stream, as an apiserver restart or a load balancer would.
    pub fn close_watches(&self) {
        self.closer.send_modify(|n| *n += 1);
    }

    /// The watches opened so far: (`group/plural`, where each started).
    pub fn watch_log(&self) -> Vec<(String, watch::Start)> {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn record_watch(&self, storage_key: String, start: watch::Start) {
        self.watches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((storage_key, start));
    }

    /// Drops the change history: watches resumed from before now get 410 Gone.
    pub fn compact(&self) {
        self.store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .compact();
    }

    /// Registers a CRD given as YAML, as `--crd` does.
    pub fn install_crd_yaml(&self, yaml: &str) -> anyhow::Result<()> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        for crd in parse_documents(yaml)? {
            store.install_crd(crd).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok(())
    }
}

/// The non-empty documents of a multi-document YAML text.
pub fn parse_documents(text: &str) -> anyhow::Result<Vec<Value>> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Serves on `listener` until the actix System stops. Must run inside an actix System.
pub fn server(
    shared: Arc<Shared>,
    listener: TcpListener,
) -> anyhow::Result<actix_web::dev::Server> {
    let data = actix_web::web::Data::from(shared);
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(actix_web::web::PayloadConfig::new(64 << 20))
            .configure(http::configure)
    })
    .workers(2)
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

/// A server running on a background thread, for tests in the same process.
pub struct Running {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Running {
    /// Starts a server on an ephemeral loopback port.
    pub fn start(config: Config) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared::new(&config)?);
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = std::sync::mpsc::channel();
        let for_thread = shared.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                match server(for_thread, listener) {
                    Ok(server) => {
                        let _ = tx.send(Ok(server.handle()));
                        let _ = server.await;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            })
        });
        let handle = rx.recv().context("server thread ended early")??;
        Ok(Self {
            addr,
            shared,
            handle,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // stop() is a future; drive it on a throwaway runtime so Drop works anywhere.
        let _ = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(handle.stop(false));
        })
        .join();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
