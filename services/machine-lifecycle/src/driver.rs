//! The driver: MCM's provider methods over metal-api. The decisions are [`crate::core`]'s; this
//! module makes the calls, one metal-api client per endpoint and credential of a MachineClass
//! Secret.
//!
//! Create is idempotent on the Machine name: it first looks for a machine already allocated
//! with that name in the cluster (an earlier call whose answer was lost, or a driver killed
//! before the providerID was written) and adopts it. Calls for one Machine name run one at a
//! time in this process, so two callers (the controller and the REST API) cannot both allocate.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mesh_runtime::locks::KeyedLocks;
use metal_api_sdk::client::{Client, ClientConfig, Error as MetalError};
use tokio::sync::watch;

use crate::core::class::{Class, Endpoint};
use crate::core::code::DriverError;
use crate::core::machines::{self, Found, VolumeSpec};
use crate::core::tags;

/// What a Create did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub found: Found,
    /// An earlier call had allocated the machine; this one found it.
    pub adopted: bool,
}

/// Told about machines this driver freed (so Machines waiting for one can retry at once).
pub trait OnFreed: Send + Sync {
    fn freed(&self, partition: &str, size: &str);
}

pub struct Driver {
    timeout: Duration,
    ca_file: Option<PathBuf>,
    clients: parking_lot::Mutex<HashMap<Endpoint, Client>>,
    names: KeyedLocks,
    on_freed: parking_lot::RwLock<Option<Arc<dyn OnFreed>>>,
    /// With leader election: whether this replica leads. Only the leader allocates and frees,
    /// so the per-name locks of one process are all it takes.
    leading: parking_lot::RwLock<Option<watch::Receiver<bool>>>,
}

impl Driver {
    pub fn new(timeout: Duration, ca_file: Option<PathBuf>) -> Self {
        Self {
            timeout,
            ca_file,
            clients: Default::default(),
            names: KeyedLocks::default(),
            on_freed: Default::default(),
            leading: Default::default(),
        }
    }

    /// Refuse to allocate or free (Unavailable) while `leading` says another replica leads.
    pub fn only_while_leading(&self, leading: watch::Receiver<bool>) {
        *self.leading.write() = Some(leading);
    }

    fn check_leading(&self) -> Result<(), DriverError> {
        match &*self.leading.read() {
            Some(leading) if !*leading.borrow() => Err(DriverError::new(
                crate::core::code::Code::Unavailable,
                "this replica does not hold the leader-election Lease: ask the leader",
            )),
            _ => Ok(()),
        }
    }

    pub fn set_on_freed(&self, on_freed: Arc<dyn OnFreed>) {
        *self.on_freed.write() = Some(on_freed);
    }

    /// The (shared) client for a class's metal-api endpoint.
    fn client(&self, class: &Class) -> Result<Client, DriverError> {
        let mut clients = self.clients.lock();
        if let Some(client) = clients.get(&class.endpoint) {
            return Ok(client.clone());
        }
        let mut config = ClientConfig::new(&class.endpoint.url, class.endpoint.auth());
        config.timeout = self.timeout;
        config.ca_file = self.ca_file.clone();
        config.user_agent = concat!("machine-lifecycle/", env!("CARGO_PKG_VERSION")).into();
        let client = Client::new(config).map_err(|e| {
            DriverError::invalid(format!(
                "machine class {}: secret key metalAPIURL: {e}",
                class.name
            ))
        })?;
        clients.insert(class.endpoint.clone(), client.clone());
        Ok(client)
    }

    /// Allocates a machine for the Machine `name`, or adopts the one already allocated for it.
    pub async fn create(&self, class: &Class, name: &str) -> Result<Created, DriverError> {
        check_name(name)?;
        self.check_leading()?;
        let client = self.client(class)?;
        let _one_at_a_time = self
            .names
            .lock(&format!("{}/{name}", class.cluster_id))
            .await;
        let found = client
            .find_machines(&machines::find_by_name(class, name))
            .await
            .map_err(|e| DriverError::metal(&format!("looking up machine {name}"), &e))?;
        if let Some((machine, leaked)) = machines::keep_earliest(&found) {
            let found = machines::status(class, machine)?;
            for extra in leaked {
                self.free_leaked(&client, class, name, &extra.id).await?;
            }
            tracing::info!(machine = name, provider_id = %found.provider_id, "adopted the machine allocated earlier");
            return Ok(Created {
                found,
                adopted: true,
            });
        }
        let allocated = client
            .allocate_machine(&machines::allocate_request(class, name))
            .await
            .map_err(|e| DriverError::metal(&format!("allocating machine {name}"), &e))?;
        let found = machines::status(class, &allocated)?;
        tracing::info!(machine = name, provider_id = %found.provider_id, "allocated");
        Ok(Created {
            found,
            adopted: false,
        })
    }

