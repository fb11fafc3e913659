//! Lookups and admin creates of partitions, sizes, images and projects.

use super::{Client, Error, route};
use crate::model::{
    ImageCreateRequest, ImageFindRequest, ImageResponse, PartitionCreateRequest, PartitionResponse,
    ProjectFindRequest, ProjectResponse, SizeCreateRequest, SizeResponse,
};

impl Client {
    /// GET /v1/partition/{id}
    pub async fn get_partition(&self, id: &str) -> Result<PartitionResponse, Error> {
        self.get(route::path(&["partition", id])).await
    }

    /// GET /v1/partition
    pub async fn list_partitions(&self) -> Result<Vec<PartitionResponse>, Error> {
        self.get(route::path(&["partition"])).await
    }

    /// PUT /v1/partition (admin).
    pub async fn create_partition(
        &self,
        request: &PartitionCreateRequest,
    ) -> Result<PartitionResponse, Error> {
        self.put(route::path(&["partition"]), request).await
    }

    /// GET /v1/size/{id}
    pub async fn get_size(&self, id: &str) -> Result<SizeResponse, Error> {
        self.get(route::path(&["size", id])).await
    }

    /// GET /v1/size
    pub async fn list_sizes(&self) -> Result<Vec<SizeResponse>, Error> {
        self.get(route::path(&["size"])).await
    }

    /// PUT /v1/size (admin).
    pub async fn create_size(&self, request: &SizeCreateRequest) -> Result<SizeResponse, Error> {
        self.put(route::path(&["size"]), request).await
    }

    /// GET /v1/image/{id}
    pub async fn get_image(&self, id: &str) -> Result<ImageResponse, Error> {
        self.get(route::path(&["image", id])).await
    }

    /// GET /v1/image
    pub async fn list_images(&self) -> Result<Vec<ImageResponse>, Error> {
        self.get(route::path(&["image"])).await
    }

    /// POST /v1/image/find
    pub async fn find_images(
        &self,
        request: &ImageFindRequest,
    ) -> Result<Vec<ImageResponse>, Error> {
        self.post(route::path(&["image", "find"]), request).await
    }

    /// GET /v1/image/{id}/latest: the newest image whose id starts with `id` (an OS version).
    pub async fn latest_image(&self, id: &str) -> Result<ImageResponse, Error> {
        self.get(route::path(&["image", id, "latest"])).await
    }

    /// PUT /v1/image (admin).
    pub async fn create_image(&self, request: &ImageCreateRequest) -> Result<ImageResponse, Error> {
        self.put(route::path(&["image"]), request).await
    }

    /// GET /v1/project/{id}
    pub async fn get_project(&self, id: &str) -> Result<ProjectResponse, Error> {
        self.get(route::path(&["project", id])).await
    }

    /// GET /v1/project
    pub async fn list_projects(&self) -> Result<Vec<ProjectResponse>, Error> {
        self.get(route::path(&["project"])).await
    }

    /// POST /v1/project/find
    pub async fn find_projects(
        &self,
        request: &ProjectFindRequest,
    ) -> Result<Vec<ProjectResponse>, Error> {
        self.post(route::path(&["project", "find"]), request).await
    }

    /// PUT /v1/project (admin); the body has the response's shape.
    pub async fn create_project(
        &self,
        request: &ProjectResponse,
    ) -> Result<ProjectResponse, Error> {
        self.put(route::path(&["project"]), request).await
    }
}
