//! The resource types the server serves: a fixed set of built-in kinds plus one entry per served
//! version of every registered CustomResourceDefinition.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::schema::CrdSchema;
use crate::status::{ApiError, ApiResult, Cause};

/// A printer column, rendered when a client asks for a `Table` (`kubectl get`).
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub priority: i64,
}

/// One version of one resource.
#[derive(Debug, Clone)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// Has a `/status` subresource: status is ignored on create and main-resource writes.
    pub status: bool,
    /// Validation and pruning, for custom resources.
    pub schema: Option<Arc<CrdSchema>>,
    pub columns: Vec<Column>,
    /// The CRD that registered this kind; `None` for built-ins.
    pub crd: Option<String>,
    /// Served for `create` only and never stored: the review APIs (TokenReview,
    /// SubjectAccessReview), answered by [`crate::reviews`].
    pub create_only: bool,
}

impl Kind {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Objects are stored per group and plural, shared by all versions of a CRD.
    pub fn storage_key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    fn builtin(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: kind.to_lowercase(),
            short_names: Vec::new(),
            categories: Vec::new(),
            namespaced,
            status: false,
            schema: None,
            columns: Vec::new(),
            crd: None,
            create_only: false,
        }
    }

    fn review(group: &str, kind: &str, plural: &str) -> Self {
        let mut kind = Self::builtin(group, "v1", kind, plural, false);
        kind.create_only = true;
        kind
    }

    fn short(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    fn with_status(mut self) -> Self {
        self.status = true;
        self
    }

    fn column(mut self, name: &str, type_: &str, json_path: &str) -> Self {
        self.columns.push(Column {
            name: name.into(),
            type_: type_.into(),
            json_path: json_path.into(),
            priority: 0,
        });
        self
    }
}

/// The registry.
#[derive(Debug, Clone)]
pub struct Kinds {
    kinds: Vec<Kind>,
}

pub const CRD_GROUP: &str = "apiextensions.k8s.io";
pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";
pub const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
pub const AUTHORIZATION_GROUP: &str = "authorization.k8s.io";

impl Kinds {
    /// The built-in kinds: what our controllers read and write besides custom resources.
    pub fn builtin() -> Self {
        let kinds = vec![
            Kind::builtin("", "v1", "Namespace", "namespaces", false)
                .short(&["ns"])
                .with_status()
                .column("Status", "string", ".status.phase"),
            Kind::builtin("", "v1", "Node", "nodes", false)
                .short(&["no"])
                .with_status(),
            Kind::builtin("", "v1", "Service", "services", true)
                .short(&["svc"])
                .with_status()
                .column("Type", "string", ".spec.type")
                .column("Cluster-IP", "string", ".spec.clusterIP")
                .column(
                    "External-IP",
                    "string",
                    ".status.loadBalancer.ingress[*].ip",
                ),
            Kind::builtin("", "v1", "Endpoints", "endpoints", true).short(&["ep"]),
            Kind::builtin("", "v1", "ConfigMap", "configmaps", true).short(&["cm"]),
            Kind::builtin("", "v1", "Secret", "secrets", true).column("Type", "string", ".type"),
            Kind::builtin("", "v1", "Event", "events", true).short(&["ev"]),
            Kind::builtin("", "v1", "ServiceAccount", "serviceaccounts", true).short(&["sa"]),
            Kind::builtin("events.k8s.io", "v1", "Event", "events", true).short(&["ev"]),
            Kind::builtin("coordination.k8s.io", "v1", "Lease", "leases", true).column(
                "Holder",
                "string",
                ".spec.holderIdentity",
            ),
            Kind::builtin(RBAC_GROUP, "v1", "Role", "roles", true),
            Kind::builtin(RBAC_GROUP, "v1", "ClusterRole", "clusterroles", false),
            Kind::builtin(RBAC_GROUP, "v1", "RoleBinding", "rolebindings", true).column(
                "Role",
                "string",
                ".roleRef.name",
            ),
            Kind::builtin(
                RBAC_GROUP,
                "v1",
                "ClusterRoleBinding",
                "clusterrolebindings",
                false,
            )
            .column("Role", "string", ".roleRef.name"),
            Kind::review(AUTHENTICATION_GROUP, "TokenReview", "tokenreviews"),
            Kind::review(
                AUTHORIZATION_GROUP,
                "SubjectAccessReview",
                "subjectaccessreviews",
            ),
            Kind::builtin(
                CRD_GROUP,
                "v1",
                "CustomResourceDefinition",
                "customresourcedefinitions",
                false,
            )
            .short(&["crd", "crds"])
            .with_status(),
        ];
        Self { kinds }
    }

