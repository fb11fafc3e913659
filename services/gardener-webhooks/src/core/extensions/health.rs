//! The health of provider metal's extension objects (upstream's healthcheck controller on
//! Gardener's health-check framework), as conditions in their `status.conditions`:
//! - ControlPlane `ControlPlaneHealthy`: the seed Deployment of lb-allocator has its replicas
//!   ready;
//! - ControlPlane `SystemComponentsHealthy`: the shoot's ManagedResources are applied and
//!   healthy, and the FirewallDeployment `shoot-firewall` (when there is one) has every
//!   replica ready and none unhealthy;
//! - Worker `EveryNodeReady`: every Machine runs with a Ready node, and at least as many as
//!   the pools' minimums.
//!
//! A hibernated shoot is healthy by definition ("Shoot is hibernated"). A condition keeps its
//! `lastTransitionTime` while its status stays, and its `lastUpdateTime` while nothing of it
//! changes, as Gardener's condition builder does.

use serde_json::{Value, json};

pub const CONTROL_PLANE_HEALTHY: &str = "ControlPlaneHealthy";
pub const SYSTEM_COMPONENTS_HEALTHY: &str = "SystemComponentsHealthy";
pub const EVERY_NODE_READY: &str = "EveryNodeReady";

/// Gardener's health-check reasons.
pub const REASON_SUCCESSFUL: &str = "HealthCheckSuccessful";
pub const REASON_UNSUCCESSFUL: &str = "HealthCheckUnsuccessful";
pub const REASON_CHECK_ERROR: &str = "ConditionCheckError";

/// The outcome of one condition type's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

impl Check {
    /// Healthy without findings; otherwise False with every finding.
    pub fn of(findings: Vec<String>) -> Self {
        if findings.is_empty() {
            return Check {
                status: "True",
                reason: REASON_SUCCESSFUL,
                message: "All health checks successful".into(),
            };
        }
        Check {
            status: "False",
            reason: REASON_UNSUCCESSFUL,
            message: findings.join("; "),
        }
    }

    pub fn hibernated() -> Self {
        Check {
            status: "True",
            reason: REASON_SUCCESSFUL,
            message: "Shoot is hibernated".into(),
        }
    }

    /// The checks could not run (an object could not be read).
    pub fn error(why: &str) -> Self {
        Check {
            status: "Unknown",
            reason: REASON_CHECK_ERROR,
            message: format!("unable to execute any health check: {why}"),
        }
    }
}

fn int(value: Option<&Value>, pointer: &str) -> Option<i64> {
    value?.pointer(pointer).and_then(Value::as_i64)
}

/// A Deployment (`None`: absent) with fewer ready replicas than it wants is a finding.
pub fn deployment(name: &str, deployment: Option<&Value>) -> Option<String> {
    let Some(found) = deployment else {
        return Some(format!("deployment {name:?} not found"));
    };
    let wanted = int(Some(found), "/spec/replicas").unwrap_or(1);
    let ready = int(Some(found), "/status/readyReplicas").unwrap_or(0);
    (ready < wanted).then(|| format!("deployment {name:?} has {ready}/{wanted} ready replicas"))
}

/// A ManagedResource that is absent, not yet observed in its latest generation, or not
/// ResourcesApplied and ResourcesHealthy is a finding.
pub fn managed_resource(name: &str, resource: Option<&Value>) -> Option<String> {
    let Some(found) = resource else {
        return Some(format!("managed resource {name:?} not found"));
    };
    let generation = int(Some(found), "/metadata/generation");
    let observed = int(Some(found), "/status/observedGeneration");
    if let (Some(generation), Some(observed)) = (generation, observed)
        && observed < generation
    {
        return Some(format!(
            "managed resource {name:?} is not yet applied in generation {generation} (observed {observed})"
        ));
    }
    let conditions = found
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let findings: Vec<String> = ["ResourcesApplied", "ResourcesHealthy"]
        .iter()
        .filter_map(|kind| {
            let condition = conditions
                .iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some(kind));
            let status = condition
                .and_then(|c| c.get("status"))
                .and_then(Value::as_str);
            if status == Some("True") {
                return None;
            }
            let message = condition
                .and_then(|c| c.get("message"))
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty())
                .map(|m| format!(": {m}"))
                .unwrap_or_default();
            Some(format!(
                "managed resource {name:?}: condition {kind} is {}{message}",
                status.unwrap_or("missing")
            ))
        })
        .collect();
    (!findings.is_empty()).then(|| findings.join("; "))
}

/// The FirewallDeployment `shoot-firewall`: none (yet) is no finding; unhealthy replicas, or
/// fewer ready than targeted, are.
pub fn firewall_deployment(deployment: Option<&Value>) -> Option<String> {
    let found = deployment?;
    let unhealthy = int(Some(found), "/status/unhealthyReplicas").unwrap_or(0);
    if unhealthy > 0 {
        return Some(format!(
            "firewall deployment has {unhealthy} unhealthy replicas"
        ));
    }
    let ready = int(Some(found), "/status/readyReplicas").unwrap_or(0);
    let target = int(Some(found), "/status/targetReplicas")
        .or_else(|| int(Some(found), "/spec/replicas"))
        .unwrap_or(0);
    (ready != target)
        .then(|| format!("firewall deployment only has {ready}/{target} ready replicas"))
}

