//! AdmissionReview `admission.k8s.io/v1` in and out, with kube's admission types.
//!
//! The review is read in two steps so that a bad `object` is the webhook's denial (with the
//! decode error) while a bad envelope is the caller's 400: the envelope is decoded with
//! `object` and `oldObject` taken out, and those stay plain JSON for the rules.

use base64::Engine as _;
use kube::core::admission::{
    AdmissionRequest, AdmissionResponse, AdmissionReview, META_API_VERSION_V1, META_KIND, Operation,
};
use kube::core::response::{StatusCause, StatusDetails, StatusSummary};
use kube::core::{DynamicObject, ObjectMeta, TypeMeta};
use serde::Deserialize as _;
use serde_json::Value;

use crate::core::field::{FieldError, Kind, summary};

/// An AdmissionReview's request with its objects as plain JSON.
#[derive(Debug)]
pub struct Review {
    pub request: AdmissionRequest<DynamicObject>,
    /// `request.object`; absent on DELETE.
    pub object: Option<Value>,
    /// `request.oldObject`; present on UPDATE and DELETE.
    pub old_object: Option<Value>,
}

impl Review {
    pub fn group(&self) -> &str {
        &self.request.kind.group
    }

    pub fn kind(&self) -> &str {
        &self.request.kind.kind
    }

    pub fn namespace(&self) -> &str {
        self.request.namespace.as_deref().unwrap_or_default()
    }

    /// The object under review, after checking it decodes as a Kubernetes object at all;
    /// UPDATE reviews also need the old one.
    pub fn objects(&self) -> Result<(&Value, Option<&Value>), Answer> {
        let object = self
            .object
            .as_ref()
            .ok_or_else(|| Answer::Fail("the review carries no object".into()))?;
        decodes(self.kind(), object)?;
        let old = match self.request.operation {
            Operation::Update => {
                let old = self
                    .old_object
                    .as_ref()
                    .ok_or_else(|| Answer::Fail("the UPDATE review carries no oldObject".into()))?;
                decodes(self.kind(), old)?;
                Some(old)
            }
            _ => None,
        };
        Ok((object, old))
    }

    /// CREATE or UPDATE: the only operations the webhooks look at.
    pub fn writes(&self) -> bool {
        matches!(
            self.request.operation,
            Operation::Create | Operation::Update
        )
    }
}

/// An object whose metadata or spec has the wrong JSON type cannot be one of Gardener's: the
/// decode error is the denial, as upstream's decoder would give it.
fn decodes(kind: &str, object: &Value) -> Result<(), Answer> {
    let fail = |why: String| Answer::Fail(format!("cannot decode the {kind}: {why}"));
    if !object.is_object() {
        return Err(fail(format!("expected an object, not {object}")));
    }
    // Only the parts every kind shares are typed here; the rules read the rest.
    if let Some(metadata) = object.get("metadata") {
        ObjectMeta::deserialize(metadata).map_err(|e| fail(format!("metadata: {e}")))?;
    }
    for key in ["apiVersion", "kind"] {
        if let Some(other) = object.get(key).filter(|v| !v.is_string()) {
            return Err(fail(format!("{key} must be a string, not {other}")));
        }
    }
    match object.get("spec") {
        None | Some(Value::Object(_)) => Ok(()),
        Some(other) => Err(fail(format!("spec must be an object, not {other}"))),
    }
}

/// Why a request body is not an AdmissionReview this webhook can answer (HTTP 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Malformed {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("expected apiVersion {META_API_VERSION_V1:?} and kind {META_KIND:?}, got {0:?} {1:?}")]
    WrongType(String, String),
    #[error("the AdmissionReview has no request")]
    NoRequest,
    #[error("the AdmissionReview's request cannot be read: {0}")]
    BadRequest(String),
    #[error("request.kind is {expected} but request.{field} is {found}")]
    KindMismatch {
        expected: String,
        field: &'static str,
        found: String,
    },
}

