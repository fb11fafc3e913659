//! What the OperatingSystemConfig controller does with one OSC, decided without I/O: from the OSC
//! as read, the referenced Secrets found and the existing result Secret to an ordered list of
//! writes ([`Step`]) and, when rendering failed, the error to report.
//!
//! # Operation
//!
//! As Gardener's extension contract computes it ([`operation`]): the annotation
//! `gardener.cloud/operation: migrate` first, then a deletion, then `restore`, else `Create` until
//! a `Create` succeeded, an unfinished `Migrate` or `Restore` is continued, and everything else is
//! a `Reconcile`. An OSC whose last operation is a successful `Migrate` is left alone (it moved to
//! another seed) until it is restored. `wait-for-state` means "not yet": nothing is done.
//!
//! # When the OSC is rendered again
//!
//! Only when something that goes into the output changed ([`render_reason`]): the operation
//! annotation asks for it, the last operation did not succeed (errors are retried, with backoff,
//! by the caller), `metadata.generation` differs from `status.observedGeneration` (the spec
//! changed), or, for `provision`, the result Secret is missing, not controlled by this OSC, or its
//! [`DIGEST_ANNOTATION`] differs from the digest of the current inputs outside the spec (the
//! referenced Secrets' data, the version annotation and the default version, [`inputs_digest`]).
//! A status-only update, or an event for a Secret whose data did not change, changes none of
//! these, so it renders nothing and writes nothing.
//!
//! # Writes
//!
//! The finalizer [`FINALIZER`] comes first, before anything else is written. A render:
//! `lastOperation` Processing, the result Secret (`provision` only, and only if its content
//! changed), the status (cloudConfig, extension units and files, Succeeded, observedGeneration),
//! then the operation annotation is removed. A render error: `lastOperation` Error and
//! `lastError` naming the culprit, written only if the status does not already say exactly that,
//! so retries of an unchanged error write nothing and cannot wake the controller up again.
//! `Delete` and `Migrate` have nothing to clean up (the result Secret is owned by the OSC and goes
//! with it): Succeeded, then the finalizer is released.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::core::ignition::{
    self, IgnitionVersion, Rendered, SUPPORTED_TYPES, Secrets, VERSION_ANNOTATION,
};

/// This controller's finalizer on the OSCs it handles.
pub const FINALIZER: &str = "extensions.gardener.cloud/os-metal";
/// The finalizer of Gardener's generic OSC reconciler, which os-metal-extension ran. OSCs it
/// handled carry it; as its replacement we release it with ours, or their deletion would hang.
pub const LEGACY_FINALIZER: &str = "extensions.gardener.cloud/operatingsystemconfigs";
/// Gardener's operation annotation.
pub const OPERATION_ANNOTATION: &str = "gardener.cloud/operation";
/// On the result Secret: the [`inputs_digest`] it was rendered from.
pub const DIGEST_ANNOTATION: &str = "os.metal-stack.io/inputs-digest";
/// The result Secret's key holding the userdata (Gardener's `OperatingSystemConfigSecretDataKey`).
pub const RESULT_DATA_KEY: &str = "cloud_config";
pub const API_VERSION: &str = "extensions.gardener.cloud/v1alpha1";
pub const KIND: &str = "OperatingSystemConfig";

const PROGRESS_PROCESSING: i64 = 1;
const PROGRESS_ERROR: i64 = 50;
const PROGRESS_DONE: i64 = 100;

/// Gardener's `LastOperationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Reconcile,
    Delete,
    Migrate,
    Restore,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "Create",
            Operation::Reconcile => "Reconcile",
            Operation::Delete => "Delete",
            Operation::Migrate => "Migrate",
            Operation::Restore => "Restore",
        }
    }
}

/// One write, in the order of [`Plan::steps`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Set `metadata.finalizers` to this list, guarded by the resourceVersion last seen.
    SetFinalizers(Vec<String>),
    /// Merge-patch `.status` (subresource) with this object.
    Status(Value),
    /// Create the result Secret, or replace it when it carries a resourceVersion.
    WriteSecret(Value),
    /// Remove the `gardener.cloud/operation` annotation, guarded by the resourceVersion.
    RemoveOperationAnnotation,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The operation acted on; `None` when the OSC is left alone.
    pub operation: Option<Operation>,
    /// Why (for logs): what made it render, or why nothing is done.
    pub reason: &'static str,
    pub steps: Vec<Step>,
    /// The render error (also in the status steps): the reconcile fails with it and is retried.
    pub error: Option<String>,
}

