//! MachineDeployment → MachineSet → Machine scaling: what machine-controller-manager's
//! deployment and machineset controllers (Kubernetes' Deployment and ReplicaSet controllers
//! applied to Machines) decide, as functions over what the edge has just listed.
//!
//! * The current template of a MachineDeployment has one MachineSet, `<deployment>-<hash>`,
//!   whose labels, selector and template carry `machine-template-hash=<hash>`, so the sets of
//!   two templates never select each other's Machines ([`template_hash`], [`new_machine_set`]).
//! * [`plan_deployment`]: one step of a RollingUpdate or Recreate: the MachineSets' replicas, the
//!   new set to create, the empty old ones to delete, and the counts of the status.
//! * [`plan_machine_set`]: the Machines a MachineSet creates and deletes, and its status.
//!
//! One deliberate difference to upstream: it reads the MachineSets' status, we count the
//! Machines listed just before (terminating ones included), so a status that lags cannot let a
//! rollout exceed `replicas + maxSurge` Machines or drop below `replicas - maxUnavailable`
//! available ones. A Machine is available (and ready) when Running; `minReadySeconds` is
//! copied to the MachineSets but not waited for.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{Resource, ResourceExt as _};
use kube_resources::mcm::{
    Machine, MachineDeployment, MachineDeploymentCondition, MachineDeploymentStatus,
    MachineDeploymentStrategy, MachineSet, MachineSetSpec, MachineSetStatus, MachineTemplateSpec,
};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::lifecycle::{CRASH_LOOP, FAILED, PENDING, RUNNING, TERMINATING, UNKNOWN};

/// Upstream's label (`DefaultMachineDeploymentUniqueLabelKey`) telling templates apart.
pub const TEMPLATE_HASH_LABEL: &str = "machine-template-hash";
/// A Machine's deletion priority (upstream's, set e.g. by the cluster-autoscaler): lower is
/// deleted first; 3 when missing or not a number.
pub const PRIORITY_ANNOTATION: &str = "machinepriority.machine.sapcloud.io";
const DEFAULT_PRIORITY: i32 = 3;
/// Hex digits of the template hash in a MachineSet's name.
pub const HASH_LEN: usize = 10;
/// Random lowercase alphanumerics after a MachineSet's name in its Machines' names.
pub const SUFFIX_LEN: usize = 5;
/// Machines created or deleted by one MachineSet pass (upstream's `BurstReplicas`).
pub const BURST: usize = 100;

pub const STRATEGY_ROLLING: &str = "RollingUpdate";
pub const STRATEGY_RECREATE: &str = "Recreate";
pub const CONDITION_AVAILABLE: &str = "Available";
pub const CONDITION_PROGRESSING: &str = "Progressing";

/// The template's hash: sha256 over its JSON with object keys sorted, the first [`HASH_LEN`]
/// hex digits. Upstream hashes the Go struct with FNV-32 (`ComputeHash`), so the values
/// differ, not the use: an equal template gives the same MachineSet, any change a new one. The
/// hash label itself is left out, so a MachineSet's template hashes like its deployment's.
pub fn template_hash(template: &MachineTemplateSpec) -> String {
    let mut template = template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH_LABEL);
    }
    // Serializing plain data cannot fail; Null would still hash consistently.
    let value = serde_json::to_value(&template).unwrap_or(Value::Null);
    let mut text = String::new();
    canonical(&value, &mut text);
    Sha256::digest(text.as_bytes())
        .iter()
        .take(HASH_LEN / 2)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// JSON with sorted object keys, whatever order the map kept.
fn canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

pub fn machine_set_name(deployment: &str, hash: &str) -> String {
    format!("{deployment}-{hash}")
}

pub fn machine_name(set: &str, suffix: &str) -> String {
    format!("{set}-{suffix}")
}

/// [`SUFFIX_LEN`] lowercase ASCII letters or digits.
pub fn is_suffix(suffix: &str) -> bool {
    suffix.len() == SUFFIX_LEN
        && suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// How a MachineDeployment replaces Machines, with the bounds resolved against `replicas`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    RollingUpdate {
        max_surge: i32,
        max_unavailable: i32,
    },
    /// Every old Machine goes before a new one is made.
    Recreate,
}

