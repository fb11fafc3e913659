//! What the webhooks read from Kubernetes: CloudProfiles (plain and namespaced), Secrets and
//! the seed's Cluster objects. [`Objects`] is the seam: the service reads through the API
//! ([`KubeObjects`]), the REST endpoints and tests hand the objects in ([`Given`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::{FutureExt as _, StreamExt as _};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt as _, reflector, watcher};

use parking_lot::Mutex;
use serde_json::Value;

/// Which CloudProfile a Shoot uses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileRef {
    CloudProfile(String),
    /// A NamespacedCloudProfile in the Shoot's namespace.
    Namespaced {
        namespace: String,
        name: String,
    },
}

/// A read that did not come back: the caller answers 500 so Gardener retries.
pub type ReadError = String;

/// Reads the webhooks depend on. `Ok(None)`: the object does not exist.
pub trait Objects: Send + Sync {
    /// The profile as a CloudProfile (`{"spec": ...}`): a NamespacedCloudProfile's
    /// `status.cloudProfileSpec` becomes the `spec`.
    fn cloud_profile<'a>(&'a self, profile: &'a ProfileRef) -> Read<'a>;
    fn secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> Read<'a>;
    /// The `extensions.gardener.cloud/v1alpha1` Cluster named `name` (a shoot namespace).
    fn cluster<'a>(&'a self, name: &'a str) -> Read<'a>;
}

/// An object read, shared: a watched object is converted to JSON once per resourceVersion and
/// then handed to every review that needs it.
pub type Read<'a> = BoxFuture<'a, Result<Option<Arc<Value>>, ReadError>>;

/// Objects handed in: by the REST endpoints (the profile in the body) and by tests.
#[derive(Debug, Default, Clone)]
pub struct Given {
    pub profiles: BTreeMap<ProfileRef, Arc<Value>>,
    pub secrets: BTreeMap<(String, String), Arc<Value>>,
    pub clusters: BTreeMap<String, Arc<Value>>,
}

fn given(found: Option<&Arc<Value>>) -> Read<'static> {
    futures::future::ready(Ok(found.cloned())).boxed()
}

impl Objects for Given {
    fn cloud_profile<'a>(&'a self, profile: &'a ProfileRef) -> Read<'a> {
        given(self.profiles.get(profile))
    }

    fn secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> Read<'a> {
        given(self.secrets.get(&(namespace.to_string(), name.to_string())))
    }

    fn cluster<'a>(&'a self, name: &'a str) -> Read<'a> {
        given(self.clusters.get(name))
    }
}

fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

pub fn cloud_profiles() -> ApiResource {
    resource(
        "core.gardener.cloud",
        "v1beta1",
        "CloudProfile",
        "cloudprofiles",
    )
}

pub fn namespaced_cloud_profiles() -> ApiResource {
    resource(
        "core.gardener.cloud",
        "v1beta1",
        "NamespacedCloudProfile",
        "namespacedcloudprofiles",
    )
}

pub fn clusters() -> ApiResource {
    resource(
        "extensions.gardener.cloud",
        "v1alpha1",
        "Cluster",
        "clusters",
    )
}

/// A cluster-scoped kind kept in memory by a watch; a name the store does not have yet (the
/// watch lags behind a create) is read from the API.
/// A watched object's JSON and the resourceVersion it was converted from.
type Converted = (Option<String>, Arc<Value>);

#[derive(Clone)]
struct Watched {
    api: Api<DynamicObject>,
    resource: ApiResource,
    store: reflector::Store<DynamicObject>,
    /// Each object's JSON, by name, with the resourceVersion it was made from.
    json: Arc<Mutex<HashMap<String, Converted>>>,
}

impl Watched {
    /// Starts the watch; it retries with backoff for as long as the process runs.
    fn start(client: &kube::Client, resource: &ApiResource) -> Self {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let kind = resource.kind.clone();
        let stream = reflector::reflector(
            writer,
            watcher(api.clone(), watcher::Config::default()).default_backoff(),
        )
        .for_each(move |event| {
            if let Err(error) = event {
                tracing::warn!(%kind, %error, "watch failed; retrying");
            }
            futures::future::ready(())
        });
        tokio::spawn(stream);
        Self {
            api,
            resource: resource.clone(),
            store,
            json: Arc::default(),
        }
    }

