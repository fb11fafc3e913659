//! The Machine's status as MCM's machine controller writes it, decided from what the last
//! driver call answered and what the Node says. Pure: the controller reads, calls this, and
//! patches `status` with [`StatusUpdate::patch`] when [`StatusUpdate::differs`] says so.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube_resources::mcm::MachineStatus;
use serde_json::{Value, json};

use super::code::DriverError;
use super::machines::{Address, Found};

pub const PENDING: &str = "Pending";
pub const RUNNING: &str = "Running";
pub const UNKNOWN: &str = "Unknown";
pub const TERMINATING: &str = "Terminating";
pub const FAILED: &str = "Failed";
pub const CRASH_LOOP: &str = "CrashLoopBackOff";

pub const OP_CREATE: &str = "Create";
pub const OP_DELETE: &str = "Delete";
pub const OP_HEALTH: &str = "HealthCheck";

pub const PROCESSING: &str = "Processing";
pub const SUCCESSFUL: &str = "Successful";
pub const STATE_FAILED: &str = "Failed";

/// The finalizer MCM's machine controller holds on Machines.
pub const FINALIZER: &str = "machine.sapcloud.io/machine-controller";

/// `status.currentStatus.phase`, `status.lastOperation` and (when known) `status.addresses`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    pub phase: &'static str,
    pub operation: &'static str,
    pub state: &'static str,
    pub description: String,
    pub error_code: Option<&'static str>,
    pub addresses: Option<Vec<Address>>,
}

impl StatusUpdate {
    /// Whether the Machine's status says something else (times aside).
    pub fn differs(&self, current: Option<&MachineStatus>) -> bool {
        let Some(current) = current else { return true };
        let phase = current
            .current_status
            .as_ref()
            .and_then(|c| c.phase.as_deref());
        let op = current.last_operation.as_ref();
        let addresses_differ = self.addresses.as_ref().is_some_and(|want| {
            let have: Vec<(String, String)> = current
                .addresses
                .iter()
                .flatten()
                .map(|a| (a.type_.clone(), a.address.clone()))
                .collect();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|a| (a.kind.clone(), a.address.clone()))
                .collect();
            have != want
        });
        phase != Some(self.phase)
            || op.and_then(|o| o.type_.as_deref()) != Some(self.operation)
            || op.and_then(|o| o.state.as_deref()) != Some(self.state)
            || op.and_then(|o| o.description.as_deref()) != Some(self.description.as_str())
            || op
                .and_then(|o| o.error_code.as_deref())
                .filter(|c| !c.is_empty())
                != self.error_code
            || addresses_differ
    }

    /// The merge patch of `status`.
    pub fn patch(&self, now: DateTime<Utc>) -> Value {
        let now = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut status = json!({
            "currentStatus": {"phase": self.phase, "timeoutActive": false, "lastUpdateTime": now},
            "lastOperation": {
                "type": self.operation,
                "state": self.state,
                "description": self.description,
                "errorCode": self.error_code.unwrap_or(""),
                "lastUpdateTime": now,
            },
        });
        if let Some(addresses) = &self.addresses {
            status["addresses"] = serde_json::to_value(addresses).expect("addresses serialize");
        }
        json!({ "status": status })
    }
}

/// After a successful Create: Pending until the Node is Ready.
pub fn created(found: &Found) -> StatusUpdate {
    StatusUpdate {
        phase: PENDING,
        operation: OP_CREATE,
        state: PROCESSING,
        description: "Creating machine on cloud provider".into(),
        error_code: None,
        addresses: Some(found.addresses.clone()),
    }
}

/// After a failed Create: CrashLoopBackOff, and Failed once the Machine has waited longer than
/// the creation timeout (MCM's phases).
pub fn create_failed(error: &DriverError, age: Duration, timeout: Duration) -> StatusUpdate {
    StatusUpdate {
        phase: if age >= timeout { FAILED } else { CRASH_LOOP },
        operation: OP_CREATE,
        state: STATE_FAILED,
        description: format!("Cloud provider message - {}", error.message),
        error_code: Some(error.code.as_str()),
        addresses: None,
    }
}

/// What the created machine's Node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSeen {
    /// No Node of that name (not joined yet, or deleted).
    Missing,
    Ready,
    NotReady,
}

