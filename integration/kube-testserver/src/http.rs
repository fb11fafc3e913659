//! The HTTP surface: discovery documents, and one dispatcher that maps
//! `/api/v1/...` and `/apis/<group>/<version>/...` paths and verbs onto the store.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use crate::Shared;
use crate::kinds::Kind;
use crate::openapi;
use crate::protobuf::{self, Format};
use crate::reviews::{self, Review, ReviewFault};
use crate::selectors::{FieldSelector, LabelSelector, extra_fields};
use crate::status::{ApiError, ApiResult};
use crate::store::{DeleteOptions, ListOptions, Patch, Subresource, WriteOptions};
use crate::table::{self, IncludeObject};
use crate::watch::{self, Start, WatchRequest};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/version", web::get().to(version))
        .route("/healthz", web::get().to(ok))
        .route("/livez", web::get().to(ok))
        .route("/readyz", web::get().to(ok))
        .route("/api", web::get().to(core_versions))
        .route("/apis", web::get().to(group_list))
        .route("/apis/{group}", web::get().to(group))
        .route("/openapi/v3", web::get().to(openapi_root))
        .route("/openapi/v3/{gv:.*}", web::get().to(openapi_group_version))
        .route("/testserver/close-watches", web::post().to(close_watches))
        .route("/testserver/compact", web::post().to(compact))
        .route("/testserver/reviews", web::get().to(review_counts))
        .route("/testserver/review-fault", web::get().to(review_fault))
        .route("/testserver/review-fault", web::post().to(set_review_fault))
        .default_service(web::to(dispatch));
}

fn json_response(code: StatusCode, body: &Value) -> HttpResponse {
    HttpResponse::build(code)
        .content_type("application/json")
        .body(serde_json::to_vec(body).expect("JSON values serialize"))
}

fn error_response(err: &ApiError) -> HttpResponse {
    json_response(
        StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &err.to_status(),
    )
}

/// A Status in the negotiated format.
fn error_response_as(err: &ApiError, format: Format) -> HttpResponse {
    match format {
        Format::Json => error_response(err),
        Format::Protobuf => HttpResponse::build(
            StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        )
        .content_type(protobuf::PROTOBUF)
        .body(protobuf::encode_status(&err.to_status())),
    }
}

/// An object (or a list, with `list`) of `kind` in the negotiated format; JSON when the kind
/// has no protobuf message here.
fn object_response(
    code: StatusCode,
    body: &Value,
    kind: &Kind,
    list: bool,
    format: Format,
) -> HttpResponse {
    if format == Format::Protobuf
        && let Some(bytes) = protobuf::encode_object(kind, body, list)
    {
        return HttpResponse::build(code)
            .content_type(protobuf::PROTOBUF)
            .body(bytes);
    }
    json_response(code, body)
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn version() -> HttpResponse {
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-kube-testserver",
            "gitCommit": "", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "none", "compiler": "rustc", "platform": "linux/amd64",
        }),
    )
}

async fn core_versions(req: HttpRequest) -> HttpResponse {
    let address = req.connection_info().host().to_string();
    json_response(
        StatusCode::OK,
        &json!({
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
        }),
    )
}

fn group_document(name: &str, versions: &[String]) -> Value {
    let versions: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"name": name, "versions": versions, "preferredVersion": versions[0]})
}

async fn group_list(shared: web::Data<Shared>) -> HttpResponse {
    let groups: Vec<Value> = {
        let store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
        store
            .kinds()
            .groups()
            .iter()
            .filter(|(g, _)| !g.is_empty())
            .map(|(g, vs)| group_document(g, vs))
            .collect()
    };
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

async fn group(path: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let name = path.into_inner();
    let found = {
        let store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
        store.kinds().groups().into_iter().find(|(g, _)| *g == name)
    };
    match found {
        Some((g, versions)) => {
            let mut doc = group_document(&g, &versions);
            doc["kind"] = json!("APIGroup");
            doc["apiVersion"] = json!("v1");
            json_response(StatusCode::OK, &doc)
        }
        None => error_response(&ApiError::no_route(&format!("/apis/{name}"))),
    }
}

async fn openapi_root(shared: web::Data<Shared>) -> HttpResponse {
    let root = openapi::root(
        shared
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .kinds(),
    );
    json_response(StatusCode::OK, &root)
}

async fn openapi_group_version(path: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let gv = path.into_inner();
    let (group, version) = match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", version] => ("", version.to_string()),
        ["apis", group, version] => (*group, version.to_string()),
        _ => return error_response(&ApiError::no_route(&format!("/openapi/v3/{gv}"))),
    };
    let doc = {
        let store = shared.store.lock().unwrap_or_else(|e| e.into_inner());
        openapi::group_version(store.kinds(), group, &version)
    };
    match doc {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => error_response(&ApiError::no_route(&format!("/openapi/v3/{gv}"))),
    }
}

