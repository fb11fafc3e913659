//! Edits of a workload's pod template (Deployment, DaemonSet) on its JSON, with the semantics of
//! Gardener's webhook helpers: the first container or env var of a name is the one changed, an
//! "ensured" item replaces the existing one whole or is appended.

use serde_json::{Map, Value};

use super::flags;

/// The object's `/spec/template`, created when missing.
fn template(object: &mut Value) -> &mut Map<String, Value> {
    object_at(object, &["spec", "template"])
}

/// The object at `path` below `value`, created (as `{}`) wherever missing or not an object.
pub fn object_at<'a>(value: &'a mut Value, path: &[&str]) -> &'a mut Map<String, Value> {
    let mut current = value;
    for key in path {
        if !current.is_object() {
            *current = Value::Object(Map::new());
        }
        current = current
            .as_object_mut()
            .expect("just made an object")
            .entry(*key)
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    current.as_object_mut().expect("just made an object")
}

/// The first container named `name` of the pod template.
pub fn container_mut<'a>(object: &'a mut Value, name: &str) -> Option<&'a mut Map<String, Value>> {
    object
        .pointer_mut("/spec/template/spec/containers")?
        .as_array_mut()?
        .iter_mut()
        .filter_map(Value::as_object_mut)
        .find(|c| c.get("name").and_then(Value::as_str) == Some(name))
}

/// `item` replaces the first element of `list` whose `key` equals `item`'s, or is appended.
fn ensure_named(list: &mut Vec<Value>, key: &str, item: Value) {
    let name = item.get(key).cloned();
    match list.iter_mut().find(|i| i.get(key) == name.as_ref()) {
        Some(existing) => *existing = item,
        None => list.push(item),
    }
}

fn array_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Vec<Value> {
    let entry = map.entry(key).or_insert_with(|| Value::Array(Vec::new()));
    if !entry.is_array() {
        *entry = Value::Array(Vec::new());
    }
    entry.as_array_mut().expect("just made an array")
}

/// The container's env has `env` (by name), as Gardener's `EnsureEnvVarWithName`.
pub fn ensure_env(container: &mut Map<String, Value>, env: Value) {
    ensure_named(array_entry(container, "env"), "name", env);
}

/// The pod template's containers have `container` (by name), as `EnsureContainerWithName`.
pub fn ensure_container(object: &mut Value, container: Value) {
    let spec = object_at(object, &["spec", "template", "spec"]);
    ensure_named(array_entry(spec, "containers"), "name", container);
}

/// The pod template's `metadata.<field>` (labels or annotations) maps `key` to `value`.
fn ensure_template_meta(object: &mut Value, field: &str, key: &str, value: &str) {
    let template = template(object);
    object_at(
        template
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new())),
        &[field],
    )
    .insert(key.to_string(), Value::String(value.to_string()));
}

pub fn ensure_template_label(object: &mut Value, key: &str, value: &str) {
    ensure_template_meta(object, "labels", key, value);
}

pub fn ensure_template_annotation(object: &mut Value, key: &str, value: &str) {
    ensure_template_meta(object, "annotations", key, value);
}

/// A container's `command` and `args`, edited as one command line: the upstream helpers edit
/// only `command`, but Gardener now puts the kube-apiserver's flags into `args`, so a flag is
/// looked for in both, and a missing one goes where the flags are (`args` when it has any).
pub struct CommandLine {
    command: Vec<String>,
    args: Vec<String>,
}

