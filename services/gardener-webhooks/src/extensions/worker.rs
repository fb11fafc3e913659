//! The Worker controller (kind Worker, type metal): reads what the decisions of
//! [`crate::core::extensions::worker`] need (the node network, the private network from
//! metal-api, the pools' userdata, the machine objects of the shoot namespace), applies what
//! they return and deletes what they call obsolete.
//!
//! Writes are server-side applies with field manager `provider-metal` (forced: these objects
//! are ours), so fields others own (FCM's injected firewall userdata, the autoscaler's
//! replicas between reconciles) are left alone.
//!
//! A control-plane migration moves the firewall as upstream does: migrate backs the Firewalls
//! up into the Infrastructure's state and releases the firewall objects (finalizers dropped,
//! deleted orphaning), restore creates the Firewalls again from that state once
//! firewall-controller-manager is ready, then reconciles. Upstream's generic worker actuator
//! also carries the machine objects over (their state in the Worker's status, shallow-deleted
//! on migrate, recreated on restore); this controller does not: its migrate leaves them in
//! place and its restore reconciles, so machine-lifecycle on the new seed allocates machines
//! afresh.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Resource as _;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, PropagationPolicy,
};
use kube_resources::mcm as mcm_kinds;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{Actuator, MANAGER, Outcome, Request, Shared, kube_error, now, secret_data};
use crate::core::extensions::operation::ExtError;
use crate::core::extensions::worker::{
    self as decide, Credential, Existing, Inputs, MachineImage, deletion, firewall, machines,
};

pub struct Worker;

/// Waiting for the Infrastructure controller to allocate the node network.
const NODE_NETWORK_POLL: Duration = Duration::from_secs(10);
/// Waiting for the OS controller's userdata.
const USER_DATA_POLL: Duration = Duration::from_secs(10);
/// Waiting for firewall-controller-manager before restoring the firewalls (upstream's 10 s).
const FIREWALL_MANAGER_POLL: Duration = Duration::from_secs(10);
/// The ControlPlane's firewall-controller-manager Deployment.
const FIREWALL_MANAGER: &str = crate::core::extensions::controlplane::firewall_manager::NAME;
/// Old classes kept for machines still rolling: look again this often.
const KEPT_CLASSES_RESYNC: Duration = Duration::from_secs(30);

/// Whether the missing FirewallDeployment kind was logged (once per process).
static FIREWALL_KIND_MISSING: AtomicBool = AtomicBool::new(false);

/// MCM's kinds, from their typed definitions in kube-resources.
fn mcm<K: kube::Resource<DynamicType = ()>>() -> ApiResource {
    ApiResource::erase::<K>(&())
}

fn fcm(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("firewall.metal-stack.io", "v2", kind),
        plural,
    )
}

/// The APIs of the shoot namespace.
struct Apis {
    deployments: Api<DynamicObject>,
    classes: Api<DynamicObject>,
    sets: Api<DynamicObject>,
    machines: Api<DynamicObject>,
    secrets: Api<Secret>,
    firewall_deployments: Api<DynamicObject>,
    firewall_sets: Api<DynamicObject>,
    firewalls: Api<DynamicObject>,
    infrastructures: Api<DynamicObject>,
}

impl Apis {
    fn new(shared: &Shared, namespace: &str) -> Self {
        let api = |resource: &ApiResource| {
            Api::namespaced_with(shared.client.clone(), namespace, resource)
        };
        Apis {
            deployments: api(&mcm::<mcm_kinds::MachineDeployment>()),
            classes: api(&mcm::<mcm_kinds::MachineClass>()),
            sets: api(&mcm::<mcm_kinds::MachineSet>()),
            machines: api(&mcm::<mcm_kinds::Machine>()),
            secrets: Api::namespaced(shared.client.clone(), namespace),
            firewall_deployments: api(&fcm("FirewallDeployment", "firewalldeployments")),
            firewall_sets: api(&fcm("FirewallSet", "firewallsets")),
            firewalls: api(&fcm("Firewall", "firewalls")),
            infrastructures: api(&super::resource("Infrastructure", "infrastructures")),
        }
    }
}

fn is_not_found(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 404)
}

fn to_values<K: serde::Serialize>(items: &[K]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect()
}