impl Plan {
    fn nothing(reason: &'static str) -> Self {
        Plan {
            operation: None,
            reason,
            steps: Vec::new(),
            error: None,
        }
    }
}

/// What the decision reads besides the OSC.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The OSC as JSON (`metadata`, `spec`, `status`).
    pub osc: &'a Value,
    /// The referenced Secrets that exist, by name (their `data`).
    pub secrets: &'a Secrets,
    /// The result Secret `osc-result-<name>` as JSON, if it exists.
    pub result: Option<&'a Value>,
}

/// What to read before deciding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reads {
    /// Referenced Secrets (same namespace).
    pub secrets: Vec<String>,
    /// The result Secret.
    pub result: Option<String>,
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The OSC types of this extension, and Gardener's default extension class (`shoot`).
pub fn is_ours(osc: &Value) -> bool {
    let ours = text(osc, "/spec/type").is_some_and(|t| SUPPORTED_TYPES.contains(&t));
    let class = text(osc, "/spec/class").unwrap_or("");
    ours && (class.is_empty() || class == "shoot")
}

/// The result Secret's name, as Gardener names it.
pub fn result_secret_name(osc_name: &str) -> String {
    format!("osc-result-{osc_name}")
}

/// The Secrets to read for [`decide`]: only `provision` reads them (and has a result Secret).
pub fn reads(osc: &Value) -> Reads {
    if !is_ours(osc) || text(osc, "/spec/purpose") != Some("provision") {
        return Reads::default();
    }
    Reads {
        secrets: ignition::referenced_secrets(osc),
        result: text(osc, "/metadata/name").map(result_secret_name),
    }
}

fn annotation<'a>(osc: &'a Value, key: &str) -> Option<&'a str> {
    osc.pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
}

fn finalizers(osc: &Value) -> Vec<String> {
    osc.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn last_operation(osc: &Value) -> Option<(&str, &str)> {
    let op = osc.pointer("/status/lastOperation")?;
    Some((
        op.get("type").and_then(Value::as_str).unwrap_or(""),
        op.get("state").and_then(Value::as_str).unwrap_or(""),
    ))
}

/// Gardener's `ComputeOperationType`.
pub fn operation(osc: &Value) -> Operation {
    let requested = annotation(osc, OPERATION_ANNOTATION);
    let deleting = osc.pointer("/metadata/deletionTimestamp").is_some();
    match (requested, deleting, last_operation(osc)) {
        (Some("migrate"), _, _) => Operation::Migrate,
        (_, true, _) => Operation::Delete,
        (Some("restore"), _, _) => Operation::Restore,
        (_, _, None) => Operation::Create,
        (_, _, Some(("Create", state))) if state != "Succeeded" => Operation::Create,
        (_, _, Some(("Migrate", state))) if state != "Succeeded" => Operation::Migrate,
        (_, _, Some(("Restore", state))) if state != "Succeeded" => Operation::Restore,
        _ => Operation::Reconcile,
    }
}

/// The digest of what goes into the userdata besides the spec: the referenced Secrets' data
/// (or their absence), the OSC's version annotation and the default version.
pub fn inputs_digest(osc: &Value, secrets: &Secrets, default_version: IgnitionVersion) -> String {
    fn put(hash: &mut Sha256, bytes: &[u8]) {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    }
    let mut hash = Sha256::new();
    put(&mut hash, b"os-metal inputs v1");
    put(&mut hash, default_version.as_str().as_bytes());
    match annotation(osc, VERSION_ANNOTATION) {
        Some(version) => {
            put(&mut hash, b"annotation");
            put(&mut hash, version.as_bytes());
        }
        None => put(&mut hash, b"no annotation"),
    }
    for name in ignition::referenced_secrets(osc) {
        put(&mut hash, name.as_bytes());
        match secrets.get(&name) {
            None => put(&mut hash, b"missing"),
            Some(data) => {
                let mut keys: Vec<&String> = data.keys().collect();
                keys.sort();
                put(&mut hash, &(keys.len() as u64).to_be_bytes());
                for key in keys {
                    put(&mut hash, key.as_bytes());
                    match &data[key] {
                        Value::String(value) => put(&mut hash, value.as_bytes()),
                        other => put(&mut hash, other.to_string().as_bytes()),
                    }
                }
            }
        }
    }
    hex::encode(hash.finalize())
}

fn generation(osc: &Value) -> Option<i64> {
    osc.pointer("/metadata/generation").and_then(Value::as_i64)
}

/// Whether the result Secret's controller is this OSC (same uid).
fn controlled_by(secret: &Value, osc: &Value) -> bool {
    let uid = text(osc, "/metadata/uid");
    secret
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("controller").and_then(Value::as_bool) == Some(true)
                    && r.get("kind").and_then(Value::as_str) == Some(KIND)
                    && r.get("uid").and_then(Value::as_str) == uid
            })
        })
}

