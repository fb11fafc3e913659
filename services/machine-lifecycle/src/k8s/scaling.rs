//! The MachineDeployment and MachineSet controllers (`--machine-deployments`): MCM's deployment
//! and machineset controllers for `--namespace`, so the MachineDeployments a Gardener Worker
//! controller writes become Machines the Machine controller serves, without MCM.
//!
//! Each pass reads its object and lists what it owns straight from the API server, not from a
//! watch cache: a MachineSet or Machine created a moment ago is counted, a scale just written
//! is seen, and after a restart the same objects give the same decisions; nothing is
//! remembered between passes. What a pass created for an object deleted meanwhile is deleted
//! again rather than left to a garbage collector that may not look for it. The decisions are
//! [`crate::core::scaling`]'s; this reads, asks, and writes: MachineSets and Machines created
//! with a controller owner reference, `spec.replicas` and the status merge-patched (only the
//! fields we own, so fields we do not model survive), surplus Machines and empty old
//! MachineSets deleted. A deleted MachineDeployment needs nothing here: the API server's
//! garbage collector deletes its MachineSets and their Machines by owner reference, and the
//! Machine controller's finalizer frees the machines.
//!
//! Triggers: MachineDeployment events, its MachineSets' events, and the events of Machines its
//! selector matches (a Machine that is gone makes room for a new one); MachineSet events and
//! its Machines' events.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Resource as _, ResourceExt as _};
use kube_resources::mcm::{Machine, MachineDeployment, MachineSet};
use mesh_controller::metrics::ReconcileMetrics;
use mesh_controller::recorder::Events;
use mesh_runtime::ShutdownSignal;
use rand::RngExt as _;
use serde_json::json;

use crate::core::scaling::{self, MachineState, SUFFIX_LEN, SetState};

pub const DEPLOYMENT_CONTROLLER: &str = "machinedeployment";
pub const SET_CONTROLLER: &str = "machineset";
/// A pass that left work to others (Machines to join or go) looks again this soon, should an
/// event be missed.
const BUSY: Duration = Duration::from_secs(15);
/// Everything else is looked at again this often.
const RESYNC: Duration = Duration::from_secs(300);
/// Creations and deletions in flight at once in one pass.
const PARALLEL: usize = 8;

pub struct ScalingCtx {
    pub deployments: Api<MachineDeployment>,
    pub sets: Api<MachineSet>,
    pub machines: Api<Machine>,
    /// Machines are created from JSON: a template's fields we do not model go along.
    pub raw_machines: Api<DynamicObject>,
    pub metrics: ReconcileMetrics,
    pub events: Events,
}

