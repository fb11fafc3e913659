//! What the apiserver does with a custom resource's body before storing it, driven by the CRD's
//! structural `openAPIV3Schema`: prune unknown fields (or refuse them under
//! `fieldValidation=Strict`), apply `default`s, then validate (422 with the field path).

use kube_resources::schema::UpstreamSchema;
use serde_json::{Map, Value};

use crate::status::{ApiError, ApiResult, Cause};

/// The compiled schema of one CRD version.
#[derive(Debug)]
pub struct CrdSchema {
    openapi: Value,
    validator: UpstreamSchema,
}

impl CrdSchema {
    pub fn new(openapi: &Value) -> Result<Self, String> {
        let validator = UpstreamSchema::from_openapi(openapi).map_err(|e| e.to_string())?;
        Ok(Self {
            openapi: openapi.clone(),
            validator,
        })
    }

    /// Prunes, defaults and validates `object` in place. `strict` turns pruned fields into a 400,
    /// as `fieldValidation=Strict` does.
    pub fn admit(
        &self,
        object: &mut Value,
        strict: bool,
        who: (&str, &str, &str),
    ) -> ApiResult<()> {
        let (group, kind, name) = who;
        let mut pruned = Vec::new();
        if let (Value::Object(obj), Some(props)) = (&mut *object, self.openapi.get("properties")) {
            for (key, value) in obj.iter_mut() {
                // apiVersion, kind and metadata are the apiserver's, whatever the schema says.
                if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                if let Some(sub) = props.get(key) {
                    prune(sub, value, key, &mut pruned);
                }
            }
            let root_open = self.openapi.get("x-kubernetes-preserve-unknown-fields")
                == Some(&Value::Bool(true));
            if !root_open {
                obj.retain(|key, _| {
                    let keep = matches!(key.as_str(), "apiVersion" | "kind" | "metadata")
                        || props.get(key).is_some();
                    if !keep {
                        pruned.push(key.clone());
                    }
                    keep
                });
            }
            apply_defaults(&self.openapi, obj);
        }
        if strict && !pruned.is_empty() {
            let fields = pruned
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {fields}"
            )));
        }
        self.validator.validate(object).map_err(|errors| {
            let causes = errors.iter().map(|e| cause(object, e)).collect::<Vec<_>>();
            ApiError::invalid(group, kind, name, causes)
        })
    }
}

/// Drops fields the schema does not declare, recording their dotted paths.
fn prune(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match value {
        Value::Object(obj) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            if props.is_none() && additional.is_none() {
                // `type: object` alone (e.g. embedded metadata) or preserve-unknown-fields: open.
                return;
            }
            obj.retain(|key, _| {
                let known = props.is_some_and(|p| p.contains_key(key))
                    || additional.is_some_and(|a| a != &Value::Bool(false))
                    || preserve;
                if !known {
                    pruned.push(format!("{path}.{key}"));
                }
                known
            });
            for (key, child) in obj.iter_mut() {
                let sub = props
                    .and_then(|p| p.get(key))
                    .or(additional.filter(|a| a.is_object()));
                if let Some(sub) = sub {
                    prune(sub, child, &format!("{path}.{key}"), pruned);
                }
            }
            apply_defaults(schema, obj);
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(sub, item, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

/// Fills absent properties that declare a `default`.
fn apply_defaults(schema: &Value, obj: &mut Map<String, Value>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (key, sub) in props {
        if let Some(default) = sub.get("default")
            && !obj.contains_key(key)
        {
            obj.insert(key.clone(), default.clone());
        }
    }
}

/// Turns `/spec/egress/0/ports/0/port: "x" is not of type "integer"` into the apiserver's
/// field `spec.egress[0].ports[0].port`, message `Invalid value: "x": ...`.
fn cause(object: &Value, error: &str) -> Cause {
    let (pointer, message) = error.split_once(": ").unwrap_or(("/", error));
    let field = field_path(pointer);
    let value = object
        .pointer(if pointer == "/" { "" } else { pointer })
        .map(|v| v.to_string())
        .unwrap_or_else(|| "null".into());
    Cause {
        reason: "FieldValueInvalid",
        message: format!("Invalid value: {value}: {message}"),
        field,
    }
}

/// A JSON pointer as a Kubernetes field path: `/a/b/0/c` → `a.b[0].c`.
pub fn field_path(pointer: &str) -> String {
    let mut out = String::new();
    for segment in pointer.split('/').filter(|s| !s.is_empty()) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&segment);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> CrdSchema {
        CrdSchema::new(&json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "ports": {"type": "array", "items": {"type": "object", "properties": {
                    "port": {"type": "integer"},
                    "protocol": {"type": "string", "default": "TCP"}}}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
            "status": {"type": "object", "properties": {"state": {"type": "string"}}}}}))
        .unwrap()
    }

    const WHO: (&str, &str, &str) = ("example.com", "Thing", "t");

    #[test]
    fn unknown_fields_are_pruned_and_defaults_applied() {
        let mut obj = json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
            "spec": {"ports": [{"port": 1, "bogus": true}], "extra": {"any": 1},
                     "labels": {"a": "b"}, "unknown": 1},
            "top": 1});
        schema().admit(&mut obj, false, WHO).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t"},
                "spec": {"ports": [{"port": 1, "protocol": "TCP"}], "extra": {"any": 1},
                         "labels": {"a": "b"}}})
        );
    }

    #[test]
    fn strict_validation_refuses_unknown_fields() {
        let mut obj = json!({"spec": {"ports": [{"port": 1, "bogus": true}]}});
        let err = schema().admit(&mut obj, true, WHO).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(
            err.message
                .contains("unknown field \"spec.ports[0].bogus\""),
            "{err}"
        );
    }

    #[test]
    fn type_errors_are_422_with_the_field_path() {
        let mut obj = json!({"spec": {"ports": [{"port": 1}, {"port": "https"}]}});
        let err = schema().admit(&mut obj, false, WHO).unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(err.causes[0].field, "spec.ports[1].port");
        assert!(
            err.causes[0]
                .message
                .starts_with("Invalid value: \"https\""),
            "{err:?}"
        );
    }

    #[test]
    fn field_paths() {
        assert_eq!(
            field_path("/spec/egress/0/ports/10/port"),
            "spec.egress[0].ports[10].port"
        );
        assert_eq!(field_path("/"), "");
        assert_eq!(field_path("/metadata/labels/a~1b"), "metadata.labels.a/b");
    }
}
