//! Validation of objects against a CRD's `openAPIV3Schema`, approximating what kube-apiserver
//! enforces on write. Used to check every object we write for a kind we do not own against the
//! upstream contract, and by the contract tests to compare our CRD with upstream.
//!
//! The OpenAPI v3 structural schema is translated into JSON Schema 2020-12:
//! * `x-kubernetes-int-or-string: true` accepts an integer or a string;
//! * `nullable: true` additionally accepts `null`;
//! * an object that lists `properties` rejects unknown fields (the apiserver prunes them; for a
//!   writer that means they were silently lost, so we treat them as errors), unless it sets
//!   `x-kubernetes-preserve-unknown-fields` or `additionalProperties`;
//! * an object without `properties` (e.g. `metadata: {type: object}`) stays open.
//!
//! Not covered: CEL rules (`x-kubernetes-validations`), list-type/map-type uniqueness, `format`
//! checks, and metadata validation.

use serde_json::{Map, Value};

/// Why a CRD could not be turned into a validator.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("CRD is not valid YAML: {0}")]
    Yaml(String),
    #[error("CRD has no version {0:?} with an openAPIV3Schema")]
    NoVersion(String),
    #[error("translated schema does not compile: {0}")]
    Compile(String),
}

/// A compiled validator for one version of one CRD; build once, validate many objects.
pub struct UpstreamSchema {
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for UpstreamSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSchema").finish_non_exhaustive()
    }
}

impl UpstreamSchema {
    /// Compiles the `openAPIV3Schema` of `version` in the CRD given as YAML.
    pub fn from_crd_yaml(crd_yaml: &str, version: &str) -> Result<Self, SchemaError> {
        let crd = parse_crd(crd_yaml)?;
        let openapi =
            openapi_schema(&crd, version).ok_or_else(|| SchemaError::NoVersion(version.into()))?;
        Self::from_openapi(openapi)
    }

    /// Compiles an `openAPIV3Schema` value.
    pub fn from_openapi(openapi: &Value) -> Result<Self, SchemaError> {
        let mut schema = to_json_schema(openapi);
        allow_object_header(&mut schema);
        let validator = jsonschema::draft202012::new(&schema)
            .map_err(|e| SchemaError::Compile(e.to_string()))?;
        Ok(Self { validator })
    }

    /// Every violation as `<json pointer>: <message>`; `Ok` when there are none.
    pub fn validate(&self, object: &Value) -> Result<(), Vec<String>> {
        let errors: Vec<String> = self
            .validator
            .iter_errors(object)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() { "/".into() } else { path };
                format!("{path}: {e}")
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Validates `object` against the `openAPIV3Schema` of `version` in the CRD `crd_yaml`.
/// A CRD that cannot be read is reported as a single error. Compiles the schema on every call;
/// use [`UpstreamSchema`] to validate many objects.
pub fn validate_against_upstream(
    crd_yaml: &str,
    version: &str,
    object: &Value,
) -> Result<(), Vec<String>> {
    UpstreamSchema::from_crd_yaml(crd_yaml, version)
        .map_err(|e| vec![e.to_string()])?
        .validate(object)
}

/// Parses a CRD YAML document (a leading `---` is fine) into JSON.
pub fn parse_crd(crd_yaml: &str) -> Result<Value, SchemaError> {
    serde_saphyr::from_str(crd_yaml).map_err(|e| SchemaError::Yaml(e.to_string()))
}

/// The `openAPIV3Schema` of `version` in a parsed CRD.
pub fn openapi_schema<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?
        .pointer("/schema/openAPIV3Schema")
}

/// The apiserver accepts `apiVersion`, `kind` and `metadata` on every object, whether or not the
/// CRD's root schema lists them (kube-derive's CRDs do not).
fn allow_object_header(schema: &mut Value) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, ty) in [
        ("apiVersion", "string"),
        ("kind", "string"),
        ("metadata", "object"),
    ] {
        props
            .entry(name)
            .or_insert_with(|| serde_json::json!({ "type": ty }));
    }
}

/// Translates an OpenAPI v3 structural schema into JSON Schema (see the module docs).
pub fn to_json_schema(openapi: &Value) -> Value {
    let Value::Object(src) = openapi else {
        return openapi.clone();
    };
    let mut out = Map::new();
    for (key, value) in src {
        if key.starts_with("x-kubernetes-") || key == "nullable" {
            continue;
        }
        let converted = match key.as_str() {
            "properties" | "patternProperties" => Value::Object(
                value
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), to_json_schema(v)))
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            "items" | "additionalProperties" | "not" => to_json_schema(value),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                value
                    .as_array()
                    .map(|a| a.iter().map(to_json_schema).collect())
                    .unwrap_or_default(),
            ),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }

    let flag = |name: &str| src.get(name).and_then(Value::as_bool) == Some(true);
    if flag("x-kubernetes-int-or-string") {
        out.insert("type".into(), serde_json::json!(["integer", "string"]));
    }
    if flag("nullable") {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), serde_json::json!([t, "null"]));
        }
        if let Some(Value::Array(values)) = out.get_mut("enum")
            && !values.contains(&Value::Null)
        {
            values.push(Value::Null);
        }
    }
    if src.contains_key("properties")
        && !src.contains_key("additionalProperties")
        && !flag("x-kubernetes-preserve-unknown-fields")
    {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(openapi: Value, object: Value) -> Result<(), Vec<String>> {
        UpstreamSchema::from_openapi(&openapi)
            .expect("compiles")
            .validate(&object)
    }

    #[test]
    fn int_or_string_accepts_both_and_nothing_else() {
        let s = json!({"type": "object", "properties": {
            "p": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}}});
        assert!(check(s.clone(), json!({"p": 80})).is_ok());
        assert!(check(s.clone(), json!({"p": "http"})).is_ok());
        assert!(check(s, json!({"p": true})).is_err());
    }

    #[test]
    fn listed_properties_are_strict_unless_preserved() {
        let strict = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let errs = check(strict, json!({"a": "x", "b": 1})).unwrap_err();
        assert!(errs[0].contains('b'), "{errs:?}");
        let open = json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"a": {"type": "string"}}});
        assert!(check(open, json!({"a": "x", "b": 1})).is_ok());
        let bare = json!({"type": "object", "properties": {"metadata": {"type": "object"}}});
        assert!(
            check(
                bare,
                json!({"metadata": {"name": "n", "labels": {"a": "b"}}})
            )
            .is_ok()
        );
    }

    #[test]
    fn nullable_accepts_null() {
        let s = json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true},
            "e": {"type": "string", "enum": ["A"], "nullable": true},
            "b": {"type": "string"}}});
        assert!(check(s.clone(), json!({"a": null, "e": null})).is_ok());
        assert!(check(s, json!({"b": null})).is_err());
    }

    #[test]
    fn errors_name_the_field_path() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "items": {"type": "integer"}}}}}});
        let errs = check(s, json!({"spec": {"ports": [1, "x"]}})).unwrap_err();
        assert!(errs[0].starts_with("/spec/ports/1"), "{errs:?}");
    }

    #[test]
    fn unreadable_crd_is_one_error() {
        let errs = validate_against_upstream("spec: {versions: []}", "v1", &json!({})).unwrap_err();
        assert_eq!(errs.len(), 1);
    }
}