impl ScalingCtx {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        metrics: ReconcileMetrics,
        events: Events,
    ) -> Self {
        let machine = ApiResource::erase::<Machine>(&());
        Self {
            deployments: Api::namespaced(client.clone(), namespace),
            sets: Api::namespaced(client.clone(), namespace),
            machines: Api::namespaced(client.clone(), namespace),
            raw_machines: Api::namespaced_with(client, namespace, &machine),
            metrics,
            events,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScalingError {
    #[error("kubernetes: {0}")]
    Kube(#[from] kube::Error),
    #[error("{0}")]
    Invalid(String),
}

/// Both controllers until `stop`.
pub async fn run(ctx: Arc<ScalingCtx>, workers: u16, stop: ShutdownSignal) {
    let config = ControllerConfig::default().concurrency(workers);
    let deployments = Controller::new(ctx.deployments.clone(), watcher::Config::default());
    let store = deployments.store();
    let deployments = deployments
        .owns(ctx.sets.clone(), watcher::Config::default())
        .watches(
            ctx.machines.clone(),
            watcher::Config::default(),
            move |machine| {
                // Machines carry their deployment's template labels, so its selector finds them.
                let labels = machine.labels();
                store
                    .state()
                    .iter()
                    .filter(|md| selects(md, labels))
                    .map(|md| ObjectRef::from_obj(md.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .with_config(config.clone())
        .graceful_shutdown_on({
            let stop = stop.clone();
            async move { stop.wait().await }
        })
        .run(reconcile_deployment, deployment_error, ctx.clone())
        .for_each(|_| futures::future::ready(()));
    let sets = Controller::new(ctx.sets.clone(), watcher::Config::default())
        .owns(ctx.machines.clone(), watcher::Config::default())
        .with_config(config)
        .graceful_shutdown_on(async move { stop.wait().await })
        .run(reconcile_set, set_error, ctx)
        .for_each(|_| futures::future::ready(()));
    tokio::join!(deployments, sets);
}

/// The deployment's non-empty `matchLabels` are all on `labels`.
fn selects(md: &MachineDeployment, labels: &BTreeMap<String, String>) -> bool {
    match_labels(md.spec.selector.as_ref())
        .is_some_and(|want| want.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

fn match_labels(
    selector: Option<&kube_resources::mcm::LabelSelector>,
) -> Option<&BTreeMap<String, String>> {
    selector
        .and_then(|s| s.match_labels.as_ref())
        .filter(|l| !l.is_empty())
}

/// `k=v,...` for a list request.
fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

async fn reconcile_deployment(
    md: Arc<MachineDeployment>,
    ctx: Arc<ScalingCtx>,
) -> Result<Action, ScalingError> {
    let pass = async {
        // The watch cache may lag: a stale spec would scale back, a deleted deployment would
        // get a MachineSet nobody owns. So the pass works on the object as it is now.
        match ctx.deployments.get_opt(&md.name_any()).await? {
            Some(md) => sync_deployment(&md, &ctx).await,
            None => Ok(Action::await_change()),
        }
    };
    ctx.metrics.measure(DEPLOYMENT_CONTROLLER, pass).await
}

fn deployment_error(
    md: Arc<MachineDeployment>,
    error: &ScalingError,
    _: Arc<ScalingCtx>,
) -> Action {
    tracing::warn!(deployment = %md.name_any(), %error, "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

async fn sync_deployment(md: &MachineDeployment, ctx: &ScalingCtx) -> Result<Action, ScalingError> {
    let Some(uid) = md.uid() else {
        return Ok(Action::await_change());
    };
    if md.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let name = md.name_any();
    let d = match scaling::deployment(md) {
        Ok(d) => d,
        Err(why) => {
            tracing::warn!(deployment = %name, "not scaled: {why}");
            ctx.events
                .warning(md.object_ref(&()), "InvalidSpec", "Scale", why);
            return Ok(Action::await_change());
        }
    };
    let selector = match_labels(md.spec.selector.as_ref())
        .map(label_selector)
        .unwrap_or_default();
    let listed = ListParams::default().labels(&selector);
    let sets: Vec<MachineSet> = ctx
        .sets
        .list(&listed)
        .await?
        .items
        .into_iter()
        .filter(|s| scaling::controlled_by(&s.metadata, &uid))
        .collect();
    let machines = ctx.machines.list(&listed).await?.items;
    let states: Vec<SetState> = sets
        .iter()
        .map(|set| SetState::of(set, &machines_of(set, &machines)))
        .collect();
    let plan = scaling::plan_deployment(&d, &states);

    if let Some(replicas) = plan.create {
        let set = scaling::new_machine_set(md, &d, replicas);
        let set_name = set.name_any();
        match ctx.sets.create(&PostParams::default(), &set).await {
            Ok(_) => {
                // Deleted since the read: the new set would outlive it, so it goes too.
                if gone(&ctx.deployments, &name, &uid).await? {
                    delete_set(ctx, &set_name).await?;
                    return Ok(Action::await_change());
                }
                tracing::info!(deployment = %name, set = %set_name, replicas, "created MachineSet");
                ctx.events.normal(
                    md.object_ref(&()),
                    "ScalingMachineSet",
                    "Create",
                    format!("Created MachineSet {set_name} with {replicas} replicas"),
                );
            }
            // Someone else's MachineSet of that name (ours would have been listed).
            Err(kube::Error::Api(e)) if e.code == 409 => {
                return Err(ScalingError::Invalid(format!(
                    "MachineSet {set_name} exists but is not controlled by this MachineDeployment"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    for (set_name, replicas) in &plan.scale {
        let was = states
            .iter()
            .find(|s| &s.name == set_name)
            .map_or(0, |s| s.replicas);
        let patch = json!({"spec": {"replicas": replicas}});
        ctx.sets
            .patch(set_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await?;
        let way = if *replicas > was { "up" } else { "down" };
        tracing::info!(deployment = %name, set = %set_name, was, replicas, "scaled MachineSet {way}");
        ctx.events.normal(
            md.object_ref(&()),
            "ScalingMachineSet",
            "Scale",
            format!("Scaled {way} MachineSet {set_name} from {was} to {replicas}"),
        );
    }
    for set_name in &plan.delete {
        delete_set(ctx, set_name).await?;
        tracing::info!(deployment = %name, set = %set_name, "deleted old MachineSet");
        ctx.events.normal(
            md.object_ref(&()),
            "DeletedMachineSet",
            "Delete",
            format!("Deleted old MachineSet {set_name}"),
        );
    }

    let previous = md
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let conditions = scaling::conditions(&d, &plan, &previous, &now());
    let status = scaling::deployment_status(&plan.counts, conditions);
    if md.status.as_ref() != Some(&status) {
        let patch = json!({ "status": status });
        match ctx
            .deployments
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            // Gone meanwhile: nothing to report.
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Action::requeue(if plan.complete { RESYNC } else { BUSY }))
}

/// Whether the object `name` of `uid` is no more (or being deleted).
async fn gone<K>(api: &Api<K>, name: &str, uid: &str) -> Result<bool, kube::Error>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    Ok(api.get_opt(name).await?.is_none_or(|o| {
        o.meta().uid.as_deref() != Some(uid) || o.meta().deletion_timestamp.is_some()
    }))
}

async fn delete_set(ctx: &ScalingCtx, name: &str) -> Result<(), kube::Error> {
    match ctx.sets.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// The Machines controlled by `set` among `machines`, as the plans read them.
fn machines_of(set: &MachineSet, machines: &[Machine]) -> Vec<MachineState> {
    let uid = set.uid().unwrap_or_default();
    let labels = scaling::template_labels(&set.spec.template);
    machines
        .iter()
        .filter(|m| scaling::controlled_by(&m.metadata, &uid))
        .map(|m| scaling::machine_state(m, &labels))
        .collect()
}

fn now() -> Time {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    Time(now.parse().unwrap_or_default())
}

async fn reconcile_set(set: Arc<MachineSet>, ctx: Arc<ScalingCtx>) -> Result<Action, ScalingError> {
    let pass = async {
        // As for deployments: a stale `spec.replicas` would make Machines the deployment just
        // took away.
        match ctx.sets.get_opt(&set.name_any()).await? {
            Some(set) => sync_set(&set, &ctx).await,
            None => Ok(Action::await_change()),
        }
    };
    ctx.metrics.measure(SET_CONTROLLER, pass).await
}

fn set_error(set: Arc<MachineSet>, error: &ScalingError, _: Arc<ScalingCtx>) -> Action {
    tracing::warn!(set = %set.name_any(), %error, "reconcile failed");
    Action::requeue(Duration::from_secs(5))
}

async fn sync_set(set: &MachineSet, ctx: &ScalingCtx) -> Result<Action, ScalingError> {
    let Some(uid) = set.uid() else {
        return Ok(Action::await_change());
    };
    let name = set.name_any();
    // An empty selector would select every Machine: refused, as upstream does.
    let Some(selector) = match_labels(set.spec.selector.as_ref()) else {
        let why = "spec.selector.matchLabels must not be empty".to_owned();
        tracing::warn!(set = %name, "not scaled: {why}");
        ctx.events
            .warning(set.object_ref(&()), "InvalidSpec", "Scale", why);
        return Ok(Action::await_change());
    };
    let listed = ListParams::default().labels(&label_selector(selector));
    let machines = ctx.machines.list(&listed).await?.items;
    let machines: Vec<Machine> = machines
        .into_iter()
        .filter(|m| scaling::controlled_by(&m.metadata, &uid))
        .collect();
    let states = machines_of(set, &machines);
    let replicas = set.spec.replicas.unwrap_or(0);
    let deleting = set.meta().deletion_timestamp.is_some();
    let suffixes = random_suffixes(usize::try_from(replicas).unwrap_or(0) + 2);
    let plan = scaling::plan_machine_set(&name, replicas, deleting, &states, &suffixes);

    // The futures are built first: a stream mapping borrowed names trips the compiler's
    // higher-ranked lifetime check inside the controller's Send bound.
    let creates: Vec<_> = plan
        .create
        .iter()
        .map(|machine| create_machine(ctx, set, machine))
        .collect();
    let created: Vec<_> = futures::stream::iter(creates)
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let deletes: Vec<_> = plan
        .delete
        .iter()
        .map(|machine| delete_machine(ctx, machine))
        .collect();
    let deleted: Vec<_> = futures::stream::iter(deletes)
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let made = created.iter().filter(|r| r.is_ok()).count();
    // Deleted since the read: the new Machines would outlive it, so they go too.
    if made > 0 && gone(&ctx.sets, &name, &uid).await? {
        for machine in &plan.create {
            delete_machine(ctx, machine).await?;
        }
        return Ok(Action::await_change());
    }
    if made > 0 {
        tracing::info!(set = %name, machines = made, "created Machines");
        ctx.events.normal(
            set.object_ref(&()),
            "SuccessfulCreate",
            "Create",
            format!("Created {made} Machines: {}", plan.create.join(", ")),
        );
    }
    let gone = deleted.iter().filter(|r| r.is_ok()).count();
    if gone > 0 {
        tracing::info!(set = %name, machines = gone, "deleted Machines");
        ctx.events.normal(
            set.object_ref(&()),
            "SuccessfulDelete",
            "Delete",
            format!("Deleted {gone} Machines: {}", plan.delete.join(", ")),
        );
    }

    let status = plan.counts.status(set.metadata.generation.unwrap_or(0));
    if set.status.as_ref() != Some(&status) {
        let patch = json!({ "status": status });
        match ctx
            .sets
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {}
            // Gone meanwhile: nothing to report.
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(e) = created.into_iter().chain(deleted).find_map(Result::err) {
        return Err(e.into());
    }
    let settled = plan.create.is_empty()
        && plan.delete.is_empty()
        && states.iter().all(|m| !m.terminating())
        && plan.counts.available == replicas;
    Ok(Action::requeue(if settled { RESYNC } else { BUSY }))
}

/// `count` random [`SUFFIX_LEN`]-character lowercase alphanumerics (the plan skips any taken).
fn random_suffixes(count: usize) -> Vec<String> {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..count)
        .map(|_| {
            (0..SUFFIX_LEN)
                .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
                .collect()
        })
        .collect()
}

async fn create_machine(ctx: &ScalingCtx, set: &MachineSet, name: &str) -> Result<(), kube::Error> {
    let machine: DynamicObject =
        serde_json::from_value(scaling::new_machine(set, name)).map_err(kube::Error::SerdeError)?;
    match ctx
        .raw_machines
        .create(&PostParams::default(), &machine)
        .await
    {
        // Taken since the list: the next pass counts it.
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => {
            tracing::warn!(machine = %name, "creating the Machine: {e}");
            Err(e)
        }
    }
}

async fn delete_machine(ctx: &ScalingCtx, name: &str) -> Result<(), kube::Error> {
    match ctx.machines.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => {
            tracing::warn!(machine = %name, "deleting the Machine: {e}");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn suffixes_are_valid() {
        let suffixes = random_suffixes(50);
        assert_eq!(suffixes.len(), 50);
        assert!(
            suffixes.iter().all(|s| scaling::is_suffix(s)),
            "{suffixes:?}"
        );
    }

    #[test]
    fn a_deployment_selects_machines_carrying_all_its_match_labels() {
        let md: MachineDeployment = serde_json::from_value(json!({
            "metadata": {"name": "md"},
            "spec": {"selector": {"matchLabels": {"a": "1", "b": "2"}}, "template": {}},
        }))
        .unwrap();
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(selects(&md, &labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
        assert!(!selects(&md, &labels(&[("a", "1")])));
        let empty: MachineDeployment = serde_json::from_value(json!({
            "metadata": {"name": "md"}, "spec": {"selector": {"matchLabels": {}}, "template": {}},
        }))
        .unwrap();
        assert!(
            !selects(&empty, &labels(&[("a", "1")])),
            "an empty selector selects nothing"
        );
        assert_eq!(
            label_selector(&labels(&[("b", "2"), ("a", "1")])),
            "a=1,b=2"
        );
    }
}
