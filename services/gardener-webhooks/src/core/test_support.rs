//! Helpers of the rule tables: objects changed at one JSON pointer, errors as text.

use serde_json::Value;

use super::field::FieldError;

/// `base` with `value` at `pointer` (`None`: removed); `~1` in the last segment stands for `/`.
pub fn with(base: Value, pointer: &str, value: Option<Value>) -> Value {
    let mut changed = base;
    let (parent, key) = pointer.rsplit_once('/').expect("a JSON pointer");
    let key = key.replace("~1", "/");
    match (
        changed
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("{parent}")),
        value,
    ) {
        (Value::Object(map), Some(v)) => {
            map.insert(key, v);
        }
        (Value::Object(map), None) => {
            map.remove(&key);
        }
        (Value::Array(list), Some(v)) => list[key.parse::<usize>().expect("an index")] = v,
        (other, _) => panic!("{pointer}: cannot set in {other}"),
    }
    changed
}

pub fn messages(errors: Vec<FieldError>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}
