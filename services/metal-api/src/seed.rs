//! The `--seed` file: partitions, sizes, images, projects, networks and machines, created at
//! start when missing. Entities that already exist are left as they are, so a seed can be
//! applied on every start.

use std::path::Path;

use metal_api_sdk::model::{
    ImageCreateRequest, MachineRegisterRequest, NetworkCreateRequest, PartitionCreateRequest,
    ProjectResponse, SizeCreateRequest,
};
use serde::Deserialize;

use crate::core::{ApiError, ApiResult, Ctx, State, machines, masterdata, networks};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    #[serde(default)]
    pub partitions: Vec<PartitionCreateRequest>,
    #[serde(default)]
    pub sizes: Vec<SizeCreateRequest>,
    #[serde(default)]
    pub images: Vec<ImageCreateRequest>,
    #[serde(default)]
    pub projects: Vec<ProjectResponse>,
    /// Created in the order given: a parent network before its children.
    #[serde(default)]
    pub networks: Vec<NetworkCreateRequest>,
    #[serde(default)]
    pub machines: Vec<MachineRegisterRequest>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("seed {path} is not valid: {message}")]
    Parse { path: String, message: String },
}

pub fn load(path: &Path) -> Result<Seed, SeedError> {
    let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|message| SeedError::Parse {
        path: path.display().to_string(),
        message,
    })
}

pub fn parse(text: &str) -> Result<Seed, String> {
    serde_saphyr::from_str(text).map_err(|e| e.to_string())
}

/// How many entities the seed created (the rest existed).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub created: usize,
    pub existing: usize,
}

/// Creates what is missing. Any error other than "already exists" fails the whole seed
/// (the caller rolls the state back).
pub fn apply(state: &mut State, ctx: &mut Ctx, seed: &Seed) -> ApiResult<Applied> {
    let mut applied = Applied::default();
    let mut count = |result: ApiResult<()>, what: &str| -> ApiResult<()> {
        match result {
            Ok(()) => applied.created += 1,
            Err(e) if e.status == 409 => applied.existing += 1,
            Err(e) => {
                return Err(ApiError {
                    status: e.status,
                    message: format!("seed {what}: {}", e.message),
                });
            }
        }
        Ok(())
    };
    for p in &seed.partitions {
        count(
            masterdata::create_partition(state, ctx, p).map(drop),
            &format!("partition {}", p.id),
        )?;
    }
    for s in &seed.sizes {
        count(
            masterdata::create_size(state, ctx, s).map(drop),
            &format!("size {}", s.id),
        )?;
    }
    for i in &seed.images {
        count(
            masterdata::create_image(state, ctx, i).map(drop),
            &format!("image {}", i.id),
        )?;
    }
    for p in &seed.projects {
        let id = p.meta.id.clone().unwrap_or_default();
        if id.is_empty() {
            return Err(ApiError::bad_request("seed project: meta.id is required"));
        }
        count(
            masterdata::create_project(state, ctx, p).map(drop),
            &format!("project {id}"),
        )?;
    }
    for n in &seed.networks {
        if n.id.is_empty() {
            return Err(ApiError::bad_request("seed network: id is required"));
        }
        count(
            networks::create(state, ctx, n).map(drop),
            &format!("network {}", n.id),
        )?;
    }
    for m in &seed.machines {
        count(
            machines::register(state, ctx, m).map(drop),
            &format!("machine {}", m.id),
        )?;
    }
    Ok(applied)
}