/// `ControlPlaneHealthy` from lb-allocator's seed Deployment.
pub fn control_plane(lb_allocator: Option<&Value>) -> Check {
    Check::of(
        deployment(super::controlplane::seed::LB_ALLOCATOR, lb_allocator)
            .into_iter()
            .collect(),
    )
}

/// `SystemComponentsHealthy` from the ManagedResources expected in the shoot (name and what
/// was found) and the FirewallDeployment.
pub fn system_components(resources: &[(&str, Option<&Value>)], firewall: Option<&Value>) -> Check {
    let mut findings: Vec<String> = resources
        .iter()
        .filter_map(|(name, found)| managed_resource(name, *found))
        .collect();
    findings.extend(firewall_deployment(firewall));
    Check::of(findings)
}

/// The sum of the Worker's pool minimums.
pub fn minimum(worker: &Value) -> i64 {
    worker
        .pointer("/spec/pools")
        .and_then(Value::as_array)
        .map(|pools| {
            pools
                .iter()
                .filter_map(|p| p.get("minimum").and_then(Value::as_i64))
                .sum()
        })
        .unwrap_or(0)
}

/// A Machine's finding: not Running, or its node (whose conditions machine-controller-manager
/// copies into the Machine) reports Ready other than True. A Running Machine without a copied
/// Ready condition counts as ready: MCM makes it Running only once its node was Ready.
fn machine(machine: &Value) -> Option<String> {
    let name = machine
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let phase = machine
        .pointer("/status/currentStatus/phase")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    if phase != "Running" {
        return Some(format!("machine {name:?} is {phase}"));
    }
    let ready = machine
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        })
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str);
    match ready {
        None | Some("True") => None,
        Some(status) => {
            let node = machine
                .pointer("/metadata/labels/node")
                .and_then(Value::as_str)
                .unwrap_or(name);
            Some(format!(
                "node {node:?} of machine {name:?} is not ready (Ready={status})"
            ))
        }
    }
}

/// `EveryNodeReady` from the Worker and the Machines of its namespace.
pub fn every_node_ready(worker: &Value, machines: &[Value]) -> Check {
    let mut findings: Vec<String> = machines.iter().filter_map(machine).collect();
    let running = machines.iter().filter(|m| {
        m.pointer("/status/currentStatus/phase")
            .and_then(Value::as_str)
            == Some("Running")
    });
    let (running, wanted) = (running.count() as i64, minimum(worker));
    if running < wanted {
        findings.push(format!(
            "not enough running machines: {running}, the pools want at least {wanted}"
        ));
    }
    Check::of(findings)
}

