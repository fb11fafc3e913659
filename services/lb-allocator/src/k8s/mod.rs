//! The Kubernetes edge: the client, the node watch that feeds the configuration writer, and the
//! Service and Node controllers, which run while this replica leads.

pub mod events;
pub mod lbwriter;
pub mod nodes;
pub mod services;

use std::collections::BTreeMap;
use std::path::Path;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use mesh_runtime::Mailbox;

use crate::actors::lbconfig::{LbConfigWriter, Poke};
use crate::core::lbconfig::NodeInfo;

/// A client from `--kubeconfig`, else the usual discovery (KUBECONFIG, ~/.kube/config,
/// in-cluster).
pub async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    Ok(mesh_controller::client::client(kubeconfig).await?)
}

/// A store of the cluster's Nodes, filled by [`spawn_node_watch`].
pub fn node_store() -> (Store<Node>, reflector::store::Writer<Node>) {
    reflector::store()
}

/// Watches Nodes into the store (read by the configuration writer) and pokes the writer when
/// what the configuration depends on (ASN label, InternalIP, hostname, the node set) changes.
pub fn spawn_node_watch(
    client: kube::Client,
    store: Store<Node>,
    writer: reflector::store::Writer<Node>,
    lbconfig: Mailbox<LbConfigWriter>,
) {
    let stream = reflector::reflector(
        writer,
        watcher(Api::<Node>::all(client), watcher::Config::default()),
    )
    .default_backoff();
    tokio::spawn(async move {
        let mut last: BTreeMap<String, NodeInfo> = BTreeMap::new();
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Err(e) => {
                    tracing::warn!(error = %e, "node watch");
                    continue;
                }
                // Until the initial list is complete the store is not the node set.
                Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
                Ok(_) => {}
            }
            let now: BTreeMap<String, NodeInfo> = store
                .state()
                .iter()
                .map(|n| {
                    let info = NodeInfo::from_node(n);
                    (info.name.clone(), info)
                })
                .collect();
            if now != last {
                lbconfig.addr().do_send(Poke);
                last = now;
            }
        }
    });
}
