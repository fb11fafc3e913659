//! The HTTP edge: the six admission webhooks at upstream's paths, and two pure REST endpoints
//! for tooling (`/v1/validate/shoot`, `/v1/default/shoot`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use actix_web::{HttpResponse, ResponseError as _, post, web};
use mesh_runtime::problem::Problem;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};

use crate::cli::WebhookName;
use crate::core::defaulter::{self, Defaults};
use crate::core::ignition::{self, IgnitionVersion};
use crate::core::mutation::{SeedConfig, Webhook};
use crate::core::shoot;
use crate::objects::Objects;
use crate::review::{self, Answer};
use crate::{garden, seed};

/// Largest review body read: a Shoot with many worker pools, or an OperatingSystemConfig
/// with its files inline, stays far below this.
const BODY_LIMIT: usize = 16 << 20;

/// What every handler gets.
pub struct State {
    pub objects: Arc<dyn Objects>,
    pub defaults: Defaults,
    pub seed: SeedConfig,
    pub metrics: ReviewMetrics,
    /// Rendered unless an OSC's annotation or a request names another (`--ignition-version`).
    pub ignition_version: IgnitionVersion,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewLabels {
    pub webhook: &'static str,
    /// allowed, patched, denied, failed, unavailable or malformed
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub webhook: &'static str,
}

/// Reviews answered, by webhook and result, and how long answering took.
#[derive(Clone)]
pub struct ReviewMetrics {
    reviews: Family<ReviewLabels, Counter>,
    duration: Family<WebhookLabels, Histogram>,
}

impl ReviewMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let metrics = Self {
            reviews: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0])
            }),
        };
        registry.register(
            "gardener_webhooks_reviews",
            "AdmissionReviews answered, by webhook and result",
            metrics.reviews.clone(),
        );
        registry.register(
            "gardener_webhooks_review_duration_seconds",
            "Time to answer one AdmissionReview, including reads from Kubernetes",
            metrics.duration.clone(),
        );
        metrics
    }

    fn count(&self, webhook: &'static str, result: &'static str) {
        self.reviews
            .get_or_create(&ReviewLabels { webhook, result })
            .inc();
    }
}

fn result_label(answer: &Answer) -> &'static str {
    match answer {
        Answer::Allow => "allowed",
        Answer::Patch { before, after } if before != after => "patched",
        Answer::Patch { .. } => "allowed",
        Answer::Deny(_) => "denied",
        Answer::Fail(_) => "failed",
        Answer::Unavailable(_) => "unavailable",
    }
}

/// Registers the enabled webhooks and the REST endpoints.
pub fn routes(cfg: &mut web::ServiceConfig, enabled: &[WebhookName]) {
    cfg.app_data(web::PayloadConfig::new(BODY_LIMIT)).app_data(
        web::JsonConfig::default()
            .limit(BODY_LIMIT)
            .error_handler(|e, _| Problem::bad_request(e.to_string()).into()),
    );
    for name in enabled {
        match name {
            WebhookName::Validator => cfg.service(validate),
            WebhookName::SecretsValidator => cfg.service(validate_secrets),
            WebhookName::Mutator => cfg.service(mutate),
            WebhookName::Controlplane => cfg.service(controlplane),
            WebhookName::Seedprovider => cfg.service(seedprovider),
            WebhookName::Shoot => cfg.service(shoot_webhook),
        };
    }
    cfg.service(validate_shoot)
        .service(default_shoot)
        .service(render_ignition);
}