async fn close_watches(shared: web::Data<Shared>) -> HttpResponse {
    shared.close_watches();
    HttpResponse::NoContent().finish()
}

async fn compact(shared: web::Data<Shared>) -> HttpResponse {
    shared.compact();
    HttpResponse::NoContent().finish()
}

async fn review_counts(shared: web::Data<Shared>) -> HttpResponse {
    json_response(StatusCode::OK, &shared.review_counts().to_json())
}

async fn review_fault(shared: web::Data<Shared>) -> HttpResponse {
    json_response(
        StatusCode::OK,
        &json!({"mode": shared.review_fault().as_str()}),
    )
}

/// `{"mode": "none" | "garbage" | "hang" | "error"}`.
async fn set_review_fault(body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let mode = parse_json(&body).and_then(|body| {
        let mode = body.get("mode").and_then(Value::as_str).unwrap_or_default();
        ReviewFault::parse(mode).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown review fault mode {mode:?}: use \"none\", \"garbage\", \"hang\" or \"error\""
            ))
        })
    });
    match mode {
        Ok(fault) => {
            shared.set_review_fault(fault);
            HttpResponse::NoContent().finish()
        }
        Err(err) => error_response(&err),
    }
}

/// A TokenReview or SubjectAccessReview POST: counted, then answered unless a fault says
/// otherwise. The store is locked only to read the RBAC objects, never across the hang.
async fn review(
    review: Review,
    req: &HttpRequest,
    body: Bytes,
    shared: Arc<Shared>,
) -> HttpResponse {
    if req.method() != Method::POST {
        return error_response(&ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    shared.count_review(review);
    match shared.review_fault() {
        ReviewFault::None => {}
        ReviewFault::Garbage => {
            return HttpResponse::Ok()
                .content_type("application/json")
                .body("not json");
        }
        ReviewFault::Error => {
            return error_response(&ApiError::internal(
                "review fault injected by kube-testserver",
            ));
        }
        ReviewFault::Hang => tokio::time::sleep(reviews::HANG).await,
    }
    let answer = parse_body(req, &body).and_then(|body| match review {
        Review::Token => reviews::token_review(body, |token| shared.lookup_token(token)),
        Review::SubjectAccess => {
            let policy = shared
                .store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .rbac_policy();
            reviews::subject_access_review(body, &policy)
        }
    });
    match answer {
        Ok(object) => json_response(StatusCode::CREATED, &object),
        Err(err) => error_response(&err),
    }
}

/// A resource path, split into its parts.
#[derive(Debug, PartialEq)]
struct Target<'a> {
    group: &'a str,
    version: &'a str,
    namespace: Option<&'a str>,
    plural: Option<&'a str>,
    name: Option<&'a str>,
    subresource: Option<&'a str>,
}

fn parse_path(path: &str) -> Option<Target<'_>> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let mut target = Target {
        group,
        version,
        namespace: None,
        plural: None,
        name: None,
        subresource: None,
    };
    let rest = match rest {
        // `namespaces/<ns>/status` is the status of a Namespace, not a resource called status.
        ["namespaces", ns, plural, tail @ ..] if !matches!(*plural, "status" | "finalize") => {
            target.namespace = Some(*ns);
            target.plural = Some(*plural);
            tail
        }
        [plural, tail @ ..] => {
            target.plural = Some(*plural);
            tail
        }
        [] => return Some(target),
    };
    match rest {
        [] => {}
        [name] => target.name = Some(*name),
        [name, sub] => {
            target.name = Some(*name);
            target.subresource = Some(*sub);
        }
        _ => return None,
    }
    Some(target)
}