/// How long things have lasted, and the limits MCM puts on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Since the Machine was created.
    pub age: Duration,
    /// Since its status last changed (`currentStatus.lastUpdateTime`).
    pub in_phase: Duration,
    pub creation_timeout: Duration,
    pub health_timeout: Duration,
}

/// What the Node says of a created machine, as MCM's health check has it: Running once it is
/// Ready; Unknown when a Running machine's Node stops being Ready or goes away; Failed (for the
/// MachineSet to replace) after `health_timeout` in Unknown, or when no Node joined within
/// `creation_timeout`. `None`: nothing to change.
pub fn health(
    name: &str,
    current: Option<&MachineStatus>,
    node: NodeSeen,
    timing: Timing,
) -> Option<StatusUpdate> {
    let phase = current
        .and_then(|s| s.current_status.as_ref())
        .and_then(|c| c.phase.as_deref());
    match (node, phase) {
        // Running already: keep the lastOperation that got it there.
        (NodeSeen::Ready, Some(RUNNING)) => None,
        (NodeSeen::Ready, _) => Some(StatusUpdate {
            phase: RUNNING,
            operation: OP_CREATE,
            state: SUCCESSFUL,
            description: format!("Machine {name} successfully joined the cluster"),
            error_code: None,
            addresses: None,
        }),
        (NodeSeen::NotReady | NodeSeen::Missing, Some(RUNNING)) => Some(StatusUpdate {
            phase: UNKNOWN,
            operation: OP_HEALTH,
            state: PROCESSING,
            description: format!("Machine {name} is unhealthy - changing MachineState to Unknown"),
            error_code: None,
            addresses: None,
        }),
        (NodeSeen::NotReady | NodeSeen::Missing, Some(UNKNOWN))
            if timing.in_phase >= timing.health_timeout =>
        {
            Some(StatusUpdate {
                phase: FAILED,
                operation: OP_HEALTH,
                state: STATE_FAILED,
                description: format!(
                    "Machine {name} health check failed: not Ready for {}",
                    humantime::format_duration(timing.health_timeout)
                ),
                error_code: None,
                addresses: None,
            })
        }
        (NodeSeen::Missing, Some(PENDING)) if timing.age >= timing.creation_timeout => {
            Some(join_timed_out(name, timing.creation_timeout))
        }
        _ => None,
    }
}

/// A created machine whose Node did not join within the creation timeout: Failed, for the
/// MachineSet to replace.
pub fn join_timed_out(name: &str, timeout: Duration) -> StatusUpdate {
    StatusUpdate {
        phase: FAILED,
        operation: OP_CREATE,
        state: STATE_FAILED,
        description: format!(
            "Machine {name} failed to join the cluster in {}",
            humantime::format_duration(timeout)
        ),
        error_code: None,
        addresses: None,
    }
}

/// While deleting.
pub fn terminating() -> StatusUpdate {
    StatusUpdate {
        phase: TERMINATING,
        operation: OP_DELETE,
        state: PROCESSING,
        description: "Deleting machine from cloud provider".into(),
        error_code: None,
        addresses: None,
    }
}

/// A Delete that failed; the Machine keeps its finalizer and is tried again.
pub fn delete_failed(error: &DriverError) -> StatusUpdate {
    StatusUpdate {
        phase: TERMINATING,
        operation: OP_DELETE,
        state: STATE_FAILED,
        description: format!("Cloud provider message - {}", error.message),
        error_code: Some(error.code.as_str()),
        addresses: None,
    }
}

#[cfg(test)]
mod tests {
    use kube_resources::mcm::{CurrentStatus, LastOperation};

    use super::super::code::Code;
    use super::*;

