//! IP endpoints. The address is the IP's id.

use super::{Client, Error, route};
use crate::model::{IpAllocateRequest, IpFindRequest, IpResponse, IpUpdateRequest};

impl Client {
    /// GET /v1/ip/{ip}
    pub async fn get_ip(&self, address: &str) -> Result<IpResponse, Error> {
        self.get(route::path(&["ip", address])).await
    }

    /// GET /v1/ip
    pub async fn list_ips(&self) -> Result<Vec<IpResponse>, Error> {
        self.get(route::path(&["ip"])).await
    }

    /// POST /v1/ip/find
    pub async fn find_ips(&self, request: &IpFindRequest) -> Result<Vec<IpResponse>, Error> {
        self.post(route::path(&["ip", "find"]), request).await
    }

    /// POST /v1/ip/allocate: the next free address of the network.
    pub async fn allocate_ip(&self, request: &IpAllocateRequest) -> Result<IpResponse, Error> {
        self.post(route::path(&["ip", "allocate"]), request).await
    }

    /// POST /v1/ip/allocate/{ip}. [`Error::Conflict`] means the address is taken; not retried.
    pub async fn allocate_specific_ip(
        &self,
        address: &str,
        request: &IpAllocateRequest,
    ) -> Result<IpResponse, Error> {
        self.post(route::path(&["ip", "allocate", address]), request)
            .await
    }

    /// POST /v1/ip, retried on 409. `tags: None` keeps the tags, `Some(vec![])` clears them.
    pub async fn update_ip(&self, request: &IpUpdateRequest) -> Result<IpResponse, Error> {
        self.update(route::path(&["ip"]), request).await
    }

    /// DELETE /v1/ip/free/{ip}; returns the freed IP.
    pub async fn free_ip(&self, address: &str) -> Result<IpResponse, Error> {
        self.delete(route::path(&["ip", "free", address])).await
    }
}