    async fn get(&self, name: &str) -> Result<Option<Arc<Value>>, ReadError> {
        let key = reflector::ObjectRef::new_with(name, self.resource.clone());
        let Some(object) = self.store.get(&key) else {
            return get(&self.api, name).await;
        };
        let version = &object.metadata.resource_version;
        if let Some((seen, json)) = self.json.lock().get(name)
            && seen == version
        {
            return Ok(Some(json.clone()));
        }
        let json = Arc::new(to_json(&object)?);
        self.json
            .lock()
            .insert(name.to_string(), (version.clone(), json.clone()));
        Ok(Some(json))
    }

    /// Whether the first list has arrived.
    fn listed(&self) -> bool {
        self.store
            .wait_until_ready()
            .now_or_never()
            .is_some_and(|r| r.is_ok())
    }
}

fn to_json(object: &DynamicObject) -> Result<Value, ReadError> {
    serde_json::to_value(object).map_err(|e| format!("encoding {}: {e}", name_of(object)))
}

fn name_of(object: &DynamicObject) -> String {
    object.metadata.name.clone().unwrap_or_default()
}

async fn get(api: &Api<DynamicObject>, name: &str) -> Result<Option<Arc<Value>>, ReadError> {
    match api.get_opt(name).await {
        Ok(Some(object)) => to_json(&object).map(|json| Some(Arc::new(json))),
        Ok(None) => Ok(None),
        Err(error) => Err(format!("reading {name}: {error}")),
    }
}

/// Objects read through the Kubernetes API: CloudProfiles and Clusters from watches (the
/// validator and the seed webhooks ask for them on every review), Secrets and
/// NamespacedCloudProfiles on demand.
#[derive(Clone)]
pub struct KubeObjects {
    client: kube::Client,
    profiles: Option<Watched>,
    clusters: Option<Watched>,
}

impl KubeObjects {
    /// Watches CloudProfiles when `profiles`, Clusters when `clusters`.
    pub fn start(client: kube::Client, profiles: bool, clusters: bool) -> Arc<Self> {
        Arc::new(Self {
            profiles: profiles.then(|| Watched::start(&client, &cloud_profiles())),
            clusters: clusters.then(|| Watched::start(&client, &self::clusters())),
            client,
        })
    }

    /// Whether every watch has listed once (readiness).
    pub fn synced(&self) -> Result<(), String> {
        for (name, watched) in [
            ("CloudProfiles", &self.profiles),
            ("Clusters", &self.clusters),
        ] {
            if watched.as_ref().is_some_and(|w| !w.listed()) {
                return Err(format!("{name} not listed yet"));
            }
        }
        Ok(())
    }
}

impl Objects for KubeObjects {
    fn cloud_profile<'a>(&'a self, profile: &'a ProfileRef) -> Read<'a> {
        async move {
            match profile {
                ProfileRef::CloudProfile(name) => match &self.profiles {
                    Some(watched) => watched.get(name).await,
                    None => get(&Api::all_with(self.client.clone(), &cloud_profiles()), name).await,
                },
                ProfileRef::Namespaced { namespace, name } => {
                    let api = Api::namespaced_with(
                        self.client.clone(),
                        namespace,
                        &namespaced_cloud_profiles(),
                    );
                    Ok(get(&api, name).await?.map(|p| {
                        let spec = p
                            .pointer("/status/cloudProfileSpec")
                            .cloned()
                            .unwrap_or(Value::Null);
                        Arc::new(serde_json::json!({ "metadata": p.get("metadata"), "spec": spec }))
                    }))
                }
            }
        }
        .boxed()
    }

    fn secret<'a>(&'a self, namespace: &'a str, name: &'a str) -> Read<'a> {
        async move {
            let api: Api<DynamicObject> = Api::namespaced_with(
                self.client.clone(),
                namespace,
                &ApiResource::from_gvk_with_plural(
                    &GroupVersionKind::gvk("", "v1", "Secret"),
                    "secrets",
                ),
            );
            get(&api, name).await
        }
        .boxed()
    }

    fn cluster<'a>(&'a self, name: &'a str) -> Read<'a> {
        async move {
            match &self.clusters {
                Some(watched) => watched.get(name).await,
                None => get(&Api::all_with(self.client.clone(), &clusters()), name).await,
            }
        }
        .boxed()
    }
}
