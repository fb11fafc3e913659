//! `meta.k8s.io/v1 Table` responses, which `kubectl get` asks for so the server picks the
//! columns: Name, the kind's printer columns, Age.

use serde_json::{Value, json};

use crate::kinds::Kind;

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(text: Option<&str>) -> Self {
        match text {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

/// Renders `items` (already presented objects) as a Table.
pub fn render(kind: &Kind, items: &[Value], list_meta: Value, include: IncludeObject) -> Value {
    let mut columns = vec![json!({"name": "Name", "type": "string", "format": "name",
        "description": "Name must be unique within a namespace.", "priority": 0})];
    columns.extend(kind.columns.iter().map(|c| {
        json!({"name": c.name, "type": c.type_, "format": "", "description": "", "priority": c.priority})
    }));
    let has_age = kind.columns.iter().any(|c| c.name == "Age");
    if !has_age {
        columns.push(json!({"name": "Age", "type": "string", "format": "",
            "description": "CreationTimestamp is a timestamp representing the server time when this object was created.",
            "priority": 0}));
    }
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut cells = vec![item["metadata"]["name"].clone()];
            for column in &kind.columns {
                let cell = json_path(item, &column.json_path);
                cells.push(match (column.type_.as_str(), cell) {
                    ("date", Some(Value::String(ts))) => json!(age(&ts)),
                    (_, Some(v)) => v,
                    (_, None) => Value::Null,
                });
            }
            if !has_age {
                cells.push(json!(age(item["metadata"]["creationTimestamp"]
                    .as_str()
                    .unwrap_or_default())));
            }
            let mut row = json!({ "cells": cells });
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = item.clone(),
                IncludeObject::Metadata => {
                    row["object"] = json!({"kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]})
                }
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The subset of JSONPath printer columns use: `.a.b`, `.a[0].b`, `.a[*].b` (joined by commas).
pub fn json_path(object: &Value, path: &str) -> Option<Value> {
    let mut current = vec![object];
    for segment in path.trim_start_matches('.').split('.') {
        if segment.is_empty() {
            continue;
        }
        let (field, index) = match segment.split_once('[') {
            Some((f, rest)) => (f, Some(rest.trim_end_matches(']'))),
            None => (segment, None),
        };
        let mut next = Vec::new();
        for value in current {
            let Some(child) = (if field.is_empty() {
                Some(value)
            } else {
                value.get(field)
            }) else {
                continue;
            };
            match index {
                None => next.push(child),
                Some("*") => next.extend(child.as_array().into_iter().flatten()),
                Some(i) => next.extend(i.parse::<usize>().ok().and_then(|i| child.get(i))),
            }
        }
        current = next;
    }
    match current.as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => Some(json!(
            many.iter()
                .map(|v| v
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string()))
                .collect::<Vec<_>>()
                .join(",")
        )),
    }
}

/// `kubectl`'s short human durations: 42s, 5m, 3h, 2d.
fn age(timestamp: &str) -> String {
    let Ok(then) = chrono::DateTime::parse_from_rfc3339(timestamp) else {
        return "<unknown>".into();
    };
    let secs = (chrono::Utc::now() - then.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 3600 * 3 => format!("{}m", s / 60),
        s if s < 86400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_of_printer_columns() {
        let obj = json!({"status": {"state": "deployed",
            "loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"ip": "5.6.7.8"}]}}});
        assert_eq!(json_path(&obj, ".status.state"), Some(json!("deployed")));
        assert_eq!(
            json_path(&obj, ".status.loadBalancer.ingress[*].ip"),
            Some(json!("1.2.3.4,5.6.7.8"))
        );
        assert_eq!(
            json_path(&obj, ".status.loadBalancer.ingress[1].ip"),
            Some(json!("5.6.7.8"))
        );
        assert_eq!(json_path(&obj, ".status.message"), None);
    }

    #[test]
    fn ages_are_short() {
        let ts = (chrono::Utc::now() - chrono::Duration::minutes(5))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert_eq!(age(&ts), "5m");
        assert_eq!(age("garbage"), "<unknown>");
    }
}
