//! The kernel edge: the `nft` program, run with an argument vector and the batch on stdin.
//!
//! A ruleset is applied as one transaction that (re)creates the table, deletes it and loads
//! the new one: the kernel swaps it atomically, so packets never see a missing or half-built
//! table, and a failing batch leaves the old table in place.

pub mod readback;
pub mod stats;

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncWriteExt as _;
use tokio::process::Command;

use crate::core::compile::TABLE;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NftError {
    #[error("running {program}: {message}")]
    Spawn { program: String, message: String },
    #[error("nft {action} failed: {stderr}")]
    Failed {
        action: &'static str,
        stderr: String,
    },
    #[error("read back after apply: {0}")]
    ReadBack(String),
}

/// How to run nft: the program, and leading arguments (e.g. `ip netns exec NS nft`).
#[derive(Clone, Debug)]
pub struct Nft {
    argv: Vec<String>,
}

impl Nft {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            argv: vec![program.into().to_string_lossy().into_owned()],
        }
    }

    /// Runs nft through `prefix` (e.g. `["ip", "netns", "exec", "fw"]`).
    pub fn with_prefix(prefix: Vec<String>, program: &str) -> Self {
        let mut argv = prefix;
        argv.push(program.to_string());
        Self { argv }
    }

    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    async fn run(
        &self,
        action: &'static str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, NftError> {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]).args(args);
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| NftError::Spawn {
            program: self.argv.join(" "),
            message: e.to_string(),
        })?;
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().expect("stdin piped");
            pipe.write_all(input.as_bytes())
                .await
                .map_err(|e| NftError::Spawn {
                    program: self.argv.join(" "),
                    message: format!("writing the batch: {e}"),
                })?;
            drop(pipe);
        }
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| NftError::Spawn {
                program: self.argv.join(" "),
                message: e.to_string(),
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(NftError::Failed {
                action,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    /// Checks `batch` against the running kernel without changing anything (`nft -c`).
    pub async fn check(&self, batch: &str) -> Result<(), NftError> {
        self.run("check", &["-c", "-f", "-"], Some(batch))
            .await
            .map(drop)
    }

    /// Applies `batch` as one transaction.
    pub async fn apply(&self, batch: &str) -> Result<(), NftError> {
        self.run("apply", &["-f", "-"], Some(batch)).await.map(drop)
    }

    /// The chains, sets and maps of table `inet firewall` as the kernel has them, by name
    /// (`None` without the table). Listed with the cheap commands only: listing the table,
    /// its counters or a chain makes nft fetch every set element, seconds for 100 000.
    pub async fn list_names(&self) -> Result<Option<serde_json::Value>, NftError> {
        let mut items = Vec::new();
        for args in [
            ["-j", "list", "chains", "inet"].as_slice(),
            ["-j", "-t", "list", "sets", "inet"].as_slice(),
            ["-j", "-t", "list", "maps", "inet"].as_slice(),
        ] {
            let text = self.run("list", args, None).await?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| NftError::ReadBack(format!("nft -j output: {e}")))?;
            items.extend(json["nftables"].as_array().cloned().unwrap_or_default());
        }
        let ours = |i: &serde_json::Value| {
            ["chain", "set", "map"]
                .iter()
                .any(|k| i[k]["family"] == "inet" && i[k]["table"] == TABLE)
        };
        if !items.iter().any(ours) {
            return Ok(None);
        }
        Ok(Some(serde_json::json!({ "nftables": items })))
    }

    /// `nft list table inet firewall` as text, or `None` when the table does not exist.
    pub async fn list_table(&self) -> Result<Option<String>, NftError> {
        match self
            .run("list", &["list", "table", "inet", TABLE], None)
            .await
        {
            Ok(text) => Ok(Some(text)),
            Err(NftError::Failed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `nft -j list ruleset`: every table, for the statistics.
    pub async fn list_ruleset_json(&self) -> Result<serde_json::Value, NftError> {
        let text = self.run("list", &["-j", "list", "ruleset"], None).await?;
        serde_json::from_str(&text).map_err(|e| NftError::ReadBack(format!("nft -j output: {e}")))
    }
}

/// The transaction that replaces table `inet firewall` with `ruleset` atomically: declaring
/// the table first makes the delete valid when it does not exist yet.
pub fn replace_batch(ruleset: &str) -> String {
    format!("table inet {TABLE}\ndelete table inet {TABLE}\n{ruleset}")
}
