//! Strategic merge patch, as `kubectl apply`, `edit`, `label` and `scale` send it for built-in
//! kinds. The apiserver knows each list's merge key from the Go types; without them, a list of
//! objects is merged by the first of [`MERGE_KEYS`] that every element on both sides carries,
//! which matches the built-in kinds served here (Service ports by `port`, conditions by `type`,
//! owner references by `uid`, ...). Other lists, and the [`ATOMIC_LISTS`], are replaced. The directives `$patch`,
//! `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>` and `$retainKeys` are honoured
//! and never stored.

use serde_json::{Map, Value};

/// Candidate merge keys, most specific first.
pub const MERGE_KEYS: &[&str] = &[
    "port",
    "containerPort",
    "mountPath",
    "devicePath",
    "uid",
    "ip",
    "name",
    "type",
    "key",
];

/// Lists the Go types declare atomic although their elements carry a candidate merge key:
/// RBAC `subjects` (User "a" and Group "a" are different subjects).
pub const ATOMIC_LISTS: &[&str] = &["subjects"];

const ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVE: &str = "$deleteFromPrimitiveList/";

/// Applies `patch` to `target` in place.
pub fn apply(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => merge_object(t, p),
        _ => *target = strip(patch),
    }
}

fn merge_object(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_map(patch);
        return;
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix(DELETE_PRIMITIVE) {
            if let (Some(Value::Array(list)), Some(gone)) =
                (target.get_mut(field), value.as_array())
            {
                list.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        match (target.get_mut(key), value) {
            (_, Value::Null) => {
                target.remove(key);
            }
            (Some(Value::Object(t)), Value::Object(p)) => merge_object(t, p),
            (Some(Value::Array(t)), Value::Array(p)) if !ATOMIC_LISTS.contains(&key.as_str()) => {
                let order = patch
                    .get(&format!("{ORDER}{key}"))
                    .and_then(Value::as_array);
                merge_list(t, p, order);
            }
            _ => {
                target.insert(key.clone(), strip(value));
            }
        }
    }
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        target.retain(|k, _| retain.iter().any(|r| r == k));
    }
}

fn merge_list(target: &mut Vec<Value>, patch: &[Value], order: Option<&Vec<Value>>) {
    let key = MERGE_KEYS.iter().copied().find(|k| {
        !patch.is_empty()
            && patch
                .iter()
                .chain(target.iter())
                .all(|v| v.get(*k).is_some())
    });
    match key {
        Some(key) => {
            for item in patch {
                let found = target.iter().position(|t| t.get(key) == item.get(key));
                let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
                match (found, delete) {
                    (Some(i), true) => {
                        target.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => apply(&mut target[i], item),
                    (None, false) => target.push(strip(item)),
                }
            }
            if let Some(order) = order {
                let rank = |v: &Value| {
                    order
                        .iter()
                        .position(|o| o.get(key) == v.get(key))
                        .unwrap_or(usize::MAX)
                };
                target.sort_by_key(rank);
            }
        }
        // Primitive lists with an order directive are merge lists (finalizers and the like).
        None if order.is_some() && patch.iter().all(|v| !v.is_object()) => {
            for item in patch {
                if !target.contains(item) {
                    target.push(item.clone());
                }
            }
            let order = order.expect("checked");
            target.sort_by_key(|v| order.iter().position(|o| o == v).unwrap_or(usize::MAX));
        }
        None => *target = patch.iter().map(strip).collect(),
    }
}

/// A patch value without directives, for storing.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_map(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
        other => other.clone(),
    }
}

fn strip_map(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, _)| !k.starts_with('$'))
        .map(|(k, v)| (k.clone(), strip(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patched(mut target: Value, patch: Value) -> Value {
        apply(&mut target, &patch);
        target
    }

    #[test]
    fn kubectl_apply_of_service_ports() {
        let svc = json!({"spec": {"type": "LoadBalancer", "ports": [
            {"port": 443, "protocol": "TCP", "targetPort": 9443},
            {"port": 80, "protocol": "TCP", "targetPort": 80}]}});
        // What kubectl sends when port 80 is dropped and 443 retargeted.
        let patch = json!({"spec": {"$setElementOrder/ports": [{"port": 443}],
            "ports": [{"port": 443, "targetPort": 9444}, {"$patch": "delete", "port": 80}]}});
        assert_eq!(
            patched(svc, patch),
            json!({"spec": {"type": "LoadBalancer", "ports": [
                {"port": 443, "protocol": "TCP", "targetPort": 9444}]}})
        );
    }

    #[test]
    fn keyed_lists_merge_and_follow_the_order_directive() {
        let target = json!({"conditions": [{"type": "A", "status": "True"}, {"type": "B", "status": "False"}]});
        let patch = json!({"$setElementOrder/conditions": [{"type": "C"}, {"type": "B"}, {"type": "A"}],
            "conditions": [{"type": "B", "status": "True"}, {"type": "C", "status": "True"}]});
        assert_eq!(
            patched(target, patch),
            json!({"conditions": [{"type": "C", "status": "True"}, {"type": "B", "status": "True"},
                {"type": "A", "status": "True"}]})
        );
    }

    #[test]
    fn maps_merge_nulls_delete_and_directives_are_not_stored() {
        let target = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "finalizers": ["x", "y"]},
            "data": {"k": "v"}, "args": ["--a"]});
        let patch = json!({"metadata": {"labels": {"a": null, "c": "3"},
                "$deleteFromPrimitiveList/finalizers": ["x"]},
            "data": {"$patch": "replace", "n": "m"}, "args": ["--b"]});
        assert_eq!(
            patched(target, patch),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}, "finalizers": ["y"]},
                "data": {"n": "m"}, "args": ["--b"]})
        );
    }

    #[test]
    fn retain_keys_drops_the_rest() {
        let target = json!({"strategy": {"type": "Recreate", "rollingUpdate": {"maxSurge": 1}}});
        let patch = json!({"strategy": {"$retainKeys": ["type"], "type": "Recreate"}});
        assert_eq!(
            patched(target, patch),
            json!({"strategy": {"type": "Recreate"}})
        );
    }

    #[test]
    fn rbac_subjects_are_replaced_not_merged_by_name() {
        let target =
            json!({"subjects": [{"kind": "User", "name": "a"}, {"kind": "Group", "name": "b"}]});
        let patch = json!({"subjects": [{"kind": "Group", "name": "a"}]});
        assert_eq!(
            patched(target, patch),
            json!({"subjects": [{"kind": "Group", "name": "a"}]})
        );
    }
}
