//! The health checks (upstream's healthcheck controller): every 30 s, for every ControlPlane
//! and Worker of type metal that is neither being deleted nor migrated, read what its checks
//! look at, compute its conditions ([`core`]) and write `status.conditions` when they changed,
//! leaving the conditions of other types alone.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

use super::controlplane::managed_resource_resource;
use super::infrastructure::{FIREWALL_DEPLOYMENT, firewall_deployment_resource};
use super::{Shared, is_ours, now, resource};
use crate::core::extensions::controlplane::{seed, shoot as shoot_resources, storage, values};
use crate::core::extensions::health::{
    self as core, CONTROL_PLANE_HEALTHY, Check, EVERY_NODE_READY, SYSTEM_COMPONENTS_HEALTHY,
};
use crate::core::extensions::operation::{MIGRATE, OPERATION_ANNOTATION};
use crate::core::extensions::shoot::Shoot;
use crate::leading::Stop;

/// Upstream's health-check sync period.
pub const PERIOD: Duration = Duration::from_secs(30);

/// Checks the health of every ControlPlane and Worker of type metal until `stop`.
pub async fn run(shared: Arc<Shared>, stop: Stop) {
    run_every(shared, stop, PERIOD).await;
}

/// [`run`] with its period.
pub async fn run_every(shared: Arc<Shared>, mut stop: Stop, period: Duration) {
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = check_all(&shared) => {}
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ControlPlane,
    Worker,
}

async fn check_all(shared: &Shared) {
    for (kind, name, plural) in [
        (Kind::ControlPlane, "ControlPlane", "controlplanes"),
        (Kind::Worker, "Worker", "workers"),
    ] {
        let resource = resource(name, plural);
        let api: Api<DynamicObject> = Api::all_with(shared.client.clone(), &resource);
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                for object in list.items {
                    check(shared, kind, &resource, object).await;
                }
            }
            Err(error) => tracing::debug!(kind = name, %error, "health check: listing failed"),
        }
    }
}

/// Upstream skips objects being deleted or migrated.
fn skipped(value: &Value) -> bool {
    let migrating = value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(OPERATION_ANNOTATION))
        .and_then(Value::as_str)
        == Some(MIGRATE)
        || value
            .pointer("/status/lastOperation/type")
            .and_then(Value::as_str)
            == Some("Migrate");
    !is_ours(value) || value.pointer("/metadata/deletionTimestamp").is_some() || migrating
}

async fn check(shared: &Shared, kind: Kind, resource: &ApiResource, object: DynamicObject) {
    let Ok(value) = serde_json::to_value(&object) else {
        return;
    };
    if skipped(&value) {
        return;
    }
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let shoot = match super::shoot(&shared.client, &namespace).await {
        Ok(shoot) => shoot,
        Err(error) => {
            tracing::debug!(%namespace, %error, "health check: no shoot");
            return;
        }
    };
    let types: &[&str] = match kind {
        Kind::ControlPlane => &[CONTROL_PLANE_HEALTHY, SYSTEM_COMPONENTS_HEALTHY],
        Kind::Worker => &[EVERY_NODE_READY],
    };
    let checks: Vec<(&str, Check)> = if shoot.hibernated {
        types.iter().map(|t| (*t, Check::hibernated())).collect()
    } else {
        match kind {
            Kind::ControlPlane => control_plane(shared, &namespace, &value, &shoot).await,
            Kind::Worker => vec![(EVERY_NODE_READY, worker(shared, &namespace, &value).await)],
        }
    };
    let existing = value
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(conditions) = core::merge(&existing, &checks, &now()) else {
        return;
    };
    // Guarded by the resourceVersion: a list replaces the whole list, so a concurrent change
    // of another condition must not be overwritten (the next period tries again).
    let patch = json!({
        "metadata": {"resourceVersion": object.metadata.resource_version},
        "status": {"conditions": conditions},
    });
    let api: Api<DynamicObject> = Api::namespaced_with(shared.client.clone(), &namespace, resource);
    if let Err(error) = api
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        tracing::debug!(%namespace, %name, %error, "health check: writing the conditions failed");
    }
}

