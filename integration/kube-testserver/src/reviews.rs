//! The review APIs services delegate authentication and authorization to (kube-rbac-proxy,
//! aggregated apiservers): `authentication.k8s.io/v1` TokenReview and `authorization.k8s.io/v1`
//! SubjectAccessReview. Both are create-only and never stored: the answer is the posted object
//! with its `status` filled in.
//!
//! The functions here build those answers from plain data (a token lookup, an RBAC
//! [`Policy`]); [`crate::http`] does the I/O, the counting and the injected faults.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::kinds::{AUTHENTICATION_GROUP, AUTHORIZATION_GROUP};
use crate::rbac::{self, Attributes, NonResourceAttributes, Policy, Request, ResourceAttributes};
use crate::status::{ApiError, ApiResult, Cause};
use crate::tokens::UserInfo;

/// How long a review waits under [`ReviewFault::Hang`] before it answers.
pub const HANG: Duration = Duration::from_secs(600);

/// A review endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Review {
    Token,
    SubjectAccess,
}

impl Review {
    /// The review a `(group, version, plural)` path names, if any.
    pub fn of_path(group: &str, version: &str, plural: &str) -> Option<Self> {
        match (group, version, plural) {
            (AUTHENTICATION_GROUP, "v1", "tokenreviews") => Some(Self::Token),
            (AUTHORIZATION_GROUP, "v1", "subjectaccessreviews") => Some(Self::SubjectAccess),
            _ => None,
        }
    }

    fn group_kind(self) -> (&'static str, &'static str) {
        match self {
            Self::Token => (AUTHENTICATION_GROUP, "TokenReview"),
            Self::SubjectAccess => (AUTHORIZATION_GROUP, "SubjectAccessReview"),
        }
    }
}

/// How review endpoints misbehave, so clients' failure handling can be tested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReviewFault {
    /// Answer normally.
    #[default]
    None,
    /// HTTP 200, `Content-Type: application/json`, body `not json`.
    Garbage,
    /// Answer only after about ten minutes.
    Hang,
    /// HTTP 500 with a `Status` body.
    Error,
}

impl ReviewFault {
    /// `none`, `garbage`, `hang`, `error`.
    pub fn parse(mode: &str) -> Option<Self> {
        match mode {
            "none" => Some(Self::None),
            "garbage" => Some(Self::Garbage),
            "hang" => Some(Self::Hang),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Garbage => "garbage",
            Self::Hang => "hang",
            Self::Error => "error",
        }
    }
}

/// Review POSTs received so far (answered or not, faults included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReviewCounts {
    pub token_reviews: u64,
    pub subject_access_reviews: u64,
}

impl ReviewCounts {
    /// `{"tokenReviews": n, "subjectAccessReviews": m}`.
    pub fn to_json(self) -> Value {
        json!({
            "tokenReviews": self.token_reviews,
            "subjectAccessReviews": self.subject_access_reviews,
        })
    }
}

/// The posted object, checked to be this review's type; `metadata.creationTimestamp` is null
/// as the apiserver answers for objects it does not store.
fn posted(review: Review, body: Value) -> ApiResult<Map<String, Value>> {
    let (group, kind) = review.group_kind();
    let Value::Object(mut obj) = body else {
        return Err(ApiError::bad_request(format!(
            "the body of a {kind} must be a JSON object"
        )));
    };
    let api_version = format!("{group}/v1");
    if let Some(v) = obj.get("apiVersion").and_then(Value::as_str)
        && v != api_version
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version ({api_version})"
        )));
    }
    if let Some(k) = obj.get("kind").and_then(Value::as_str)
        && k != kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({k}) does not match the expected kind ({kind})"
        )));
    }
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
    meta.entry("creationTimestamp").or_insert(Value::Null);
    if !obj.get("spec").is_some_and(Value::is_object) {
        obj.insert("spec".into(), json!({}));
    }
    obj.remove("status");
    Ok(obj)
}

