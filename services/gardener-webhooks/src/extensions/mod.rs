//! The extension controllers of provider metal (replacing gardener-extension-provider-metal's
//! seed-side controllers): one kube-runtime controller per kind (Infrastructure, ControlPlane,
//! Worker of type `metal`) driven by [`drive`], which keeps Gardener's operation contract for
//! every kind: the finalizer, the operation annotation, `lastOperation`/`lastError` with codes,
//! Events, the requeue after errors. What each kind does is its [`Actuator`]; the decisions are
//! pure, in [`crate::core::extensions`].
//!
//! All controllers run under one Lease (`--leader-elect`), as upstream's manager does.

pub mod controlplane;
pub mod health;
pub mod infrastructure;
mod metal;
pub mod worker;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt as _, watcher};
use kube::{Resource as _, ResourceExt as _};
use mesh_controller::metrics::ReconcileMetrics;
use mesh_controller::recorder::Events;
use mesh_runtime::Setup;
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use crate::core::extensions::operation::{self, ExtError, OperationType};
use crate::core::extensions::shoot::Shoot;
use crate::leading::{self, LeaderElection, Stop};
pub use metal::MetalClients;

/// Upstream's extension type and the controller manager's name (Events, Lease).
pub const TYPE: &str = "metal";
pub const MANAGER: &str = "provider-metal";
const GROUP: &str = "extensions.gardener.cloud";
const VERSION: &str = "v1alpha1";

/// A component-config image mapping (`machineImages[]`): the metal image of a Gardener machine
/// image name and version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineImage {
    pub name: String,
    pub version: String,
    pub image: String,
}

/// What the controllers are configured with (upstream's `ControllerConfiguration` plus flags).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub workers: u16,
    pub leader_election: Option<LeaderElection>,
    pub machine_images: Vec<MachineImage>,
    pub firewall_internal_prefixes: Vec<String>,
    pub metal_api_timeout: Duration,
    pub metal_api_ca_file: Option<PathBuf>,
    /// The image of our services deployed into shoots (lb-allocator, volume-manager,
    /// rule-compiler) by the ControlPlane controller.
    pub control_plane_image: String,
    /// firewall-controller-manager's image; none: not deployed.
    pub firewall_controller_manager_image: Option<String>,
    /// The seed's API server for the firewalls (`--seed-api-url`, else this process's).
    pub seed_api_url: Option<String>,
}

/// What every actuator may use.
pub struct Shared {
    pub client: kube::Client,
    pub config: Config,
    pub metal: MetalClients,
    pub events: Events,
}

impl Shared {
    /// A Secret, `None` when it does not exist.
    pub async fn secret(&self, namespace: &str, name: &str) -> Result<Option<Secret>, ExtError> {
        Api::<Secret>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
            .map_err(|e| kube_error(&format!("reading secret {namespace}/{name}"), &e))
    }

    /// The metal-api client of the shoot's partition, authenticated with the credentials of
    /// the extension object's `spec.secretRef` (the cloudprovider Secret: `metalAPIHMac` or
    /// `metalAPIKey`).
    pub async fn metal_client(
        &self,
        shoot: &Shoot,
        object: &Value,
    ) -> Result<metal_api_sdk::Client, ExtError> {
        let namespace = object
            .pointer("/spec/secretRef/namespace")
            .or_else(|| object.pointer("/metadata/namespace"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = object
            .pointer("/spec/secretRef/name")
            .and_then(Value::as_str)
            .ok_or_else(|| ExtError::configuration("spec.secretRef.name is not set"))?;
        let secret = self.secret(namespace, name).await?.ok_or_else(|| {
            ExtError::configuration(format!("secret {namespace}/{name} does not exist"))
        })?;
        self.metal.client(shoot.endpoint(), &secret_data(&secret))
    }
}

/// A Secret's data as text (values that are not UTF-8 are left out).
pub fn secret_data(secret: &Secret) -> BTreeMap<String, String> {
    let mut data: BTreeMap<String, String> = secret
        .data
        .iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?)))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        data.insert(k.clone(), v.clone());
    }
    data
}

/// A Kubernetes call that failed while doing `what`.
pub fn kube_error(what: &str, error: &kube::Error) -> ExtError {
    let requeue = match error {
        kube::Error::Api(status) if status.code == 409 => Duration::from_secs(1),
        _ => Duration::from_secs(5),
    };
    ExtError::internal(format!("{what}: {error}")).requeue_after(requeue)
}