/// The strategy of `spec.strategy` for `replicas`: `maxSurge` (default 1) rounded up,
/// `maxUnavailable` (default 1) rounded down and at most `replicas`, as Kubernetes does; both 0
/// would never progress, so `maxUnavailable` is then 1.
pub fn strategy(
    spec: Option<&MachineDeploymentStrategy>,
    replicas: i32,
) -> Result<Strategy, String> {
    match spec
        .and_then(|s| s.type_.as_deref())
        .unwrap_or(STRATEGY_ROLLING)
    {
        STRATEGY_RECREATE => Ok(Strategy::Recreate),
        STRATEGY_ROLLING => {
            let rolling = spec.and_then(|s| s.rolling_update.as_ref());
            let surge = scaled(
                rolling.and_then(|r| r.max_surge.as_ref()),
                replicas,
                true,
                "maxSurge",
            )?;
            let unavailable = scaled(
                rolling.and_then(|r| r.max_unavailable.as_ref()),
                replicas,
                false,
                "maxUnavailable",
            )?;
            let unavailable = if surge == 0 && unavailable == 0 {
                1
            } else {
                unavailable
            };
            Ok(Strategy::RollingUpdate {
                max_surge: surge,
                max_unavailable: unavailable.min(replicas.max(0)),
            })
        }
        other => Err(format!(
            "spec.strategy.type {other:?}: expected {STRATEGY_ROLLING} or {STRATEGY_RECREATE}"
        )),
    }
}

/// A number, or a percentage of `replicas` (`25%`) rounded up or down.
fn scaled(
    value: Option<&IntOrString>,
    replicas: i32,
    up: bool,
    field: &str,
) -> Result<i32, String> {
    let bad = |why: &str| format!("spec.strategy.rollingUpdate.{field}: {why}");
    match value {
        None => Ok(1),
        Some(IntOrString::Int(n)) if *n >= 0 => Ok(*n),
        Some(IntOrString::Int(_)) => Err(bad("must not be negative")),
        Some(IntOrString::String(s)) => {
            let percent: i64 = s
                .strip_suffix('%')
                .and_then(|p| p.parse().ok())
                .filter(|p| *p >= 0)
                .ok_or_else(|| bad(&format!("{s:?} is neither a number nor a percentage")))?;
            let product = percent * i64::from(replicas.max(0));
            let value = if up {
                (product + 99) / 100
            } else {
                product / 100
            };
            i32::try_from(value).map_err(|_| bad("too large"))
        }
    }
}

/// A MachineDeployment as the plans read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub name: String,
    pub replicas: i32,
    pub generation: i64,
    pub strategy: Strategy,
    pub paused: bool,
    /// [`template_hash`] of its template.
    pub hash: String,
}

impl Deployment {
    /// The MachineSet of the current template.
    pub fn new_set_name(&self) -> String {
        machine_set_name(&self.name, &self.hash)
    }
}

/// The MachineDeployment, checked as upstream's validation does for what scaling relies on: a
/// non-empty `selector.matchLabels` that the template's labels carry (it selects the
/// Machines), a class, replicas not negative and a known strategy.
pub fn deployment(md: &MachineDeployment) -> Result<Deployment, String> {
    let spec = &md.spec;
    let replicas = spec.replicas.unwrap_or(0);
    if replicas < 0 {
        return Err(format!("spec.replicas {replicas}: must not be negative"));
    }
    let selector = spec
        .selector
        .as_ref()
        .and_then(|s| s.match_labels.as_ref())
        .filter(|l| !l.is_empty())
        .ok_or("spec.selector.matchLabels must not be empty")?;
    let labels = template_labels(&spec.template);
    if let Some((k, v)) = selector.iter().find(|(k, v)| labels.get(*k) != Some(*v)) {
        return Err(format!(
            "spec.selector.matchLabels {k}={v} is not a label of spec.template.metadata"
        ));
    }
    let has_class = spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.machine.class.as_ref())
        .is_some_and(|c| !c.name.is_empty());
    if !has_class {
        return Err("spec.template.spec.class.name must be set".into());
    }
    Ok(Deployment {
        name: md.name_any(),
        replicas,
        generation: md.metadata.generation.unwrap_or(0),
        strategy: strategy(spec.strategy.as_ref(), replicas)?,
        paused: spec.paused.unwrap_or(false),
        hash: template_hash(&spec.template),
    })
}

