//! When a Worker's deletion may go on (upstream: the generic worker delete, then the firewall's):
//! its MachineDeployments are deleted first and their classes stay until every Machine of them
//! is gone (the driver frees a machine through its class); then the FirewallDeployment goes,
//! waited for a bounded time.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::machines::DEPLOYMENT_LABEL;
use crate::core::extensions::operation::ExtError;

/// How often to look again for Machines and the FirewallDeployment.
pub const POLL: Duration = Duration::from_secs(5);
/// Upstream polls for the FirewallDeployment to go for this long.
pub const FIREWALL_TIMEOUT: Duration = Duration::from_secs(120);

fn owners<'a>(object: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |o| o.get("kind").and_then(Value::as_str) == Some(kind))
        .filter_map(|o| o.get("name").and_then(Value::as_str))
}

fn name(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The names of the Machines of `deployments` still there: named after one (MCM names
/// them `<deployment>-<set hash>-<suffix>`), labelled with one, or owned by a MachineSet of one.
pub fn machines_left(
    deployments: &[String],
    machine_sets: &[Value],
    machines: &[Value],
) -> Vec<String> {
    let ours = |n: &str| {
        deployments.iter().any(|d| {
            n.strip_prefix(d.as_str())
                .is_some_and(|rest| rest.starts_with('-'))
        })
    };
    let sets: BTreeSet<&str> = machine_sets
        .iter()
        .filter(|s| {
            ours(name(s))
                || owners(s, "MachineDeployment").any(|d| deployments.iter().any(|x| x == d))
        })
        .map(name)
        .collect();
    machines
        .iter()
        .filter(|m| {
            let label = m
                .pointer("/metadata/labels")
                .and_then(|l| l.get(DEPLOYMENT_LABEL))
                .and_then(Value::as_str);
            ours(name(m))
                || label.is_some_and(|l| deployments.iter().any(|d| d == l))
                || owners(m, "MachineSet").any(|s| sets.contains(s))
        })
        .map(|m| name(m).to_owned())
        .collect()
}

/// Whether waiting for the FirewallDeployment may go on: an error once [`FIREWALL_TIMEOUT`]
/// passed since the Worker's deletion began (`deleting_since`, RFC 3339). Without a readable
/// start there is nothing to measure from, so waiting goes on.
pub fn firewall_wait(deleting_since: Option<&str>, now: &str) -> Result<(), ExtError> {
    let (Some(since), Ok(now)) = (
        deleting_since.and_then(|s| s.parse::<Timestamp>().ok()),
        now.parse::<Timestamp>(),
    ) else {
        return Ok(());
    };
    let waited = now.duration_since(since);
    if waited.as_secs() >= FIREWALL_TIMEOUT.as_secs() as i64 {
        return Err(ExtError::internal(format!(
            "the firewall deployment still exists {}s after the worker's deletion began",
            waited.as_secs()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(name: &str, labels: Value, owners: &[(&str, &str)]) -> Value {
        let owners: Vec<Value> = owners
            .iter()
            .map(|(kind, name)| json!({"kind": kind, "name": name}))
            .collect();
        json!({"metadata": {"name": name, "labels": labels, "ownerReferences": owners}})
    }

    #[test]
    fn machines_of_the_workers_deployments_are_found_by_name_label_or_owner() {
        let deployments = vec!["ns-w1".to_owned(), "ns-w2".to_owned()];
        let sets = [
            object("ns-w1-abc12", json!({}), &[("MachineDeployment", "ns-w1")]),
            object("renamed-set", json!({}), &[("MachineDeployment", "ns-w2")]),
            object("foreign-set", json!({}), &[("MachineDeployment", "other")]),
        ];
        let machines = [
            object("ns-w1-abc12-x1", json!({}), &[]),
            object("m-by-label", json!({"name": "ns-w2"}), &[]),
            object("m-by-owner", json!({}), &[("MachineSet", "renamed-set")]),
            object("ns-w10-zzz-x", json!({}), &[]),
            object(
                "foreign",
                json!({"name": "other"}),
                &[("MachineSet", "foreign-set")],
            ),
        ];
        assert_eq!(
            machines_left(&deployments, &sets, &machines),
            ["ns-w1-abc12-x1", "m-by-label", "m-by-owner"]
        );
        assert!(machines_left(&deployments, &sets, &[]).is_empty());
    }

    #[test]
    fn waiting_for_the_firewall_deployment_ends_after_two_minutes() {
        let since = Some("2026-01-01T00:00:00Z");
        assert!(firewall_wait(since, "2026-01-01T00:01:59Z").is_ok());
        let e = firewall_wait(since, "2026-01-01T00:02:00Z").unwrap_err();
        assert!(e.message.contains("120s"), "{e}");
        assert!(firewall_wait(None, "2026-01-01T09:00:00Z").is_ok());
        assert!(firewall_wait(Some("yesterday"), "2026-01-01T09:00:00Z").is_ok());
    }
}