/// Why `osc` must be rendered (again), or `None` when its outputs are current.
pub fn render_reason(
    observed: &Observed<'_>,
    default_version: IgnitionVersion,
) -> Option<&'static str> {
    let osc = observed.osc;
    if matches!(
        annotation(osc, OPERATION_ANNOTATION),
        Some("reconcile" | "restore")
    ) {
        return Some("operation annotation");
    }
    match last_operation(osc) {
        None => return Some("never rendered"),
        Some((_, state)) if state != "Succeeded" => return Some("last operation not succeeded"),
        Some(_) => {}
    }
    if osc
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        != generation(osc)
    {
        return Some("generation changed");
    }
    if text(osc, "/spec/purpose") != Some("provision") {
        return None;
    }
    let Some(result) = observed.result else {
        return Some("result Secret missing");
    };
    if !controlled_by(result, osc) {
        return Some("result Secret not controlled by this OperatingSystemConfig");
    }
    if result
        .pointer(&format!("/data/{RESULT_DATA_KEY}"))
        .is_none()
    {
        return Some("result Secret has no userdata");
    }
    let digest = inputs_digest(osc, observed.secrets, default_version);
    if annotation(result, DIGEST_ANNOTATION) != Some(digest.as_str()) {
        return Some("referenced Secrets or version changed");
    }
    let name = text(result, "/metadata/name");
    if text(osc, "/status/cloudConfig/secretRef/name") != name {
        return Some("status lacks the cloudConfig");
    }
    None
}

fn last_op(op: Operation, state: &str, progress: i64, description: &str, now: &str) -> Value {
    json!({
        "type": op.as_str(),
        "state": state,
        "progress": progress,
        "description": description,
        "lastUpdateTime": now,
    })
}

/// The status once `op` succeeded: lastError cleared, observedGeneration set.
fn succeeded(osc: &Value, op: Operation, description: &str, now: &str) -> Map<String, Value> {
    let mut status = Map::new();
    status.insert(
        "lastOperation".into(),
        last_op(op, "Succeeded", PROGRESS_DONE, description, now),
    );
    status.insert("lastError".into(), Value::Null);
    status.insert("observedGeneration".into(), json!(generation(osc)));
    status
}

/// The status for an error of `op`, or `None` when the status already reports exactly this
/// error for the current generation (so a retry writes nothing).
pub fn error_status(osc: &Value, op: Operation, description: &str, now: &str) -> Option<Value> {
    let status = osc.get("status");
    let same = status.is_some_and(|s| {
        s.pointer("/lastOperation/type").and_then(Value::as_str) == Some(op.as_str())
            && s.pointer("/lastOperation/state").and_then(Value::as_str) == Some("Error")
            && s.pointer("/lastOperation/description")
                .and_then(Value::as_str)
                == Some(description)
            && s.pointer("/lastError/description").and_then(Value::as_str) == Some(description)
            && s.get("observedGeneration").and_then(Value::as_i64) == generation(osc)
    });
    (!same).then(|| {
        json!({
            "lastOperation": last_op(op, "Error", PROGRESS_ERROR, description, now),
            "lastError": {"description": description, "lastUpdateTime": now},
            "observedGeneration": generation(osc),
        })
    })
}