/// The template's labels (none: empty).
pub fn template_labels(template: &MachineTemplateSpec) -> BTreeMap<String, String> {
    template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// The owner reference a child carries: the controller, blocking the owner's foreground
/// deletion until the child is gone. None for an owner without name or uid (not yet stored).
pub fn controller_reference<K: Resource<DynamicType = ()>>(owner: &K) -> Option<OwnerReference> {
    let mut reference = owner.controller_owner_ref(&())?;
    reference.block_owner_deletion = Some(true);
    Some(reference)
}

/// Whether `child` is controlled by the object of uid `owner`.
pub fn controlled_by(child: &ObjectMeta, owner: &str) -> bool {
    child
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && r.uid == owner)
}

/// The MachineSet of the deployment's current template, with `replicas`: the template's labels
/// plus the hash label on the set, its selector and its template.
pub fn new_machine_set(md: &MachineDeployment, d: &Deployment, replicas: i32) -> MachineSet {
    let mut template = md.spec.template.clone();
    let meta = template.metadata.get_or_insert_with(Default::default);
    meta.labels
        .get_or_insert_with(Default::default)
        .insert(TEMPLATE_HASH_LABEL.into(), d.hash.clone());
    let labels = meta.labels.clone();
    let mut selector = md.spec.selector.clone().unwrap_or_default();
    selector
        .match_labels
        .get_or_insert_with(Default::default)
        .insert(TEMPLATE_HASH_LABEL.into(), d.hash.clone());
    let mut set = MachineSet::new(
        &d.new_set_name(),
        MachineSetSpec {
            replicas: Some(replicas),
            selector: Some(selector),
            template,
            min_ready_seconds: md.spec.min_ready_seconds,
            machine_class: None,
        },
    );
    set.metadata.namespace = md.namespace();
    set.metadata.labels = labels;
    set.metadata.owner_references = controller_reference(md).map(|r| vec![r]);
    set
}

/// The Machine `name` of the MachineSet: the template's labels and annotations, its spec (every
/// field, also those we do not model), controlled by the set. A providerID in a template would
/// give every Machine the same machine, so it is left out.
pub fn new_machine(set: &MachineSet, name: &str) -> Value {
    let template = &set.spec.template;
    let meta = template.metadata.clone().unwrap_or_default();
    let mut spec = serde_json::to_value(template.spec.clone().unwrap_or_default())
        .unwrap_or_else(|_| json!({}));
    if let Some(fields) = spec.as_object_mut() {
        fields.remove("providerID");
    }
    let mut metadata = json!({
        "name": name,
        "namespace": set.namespace(),
        "labels": meta.labels.unwrap_or_default(),
        "ownerReferences": controller_reference(set).into_iter().collect::<Vec<_>>(),
    });
    if let Some(annotations) = meta.annotations.filter(|a| !a.is_empty()) {
        metadata["annotations"] = json!(annotations);
    }
    json!({
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": metadata,
        "spec": spec,
    })
}

/// A Machine as the plans read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineState {
    pub name: String,
    /// `status.currentStatus.phase`.
    pub phase: Option<String>,
    /// Has a deletionTimestamp.
    pub deleting: bool,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// [`PRIORITY_ANNOTATION`].
    pub priority: i32,
    /// Carries every label of its set's template.
    pub fully_labeled: bool,
}

impl MachineState {
    /// Going away: deleted, or marked Terminating.
    pub fn terminating(&self) -> bool {
        self.deleting || self.phase.as_deref() == Some(TERMINATING)
    }

