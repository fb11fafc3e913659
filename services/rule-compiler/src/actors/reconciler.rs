//! The reconciler: holds the inputs (Firewall, policies, Services), compiles them whenever one
//! changes and on the Firewall's `interval`, hands the ruleset to the ruleset actor, and on
//! success reports back: CWNP statuses, Warning events, the DNS proxy's selectors.
//!
//! Changes arrive in bursts (a watch relist, many Services at once); they are coalesced into
//! one compile shortly after the first, so a burst costs one apply.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use k8s_openapi::api::core::v1::Service;
use kube_resources::ClusterwideNetworkPolicy;
use kube_resources::cwnp::{FqdnSelector, IpSet};
use kube_resources::firewall::Firewall;
use parking_lot::RwLock;

use crate::actors::ruleset::{Applied, Apply, RulesetActor, Wanted};
use crate::core::compile::{Compiled, DnsSnapshot, Input, PolicyInput, SetNamer, Warning, compile};
use crate::metrics::Metrics;

pub const NAME: &str = "reconciler";
/// How long a burst of changes is collected before compiling.
const COALESCE: Duration = Duration::from_millis(100);

/// The DNS side the reconciler needs: which selectors are in use, the current set elements,
/// and the per-selector state for `status.fqdn_state`.
pub trait Dns: Send + Sync {
    /// The selectors of the ruleset just applied: their sets exist in the kernel now, so the
    /// proxy may fill them.
    fn set_selectors(&self, selectors: &[FqdnSelector]);
    fn snapshot(&self, selectors: &[FqdnSelector]) -> DnsSnapshot;
    fn fqdn_state(&self, selectors: &[FqdnSelector]) -> BTreeMap<String, Vec<IpSet>>;
    /// The proxy's address, when it runs.
    fn proxy(&self) -> Option<std::net::IpAddr>;
}

/// What to write back after a successful apply.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyStatus {
    pub namespace: String,
    pub name: String,
    pub state: &'static str,
    pub message: String,
    pub fqdn_state: Option<BTreeMap<String, Vec<IpSet>>>,
}

/// Where statuses and events go (Kubernetes, or nowhere without it).
pub trait Report: Send + Sync {
    fn statuses(&self, statuses: Vec<PolicyStatus>);
    fn warnings(&self, warnings: Vec<Warning>);
}

/// The inputs, shared with the edges that fill them.
#[derive(Default)]
pub struct Inputs {
    pub firewall: Option<Firewall>,
    pub policies: BTreeMap<(String, String), ClusterwideNetworkPolicy>,
    pub services: BTreeMap<(String, String), Service>,
}

/// The outcome of the last compile, for REST and status.
#[derive(Clone, Debug, Default)]
pub struct LastCompile {
    pub compiled: Option<Arc<Compiled>>,
    /// Its [`Compiled::identity`].
    pub identity: String,
    pub error: Option<String>,
}

/// One compile's inputs, owned (see [`Reconciler::snapshot`]).
struct CompileJob {
    firewall: Firewall,
    policies: Vec<PolicyInput>,
    services: Vec<Service>,
    dns: Option<Arc<dyn Dns>>,
    set_name: SetNamer,
    policy_namespace: String,
    dry_run: bool,
}

impl CompileJob {
    fn run(self) -> Result<Compiled, String> {
        let proxy = self.dns.as_ref().and_then(|d| d.proxy());
        let run = |dns: &DnsSnapshot| {
            compile(&Input {
                firewall: &self.firewall,
                policies: &self.policies,
                services: &self.services,
                dns,
                set_name: self.set_name,
                policy_namespace: &self.policy_namespace,
                dns_proxy: proxy,
            })
            .map_err(|e| e.to_string())
        };
        // The selectors in use are known after compiling; with FQDN rules the set elements
        // are then filled in by a second compile.
        let first = run(&DnsSnapshot::new())?;
        match &self.dns {
            Some(dns) if !first.selectors.is_empty() => run(&dns.snapshot(&first.selectors)),
            _ => Ok(first),
        }
    }
}