/// One operation on one object.
pub struct Request<'a> {
    pub object: &'a DynamicObject,
    /// The object as JSON (what the pure core reads).
    pub value: &'a Value,
    pub shoot: &'a Shoot,
    pub operation: OperationType,
    pub shared: &'a Shared,
}

impl Request<'_> {
    pub fn namespace(&self) -> &str {
        self.object
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or_default()
    }

    /// The object, for Events.
    pub fn object_ref(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        let api_version = self
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = self
            .value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(api_version.to_owned()),
            kind: Some(kind.to_owned()),
            namespace: self.object.metadata.namespace.clone(),
            name: self.object.metadata.name.clone(),
            uid: self.object.metadata.uid.clone(),
            resource_version: self.object.metadata.resource_version.clone(),
            ..Default::default()
        }
    }
}

/// What an operation left to report.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    /// Fields merged into `status` with the operation's success (`nodesCIDR`,
    /// `providerStatus`, `machineDeployments`...).
    pub status: Map<String, Value>,
    /// Not done yet (say, waiting for objects to go): the operation stays Processing, is run
    /// again after this long, and a deletion keeps its finalizer.
    pub pending: Option<(Duration, String)>,
    /// Look again after this long even when done.
    pub resync: Option<Duration>,
}

impl Outcome {
    pub fn done() -> Self {
        Self::default()
    }

    pub fn pending(after: Duration, why: impl Into<String>) -> Self {
        Outcome {
            pending: Some((after, why.into())),
            ..Default::default()
        }
    }
}

/// What one kind's controller does in each operation.
pub trait Actuator: Send + Sync + 'static {
    /// `Infrastructure`, `ControlPlane`, `Worker`.
    const KIND: &'static str;
    const PLURAL: &'static str;
    /// Gardener's finalizer of the kind (`extensions.gardener.cloud/<kind>`).
    const FINALIZER: &'static str;

    fn reconcile<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ExtError>>;
    fn delete<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>>;
    /// The shoot moves to another seed: let go of what this seed holds (upstream's Migrate).
    fn migrate<'a>(
        &'a self,
        _request: &'a Request<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(async { Ok(Outcome::done()) })
    }
    /// The shoot arrived from another seed: by default, a reconcile.
    fn restore<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        self.reconcile(request)
    }
}

pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
}

/// The Cluster kind (cluster-scoped, named after the shoot's seed namespace).
pub fn cluster_resource() -> ApiResource {
    resource("Cluster", "clusters")
}

/// Whether an extension object is ours: type metal, extension class shoot (or none).
pub fn is_ours(object: &Value) -> bool {
    object.pointer("/spec/type").and_then(Value::as_str) == Some(TYPE)
        && object
            .pointer("/spec/class")
            .and_then(Value::as_str)
            .is_none_or(|c| c == "shoot")
}

/// Reads the shoot of `namespace` from its Cluster.
pub async fn shoot(client: &kube::Client, namespace: &str) -> Result<Shoot, ExtError> {
    let clusters: Api<DynamicObject> = Api::all_with(client.clone(), &cluster_resource());
    let cluster = clusters
        .get_opt(namespace)
        .await
        .map_err(|e| kube_error(&format!("reading cluster {namespace}"), &e))?
        .ok_or_else(|| {
            ExtError::internal(format!("cluster {namespace} does not exist (yet)"))
                .requeue_after(Duration::from_secs(5))
        })?;
    let value = serde_json::to_value(&cluster)
        .map_err(|e| ExtError::internal(format!("cluster {namespace}: {e}")))?;
    Shoot::from_cluster(&value)
}

/// RFC 3339 in seconds, as `metav1.Time` is written.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

struct Driver<A> {
    actuator: A,
    shared: Arc<Shared>,
    resource: ApiResource,
    metrics: ReconcileMetrics,
}

/// Runs the controller of `actuator` until `stop`.
pub async fn drive<A: Actuator>(
    actuator: A,
    shared: Arc<Shared>,
    metrics: ReconcileMetrics,
    stop: Stop,
) {
    let resource = resource(A::KIND, A::PLURAL);
    let api: Api<DynamicObject> = Api::all_with(shared.client.clone(), &resource);
    let workers = shared.config.workers.max(1);
    let driver = Arc::new(Driver {
        actuator,
        shared,
        resource: resource.clone(),
        metrics,
    });
    // Status writes (ours, the health checks') must not trigger operations, or a failing one
    // would run again at once instead of after its requeue: only what asks for an operation does.
    let writer = reflector::store::Writer::<DynamicObject>::new(resource.clone());
    let reader = writer.as_reader();
    let mut seen: HashMap<(Option<String>, Option<String>), u64> = HashMap::new();
    let trigger = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects()
        .filter(move |event| {
            let changed = match event {
                Ok(object) => {
                    let key = (
                        object.metadata.namespace.clone(),
                        object.metadata.name.clone(),
                    );
                    let hash = operation_trigger(object);
                    seen.insert(key, hash) != Some(hash)
                }
                Err(_) => true,
            };
            futures::future::ready(changed)
        });
    Controller::for_stream_with(trigger, reader, resource)
        .with_config(ControllerConfig::default().concurrency(workers))
        .graceful_shutdown_on(stop)
        .run(reconcile::<A>, error_policy::<A>, driver)
        .for_each(|_| futures::future::ready(()))
        .await;
}