    pub fn available(&self) -> bool {
        !self.terminating() && self.phase.as_deref() == Some(RUNNING)
    }

    fn failed(&self) -> bool {
        self.phase.as_deref() == Some(FAILED)
    }
}

/// The Machine as the plans read it; `template_labels` are its set's.
pub fn machine_state(
    machine: &Machine,
    template_labels: &BTreeMap<String, String>,
) -> MachineState {
    let labels = machine.labels();
    MachineState {
        name: machine.name_any(),
        phase: machine
            .status
            .as_ref()
            .and_then(|s| s.current_status.as_ref())
            .and_then(|c| c.phase.clone()),
        deleting: machine.metadata.deletion_timestamp.is_some(),
        created: created(&machine.metadata),
        priority: machine
            .annotations()
            .get(PRIORITY_ANNOTATION)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(DEFAULT_PRIORITY),
        fully_labeled: template_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v)),
    }
}

fn created(meta: &ObjectMeta) -> i64 {
    meta.creation_timestamp
        .as_ref()
        .map_or(0, |t| t.0.as_second())
}

/// Upstream's order of phases to delete: earliest stages first.
fn phase_rank(phase: Option<&str>) -> u8 {
    match phase {
        None | Some(TERMINATING) => 0,
        Some(FAILED | CRASH_LOOP) => 1,
        Some(UNKNOWN) => 2,
        Some(PENDING) => 3,
        Some(RUNNING) => 5,
        // Available, the in-place update phases, anything newer.
        Some(_) => 4,
    }
}

/// Which Machine goes first when a MachineSet shrinks: lower priority annotation, then the
/// earlier phase (no phase yet, Failed or CrashLoopBackOff, Unknown, Pending, Running), then the
/// newest (by name when created in the same second).
pub fn deletion_order(a: &MachineState, b: &MachineState) -> Ordering {
    a.priority
        .cmp(&b.priority)
        .then_with(|| phase_rank(a.phase.as_deref()).cmp(&phase_rank(b.phase.as_deref())))
        .then_with(|| b.created.cmp(&a.created))
        .then_with(|| b.name.cmp(&a.name))
}

/// A MachineSet's status counts (over Machines not terminating).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetCounts {
    pub replicas: i32,
    pub fully_labeled: i32,
    pub ready: i32,
    pub available: i32,
}

impl SetCounts {
    pub fn of(machines: &[MachineState]) -> Self {
        let live = || machines.iter().filter(|m| !m.terminating());
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let available = count(live().filter(|m| m.available()).count());
        Self {
            replicas: count(live().count()),
            fully_labeled: count(live().filter(|m| m.fully_labeled).count()),
            ready: available,
            available,
        }
    }

    /// The status to write, for the set's `generation`.
    pub fn status(&self, generation: i64) -> MachineSetStatus {
        MachineSetStatus {
            replicas: Some(self.replicas),
            fully_labeled_replicas: Some(self.fully_labeled),
            ready_replicas: Some(self.ready),
            available_replicas: Some(self.available),
            observed_generation: Some(generation),
        }
    }
}

/// What a MachineSet pass does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MachineSetPlan {
    /// Names of the Machines to create.
    pub create: Vec<String>,
    /// Names of the Machines to delete.
    pub delete: Vec<String>,
    /// Of the Machines as listed.
    pub counts: SetCounts,
}