/// Reads an object as JSON; absent (or its kind unknown to the API server) is `None`.
async fn read<K>(api: &Api<K>, name: &str) -> Result<Option<Value>, String>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.get_opt(name).await {
        Ok(found) => found
            .map(|o| serde_json::to_value(o).map_err(|e| e.to_string()))
            .transpose(),
        Err(error) => Err(format!("reading {name}: {error}")),
    }
}

async fn control_plane(
    shared: &Shared,
    namespace: &str,
    value: &Value,
    shoot: &Shoot,
) -> Vec<(&'static str, Check)> {
    let client = shared.client.clone();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let control_plane = match read(&deployments, seed::LB_ALLOCATOR).await {
        Ok(found) => core::control_plane(found.as_ref()),
        Err(why) => Check::error(&why),
    };
    // The storage resource only while csi-lvm is on.
    let csi_lvm = values::control_plane_config(value, shoot)
        .map(|c| c.feature_gates.disable_csi_lvm != Some(true))
        .unwrap_or(true);
    let mut names = vec![shoot_resources::RESOURCE];
    if csi_lvm {
        names.push(storage::RESOURCE);
    }
    let managed: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &managed_resource_resource());
    let firewalls: Api<DynamicObject> =
        Api::namespaced_with(client, namespace, &firewall_deployment_resource());
    let system = async {
        let mut found = Vec::new();
        for name in &names {
            found.push(read(&managed, name).await?);
        }
        let firewall = read(&firewalls, FIREWALL_DEPLOYMENT).await?;
        let resources: Vec<(&str, Option<&Value>)> = names
            .iter()
            .copied()
            .zip(found.iter().map(Option::as_ref))
            .collect();
        Ok::<_, String>(core::system_components(&resources, firewall.as_ref()))
    };
    let system = system.await.unwrap_or_else(|why| Check::error(&why));
    vec![
        (CONTROL_PLANE_HEALTHY, control_plane),
        (SYSTEM_COMPONENTS_HEALTHY, system),
    ]
}

async fn worker(shared: &Shared, namespace: &str, worker: &Value) -> Check {
    let machines: Api<DynamicObject> =
        Api::namespaced_with(shared.client.clone(), namespace, &machine_resource());
    match machines.list(&ListParams::default()).await {
        Ok(list) => {
            let machines: Vec<Value> = list
                .items
                .into_iter()
                .filter_map(|m| serde_json::to_value(m).ok())
                .collect();
            core::every_node_ready(worker, &machines)
        }
        // No Machine kind: no machines.
        Err(kube::Error::Api(status)) if status.code == 404 => core::every_node_ready(worker, &[]),
        Err(error) => Check::error(&format!("listing machines: {error}")),
    }
}

fn machine_resource() -> ApiResource {
    ApiResource::erase::<kube_resources::mcm::Machine>(&())
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use mesh_controller::recorder::Events;

    use super::*;
    use crate::extensions::{Config, MetalClients};

    #[test]
    fn deleted_migrating_and_foreign_objects_are_not_checked() {
        let ours = json!({"metadata": {"name": "cp"}, "spec": {"type": "metal"}});
        assert!(!skipped(&ours));
        let mut deleting = ours.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(skipped(&deleting));
        let mut migrating = ours.clone();
        migrating["metadata"]["annotations"] = json!({OPERATION_ANNOTATION: MIGRATE});
        assert!(skipped(&migrating));
        let mut migrated = ours.clone();
        migrated["status"] = json!({"lastOperation": {"type": "Migrate"}});
        assert!(skipped(&migrated));
        assert!(skipped(&json!({"spec": {"type": "aws"}})));
    }

    #[tokio::test]
    async fn the_checks_stop_promptly() {
        // An API server nobody listens on: every read fails at once.
        let config = kube::Config::new("http://127.0.0.1:9".parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let shared = Arc::new(Shared {
            events: Events::new(client.clone(), "test"),
            metal: MetalClients::new(Duration::from_secs(1), None),
            config: Config::default(),
            client,
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let stop: Stop = Box::pin(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(run_every(shared, stop, Duration::from_millis(10)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!task.is_finished(), "runs until stopped");
        let started = Instant::now();
        tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .unwrap()
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
