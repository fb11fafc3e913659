//! Network endpoints.

use super::{Client, Error, route};
use crate::model::{
    NetworkAllocateRequest, NetworkCreateRequest, NetworkFindRequest, NetworkResponse,
};

impl Client {
    /// GET /v1/network/{id}
    pub async fn get_network(&self, id: &str) -> Result<NetworkResponse, Error> {
        self.get(route::path(&["network", id])).await
    }

    /// GET /v1/network
    pub async fn list_networks(&self) -> Result<Vec<NetworkResponse>, Error> {
        self.get(route::path(&["network"])).await
    }

    /// POST /v1/network/find
    pub async fn find_networks(
        &self,
        request: &NetworkFindRequest,
    ) -> Result<Vec<NetworkResponse>, Error> {
        self.post(route::path(&["network", "find"]), request).await
    }

    /// POST /v1/network/allocate: a child of the partition's private super network.
    pub async fn allocate_network(
        &self,
        request: &NetworkAllocateRequest,
    ) -> Result<NetworkResponse, Error> {
        self.post(route::path(&["network", "allocate"]), request)
            .await
    }

    /// DELETE /v1/network/free/{id}: releases an allocated child network.
    pub async fn free_network(&self, id: &str) -> Result<NetworkResponse, Error> {
        self.delete(route::path(&["network", "free", id])).await
    }

    /// PUT /v1/network (admin).
    pub async fn create_network(
        &self,
        request: &NetworkCreateRequest,
    ) -> Result<NetworkResponse, Error> {
        self.put(route::path(&["network"]), request).await
    }

    /// DELETE /v1/network/{id} (admin).
    pub async fn delete_network(&self, id: &str) -> Result<NetworkResponse, Error> {
        self.delete(route::path(&["network", id])).await
    }
}