/// The result Secret to write for `user_data`: the existing one (other labels, annotations and
/// keys kept) or a new one, with the userdata, the digest and this OSC as its controller.
/// `Ok(None)` when the existing Secret already is exactly that.
pub fn result_secret(
    osc: &Value,
    existing: Option<&Value>,
    user_data: &str,
    digest: &str,
) -> Result<Option<Value>, String> {
    let osc_name = text(osc, "/metadata/name").unwrap_or_default();
    let namespace = text(osc, "/metadata/namespace").unwrap_or_default();
    let name = result_secret_name(osc_name);
    let mut secret = existing.cloned().unwrap_or_else(|| {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
        })
    });
    if !secret.get("metadata").is_some_and(Value::is_object) {
        secret["metadata"] = json!({});
    }
    let meta = &mut secret["metadata"];
    let mut refs: Vec<Value> = meta
        .get("ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // A controller reference to an OSC of the same name is ours, perhaps of an OSC that was
    // deleted and created again; any other controller is a conflict.
    let is_our_osc = |r: &Value| {
        r.get("kind").and_then(Value::as_str) == Some(KIND)
            && r.get("name").and_then(Value::as_str) == Some(osc_name)
            && r.get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with("extensions.gardener.cloud/"))
    };
    if let Some(other) = refs
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true) && !is_our_osc(r))
    {
        return Err(format!(
            "Secret {namespace}/{name} is controlled by {} {:?}, not by this OperatingSystemConfig",
            other.get("kind").and_then(Value::as_str).unwrap_or("?"),
            other.get("name").and_then(Value::as_str).unwrap_or("?"),
        ));
    }
    let owner = json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": osc_name,
        "uid": text(osc, "/metadata/uid").unwrap_or_default(),
        "controller": true,
        "blockOwnerDeletion": true,
    });
    match refs.iter().position(is_our_osc) {
        Some(at) => refs[at] = owner,
        None => refs.push(owner),
    }
    meta["ownerReferences"] = Value::Array(refs);
    if !meta.get("annotations").is_some_and(Value::is_object) {
        meta["annotations"] = json!({});
    }
    meta["annotations"][DIGEST_ANNOTATION] = json!(digest);
    if !secret.get("data").is_some_and(Value::is_object) {
        secret["data"] = json!({});
    }
    secret["data"][RESULT_DATA_KEY] = json!(BASE64.encode(user_data));
    Ok((existing != Some(&secret)).then_some(secret))
}

fn without_ours(finalizers: &[String]) -> Vec<String> {
    finalizers
        .iter()
        .filter(|f| *f != FINALIZER && *f != LEGACY_FINALIZER)
        .cloned()
        .collect()
}

/// Decides what to do with one OSC; `now` is the RFC 3339 time for `lastUpdateTime`.
pub fn decide(observed: &Observed<'_>, default_version: IgnitionVersion, now: &str) -> Plan {
    let osc = observed.osc;
    if !is_ours(osc) {
        return Plan::nothing("not ours");
    }
    if annotation(osc, OPERATION_ANNOTATION) == Some("wait-for-state") {
        return Plan::nothing("waiting for state");
    }
    let op = operation(osc);
    let finalizers = finalizers(osc);
    let migrated = last_operation(osc) == Some(("Migrate", "Succeeded"));
    match op {
        Operation::Migrate => migrate(osc, &finalizers, now),
        Operation::Delete => delete(osc, &finalizers, migrated, now),
        _ if migrated && op != Operation::Restore => Plan::nothing("migrated"),
        _ => reconcile(observed, op, &finalizers, default_version, now),
    }
}

fn migrate(osc: &Value, finalizers: &[String], now: &str) -> Plan {
    let mut steps = Vec::new();
    if last_operation(osc) != Some(("Migrate", "Succeeded")) {
        let status = succeeded(
            osc,
            Operation::Migrate,
            "nothing to migrate: the result Secret goes with the OperatingSystemConfig",
            now,
        );
        steps.push(Step::Status(Value::Object(status)));
    }
    let rest = without_ours(finalizers);
    if rest.len() != finalizers.len() {
        steps.push(Step::SetFinalizers(rest));
    }
    if annotation(osc, OPERATION_ANNOTATION) == Some("migrate") {
        steps.push(Step::RemoveOperationAnnotation);
    }
    Plan {
        operation: Some(Operation::Migrate),
        reason: "migrate",
        steps,
        error: None,
    }
}

