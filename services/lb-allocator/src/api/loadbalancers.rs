//! `/v1/loadbalancers`: the allocator's REST face, through the same actor messages the
//! Service controller sends, so load balancers can be had without Kubernetes.

use actix_web::{HttpResponse, delete, get, post, web};
use mesh_runtime::problem::Problem;
use metal_api_sdk::model::AddressFamily;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::State;
use super::error::{from_mailbox, problem};
use crate::actors::allocator::{Ensure, List, Release};
use crate::core::error::LbError;
use crate::core::outcome::{Change, LbIp, LoadBalancer};
use crate::core::service::{Families, LbRequest, ServiceKey, parse_fixed};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(create).service(remove);
}

/// A load balancer to ensure, as a Service would ask for it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadBalancerRequest {
    /// Namespace of the Service the load balancer is for.
    pub namespace: String,
    /// Name of the Service.
    pub name: String,
    /// Network to allocate in (a `-ephemeral`/`-static` pool suffix is accepted); default:
    /// the default external network.
    #[serde(default)]
    pub network: Option<String>,
    /// A pre-allocated IP of the project to adopt instead of allocating (comma-separated for
    /// one IPv4 and one IPv6 address).
    #[serde(default)]
    pub ip: Option<String>,
    /// Address families to allocate: one, or both for dual-stack; default: metal-api's choice.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["IPv4", "IPv6"]))]
    pub families: Option<Vec<AddressFamily>>,
}

impl LoadBalancerRequest {
    fn into_request(self) -> Result<LbRequest, LbError> {
        let key = ServiceKey::new(&self.namespace, &self.name)?;
        let fixed = match &self.ip {
            Some(ips) => parse_fixed(&ips.split(',').collect::<Vec<_>>())?,
            None => Vec::new(),
        };
        let families = Families::from_list(self.families.as_deref().unwrap_or_default())?;
        let network = self
            .network
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| {
                let annotations = [(
                    crate::core::service::POOL_ANNOTATION.to_string(),
                    n.to_string(),
                )]
                .into();
                crate::core::service::pool_network(&annotations).unwrap_or_default()
            });
        if !fixed.is_empty() && (network.is_some() || !families.wanted().contains(&None)) {
            return Err(LbError::Invalid(
                "give either ip, or network and families; a fixed IP decides both".into(),
            ));
        }
        Ok(LbRequest {
            key,
            fixed,
            network,
            families,
        })
    }
}

/// The answer to ensuring a load balancer: its IPs and what changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnsureResponse {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<LbIp>,
    pub changes: Vec<Change>,
}

/// What releasing a load balancer changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseResponse {
    pub namespace: String,
    pub name: String,
    pub released: Vec<Change>,
}

/// The cluster's load balancers, from the IP tags in metal-api.
#[utoipa::path(get, path = "/v1/loadbalancers", tag = "loadbalancers", operation_id = "listLoadBalancers",
    responses((status = 200, description = "Every Service of this cluster holding IPs, with its IPs", body = [LoadBalancer]),
        (status = 502, description = "metal-api unavailable", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/loadbalancers")]
pub async fn list(state: web::Data<State>) -> Result<web::Json<Vec<LoadBalancer>>, Problem> {
    let list = state.allocator.send(List).await.map_err(from_mailbox)?;
    list.map(web::Json).map_err(|e| problem(&e))
}

/// Ensure a load balancer: allocate (or adopt) its IPs and write the load-balancer
/// configuration. Repeating the request changes nothing.
#[utoipa::path(post, path = "/v1/loadbalancers", tag = "loadbalancers", operation_id = "ensureLoadBalancer",
    request_body = LoadBalancerRequest,
    responses((status = 201, description = "The load balancer with its IPs", body = EnsureResponse),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No free IP left, or the IP is ambiguous or used by a machine or for egress", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The IP is not allocated in the project, the network is not the cluster's, or there is no default network", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "metal-api unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not the leader, or the configuration could not be written", body = Problem, content_type = "application/problem+json")))]
#[post("/v1/loadbalancers")]
pub async fn create(
    state: web::Data<State>,
    body: web::Json<LoadBalancerRequest>,
) -> Result<HttpResponse, Problem> {
    let request = body.into_inner().into_request().map_err(|e| problem(&e))?;
    let key = request.key.clone();
    let ensured = state
        .allocator
        .send(Ensure(request))
        .await
        .map_err(from_mailbox)?
        .map_err(|e| problem(&e))?;
    Ok(HttpResponse::Created().json(EnsureResponse {
        namespace: key.namespace,
        name: key.name,
        ips: ensured.ips,
        changes: ensured.changes,
    }))
}

/// Release a load balancer: drop its tag from every IP, freeing ephemeral IPs nobody else
/// uses, and write the configuration.
#[utoipa::path(delete, path = "/v1/loadbalancers/{namespace}/{name}", tag = "loadbalancers", operation_id = "releaseLoadBalancer",
    params(("namespace" = String, Path, description = "namespace of the Service"), ("name" = String, Path, description = "name of the Service")),
    responses((status = 200, description = "What was released", body = ReleaseResponse),
        (status = 400, description = "Malformed name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "The Service holds no IP", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "metal-api unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Not the leader", body = Problem, content_type = "application/problem+json")))]
#[delete("/v1/loadbalancers/{namespace}/{name}")]
pub async fn remove(
    state: web::Data<State>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<ReleaseResponse>, Problem> {
    let (namespace, name) = path.into_inner();
    let key = ServiceKey::new(&namespace, &name).map_err(|e| problem(&e))?;
    let released = state
        .allocator
        .send(Release(key.clone()))
        .await
        .map_err(from_mailbox)?
        .map_err(|e| problem(&e))?;
    if released.is_empty() {
        return Err(Problem::not_found(format!(
            "no load balancer {key}: no IP carries its tag"
        )));
    }
    Ok(web::Json(ReleaseResponse {
        namespace,
        name,
        released,
    }))
}
