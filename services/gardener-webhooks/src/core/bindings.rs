//! SecretBinding and CredentialsBinding admission (reference §1.7): which Secret a binding's
//! review must read, and the Secret rule applied to what was read. The reading itself is the
//! edge's; a Secret that is not there is a denial naming it.

use serde_json::Value;

use super::field::{FieldError, Kind, Path};
use super::secret;

/// The Secret a binding refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
    /// Where the reference stands in the binding, for error paths.
    pub path: &'static str,
}

fn reference(binding: &Value, field: &'static str) -> Result<SecretRef, FieldError> {
    let path = Path::new(field);
    let r = binding
        .get(field)
        .filter(|r| r.is_object())
        .ok_or_else(|| path.error(Kind::Required, "the binding must refer to a Secret"))?;
    let text = |key: &str| {
        r.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let name = text("name");
    if name.is_empty() {
        return Err(path
            .child("name")
            .error(Kind::Required, "must not be empty"));
    }
    // An empty namespace means the binding's own.
    let namespace = match text("namespace") {
        ns if ns.is_empty() => binding
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        ns => ns,
    };
    Ok(SecretRef {
        namespace,
        name,
        path: field,
    })
}

/// For a SecretBinding: the Secret to check, on create or when its provider type changed;
/// `Ok(None)` when nothing needs checking.
pub fn secret_binding(old: Option<&Value>, new: &Value) -> Result<Option<SecretRef>, FieldError> {
    let provider_type = |b: &Value| b.pointer("/provider/type").cloned();
    match old {
        Some(old) if provider_type(old) == provider_type(new) => Ok(None),
        _ => reference(new, "secretRef").map(Some),
    }
}

/// For a CredentialsBinding: the Secret to check, on create only; a reference to anything but a
/// v1 Secret is refused.
pub fn credentials_binding(
    old: Option<&Value>,
    new: &Value,
) -> Result<Option<SecretRef>, FieldError> {
    if old.is_some() {
        return Ok(None);
    }
    let r = new.get("credentialsRef");
    let api_version = r.and_then(|r| r.get("apiVersion")).and_then(Value::as_str);
    let kind = r.and_then(|r| r.get("kind")).and_then(Value::as_str);
    if r.is_some() && (api_version, kind) != (Some("v1"), Some("Secret")) {
        return Err(Path::new("credentialsRef").error(
            Kind::NotSupported,
            format!(
                "unsupported credentials reference: {}/{}, only v1/Secret",
                api_version.unwrap_or_default(),
                kind.unwrap_or_default()
            ),
        ));
    }
    reference(new, "credentialsRef").map(Some)
}

/// The Secret rule on the Secret `found` under `r` (`None`: it does not exist).
pub fn check_referenced(r: &SecretRef, found: Option<&Value>) -> Vec<FieldError> {
    let path = Path::new(r.path);
    let Some(secret) = found else {
        return vec![path.error(
            Kind::NotFound,
            format!("secret {}/{} not found", r.namespace, r.name),
        )];
    };
    secret::validate(secret)
        .into_iter()
        .map(|e| {
            path.error(
                e.kind,
                format!(
                    "secret {}/{}: {}: {}",
                    r.namespace, r.name, e.path, e.detail
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secret_binding_object(provider: &str, secret_ns: Option<&str>) -> Value {
        let mut r = json!({"name": "creds"});
        if let Some(ns) = secret_ns {
            r["namespace"] = json!(ns);
        }
        json!({"metadata": {"name": "b", "namespace": "garden-p"}, "secretRef": r,
               "provider": {"type": provider}})
    }

    #[test]
    fn secret_bindings_are_checked_on_create_and_on_a_provider_change_only() {
        let created = secret_binding(None, &secret_binding_object("metal", None)).unwrap();
        assert_eq!(
            created,
            Some(SecretRef {
                namespace: "garden-p".into(),
                name: "creds".into(),
                path: "secretRef"
            })
        );
        let other_ns = secret_binding(None, &secret_binding_object("metal", Some("shared")));
        assert_eq!(other_ns.unwrap().unwrap().namespace, "shared");
        let old = secret_binding_object("metal", None);
        assert_eq!(secret_binding(Some(&old), &old).unwrap(), None);
        let moved = secret_binding_object("metal,aws", None);
        assert!(secret_binding(Some(&old), &moved).unwrap().is_some());
        let err = secret_binding(None, &json!({"metadata": {"namespace": "n"}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "secretRef: Required value: the binding must refer to a Secret"
        );
    }

    #[test]
    fn credentials_bindings_refer_to_v1_secrets_and_are_checked_on_create_only() {
        let binding = |api: &str, kind: &str| {
            json!({"metadata": {"namespace": "garden-p"},
                   "credentialsRef": {"apiVersion": api, "kind": kind, "name": "creds", "namespace": "garden-p"}})
        };
        let ok = binding("v1", "Secret");
        assert_eq!(
            credentials_binding(None, &ok).unwrap().unwrap().name,
            "creds"
        );
        assert_eq!(credentials_binding(Some(&ok), &ok).unwrap(), None);
        let err = credentials_binding(
            None,
            &binding("security.gardener.cloud/v1alpha1", "WorkloadIdentity"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("unsupported credentials reference: security.gardener.cloud/v1alpha1/WorkloadIdentity"),
            "{err}"
        );
    }

    #[test]
    fn the_referenced_secret_must_exist_and_pass_the_secret_rule() {
        let r = SecretRef {
            namespace: "garden-p".into(),
            name: "creds".into(),
            path: "secretRef",
        };
        assert_eq!(
            check_referenced(&r, Some(&json!({"data": {"metalAPIKey": "aw=="}}))),
            vec![]
        );
        let missing: Vec<String> = check_referenced(&r, None)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            missing,
            ["secretRef: Not found: secret garden-p/creds not found"]
        );
        let both = json!({"data": {"metalAPIKey": "aw==", "metalAPIHMac": "aw=="}});
        let got: Vec<String> = check_referenced(&r, Some(&both))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            got,
            [
                "secretRef: Invalid value: secret garden-p/creds: data: either hmac or api key must be set, not both"
            ]
        );
    }
}
