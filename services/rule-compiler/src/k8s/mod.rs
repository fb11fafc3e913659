//! The Kubernetes edge: watches that fill the reconciler's inputs (CWNPs and Services in the
//! shoot, the Firewall in the seed), status and event writes, the FirewallMonitor, and the
//! FQDN cache's ConfigMap.

pub mod monitor;
pub mod report;

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::Addr;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Resource, ResourceExt};
use kube_resources::ClusterwideNetworkPolicy;
use kube_resources::firewall::Firewall;
use parking_lot::RwLock;
use serde::de::DeserializeOwned;

use crate::actors::reconciler::{Changed, Inputs, Reconciler};

pub const FIELD_MANAGER: &str = "rule-compiler";
/// ConfigMap (in the policy namespace) and key holding the FQDN cache, as upstream.
pub const FQDN_STATE_CONFIGMAP: &str = "fqdnstate";
pub const FQDN_STATE_KEY: &str = "state";

type Key = (String, String);

fn key<K: Resource>(obj: &K) -> Key {
    (obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Follows `api` into the map `pick` selects in the inputs: applied and deleted objects, and a
/// relist replacing the whole map once it is complete; pokes the reconciler after each change.
fn feed<K>(
    api: Api<K>,
    config: watcher::Config,
    inputs: Arc<RwLock<Inputs>>,
    reconciler: Addr<Reconciler>,
    pick: fn(&mut Inputs) -> &mut BTreeMap<Key, K>,
) where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    tokio::spawn(async move {
        let stream = watcher::watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        let mut relist: Option<BTreeMap<Key, K>> = None;
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(obj)) => {
                    pick(&mut inputs.write()).insert(key(&obj), obj);
                }
                Ok(Event::Delete(obj)) => {
                    pick(&mut inputs.write()).remove(&key(&obj));
                }
                Ok(Event::Init) => {
                    relist = Some(BTreeMap::new());
                    continue;
                }
                Ok(Event::InitApply(obj)) => {
                    if let Some(r) = relist.as_mut() {
                        r.insert(key(&obj), obj);
                    }
                    continue;
                }
                Ok(Event::InitDone) => {
                    if let Some(r) = relist.take() {
                        *pick(&mut inputs.write()) = r;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, kind = %K::kind(&()), "watch failed; retrying");
                    continue;
                }
            }
            reconciler.do_send(Changed);
        }
    });
}

fn policies(i: &mut Inputs) -> &mut BTreeMap<Key, ClusterwideNetworkPolicy> {
    &mut i.policies
}

fn services(i: &mut Inputs) -> &mut BTreeMap<Key, Service> {
    &mut i.services
}

/// Watches every CWNP (those outside the policy namespace are reported as ignored) and every
/// Service of the shoot.
pub fn watch_shoot(
    client: kube::Client,
    inputs: Arc<RwLock<Inputs>>,
    reconciler: Addr<Reconciler>,
) {
    feed(
        Api::<ClusterwideNetworkPolicy>::all(client.clone()),
        watcher::Config::default(),
        inputs.clone(),
        reconciler.clone(),
        policies,
    );
    feed(
        Api::<Service>::all(client),
        watcher::Config::default(),
        inputs,
        reconciler,
        services,
    );
}

/// Watches this firewall's Firewall object in the seed.
pub fn watch_firewall(
    seed: kube::Client,
    namespace: &str,
    name: &str,
    inputs: Arc<RwLock<Inputs>>,
    reconciler: Addr<Reconciler>,
) {
    let api: Api<Firewall> = Api::namespaced(seed, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let name = name.to_string();
    tokio::spawn(async move {
        let stream = watcher::watcher(api, config).default_backoff();
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            let firewall = match event {
                Ok(Event::Apply(fw)) | Ok(Event::InitApply(fw)) => {
                    tracing::debug!(firewall = %name, "Firewall seen");
                    Some(fw)
                }
                // Deleted: keep the last ruleset (upstream flushed to an open forward chain).
                Ok(Event::Delete(_)) => {
                    tracing::warn!(firewall = %name, "the Firewall was deleted; keeping the last ruleset");
                    continue;
                }
                Ok(Event::Init) | Ok(Event::InitDone) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "Firewall watch failed; retrying");
                    continue;
                }
            };
            inputs.write().firewall = firewall;
            reconciler.do_send(Changed);
        }
    });
}

/// Reads the FQDN cache's persisted state (`None` when there is none yet).
pub async fn load_fqdn_state(client: &kube::Client, namespace: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    match api.get_opt(FQDN_STATE_CONFIGMAP).await {
        Ok(cm) => cm?.data?.remove(FQDN_STATE_KEY),
        Err(e) => {
            tracing::warn!(error = %e, "reading the fqdnstate ConfigMap failed; starting with an empty cache");
            None
        }
    }
}

/// Writes the FQDN cache's state (server-side apply: creates the ConfigMap when missing).
pub async fn save_fqdn_state(
    client: &kube::Client,
    namespace: &str,
    state: String,
) -> Result<(), kube::Error> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": FQDN_STATE_CONFIGMAP, "namespace": namespace},
        "data": {FQDN_STATE_KEY: state},
    });
    api.patch(
        FQDN_STATE_CONFIGMAP,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&cm),
    )
    .await
    .map(drop)
}
