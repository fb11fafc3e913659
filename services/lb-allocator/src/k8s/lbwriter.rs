//! Writes the desired MetalLB or Cilium objects to Kubernetes, following `core::writeplan`:
//! only objects carrying our label are read back and deleted; writes are server-side applies,
//! so a same-named object (e.g. one metal-ccm wrote) is taken over, not duplicated.

use std::time::Duration;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::reflector::Store;
use kube::{Client, Resource};
use serde_json::json;

use super::events::Events;
use crate::core::config::Config;
use crate::core::error::LbError;
use crate::core::lbconfig::NodeInfo;
use crate::core::render::{Desired, MANAGED_BY, MANAGED_BY_LABEL, ObjectKind, object};
use crate::core::writeplan::{self, Observed, Step};

/// Field manager of our server-side applies.
pub const FIELD_MANAGER: &str = "lb-allocator";

/// What the configuration writer needs of Kubernetes.
#[derive(Clone)]
pub struct KubeSide {
    pub client: Client,
    pub nodes: Store<Node>,
    pub events: Events,
}

fn api(client: &Client, kind: ObjectKind, namespace: &str) -> Api<DynamicObject> {
    let (group, version, k, plural) = kind.gvk();
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: format!("{group}/{version}"),
        kind: k.into(),
        plural: plural.into(),
    };
    if kind.namespaced() {
        Api::namespaced_with(client.clone(), namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    }
}

impl KubeSide {
    /// The nodes, once the node watch has listed them (an empty list before that would
    /// delete every peer).
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, LbError> {
        tokio::time::timeout(Duration::from_secs(30), self.nodes.wait_until_ready())
            .await
            .map_err(|_| LbError::Config("the node list has not loaded yet".into()))?
            .map_err(|_| LbError::Config("the node watch stopped".into()))?;
        Ok(self
            .nodes
            .state()
            .iter()
            .map(|n| NodeInfo::from_node(n))
            .collect())
    }

    pub fn warn_node(&self, node: &str, reason: &str) {
        if let Some(n) = self
            .nodes
            .state()
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(node))
        {
            self.events.warning(
                n.object_ref(&()),
                "LoadBalancerConfigSkipped",
                "WriteLoadBalancerConfig",
                format!("no BGP peer for this node: {reason}"),
            );
        }
    }

    /// Our labelled objects as Kubernetes has them now.
    pub async fn observe(&self, config: &Config) -> Result<Vec<Observed>, kube::Error> {
        let namespace = config.metallb_namespace.as_str();
        let selector = format!("{MANAGED_BY_LABEL}={MANAGED_BY}");
        let mut observed = Vec::new();
        for &kind in ObjectKind::for_loadbalancer(config.loadbalancer) {
            let list = api(&self.client, kind, namespace)
                .list(&ListParams::default().labels(&selector))
                .await?;
            observed.extend(list.items.into_iter().map(|o| Observed {
                kind,
                name: o.metadata.name.clone().unwrap_or_default(),
                spec: o.data.get("spec").cloned().unwrap_or(json!({})),
            }));
        }
        Ok(observed)
    }

    /// Writes what turns `observed` into `desired`.
    pub async fn write(
        &self,
        config: &Config,
        observed: &[Observed],
        desired: &Desired,
    ) -> Result<(), kube::Error> {
        let kinds = ObjectKind::for_loadbalancer(config.loadbalancer);
        let namespace = config.metallb_namespace.as_str();
        let steps = writeplan::steps(kinds, observed, desired);
        for step in &steps {
            match step {
                Step::Apply { kind, name, spec } => {
                    let body = object(*kind, name, namespace, spec);
                    api(&self.client, *kind, namespace)
                        .patch(
                            name,
                            &PatchParams::apply(FIELD_MANAGER).force(),
                            &Patch::Apply(&body),
                        )
                        .await?;
                }
                Step::Delete { kind, name } => {
                    match api(&self.client, *kind, namespace)
                        .delete(name, &DeleteParams::default())
                        .await
                    {
                        Ok(_) => {}
                        Err(kube::Error::Api(e)) if e.code == 404 => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if !steps.is_empty() {
            tracing::info!(writes = steps.len(), "load-balancer configuration written");
        }
        self.annotate_nodes(desired).await
    }

    /// Cilium's per-node router annotations; only missing or different ones are written.
    async fn annotate_nodes(&self, desired: &Desired) -> Result<(), kube::Error> {
        let nodes: Api<Node> = Api::all(self.client.clone());
        for (name, wanted) in &desired.node_annotations {
            let Some(node) = self
                .nodes
                .state()
                .into_iter()
                .find(|n| n.metadata.name.as_ref() == Some(name))
            else {
                continue;
            };
            let have = node.metadata.annotations.clone().unwrap_or_default();
            if wanted.iter().all(|(k, v)| have.get(k) == Some(v)) {
                continue;
            }
            let patch = json!({"metadata": {"annotations": wanted}});
            nodes
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
        }
        Ok(())
    }
}
