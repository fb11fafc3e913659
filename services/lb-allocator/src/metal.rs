//! The allocator's metal-api side: carries out the plans of `core::ensure` and `core::tags`,
//! and reports every change metal-api confirmed as an index [`Update`] (also when a later step
//! fails). Tag edits are read-modify-write on one IP, so each runs under that IP's lock with a
//! fresh read; allocations of new IPs need no lock and run concurrently.

use std::net::IpAddr;
use std::sync::Arc;

use metal_api_sdk::client::{Client, Error as MetalError};
use metal_api_sdk::model::{
    AddressFamily, IpAllocateRequest, IpFindRequest, IpResponse, IpUpdateRequest,
};
use rand::RngExt;

use crate::core::config::Config;
use crate::core::ensure::{self, family_optional};
use crate::core::error::LbError;
use crate::core::index::Update;
use crate::core::outcome::{Change, Ensured, LbIp};
use crate::core::service::{LbRequest, ServiceKey};
use crate::core::tags::{self, Release};
use mesh_runtime::locks::KeyedLocks;

#[derive(Clone)]
pub struct MetalOps {
    pub metal: Client,
    pub config: Arc<Config>,
    ip_locks: KeyedLocks,
}

/// `metallb-<5 random characters>`, as metal-ccm names its IPs.
fn ip_name() -> String {
    let mut rng = rand::rng();
    let suffix: String = (0..5)
        .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
        .collect();
    format!("metallb-{suffix}")
}

impl MetalOps {
    pub fn new(metal: Client, config: Arc<Config>) -> Self {
        Self {
            metal,
            config,
            ip_locks: KeyedLocks::default(),
        }
    }

    /// Every IP of the project.
    pub async fn project_ips(&self) -> Result<Vec<IpResponse>, LbError> {
        Ok(self
            .metal
            .find_ips(&IpFindRequest {
                projectid: Some(self.config.project.clone()),
                ..Default::default()
            })
            .await?)
    }

    /// Makes metal-api match `request`, given the IPs that carry its tag: adopt, allocate, then
    /// release what is no longer wanted (make before break). Every adoption is checked before
    /// anything changes, and a failed allocation gives back the addresses this call allocated.
    pub async fn ensure(
        &self,
        request: &LbRequest,
        tagged: &[IpResponse],
        updates: &mut Vec<Update>,
    ) -> Result<Ensured, LbError> {
        let config = &self.config;
        let tag = tags::service_tag(&config.cluster, &request.key);
        let network = if request.fixed.is_empty() {
            ensure::auto_network(config, request)?
        } else {
            String::new()
        };
        let plan = ensure::plan(request, tagged, &network);

        let mut adopt = Vec::new();
        for address in &plan.adopt {
            let found = self
                .metal
                .find_ips(&IpFindRequest {
                    ipaddress: Some(address.to_string()),
                    projectid: Some(config.project.clone()),
                    ..Default::default()
                })
                .await?;
            let ip = tags::adoptable(&found, &address.to_string(), &config.project)?;
            if !config.network_allowed(&ip.networkid) {
                return Err(LbError::NetworkNotAllowed {
                    network: ip.networkid.clone(),
                });
            }
            adopt.push(*address);
        }

        let mut ips: Vec<LbIp> = plan.keep.iter().map(LbIp::from_ip).collect();
        let mut changes = Vec::new();
        for address in adopt {
            let ip = self.add_tag(address, &tag).await?;
            updates.push(Update::Upsert(ip.clone()));
            changes.push(Change::Adopted {
                address: ip.ipaddress.clone(),
            });
            ips.push(LbIp::from_ip(&ip));
        }

        let mut allocated: Vec<IpResponse> = Vec::new();
        for family in &plan.allocate {
            match self.allocate(request, &network, *family, &tag).await {
                Ok(ip) => {
                    updates.push(Update::Upsert(ip.clone()));
                    allocated.push(ip);
                }
                Err(e)
                    if !e.is_transient()
                        && family_optional(
                            request.families,
                            !allocated.is_empty() || !ips.is_empty(),
                        ) =>
                {
                    tracing::info!(service = %request.key, ?family, error = %e, "family not available, going single-stack");
                }
                Err(e) => {
                    for ip in &allocated {
                        if let Err(undo) = self.release_one(&ip.ipaddress, &tag, updates).await {
                            tracing::warn!(ip = %ip.ipaddress, error = %undo, "could not give back an IP after a failed allocation");
                        }
                    }
                    return Err(e);
                }
            }
        }
        for ip in &allocated {
            changes.push(Change::Allocated {
                address: ip.ipaddress.clone(),
                network: ip.networkid.clone(),
            });
            ips.push(LbIp::from_ip(ip));
        }

        for address in &plan.release {
            if let Some(change) = self.release_one(address, &tag, updates).await? {
                changes.push(change);
            }
        }
        ips.sort_by(|a, b| a.address.cmp(&b.address));
        Ok(Ensured { ips, changes })
    }

