//! The seed and shoot mutations (reference §1.6): what a review must read first (the shoot
//! namespace's Cluster, its `cloudprovider` Secret), then the ensurers of [`crate::core::mutation`].

use serde_json::Value;

use crate::core::mutation::{self, Cluster, Context, SeedConfig, Webhook};
use crate::objects::Objects;
use crate::review::{Answer, Review};

/// The Secret whose checksum the control-plane Deployments carry.
const CLOUDPROVIDER: &str = "cloudprovider";

/// Mutates one reviewed object; anything not handled passes unchanged.
pub async fn mutate(
    webhook: Webhook,
    review: &Review,
    objects: &dyn Objects,
    config: &SeedConfig,
) -> Answer {
    if !review.writes() {
        return Answer::Allow;
    }
    let (object, old) = match review.objects() {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let namespace = match review.namespace() {
        "" => object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        namespace => namespace.to_string(),
    };
    let namespace = namespace.as_str();
    // The ensurers read the namespace off the object (the sidecar's --namespace); a CREATE
    // may leave it to the request. The patch is taken against this copy, so it never
    // touches the namespace.
    let mut object = object.clone();
    if object.pointer("/metadata/namespace").is_none()
        && let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut)
    {
        metadata.insert("namespace".into(), Value::String(namespace.to_string()));
    }
    let needs = mutation::needs(webhook, &object);
    let cluster = if needs.cluster {
        match objects.cluster(namespace).await {
            Ok(Some(found)) => match Cluster::from_object(&found) {
                Ok(cluster) => Some(cluster),
                Err(error) => {
                    return Answer::Fail(format!(
                        "the Cluster {namespace:?} cannot be read: {error}"
                    ));
                }
            },
            Ok(None) => None,
            Err(error) => {
                return Answer::Unavailable(format!("reading the Cluster {namespace:?}: {error}"));
            }
        }
    } else {
        None
    };
    let secret = if needs.cloudprovider_secret {
        match objects.secret(namespace, CLOUDPROVIDER).await {
            Ok(found) => found,
            Err(error) => {
                return Answer::Unavailable(format!(
                    "reading the Secret {namespace}/{CLOUDPROVIDER}: {error}"
                ));
            }
        }
    } else {
        None
    };
    let context = Context {
        old,
        cluster: cluster.as_ref(),
        cloudprovider_data: secret
            .as_ref()
            .and_then(|s| s.get("data"))
            .and_then(Value::as_object),
        config,
    };
    match mutation::mutate(webhook, &object, &context) {
        Ok(after) => Answer::Patch {
            before: object,
            after,
        },
        Err(message) => Answer::Fail(message),
    }
}