pub struct Reconciler {
    pub inputs: Arc<RwLock<Inputs>>,
    pub ruleset: Addr<RulesetActor>,
    pub dns: Option<Arc<dyn Dns>>,
    pub report: Option<Arc<dyn Report>>,
    pub set_name: SetNamer,
    pub policy_namespace: String,
    pub default_interval: Duration,
    pub last: Arc<RwLock<LastCompile>>,
    pub metrics: Metrics,
    scheduled: bool,
    interval: Option<(Duration, SpawnHandle)>,
    /// Warnings already emitted, so a steady state does not repeat them every interval.
    warned: BTreeSet<(String, String, String)>,
}

impl Reconciler {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inputs: Arc<RwLock<Inputs>>,
        ruleset: Addr<RulesetActor>,
        dns: Option<Arc<dyn Dns>>,
        report: Option<Arc<dyn Report>>,
        set_name: SetNamer,
        policy_namespace: String,
        default_interval: Duration,
        last: Arc<RwLock<LastCompile>>,
        metrics: Metrics,
    ) -> Self {
        Self {
            inputs,
            ruleset,
            dns,
            report,
            set_name,
            policy_namespace,
            default_interval,
            last,
            metrics,
            scheduled: false,
            interval: None,
            warned: BTreeSet::new(),
        }
    }

    /// What a compile needs, copied out of the inputs so it can run off the actor's thread;
    /// `None` while there is no Firewall yet.
    fn snapshot(&self) -> Option<CompileJob> {
        let inputs = self.inputs.read();
        let firewall = inputs.firewall.clone()?;
        let policies = inputs
            .policies
            .values()
            .map(|p| PolicyInput {
                namespace: p.metadata.namespace.clone().unwrap_or_default(),
                name: p.metadata.name.clone().unwrap_or_default(),
                spec: Ok(p.spec.clone()),
            })
            .collect();
        Some(CompileJob {
            dry_run: firewall.spec.dry_run.unwrap_or(false),
            firewall,
            policies,
            services: inputs.services.values().cloned().collect(),
            dns: self.dns.clone(),
            set_name: self.set_name,
            policy_namespace: self.policy_namespace.clone(),
        })
    }

    fn interval_of(&self) -> Duration {
        self.inputs
            .read()
            .firewall
            .as_ref()
            .and_then(|f| f.spec.interval.as_deref())
            .and_then(|i| humantime::parse_duration(i).ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(self.default_interval)
    }

    /// (Re)starts the periodic reconcile when the Firewall's interval changed (upstream
    /// never picked up a changed interval).
    fn keep_interval(&mut self, ctx: &mut Context<Self>) {
        let every = self.interval_of();
        if self.interval.as_ref().is_some_and(|(d, _)| *d == every) {
            return;
        }
        if let Some((_, handle)) = self.interval.take() {
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_interval(every, |act, ctx| act.reconcile(ctx));
        self.interval = Some((every, handle));
    }

    fn reconcile(&mut self, ctx: &mut Context<Self>) {
        tracing::debug!("reconcile");
        self.keep_interval(ctx);
        let Some(job) = self.snapshot() else {
            self.last.write().error = Some("no Firewall object yet".into());
            return;
        };
        let dry_run = job.dry_run;
        // Tens of milliseconds for 10 000 policies: on a blocking thread, not the actor's.
        // `wait` keeps the mailbox closed meanwhile, so compiles (and applies) stay in order.
        let work = tokio::task::spawn_blocking(move || job.run());
        ctx.wait(work.into_actor(self).map(move |result, act, ctx| {
            let result = result.unwrap_or_else(|e| Err(format!("compile task failed: {e}")));
            act.apply(result, dry_run, ctx);
        }));
    }

    /// Hands a compiled ruleset to the ruleset actor and reports once it is applied.
    fn apply(&mut self, result: Result<Compiled, String>, dry_run: bool, ctx: &mut Context<Self>) {
        let compiled = match result {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::warn!(error = %e, "the Firewall cannot be compiled; the last good ruleset stays");
                self.last.write().error = Some(e);
                return;
            }
        };
        self.metrics
            .policies_ignored
            .set(compiled.ignored.len() as i64);
        let identity = compiled.identity();
        *self.last.write() = LastCompile {
            compiled: Some(compiled.clone()),
            identity: identity.clone(),
            error: None,
        };
        let wanted = Wanted {
            ruleset: compiled.ruleset.clone(),
            identity,
            dry_run,
        };
        ctx.spawn(
            self.ruleset.send(Apply(wanted)).into_actor(self).map(
                move |result, act, _| match result {
                    Ok(Ok(outcome)) => act.report(&compiled, outcome),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "apply failed; reported by the ruleset actor")
                    }
                    Err(e) => tracing::warn!(error = %e, "ruleset actor unavailable"),
                },
            ),
        );
    }

    /// Statuses and events after an apply: `deployed` for compiled policies (with their FQDN
    /// state), `ignored` with the reason for the rest; only what changed is written.
    fn report(&mut self, compiled: &Compiled, _outcome: Applied) {
        if let Some(dns) = &self.dns {
            dns.set_selectors(&compiled.selectors);
        }
        let Some(report) = self.report.clone() else {
            return;
        };
        let mut statuses = Vec::new();
        for d in &compiled.deployed {
            let fqdn_state = self
                .dns
                .as_ref()
                .filter(|_| !d.fqdn.is_empty())
                .map(|dns| dns.fqdn_state(&d.fqdn));
            statuses.push(PolicyStatus {
                namespace: d.namespace.clone(),
                name: d.name.clone(),
                state: "deployed",
                message: d.message.clone(),
                fqdn_state,
            });
        }
        let mut warnings = compiled.warnings.clone();
        for i in &compiled.ignored {
            statuses.push(PolicyStatus {
                namespace: i.namespace.clone(),
                name: i.name.clone(),
                state: "ignored",
                message: i.reason.clone(),
                fqdn_state: None,
            });
            warnings.push(Warning {
                kind: "ClusterwideNetworkPolicy",
                namespace: i.namespace.clone(),
                name: i.name.clone(),
                reason: "Inapplicable",
                message: i.reason.clone(),
            });
        }
        // Compared with the status the watch last saw: a write that failed, or one lost in a
        // restart, is simply made again; an unchanged one is never repeated.
        let changed: Vec<PolicyStatus> = {
            let inputs = self.inputs.read();
            statuses
                .into_iter()
                .filter(|s| {
                    let current = inputs
                        .policies
                        .get(&(s.namespace.clone(), s.name.clone()))
                        .and_then(|p| p.status.as_ref());
                    current.is_none_or(|c| {
                        c.state.as_deref() != Some(s.state)
                            || c.message.as_deref().unwrap_or_default() != s.message
                            || c.fqdn_state != s.fqdn_state
                    })
                })
                .collect()
        };
        let current: BTreeSet<(String, String, String)> = warnings
            .iter()
            .map(|w| {
                (
                    format!("{}/{}/{}", w.kind, w.namespace, w.name),
                    w.reason.to_string(),
                    w.message.clone(),
                )
            })
            .collect();
        let new_warnings: Vec<Warning> = warnings
            .into_iter()
            .filter(|w| {
                !self.warned.contains(&(
                    format!("{}/{}/{}", w.kind, w.namespace, w.name),
                    w.reason.to_string(),
                    w.message.clone(),
                ))
            })
            .collect();
        self.warned = current;
        if !changed.is_empty() {
            report.statuses(changed);
        }
        if !new_warnings.is_empty() {
            report.warnings(new_warnings);
        }
    }
}

impl Actor for Reconciler {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.reconcile(ctx);
    }
}

impl Supervised for Reconciler {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.scheduled = false;
        self.interval = None;
    }
}

/// Something changed: compile soon (coalescing with other changes).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Changed;

impl Handler<Changed> for Reconciler {
    type Result = ();

    fn handle(&mut self, _: Changed, ctx: &mut Context<Self>) {
        if self.scheduled {
            return;
        }
        self.scheduled = true;
        ctx.run_later(COALESCE, |act, ctx| {
            act.scheduled = false;
            act.reconcile(ctx);
        });
    }
}
