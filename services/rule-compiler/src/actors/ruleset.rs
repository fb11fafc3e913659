//! The one owner of the kernel ruleset. Every apply goes through it, one at a time:
//! check the transaction with `nft -c`, apply it atomically, read the table back. On any
//! failure the kernel keeps the last good table (the transaction aborts as a whole, and a
//! read-back mismatch re-applies the last good one), the error is kept for status and metrics,
//! and the latest wanted ruleset is retried with exponential backoff. An unchanged ruleset
//! causes no reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use parking_lot::RwLock;

use crate::metrics::Metrics;
use crate::nft::readback::Shape;
use crate::nft::{Nft, NftError, replace_batch};

pub const NAME: &str = "ruleset";

/// A ruleset to apply.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub ruleset: String,
    /// Identity for "unchanged" (the ruleset without DNS set elements).
    pub identity: String,
    /// Render and check only, this time (the Firewall's `spec.dryRun`); `--dry-run` always.
    pub dry_run: bool,
}

/// What the kernel holds and how the last attempts went, for REST and status.
#[derive(Clone, Debug, Default, serde::Serialize, utoipa::ToSchema)]
pub struct ApplyState {
    /// The last ruleset applied (or, in dry-run, rendered and checked).
    pub applied: Option<String>,
    /// Its identity (see [`Wanted::identity`]).
    #[serde(skip)]
    pub applied_identity: Option<String>,
    /// RFC 3339 time of that apply.
    pub applied_at: Option<String>,
    pub dry_run: bool,
    /// The error of the latest attempt, while it is failing.
    pub last_error: Option<String>,
    /// Consecutive failed attempts.
    pub failures: u32,
    /// Successful applies since start.
    pub applies: u64,
}

/// The outcome of an [`Apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    Unchanged,
    Applied,
    /// Dry run: checked (when a kernel is reachable) but not applied.
    Rendered,
}

#[derive(Message)]
#[rtype(result = "Result<Applied, String>")]
pub struct Apply(pub Wanted);

pub struct RulesetActor {
    nft: Nft,
    dry_run: bool,
    rule_file: Option<PathBuf>,
    backoff: (Duration, Duration),
    metrics: Metrics,
    state: Arc<RwLock<ApplyState>>,
    applied: Option<Wanted>,
    retry: Option<SpawnHandle>,
}

impl RulesetActor {
    pub fn new(
        nft: Nft,
        dry_run: bool,
        rule_file: Option<PathBuf>,
        backoff: (Duration, Duration),
        metrics: Metrics,
        state: Arc<RwLock<ApplyState>>,
    ) -> Self {
        state.write().dry_run = dry_run;
        Self {
            nft,
            dry_run,
            rule_file,
            backoff,
            metrics,
            state,
            applied: None,
            retry: None,
        }
    }

    fn retry_delay(&self, failures: u32) -> Duration {
        let (first, max) = self.backoff;
        first
            .saturating_mul(1u32 << failures.saturating_sub(1).min(16))
            .min(max)
    }
}

impl Actor for RulesetActor {
    type Context = Context<Self>;
}

impl Supervised for RulesetActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        tracing::warn!("ruleset actor restarting");
    }
}

/// check → apply → read back; on a read-back mismatch the last good table is restored.
async fn apply_once(
    nft: Nft,
    dry_run: bool,
    wanted: Wanted,
    last_good: Option<Wanted>,
    rule_file: Option<PathBuf>,
) -> Result<Applied, NftError> {
    let batch = replace_batch(&wanted.ruleset);
    if dry_run {
        // A dry run checks where it can; without nft or the privilege to ask the kernel
        // (a laptop, `metal-mesh up`) the rendered ruleset is still the answer.
        return match nft.check(&batch).await {
            Ok(()) => Ok(Applied::Rendered),
            Err(NftError::Failed { stderr, .. }) if !stderr.contains("Operation not permitted") => {
                Err(NftError::Failed {
                    action: "check",
                    stderr,
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "dry run: the ruleset could not be checked with nft");
                Ok(Applied::Rendered)
            }
        };
    }
    nft.check(&batch).await?;
    nft.apply(&batch).await?;
    let kernel = nft.list_names().await?;
    let want = Shape::of_text(&wanted.ruleset);
    let have = kernel
        .as_ref()
        .map(|k| Shape::of_json(k, crate::core::compile::TABLE))
        .unwrap_or_default();
    let differences = want.differences(&have);
    if !differences.is_empty() {
        if let Some(good) = last_good {
            // Best effort: the last good table was accepted by this kernel before.
            let _ = nft.apply(&replace_batch(&good.ruleset)).await;
        }
        return Err(NftError::ReadBack(differences.join("; ")));
    }
    if let Some(path) = rule_file {
        write_atomically(&path, &wanted.ruleset)
            .map_err(|e| NftError::ReadBack(format!("writing {}: {e}", path.display())))?;
    }
    Ok(Applied::Applied)
}

/// Writes `text` to a dot-file beside `path` and renames it over `path`, so a reader (nft at
/// boot) never sees half a file.
fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("ruleset")
    ));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

impl Handler<Apply> for RulesetActor {
    // Atomic: the mailbox waits until this apply is done, so applies never overlap.
    type Result = AtomicResponse<Self, Result<Applied, String>>;

    fn handle(&mut self, Apply(wanted): Apply, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(handle) = self.retry.take() {
            ctx.cancel_future(handle);
        }
        let dry_run = self.dry_run || wanted.dry_run;
        let unchanged = self
            .applied
            .as_ref()
            .is_some_and(|a| a.identity == wanted.identity && a.dry_run == wanted.dry_run)
            && self.state.read().last_error.is_none();
        if unchanged {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Applied::Unchanged))));
        }
        let started = Instant::now();
        self.state.write().dry_run = dry_run;
        let work = apply_once(
            self.nft.clone(),
            dry_run,
            wanted.clone(),
            self.applied.clone(),
            self.rule_file.clone(),
        );
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |result, this, ctx| {
            this.metrics.apply_duration.observe(started.elapsed().as_secs_f64());
            match result {
                Ok(outcome) => {
                    let mut state = this.state.write();
                    state.applied = Some(wanted.ruleset.clone());
                    state.applied_identity = Some(wanted.identity.clone());
                    state.applied_at = Some(chrono::Utc::now().to_rfc3339());
                    state.last_error = None;
                    state.failures = 0;
                    if outcome == Applied::Applied {
                        state.applies += 1;
                        this.metrics.applies.inc();
                    }
                    this.metrics.apply_ok.set(1);
                    this.applied = Some(wanted);
                    tracing::info!(?outcome, elapsed = ?started.elapsed(), "ruleset applied");
                    Ok(outcome)
                }
                Err(e) => {
                    let failures = {
                        let mut state = this.state.write();
                        state.last_error = Some(e.to_string());
                        state.failures += 1;
                        state.failures
                    };
                    this.metrics.apply_failures.inc();
                    this.metrics.apply_ok.set(0);
                    let delay = this.retry_delay(failures);
                    tracing::warn!(error = %e, failures, retry_in = ?delay, "ruleset apply failed; the last good ruleset stays");
                    let retry = wanted.clone();
                    this.retry = Some(ctx.run_later(delay, move |_, ctx| {
                        ctx.notify(Apply(retry));
                    }));
                    Err(e.to_string())
                }
            }
        })))
    }
}