    /// Frees the machine of the Machine: the one its providerID names and any allocated under
    /// its name (so one whose providerID was never recorded is not leaked). Nothing to free is
    /// success. Returns the providerID freed.
    pub async fn delete(
        &self,
        class: &Class,
        name: &str,
        provider_id: &str,
    ) -> Result<Option<String>, DriverError> {
        self.check_leading()?;
        let client = self.client(class)?;
        let _one_at_a_time = self
            .names
            .lock(&format!("{}/{name}", class.cluster_id))
            .await;
        let lookup = |query| {
            let client = client.clone();
            async move {
                client
                    .find_machines(&query)
                    .await
                    .map_err(|e| DriverError::metal(&format!("looking up machine {name}"), &e))
            }
        };
        // The providerID's machine only while it is still allocated under this name: once
        // freed, it may already be another Machine's (a stale second delete must not free it).
        let mut found: Vec<_> = match tags::machine_id(provider_id) {
            Some(id) => lookup(machines::find_by_id(class, id)).await?,
            None => Vec::new(),
        };
        found.retain(|m| machines::allocated_as(m, name));
        for machine in lookup(machines::find_by_name(class, name)).await? {
            if !found.iter().any(|m| m.id == machine.id) {
                found.push(machine);
            }
        }
        let Some(first) = found.first() else {
            return Ok(None);
        };
        let freed = machines::status(class, first)
            .map(|f| f.provider_id)
            .unwrap_or_else(|_| first.id.clone());
        for machine in &found {
            self.free(&client, class, name, &machine.id).await?;
        }
        tracing::info!(machine = name, provider_id = %freed, count = found.len(), "freed");
        Ok(Some(freed))
    }

    /// Frees one machine (gone already is fine) and tells who waits for one of its pool.
    async fn free(
        &self,
        client: &Client,
        class: &Class,
        name: &str,
        id: &str,
    ) -> Result<(), DriverError> {
        match client.free_machine(id).await {
            Ok(_) | Err(MetalError::NotFound(_)) => {}
            Err(e) => {
                return Err(DriverError::metal(
                    &format!("freeing machine {id} of {name}"),
                    &e,
                ));
            }
        }
        if let Some(on_freed) = self.on_freed.read().clone() {
            on_freed.freed(&class.spec.partition, &class.spec.size);
        }
        Ok(())
    }

    async fn free_leaked(
        &self,
        client: &Client,
        class: &Class,
        name: &str,
        id: &str,
    ) -> Result<(), DriverError> {
        tracing::warn!(
            machine = name,
            leaked = id,
            "a second machine was allocated under this name; freeing it"
        );
        self.free(client, class, name, id).await
    }

    /// The machine behind the Machine; NotFound before creation, for a machine metal-api does
    /// not know (404), one released, or one of another cluster.
    pub async fn status(
        &self,
        class: &Class,
        name: &str,
        provider_id: &str,
    ) -> Result<Found, DriverError> {
        let Some(id) = tags::machine_id(provider_id) else {
            return Err(DriverError::not_found(format!(
                "machine {name} is not yet created"
            )));
        };
        let client = self.client(class)?;
        let machine = client
            .get_machine(id)
            .await
            .map_err(|e| DriverError::metal(&format!("reading machine {id} of {name}"), &e))?;
        machines::status(class, &machine)
    }

    /// providerID → Machine name of the cluster's machines.
    pub async fn list(
        &self,
        class: &Class,
    ) -> Result<std::collections::BTreeMap<String, String>, DriverError> {
        let client = self.client(class)?;
        let found = client
            .find_machines(&machines::find_cluster(class))
            .await
            .map_err(|e| DriverError::metal("listing the cluster's machines", &e))?;
        machines::list(&found)
    }

    pub fn volume_ids(&self, specs: &[VolumeSpec]) -> Vec<String> {
        machines::volume_ids(specs)
    }

    /// Metal machines need no initialization: MCM skips the step on Unimplemented.
    pub fn initialize(&self) -> Result<Found, DriverError> {
        Err(DriverError::new(
            crate::core::code::Code::Unimplemented,
            "metal machines need no initialization",
        ))
    }
}

/// A Machine name becomes the machine's hostname: a DNS label, as Kubernetes names are.
fn check_name(name: &str) -> Result<(), DriverError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(DriverError::invalid(format!(
            "machine name {name:?} is not a valid Kubernetes name (lower-case letters, digits, '-' and '.')"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_replica_that_does_not_lead_neither_allocates_nor_frees() {
        let driver = Driver::new(Duration::from_secs(1), None);
        assert!(driver.check_leading().is_ok(), "no election: always");
        let (lease, leading) = watch::channel(false);
        driver.only_while_leading(leading);
        let e = driver.check_leading().unwrap_err();
        assert_eq!(e.code, crate::core::code::Code::Unavailable);
        lease.send(true).unwrap();
        assert!(driver.check_leading().is_ok());
    }

    #[test]
    fn machine_names_must_be_kubernetes_names() {
        assert!(check_name("shoot--p--c-worker-abc12-z1-5d7f9-xk2lp").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a b", &"a".repeat(254)] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.code, crate::core::code::Code::InvalidArgument, "{bad}");
        }
    }
}