/// The object's conditions with `checks` merged in (other types untouched), or `None` when
/// nothing changed. `now` as `metav1.Time` is written.
pub fn merge(existing: &[Value], checks: &[(&str, Check)], now: &str) -> Option<Vec<Value>> {
    let mut conditions = existing.to_vec();
    let mut changed = false;
    for (kind, check) in checks {
        let old = conditions
            .iter()
            .position(|c| c.get("type").and_then(Value::as_str) == Some(kind));
        let field = |i: usize, key: &str| {
            conditions[i]
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let (transition, same) = match old {
            Some(i) => {
                let status_kept = field(i, "status").as_deref() == Some(check.status);
                let same = status_kept
                    && field(i, "reason").as_deref() == Some(check.reason)
                    && field(i, "message").as_deref() == Some(check.message.as_str());
                let transition = field(i, "lastTransitionTime").filter(|_| status_kept);
                (transition, same)
            }
            None => (None, false),
        };
        if same {
            continue;
        }
        changed = true;
        let condition = json!({
            "type": kind,
            "status": check.status,
            "lastTransitionTime": transition.as_deref().unwrap_or(now),
            "lastUpdateTime": now,
            "reason": check.reason,
            "message": check.message,
        });
        match old {
            Some(i) => conditions[i] = condition,
            None => conditions.push(condition),
        }
    }
    changed.then_some(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mr(applied: &str, healthy: &str) -> Value {
        json!({
            "metadata": {"name": "m", "generation": 2},
            "status": {"observedGeneration": 2, "conditions": [
                {"type": "ResourcesApplied", "status": applied, "message": "applied"},
                {"type": "ResourcesHealthy", "status": healthy, "message": "pod crashes"},
            ]},
        })
    }

    fn machine(name: &str, phase: &str, ready: Option<&str>) -> Value {
        let mut m = json!({"metadata": {"name": name, "labels": {"node": format!("node-{name}")}},
                           "status": {"currentStatus": {"phase": phase}}});
        if let Some(ready) = ready {
            m["status"]["conditions"] = json!([{"type": "Ready", "status": ready}]);
        }
        m
    }

    #[test]
    fn the_control_plane_is_healthy_when_lb_allocator_has_its_replicas_ready() {
        let ready = json!({"spec": {"replicas": 1}, "status": {"readyReplicas": 1}});
        assert_eq!(control_plane(Some(&ready)).status, "True");
        let scaled_down = json!({"spec": {"replicas": 0}, "status": {}});
        assert_eq!(control_plane(Some(&scaled_down)).status, "True");
        let starting = json!({"spec": {"replicas": 1}, "status": {"readyReplicas": 0}});
        let check = control_plane(Some(&starting));
        assert_eq!((check.status, check.reason), ("False", REASON_UNSUCCESSFUL));
        assert!(check.message.contains("0/1 ready"), "{}", check.message);
        assert!(control_plane(None).message.contains("not found"));
    }

    #[test]
    fn system_components_need_applied_healthy_resources_and_a_ready_firewall() {
        let (good, sick) = (mr("True", "True"), mr("True", "False"));
        fn both<'a>(
            good: &'a Value,
            s: Option<&'a Value>,
        ) -> [(&'static str, Option<&'a Value>); 2] {
            [("shoot", Some(good)), ("storage", s)]
        }
        assert_eq!(
            system_components(&both(&good, Some(&good)), None).status,
            "True"
        );
        let check = system_components(&both(&good, Some(&sick)), None);
        assert_eq!(check.status, "False");
        assert!(
            check
                .message
                .contains("ResourcesHealthy is False: pod crashes"),
            "{}",
            check.message
        );
        assert!(
            system_components(&both(&good, None), None)
                .message
                .contains("\"storage\" not found")
        );
        let mut outdated = good.clone();
        outdated["metadata"]["generation"] = json!(3);
        assert!(
            managed_resource("x", Some(&outdated))
                .unwrap()
                .contains("generation 3")
        );

        let firewall = |ready, target, unhealthy| json!({"spec": {"replicas": 1}, "status": {"readyReplicas": ready, "targetReplicas": target, "unhealthyReplicas": unhealthy}});
        let only = [("shoot", Some(&good))];
        assert_eq!(
            system_components(&only, Some(&firewall(1, 1, 0))).status,
            "True"
        );
        let unhealthy = system_components(&only, Some(&firewall(1, 1, 1)));
        assert!(
            unhealthy.message.contains("1 unhealthy replicas"),
            "{}",
            unhealthy.message
        );
        let missing = system_components(&only, Some(&firewall(0, 1, 0)));
        assert!(missing.message.contains("0/1 ready"), "{}", missing.message);
    }

    #[test]
    fn every_node_is_ready_when_machines_run_with_ready_nodes_and_meet_the_minimum() {
        let worker = json!({"spec": {"pools": [{"minimum": 1}, {"minimum": 1}]}});
        let ready = [
            machine("a", "Running", Some("True")),
            machine("b", "Running", None),
        ];
        assert_eq!(every_node_ready(&worker, &ready).status, "True");
        let check = every_node_ready(&worker, &ready[..1]);
        assert!(
            check.message.contains("running machines: 1"),
            "{}",
            check.message
        );
        let sick = [
            machine("a", "Running", Some("False")),
            machine("b", "Pending", None),
        ];
        let check = every_node_ready(&worker, &sick);
        assert!(
            check
                .message
                .contains("\"node-a\" of machine \"a\" is not ready"),
            "{}",
            check.message
        );
        assert!(
            check.message.contains("machine \"b\" is Pending"),
            "{}",
            check.message
        );
        let none = json!({"spec": {"pools": [{"minimum": 0}]}});
        assert_eq!(every_node_ready(&none, &[]).status, "True");
    }

    #[test]
    fn merging_keeps_times_while_nothing_changes_and_other_conditions_alone() {
        let other = json!({"type": "Foreign", "status": "True", "lastTransitionTime": "t0",
                           "lastUpdateTime": "t0", "reason": "r", "message": "m"});
        let healthy = [(CONTROL_PLANE_HEALTHY, Check::of(vec![]))];
        let first = merge(std::slice::from_ref(&other), &healthy, "t1").unwrap();
        assert_eq!(first[0], other);
        assert_eq!(first[1]["lastTransitionTime"], "t1");
        assert_eq!(merge(&first, &healthy, "t2"), None);

        let message = [(CONTROL_PLANE_HEALTHY, Check::hibernated())];
        let second = merge(&first, &message, "t3").unwrap();
        assert_eq!(second[1]["lastTransitionTime"], "t1", "status stayed True");
        assert_eq!(second[1]["lastUpdateTime"], "t3");
        assert_eq!(second[1]["message"], "Shoot is hibernated");

        let broken = [(CONTROL_PLANE_HEALTHY, Check::of(vec!["down".into()]))];
        let third = merge(&second, &broken, "t4").unwrap();
        assert_eq!(third[1]["lastTransitionTime"], "t4");
        assert_eq!(third[1]["status"], "False");
        assert_eq!(third.len(), 2);
        let unknown = merge(&third, &[(EVERY_NODE_READY, Check::error("boom"))], "t5").unwrap();
        assert_eq!(unknown[2]["status"], "Unknown");
        assert_eq!(unknown[2]["reason"], REASON_CHECK_ERROR);
    }
}
