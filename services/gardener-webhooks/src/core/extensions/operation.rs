//! Gardener's contract for extension objects: when a controller acts (the operation annotation,
//! a new generation, a failed last operation), what it reports (`status.lastOperation`,
//! `status.lastError` with error codes) and how long it waits before trying again.

use std::time::Duration;

use serde_json::{Value, json};

/// The annotation gardenlet sets to ask for an operation (and the controller removes).
pub const OPERATION_ANNOTATION: &str = "gardener.cloud/operation";
pub const RECONCILE: &str = "reconcile";
pub const MIGRATE: &str = "migrate";
pub const RESTORE: &str = "restore";
/// Upstream's requeue after any error of the infrastructure actuator.
pub const ERROR_REQUEUE: Duration = Duration::from_secs(30);

/// The operation a controller runs on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationType {
    /// The first reconcile of an object (no `lastOperation` yet).
    Create,
    Reconcile,
    Delete,
    Migrate,
    Restore,
}

impl OperationType {
    pub fn as_str(self) -> &'static str {
        match self {
            OperationType::Create => "Create",
            OperationType::Reconcile => "Reconcile",
            OperationType::Delete => "Delete",
            OperationType::Migrate => "Migrate",
            OperationType::Restore => "Restore",
        }
    }

    /// The operation `object` asks for, and whether it asks at all, in Gardener's order: the
    /// migrate annotation; nothing at all once migrated (this seed let go of it) unless a
    /// restore is asked for; deletion; the restore annotation; otherwise the reconcile
    /// annotation, a generation not yet observed, or a last operation that did not succeed
    /// (Gardener's `ShouldReconcile` plus retrying errors).
    pub fn of(object: &Value) -> Option<OperationType> {
        let annotation = object
            .pointer("/metadata/annotations")
            .and_then(|a| a.get(OPERATION_ANNOTATION))
            .and_then(Value::as_str);
        if annotation == Some(MIGRATE) {
            return Some(OperationType::Migrate);
        }
        let last = object.pointer("/status/lastOperation");
        let field = |name: &str| last.and_then(|l| l.get(name)).and_then(Value::as_str);
        let migrated = field("type") == Some("Migrate") && field("state") == Some("Succeeded");
        if migrated && annotation != Some(RESTORE) {
            return None;
        }
        if object.pointer("/metadata/deletionTimestamp").is_some() {
            return Some(OperationType::Delete);
        }
        if annotation == Some(RESTORE) {
            return Some(OperationType::Restore);
        }
        let reconcile = if last.is_none_or(Value::is_null) {
            OperationType::Create
        } else {
            OperationType::Reconcile
        };
        if annotation == Some(RECONCILE) {
            return Some(reconcile);
        }
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64);
        let observed = object
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64);
        let succeeded =
            last.and_then(|l| l.get("state")).and_then(Value::as_str) == Some("Succeeded");
        (generation != observed || !succeeded).then_some(reconcile)
    }
}

/// Gardener's error codes (`gardencorev1beta1.ErrorCode`) an extension may report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// metal-api has no IP, network or machine left.
    QuotaExceeded,
    /// metal-api (or another dependency) cannot be reached.
    Dependencies,
    /// The shoot's configuration cannot work (a bad provider config, a foreign IP).
    Configuration,
    /// metal-api refused our credentials.
    Unauthorized,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::QuotaExceeded => "ERR_INFRA_QUOTA_EXCEEDED",
            ErrorCode::Dependencies => "ERR_INFRA_DEPENDENCIES",
            ErrorCode::Configuration => "ERR_CONFIGURATION_PROBLEM",
            ErrorCode::Unauthorized => "ERR_INFRA_UNAUTHORIZED",
        }
    }
}

/// Why an operation failed: the description Gardener shows, its code and when to try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtError {
    pub message: String,
    pub code: Option<ErrorCode>,
    pub requeue: Duration,
}

impl std::fmt::Display for ExtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExtError {}

impl ExtError {
    pub fn new(code: Option<ErrorCode>, message: impl Into<String>) -> Self {
        ExtError {
            message: message.into(),
            code,
            requeue: ERROR_REQUEUE,
        }
    }

    /// An error without a code (a Kubernetes write that failed, a state still converging).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(None, message)
    }

    pub fn configuration(message: impl Into<String>) -> Self {
        Self::new(Some(ErrorCode::Configuration), message)
    }

    pub fn requeue_after(mut self, after: Duration) -> Self {
        self.requeue = after;
        self
    }

    /// A metal-api failure while doing `what`, coded by its cause.
    pub fn metal(what: &str, error: &metal_api_sdk::Error) -> Self {
        use metal_api_sdk::Error as E;
        let code = match error {
            E::Exhausted(_) => Some(ErrorCode::QuotaExceeded),
            E::Unavailable(_) | E::Server { .. } => Some(ErrorCode::Dependencies),
            E::Forbidden(_) => Some(ErrorCode::Unauthorized),
            E::Config(_) | E::BadRequest { .. } => Some(ErrorCode::Configuration),
            E::NotFound(_) | E::Conflict(_) | E::Decode(_) => None,
        };
        Self::new(code, format!("{what}: {error}"))
    }

    /// The same error with `context` in front of its description.
    pub fn context(mut self, context: &str) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

/// `status.lastOperation` for `operation` in `state` (`Processing`, `Succeeded`, `Error`).
pub fn last_operation(
    kind: &str,
    operation: OperationType,
    state: &str,
    description: &str,
    now: &str,
) -> Value {
    let progress = if state == "Succeeded" { 100 } else { 1 };
    json!({
        "type": operation.as_str(),
        "state": state,
        "progress": progress,
        "description": if description.is_empty() {
            format!("{kind} {} {}", operation.as_str().to_lowercase(), state.to_lowercase())
        } else {
            description.to_owned()
        },
        "lastUpdateTime": now,
    })
}