fn delete(osc: &Value, finalizers: &[String], migrated: bool, now: &str) -> Plan {
    let rest = without_ours(finalizers);
    if rest.len() == finalizers.len() {
        return Plan::nothing("deleting without our finalizer");
    }
    let mut steps = Vec::new();
    if !migrated {
        let status = succeeded(
            osc,
            Operation::Delete,
            "nothing to clean up: the result Secret is deleted with the OperatingSystemConfig",
            now,
        );
        steps.push(Step::Status(Value::Object(status)));
    }
    steps.push(Step::SetFinalizers(rest));
    Plan {
        operation: Some(Operation::Delete),
        reason: "deleting",
        steps,
        error: None,
    }
}

fn reconcile(
    observed: &Observed<'_>,
    op: Operation,
    finalizers: &[String],
    default_version: IgnitionVersion,
    now: &str,
) -> Plan {
    let osc = observed.osc;
    let add_finalizer = !finalizers.iter().any(|f| f == FINALIZER);
    let mut steps = Vec::new();
    if add_finalizer {
        let mut with = finalizers.to_vec();
        with.push(FINALIZER.into());
        steps.push(Step::SetFinalizers(with));
    }
    let Some(reason) = render_reason(observed, default_version) else {
        return Plan {
            operation: add_finalizer.then_some(op),
            reason: "up to date",
            steps,
            error: None,
        };
    };
    let requested = annotation(osc, OPERATION_ANNOTATION);
    let outcome = ignition::render(osc, observed.secrets, default_version)
        .map_err(|e| e.to_string())
        .and_then(|rendered| {
            let secret = match &rendered.user_data {
                Some(user_data) => {
                    let digest = inputs_digest(osc, observed.secrets, default_version);
                    result_secret(osc, observed.result, user_data, &digest)?
                }
                None => None,
            };
            Ok((rendered, secret))
        });
    match outcome {
        Err(e) => {
            let description = format!("rendering the OperatingSystemConfig failed: {e}");
            steps.extend(error_status(osc, op, &description, now).map(Step::Status));
            // Gardener takes the reconcile request as handled once picked up; a restore is
            // repeated until it succeeded.
            if requested == Some("reconcile") {
                steps.push(Step::RemoveOperationAnnotation);
            }
            Plan {
                operation: Some(op),
                reason,
                steps,
                error: Some(description),
            }
        }
        Ok((rendered, secret)) => {
            // A retry after an error of the same operation goes straight to the outcome: a
            // Processing in between would make every retry a status change.
            if last_operation(osc) != Some((op.as_str(), "Error")) {
                let processing = last_op(
                    op,
                    "Processing",
                    PROGRESS_PROCESSING,
                    "rendering the OperatingSystemConfig",
                    now,
                );
                steps.push(Step::Status(json!({"lastOperation": processing})));
            }
            steps.extend(secret.map(Step::WriteSecret));
            steps.push(Step::Status(rendered_status(osc, op, &rendered, now)));
            if matches!(requested, Some("reconcile" | "restore")) {
                steps.push(Step::RemoveOperationAnnotation);
            }
            Plan {
                operation: Some(op),
                reason,
                steps,
                error: None,
            }
        }
    }
}

fn rendered_status(osc: &Value, op: Operation, rendered: &Rendered, now: &str) -> Value {
    let list = |items: &[Value]| {
        if items.is_empty() {
            Value::Null
        } else {
            Value::Array(items.to_vec())
        }
    };
    let (cloud_config, description) = match rendered.user_data {
        Some(_) => {
            let name = result_secret_name(text(osc, "/metadata/name").unwrap_or_default());
            let description = format!(
                "rendered Ignition {} userdata into Secret {name}",
                rendered.version
            );
            let reference = json!({"secretRef": {
                "name": name,
                "namespace": text(osc, "/metadata/namespace").unwrap_or_default(),
            }});
            (reference, description)
        }
        None => (
            Value::Null,
            format!(
                "rendered {} extension files and {} extension units",
                rendered.extension_files.len(),
                rendered.extension_units.len()
            ),
        ),
    };
    let mut status = succeeded(osc, op, &description, now);
    status.insert("cloudConfig".into(), cloud_config);
    status.insert("extensionUnits".into(), list(&rendered.extension_units));
    status.insert("extensionFiles".into(), list(&rendered.extension_files));
    Value::Object(status)
}
