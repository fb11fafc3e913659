//! REST: `GET /v1/machines` (the Machines as the controller sees them), and the driver:
//! `POST /v1/machines` creates (or adopts) the machine of a Machine name, `DELETE
//! /v1/machines/{name}` frees it. The class is a MachineClass of `--namespace` by name, or given
//! inline as providerSpec and Secret data (for use without Kubernetes).

use std::collections::BTreeMap;
use std::sync::Arc;

use actix_web::{HttpResponse, web};
use kube::api::Api;
use kube_resources::mcm::Machine;
use mesh_runtime::problem::Problem;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::core::class::{Class, ProviderSpec};
use crate::core::code::DriverError;
use crate::core::machines::Address;
use crate::driver::Driver;
use crate::k8s::classes::{ClassReader, kube_failure};
use crate::metrics::Metrics;

const CALLER: &str = "rest";

pub struct State {
    pub driver: Arc<Driver>,
    pub metrics: Metrics,
    /// None with --no-kubernetes.
    pub kube: Option<Kube>,
}

pub struct Kube {
    pub classes: ClassReader,
    pub machines: Api<Machine>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "machine-lifecycle",
        description = "Machines for Gardener's machine-controller-manager on metal-stack (replaces machine-controller-manager-provider-metal). Driver errors are problem+json whose `code` is the driver's: NotFound 404, InvalidArgument 400, ResourceExhausted 429, Unavailable 503, Internal 500."
    ),
    paths(list_machines, create_machine, delete_machine),
    components(schemas(
        MachineView, LastOperationView, CreateRequest, DeleteRequest, CreateResponse,
        DeleteResponse, ProviderSpec, Address
    )),
    tags((name = "machines", description = "Machines and the driver"))
)]
pub struct ApiDoc;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default().error_handler(|e, _| Problem::bad_request(e.to_string()).into()),
    )
    .service(list_machines)
    .service(create_machine)
    .service(delete_machine);
}

/// A Machine of `--namespace`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MachineView {
    pub name: String,
    pub machine_class: Option<String>,
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    pub phase: Option<String>,
    pub last_operation: Option<LastOperationView>,
    pub addresses: Vec<Address>,
    pub deleting: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LastOperationView {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub state: Option<String>,
    pub description: Option<String>,
    pub error_code: Option<String>,
}

/// The MachineClass of a driver call: `machineClass` (a MachineClass of `--namespace`, read
/// with its Secrets), or `providerSpec` with `secret` (the Secret's data as strings).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    /// The Machine name: the machine's name and hostname.
    pub name: String,
    pub machine_class: Option<String>,
    pub provider_spec: Option<serde_json::Value>,
    /// metalAPIURL, metalAPIHMac or metalAPIKey, userData.
    pub secret: Option<BTreeMap<String, String>>,
}

/// Like [`CreateRequest`]; may be left out when the Machine exists in `--namespace` (its class
/// and providerID are used). Without `providerID` the machine is found by the Machine name.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteRequest {
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
    pub machine_class: Option<String>,
    pub provider_spec: Option<serde_json::Value>,
    pub secret: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateResponse {
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// The Node name the machine will join as (its hostname).
    pub node_name: String,
    pub addresses: Vec<Address>,
    /// An earlier call had allocated the machine; this one found it.
    pub adopted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteResponse {
    /// The machine freed; null when there was none.
    #[serde(rename = "freedProviderID")]
    pub freed_provider_id: Option<String>,
}

/// A driver error as problem+json: its code as `code` and in the type.
fn problem(e: DriverError) -> actix_web::Error {
    let slug = match e.code.as_str() {
        "InvalidArgument" => "invalid-argument",
        "NotFound" => "not-found",
        "ResourceExhausted" => "resource-exhausted",
        "Unavailable" => "unavailable",
        "Unimplemented" => "unimplemented",
        _ => "internal",
    };
    let status = actix_web::http::StatusCode::from_u16(e.code.http())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({
        "type": format!("https://metal-mesh.dev/problems/{slug}"),
        "title": e.code.as_str(),
        "status": status.as_u16(),
        "detail": e.message,
        "code": e.code.as_str(),
    });
    actix_web::error::InternalError::from_response(
        e.message.clone(),
        HttpResponse::build(status)
            .content_type(mesh_runtime::problem::PROBLEM_JSON)
            .json(body),
    )
    .into()
}

async fn resolve(
    state: &State,
    machine_class: Option<String>,
    provider_spec: Option<serde_json::Value>,
    secret: Option<BTreeMap<String, String>>,
) -> Result<Class, DriverError> {
    match (machine_class, provider_spec, secret) {
        (Some(name), None, None) => match &state.kube {
            Some(kube) => kube.classes.read(&name).await,
            None => Err(DriverError::invalid(
                "machineClass needs Kubernetes (started with --no-kubernetes): give providerSpec and secret instead",
            )),
        },
        (None, Some(spec), Some(secret)) => {
            let secret = secret
                .into_iter()
                .map(|(k, v)| (k, v.into_bytes()))
                .collect();
            Class::parse("(inline)", &spec, &secret)
        }
        (None, Some(_), None) => Err(DriverError::invalid("secret is required with providerSpec")),
        (None, None, Some(_)) => Err(DriverError::invalid("providerSpec is required with secret")),
        (None, None, None) => Err(DriverError::invalid(
            "give machineClass, or providerSpec and secret",
        )),
        (Some(_), _, _) => Err(DriverError::invalid(
            "give machineClass or providerSpec and secret, not both",
        )),
    }
}

/// The Machines of `--namespace` with their phase and last operation.
#[utoipa::path(get, path = "/v1/machines", tag = "machines", operation_id = "listMachines",
    responses(
        (status = 200, description = "The Machines", body = Vec<MachineView>),
        (status = 503, description = "Kubernetes unreachable, or the service runs with --no-kubernetes", content_type = "application/problem+json"),
    ))]