/// The objects of a list; `None` when the kind is not served.
async fn list<K>(
    api: &Api<K>,
    params: &ListParams,
    what: &str,
) -> Result<Option<Vec<Value>>, ExtError>
where
    K: Clone + DeserializeOwned + Debug + serde::Serialize,
{
    match api.list(params).await {
        Ok(list) => Ok(Some(to_values(&list.items))),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(kube_error(&format!("listing {what}"), &e)),
    }
}

/// One object, `None` when it (or its kind) does not exist.
async fn get(api: &Api<DynamicObject>, name: &str, what: &str) -> Result<Option<Value>, ExtError> {
    match api.get(name).await {
        Ok(object) => Ok(serde_json::to_value(&object).ok()),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(kube_error(&format!("reading {what}"), &e)),
    }
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

async fn apply<K>(api: &Api<K>, object: &Value) -> Result<(), kube::Error>
where
    K: Clone + DeserializeOwned + Debug,
{
    let params = PatchParams::apply(MANAGER).force();
    api.patch(name_of(object), &params, &Patch::Apply(object))
        .await
        .map(drop)
}

/// Deletes one object; gone already is fine.
async fn delete<K>(api: &Api<K>, name: &str, what: &str) -> Result<(), ExtError>
where
    K: Clone + DeserializeOwned + Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(kube_error(&format!("deleting {what} {name}"), &e)),
    }
}

fn event(request: &Request<'_>, reason: &str, action: &str, note: String) {
    let regarding = request
        .object
        .object_ref(&super::resource(Worker::KIND, Worker::PLURAL));
    request
        .shared
        .events
        .normal(regarding, reason, action, note);
}

/// The data of the Worker's cloudprovider Secret (`spec.secretRef`).
async fn cloudprovider(
    request: &Request<'_>,
    worker: &decide::Worker,
) -> Result<BTreeMap<String, String>, ExtError> {
    let reference = &worker.spec.secret_ref;
    let namespace = reference.namespace.as_deref().unwrap_or(&worker.namespace);
    let name = reference
        .name
        .as_deref()
        .ok_or_else(|| ExtError::configuration("spec.secretRef.name is not set"))?;
    let secret = request
        .shared
        .secret(namespace, name)
        .await?
        .ok_or_else(|| {
            ExtError::configuration(format!("secret {namespace}/{name} does not exist"))
        })?;
    Ok(secret_data(&secret))
}

/// Pool name → userdata; `Err(reason)` names the first pool whose userdata is not there yet.
async fn user_data(
    shared: &Shared,
    worker: &decide::Worker,
) -> Result<Result<BTreeMap<String, String>, String>, ExtError> {
    let mut found = BTreeMap::new();
    for pool in &worker.spec.pools {
        let (name, key) = decide::user_data_ref(pool)?;
        let data = shared
            .secret(&worker.namespace, name)
            .await?
            .map(|s| secret_data(&s));
        match data.and_then(|mut d| d.remove(key)) {
            Some(text) => found.insert(pool.name.clone(), text),
            None => {
                return Ok(Err(format!(
                    "waiting for the userdata of worker pool {} (secret {name}, key {key})",
                    pool.name
                )));
            }
        };
    }
    Ok(Ok(found))
}

/// Selects the class Secrets.
fn class_secrets() -> ListParams {
    ListParams::default().labels(&format!(
        "{}={}",
        machines::PURPOSE_LABEL,
        machines::PURPOSE_MACHINE_CLASS
    ))
}

async fn existing(apis: &Apis) -> Result<Existing, ExtError> {
    let all = ListParams::default();
    let or_none = |list: Option<Vec<Value>>| list.unwrap_or_default();
    Ok(Existing::from_objects(
        &or_none(list(&apis.deployments, &all, "machine deployments").await?),
        &or_none(list(&apis.classes, &all, "machine classes").await?),
        &or_none(list(&apis.secrets, &class_secrets(), "machine class secrets").await?),
        &or_none(list(&apis.sets, &all, "machine sets").await?),
        &or_none(list(&apis.machines, &all, "machines").await?),
    ))
}