/// Reads a request body.
pub fn decode(body: &[u8]) -> Result<Review, Malformed> {
    let mut review: Value =
        serde_json::from_slice(body).map_err(|e| Malformed::NotJson(e.to_string()))?;
    let text = |key: &str| {
        review
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if api_version != META_API_VERSION_V1 || kind != META_KIND {
        return Err(Malformed::WrongType(api_version, kind));
    }
    let request = match review.get_mut("request") {
        Some(request @ Value::Object(_)) => request,
        _ => return Err(Malformed::NoRequest),
    };
    let mut take = |key: &str| match request.as_object_mut().and_then(|r| r.remove(key)) {
        None | Some(Value::Null) => None,
        Some(value) => Some(value),
    };
    let object = take("object");
    let old_object = take("oldObject");
    let request: AdmissionRequest<DynamicObject> =
        serde_json::from_value(request.take()).map_err(|e| Malformed::BadRequest(e.to_string()))?;
    for (field, value) in [("object", &object), ("oldObject", &old_object)] {
        check_kind(&request, field, value.as_ref())?;
    }
    Ok(Review {
        request,
        object,
        old_object,
    })
}

/// An object whose own apiVersion and kind (when it states them) are not the request's kind
/// was put in the wrong review.
fn check_kind(
    request: &AdmissionRequest<DynamicObject>,
    field: &'static str,
    object: Option<&Value>,
) -> Result<(), Malformed> {
    let Some(object) = object else {
        return Ok(());
    };
    let gvk = &request.kind;
    let expected_api_version = match gvk.group.as_str() {
        "" => gvk.version.clone(),
        group => format!("{group}/{}", gvk.version),
    };
    let stated = |key: &str| object.get(key).and_then(Value::as_str);
    let mismatch = |found: String| Malformed::KindMismatch {
        expected: format!("{expected_api_version} {}", gvk.kind),
        field,
        found,
    };
    match (stated("apiVersion"), stated("kind")) {
        (Some(v), _) if v != expected_api_version => Err(mismatch(format!("apiVersion {v}"))),
        (_, Some(k)) if k != gvk.kind => Err(mismatch(format!("kind {k}"))),
        _ => Ok(()),
    }
}

/// What the webhook answers to one review.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Allow,
    /// Invalid: 422 with every finding (403 when every finding is a policy refusal).
    Deny(Vec<FieldError>),
    /// The object, or something it needs, could not be read or worked out: 422 with why.
    Fail(String),
    /// Something the webhook needs could not be fetched: 500 with why, so the caller retries.
    Unavailable(String),
    /// Allowed, changed from `before` to `after` (no patch when they are equal).
    Patch {
        before: Value,
        after: Value,
    },
}

/// The response review for `answer`, as JSON. kube's type serializes the patch as an array of
/// numbers (which Go's decoder accepts); it is sent as base64, as Go encodes `[]byte`, a
/// third of the size.
pub fn respond(review: &Review, answer: Answer) -> Value {
    let mut json = serde_json::to_value(response_review(review, answer))
        .expect("an AdmissionReview always serializes");
    if let Some(patch) = json.pointer_mut("/response/patch")
        && let Ok(bytes) = serde_json::from_value::<Vec<u8>>(patch.clone())
    {
        *patch = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    json
}

fn response_review(review: &Review, answer: Answer) -> AdmissionReview<DynamicObject> {
    let mut response = AdmissionResponse::from(&review.request);
    response.types = TypeMeta {
        api_version: META_API_VERSION_V1.into(),
        kind: META_KIND.into(),
    };
    let response = match answer {
        Answer::Allow => response,
        Answer::Patch { before, after } => {
            let patch = json_patch::diff(&before, &after);
            if patch.0.is_empty() {
                response
            } else {
                // A diff of two JSON values always serializes.
                response.with_patch(patch).unwrap_or_else(|e| {
                    failure(
                        AdmissionResponse::from(&review.request),
                        500,
                        "InternalError",
                        e.to_string(),
                    )
                })
            }
        }
        Answer::Deny(errors) => deny(response, &errors),
        Answer::Fail(message) => failure(response, 422, "Invalid", message),
        Answer::Unavailable(message) => failure(response, 500, "InternalError", message),
    };
    response.into_review()
}

fn failure(
    response: AdmissionResponse,
    code: u16,
    reason: &str,
    message: String,
) -> AdmissionResponse {
    let mut response = response.deny(message);
    response.result.code = code;
    response.result.reason = reason.into();
    response.result.status = Some(StatusSummary::Failure);
    response
}

fn deny(response: AdmissionResponse, errors: &[FieldError]) -> AdmissionResponse {
    let policy = !errors.is_empty() && errors.iter().all(|e| e.kind == Kind::Forbidden);
    let (code, reason) = if policy {
        (403, "Forbidden")
    } else {
        (422, "Invalid")
    };
    let mut response = failure(response, code, reason, summary(errors));
    response.result.details = Some(StatusDetails {
        name: String::new(),
        group: String::new(),
        kind: String::new(),
        uid: String::new(),
        causes: errors.iter().map(cause).collect(),
        retry_after_seconds: 0,
    });
    response
}

/// A finding as kube-apiserver reports a field error in a Status.
pub fn cause(error: &FieldError) -> StatusCause {
    let text = error.to_string();
    let message = text
        .strip_prefix(&format!("{}: ", error.path))
        .unwrap_or(&text)
        .to_string();
    StatusCause {
        reason: error.kind.cause_type().into(),
        message,
        field: error.path.clone(),
    }
}

#[cfg(test)]
mod tests;