#[actix_web::get("/v1/machines")]
async fn list_machines(state: web::Data<State>) -> Result<HttpResponse, actix_web::Error> {
    let Some(kube) = &state.kube else {
        return Err(Problem::new(
            "no-kubernetes",
            "No Kubernetes",
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        )
        .with_detail("started with --no-kubernetes: there are no Machines to list")
        .into());
    };
    let list = kube
        .machines
        .list(&Default::default())
        .await
        .map_err(|e| problem(kube_failure("listing Machines", e)))?;
    let views: Vec<MachineView> = list.items.into_iter().map(view).collect();
    Ok(HttpResponse::Ok().json(views))
}

fn view(m: Machine) -> MachineView {
    let status = m.status.unwrap_or_default();
    MachineView {
        name: m.metadata.name.unwrap_or_default(),
        machine_class: m.spec.class.map(|c| c.name),
        provider_id: m.spec.provider_id,
        phase: status.current_status.and_then(|c| c.phase),
        last_operation: status.last_operation.map(|o| LastOperationView {
            kind: o.type_,
            state: o.state,
            description: o.description,
            error_code: o.error_code.filter(|c| !c.is_empty()),
        }),
        addresses: status
            .addresses
            .unwrap_or_default()
            .into_iter()
            .map(|a| Address {
                kind: a.type_,
                address: a.address,
            })
            .collect(),
        deleting: m.metadata.deletion_timestamp.is_some(),
    }
}

/// Allocates a machine for the Machine name, or finds the one an earlier call allocated
/// (idempotent on the name).
#[utoipa::path(post, path = "/v1/machines", tag = "machines", operation_id = "createMachine",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "Allocated", body = CreateResponse),
        (status = 200, description = "Found the machine an earlier call allocated", body = CreateResponse),
        (status = 400, description = "InvalidArgument: bad providerSpec, Secret or name", content_type = "application/problem+json"),
        (status = 404, description = "NotFound: e.g. the size, image or network", content_type = "application/problem+json"),
        (status = 429, description = "ResourceExhausted: no free machine in the partition", content_type = "application/problem+json"),
        (status = 503, description = "Unavailable: metal-api unreachable or failing", content_type = "application/problem+json"),
    ))]
#[actix_web::post("/v1/machines")]
async fn create_machine(
    state: web::Data<State>,
    body: web::Json<CreateRequest>,
) -> Result<HttpResponse, actix_web::Error> {
    let body = body.into_inner();
    let result = async {
        let class = resolve(&state, body.machine_class, body.provider_spec, body.secret).await?;
        state.driver.create(&class, &body.name).await
    }
    .await;
    let created = state
        .metrics
        .count("CreateMachine", CALLER, result)
        .map_err(problem)?;
    let mut response = if created.adopted {
        HttpResponse::Ok()
    } else {
        HttpResponse::Created()
    };
    Ok(response.json(CreateResponse {
        provider_id: created.found.provider_id,
        node_name: created.found.node_name,
        addresses: created.found.addresses,
        adopted: created.adopted,
    }))
}

/// Frees the machine of the Machine `name`. Nothing to free is success.
#[utoipa::path(delete, path = "/v1/machines/{name}", tag = "machines", operation_id = "deleteMachine",
    params(("name" = String, Path, description = "The Machine name")),
    request_body(content = DeleteRequest, description = "Optional when the Machine exists in --namespace"),
    responses(
        (status = 200, description = "Freed, or nothing to free", body = DeleteResponse),
        (status = 400, description = "InvalidArgument", content_type = "application/problem+json"),
        (status = 503, description = "Unavailable: metal-api unreachable or failing", content_type = "application/problem+json"),
    ))]
#[actix_web::delete("/v1/machines/{name}")]
async fn delete_machine(
    state: web::Data<State>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, actix_web::Error> {
    let name = name.into_inner();
    // The body is optional, but one that is there must be right.
    let body: DeleteRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| Problem::bad_request(format!("request body: {e}")))?
    };
    let result = async {
        let (class, provider_id) = match (&state.kube, body.machine_class.is_none() && body.provider_spec.is_none() && body.secret.is_none()) {
            // Only the name: the Machine object says the rest.
            (Some(kube), true) => {
                let machine = kube
                    .machines
                    .get_opt(&name)
                    .await
                    .map_err(|e| kube_failure(&format!("reading Machine {name}"), e))?
                    .ok_or_else(|| {
                        DriverError::invalid(format!(
                            "Machine {name} not found in namespace {}: give machineClass, or providerSpec and secret",
                            kube.classes.namespace()
                        ))
                    })?;
                let class_name = machine
                    .spec
                    .class
                    .as_ref()
                    .map(|c| c.name.clone())
                    .ok_or_else(|| DriverError::invalid(format!("Machine {name} has no class")))?;
                let class = kube.classes.read(&class_name).await?;
                let provider_id = body.provider_id.or(machine.spec.provider_id);
                (class, provider_id)
            }
            _ => (
                resolve(&state, body.machine_class, body.provider_spec, body.secret).await?,
                body.provider_id,
            ),
        };
        state
            .driver
            .delete(&class, &name, provider_id.as_deref().unwrap_or_default())
            .await
    }
    .await;
    let freed = state
        .metrics
        .count("DeleteMachine", CALLER, result)
        .map_err(problem)?;
    Ok(HttpResponse::Ok().json(DeleteResponse {
        freed_provider_id: freed,
    }))
}