/// Applies the FirewallDeployment; a cluster without the kind (no firewall-controller-manager)
/// goes on without it.
async fn ensure_firewall(
    request: &Request<'_>,
    apis: &Apis,
    worker: &decide::Worker,
    network_id: &str,
) -> Result<(), ExtError> {
    let current = get(
        &apis.firewall_deployments,
        firewall::DEPLOYMENT_NAME,
        "the firewall deployment",
    )
    .await?;
    let current_image = current
        .as_ref()
        .and_then(|d| d.pointer("/spec/template/spec/image"))
        .and_then(Value::as_str);
    let ssh_public_key = worker.ssh_public_key();
    let desired = firewall::deployment(&firewall::Inputs {
        shoot: request.shoot,
        network_id,
        internal_prefixes: &request.shared.config.firewall_internal_prefixes,
        ssh_public_key: ssh_public_key.as_deref(),
        current_image,
    })?;
    match apply(&apis.firewall_deployments, &desired).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => {
            if !FIREWALL_KIND_MISSING.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "firewall.metal-stack.io/v2 FirewallDeployment is not served: shoots get no firewall"
                );
            }
            Ok(())
        }
        Err(e) => Err(kube_error("applying the firewall deployment", &e)),
    }
}

/// Backs the namespace's Firewalls up into the Infrastructure's `status.state`.
async fn store_firewalls(apis: &Apis, infrastructure: Option<&Value>) -> Result<(), ExtError> {
    let Some(infrastructure) = infrastructure else {
        return Ok(());
    };
    let Some(firewalls) = list(&apis.firewalls, &ListParams::default(), "firewalls").await? else {
        return Ok(());
    };
    let state = firewall::state(&firewalls);
    if infrastructure.pointer("/status/state") == Some(&state) {
        return Ok(());
    }
    let name = name_of(infrastructure);
    apis.infrastructures
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"state": state}})),
        )
        .await
        .map(drop)
        .or_else(|e| {
            if is_not_found(&e) {
                Ok(())
            } else {
                Err(kube_error(
                    &format!("writing the state of infrastructure {name}"),
                    &e,
                ))
            }
        })
}

async fn reconcile(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let (shared, shoot) = (request.shared, request.shoot);
    let worker = decide::Worker::from_object(request.value)?;
    let apis = Apis::new(shared, &worker.namespace);
    let infrastructure = shoot_infrastructure(&apis, &shoot.name).await?;
    let infrastructure = infrastructure.as_ref();
    let Some(nodes_cidr) = decide::nodes_cidr(shoot.nodes_cidr.as_deref(), infrastructure) else {
        return Ok(Outcome::pending(
            NODE_NETWORK_POLL,
            "waiting for the node network",
        ));
    };
    // Read once: it authenticates against metal-api and is carried into the class Secrets.
    let credentials = cloudprovider(request, &worker).await?;
    let credential = Credential::from_secret(&credentials)?;
    let metal = shared.metal.client(shoot.endpoint(), &credentials)?;
    let found = metal
        .find_networks(&decide::network_query(shoot.project_id(), &nodes_cidr))
        .await
        .map_err(|e| ExtError::metal("finding the private network", &e))?;
    let found: Vec<String> = found.into_iter().map(|n| n.id).collect();
    let network_id = decide::private_network(&found, shoot.project_id(), &nodes_cidr)?;

    // Upstream's order: the firewall first, then the machines.
    if !shoot.hibernated {
        ensure_firewall(request, &apis, &worker, &network_id).await?;
        store_firewalls(&apis, infrastructure).await?;
    }
    let user_data = match user_data(shared, &worker).await? {
        Ok(data) => data,
        Err(reason) => return Ok(Outcome::pending(USER_DATA_POLL, reason)),
    };
    let existing = existing(&apis).await?;
    let configured: Vec<MachineImage> = shared
        .config
        .machine_images
        .iter()
        .map(|m| MachineImage {
            name: m.name.clone(),
            version: m.version.clone(),
            image: m.image.clone(),
        })
        .collect();
    let now = now();
    let plan = decide::plan(&Inputs {
        shoot,
        worker: &worker,
        configured_images: &configured,
        nodes_cidr: &nodes_cidr,
        network_id: &network_id,
        credential: &credential,
        user_data: &user_data,
        existing: &existing,
        now: &now,
    })?;

    for secret in &plan.secrets {
        apply(&apis.secrets, secret)
            .await
            .map_err(|e| kube_error(&format!("applying secret {}", name_of(secret)), &e))?;
    }
    for class in &plan.classes {
        apply(&apis.classes, class)
            .await
            .map_err(|e| kube_error(&format!("applying machine class {}", name_of(class)), &e))?;
    }
    for deployment in &plan.deployments {
        let name = name_of(deployment);
        apply(&apis.deployments, deployment)
            .await
            .map_err(|e| kube_error(&format!("applying machine deployment {name}"), &e))?;
        if !existing.deployments.contains_key(name) {
            event(
                request,
                "MachineDeploymentCreated",
                "Create",
                format!("machine deployment {name} created"),
            );
        }
    }

    let obsolete = &plan.obsolete;
    for name in &obsolete.deployments {
        delete(&apis.deployments, name, "machine deployment").await?;
        event(
            request,
            "MachineDeploymentDeleted",
            "Delete",
            format!("machine deployment {name} deleted"),
        );
    }
    for name in &obsolete.classes {
        delete(&apis.classes, name, "machine class").await?;
    }
    for name in &obsolete.secrets {
        delete(&apis.secrets, name, "machine class secret").await?;
    }
    if !obsolete.kept.is_empty() {
        tracing::info!(namespace = %worker.namespace, kept = ?obsolete.kept, "old machine classes kept while machines use them");
    }
    Ok(Outcome {
        status: plan.status,
        pending: None,
        resync: (!obsolete.kept.is_empty()).then_some(KEPT_CLASSES_RESYNC),
    })
}