/// The Machines the MachineSet `name` creates and deletes to have `replicas` (none while it is
/// being deleted): Failed ones are deleted and replaced; surplus ones go in [`deletion_order`];
/// missing ones are named `<name>-<suffix>` from `suffixes` (random, from the caller), skipping
/// invalid and taken ones, so fewer than missing may come out (the next pass makes the rest).
/// At most [`BURST`] of each per pass. Terminating Machines are neither counted nor touched.
/// As upstream, a Failed Machine's replacement does not wait for it to go, so while it
/// terminates a rollout may hold one Machine more than `replicas + maxSurge` per Failed one.
pub fn plan_machine_set(
    name: &str,
    replicas: i32,
    deleting: bool,
    machines: &[MachineState],
    suffixes: &[String],
) -> MachineSetPlan {
    let counts = SetCounts::of(machines);
    let live: Vec<&MachineState> = machines.iter().filter(|m| !m.terminating()).collect();
    let mut plan = MachineSetPlan {
        counts,
        ..Default::default()
    };
    if deleting {
        plan.delete = live.iter().take(BURST).map(|m| m.name.clone()).collect();
        return plan;
    }
    let (failed, mut healthy): (Vec<&MachineState>, Vec<&MachineState>) =
        live.into_iter().partition(|m| m.failed());
    plan.delete = failed.iter().map(|m| m.name.clone()).collect();
    let want = usize::try_from(replicas).unwrap_or(0);
    if healthy.len() > want {
        healthy.sort_by(|a, b| deletion_order(a, b));
        let surplus = healthy.len() - want;
        plan.delete
            .extend(healthy.iter().take(surplus).map(|m| m.name.clone()));
    } else {
        let missing = (want - healthy.len()).min(BURST);
        let taken: BTreeSet<&str> = machines.iter().map(|m| m.name.as_str()).collect();
        for suffix in suffixes.iter().filter(|s| is_suffix(s)) {
            if plan.create.len() == missing {
                break;
            }
            let machine = machine_name(name, suffix);
            if !taken.contains(machine.as_str()) && !plan.create.contains(&machine) {
                plan.create.push(machine);
            }
        }
    }
    plan.delete.truncate(BURST);
    plan
}

/// A MachineSet of the deployment as [`plan_deployment`] reads it: its spec and its Machines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetState {
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Machines not terminating.
    pub active: i32,
    /// Machines terminating (each still holds a machine).
    pub terminating: i32,
    /// Machines available.
    pub available: i32,
    /// Creation time, seconds since the epoch: old sets shrink oldest first.
    pub created: i64,
}

impl SetState {
    pub fn of(set: &MachineSet, machines: &[MachineState]) -> Self {
        let counts = SetCounts::of(machines);
        let terminating = machines.iter().filter(|m| m.terminating()).count();
        Self {
            name: set.name_any(),
            replicas: set.spec.replicas.unwrap_or(0),
            active: counts.replicas,
            terminating: i32::try_from(terminating).unwrap_or(i32::MAX),
            available: counts.available,
            created: created(&set.metadata),
        }
    }

    fn machines(&self) -> i32 {
        self.active + self.terminating
    }

    /// The Machines it holds at most until it has done what its spec says (it creates up to
    /// `replicas`; surplus ones stay until they are gone).
    fn extent(&self) -> i32 {
        self.replicas.max(self.active) + self.terminating
    }
}

/// The status counts of a MachineDeployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeploymentCounts {
    /// Machines not terminating.
    pub replicas: i32,
    /// Of those, the new set's.
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// `replicas` of the spec minus available ones (not below 0).
    pub unavailable: i32,
    pub observed_generation: i64,
}

/// What a MachineDeployment pass does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentPlan {
    /// Create the new MachineSet ([`new_machine_set`]) with these replicas.
    pub create: Option<i32>,
    /// MachineSets whose `spec.replicas` changes, to what.
    pub scale: Vec<(String, i32)>,
    /// Old MachineSets without replicas or Machines.
    pub delete: Vec<String>,
    pub counts: DeploymentCounts,
    /// Done: only the new set is left, with `replicas` Machines, all available.
    pub complete: bool,
}

