//! The driver's shared state: configuration, the volume groups' actors and the store. The gRPC
//! services and the REST API hold an `Arc<Driver>` and do everything through it.

use std::collections::BTreeMap;
use std::sync::Arc;

use mesh_runtime::Mailbox;

use crate::actors::vg::{Mutate, VgActor};
use crate::core::params::LvType;
use crate::csi;
use crate::error::{OpError, OpResult};
use crate::metrics::Metrics;
use crate::ops::Store;

/// Topology key of the node a volume lives on (upstream's).
pub const TOPOLOGY_KEY: &str = "topology.lvm.csi/node";

#[derive(Debug, Clone)]
pub struct Config {
    pub driver_name: String,
    pub version: String,
    pub node_id: String,
    pub default_type: LvType,
    pub max_volumes_per_node: i64,
    /// Advertise controller-side expansion (off in the node-local DaemonSet, where every node's
    /// resizer would see every PVC; the kubelet's NodeExpandVolume grows the LV there).
    pub controller_expansion: bool,
}

pub struct Driver {
    pub config: Config,
    pub store: Store,
    pub metrics: Metrics,
    actors: BTreeMap<String, Mailbox<VgActor>>,
}

impl Driver {
    pub fn new(
        config: Config,
        store: Store,
        metrics: Metrics,
        actors: BTreeMap<String, Mailbox<VgActor>>,
    ) -> Arc<Self> {
        Arc::new(Driver {
            config,
            store,
            metrics,
            actors,
        })
    }

    /// Runs a read on a blocking thread, concurrently with everything else.
    pub async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> OpResult<T> + Send + 'static,
    ) -> OpResult<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .unwrap_or_else(|e| Err(OpError::Internal(format!("read panicked: {e}"))))
    }

    /// Runs a mutation in the VG's actor, after every earlier mutation of that VG.
    pub async fn mutate<T: Send + 'static>(
        &self,
        vg: &str,
        op: &'static str,
        f: impl FnOnce(&Store) -> OpResult<T> + Send + 'static,
    ) -> OpResult<T> {
        let actor = self.actors.get(vg).ok_or_else(|| {
            OpError::Invalid(format!(
                "volume group {vg:?} is not managed by this driver (managed: {})",
                self.store.vgs.join(", ")
            ))
        })?;
        actor
            .send(Mutate::new(op, f))
            .await
            .map_err(|e| OpError::Unavailable(format!("volume group {vg} actor: {e}")))?
    }

    pub fn topology(&self) -> csi::Topology {
        csi::Topology {
            segments: [(TOPOLOGY_KEY.to_string(), self.config.node_id.clone())].into(),
        }
    }

    /// Whether a topology segment set names this node (an empty one names every node).
    pub fn is_local(&self, topology: &csi::Topology) -> bool {
        topology
            .segments
            .get(TOPOLOGY_KEY)
            .is_none_or(|node| *node == self.config.node_id)
    }

    /// Health: every managed VG is readable.
    pub async fn health(&self) -> OpResult<()> {
        let vgs = self.store.vgs.clone();
        let found = self.read(move |s| Ok(s.lvm.vgs(&vgs)?)).await?;
        for vg in &self.store.vgs {
            if !found.iter().any(|f| &f.name == vg) {
                return Err(OpError::Unavailable(format!(
                    "volume group {vg} is missing"
                )));
            }
        }
        Ok(())
    }
}
