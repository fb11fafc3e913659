//! `/v1/nodes/{name}/metadata`: what the Node controller writes to a node, from its machine.

use actix_web::{get, web};
use mesh_runtime::problem::Problem;

use super::State;
use super::error::from_mailbox;
use crate::actors::machines::{Lookup, LookupError, MachineKey};
use crate::core::node::{NodeMetadata, metadata};
use crate::core::service::is_dns_label;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(node_metadata);
}

/// Node metadata from the machine allocated with the node's name as hostname.
#[utoipa::path(get, path = "/v1/nodes/{name}/metadata", tag = "nodes", operation_id = "nodeMetadata",
    params(("name" = String, Path, description = "node name, the machine's allocation hostname")),
    responses((status = 200, description = "Provider ID, addresses, instance type, zone, region and labels", body = NodeMetadata),
        (status = 400, description = "Malformed name", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No machine of the project has this hostname", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "metal-api unavailable", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/nodes/{name}/metadata")]
pub async fn node_metadata(
    state: web::Data<State>,
    name: web::Path<String>,
) -> Result<web::Json<NodeMetadata>, Problem> {
    let name = name.into_inner();
    // Node names are DNS subdomains; hostnames are labels of it. Either way: no slashes.
    if !name.split('.').all(is_dns_label) {
        return Err(Problem::bad_request(format!(
            "{name:?} is not a valid node name"
        )));
    }
    let machine = state
        .machines
        .send(Lookup(MachineKey::Hostname(name)))
        .await
        .map_err(from_mailbox)?
        .map_err(|e| match e {
            LookupError::NotFound(m) => Problem::not_found(m),
            LookupError::Failed(m) => Problem::new(
                "metal-api-unavailable",
                "metal-api unavailable",
                actix_web::http::StatusCode::BAD_GATEWAY,
            )
            .with_detail(m),
        })?;
    metadata(&state.config, &machine)
        .map(web::Json)
        .map_err(Problem::not_found)
}