/// One step towards the deployment's template, from its MachineSets (`sets`, each counted from
/// its Machines):
///
/// * no old set with replicas or Machines left: the new set gets `replicas` (created if
///   missing);
/// * RollingUpdate, as Kubernetes: scale the new set up while all sets together hold fewer than
///   `replicas + maxSurge` Machines (and stop there for this step); else scale old sets down,
///   oldest first, their unavailable Machines first, then available ones as far as
///   `replicas - maxUnavailable` stay available;
/// * Recreate: old sets to 0, and the new set to `replicas` once their Machines are gone;
/// * paused: no step; only a deployment with one set holding replicas is scaled;
/// * old sets with no replicas and no Machines are deleted.
pub fn plan_deployment(d: &Deployment, sets: &[SetState]) -> DeploymentPlan {
    let new_name = d.new_set_name();
    let new = sets.iter().find(|s| s.name == new_name);
    let mut olds: Vec<&SetState> = sets.iter().filter(|s| s.name != new_name).collect();
    olds.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    let mut want = Replicas(sets.iter().map(|s| (s.name.clone(), s.replicas)).collect());
    let r = d.replicas;
    let olds_left = olds.iter().any(|s| s.replicas > 0 || s.machines() > 0);
    // The new set's replicas: written when it exists, else it is created with them.
    let mut create = None;
    let mut to_new = |want: &mut Replicas, replicas: i32| match new {
        Some(n) => want.set(&n.name, replicas),
        None => create = Some(replicas),
    };

    if d.paused {
        let holding: Vec<&SetState> = sets.iter().filter(|s| s.replicas > 0).collect();
        match (holding.as_slice(), new) {
            ([one], _) => want.set(&one.name, r),
            ([], Some(n)) => want.set(&n.name, r),
            _ => {}
        }
    } else if !olds_left {
        to_new(&mut want, r);
    } else {
        match d.strategy {
            Strategy::Recreate => {
                for old in &olds {
                    want.set(&old.name, 0);
                }
                if olds.iter().all(|s| s.machines() == 0) {
                    to_new(&mut want, r);
                }
            }
            Strategy::RollingUpdate {
                max_surge,
                max_unavailable,
            } => {
                let current = new.map_or(0, |n| n.replicas);
                let target = if current >= r {
                    r
                } else {
                    let extent: i32 = sets.iter().map(SetState::extent).sum();
                    let room = (r + max_surge - extent).max(0);
                    current + room.min(r - current)
                };
                let scaled_up = new.is_none() || target > current;
                to_new(&mut want, target);
                if !scaled_up {
                    scale_down_old(&mut want, &olds, new, r - max_unavailable);
                }
            }
        }
    }

    let delete: Vec<String> = olds
        .iter()
        .filter(|s| s.replicas == 0 && want.get(&s.name) == 0 && s.machines() == 0)
        .map(|s| s.name.clone())
        .collect();
    let scale = sets
        .iter()
        .filter(|s| want.get(&s.name) != s.replicas)
        .map(|s| (s.name.clone(), want.get(&s.name)))
        .collect();
    let available: i32 = sets.iter().map(|s| s.available).sum();
    let counts = DeploymentCounts {
        replicas: sets.iter().map(|s| s.active).sum(),
        updated: new.map_or(0, |n| n.active),
        ready: available,
        available,
        unavailable: (r - available).max(0),
        observed_generation: d.generation,
    };
    let complete = olds.len() == delete.len()
        && create.is_none()
        && new.is_some_and(|n| {
            n.replicas == r && n.active == r && n.available == r && n.terminating == 0
        });
    DeploymentPlan {
        create,
        scale,
        delete,
        counts,
        complete,
    }
}

/// The replicas each set is to have.
struct Replicas(BTreeMap<String, i32>);

impl Replicas {
    fn get(&self, set: &str) -> i32 {
        self.0.get(set).copied().unwrap_or(0)
    }

    fn set(&mut self, set: &str, replicas: i32) {
        self.0.insert(set.to_owned(), replicas);
    }

    fn total(&self) -> i32 {
        self.0.values().sum()
    }
}