/// What may ask for an operation: the generation, the operation annotation, deletion, the
/// finalizers (ours is added in an operation of its own).
fn operation_trigger(object: &DynamicObject) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let meta = &object.metadata;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut hasher);
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(operation::OPERATION_ANNOTATION))
        .hash(&mut hasher);
    meta.deletion_timestamp.is_some().hash(&mut hasher);
    meta.finalizers.hash(&mut hasher);
    hasher.finish()
}

fn error_policy<A: Actuator>(_: Arc<DynamicObject>, error: &ExtError, _: Arc<Driver<A>>) -> Action {
    Action::requeue(error.requeue)
}

async fn reconcile<A: Actuator>(
    object: Arc<DynamicObject>,
    driver: Arc<Driver<A>>,
) -> Result<Action, ExtError> {
    let value = serde_json::to_value(&*object)
        .map_err(|e| ExtError::internal(format!("{}: {e}", A::KIND)))?;
    if !is_ours(&value) {
        return Ok(Action::await_change());
    }
    let Some(operation) = OperationType::of(&value) else {
        return Ok(Action::await_change());
    };
    let label = A::KIND.to_lowercase();
    driver
        .metrics
        .measure(&label, operate(&driver, &object, &value, operation))
        .await
}

/// Runs `operation` on `object` and reports it.
async fn operate<A: Actuator>(
    driver: &Driver<A>,
    object: &DynamicObject,
    value: &Value,
    operation: OperationType,
) -> Result<Action, ExtError> {
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.name_any();
    let api: Api<DynamicObject> =
        Api::namespaced_with(driver.shared.client.clone(), &namespace, &driver.resource);
    let has_finalizer = object.finalizers().iter().any(|f| f == A::FINALIZER);
    if operation == OperationType::Delete && !has_finalizer {
        return Ok(Action::await_change());
    }
    if operation != OperationType::Delete && !has_finalizer {
        let mut finalizers = object.finalizers().to_vec();
        finalizers.push(A::FINALIZER.to_owned());
        set_finalizers(&api, object, finalizers).await?;
        // The write brings the object back through the watch.
        return Ok(Action::await_change());
    }
    let regarding = object.object_ref(&driver.resource);
    let events = &driver.shared.events;
    let result = match shoot(&driver.shared.client, &namespace).await {
        Err(e) => Err(e),
        Ok(shoot) => {
            let request = Request {
                object,
                value,
                shoot: &shoot,
                operation,
                shared: &driver.shared,
            };
            tracing::info!(kind = A::KIND, %namespace, %name, operation = operation.as_str(), "operating");
            let started = operation::last_operation(A::KIND, operation, "Processing", "", &now());
            patch_status(&api, &name, json!({"lastOperation": started})).await?;
            match operation {
                OperationType::Delete => driver.actuator.delete(&request).await,
                OperationType::Migrate => driver.actuator.migrate(&request).await,
                OperationType::Restore => driver.actuator.restore(&request).await,
                OperationType::Create | OperationType::Reconcile => {
                    driver.actuator.reconcile(&request).await
                }
            }
        }
    };
    let now = now();
    match result {
        Err(error) => {
            tracing::warn!(kind = A::KIND, %namespace, %name, operation = operation.as_str(), %error, "operation failed");
            events.warning(
                regarding,
                &format!("{}Failed", operation.as_str()),
                operation.as_str(),
                error.message.clone(),
            );
            let status = operation::failed(A::KIND, operation, &error, &now);
            // Best effort: the error is retried either way.
            let _ = patch_status(&api, &name, status).await;
            Err(error)
        }
        Ok(Outcome {
            pending: Some((after, why)),
            status,
            ..
        }) => {
            let mut patch = Value::Object(status);
            patch["lastOperation"] =
                operation::last_operation(A::KIND, operation, "Processing", &why, &now);
            patch_status(&api, &name, patch).await?;
            Ok(Action::requeue(after))
        }
        Ok(Outcome { status, resync, .. }) => {
            let mut patch =
                operation::succeeded(A::KIND, operation, object.metadata.generation, &now);
            for (k, v) in status {
                patch[k] = v;
            }
            // The object as written: its resourceVersion guards the finalizer write below.
            let written = patch_status(&api, &name, patch).await?;
            events.normal(
                regarding,
                &format!("{}Succeeded", operation.as_str()),
                operation.as_str(),
                format!("{} {}d", A::KIND, operation.as_str().to_lowercase()),
            );
            match operation {
                OperationType::Delete | OperationType::Migrate => {
                    let finalizers = written
                        .finalizers()
                        .iter()
                        .filter(|f| *f != A::FINALIZER)
                        .cloned()
                        .collect();
                    set_finalizers(&api, &written, finalizers).await?;
                    if operation == OperationType::Migrate {
                        remove_operation_annotation(&api, &name).await?;
                    }
                    Ok(Action::await_change())
                }
                _ => {
                    remove_operation_annotation(&api, &name).await?;
                    Ok(resync.map_or_else(Action::await_change, Action::requeue))
                }
            }
        }
    }
}

