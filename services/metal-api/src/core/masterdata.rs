//! Partitions, sizes, images and projects: admin create, lookups, image resolution.

use metal_api_sdk::model::{
    ImageCreateRequest, ImageResponse, PartitionCreateRequest, PartitionResponse, ProjectResponse,
    SizeCreateRequest, SizeResponse,
};

use super::{ApiError, ApiResult, Change, Ctx, State};

fn require_id(kind: &str, id: &str) -> ApiResult<()> {
    if id.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{kind} id should not be empty"
        )));
    }
    Ok(())
}

fn lookup<T: Clone>(
    map: &std::collections::BTreeMap<String, T>,
    kind: &str,
    id: &str,
) -> ApiResult<T> {
    map.get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("{kind} with id {id:?} not found")))
}

fn conflict(kind: &str, id: &str) -> ApiError {
    ApiError::conflict(format!("{kind} with id {id:?} already exists"))
}

pub fn partition(state: &State, id: &str) -> ApiResult<PartitionResponse> {
    lookup(&state.partitions, "partition", id)
}
pub fn size(state: &State, id: &str) -> ApiResult<SizeResponse> {
    lookup(&state.sizes, "size", id)
}
pub fn image(state: &State, id: &str) -> ApiResult<ImageResponse> {
    lookup(&state.images, "image", id)
}
pub fn project(state: &State, id: &str) -> ApiResult<ProjectResponse> {
    lookup(&state.projects, "project", id)
}

pub fn create_partition(
    state: &mut State,
    ctx: &mut Ctx,
    req: &PartitionCreateRequest,
) -> ApiResult<PartitionResponse> {
    require_id("partition", &req.id)?;
    if state.partitions.contains_key(&req.id) {
        return Err(conflict("partition", &req.id));
    }
    let p = PartitionResponse {
        id: req.id.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        labels: req.labels.clone(),
        bootconfig: req.bootconfig.clone(),
        mgmtserviceaddress: req.mgmtserviceaddress.clone(),
        dns_servers: req.dns_servers.clone(),
        ntp_servers: req.ntp_servers.clone(),
        created: Some(ctx.now),
        changed: Some(ctx.now),
    };
    state.put_change(Change::Partition(p.id.clone(), Some(p.clone())));
    Ok(p)
}

const CONSTRAINT_TYPES: [&str; 4] = ["cores", "memory", "storage", "gpu"];

pub fn create_size(
    state: &mut State,
    ctx: &mut Ctx,
    req: &SizeCreateRequest,
) -> ApiResult<SizeResponse> {
    require_id("size", &req.id)?;
    if state.sizes.contains_key(&req.id) {
        return Err(conflict("size", &req.id));
    }
    for c in &req.constraints {
        if !CONSTRAINT_TYPES.contains(&c.constraint_type.as_str()) {
            return Err(ApiError::bad_request(format!(
                "unknown constraint type {:?}",
                c.constraint_type
            )));
        }
        if let (Some(min), Some(max)) = (c.min, c.max)
            && min > max
        {
            return Err(ApiError::bad_request(format!(
                "constraint {}: min {min} is greater than max {max}",
                c.constraint_type
            )));
        }
    }
    let s = SizeResponse {
        id: req.id.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        labels: req.labels.clone(),
        constraints: req.constraints.clone(),
        created: Some(ctx.now),
        changed: Some(ctx.now),
    };
    state.put_change(Change::Size(s.id.clone(), Some(s.clone())));
    Ok(s)
}

const FEATURES: [&str; 2] = ["machine", "firewall"];

pub fn create_image(
    state: &mut State,
    ctx: &mut Ctx,
    req: &ImageCreateRequest,
) -> ApiResult<ImageResponse> {
    require_id("image", &req.id)?;
    if req.url.is_empty() {
        return Err(ApiError::bad_request("image url should not be empty"));
    }
    if state.images.contains_key(&req.id) {
        return Err(conflict("image", &req.id));
    }
    if os_and_version(&req.id).is_none() {
        return Err(ApiError::bad_request(format!(
            "image id {:?} must be <os>-<version>, e.g. ubuntu-24.04.20260101",
            req.id
        )));
    }
    if let Some(f) = req
        .features
        .iter()
        .find(|f| !FEATURES.contains(&f.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "unknown image feature {f:?}"
        )));
    }
    let i = ImageResponse {
        id: req.id.clone(),
        name: req.name.clone(),
        description: req.description.clone(),
        url: Some(req.url.clone()),
        features: req.features.clone(),
        classification: req.classification.clone(),
        // Upstream defaults the expiration to 90 days from creation.
        expiration_date: req
            .expiration_date
            .unwrap_or(ctx.now + chrono::Duration::days(90)),
        usedby: Vec::new(),
        created: Some(ctx.now),
        changed: Some(ctx.now),
    };
    state.put_change(Change::Image(i.id.clone(), Some(i.clone())));
    Ok(i)
}

pub fn create_project(
    state: &mut State,
    ctx: &mut Ctx,
    req: &ProjectResponse,
) -> ApiResult<ProjectResponse> {
    let mut p = req.clone();
    let id = match p.meta.id.as_deref() {
        Some(id) if !id.is_empty() => id.to_string(),
        _ => ctx.entropy.uuid(),
    };
    if state.projects.contains_key(&id) {
        return Err(conflict("project", &id));
    }
    p.meta.id = Some(id.clone());
    p.meta.kind = Some("Project".into());
    p.meta.apiversion = Some("v1".into());
    p.meta.version = Some(1);
    p.meta.created_time = Some(ctx.now);
    p.meta.updated_time = Some(ctx.now);
    state.put_change(Change::Project(id, Some(p.clone())));
    Ok(p)
}

/// Splits an image id `<os>-<version>` at the last `-` before the version's first digit.
pub fn os_and_version(id: &str) -> Option<(&str, &str)> {
    let (os, version) = id.rsplit_once('-')?;
    (!os.is_empty() && version.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .then_some((os, version))
}

/// Numeric version parts, for ordering ("24.04.20260101" → [24, 4, 20260101]).
fn version_key(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

/// The newest image whose id is `query` or extends it with more version parts
/// (`ubuntu-24.04` → `ubuntu-24.04.20260101`), upstream's "most recent matching image".
pub fn latest_image(state: &State, query: &str) -> ApiResult<ImageResponse> {
    let (os, version) = os_and_version(query).ok_or_else(|| {
        ApiError::bad_request(format!("image id {query:?} must be <os>-<version>"))
    })?;
    state
        .images
        .values()
        .filter(|i| {
            os_and_version(&i.id).is_some_and(|(o, v)| {
                o == os
                    && (v == version
                        || v.strip_prefix(version)
                            .is_some_and(|rest| rest.starts_with('.')))
            })
        })
        .max_by_key(|i| os_and_version(&i.id).map(|(_, v)| version_key(v)))
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no image for os:{os} version:{version} found")))
}
