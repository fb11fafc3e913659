//! The machine cache: machine lookups by ID and by hostname, kept for a TTL (1 min, as
//! metal-ccm), errors never kept. Concurrent lookups of one key share one metal-api call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use mesh_runtime::ActorMetrics;
use metal_api_sdk::client::{Client, Error as MetalError};
use metal_api_sdk::model::{MachineFindRequest, MachineResponse};
use tokio::sync::oneshot;

pub const NAME: &str = "machines";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MachineKey {
    Id(String),
    /// The allocation hostname within our project (the node name).
    Hostname(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Authoritatively absent: 404, or no machine with that hostname in the project.
    #[error("{0}")]
    NotFound(String),
    #[error("machine lookup failed: {0}")]
    Failed(String),
}

type Answer = Result<Arc<MachineResponse>, LookupError>;

pub struct Lookup(pub MachineKey);

impl Message for Lookup {
    type Result = Answer;
}

/// Forget a machine after changing it.
pub struct Invalidate(pub String);

impl Message for Invalidate {
    type Result = ();
}

pub struct MachineCache {
    metal: Client,
    project: String,
    ttl: Duration,
    by_id: HashMap<String, (Instant, Arc<MachineResponse>)>,
    /// hostname → machine ID
    by_hostname: HashMap<String, (Instant, String)>,
    pending: HashMap<MachineKey, Vec<oneshot::Sender<Answer>>>,
    metrics: ActorMetrics,
}

impl MachineCache {
    pub fn new(metal: Client, project: String, ttl: Duration, metrics: ActorMetrics) -> Self {
        Self {
            metal,
            project,
            ttl,
            by_id: HashMap::new(),
            by_hostname: HashMap::new(),
            pending: HashMap::new(),
            metrics,
        }
    }

    fn cached(&self, key: &MachineKey) -> Option<Arc<MachineResponse>> {
        let fresh = |at: &Instant| at.elapsed() < self.ttl;
        let id = match key {
            MachineKey::Id(id) => id,
            MachineKey::Hostname(h) => match self.by_hostname.get(h) {
                Some((at, id)) if fresh(at) => id,
                _ => return None,
            },
        };
        match self.by_id.get(id) {
            Some((at, m)) if fresh(at) => Some(m.clone()),
            _ => None,
        }
    }
}

async fn fetch(metal: Client, project: String, key: MachineKey) -> Answer {
    let failed = |e: MetalError| match e {
        MetalError::NotFound(m) => LookupError::NotFound(m),
        other => LookupError::Failed(other.to_string()),
    };
    match key {
        MachineKey::Id(id) => metal.get_machine(&id).await.map(Arc::new).map_err(failed),
        MachineKey::Hostname(hostname) => {
            let mut found = metal
                .find_machines(&MachineFindRequest {
                    allocation_hostname: Some(hostname.clone()),
                    allocation_project: Some(project.clone()),
                    ..Default::default()
                })
                .await
                .map_err(failed)?;
            match found.len() {
                1 => Ok(Arc::new(found.remove(0))),
                0 => Err(LookupError::NotFound(format!(
                    "no machine with hostname {hostname:?} in project {project}"
                ))),
                n => Err(LookupError::Failed(format!(
                    "{n} machines with hostname {hostname:?} in project {project}"
                ))),
            }
        }
    }
}

impl Actor for MachineCache {
    type Context = Context<Self>;
}

mesh_runtime::count_restarts!(MachineCache, metrics, NAME);

impl Handler<Lookup> for MachineCache {
    type Result = ResponseFuture<Answer>;

    fn handle(&mut self, Lookup(key): Lookup, ctx: &mut Self::Context) -> Self::Result {
        if let Some(machine) = self.cached(&key) {
            return Box::pin(futures::future::ready(Ok(machine)));
        }
        let (tx, rx) = oneshot::channel();
        let first = !self.pending.contains_key(&key);
        self.pending.entry(key.clone()).or_default().push(tx);
        if first {
            let work = fetch(self.metal.clone(), self.project.clone(), key.clone());
            ctx.spawn(work.into_actor(self).map(move |answer, act, _| {
                if let Ok(machine) = &answer {
                    let now = Instant::now();
                    act.by_id.insert(machine.id.clone(), (now, machine.clone()));
                    if let MachineKey::Hostname(h) = &key {
                        act.by_hostname.insert(h.clone(), (now, machine.id.clone()));
                    }
                }
                for tx in act.pending.remove(&key).unwrap_or_default() {
                    let _ = tx.send(answer.clone());
                }
            }));
        }
        Box::pin(async move {
            rx.await
                .unwrap_or_else(|_| Err(LookupError::Failed("machine cache restarted".into())))
        })
    }
}

impl Handler<Invalidate> for MachineCache {
    type Result = ();

    fn handle(&mut self, Invalidate(id): Invalidate, _: &mut Self::Context) {
        self.by_id.remove(&id);
        self.by_hostname.retain(|_, (_, m)| *m != id);
    }
}