async fn patch_status(
    api: &Api<DynamicObject>,
    name: &str,
    status: Value,
) -> Result<DynamicObject, ExtError> {
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .map_err(|e| kube_error(&format!("writing the status of {name}"), &e))
}

/// Writes the finalizer list, guarded by the object's resourceVersion (a list merge patch
/// replaces the whole list, so a concurrent change must not be overwritten).
async fn set_finalizers(
    api: &Api<DynamicObject>,
    object: &DynamicObject,
    finalizers: Vec<String>,
) -> Result<(), ExtError> {
    let name = object.name_any();
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": object.resource_version(),
    }});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(kube_error(&format!("writing the finalizers of {name}"), &e)),
    }
}

async fn remove_operation_annotation(api: &Api<DynamicObject>, name: &str) -> Result<(), ExtError> {
    let patch = json!({"metadata": {"annotations": {operation::OPERATION_ANNOTATION: null}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await
        .map(drop)
        .map_err(|e| kube_error(&format!("removing the operation annotation of {name}"), &e))
}

/// The running controllers (and election); [`Running::stopped`] resolves once they ended
/// after the shutdown signal, the Lease released.
pub struct Running {
    task: tokio::task::JoinHandle<()>,
    leading: watch::Receiver<bool>,
}

impl Running {
    pub async fn stopped(self) {
        let Running { task, leading } = self;
        leading::stopped(
            MANAGER,
            async move {
                let _ = task.await;
            },
            leading,
        )
        .await;
    }
}

/// Starts the Infrastructure, ControlPlane and Worker controllers and the health checks (while
/// leading) until `setup.shutdown`.
pub fn start(
    client: kube::Client,
    config: Config,
    metrics: ReconcileMetrics,
    setup: &Setup,
) -> Running {
    let leading = leading::leadership(
        &client,
        config.leader_election.clone(),
        &setup.shutdown,
        MANAGER,
    );
    let shared = Arc::new(Shared {
        events: Events::new(client.clone(), MANAGER),
        metal: MetalClients::new(config.metal_api_timeout, config.metal_api_ca_file.clone()),
        config,
        client,
    });
    tracing::info!(
        workers = shared.config.workers,
        "extension controllers enabled"
    );
    let task = tokio::spawn(leading::run_while_leading(
        MANAGER,
        leading.clone(),
        setup.shutdown.clone(),
        move |stop| {
            let (shared, metrics) = (shared.clone(), metrics.clone());
            Box::pin(run_all(shared, metrics, stop))
        },
    ));
    Running { task, leading }
}

/// Every controller until `stop`.
async fn run_all(shared: Arc<Shared>, metrics: ReconcileMetrics, stop: Stop) {
    let stop = futures::FutureExt::shared(stop);
    let stopper = || -> Stop {
        let stop = stop.clone();
        Box::pin(stop)
    };
    futures::join!(
        drive(
            infrastructure::Infrastructure,
            shared.clone(),
            metrics.clone(),
            stopper()
        ),
        drive(
            controlplane::ControlPlane,
            shared.clone(),
            metrics.clone(),
            stopper()
        ),
        drive(worker::Worker, shared.clone(), metrics.clone(), stopper()),
        health::run(shared.clone(), stopper()),
    );
}
