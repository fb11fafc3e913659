//! `/v1/metallb`: the load-balancer configuration the writer last computed (and, with
//! Kubernetes, wrote): the abstract pools and peers, what was left out and why, and the objects.

use actix_web::{get, web};
use mesh_runtime::problem::Problem;
use serde::Serialize;
use utoipa::ToSchema;

use super::State;
use super::error::{from_mailbox, problem};
use crate::actors::lbconfig::{Current, Sync};
use crate::core::config::LoadBalancerKind;
use crate::core::lbconfig::{Peer, Pool, Skipped};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(desired);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DesiredConfig {
    /// What the objects are for: `metallb` or `cilium`.
    pub loadbalancer: LoadBalancerKind,
    /// Namespace of the MetalLB objects.
    pub namespace: String,
    pub pools: Vec<Pool>,
    pub peers: Vec<Peer>,
    /// IPs and nodes left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// The Kubernetes objects, as written (IPAddressPool, BGPAdvertisement, BGPPeer; or
    /// CiliumLoadBalancerIPPool, CiliumBGPPeeringPolicy).
    #[schema(value_type = Vec<Object>)]
    pub objects: Vec<serde_json::Value>,
}

/// The desired MetalLB (or Cilium) configuration.
#[utoipa::path(get, path = "/v1/metallb", tag = "metallb", operation_id = "desiredLoadBalancerConfig",
    responses((status = 200, description = "The desired configuration", body = DesiredConfig),
        (status = 502, description = "metal-api unavailable", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The configuration could not be computed", body = Problem, content_type = "application/problem+json")))]
#[get("/v1/metallb")]
pub async fn desired(state: web::Data<State>) -> Result<web::Json<DesiredConfig>, Problem> {
    let snapshot = match state.lbconfig.send(Current).await.map_err(from_mailbox)? {
        Some(s) => s,
        None => {
            state
                .lbconfig
                .send(Sync)
                .await
                .map_err(from_mailbox)?
                .map_err(|e| problem(&e))?;
            state
                .lbconfig
                .send(Current)
                .await
                .map_err(from_mailbox)?
                .ok_or_else(|| Problem::internal("no configuration after a successful write"))?
        }
    };
    let namespace = state.config.metallb_namespace.clone();
    Ok(web::Json(DesiredConfig {
        loadbalancer: state.config.loadbalancer,
        objects: snapshot
            .desired
            .objects
            .iter()
            .map(|o| o.to_object(&namespace))
            .collect(),
        namespace,
        pools: snapshot.config.pools.clone(),
        peers: snapshot.config.peers.clone(),
        skipped: snapshot.config.skipped.clone(),
    }))
}