/// Decodes, answers and encodes one review; a body that is no AdmissionReview is a 400.
async fn serve(state: &State, name: WebhookName, body: &[u8]) -> HttpResponse {
    let started = Instant::now();
    let label = name.path_name();
    let review = match review::decode(body) {
        Ok(review) => review,
        Err(malformed) => {
            state.metrics.count(label, "malformed");
            return Problem::bad_request(malformed.to_string()).error_response();
        }
    };
    let objects = state.objects.as_ref();
    let answer = match name {
        WebhookName::Validator => garden::validate(&review, objects).await,
        WebhookName::SecretsValidator => garden::validate_secret(&review),
        WebhookName::Mutator => garden::mutate(&review, objects, &state.defaults).await,
        WebhookName::Controlplane => {
            seed::mutate(Webhook::ControlPlane, &review, objects, &state.seed).await
        }
        WebhookName::Seedprovider => {
            seed::mutate(Webhook::SeedProvider, &review, objects, &state.seed).await
        }
        WebhookName::Shoot => seed::mutate(Webhook::Shoot, &review, objects, &state.seed).await,
    };
    let result = result_label(&answer);
    if matches!(answer, Answer::Fail(_) | Answer::Unavailable(_)) {
        tracing::warn!(webhook = label, uid = %review.request.uid, ?answer, "review not allowed");
    }
    let response = review::respond(&review, answer);
    state.metrics.count(label, result);
    state
        .metrics
        .duration
        .get_or_create(&WebhookLabels { webhook: label })
        .observe(started.elapsed().as_secs_f64());
    HttpResponse::Ok().json(response)
}

/// An `admission.k8s.io/v1` AdmissionReview (request in, response out).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionReview {
    /// `admission.k8s.io/v1`
    pub api_version: String,
    /// `AdmissionReview`
    pub kind: String,
    /// What kube-apiserver asks (uid, kind, operation, object, oldObject, ...).
    #[schema(value_type = Option<Object>)]
    pub request: Option<Value>,
    /// The answer (uid, allowed, status, patchType, patch).
    #[schema(value_type = Option<Object>)]
    pub response: Option<Value>,
}

macro_rules! webhook {
    ($fn:ident, $path:literal, $name:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            post, path = $path, tag = "webhooks",
            request_body(content = AdmissionReview, description = "AdmissionReview with a request"),
            responses(
                (status = 200, description = "AdmissionReview with the response: allowed, or denied with status.code 422 (403 for a policy refusal) and every field error, or allowed with a JSON patch", body = AdmissionReview),
                (status = 400, description = "Not an admission.k8s.io/v1 AdmissionReview with a request", body = Problem, content_type = "application/problem+json"),
            )
        )]
        #[post($path)]
        async fn $fn(state: web::Data<State>, body: web::Bytes) -> HttpResponse {
            serve(&state, $name, &body).await
        }
    };
}

webhook!(
    validate,
    "/webhooks/validate",
    WebhookName::Validator,
    "Garden: validates Shoots, CloudProfiles, SecretBindings and CredentialsBindings of type metal."
);
webhook!(
    validate_secrets,
    "/webhooks/validate/secrets",
    WebhookName::SecretsValidator,
    "Garden: validates metal cloud provider Secrets on create and when their data changes."
);
webhook!(
    mutate,
    "/webhooks/mutate",
    WebhookName::Mutator,
    "Garden: defaults Shoots of type metal."
);
webhook!(
    controlplane,
    "/webhooks/controlplane",
    WebhookName::Controlplane,
    "Seed: mutates a shoot's control plane (kube-apiserver, kube-controller-manager, machine-controller-manager, vpn-seed-server, OperatingSystemConfig, gardener-resource-manager configuration)."
);
webhook!(
    seedprovider,
    "/webhooks/seedprovider",
    WebhookName::Seedprovider,
    "Seed: mutates etcd (capacity, storage class, backup schedule, eviction)."
);
webhook!(
    shoot_webhook,
    "/webhooks/shoot",
    WebhookName::Shoot,
    "Shoot: mutates vpn-shoot and calico-node in the shoot's kube-system."
);

/// A Shoot to check against its CloudProfile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateShootRequest {
    /// The `core.gardener.cloud/v1beta1` Shoot.
    #[schema(value_type = Object)]
    pub shoot: Value,
    /// Its `core.gardener.cloud/v1beta1` CloudProfile.
    #[schema(value_type = Object)]
    pub cloud_profile: Value,
    /// The Shoot before the change: the update rules apply (immutable fields).
    #[schema(value_type = Option<Object>)]
    pub old_shoot: Option<Value>,
}