/// Kubernetes' rolling scale-down of old sets (oldest first): first as many unavailable
/// Machines as the sets' replicas exceed `min_available` plus the new set's unavailable ones,
/// then available ones down to `min_available` available Machines. A set is counted with the
/// available Machines it keeps at its (new) replicas, so a set still shrinking is not
/// shrunk twice.
fn scale_down_old(
    want: &mut Replicas,
    olds: &[&SetState],
    new: Option<&SetState>,
    min_available: i32,
) {
    let keeps = |s: &SetState, replicas: i32| s.available.min(replicas);
    let new_unavailable = new.map_or(0, |n| n.replicas - keeps(n, n.replicas));
    let max_scaled_down = want.total() - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return;
    }
    let mut cleaned = 0;
    for old in olds {
        let replicas = want.get(&old.name);
        let unavailable = replicas - keeps(old, replicas);
        let down = unavailable.min(max_scaled_down - cleaned);
        if down > 0 {
            want.set(&old.name, replicas - down);
            cleaned += down;
        }
    }
    let available: i32 = olds
        .iter()
        .copied()
        .chain(new)
        .map(|s| keeps(s, want.get(&s.name)))
        .sum();
    let mut budget = available - min_available;
    for old in olds {
        if budget <= 0 {
            break;
        }
        let replicas = want.get(&old.name);
        let down = replicas.min(budget);
        want.set(&old.name, replicas - down);
        budget -= down;
    }
}

/// The conditions after a pass: `Available` (at least `replicas - maxUnavailable` available;
/// all of them with Recreate) and `Progressing` (`NewMachineSetAvailable` once complete,
/// `MachineSetUpdated` while rolling, Unknown `DeploymentPaused` while paused). Other types are
/// kept; times move only when the status, reason or message changes.
pub fn conditions(
    d: &Deployment,
    plan: &DeploymentPlan,
    previous: &[MachineDeploymentCondition],
    now: &Time,
) -> Vec<MachineDeploymentCondition> {
    let max_unavailable = match d.strategy {
        Strategy::RollingUpdate {
            max_unavailable, ..
        } => max_unavailable,
        Strategy::Recreate => 0,
    };
    let minimum = d.replicas - max_unavailable;
    let available = plan.counts.available;
    let (status, reason) = if available >= minimum {
        ("True", "MinimumReplicasAvailable")
    } else {
        ("False", "MinimumReplicasUnavailable")
    };
    let available = (
        CONDITION_AVAILABLE,
        status,
        reason,
        format!(
            "{available} of {} Machines available, at least {minimum} required",
            d.replicas
        ),
    );
    let new_set = d.new_set_name();
    let progressing = if d.paused {
        (
            CONDITION_PROGRESSING,
            "Unknown",
            "DeploymentPaused",
            "MachineDeployment is paused".to_owned(),
        )
    } else if plan.complete {
        (
            CONDITION_PROGRESSING,
            "True",
            "NewMachineSetAvailable",
            format!("MachineSet {new_set} is available"),
        )
    } else {
        (
            CONDITION_PROGRESSING,
            "True",
            "MachineSetUpdated",
            format!("MachineSet {new_set} is progressing"),
        )
    };
    let mut out: Vec<MachineDeploymentCondition> = previous
        .iter()
        .filter(|c| c.type_ != CONDITION_AVAILABLE && c.type_ != CONDITION_PROGRESSING)
        .cloned()
        .collect();
    for (type_, status, reason, message) in [available, progressing] {
        let before = previous.iter().find(|c| c.type_ == type_);
        let same = |c: &&MachineDeploymentCondition| {
            c.status == status
                && c.reason.as_deref() == Some(reason)
                && c.message.as_deref() == Some(message.as_str())
        };
        if let Some(kept) = before.filter(same) {
            out.push(kept.clone());
            continue;
        }
        let transition = before
            .filter(|c| c.status == status)
            .and_then(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        out.push(MachineDeploymentCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            last_update_time: Some(now.clone()),
            last_transition_time: Some(transition),
            reason: Some(reason.to_owned()),
            message: Some(message),
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// The status to write.
pub fn deployment_status(
    counts: &DeploymentCounts,
    conditions: Vec<MachineDeploymentCondition>,
) -> MachineDeploymentStatus {
    MachineDeploymentStatus {
        observed_generation: Some(counts.observed_generation),
        replicas: Some(counts.replicas),
        updated_replicas: Some(counts.updated),
        ready_replicas: Some(counts.ready),
        available_replicas: Some(counts.available),
        unavailable_replicas: Some(counts.unavailable),
        conditions: Some(conditions),
    }
}

#[cfg(test)]
mod tests;