async fn delete_worker(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let worker = decide::Worker::from_object(request.value)?;
    let apis = Apis::new(request.shared, &worker.namespace);
    let all = ListParams::default();

    // The machines first: their deployments go, their classes stay until they are gone.
    let deployments = list(&apis.deployments, &all, "machine deployments")
        .await?
        .unwrap_or_default();
    let mut names: Vec<String> = worker
        .spec
        .pools
        .iter()
        .map(|p| worker.deployment_name(&p.name))
        .collect();
    for deployment in &deployments {
        let name = name_of(deployment);
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        if deployment.pointer("/metadata/deletionTimestamp").is_none() {
            delete(&apis.deployments, name, "machine deployment").await?;
            event(
                request,
                "MachineDeploymentDeleted",
                "Delete",
                format!("machine deployment {name} deleted"),
            );
        }
    }
    let sets = list(&apis.sets, &all, "machine sets")
        .await?
        .unwrap_or_default();
    let machines = list(&apis.machines, &all, "machines")
        .await?
        .unwrap_or_default();
    let left = deletion::machines_left(&names, &sets, &machines);
    if !left.is_empty() {
        let shown: Vec<&str> = left.iter().take(5).map(String::as_str).collect();
        return Ok(Outcome::pending(
            deletion::POLL,
            format!(
                "waiting for {} machine(s) to be deleted: {}",
                left.len(),
                shown.join(", ")
            ),
        ));
    }
    for class in list(&apis.classes, &all, "machine classes")
        .await?
        .unwrap_or_default()
    {
        delete(&apis.classes, name_of(&class), "machine class").await?;
    }
    for secret in list(&apis.secrets, &class_secrets(), "machine class secrets")
        .await?
        .unwrap_or_default()
    {
        delete(&apis.secrets, name_of(&secret), "machine class secret").await?;
    }

    // Then the firewall.
    let Some(deployment) = get(
        &apis.firewall_deployments,
        firewall::DEPLOYMENT_NAME,
        "the firewall deployment",
    )
    .await?
    else {
        return Ok(Outcome::done());
    };
    if deployment.pointer("/metadata/deletionTimestamp").is_none() {
        delete(
            &apis.firewall_deployments,
            firewall::DEPLOYMENT_NAME,
            "firewall deployment",
        )
        .await?;
    }
    deletion::firewall_wait(worker.deletion_timestamp.as_deref(), &now())?;
    Ok(Outcome::pending(
        deletion::POLL,
        "waiting for the firewall deployment to be deleted",
    ))
}

/// The Infrastructure of the Worker's shoot (the one the reconcile backs the firewalls up in).
async fn shoot_infrastructure(apis: &Apis, shoot: &str) -> Result<Option<Value>, ExtError> {
    let infrastructures = list(
        &apis.infrastructures,
        &ListParams::default(),
        "infrastructures",
    )
    .await?
    .unwrap_or_default();
    Ok(decide::infrastructure(&infrastructures, shoot).cloned())
}

