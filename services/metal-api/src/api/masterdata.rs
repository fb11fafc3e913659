//! Partitions, sizes, images and projects: lookups and admin creates.

use actix_web::{HttpResponse, get, post, put, web};
use metal_api_sdk::model::{
    HttpErrorResponse, ImageCreateRequest, ImageFindRequest, ImageResponse, PartitionCreateRequest,
    PartitionResponse, ProjectFindRequest, ProjectResponse, SizeCreateRequest, SizeResponse,
};

use super::Inv;
use super::auth::{Admin, View};
use crate::actors::inventory::exec;
use crate::core::{ApiError, filters, masterdata};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(find_images)
        .service(latest_image)
        .service(find_projects)
        .service(list_partitions)
        .service(create_partition)
        .service(find_partition)
        .service(list_sizes)
        .service(create_size)
        .service(find_size)
        .service(list_images)
        .service(create_image)
        .service(find_image)
        .service(list_projects)
        .service(create_project)
        .service(find_project);
}

/// get partition by id
#[utoipa::path(get, path = "/v1/partition/{id}", tag = "partition", operation_id = "findPartition",
    params(("id" = String, Path, description = "identifier of the partition")),
    responses((status = 200, description = "OK", body = PartitionResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/partition/{id}")]
pub async fn find_partition(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<PartitionResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| masterdata::partition(s, &id))
        .await
        .map(web::Json)
}

/// get all partitions
#[utoipa::path(get, path = "/v1/partition", tag = "partition", operation_id = "listPartitions",
    responses((status = 200, description = "OK", body = [PartitionResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/partition")]
pub async fn list_partitions(
    _: View,
    inv: Inv,
) -> Result<web::Json<Vec<PartitionResponse>>, ApiError> {
    exec(&inv, |s, _| Ok(s.partitions.values().cloned().collect()))
        .await
        .map(web::Json)
}

/// create a partition. if the given ID already exists a conflict is returned
#[utoipa::path(put, path = "/v1/partition", tag = "partition", operation_id = "createPartition", request_body = PartitionCreateRequest,
    responses((status = 201, description = "Created", body = PartitionResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[put("/v1/partition")]
pub async fn create_partition(
    _: Admin,
    inv: Inv,
    body: web::Json<PartitionCreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let created = exec(&inv, move |s, ctx| {
        masterdata::create_partition(s, ctx, &req)
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}

/// get size by id
#[utoipa::path(get, path = "/v1/size/{id}", tag = "size", operation_id = "findSize",
    params(("id" = String, Path, description = "identifier of the size")),
    responses((status = 200, description = "OK", body = SizeResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/size/{id}")]
pub async fn find_size(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<SizeResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| masterdata::size(s, &id))
        .await
        .map(web::Json)
}

/// get all sizes
#[utoipa::path(get, path = "/v1/size", tag = "size", operation_id = "listSizes",
    responses((status = 200, description = "OK", body = [SizeResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/size")]
pub async fn list_sizes(_: View, inv: Inv) -> Result<web::Json<Vec<SizeResponse>>, ApiError> {
    exec(&inv, |s, _| Ok(s.sizes.values().cloned().collect()))
        .await
        .map(web::Json)
}

/// create a size. if the given ID already exists a conflict is returned
#[utoipa::path(put, path = "/v1/size", tag = "size", operation_id = "createSize", request_body = SizeCreateRequest,
    responses((status = 201, description = "Created", body = SizeResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[put("/v1/size")]
pub async fn create_size(
    _: Admin,
    inv: Inv,
    body: web::Json<SizeCreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let created = exec(&inv, move |s, ctx| masterdata::create_size(s, ctx, &req)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// get image by id
#[utoipa::path(get, path = "/v1/image/{id}", tag = "image", operation_id = "findImage",
    params(("id" = String, Path, description = "identifier of the image")),
    responses((status = 200, description = "OK", body = ImageResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/image/{id}")]
pub async fn find_image(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<ImageResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| masterdata::image(s, &id))
        .await
        .map(web::Json)
}

/// get all images
#[utoipa::path(get, path = "/v1/image", tag = "image", operation_id = "listImages",
    responses((status = 200, description = "OK", body = [ImageResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/image")]
pub async fn list_images(_: View, inv: Inv) -> Result<web::Json<Vec<ImageResponse>>, ApiError> {
    exec(&inv, |s, _| Ok(s.images.values().cloned().collect()))
        .await
        .map(web::Json)
}

/// create a image. if the given ID already exists a conflict is returned
#[utoipa::path(put, path = "/v1/image", tag = "image", operation_id = "createImage", request_body = ImageCreateRequest,
    responses((status = 201, description = "Created", body = ImageResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[put("/v1/image")]
pub async fn create_image(
    _: Admin,
    inv: Inv,
    body: web::Json<ImageCreateRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let created = exec(&inv, move |s, ctx| masterdata::create_image(s, ctx, &req)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// get project by id
#[utoipa::path(get, path = "/v1/project/{id}", tag = "project", operation_id = "findProject",
    params(("id" = String, Path, description = "identifier of the project")),
    responses((status = 200, description = "OK", body = ProjectResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/project/{id}")]
pub async fn find_project(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<ProjectResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| masterdata::project(s, &id))
        .await
        .map(web::Json)
}

/// get all projects
#[utoipa::path(get, path = "/v1/project", tag = "project", operation_id = "listProjects",
    responses((status = 200, description = "OK", body = [ProjectResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/project")]
pub async fn list_projects(_: View, inv: Inv) -> Result<web::Json<Vec<ProjectResponse>>, ApiError> {
    exec(&inv, |s, _| Ok(s.projects.values().cloned().collect()))
        .await
        .map(web::Json)
}

/// create a project. if the given ID already exists a conflict is returned
#[utoipa::path(put, path = "/v1/project", tag = "project", operation_id = "createProject", request_body = ProjectResponse,
    responses((status = 201, description = "Created", body = ProjectResponse), (status = 409, description = "Conflict", body = HttpErrorResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[put("/v1/project")]
pub async fn create_project(
    _: Admin,
    inv: Inv,
    body: web::Json<ProjectResponse>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let created = exec(&inv, move |s, ctx| masterdata::create_project(s, ctx, &req)).await?;
    Ok(HttpResponse::Created().json(created))
}

/// find latest image by id
#[utoipa::path(get, path = "/v1/image/{id}/latest", tag = "image", operation_id = "findLatestImage",
    params(("id" = String, Path, description = "identifier of the image")),
    responses((status = 200, description = "OK", body = ImageResponse), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[get("/v1/image/{id}/latest")]
pub async fn latest_image(
    _: View,
    inv: Inv,
    id: web::Path<String>,
) -> Result<web::Json<ImageResponse>, ApiError> {
    let id = id.into_inner();
    exec(&inv, move |s, _| masterdata::latest_image(s, &id))
        .await
        .map(web::Json)
}

/// find images by multiple criteria
#[utoipa::path(post, path = "/v1/image/find", tag = "image", operation_id = "findImages", request_body = ImageFindRequest,
    responses((status = 200, description = "OK", body = [ImageResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/image/find")]
pub async fn find_images(
    _: View,
    inv: Inv,
    body: web::Json<ImageFindRequest>,
) -> Result<web::Json<Vec<ImageResponse>>, ApiError> {
    let f = body.into_inner();
    exec(&inv, move |s, _| Ok(filters::images(s, &f)))
        .await
        .map(web::Json)
}

/// get all projects that match given properties
#[utoipa::path(post, path = "/v1/project/find", tag = "project", operation_id = "findProjects", request_body = ProjectFindRequest,
    responses((status = 200, description = "OK", body = [ProjectResponse]), (status = "default", description = "Error", body = HttpErrorResponse)),
    security(("HMAC" = [])))]
#[post("/v1/project/find")]
pub async fn find_projects(
    _: View,
    inv: Inv,
    body: web::Json<ProjectFindRequest>,
) -> Result<web::Json<Vec<ProjectResponse>>, ApiError> {
    let f = body.into_inner();
    exec(&inv, move |s, _| Ok(filters::projects(s, &f)))
        .await
        .map(web::Json)
}
