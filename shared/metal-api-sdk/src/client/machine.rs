//! Machine and firewall endpoints; a firewall is a machine allocated with role "firewall".

use super::{Client, Error, route};
use crate::model::{
    FirewallResponse, MachineAllocateRequest, MachineFindRequest, MachineRegisterRequest,
    MachineResponse, MachineUpdateRequest,
};

impl Client {
    /// GET /v1/machine/{id}
    pub async fn get_machine(&self, id: &str) -> Result<MachineResponse, Error> {
        self.get(route::path(&["machine", id])).await
    }

    /// GET /v1/machine
    pub async fn list_machines(&self) -> Result<Vec<MachineResponse>, Error> {
        self.get(route::path(&["machine"])).await
    }

    /// POST /v1/machine/find: machines of every role unless `allocation_role` is set.
    pub async fn find_machines(
        &self,
        request: &MachineFindRequest,
    ) -> Result<Vec<MachineResponse>, Error> {
        self.post(route::path(&["machine", "find"]), request).await
    }

    /// POST /v1/machine/allocate. No free machine is [`Error::Exhausted`].
    pub async fn allocate_machine(
        &self,
        request: &MachineAllocateRequest,
    ) -> Result<MachineResponse, Error> {
        self.post(route::path(&["machine", "allocate"]), request)
            .await
    }

    /// POST /v1/machine (admin), retried on 409.
    pub async fn update_machine(
        &self,
        request: &MachineUpdateRequest,
    ) -> Result<MachineResponse, Error> {
        self.update(route::path(&["machine"]), request).await
    }

    /// DELETE /v1/machine/{id}/free; returns the machine without allocation. Also frees firewalls.
    pub async fn free_machine(&self, id: &str) -> Result<MachineResponse, Error> {
        self.delete(route::path(&["machine", id, "free"])).await
    }

    /// POST /v1/machine/register: our extension that adds a machine to the inventory.
    pub async fn register_machine(
        &self,
        request: &MachineRegisterRequest,
    ) -> Result<MachineResponse, Error> {
        self.post(route::path(&["machine", "register"]), request)
            .await
    }

    /// POST /v1/firewall/allocate
    pub async fn allocate_firewall(
        &self,
        request: &MachineAllocateRequest,
    ) -> Result<FirewallResponse, Error> {
        self.post(route::path(&["firewall", "allocate"]), request)
            .await
    }

    /// GET /v1/firewall/{id}
    pub async fn get_firewall(&self, id: &str) -> Result<FirewallResponse, Error> {
        self.get(route::path(&["firewall", id])).await
    }

    /// POST /v1/firewall/find: the server forces `allocation_role=firewall`.
    pub async fn find_firewalls(
        &self,
        request: &MachineFindRequest,
    ) -> Result<Vec<FirewallResponse>, Error> {
        self.post(route::path(&["firewall", "find"]), request).await
    }

    /// GET /v1/firewall
    pub async fn list_firewalls(&self) -> Result<Vec<FirewallResponse>, Error> {
        self.get(route::path(&["firewall"])).await
    }
}
