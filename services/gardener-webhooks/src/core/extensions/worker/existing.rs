//! The machine objects found in the shoot namespace, and which of them no pool wants any more.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::machines::{PURPOSE_LABEL, PURPOSE_MACHINE_CLASS};

/// A MachineDeployment as found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployment {
    pub replicas: Option<i64>,
    /// `spec.template.spec.class.name`.
    pub class: Option<String>,
    /// Its deletion began already.
    pub deleting: bool,
}

/// The machine objects found in the shoot namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    pub deployments: BTreeMap<String, Deployment>,
    pub classes: BTreeSet<String>,
    /// Secrets labelled as class Secrets.
    pub secrets: BTreeSet<String>,
    /// Classes MachineSets with replicas and Machines still name: deleting them would strand
    /// those machines (the driver needs the class to free one).
    pub classes_in_use: BTreeSet<String>,
}

fn name_of(object: &Value) -> Option<String> {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn text_at(object: &Value, pointer: &str) -> Option<String> {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Existing {
    /// Reads the lists of the namespace's MachineDeployments, MachineClasses, Secrets,
    /// MachineSets and Machines (objects as JSON).
    pub fn from_objects(
        deployments: &[Value],
        classes: &[Value],
        secrets: &[Value],
        machine_sets: &[Value],
        machines: &[Value],
    ) -> Existing {
        let replicas = |o: &Value, p: &str| o.pointer(p).and_then(Value::as_i64).unwrap_or(0);
        let running_sets = machine_sets
            .iter()
            .filter(|s| replicas(s, "/spec/replicas") > 0 || replicas(s, "/status/replicas") > 0);
        Existing {
            deployments: deployments
                .iter()
                .filter_map(|d| {
                    Some((
                        name_of(d)?,
                        Deployment {
                            replicas: d.pointer("/spec/replicas").and_then(Value::as_i64),
                            class: text_at(d, "/spec/template/spec/class/name"),
                            deleting: d.pointer("/metadata/deletionTimestamp").is_some(),
                        },
                    ))
                })
                .collect(),
            classes: classes.iter().filter_map(name_of).collect(),
            secrets: secrets
                .iter()
                .filter(|s| {
                    s.pointer("/metadata/labels")
                        .and_then(|l| l.get(PURPOSE_LABEL))
                        .and_then(Value::as_str)
                        == Some(PURPOSE_MACHINE_CLASS)
                })
                .filter_map(name_of)
                .collect(),
            classes_in_use: running_sets
                .filter_map(|s| text_at(s, "/spec/template/spec/class/name"))
                .chain(
                    machines
                        .iter()
                        .filter_map(|m| text_at(m, "/spec/class/name")),
                )
                .collect(),
        }
    }
}

/// What no pool wants any more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Obsolete {
    /// Deployments to delete (not those being deleted already).
    pub deployments: Vec<String>,
    pub classes: Vec<String>,
    pub secrets: Vec<String>,
    /// Old classes (and their Secrets) kept while a MachineDeployment, a MachineSet with
    /// replicas or a Machine still names them; look again later.
    pub kept: Vec<String>,
}

/// What `wanted` (deployment and class names) leaves over of `existing`: deployments of pools
/// that are gone; classes no pool wants and nothing names any more (the wanted deployments
/// name their new class once written, deployments on their way out still name theirs);
/// Secrets of classes neither wanted nor kept.
pub fn obsolete<'a>(
    wanted: impl IntoIterator<Item = (&'a str, &'a str)>,
    existing: &Existing,
) -> Obsolete {
    let (wanted_deployments, wanted_classes): (BTreeSet<&str>, BTreeSet<&str>) =
        wanted.into_iter().unzip();
    let leaving: Vec<&String> = existing
        .deployments
        .keys()
        .filter(|d| !wanted_deployments.contains(d.as_str()))
        .collect();
    let named_elsewhere: BTreeSet<&str> = leaving
        .iter()
        .filter_map(|d| existing.deployments[*d].class.as_deref())
        .chain(existing.classes_in_use.iter().map(String::as_str))
        .collect();
    let (kept, classes): (Vec<&String>, Vec<&String>) = existing
        .classes
        .iter()
        .filter(|c| !wanted_classes.contains(c.as_str()))
        .partition(|c| named_elsewhere.contains(c.as_str()));
    let secrets = existing
        .secrets
        .iter()
        .filter(|s| !wanted_classes.contains(s.as_str()) && !kept.contains(s))
        .cloned()
        .collect();
    Obsolete {
        deployments: leaving
            .into_iter()
            .filter(|d| !existing.deployments[*d].deleting)
            .cloned()
            .collect(),
        classes: classes.into_iter().cloned().collect(),
        secrets,
        kept: kept.into_iter().cloned().collect(),
    }
}