    pub fn all(&self) -> &[Kind] {
        &self.kinds
    }

    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&Kind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
    }

    /// Groups in registration order, each with its versions (the first is preferred).
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        for kind in &self.kinds {
            match groups.iter_mut().find(|(g, _)| *g == kind.group) {
                Some((_, versions)) if !versions.contains(&kind.version) => {
                    versions.push(kind.version.clone())
                }
                Some(_) => {}
                None => groups.push((kind.group.clone(), vec![kind.version.clone()])),
            }
        }
        groups
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Kind> + 'a {
        self.kinds
            .iter()
            .filter(move |k| k.group == group && k.version == version)
    }

    /// Registers (or re-registers, on update) every served version of a CRD.
    pub fn register_crd(&mut self, crd: &Value) -> ApiResult<()> {
        let kinds = kinds_of_crd(crd)?;
        let Some(first) = kinds.first() else {
            return Ok(()); // no served version
        };
        let name = first.crd.clone();
        // Another CRD (or a built-in) must not already serve these names.
        if let Some(clash) = self.kinds.iter().find(|k| {
            k.crd != name
                && k.group == first.group
                && (k.plural == first.plural || k.kind == first.kind)
        }) {
            return Err(ApiError::conflict(
                CRD_GROUP,
                "customresourcedefinitions",
                name.as_deref().unwrap_or_default(),
                &format!("{}.{} is already served", clash.plural, clash.group),
            ));
        }
        self.kinds.retain(|k| k.crd != name);
        self.kinds.extend(kinds);
        Ok(())
    }

    pub fn unregister_crd(&mut self, name: &str) {
        self.kinds.retain(|k| k.crd.as_deref() != Some(name));
    }
}

