//! The operators' REST API: what the driver holds, read live from lvm. Read-only; every change
//! goes through CSI.

use std::sync::Arc;

use actix_web::{HttpResponse, get, web};
use mesh_runtime::problem::Problem;
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::core::capacity::available;
use crate::core::params::LvType;
use crate::core::report::{Lv, Pv, Vg};
use crate::core::tags::{self, Source};
use crate::driver::Driver;
use crate::error::OpError;
use crate::grpc::controller::condition;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(volumes)
        .service(snapshots)
        .service(capacity)
        .service(volume_groups);
}

fn problem(e: OpError) -> HttpResponse {
    use actix_web::ResponseError as _;
    let p = match e {
        OpError::Unavailable(m) => Problem::new(
            "lvm-unavailable",
            "LVM is unavailable",
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
        )
        .with_detail(m),
        other => Problem::internal(other.to_string()),
    };
    p.error_response()
}

/// A volume: one LV of this driver.
#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeView {
    /// The CSI volume id (the LV name).
    pub id: String,
    pub volume_group: String,
    /// Real size after extent rounding.
    pub size_bytes: u64,
    /// linear, striped or mirror.
    #[schema(value_type = String)]
    pub r#type: LvType,
    /// Raw block (true) or filesystem (false) volume.
    pub block: bool,
    /// An ephemeral inline volume (removed at unpublish).
    pub ephemeral: bool,
    /// `snapshot:<id>` or `volume:<id>` when created from a source.
    pub source: Option<String>,
    /// lvm's creation time.
    pub created: String,
    /// Healthy, or what lvm reports wrong.
    pub condition: String,
    pub abnormal: bool,
}

/// A snapshot: a copy-on-write LV of a volume.
#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotView {
    pub id: String,
    pub volume_group: String,
    pub source_volume_id: String,
    pub size_bytes: u64,
    pub created: String,
}

/// Free room for one LV type in one volume group.
#[derive(Debug, Serialize, ToSchema)]
pub struct CapacityView {
    pub volume_group: String,
    #[schema(value_type = String)]
    pub r#type: LvType,
    /// The largest volume of this type that fits now (what GetCapacity reports).
    pub available_bytes: u64,
    pub extent_bytes: u64,
}

/// A managed volume group with its physical volumes.
#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeGroupView {
    pub name: String,
    /// The group volumes go to without a `vgName` parameter.
    pub default: bool,
    pub present: bool,
    pub vg: Option<Vg>,
    pub pvs: Vec<Pv>,
}

fn volume_view(lv: &Lv) -> VolumeView {
    let meta = tags::volume_meta(lv);
    let c = condition(lv);
    VolumeView {
        id: lv.name.clone(),
        volume_group: lv.vg.clone(),
        size_bytes: lv.size,
        r#type: meta.lv_type,
        block: meta.block,
        ephemeral: meta.ephemeral,
        source: meta.source.map(|s| match s {
            Source::Snapshot(id) => format!("snapshot:{id}"),
            Source::Volume(id) => format!("volume:{id}"),
        }),
        created: lv.time.clone(),
        condition: c.message,
        abnormal: c.abnormal,
    }
}

#[utoipa::path(get, path = "/v1/volumes", tag = "volumes",
    responses(
        (status = 200, description = "The driver's volumes, sorted by id", body = Vec<VolumeView>),
        (status = 503, description = "lvm cannot be read", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/v1/volumes")]
async fn volumes(driver: web::Data<Arc<Driver>>) -> HttpResponse {
    match driver.read(|s| s.all_lvs()).await {
        Ok(lvs) => {
            let mut out: Vec<VolumeView> = lvs
                .iter()
                .filter(|lv| tags::is_volume(lv))
                .map(volume_view)
                .collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            HttpResponse::Ok().json(out)
        }
        Err(e) => problem(e),
    }
}

#[utoipa::path(get, path = "/v1/snapshots", tag = "volumes",
    responses(
        (status = 200, description = "The driver's snapshots, sorted by id", body = Vec<SnapshotView>),
        (status = 503, description = "lvm cannot be read", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/v1/snapshots")]
async fn snapshots(driver: web::Data<Arc<Driver>>) -> HttpResponse {
    match driver.read(|s| s.all_lvs()).await {
        Ok(lvs) => {
            let mut out: Vec<SnapshotView> = lvs
                .iter()
                .filter(|lv| tags::is_snapshot(lv))
                .map(|lv| SnapshotView {
                    id: lv.name.clone(),
                    volume_group: lv.vg.clone(),
                    source_volume_id: lv.origin.clone().unwrap_or_default(),
                    size_bytes: lv.size,
                    created: lv.time.clone(),
                })
                .collect();
            out.sort_by(|a, b| a.id.cmp(&b.id));
            HttpResponse::Ok().json(out)
        }
        Err(e) => problem(e),
    }
}

#[utoipa::path(get, path = "/v1/capacity", tag = "volumes",
    responses(
        (status = 200, description = "Free room per volume group and LV type", body = Vec<CapacityView>),
        (status = 503, description = "lvm cannot be read", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/v1/capacity")]
async fn capacity(driver: web::Data<Arc<Driver>>) -> HttpResponse {
    let result = driver
        .read(|s| {
            let mut out = Vec::new();
            for vg in &s.vgs {
                let (state, pvs) = s.vg_state(vg)?;
                for t in LvType::ALL {
                    out.push(CapacityView {
                        volume_group: vg.clone(),
                        r#type: t,
                        available_bytes: available(t, &state, &pvs),
                        extent_bytes: state.extent_size,
                    });
                }
            }
            Ok(out)
        })
        .await;
    match result {
        Ok(out) => HttpResponse::Ok().json(out),
        Err(e) => problem(e),
    }
}

#[utoipa::path(get, path = "/v1/volumegroups", tag = "volumes",
    responses(
        (status = 200, description = "The managed volume groups, the default first", body = Vec<VolumeGroupView>),
        (status = 503, description = "lvm cannot be read", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/v1/volumegroups")]
async fn volume_groups(driver: web::Data<Arc<Driver>>) -> HttpResponse {
    let result = driver
        .read(|s| {
            let mut out = Vec::new();
            for (i, name) in s.vgs.iter().enumerate() {
                let vg = s.lvm.vg(name)?;
                let pvs = if vg.is_some() {
                    s.lvm.pvs(name)?
                } else {
                    Vec::new()
                };
                out.push(VolumeGroupView {
                    name: name.clone(),
                    default: i == 0,
                    present: vg.is_some(),
                    vg,
                    pvs,
                });
            }
            Ok(out)
        })
        .await;
    match result {
        Ok(out) => HttpResponse::Ok().json(out),
        Err(e) => problem(e),
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "volume-manager", description = "A CSI driver over LVM (lvm.csi.metal-stack.io); metal-mesh's replacement for csi-driver-lvm. CSI itself is gRPC on a unix socket; this REST API shows operators what the driver holds."),
    paths(volumes, snapshots, capacity, volume_groups),
    components(schemas(Problem, VolumeView, SnapshotView, CapacityView, VolumeGroupView, Vg, Pv)),
    tags((name = "volumes")),
)]
pub struct ApiDoc;