fn strings(container: &Map<String, Value>, key: &str) -> Vec<String> {
    container
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

impl CommandLine {
    pub fn of(container: &Map<String, Value>) -> Self {
        Self {
            command: strings(container, "command"),
            args: strings(container, "args"),
        }
    }

    /// Writes both lists back; a list that was absent and stays empty is not added.
    pub fn write(self, container: &mut Map<String, Value>) {
        for (key, list) in [("command", self.command), ("args", self.args)] {
            if !list.is_empty() || container.contains_key(key) {
                container.insert(
                    key.to_string(),
                    Value::Array(list.into_iter().map(Value::String).collect()),
                );
            }
        }
    }

    fn flag_list(&mut self) -> &mut Vec<String> {
        if self.args.is_empty() {
            &mut self.command
        } else {
            &mut self.args
        }
    }

    pub fn ensure_with_prefix(&mut self, prefix: &str, value: &str) {
        let in_command = flags::replace_with_prefix(&mut self.command, prefix, value);
        let in_args = flags::replace_with_prefix(&mut self.args, prefix, value);
        if !in_command && !in_args {
            self.flag_list().push(format!("{prefix}{value}"));
        }
    }

    pub fn remove_with_prefix(&mut self, prefix: &str) {
        flags::remove_with_prefix(&mut self.command, prefix);
        flags::remove_with_prefix(&mut self.args, prefix);
    }

    pub fn ensure_in_list(&mut self, prefix: &str, value: &str, sep: &str) {
        let in_command = flags::add_to_lists_with_prefix(&mut self.command, prefix, value, sep);
        let in_args = flags::add_to_lists_with_prefix(&mut self.args, prefix, value, sep);
        if !in_command && !in_args {
            self.flag_list().push(format!("{prefix}{value}"));
        }
    }

    pub fn remove_from_lists(&mut self, prefix: &str, value: &str, sep: &str) {
        flags::remove_from_lists(&mut self.command, prefix, value, sep);
        flags::remove_from_lists(&mut self.args, prefix, value, sep);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}]},
            {"name": "b"},
        ]}}}})
    }

    #[test]
    fn env_vars_are_replaced_whole_or_appended() {
        let mut d = deployment();
        let a = container_mut(&mut d, "a").unwrap();
        ensure_env(a, json!({"name": "X", "value": "1"}));
        ensure_env(a, json!({"name": "Y", "value": "2"}));
        assert_eq!(
            a["env"],
            json!([{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}])
        );
        let b = container_mut(&mut d, "b").unwrap();
        ensure_env(b, json!({"name": "Z", "value": "3"}));
        assert_eq!(b["env"], json!([{"name": "Z", "value": "3"}]));
        assert!(container_mut(&mut d, "c").is_none());
    }

    #[test]
    fn containers_are_replaced_whole_or_appended() {
        let mut d = deployment();
        ensure_container(&mut d, json!({"name": "b", "image": "i"}));
        ensure_container(&mut d, json!({"name": "c"}));
        let containers = d["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap();
        assert_eq!(containers[1], json!({"name": "b", "image": "i"}));
        assert_eq!(containers[2], json!({"name": "c"}));
        let mut empty = json!({});
        ensure_container(&mut empty, json!({"name": "c"}));
        assert_eq!(
            empty,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}})
        );
    }

    #[test]
    fn template_labels_and_annotations_are_created_when_missing() {
        let mut d = json!({"spec": {"template": {"metadata": {"labels": {"app": "x"}}}}});
        ensure_template_label(&mut d, "k", "v");
        ensure_template_annotation(&mut d, "a", "b");
        assert_eq!(
            d["spec"]["template"]["metadata"],
            json!({"labels": {"app": "x", "k": "v"}, "annotations": {"a": "b"}})
        );
    }

    #[test]
    fn a_command_line_spans_command_and_args() {
        let mut c = json!({"command": ["/bin/x", "--a=1"], "args": ["--b=1", "--l=A,B"]});
        let map = c.as_object_mut().unwrap();
        let mut line = CommandLine::of(map);
        line.ensure_with_prefix("--a=", "2");
        line.ensure_with_prefix("--new=", "n");
        line.remove_with_prefix("--b=");
        line.remove_from_lists("--l=", "A", ",");
        line.ensure_in_list("--d=", "D", ",");
        line.write(map);
        assert_eq!(
            c,
            json!({"command": ["/bin/x", "--a=2"], "args": ["--l=B", "--new=n", "--d=D"]})
        );
        let mut only_command = json!({"command": ["/bin/x"]});
        let map = only_command.as_object_mut().unwrap();
        let mut line = CommandLine::of(map);
        line.ensure_with_prefix("--a=", "1");
        line.write(map);
        assert_eq!(only_command, json!({"command": ["/bin/x", "--a=1"]}));
    }
}
