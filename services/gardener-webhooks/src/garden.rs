//! The garden cluster's admission (reference §1.7): which rule a review gets, and what it
//! must read first. The rules themselves are in [`crate::core`].

use std::sync::Arc;

use serde_json::Value;

use crate::core::defaulter::{self, Defaults};
use crate::core::field::{FieldError, Kind, Path};
use crate::core::{bindings, cloudprofile, secret, shoot};
use crate::objects::{Objects, ProfileRef};
use crate::review::{Answer, Review};

const CORE: &str = "core.gardener.cloud";
const SECURITY: &str = "security.gardener.cloud";

fn verdict(errors: Vec<FieldError>) -> Answer {
    if errors.is_empty() {
        Answer::Allow
    } else {
        Answer::Deny(errors)
    }
}

/// `/webhooks/validate`: Shoots, CloudProfiles, SecretBindings and CredentialsBindings. Other
/// kinds and operations are allowed untouched.
pub async fn validate(review: &Review, objects: &dyn Objects) -> Answer {
    if !review.writes() {
        return Answer::Allow;
    }
    let handled = matches!(
        (review.group(), review.kind()),
        (CORE, "Shoot" | "CloudProfile" | "SecretBinding") | (SECURITY, "CredentialsBinding")
    );
    if !handled {
        return Answer::Allow;
    }
    let (object, old) = match review.objects() {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match review.kind() {
        "Shoot" => validate_shoot(object, old, objects).await,
        "CloudProfile" => verdict(match old {
            None => cloudprofile::validate(object),
            Some(old) => cloudprofile::validate_update(old, object),
        }),
        "SecretBinding" => validate_binding(bindings::secret_binding(old, object), objects).await,
        _ => validate_binding(bindings::credentials_binding(old, object), objects).await,
    }
}

/// The CloudProfile a Shoot names: `spec.cloudProfile` (kind and name), else the older
/// `spec.cloudProfileName`.
pub fn profile_ref(shoot: &Value) -> Result<ProfileRef, FieldError> {
    let spec = Path::new("spec");
    let text = |pointer: &str| {
        shoot
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(name) = text("/spec/cloudProfile/name") {
        return match text("/spec/cloudProfile/kind").unwrap_or("CloudProfile") {
            "CloudProfile" => Ok(ProfileRef::CloudProfile(name.into())),
            "NamespacedCloudProfile" => Ok(ProfileRef::Namespaced {
                namespace: text("/metadata/namespace").unwrap_or_default().into(),
                name: name.into(),
            }),
            other => Err(spec.child("cloudProfile").child("kind").error(
                Kind::NotSupported,
                format!(
                    "{other:?}: supported values: \"CloudProfile\", \"NamespacedCloudProfile\""
                ),
            )),
        };
    }
    text("/spec/cloudProfileName")
        .map(|name| ProfileRef::CloudProfile(name.into()))
        .ok_or_else(|| {
            spec.child("cloudProfileName")
                .error(Kind::Required, "the shoot must name its cloud profile")
        })
}

/// The Shoot's CloudProfile, or the answer when there is none to check against.
pub async fn profile_of(shoot: &Value, objects: &dyn Objects) -> Result<Arc<Value>, Answer> {
    let reference = profile_ref(shoot).map_err(|e| Answer::Deny(vec![e]))?;
    match objects.cloud_profile(&reference).await {
        Ok(Some(profile)) => Ok(profile),
        Ok(None) => {
            let (path, what) = match &reference {
                ProfileRef::CloudProfile(name) => {
                    let path = if shoot.pointer("/spec/cloudProfile/name").is_some() {
                        "spec.cloudProfile.name"
                    } else {
                        "spec.cloudProfileName"
                    };
                    (path, format!("cloud profile {name:?}"))
                }
                ProfileRef::Namespaced { namespace, name } => (
                    "spec.cloudProfile.name",
                    format!("namespaced cloud profile {namespace}/{name}"),
                ),
            };
            Err(Answer::Deny(vec![
                Path::new(path).error(Kind::NotFound, format!("{what} does not exist")),
            ]))
        }
        Err(error) => Err(Answer::Unavailable(format!(
            "reading the shoot's cloud profile: {error}"
        ))),
    }
}

async fn validate_shoot(shoot: &Value, old: Option<&Value>, objects: &dyn Objects) -> Answer {
    let profile = match profile_of(shoot, objects).await {
        Ok(profile) => profile,
        Err(answer) => return answer,
    };
    verdict(match old {
        None => shoot::validate_create(shoot, &profile),
        Some(old) => shoot::validate_update(old, shoot, &profile),
    })
}

async fn validate_binding(
    reference: Result<Option<bindings::SecretRef>, FieldError>,
    objects: &dyn Objects,
) -> Answer {
    let reference = match reference {
        Ok(Some(reference)) => reference,
        Ok(None) => return Answer::Allow,
        Err(error) => return Answer::Deny(vec![error]),
    };
    match objects.secret(&reference.namespace, &reference.name).await {
        Ok(found) => verdict(bindings::check_referenced(&reference, found.as_deref())),
        Err(error) => Answer::Unavailable(format!(
            "reading secret {}/{}: {error}",
            reference.namespace, reference.name
        )),
    }
}

/// `/webhooks/validate/secrets`: the Secret rule on create, and on update when the data
/// changed.
pub fn validate_secret(review: &Review) -> Answer {
    if !review.writes() || (review.group(), review.kind()) != ("", "Secret") {
        return Answer::Allow;
    }
    let (object, old) = match review.objects() {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    match old {
        Some(old) if !secret::data_changed(old, object) => Answer::Allow,
        _ => verdict(secret::validate(object)),
    }
}

/// `/webhooks/mutate`: the Shoot defaulter. Shoots being deleted pass unchanged.
pub async fn mutate(review: &Review, objects: &dyn Objects, defaults: &Defaults) -> Answer {
    if !review.writes() || (review.group(), review.kind()) != (CORE, "Shoot") {
        return Answer::Allow;
    }
    let (object, _) = match review.objects() {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    if object.pointer("/metadata/deletionTimestamp").is_some() {
        return Answer::Allow;
    }
    let profile = match profile_of(object, objects).await {
        Ok(profile) => profile,
        Err(answer) => return answer,
    };
    match defaulter::default_shoot(object, &profile, defaults) {
        Ok(after) => Answer::Patch {
            before: object.clone(),
            after,
        },
        Err(errors) => Answer::Deny(errors),
    }
}

#[cfg(test)]
mod tests;
