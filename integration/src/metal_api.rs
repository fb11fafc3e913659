//! The metal-api binary as a child process: start on a free port with a data dir and the
//! compose seed, sign requests, kill -9, restart on the same data.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use metal_api_sdk::auth::{HEADER_DATE, HEADER_SALT, HmacKind, sign};
use serde_json::Value;

pub const VIEW_KEY: &str = "test-view-key";
pub const EDIT_KEY: &str = "test-edit-key";
pub const ADMIN_KEY: &str = "test-admin-key";
pub const PROJECT: &str = "00000000-0000-0000-0000-000000000001";
pub const OTHER_PROJECT: &str = "00000000-0000-0000-0000-000000000002";
pub const PARTITION: &str = "fra-equ01";

pub fn key(kind: HmacKind) -> &'static str {
    match kind {
        HmacKind::View => VIEW_KEY,
        HmacKind::Edit => EDIT_KEY,
        HmacKind::Admin => ADMIN_KEY,
    }
}

/// A running metal-api process. Killed on drop.
pub struct MetalApi {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub base_path: String,
    child: Child,
    extra: Vec<String>,
}

impl MetalApi {
    /// Starts on a free port with `data_dir`, the compose seed and the test keys.
    pub fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, "/", &[])
    }

    pub fn start_with(data_dir: &Path, base_path: &str, extra: &[&str]) -> Self {
        let addr = crate::free_addr();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn(addr, data_dir, base_path, &extra);
        let api = Self {
            addr,
            data_dir: data_dir.to_path_buf(),
            base_path: base_path.to_string(),
            child,
            extra,
        };
        api.wait_healthy();
        api
    }

    fn wait_healthy(&self) {
        crate::wait_for_port(self.addr, Duration::from_secs(30));
    }

    pub fn url(&self, path: &str) -> String {
        format!(
            "http://{}{}{}",
            self.addr,
            self.base_path.trim_end_matches('/'),
            path
        )
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the process again on the same address and data.
    pub fn restart(&mut self) {
        self.kill9();
        self.child = spawn(self.addr, &self.data_dir, &self.base_path, &self.extra);
        self.wait_healthy();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit by itself and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        self.child.wait().ok().and_then(|s| s.code())
    }
}

impl Drop for MetalApi {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn(addr: SocketAddr, data_dir: &Path, base_path: &str, extra: &[String]) -> Child {
    let seed = crate::workspace_root().join("compose/seed.yaml");
    Command::new(crate::binary("metal-api"))
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--seed")
        .arg(seed)
        .arg("--base-path")
        .arg(base_path)
        .args([
            "--hmac-view-key",
            VIEW_KEY,
            "--hmac-edit-key",
            EDIT_KEY,
            "--hmac-admin-key",
            ADMIN_KEY,
        ])
        .args(["--log-level", "warn"])
        // Its API keeps the HMAC scheme above; the runtime's guard covers only /metrics.
        .args(if crate::auth::chooses_auth(extra) {
            &[][..]
        } else {
            &["--metrics-open"][..]
        })
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start metal-api")
}

/// An HTTP client that signs like metal-go.
#[derive(Clone)]
pub struct Caller {
    http: reqwest::Client,
    base: String,
}

impl Caller {
    pub fn new(api: &MetalApi) -> Self {
        Self {
            http: crate::http_client(),
            base: api.url(""),
        }
    }

    /// Sends a request signed as `kind` (None: unsigned) and returns status and JSON body.
    pub async fn call(
        &self,
        kind: Option<HmacKind>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(kind) = kind {
            let h = sign(
                kind,
                key(kind).as_bytes(),
                method.as_str(),
                chrono::Utc::now(),
            );
            req = req
                .header(HEADER_DATE, h.date)
                .header(HEADER_SALT, h.salt)
                .header("Authorization", h.authorization);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Like [`Caller::edit`], but a failed connection (server gone) is `None`, not a panic.
    pub async fn try_edit(&self, method: &str, path: &str, body: Value) -> Option<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let h = sign(
            HmacKind::Edit,
            EDIT_KEY.as_bytes(),
            method.as_str(),
            chrono::Utc::now(),
        );
        let resp = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header(HEADER_DATE, h.date)
            .header(HEADER_SALT, h.salt)
            .header("Authorization", h.authorization)
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = resp.status().as_u16();
        let body = resp.json().await.ok()?;
        Some((status, body))
    }

    pub async fn view(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(Some(HmacKind::View), method, path, body).await
    }
    pub async fn edit(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(Some(HmacKind::Edit), method, path, body).await
    }
    pub async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(Some(HmacKind::Admin), method, path, body).await
    }
}