    fn status(phase: &str) -> MachineStatus {
        MachineStatus {
            current_status: Some(CurrentStatus {
                phase: Some(phase.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn exhaustion_is_a_crash_loop_until_the_creation_timeout() {
        let e = DriverError::new(Code::ResourceExhausted, "no machine available");
        let early = create_failed(&e, Duration::from_secs(60), Duration::from_secs(1200));
        assert_eq!(early.phase, CRASH_LOOP);
        assert_eq!(early.error_code, Some("ResourceExhausted"));
        assert_eq!(
            early.description,
            "Cloud provider message - no machine available"
        );
        let late = create_failed(&e, Duration::from_secs(1200), Duration::from_secs(1200));
        assert_eq!(late.phase, FAILED);
    }

    const EARLY: Timing = Timing {
        age: Duration::from_secs(60),
        in_phase: Duration::from_secs(60),
        creation_timeout: Duration::from_secs(1200),
        health_timeout: Duration::from_secs(600),
    };
    const LATE: Timing = Timing {
        age: Duration::from_secs(7200),
        in_phase: Duration::from_secs(3600),
        ..EARLY
    };

    #[test]
    fn a_ready_node_makes_the_machine_running_once() {
        let update = health("w-1", Some(&status(PENDING)), NodeSeen::Ready, EARLY).unwrap();
        assert_eq!((update.phase, update.state), (RUNNING, SUCCESSFUL));
        assert!(health("w-1", Some(&status(RUNNING)), NodeSeen::Ready, EARLY).is_none());
        assert!(health("w-1", Some(&status(PENDING)), NodeSeen::Missing, EARLY).is_none());
        assert!(health("w-1", Some(&status(PENDING)), NodeSeen::NotReady, EARLY).is_none());
        let again = health("w-1", Some(&status(UNKNOWN)), NodeSeen::Ready, LATE).unwrap();
        assert_eq!(again.phase, RUNNING);
    }

    #[test]
    fn an_unhealthy_node_is_unknown_then_failed_after_the_health_timeout() {
        for node in [NodeSeen::NotReady, NodeSeen::Missing] {
            let unknown = health("w-1", Some(&status(RUNNING)), node, EARLY).unwrap();
            assert_eq!((unknown.phase, unknown.operation), (UNKNOWN, OP_HEALTH));
            assert!(health("w-1", Some(&status(UNKNOWN)), node, EARLY).is_none());
            let failed = health("w-1", Some(&status(UNKNOWN)), node, LATE).unwrap();
            assert_eq!((failed.phase, failed.state), (FAILED, STATE_FAILED));
            assert_eq!(
                failed.description,
                "Machine w-1 health check failed: not Ready for 10m"
            );
        }
    }

    #[test]
    fn a_node_that_never_joins_fails_the_machine_after_the_creation_timeout() {
        let update = health("w-1", Some(&status(PENDING)), NodeSeen::Missing, LATE).unwrap();
        assert_eq!(update, join_timed_out("w-1", LATE.creation_timeout));
        assert!(health("w-1", Some(&status(FAILED)), NodeSeen::Missing, LATE).is_none());
    }

    #[test]
    fn differs_ignores_times_and_sees_every_field() {
        let update = terminating();
        let patch = update.patch(Utc::now());
        let written: MachineStatus = serde_json::from_value(patch["status"].clone()).unwrap();
        assert!(!update.differs(Some(&written)));
        assert!(update.differs(None));
        let mut other = written.clone();
        other.last_operation = Some(LastOperation {
            state: Some(STATE_FAILED.into()),
            ..other.last_operation.unwrap()
        });
        assert!(update.differs(Some(&other)));
        let failed = delete_failed(&DriverError::new(Code::Unavailable, "down"));
        assert!(failed.differs(Some(&written)));
        assert_eq!(
            failed.patch(Utc::now())["status"]["lastOperation"]["errorCode"],
            "Unavailable"
        );
    }

    #[test]
    fn a_node_that_never_joins_fails_the_machine() {
        let update = join_timed_out("w-1", Duration::from_secs(1200));
        assert_eq!((update.phase, update.state), (FAILED, STATE_FAILED));
        assert_eq!(
            update.description,
            "Machine w-1 failed to join the cluster in 20m"
        );
        assert_eq!(update.error_code, None);
    }

    #[test]
    fn created_records_the_addresses() {
        let found = Found {
            provider_id: "metal:///p/m".into(),
            node_name: "w-1".into(),
            addresses: vec![Address {
                kind: "InternalIP".into(),
                address: "10.0.0.2".into(),
            }],
        };
        let update = created(&found);
        let patch = update.patch(Utc::now());
        assert_eq!(patch["status"]["addresses"][0]["type"], "InternalIP");
        assert_eq!(patch["status"]["currentStatus"]["phase"], PENDING);
        let written: MachineStatus = serde_json::from_value(patch["status"].clone()).unwrap();
        assert!(!update.differs(Some(&written)));
    }
}
