//! The OpenAPI v3 discovery kubectl reads before a write. kubectl only validates server-side
//! (`fieldValidation=Strict`) when a group version's document shows a PATCH operation with a
//! `fieldValidation` parameter for the kind; otherwise it wants full client-side schemas. So each
//! document lists, per kind, the operations and their query parameters, and no schemas.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value, json};

use crate::kinds::{Kind, Kinds};

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A stable hash of what a group version serves, so clients refetch when it changes.
fn hash_of(kinds: &[&Kind]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for kind in kinds {
        (&kind.kind, &kind.plural, kind.namespaced, kind.status).hash(&mut hasher);
    }
    format!("{:016X}", hasher.finish())
}

/// `/openapi/v3`: one entry per served group version.
pub fn root(kinds: &Kinds) -> Value {
    let mut paths = Map::new();
    for (group, versions) in kinds.groups() {
        for version in versions {
            let served: Vec<&Kind> = kinds.in_group_version(&group, &version).collect();
            let path = gv_path(&group, &version);
            paths.insert(
                path.clone(),
                json!({ "serverRelativeURL": format!("/openapi/v3/{path}?hash={}", hash_of(&served)) }),
            );
        }
    }
    json!({ "paths": paths })
}

fn query_params(names: &[&str]) -> Value {
    names
        .iter()
        .map(|n| json!({ "name": n, "in": "query", "schema": { "type": "string" }, "uniqueItems": true }))
        .collect()
}

/// `/openapi/v3/api/v1`, `/openapi/v3/apis/<group>/<version>`: `None` when nothing is served.
pub fn group_version(kinds: &Kinds, group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Kind> = kinds.in_group_version(group, version).collect();
    if served.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for kind in served {
        let gvk = json!({ "group": kind.group, "version": kind.version, "kind": kind.kind });
        let op = |action: &str, params: &[&str]| {
            json!({
                "operationId": format!("{action}{}", kind.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": query_params(params),
                "responses": { "200": { "description": "OK" } },
            })
        };
        let write = ["dryRun", "fieldManager", "fieldValidation"];
        let patch = ["dryRun", "fieldManager", "fieldValidation", "force"];
        let base = format!(
            "/{}{}/{}",
            gv_path(group, version),
            if kind.namespaced {
                "/namespaces/{namespace}"
            } else {
                ""
            },
            kind.plural
        );
        if kind.create_only {
            paths.insert(base, json!({ "post": op("post", &write) }));
            continue;
        }
        paths.insert(
            base.clone(),
            json!({
                "get": op("list", &["labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion", "timeoutSeconds", "allowWatchBookmarks"]),
                "post": op("post", &write),
                "delete": op("deletecollection", &["labelSelector", "fieldSelector", "dryRun"]),
            }),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "get": op("get", &[]),
                "put": op("put", &write),
                "patch": op("patch", &patch),
                "delete": op("delete", &["dryRun"]),
            }),
        );
        if kind.status {
            paths.insert(
                format!("{base}/{{name}}/status"),
                json!({ "get": op("get", &[]), "put": op("put", &write), "patch": op("patch", &patch) }),
            );
        }
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "kube-testserver", "version": "v1.33.0" },
        "paths": paths,
        "components": { "schemas": {} },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_patch_declares_field_validation() {
        let kinds = Kinds::builtin();
        let root = root(&kinds);
        assert!(
            root["paths"]["api/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .starts_with("/openapi/v3/api/v1?hash=")
        );
        let doc = group_version(&kinds, "", "v1").unwrap();
        let svc = &doc["paths"]["/api/v1/namespaces/{namespace}/services/{name}"]["patch"];
        assert_eq!(svc["x-kubernetes-group-version-kind"]["kind"], "Service");
        assert!(
            svc["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(doc["paths"]["/api/v1/namespaces/{name}/status"]["patch"].is_object());
        assert!(doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}/status"].is_null());
        assert!(doc["paths"]["/api/v1/namespaces/{name}"]["patch"].is_object());
        assert!(group_version(&kinds, "nope.io", "v1").is_none());

        let reviews = group_version(&kinds, "authentication.k8s.io", "v1").unwrap();
        let tokenreviews = &reviews["paths"]["/apis/authentication.k8s.io/v1/tokenreviews"];
        assert!(tokenreviews["post"].is_object() && tokenreviews["get"].is_null());
        assert!(reviews["paths"]["/apis/authentication.k8s.io/v1/tokenreviews/{name}"].is_null());
    }
}