/// The status patch of a failed operation: lastOperation Error and lastError with the code.
pub fn failed(kind: &str, operation: OperationType, error: &ExtError, now: &str) -> Value {
    let description = format!(
        "Error {} {kind}: {}",
        match operation {
            OperationType::Delete => "deleting",
            OperationType::Migrate => "migrating",
            OperationType::Restore => "restoring",
            _ => "reconciling",
        },
        error.message
    );
    let mut last_error = json!({"description": description, "lastUpdateTime": now});
    if let Some(code) = error.code {
        last_error["codes"] = json!([code.as_str()]);
    }
    json!({
        "lastOperation": last_operation(kind, operation, "Error", &description, now),
        "lastError": last_error,
    })
}

/// The status patch of a successful operation: lastOperation Succeeded, lastError cleared, the
/// generation observed.
pub fn succeeded(
    kind: &str,
    operation: OperationType,
    generation: Option<i64>,
    now: &str,
) -> Value {
    json!({
        "lastOperation": last_operation(kind, operation, "Succeeded", "", now),
        "lastError": null,
        "observedGeneration": generation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(annotation: Option<&str>, generation: i64, status: Value) -> Value {
        let mut o = json!({"metadata": {"generation": generation}, "status": status});
        if let Some(a) = annotation {
            o["metadata"]["annotations"] = json!({OPERATION_ANNOTATION: a});
        }
        o
    }

    #[test]
    fn an_object_acts_on_annotation_generation_failure_and_deletion() {
        let done = json!({"observedGeneration": 2, "lastOperation": {"state": "Succeeded"}});
        assert_eq!(OperationType::of(&object(None, 2, done.clone())), None);
        assert_eq!(
            OperationType::of(&object(None, 3, done.clone())),
            Some(OperationType::Reconcile)
        );
        assert_eq!(
            OperationType::of(&object(Some(RECONCILE), 2, done.clone())),
            Some(OperationType::Reconcile)
        );
        assert_eq!(
            OperationType::of(&object(Some(MIGRATE), 2, done.clone())),
            Some(OperationType::Migrate)
        );
        assert_eq!(
            OperationType::of(&object(Some(RESTORE), 2, done.clone())),
            Some(OperationType::Restore)
        );
        let failed = json!({"observedGeneration": 2, "lastOperation": {"state": "Error"}});
        assert_eq!(
            OperationType::of(&object(None, 2, failed)),
            Some(OperationType::Reconcile)
        );
        assert_eq!(
            OperationType::of(&object(None, 1, json!({}))),
            Some(OperationType::Create)
        );
        let mut deleting = object(Some(RECONCILE), 2, done);
        deleting["metadata"]["deletionTimestamp"] = json!("2026-12-06T00:00:00Z");
        assert_eq!(OperationType::of(&deleting), Some(OperationType::Delete));
    }

    #[test]
    fn a_migrated_object_is_left_alone_until_it_is_restored() {
        let migrated = json!({"observedGeneration": 2,
                              "lastOperation": {"type": "Migrate", "state": "Succeeded"}});
        // A new generation, a reconcile annotation, even a deletion: not this seed's any more.
        assert_eq!(OperationType::of(&object(None, 3, migrated.clone())), None);
        assert_eq!(
            OperationType::of(&object(Some(RECONCILE), 2, migrated.clone())),
            None
        );
        let mut deleting = object(None, 2, migrated.clone());
        deleting["metadata"]["deletionTimestamp"] = json!("2026-12-06T00:00:00Z");
        assert_eq!(OperationType::of(&deleting), None);
        assert_eq!(
            OperationType::of(&object(Some(RESTORE), 2, migrated.clone())),
            Some(OperationType::Restore)
        );
        assert_eq!(
            OperationType::of(&object(Some(MIGRATE), 2, migrated)),
            Some(OperationType::Migrate)
        );
        // A migration that failed is retried (its annotation stays until it succeeds), and
        // deletion wins over a restore asked for.
        let failed = json!({"lastOperation": {"type": "Migrate", "state": "Error"}});
        assert_eq!(
            OperationType::of(&object(Some(MIGRATE), 2, failed)),
            Some(OperationType::Migrate)
        );
        let mut deleting = object(Some(RESTORE), 2, json!({}));
        deleting["metadata"]["deletionTimestamp"] = json!("2026-12-06T00:00:00Z");
        assert_eq!(OperationType::of(&deleting), Some(OperationType::Delete));
    }

    #[test]
    fn metal_api_failures_carry_gardeners_codes() {
        let exhausted = metal_api_sdk::Error::Exhausted("no more child prefixes".into());
        let e = ExtError::metal("allocate node network", &exhausted);
        assert_eq!(e.code, Some(ErrorCode::QuotaExceeded));
        let down = metal_api_sdk::Error::Unavailable("connection refused".into());
        assert_eq!(
            ExtError::metal("x", &down).code,
            Some(ErrorCode::Dependencies)
        );
        let status = failed("Infrastructure", OperationType::Reconcile, &e, "t");
        assert_eq!(
            status["lastError"]["codes"],
            json!(["ERR_INFRA_QUOTA_EXCEEDED"])
        );
        assert_eq!(status["lastOperation"]["state"], "Error");
        assert!(
            status["lastError"]["description"]
                .as_str()
                .unwrap()
                .contains("allocate node network: exhausted: no more child prefixes")
        );
        let ok = succeeded("Infrastructure", OperationType::Create, Some(4), "t");
        assert_eq!(ok["lastError"], Value::Null);
        assert_eq!(ok["observedGeneration"], 4);
        assert_eq!(ok["lastOperation"]["progress"], 100);
    }
}
