//! Failures as the apiserver reports them: a `meta/v1 Status` body whose `code`, `reason` and
//! `details` match what client-go and kube-rs branch on (409 Conflict, 404 NotFound, 422 Invalid,
//! 410 Expired ...).

use serde_json::{Value, json};

/// One failed field of a 422 Invalid.
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    pub message: String,
}

/// An API failure; rendered as a `Status` object with the same HTTP code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{code} {reason}: {message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind`, when the failure concerns one object.
    pub details: Option<Box<(String, String, String)>>,
    pub causes: Vec<Cause>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
            causes: Vec::new(),
        }
    }

    fn about(mut self, group: &str, kind: &str, name: &str) -> Self {
        self.details = Some(Box::new((name.into(), group.into(), kind.into())));
        self
    }

    /// `plural.group`, as the apiserver names a resource in messages.
    fn qualified(plural: &str, group: &str) -> String {
        if group.is_empty() {
            plural.to_string()
        } else {
            format!("{plural}.{group}")
        }
    }

    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let what = Self::qualified(plural, group);
        Self::new(404, "NotFound", format!("{what} \"{name}\" not found"))
            .about(group, plural, name)
    }

    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let what = Self::qualified(plural, group);
        Self::new(
            409,
            "AlreadyExists",
            format!("{what} \"{name}\" already exists"),
        )
        .about(group, plural, name)
    }

    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> Self {
        let what = Self::qualified(plural, group);
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {what} \"{name}\": {why}"),
        )
        .about(group, plural, name)
    }

    /// The object changed since the client read it.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        Self::conflict(
            group,
            plural,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect::<Vec<_>>()
            .join(", ");
        let what = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let mut err = Self::new(
            422,
            "Invalid",
            format!("{what} \"{name}\" is invalid: {list}"),
        )
        .about(group, kind, name);
        err.causes = causes;
        err
    }

    /// A 422 for a single field.
    pub fn invalid_field(group: &str, kind: &str, name: &str, field: &str, message: &str) -> Self {
        Self::invalid(
            group,
            kind,
            name,
            vec![Cause {
                reason: "FieldValueInvalid",
                field: field.into(),
                message: message.into(),
            }],
        )
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"
            ),
        )
    }

    /// A 415 with a reason of our own (protobuf for a kind that has none).
    pub fn unsupported_media_type_because(content_type: &str, why: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?}): {why}"
            ),
        )
    }

    /// A 500, as the apiserver answers when something behind it failed.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }

    /// The requested resourceVersion is older than the retained history.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// A path no registered resource serves.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// The `meta/v1 Status` body.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.details.is_some() || !self.causes.is_empty() {
            let mut details = json!({});
            if let Some(d) = &self.details {
                let (name, group, kind) = d.as_ref();
                details = json!({ "name": name, "group": group, "kind": kind });
            }
            if !self.causes.is_empty() {
                details["causes"] = self
                    .causes
                    .iter()
                    .map(|c| json!({ "reason": c.reason, "message": c.message, "field": c.field }))
                    .collect();
            }
            status["details"] = details;
        }
        status
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflict_reads_like_the_apiserver() {
        let status =
            ApiError::stale("metal-stack.io", "clusterwidenetworkpolicies", "a").to_status();
        assert_eq!(status["code"], 409);
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(
            status["message"],
            "Operation cannot be fulfilled on clusterwidenetworkpolicies.metal-stack.io \"a\": \
             the object has been modified; please apply your changes to the latest version and try again"
        );
        assert_eq!(status["details"]["name"], "a");
    }

    #[test]
    fn invalid_lists_every_cause_with_its_field() {
        let err = ApiError::invalid(
            "metal-stack.io",
            "ClusterwideNetworkPolicy",
            "p",
            vec![Cause {
                reason: "FieldValueTypeInvalid",
                field: "spec.egress[0].ports[0].port".into(),
                message: "Invalid value: \"x\": must be of type integer".into(),
            }],
        );
        let status = err.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(
            status["details"]["causes"][0]["field"],
            "spec.egress[0].ports[0].port"
        );
        assert!(status["message"].as_str().unwrap().starts_with(
            "ClusterwideNetworkPolicy.metal-stack.io \"p\" is invalid: spec.egress[0].ports[0].port"
        ));
    }
}