fn resource_list(kinds: &[Kind], group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for kind in kinds {
        let verbs = if kind.create_only {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        };
        let mut resource = json!({
            "name": kind.plural, "singularName": kind.singular, "namespaced": kind.namespaced,
            "kind": kind.kind, "verbs": verbs,
        });
        if !kind.short_names.is_empty() {
            resource["shortNames"] = json!(kind.short_names);
        }
        if !kind.categories.is_empty() {
            resource["categories"] = json!(kind.categories);
        }
        resources.push(resource);
        if kind.status {
            resources.push(json!({
                "name": format!("{}/status", kind.plural), "singularName": "",
                "namespaced": kind.namespaced, "kind": kind.kind, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

async fn dispatch(req: HttpRequest, body: Bytes, shared: web::Data<Shared>) -> HttpResponse {
    if shared.log_requests {
        eprintln!("{} {}", req.method(), req.uri());
    }
    // Reviews are answered here, outside the store lock, as they may be made to hang.
    let review_at = parse_path(req.path()).and_then(|t| {
        let review = Review::of_path(t.group, t.version, t.plural?)?;
        Some((review, t.namespace.is_none() && t.name.is_none()))
    });
    match review_at {
        Some((which, true)) => return review(which, &req, body, shared.into_inner()).await,
        Some((_, false)) => return error_response(&ApiError::no_route(req.path())),
        None => {}
    }
    // Errors are Statuses in the format the kind's answers would have had.
    let mut format = Format::Json;
    match handle(&req, body, shared.into_inner(), &mut format) {
        Ok(response) => response,
        Err(err) => error_response_as(&err, format),
    }
}

/// The query parameters, last value wins.
fn query(req: &HttpRequest) -> ApiResult<HashMap<String, String>> {
    web::Query::<HashMap<String, String>>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))
}

fn truthy(value: Option<&String>) -> bool {
    matches!(value.map(String::as_str), Some("1" | "true" | "True"))
}

fn handle(
    req: &HttpRequest,
    body: Bytes,
    shared: Arc<Shared>,
    format: &mut Format,
) -> ApiResult<HttpResponse> {
    let path = req.path();
    let target = parse_path(path).ok_or_else(|| ApiError::no_route(path))?;
    let q = query(req)?;
    let mut store = shared.store.lock().unwrap_or_else(|e| e.into_inner());

    let Some(plural) = target.plural else {
        // Discovery of one group version, or of one group.
        if req.method() != Method::GET {
            return Err(ApiError::method_not_allowed("discovery is read-only"));
        }
        let kinds: Vec<Kind> = store
            .kinds()
            .in_group_version(target.group, target.version)
            .cloned()
            .collect();
        if kinds.is_empty() {
            return Err(ApiError::no_route(path));
        }
        return Ok(json_response(
            StatusCode::OK,
            &resource_list(&kinds, target.group, target.version),
        ));
    };

    let kind = store
        .kinds()
        .find(target.group, target.version, plural)
        .cloned()
        .ok_or_else(|| ApiError::no_route(path))?;
    if kind.create_only {
        // Answered by `review` before the store is locked; nothing else is served.
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    if (kind.namespaced && target.namespace.is_none() && target.name.is_some())
        || (!kind.namespaced && target.namespace.is_some())
    {
        return Err(ApiError::no_route(path));
    }
    let ns = target.namespace.unwrap_or("");
    let sub = match target.subresource {
        None => Subresource::Main,
        Some("status") if kind.status => Subresource::Status,
        Some(_) => return Err(ApiError::no_route(path)),
    };
    let opts = WriteOptions {
        dry_run: q.get("dryRun").is_some_and(|v| v == "All"),
        strict: q.get("fieldValidation").is_some_and(|v| v == "Strict"),
    };
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let as_table = accept.contains("as=Table");
    // Protobuf for the built-in kinds that have a message, when the client prefers it; custom
    // resources answer JSON, as upstream.
    *format = protobuf::negotiate(accept, protobuf::supports(&kind));
    let format = *format;
    let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));

    match (req.method().clone(), target.name) {
        (Method::GET, None) => {
            let labels = LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?;
            let fields = FieldSelector::parse(
                q.get("fieldSelector").map_or("", String::as_str),
                extra_fields(&kind.kind),
            )?;
            if truthy(q.get("watch")) {
                let start = match q.get("resourceVersion").map(String::as_str) {
                    None | Some("" | "0") => Start::Current,
                    Some(rv) => Start::After(rv.parse().map_err(|_| {
                        ApiError::bad_request(format!("invalid resourceVersion {rv:?}"))
                    })?),
                };
                let send_initial = truthy(q.get("sendInitialEvents"));
                let request = WatchRequest {
                    kind,
                    namespace: target.namespace.map(String::from),
                    labels,
                    fields,
                    start: if send_initial { Start::Current } else { start },
                    bookmarks: truthy(q.get("allowWatchBookmarks")),
                    initial_events_end: send_initial,
                    timeout: q
                        .get("timeoutSeconds")
                        .and_then(|t| t.parse().ok())
                        .map(Duration::from_secs),
                    table: as_table.then_some(include),
                };
                drop(store);
                shared.record_watch(request.kind.storage_key(), start);
                let body = watch::start(shared, request);
                return Ok(HttpResponse::Ok()
                    .content_type("application/json")
                    .insert_header((header::CACHE_CONTROL, "no-cache, private"))
                    .streaming(body));
            }
            let list_opts = ListOptions {
                labels,
                fields,
                limit: q.get("limit").and_then(|l| l.parse().ok()),
                continue_: q.get("continue").filter(|c| !c.is_empty()).cloned(),
            };
            let list = store.list(&kind, target.namespace, &list_opts)?;
            if as_table {
                let items = list["items"].as_array().cloned().unwrap_or_default();
                let table = table::render(&kind, &items, list["metadata"].clone(), include);
                return Ok(json_response(StatusCode::OK, &table));
            }
            Ok(object_response(StatusCode::OK, &list, &kind, true, format))
        }
        (Method::GET, Some(name)) => {
            let object = store.get(&kind, ns, name)?;
            if as_table {
                let meta = json!({"resourceVersion": object["metadata"]["resourceVersion"]});
                return Ok(json_response(
                    StatusCode::OK,
                    &table::render(&kind, &[object], meta, include),
                ));
            }
            Ok(object_response(
                StatusCode::OK,
                &object,
                &kind,
                false,
                format,
            ))
        }
        (Method::POST, None) => {
            if kind.namespaced && target.namespace.is_none() {
                return Err(ApiError::method_not_allowed(
                    "create a namespaced object under /namespaces/<namespace>/",
                ));
            }
            let object = store.create(&kind, ns, parse_object(req, &body, &kind)?, opts)?;
            Ok(object_response(
                StatusCode::CREATED,
                &object,
                &kind,
                false,
                format,
            ))
        }
        (Method::PUT, Some(name)) => {
            let object =
                store.update(&kind, ns, name, parse_object(req, &body, &kind)?, sub, opts)?;
            Ok(object_response(
                StatusCode::OK,
                &object,
                &kind,
                false,
                format,
            ))
        }
        (Method::PATCH, Some(name)) => {
            let patch = parse_patch(req, &body)?;
            let object = store.patch(&kind, ns, name, patch, sub, opts)?;
            Ok(object_response(
                StatusCode::OK,
                &object,
                &kind,
                false,
                format,
            ))
        }
        (Method::DELETE, Some(name)) => {
            let delete = delete_options(req, &q, &body)?;
            let object = store.delete(&kind, ns, name, &delete)?;
            Ok(object_response(
                StatusCode::OK,
                &object,
                &kind,
                false,
                format,
            ))
        }
        (Method::DELETE, None) => {
            // deletecollection: every selected object, one by one.
            let list_opts = ListOptions {
                labels: LabelSelector::parse(q.get("labelSelector").map_or("", String::as_str))?,
                fields: FieldSelector::parse(
                    q.get("fieldSelector").map_or("", String::as_str),
                    extra_fields(&kind.kind),
                )?,
                ..ListOptions::default()
            };
            let mut list = store.list(&kind, target.namespace, &list_opts)?;
            let delete = delete_options(req, &q, &body)?;
            let mut deleted = Vec::new();
            for item in list["items"].as_array().cloned().unwrap_or_default() {
                let item_ns = item["metadata"]["namespace"].as_str().unwrap_or("");
                let name = item["metadata"]["name"].as_str().unwrap_or("");
                deleted.push(store.delete(&kind, item_ns, name, &delete)?);
            }
            list["items"] = json!(deleted);
            list["metadata"]["resourceVersion"] = json!(store.resource_version().to_string());
            Ok(object_response(StatusCode::OK, &list, &kind, true, format))
        }
        (method, _) => Err(ApiError::method_not_allowed(format!(
            "{method} is not supported on {path}"
        ))),
    }
}

fn content_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

fn parse_yaml(body: &[u8]) -> ApiResult<Value> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid YAML: {e}")))
}

fn parse_body(req: &HttpRequest, body: &[u8]) -> ApiResult<Value> {
    match content_type(req).as_str() {
        "application/json" | "" => parse_json(body),
        "application/yaml" => parse_yaml(body),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// An object body for `kind`: JSON, YAML, or protobuf for the kinds that have a message here.
fn parse_object(req: &HttpRequest, body: &[u8], kind: &Kind) -> ApiResult<Value> {
    if content_type(req) == protobuf::PROTOBUF {
        return protobuf::decode_object(kind, body);
    }
    parse_body(req, body)
}

fn parse_patch(req: &HttpRequest, body: &[u8]) -> ApiResult<Patch> {
    match content_type(req).as_str() {
        "application/merge-patch+json" => Ok(Patch::Merge(parse_json(body)?)),
        "application/strategic-merge-patch+json" => Ok(Patch::Strategic(parse_json(body)?)),
        "application/json-patch+json" => serde_json::from_slice(body)
            .map(Patch::Json)
            .map_err(|e| ApiError::bad_request(format!("the body is not a JSON patch: {e}"))),
        "application/apply-patch+yaml" => Ok(Patch::Apply(parse_yaml(body)?)),
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// DeleteOptions from the body (kube-rs, client-go) or the query (curl).
fn delete_options(
    req: &HttpRequest,
    q: &HashMap<String, String>,
    body: &[u8],
) -> ApiResult<DeleteOptions> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else if content_type(req) == protobuf::PROTOBUF {
        protobuf::decode_delete_options(body)?
    } else {
        parse_json(body)?
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(String::from);
    let dry_run = body["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "All"))
        || q.get("dryRun").is_some_and(|v| v == "All");
    Ok(DeleteOptions {
        resource_version: text(&body["preconditions"]["resourceVersion"]),
        uid: text(&body["preconditions"]["uid"]),
        dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let t = parse_path("/api/v1/namespaces/default/services/web").unwrap();
        assert_eq!(
            (t.group, t.version, t.namespace, t.plural, t.name),
            ("", "v1", Some("default"), Some("services"), Some("web"))
        );
        let t = parse_path("/api/v1/namespaces/kube-system").unwrap();
        assert_eq!(
            (t.namespace, t.plural, t.name),
            (None, Some("namespaces"), Some("kube-system"))
        );
        let t = parse_path("/api/v1/namespaces/kube-system/status").unwrap();
        assert_eq!(
            (t.plural, t.name, t.subresource),
            (Some("namespaces"), Some("kube-system"), Some("status"))
        );
        let t =
            parse_path("/apis/metal-stack.io/v1/namespaces/a/clusterwidenetworkpolicies/p/status")
                .unwrap();
        assert_eq!(
            (t.group, t.name, t.subresource),
            ("metal-stack.io", Some("p"), Some("status"))
        );
        let t = parse_path("/apis/coordination.k8s.io/v1/leases").unwrap();
        assert_eq!((t.namespace, t.plural), (None, Some("leases")));
        assert_eq!(parse_path("/apis/g/v").unwrap().plural, None);
        assert!(parse_path("/foo").is_none());
        assert!(parse_path("/api/v1/namespaces/a/pods/p/status/extra").is_none());
    }
}
