//! Field errors in the shape of Kubernetes' `field.ErrorList`: a path, a kind and a detail.

use std::fmt;

/// The kinds of `k8s.io/apimachinery/pkg/util/validation/field` errors the rules produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Required,
    Invalid,
    NotSupported,
    Forbidden,
    Duplicate,
    TooMany,
    NotFound,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Kind::Required => "Required value",
            Kind::Invalid => "Invalid value",
            Kind::NotSupported => "Unsupported value",
            Kind::Forbidden => "Forbidden",
            Kind::Duplicate => "Duplicate value",
            Kind::TooMany => "Too many",
            Kind::NotFound => "Not found",
        }
    }
}

impl Kind {
    /// The `StatusCause` type kube-apiserver gives a field error of this kind.
    pub fn cause_type(self) -> &'static str {
        match self {
            Kind::Required => "FieldValueRequired",
            Kind::Invalid => "FieldValueInvalid",
            Kind::NotSupported => "FieldValueNotSupported",
            Kind::Forbidden => "FieldValueForbidden",
            Kind::Duplicate => "FieldValueDuplicate",
            Kind::TooMany => "FieldValueTooMany",
            Kind::NotFound => "FieldValueNotFound",
        }
    }
}

/// One finding: `path: <kind>: detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub kind: Kind,
    pub detail: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.kind.text())?;
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// A field path being built up: `spec.providerConfig.metalControlPlanes[prod]`.
#[derive(Debug, Clone)]
pub struct Path(String);

impl Path {
    pub fn new(root: &str) -> Self {
        Self(root.to_string())
    }

    pub fn child(&self, name: &str) -> Self {
        Self(format!("{}.{name}", self.0))
    }

    pub fn index(&self, i: usize) -> Self {
        Self(format!("{}[{i}]", self.0))
    }

    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    pub fn error(&self, kind: Kind, detail: impl Into<String>) -> FieldError {
        FieldError {
            path: self.0.clone(),
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The detail of a `NotSupported` error, as Kubernetes writes it:
/// `"x": supported values: "a", "b"`.
pub fn not_supported(value: &str, supported: &[String]) -> String {
    let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
    format!("{value:?}: supported values: {}", quoted.join(", "))
}

/// All findings joined as Kubernetes prints an aggregate: `[a, b]`, or the one error alone.
pub fn summary(errors: &[FieldError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => format!(
            "[{}]",
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_print_like_kubernetes_field_errors() {
        let path = Path::new("spec")
            .child("providerConfig")
            .key("prod")
            .index(2);
        let one = path.error(Kind::Required, "must be set");
        assert_eq!(
            one.to_string(),
            "spec.providerConfig[prod][2]: Required value: must be set"
        );
        let two = Path::new("data").error(Kind::Forbidden, "");
        assert_eq!(summary(std::slice::from_ref(&one)), one.to_string());
        assert_eq!(
            summary(&[one.clone(), two]),
            format!("[{one}, data: Forbidden]")
        );
    }
}