/// One violation, as kube-apiserver reports a field error.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cause {
    /// Field path, e.g. `spec.provider.infrastructureConfig.firewall.size`.
    pub field: String,
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`,
    /// `FieldValueForbidden`, `FieldValueDuplicate`, `FieldValueTooMany` or `FieldValueNotFound`.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// The validator's verdict: every violation, none when allowed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateShootResponse {
    pub allowed: bool,
    pub causes: Vec<Cause>,
}

/// A Shoot body must be an object that decodes as one.
fn shoot_object(field: &str, value: &Value) -> Result<(), Problem> {
    if !value.is_object() {
        return Err(Problem::bad_request(format!("{field} must be an object")));
    }
    serde_json::from_value::<kube::core::DynamicObject>(value.clone())
        .map(drop)
        .map_err(|e| Problem::bad_request(format!("{field}: {e}")))
}

/// Checks a Shoot as `/webhooks/validate` does, with the CloudProfile given.
#[utoipa::path(
    post, path = "/v1/validate/shoot", tag = "shoots",
    request_body = ValidateShootRequest,
    responses(
        (status = 200, description = "The verdict", body = ValidateShootResponse),
        (status = 400, description = "A body that is not a Shoot and a CloudProfile", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/validate/shoot")]
async fn validate_shoot(request: web::Json<ValidateShootRequest>) -> Result<HttpResponse, Problem> {
    let request = request.into_inner();
    shoot_object("shoot", &request.shoot)?;
    shoot_object("cloudProfile", &request.cloud_profile)?;
    let errors = match &request.old_shoot {
        None => shoot::validate_create(&request.shoot, &request.cloud_profile),
        Some(old) => {
            shoot_object("oldShoot", old)?;
            shoot::validate_update(old, &request.shoot, &request.cloud_profile)
        }
    };
    let causes = errors
        .iter()
        .map(review::cause)
        .map(|c| Cause {
            field: c.field,
            kind: c.reason,
            message: c.message,
        })
        .collect::<Vec<_>>();
    Ok(HttpResponse::Ok().json(ValidateShootResponse {
        allowed: causes.is_empty(),
        causes,
    }))
}

/// A Shoot to default against its CloudProfile.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DefaultShootRequest {
    #[schema(value_type = Object)]
    pub shoot: Value,
    #[schema(value_type = Object)]
    pub cloud_profile: Value,
}

/// The defaulted Shoot and the JSON patch (RFC 6902) from the given one to it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DefaultShootResponse {
    #[schema(value_type = Object)]
    pub shoot: Value,
    #[schema(value_type = Vec<Object>)]
    pub patch: json_patch::Patch,
}

/// Defaults a Shoot as `/webhooks/mutate` does, with the CloudProfile given.
#[utoipa::path(
    post, path = "/v1/default/shoot", tag = "shoots",
    request_body = DefaultShootRequest,
    responses(
        (status = 200, description = "The defaulted Shoot and the patch", body = DefaultShootResponse),
        (status = 400, description = "A body that is not a Shoot and a CloudProfile", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Shoot cannot be defaulted (e.g. its partition is not in the CloudProfile)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/default/shoot")]
async fn default_shoot(
    state: web::Data<State>,
    request: web::Json<DefaultShootRequest>,
) -> Result<HttpResponse, Problem> {
    let request = request.into_inner();
    shoot_object("shoot", &request.shoot)?;
    shoot_object("cloudProfile", &request.cloud_profile)?;
    let defaulted =
        defaulter::default_shoot(&request.shoot, &request.cloud_profile, &state.defaults).map_err(
            |errors| {
                Problem::unprocessable(
                    "cannot-default",
                    "The Shoot cannot be defaulted",
                    crate::core::field::summary(&errors),
                )
            },
        )?;
    let patch = json_patch::diff(&request.shoot, &defaulted);
    Ok(HttpResponse::Ok().json(DefaultShootResponse {
        shoot: defaulted,
        patch,
    }))
}

/// An OperatingSystemConfig to render, with the Secrets its files refer to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderIgnitionRequest {
    /// The `extensions.gardener.cloud/v1alpha1` OperatingSystemConfig.
    #[schema(value_type = Object)]
    pub osc: Value,
    /// The Secrets of `secretRef` file contents, by name: their `data` (base64 values).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub secrets: BTreeMap<String, serde_json::Map<String, Value>>,
    /// `2.3.0` or `3.4.0`; default: the OSC's annotation `os.metal-stack.io/ignition-version`,
    /// else the service's `--ignition-version`.
    pub version: Option<String>,
}

/// What the OS extension makes of the OSC for its purpose.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenderIgnitionResponse {
    /// The Ignition document (purpose `provision`), as written to `osc-result-<name>`.
    pub user_data: Option<String>,
    /// For `.status.extensionUnits` (purpose `reconcile`).
    #[schema(value_type = Vec<Object>)]
    pub extension_units: Vec<Value>,
    /// For `.status.extensionFiles` (purpose `reconcile`).
    #[schema(value_type = Vec<Object>)]
    pub extension_files: Vec<Value>,
    /// The Ignition spec version rendered.
    pub version: String,
}

/// Renders an OperatingSystemConfig to Ignition as the OS controller does.
#[utoipa::path(
    post, path = "/v1/render/ignition", tag = "ignition",
    request_body = RenderIgnitionRequest,
    responses(
        (status = 200, description = "The userdata (provision) or the extension files (reconcile)", body = RenderIgnitionResponse),
        (status = 400, description = "A body that is not an OSC with Secrets, or an unsupported version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The OSC cannot be rendered (e.g. a missing Secret or key, an unknown encoding or purpose), naming what", body = Problem, content_type = "application/problem+json"),
    )
)]
#[post("/v1/render/ignition")]
async fn render_ignition(
    state: web::Data<State>,
    request: web::Json<RenderIgnitionRequest>,
) -> Result<HttpResponse, Problem> {
    let request = request.into_inner();
    let default = match &request.version {
        None => state.ignition_version,
        Some(version) => version
            .parse::<IgnitionVersion>()
            .map_err(|e| Problem::bad_request(format!("version: {e}")))?,
    };
    // A version in the request wins over the OSC's annotation.
    let mut osc = request.osc;
    if request.version.is_some()
        && let Some(annotations) = osc
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
    {
        annotations.remove(ignition::VERSION_ANNOTATION);
    }
    let rendered = ignition::render(&osc, &request.secrets, default).map_err(|e| {
        Problem::unprocessable(
            "cannot-render",
            "The OperatingSystemConfig cannot be rendered",
            e.to_string(),
        )
    })?;
    Ok(HttpResponse::Ok().json(RenderIgnitionResponse {
        user_data: rendered.user_data,
        extension_units: rendered.extension_units,
        extension_files: rendered.extension_files,
        version: rendered.version.to_string(),
    }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "gardener-webhooks", description = "Gardener admission and mutation for shoots of type metal; metal-mesh's replacement for gardener-extension-provider-metal's webhooks and its admission component."),
    paths(validate, validate_secrets, mutate, controlplane, seedprovider, shoot_webhook, validate_shoot, default_shoot, render_ignition),
    components(schemas(Problem, AdmissionReview, ValidateShootRequest, ValidateShootResponse, Cause, DefaultShootRequest, DefaultShootResponse, RenderIgnitionRequest, RenderIgnitionResponse)),
    tags((name = "webhooks", description = "AdmissionReview admission.k8s.io/v1 over HTTPS, called by kube-apiserver; open unless --webhooks-require-auth"), (name = "shoots"), (name = "ignition")),
)]
pub struct ApiDoc;