/// Reads the kinds a CRD defines, or says which field makes it invalid.
pub fn kinds_of_crd(crd: &Value) -> ApiResult<Vec<Kind>> {
    let name = crd
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let invalid = |field: &str, message: &str| {
        ApiError::invalid(
            CRD_GROUP,
            "CustomResourceDefinition",
            name,
            vec![Cause {
                reason: "FieldValueInvalid",
                field: field.into(),
                message: message.into(),
            }],
        )
    };
    let text = |pointer: &str| {
        crd.pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| invalid(&pointer[1..].replace('/', "."), "Required value"))
    };
    let group = text("/spec/group")?;
    let plural = text("/spec/names/plural")?;
    let kind = text("/spec/names/kind")?;
    let scope = text("/spec/scope")?;
    if name != format!("{plural}.{group}") {
        return Err(invalid(
            "metadata.name",
            &format!("Invalid value: {name:?}: must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let namespaced = match scope {
        "Namespaced" => true,
        "Cluster" => false,
        other => {
            return Err(invalid(
                "spec.scope",
                &format!(
                    "Unsupported value: {other:?}: supported values: \"Cluster\", \"Namespaced\""
                ),
            ));
        }
    };
    let strings = |pointer: &str| strings_at(crd, pointer);
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            invalid(
                "spec.versions",
                "Required value: must have exactly one version marked as storage version",
            )
        })?;
    let storage = versions
        .iter()
        .filter(|v| v.get("storage") == Some(&Value::Bool(true)))
        .count();
    if storage != 1 {
        return Err(invalid(
            "spec.versions",
            "Invalid value: must have exactly one version marked as storage version",
        ));
    }

    let mut kinds = Vec::new();
    for (i, version) in versions.iter().enumerate() {
        if version.get("served") == Some(&Value::Bool(false)) {
            continue;
        }
        let vname = version
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&format!("spec.versions[{i}].name"), "Required value"))?;
        let schema = match version.pointer("/schema/openAPIV3Schema") {
            Some(openapi) => Some(Arc::new(CrdSchema::new(openapi).map_err(|e| {
                invalid(
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    &format!("Invalid value: {e}"),
                )
            })?)),
            None => None,
        };
        let columns = version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| {
                cols.iter()
                    .map(|c| Column {
                        name: c["name"].as_str().unwrap_or_default().into(),
                        type_: c["type"].as_str().unwrap_or("string").into(),
                        json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                        priority: c["priority"].as_i64().unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        kinds.push(Kind {
            group: group.into(),
            version: vname.into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: crd
                .pointer("/spec/names/singular")
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or_else(|| kind.to_lowercase()),
            short_names: strings("/spec/names/shortNames"),
            categories: strings("/spec/names/categories"),
            namespaced,
            status: version.pointer("/subresources/status").is_some(),
            schema,
            columns,
            crd: Some(name.into()),
            create_only: false,
        });
    }
    Ok(kinds)
}

/// The strings of the array at `pointer`; empty when there is none.
pub fn strings_at(value: &Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The status the apiserver gives an accepted CRD.
pub fn established_status(crd: &Value) -> Value {
    let storage: Vec<Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage") == Some(&Value::Bool(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let now = crate::store::now();
    let condition = |type_: &str, reason: &str| json!({"type": type_, "status": "True", "reason": reason, "message": "", "lastTransitionTime": now});
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "conditions": [condition("NamesAccepted", "NoConflicts"), condition("Established", "InitialNamesAccepted")],
        "storedVersions": storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                "names": {"kind": "Thing", "plural": "things", "shortNames": ["th"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "subresources": {"status": {}},
                     "additionalPrinterColumns": [{"name": "State", "type": "string", "jsonPath": ".status.state"}],
                     "schema": {"openAPIV3Schema": {"type": "object"}}},
                    {"name": "v0", "served": false, "storage": false}]}})
    }

    #[test]
    fn served_versions_become_kinds() {
        let mut kinds = Kinds::builtin();
        kinds.register_crd(&crd()).unwrap();
        let thing = kinds.find("example.com", "v1", "things").unwrap();
        assert!(thing.namespaced && thing.status);
        assert_eq!(thing.short_names, ["th"]);
        assert_eq!(thing.singular, "thing");
        assert_eq!(thing.columns[0].json_path, ".status.state");
        assert!(kinds.find("example.com", "v0", "things").is_none());
        assert!(
            kinds
                .groups()
                .iter()
                .any(|(g, v)| g == "example.com" && v == &["v1"])
        );

        kinds.unregister_crd("things.example.com");
        assert!(kinds.find("example.com", "v1", "things").is_none());
    }

    #[test]
    fn invalid_crds_name_the_field() {
        let mut bad = crd();
        bad["metadata"]["name"] = json!("wrong");
        assert_eq!(
            kinds_of_crd(&bad).unwrap_err().causes[0].field,
            "metadata.name"
        );
        let mut bad = crd();
        bad["spec"]["scope"] = json!("Galaxy");
        assert_eq!(
            kinds_of_crd(&bad).unwrap_err().causes[0].field,
            "spec.scope"
        );
        let mut bad = crd();
        bad["spec"]["versions"][0]["storage"] = json!(false);
        assert_eq!(kinds_of_crd(&bad).unwrap_err().code, 422);
    }

    #[test]
    fn a_second_crd_cannot_take_served_names() {
        let mut kinds = Kinds::builtin();
        kinds.register_crd(&crd()).unwrap();
        // Re-registering the same CRD (an update) is fine.
        kinds.register_crd(&crd()).unwrap();
        let mut other = crd();
        other["metadata"]["name"] = json!("things.example.com");
        other["spec"]["names"]["kind"] = json!("Other");
        kinds.register_crd(&other).unwrap();
        let mut clash = crd();
        clash["metadata"]["name"] = json!("others.example.com");
        clash["spec"]["names"]["plural"] = json!("others");
        clash["spec"]["names"]["kind"] = json!("Other");
        assert_eq!(kinds.register_crd(&clash).unwrap_err().code, 409);
    }
}