/// Answers a TokenReview: `lookup` maps a bearer token to its user.
pub fn token_review(
    body: Value,
    lookup: impl FnOnce(&str) -> Option<UserInfo>,
) -> ApiResult<Value> {
    let mut obj = posted(Review::Token, body)?;
    let spec = &obj["spec"];
    let token = spec
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(ApiError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    let audiences = spec
        .get("audiences")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .cloned();
    let status = match lookup(token) {
        Some(user) => {
            let user = user.authenticated();
            let mut info = json!({"username": user.username, "groups": user.groups});
            if !user.uid.is_empty() {
                info["uid"] = json!(user.uid);
            }
            let mut status = json!({"authenticated": true, "user": info});
            if let Some(audiences) = audiences {
                // Static tokens are valid for any audience.
                status["audiences"] = Value::Array(audiences);
            }
            status
        }
        None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
    };
    obj.insert("status".into(), status);
    Ok(Value::Object(obj))
}

/// The RBAC request a SubjectAccessReview's spec asks about, or the 422 the apiserver gives.
pub fn access_request(spec: &Value) -> ApiResult<Request> {
    let invalid = |field: &str, message: &str| {
        ApiError::invalid(
            AUTHORIZATION_GROUP,
            "SubjectAccessReview",
            "",
            vec![Cause {
                reason: "FieldValueInvalid",
                field: field.into(),
                message: message.into(),
            }],
        )
    };
    let present = |f: &str| spec.get(f).filter(|v| !v.is_null());
    let parse_error =
        |field: &str, e: serde_json::Error| invalid(field, &format!("Invalid value: {e}"));
    let attributes = match (
        present("resourceAttributes"),
        present("nonResourceAttributes"),
    ) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "spec.nonResourceAttributes",
                "Invalid value: \"\": cannot be specified in combination with resourceAttributes",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "spec.resourceAttributes",
                "Invalid value: \"\": exactly one of nonResourceAttributes or resourceAttributes must be specified",
            ));
        }
        (Some(r), None) => Attributes::Resource(
            ResourceAttributes::deserialize(r)
                .map_err(|e| parse_error("spec.resourceAttributes", e))?,
        ),
        (None, Some(n)) => Attributes::NonResource(
            NonResourceAttributes::deserialize(n)
                .map_err(|e| parse_error("spec.nonResourceAttributes", e))?,
        ),
    };
    let user = match present("user") {
        None => String::new(),
        Some(Value::String(u)) => u.clone(),
        Some(_) => return Err(invalid("spec.user", "Invalid value: must be a string")),
    };
    let groups = match present("groups") {
        None => Vec::new(),
        Some(Value::Array(groups)) if groups.iter().all(Value::is_string) => groups
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(_) => {
            return Err(invalid(
                "spec.groups",
                "Invalid value: must be a list of strings",
            ));
        }
    };
    if user.is_empty() && groups.is_empty() {
        return Err(invalid(
            "spec.user",
            "Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    Ok(Request {
        user,
        groups,
        attributes,
    })
}

/// Answers a SubjectAccessReview against `policy`.
pub fn subject_access_review(body: Value, policy: &Policy) -> ApiResult<Value> {
    let mut obj = posted(Review::SubjectAccess, body)?;
    let request = access_request(&obj["spec"])?;
    let decision = rbac::authorize(policy, &request);
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    obj.insert("status".into(), status);
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice(token: &str) -> Option<UserInfo> {
        (token == "t-alice").then(|| UserInfo {
            username: "alice".into(),
            uid: "1".into(),
            groups: vec!["devs".into()],
        })
    }

    #[test]
    fn token_reviews_echo_the_spec_and_fill_the_status() {
        let answer = token_review(
            json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview",
                   "spec": {"token": "t-alice", "audiences": ["api"]}}),
            alice,
        )
        .unwrap();
        assert_eq!(answer["metadata"], json!({"creationTimestamp": null}));
        assert_eq!(answer["spec"]["token"], "t-alice");
        assert_eq!(
            answer["status"],
            json!({"authenticated": true, "audiences": ["api"],
                   "user": {"username": "alice", "uid": "1", "groups": ["devs", "system:authenticated"]}})
        );
        let unknown = token_review(json!({"spec": {"token": "nope"}}), alice).unwrap();
        assert_eq!(unknown["kind"], "TokenReview");
        assert_eq!(
            unknown["status"],
            json!({"authenticated": false, "user": {}, "error": "invalid bearer token"})
        );
        let err = token_review(json!({"spec": {}}), alice).unwrap_err();
        assert_eq!(err.code, 400);
        let err = token_review(
            json!({"kind": "SubjectAccessReview", "spec": {"token": "t-alice"}}),
            alice,
        )
        .unwrap_err();
        assert_eq!(err.code, 400);
    }

    #[test]
    fn subject_access_reviews_need_one_kind_of_attributes_and_someone() {
        let code = |spec: Value| {
            subject_access_review(json!({ "spec": spec }), &Policy::default())
                .map(|a| a["status"].clone())
                .map_err(|e| (e.code, e.causes[0].field.clone()))
        };
        assert_eq!(
            code(json!({"user": "a"})),
            Err((422, "spec.resourceAttributes".into()))
        );
        assert_eq!(
            code(json!({"user": "a", "resourceAttributes": {}, "nonResourceAttributes": {}})),
            Err((422, "spec.nonResourceAttributes".into()))
        );
        assert_eq!(
            code(json!({"resourceAttributes": {"verb": "get"}})),
            Err((422, "spec.user".into()))
        );
        assert_eq!(
            code(json!({"user": "a", "resourceAttributes": {"verb": "get"}})),
            Ok(json!({"allowed": false}))
        );
        assert_eq!(
            code(
                json!({"groups": ["system:masters"], "nonResourceAttributes": {"path": "/x", "verb": "get"}})
            ),
            Ok(json!({"allowed": true}))
        );
    }

    #[test]
    fn faults_parse_from_their_names() {
        for fault in [
            ReviewFault::None,
            ReviewFault::Garbage,
            ReviewFault::Hang,
            ReviewFault::Error,
        ] {
            assert_eq!(ReviewFault::parse(fault.as_str()), Some(fault));
        }
        assert_eq!(ReviewFault::parse("slow"), None);
    }
}