/// Lets go of one firewall object without deleting what it stands for: its finalizers dropped
/// (firewall-controller-manager would free the firewall machine), then deleted orphaning its
/// dependents. Gone already is fine.
async fn release(api: &Api<DynamicObject>, name: &str, what: &str) -> Result<(), ExtError> {
    let unfinalized = api
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await;
    match unfinalized {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => return Ok(()),
        Err(e) => return Err(kube_error(&format!("releasing {what} {name}"), &e)),
    }
    let orphan = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Orphan),
        ..DeleteParams::default()
    };
    match api.delete(name, &orphan).await {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(kube_error(&format!("deleting {what} {name}"), &e)),
    }
}

/// Upstream's firewall migrate: a last backup of the Firewalls into the Infrastructure's state,
/// then the FirewallDeployments, FirewallSets and Firewalls released, so the firewall keeps
/// running for the new seed to restore. The machine objects stay (see the module docs).
async fn migrate_worker(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let worker = decide::Worker::from_object(request.value)?;
    let apis = Apis::new(request.shared, &worker.namespace);
    let infrastructure = shoot_infrastructure(&apis, &request.shoot.name).await?;
    store_firewalls(&apis, infrastructure.as_ref()).await?;
    let all = ListParams::default();
    for (api, what) in [
        (&apis.firewall_deployments, "firewall deployment"),
        (&apis.firewall_sets, "firewall set"),
        (&apis.firewalls, "firewall"),
    ] {
        for object in list(api, &all, what).await?.unwrap_or_default() {
            release(api, name_of(&object), what).await?;
        }
    }
    tracing::info!(namespace = %worker.namespace, "worker migrated: firewall objects released");
    Ok(Outcome::done())
}

/// Upstream's restore: once firewall-controller-manager is ready (its webhooks admit
/// Firewalls), the Firewalls of the Infrastructure's state are created again, then the Worker
/// is reconciled as usual.
async fn restore_worker(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let worker = decide::Worker::from_object(request.value)?;
    let apis = Apis::new(request.shared, &worker.namespace);
    if request
        .shared
        .config
        .firewall_controller_manager_image
        .is_some()
        && let Some(why) = firewall_manager_not_ready(request.shared, &worker.namespace).await?
    {
        return Ok(Outcome::pending(FIREWALL_MANAGER_POLL, why));
    }
    let infrastructure = shoot_infrastructure(&apis, &request.shoot.name).await?;
    let state = infrastructure
        .as_ref()
        .and_then(|i| i.pointer("/status/state"));
    for firewall in firewall::restored(state, &worker.namespace)? {
        let name = name_of(&firewall).to_owned();
        let object: DynamicObject = serde_json::from_value(firewall)
            .map_err(|e| ExtError::internal(format!("firewall {name}: {e}")))?;
        match apis.firewalls.create(&PostParams::default(), &object).await {
            Ok(_) => {
                tracing::info!(namespace = %worker.namespace, firewall = %name, "firewall restored")
            }
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) if is_not_found(&e) => break,
            Err(e) => return Err(kube_error(&format!("restoring firewall {name}"), &e)),
        }
    }
    reconcile(request).await
}

/// Why the ControlPlane's firewall-controller-manager is not ready yet; `None` when it is, or
/// when Deployments are not served (a test API server).
async fn firewall_manager_not_ready(
    shared: &Shared,
    namespace: &str,
) -> Result<Option<String>, ExtError> {
    let api: Api<Deployment> = Api::namespaced(shared.client.clone(), namespace);
    let name = FIREWALL_MANAGER;
    let deployment = match api.get_opt(name).await {
        Ok(found) => found,
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(kube_error(&format!("reading deployment {name}"), &e)),
    };
    let Some(deployment) = deployment else {
        return Ok(Some(format!("waiting for deployment {name}")));
    };
    let wanted = deployment.spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = deployment
        .status
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    Ok((ready < wanted).then(|| format!("waiting for deployment {name}: {ready}/{wanted} ready")))
}

impl Actuator for Worker {
    const KIND: &'static str = "Worker";
    const PLURAL: &'static str = "workers";
    const FINALIZER: &'static str = "extensions.gardener.cloud/worker";

    fn reconcile<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(reconcile(request))
    }

    fn delete<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(delete_worker(request))
    }

    fn migrate<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(migrate_worker(request))
    }

    fn restore<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(restore_worker(request))
    }
}