    async fn allocate(
        &self,
        request: &LbRequest,
        network: &str,
        family: Option<AddressFamily>,
        tag: &str,
    ) -> Result<IpResponse, LbError> {
        let config = &self.config;
        let result = self
            .metal
            .allocate_ip(&IpAllocateRequest {
                name: Some(ip_name()),
                description: Some(format!("load balancer of Service {}", request.key)),
                networkid: network.to_string(),
                projectid: config.project.clone(),
                ip_type: Some("ephemeral".into()),
                tags: Some(vec![tag.to_string()]),
                addressfamily: family,
                ..Default::default()
            })
            .await;
        result.map_err(|e| {
            let (project, network) = (config.project.clone(), network.to_string());
            match e {
                MetalError::Exhausted(message) => LbError::Exhausted {
                    project,
                    network,
                    message,
                },
                MetalError::NotFound(message) | MetalError::BadRequest { message, .. } => {
                    LbError::AcquireFailed {
                        project,
                        network,
                        message,
                    }
                }
                other => LbError::MetalApi(other.to_string()),
            }
        })
    }

    /// Adds `tag` to the IP, under its lock, from a fresh read.
    async fn add_tag(&self, address: IpAddr, tag: &str) -> Result<IpResponse, LbError> {
        let address = address.to_string();
        let _guard = self.ip_locks.lock(&address).await;
        let ip = self.metal.get_ip(&address).await?;
        match tags::with_tag(&ip, tag) {
            None => Ok(ip),
            Some(tags) => Ok(self
                .metal
                .update_ip(&IpUpdateRequest {
                    ipaddress: address,
                    tags: Some(tags),
                    ..Default::default()
                })
                .await?),
        }
    }

    /// Removes `tag` from one IP, freeing it when it is ephemeral and untagged then.
    async fn release_one(
        &self,
        address: &str,
        tag: &str,
        updates: &mut Vec<Update>,
    ) -> Result<Option<Change>, LbError> {
        let _guard = self.ip_locks.lock(address).await;
        let ip = match self.metal.get_ip(address).await {
            Ok(ip) => ip,
            Err(MetalError::NotFound(_)) => {
                updates.push(Update::Remove(address.to_string()));
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let freed = match tags::release(&ip, tag) {
            Release::Untouched => {
                // Someone else already took the tag off: the index learns the truth.
                updates.push(Update::Upsert(ip));
                return Ok(None);
            }
            Release::Free => {
                match self.metal.free_ip(address).await {
                    Ok(_) | Err(MetalError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                updates.push(Update::Remove(address.to_string()));
                true
            }
            Release::Retag(rest) => {
                let ip = self
                    .metal
                    .update_ip(&IpUpdateRequest {
                        ipaddress: address.to_string(),
                        tags: Some(rest),
                        ..Default::default()
                    })
                    .await?;
                updates.push(Update::Upsert(ip));
                false
            }
        };
        Ok(Some(Change::Released {
            address: address.to_string(),
            freed,
        }))
    }

    /// Drops the Service's claim on every IP that carries its tag.
    pub async fn release(
        &self,
        key: &ServiceKey,
        tagged: &[IpResponse],
        updates: &mut Vec<Update>,
    ) -> Result<Vec<Change>, LbError> {
        let tag = tags::service_tag(&self.config.cluster, key);
        let mut changes = Vec::new();
        for ip in tagged {
            if let Some(change) = self.release_one(&ip.ipaddress, &tag, updates).await? {
                changes.push(change);
            }
        }
        Ok(changes)
    }
}
