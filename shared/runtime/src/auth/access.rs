//! What a service's API asks of its callers, read off its OpenAPI document: the non-resource
//! RBAC rules of its viewer and editor ClusterRoles (the chart renders them; a test compares), and
//! the security scheme and refusals every guarded operation documents.

use std::collections::{BTreeMap, BTreeSet};

use utoipa::openapi::{
    OpenApi, Ref, RefOr, ResponseBuilder,
    content::ContentBuilder,
    path::HttpMethod,
    security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme},
};

use crate::problem::PROBLEM_JSON;

/// One RBAC rule: a verb on non-resource URLs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NonResourceRule {
    pub verb: String,
    pub urls: Vec<String>,
}

/// The operations of a service, each a read or a write.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// (verb, RBAC URL, read?)
    operations: Vec<(String, String, bool)>,
}

/// The RBAC URL covering an OpenAPI path: a path with parameters becomes the prefix before the
/// first one, with `*` (RBAC cannot match inside a path).
fn rbac_url(path: &str) -> String {
    match path.find('{') {
        Some(at) => format!("{}*", &path[..at]),
        None => path.to_string(),
    }
}

fn verb_of(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get | HttpMethod::Head => "get",
        HttpMethod::Post => "create",
        HttpMethod::Put | HttpMethod::Patch => "update",
        HttpMethod::Delete => "delete",
        HttpMethod::Options => "options",
        HttpMethod::Trace => "trace",
    }
}

fn methods(item: &utoipa::openapi::PathItem) -> Vec<HttpMethod> {
    let ops = [
        (HttpMethod::Get, item.get.is_some()),
        (HttpMethod::Head, item.head.is_some()),
        (HttpMethod::Post, item.post.is_some()),
        (HttpMethod::Put, item.put.is_some()),
        (HttpMethod::Patch, item.patch.is_some()),
        (HttpMethod::Delete, item.delete.is_some()),
        (HttpMethod::Options, item.options.is_some()),
        (HttpMethod::Trace, item.trace.is_some()),
    ];
    ops.into_iter()
        .filter_map(|(method, present)| present.then_some(method))
        .collect()
}

impl Access {
    /// Every operation of `doc`: GET and HEAD read, the others write.
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let mut operations = Vec::new();
        for (path, item) in &doc.paths.paths {
            for method in methods(item) {
                let verb = verb_of(&method);
                operations.push((verb.to_string(), rbac_url(path), verb == "get"));
            }
        }
        Self { operations }
    }

    /// Declares the operation `verb` on `path` (an OpenAPI path) a read: it changes nothing,
    /// so viewers may use it (e.g. a compile endpoint taking its input in a POST body).
    pub fn reading(mut self, verb: &str, path: &str) -> Self {
        let url = rbac_url(path);
        for op in &mut self.operations {
            if op.0 == verb && op.1 == url {
                op.2 = true;
            }
        }
        self
    }

    /// What may read: every read operation and `get` on `/metrics`.
    pub fn viewer(&self) -> Vec<NonResourceRule> {
        self.rules(|read| read)
    }

    /// What may also change things: every operation and `get` on `/metrics`.
    pub fn editor(&self) -> Vec<NonResourceRule> {
        self.rules(|_| true)
    }

    fn rules(&self, include: impl Fn(bool) -> bool) -> Vec<NonResourceRule> {
        // Sorted verbs and URLs: the order the chart renders them in.
        let mut by_verb: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        let metrics = ("get", "/metrics".to_string());
        let chosen = self
            .operations
            .iter()
            .filter(|op| include(op.2))
            .map(|op| (op.0.as_str(), op.1.clone()))
            .chain([metrics]);
        for (verb, url) in chosen {
            by_verb.entry(verb).or_default().insert(url);
        }
        by_verb
            .into_iter()
            .map(|(verb, urls)| NonResourceRule {
                verb: verb.to_string(),
                urls: urls.into_iter().collect(),
            })
            .collect()
    }
}

/// Name of the bearer security scheme in every guarded service's OpenAPI document.
pub const BEARER_SCHEME: &str = "bearer";

/// Adds to `doc` what the runtime's guard does: the bearer scheme (a Kubernetes token or a
/// static token), required by every operation, and its 401, 403 and 503 answers.
pub fn document(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.security_schemes.insert(
        BEARER_SCHEME.to_string(),
        RefOr::T(SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer))),
    );
    doc.security = Some(vec![SecurityRequirement::new::<_, _, &str>(
        BEARER_SCHEME,
        [],
    )]);
    let refusal = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name("Problem"))))
                    .build(),
            )
            .build()
    };
    let refusals = [
        (
            "401",
            "No credential, or one that is not valid (WWW-Authenticate: Bearer)",
        ),
        ("403", "The caller may not use this verb on this path"),
        ("503", "The Kubernetes API could not review the credential"),
    ];
    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.head,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            for (code, description) in refusals {
                operation
                    .responses
                    .responses
                    .entry(code.to_string())
                    .or_insert_with(|| RefOr::T(refusal(description)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::{
        OpenApiBuilder, PathItem, PathsBuilder,
        path::{OperationBuilder, PathItemBuilder},
    };

    use super::*;

    fn doc() -> OpenApi {
        let op = || OperationBuilder::new().build();
        OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path(
                        "/v1/loadbalancers",
                        PathItemBuilder::new()
                            .operation(HttpMethod::Get, op())
                            .operation(HttpMethod::Post, op())
                            .build(),
                    )
                    .path(
                        "/v1/loadbalancers/{namespace}/{name}",
                        PathItem::new(HttpMethod::Delete, op()),
                    )
                    .path(
                        "/v1/nodes/{name}/metadata",
                        PathItem::new(HttpMethod::Get, op()),
                    )
                    .path("/v1/compile", PathItem::new(HttpMethod::Post, op())),
            )
            .build()
    }

    fn rule(verb: &str, urls: &[&str]) -> NonResourceRule {
        NonResourceRule {
            verb: verb.into(),
            urls: urls.iter().map(|u| u.to_string()).collect(),
        }
    }

    #[test]
    fn viewers_read_editors_also_write_and_parameters_become_prefixes() {
        let access = Access::from_openapi(&doc());
        assert_eq!(
            access.viewer(),
            [rule(
                "get",
                &["/metrics", "/v1/loadbalancers", "/v1/nodes/*"]
            )]
        );
        assert_eq!(
            access.editor(),
            [
                rule("create", &["/v1/compile", "/v1/loadbalancers"]),
                rule("delete", &["/v1/loadbalancers/*"]),
                rule("get", &["/metrics", "/v1/loadbalancers", "/v1/nodes/*"]),
            ]
        );
        let reading = access.reading("create", "/v1/compile");
        assert_eq!(
            reading.viewer(),
            [
                rule("create", &["/v1/compile"]),
                rule("get", &["/metrics", "/v1/loadbalancers", "/v1/nodes/*"]),
            ]
        );
    }

    #[test]
    fn the_document_gets_the_bearer_scheme_and_the_refusals() {
        let mut doc = doc();
        document(&mut doc);
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["components"]["securitySchemes"]["bearer"],
            serde_json::json!({"type": "http", "scheme": "bearer"})
        );
        assert_eq!(json["security"], serde_json::json!([{"bearer": []}]));
        let responses = &json["paths"]["/v1/loadbalancers"]["post"]["responses"];
        for code in ["401", "403", "503"] {
            assert_eq!(
                responses[code]["content"][PROBLEM_JSON]["schema"]["$ref"],
                "#/components/schemas/Problem"
            );
        }
    }
}
