//! The HTTP edge: `POST /v1/compile` (pure: no kernel needed), `GET /v1/ruleset` (what the
//! kernel holds), `GET /v1/status`.

use std::sync::Arc;

use actix_web::{HttpResponse, get, post, web};
use k8s_openapi::api::core::v1::Service;
use kube_resources::cwnp::PolicySpec;
use kube_resources::firewall::Firewall;
use mesh_runtime::problem::Problem;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::actors::reconciler::LastCompile;
use crate::actors::ruleset::ApplyState;
use crate::core::compile::{DnsSnapshot, Ignored, Input, PolicyInput, SetNamer, compile};

/// What every handler gets.
pub struct State {
    pub apply: Arc<RwLock<ApplyState>>,
    pub last: Arc<RwLock<LastCompile>>,
    pub set_name: SetNamer,
    pub policy_namespace: String,
    pub firewall_name: String,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(64 << 20)
            .error_handler(|e, _| Problem::bad_request(e.to_string()).into()),
    )
    .service(compile_ruleset)
    .service(ruleset)
    .service(status);
}

/// Everything a ruleset is compiled from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompileRequest {
    /// A `firewall.metal-stack.io/v2` Firewall (spec and status).
    #[schema(value_type = Object)]
    pub firewall: Value,
    /// `metal-stack.io/v1` ClusterwideNetworkPolicy objects; each is validated on its own.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub policies: Vec<Value>,
    /// Kubernetes `v1` Service objects.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub services: Vec<Value>,
}

/// The compiled ruleset and the policies left out of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompileResponse {
    /// The `table inet firewall` in nft syntax.
    pub ruleset: String,
    /// Policies not in the ruleset, with the reason.
    pub ignored: Vec<Ignored>,
}

/// A policy object as the compiler sees it: its name, namespace and spec, or why the spec
/// cannot be read (then it is ignored, never the whole request refused).
fn policy_input(index: usize, value: &Value) -> Result<PolicyInput, Problem> {
    let text = |field: &str| value["metadata"][field].as_str().map(str::to_string);
    let name = text("name").ok_or_else(|| {
        Problem::bad_request(format!("policies[{index}]: metadata.name is required"))
    })?;
    let spec =
        serde_json::from_value::<PolicySpec>(value.get("spec").cloned().unwrap_or(Value::Null))
            .map_err(|e| format!("spec: {e}"));
    Ok(PolicyInput {
        namespace: text("namespace").unwrap_or_else(|| "default".into()),
        name,
        spec,
    })
}

/// Compiles a ruleset from the given objects without touching the kernel.
#[utoipa::path(
    post, path = "/v1/compile", tag = "rules",
    request_body = CompileRequest,
    responses(
        (status = 200, description = "The ruleset", body = CompileResponse),
        (status = 400, description = "A malformed object", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Firewall cannot be compiled (e.g. no private primary network)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/compile")]
async fn compile_ruleset(
    state: web::Data<State>,
    request: web::Json<CompileRequest>,
) -> Result<HttpResponse, Problem> {
    let request = request.into_inner();
    let firewall: Firewall = serde_json::from_value(request.firewall)
        .map_err(|e| Problem::bad_request(format!("firewall: {e}")))?;
    let policies = request
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| policy_input(i, p))
        .collect::<Result<Vec<_>, _>>()?;
    let services = request
        .services
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::from_value::<Service>(s)
                .map_err(|e| Problem::bad_request(format!("services[{i}]: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let set_name = state.set_name;
    let namespace = state.policy_namespace.clone();
    // Large inputs compile in tens of milliseconds: off the async threads.
    let compiled = web::block(move || {
        compile(&Input {
            firewall: &firewall,
            policies: &policies,
            services: &services,
            dns: &DnsSnapshot::new(),
            set_name,
            policy_namespace: &namespace,
            dns_proxy: None,
        })
    })
    .await
    .map_err(|e| Problem::internal(e.to_string()))?
    .map_err(|e| {
        Problem::unprocessable(
            "firewall-not-compilable",
            "Firewall cannot be compiled",
            e.to_string(),
        )
    })?;
    Ok(HttpResponse::Ok().json(CompileResponse {
        ruleset: compiled.ruleset,
        ignored: compiled.ignored,
    }))
}

/// The ruleset in the kernel.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RulesetResponse {
    /// The last ruleset applied (in dry-run: rendered and checked); null before the first.
    pub ruleset: Option<String>,
    /// RFC 3339 time it was applied.
    pub applied_at: Option<String>,
    pub dry_run: bool,
}

/// What is applied.
#[utoipa::path(get, path = "/v1/ruleset", tag = "rules",
    responses((status = 200, description = "The applied ruleset", body = RulesetResponse)))]
#[get("/v1/ruleset")]
async fn ruleset(state: web::Data<State>) -> HttpResponse {
    let apply = state.apply.read();
    HttpResponse::Ok().json(RulesetResponse {
        ruleset: apply.applied.clone(),
        applied_at: apply.applied_at.clone(),
        dry_run: apply.dry_run,
    })
}

/// How the rule compiler is doing.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusResponse {
    pub firewall_name: String,
    /// Whether the last wanted ruleset is in the kernel.
    pub in_sync: bool,
    pub dry_run: bool,
    /// Error of the last apply, while failing (the last good ruleset stays).
    pub apply_error: Option<String>,
    /// Consecutive failed applies.
    pub apply_failures: u32,
    /// Successful applies since start.
    pub applies: u64,
    /// Why nothing could be compiled (e.g. no Firewall yet).
    pub compile_error: Option<String>,
    /// Policies in the ruleset.
    pub deployed: usize,
    /// Policies left out, with the reason.
    pub ignored: Vec<Ignored>,
}

/// Status of compiling and applying.
#[utoipa::path(get, path = "/v1/status", tag = "rules",
    responses((status = 200, description = "The status", body = StatusResponse)))]
#[get("/v1/status")]
async fn status(state: web::Data<State>) -> HttpResponse {
    let apply = state.apply.read();
    let last = state.last.read();
    let compiled = last.compiled.as_ref();
    let in_sync = match (compiled, &apply.applied) {
        (Some(_), Some(_)) => {
            apply.last_error.is_none()
                && apply.applied_identity.as_deref() == Some(last.identity.as_str())
        }
        _ => false,
    };
    HttpResponse::Ok().json(StatusResponse {
        firewall_name: state.firewall_name.clone(),
        in_sync,
        dry_run: apply.dry_run,
        apply_error: apply.last_error.clone(),
        apply_failures: apply.failures,
        applies: apply.applies,
        compile_error: last.error.clone(),
        deployed: compiled.map_or(0, |c| c.deployed.len()),
        ignored: compiled.map(|c| c.ignored.clone()).unwrap_or_default(),
    })
}

#[derive(OpenApi)]
#[openapi(
    info(title = "rule-compiler", description = "ClusterwideNetworkPolicies and Services to nftables, applied safely; metal-mesh's replacement for firewall-controller."),
    paths(compile_ruleset, ruleset, status),
    components(schemas(Problem, CompileRequest, CompileResponse, RulesetResponse, StatusResponse, Ignored)),
    tags((name = "rules")),
)]
pub struct ApiDoc;
