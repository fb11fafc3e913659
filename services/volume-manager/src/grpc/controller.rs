//! CSI Controller: volumes, snapshots and capacity of this node's volume groups.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{check_capability, finish, is_block, required, timestamp};
use crate::core::names;
use crate::core::paging;
use crate::core::params::{self, LvType};
use crate::core::plan::CreateRequest;
use crate::core::report::Lv;
use crate::core::size::Range;
use crate::core::tags::{self, Source};
use crate::csi::controller_service_capability::{self as ccap, rpc::Type as Rpc};
use crate::csi::{self, volume_content_source as vcs};
use crate::driver::Driver;
use crate::error::{OpError, OpResult};

pub struct Controller(pub Arc<Driver>);

fn range(r: Option<&csi::CapacityRange>) -> Range {
    r.map_or(Range::default(), |r| Range {
        required: r.required_bytes,
        limit: r.limit_bytes,
    })
}

fn content_source(source: &Option<Source>) -> Option<csi::VolumeContentSource> {
    source.as_ref().map(|s| csi::VolumeContentSource {
        r#type: Some(match s {
            Source::Snapshot(id) => vcs::Type::Snapshot(vcs::SnapshotSource {
                snapshot_id: id.clone(),
            }),
            Source::Volume(id) => vcs::Type::Volume(vcs::VolumeSource {
                volume_id: id.clone(),
            }),
        }),
    })
}

/// Attributes the node side reads back from the volume context.
fn volume_context(lv: &Lv) -> std::collections::HashMap<String, String> {
    let meta = tags::volume_meta(lv);
    [
        ("vgName".to_string(), lv.vg.clone()),
        ("type".to_string(), meta.lv_type.to_string()),
    ]
    .into()
}

impl Controller {
    fn volume(&self, lv: &Lv) -> csi::Volume {
        csi::Volume {
            capacity_bytes: lv.size as i64,
            volume_id: lv.name.clone(),
            volume_context: volume_context(lv),
            content_source: content_source(&tags::volume_meta(lv).source),
            accessible_topology: vec![self.0.topology()],
        }
    }

    fn snapshot(lv: &Lv) -> csi::Snapshot {
        csi::Snapshot {
            size_bytes: lv.size as i64,
            snapshot_id: lv.name.clone(),
            source_volume_id: lv.origin.clone().unwrap_or_default(),
            creation_time: timestamp(lv.created_unix()),
            ready_to_use: true,
            group_snapshot_id: String::new(),
        }
    }

    fn capabilities(&self) -> Vec<csi::ControllerServiceCapability> {
        let mut rpcs = vec![
            Rpc::CreateDeleteVolume,
            Rpc::ListVolumes,
            Rpc::GetCapacity,
            Rpc::CreateDeleteSnapshot,
            Rpc::ListSnapshots,
            Rpc::GetSnapshot,
            Rpc::CloneVolume,
            Rpc::GetVolume,
            Rpc::VolumeCondition,
            Rpc::SingleNodeMultiWriter,
        ];
        if self.0.config.controller_expansion {
            rpcs.push(Rpc::ExpandVolume);
        }
        rpcs.into_iter()
            .map(|t| csi::ControllerServiceCapability {
                r#type: Some(ccap::Type::Rpc(ccap::Rpc { r#type: t as i32 })),
            })
            .collect()
    }

    async fn create(&self, req: csi::CreateVolumeRequest) -> OpResult<csi::CreateVolumeResponse> {
        let name = required("name", &req.name)?;
        if name.len() > names::MAX_CSI_NAME {
            return Err(OpError::Invalid(format!(
                "name is longer than {} bytes",
                names::MAX_CSI_NAME
            )));
        }
        if req.volume_capabilities.is_empty() {
            return Err(OpError::Invalid("volume_capabilities are required".into()));
        }
        for cap in &req.volume_capabilities {
            check_capability(cap)?;
            if let Some(fs) = super::fs_type(cap) {
                params::check_fs_type(fs).map_err(OpError::Invalid)?;
            }
        }
        let p = params::parse(&req.parameters, self.0.config.default_type, &[])
            .map_err(OpError::Invalid)?;
        if let Some(top) = &req.accessibility_requirements
            && !top.requisite.is_empty()
            && !top.requisite.iter().any(|t| self.0.is_local(t))
        {
            return Err(OpError::Exhausted(format!(
                "the requisite topology does not include node {}; volumes are created on the \
                 node whose driver receives the call",
                self.0.config.node_id
            )));
        }
        let source = match req
            .volume_content_source
            .as_ref()
            .and_then(|s| s.r#type.as_ref())
        {
            None => None,
            Some(vcs::Type::Snapshot(s)) => Some(Source::Snapshot(
                required("volume_content_source.snapshot.snapshot_id", &s.snapshot_id)?.into(),
            )),
            Some(vcs::Type::Volume(v)) => Some(Source::Volume(
                required("volume_content_source.volume.volume_id", &v.volume_id)?.into(),
            )),
        };
        let vg =
            p.vg.clone()
                .unwrap_or_else(|| self.0.store.default_vg().to_string());
        let create = CreateRequest {
            lv: names::volume_lv_name(name),
            vg: vg.clone(),
            lv_type: p.lv_type,
            integrity: p.integrity,
            range: range(req.capacity_range.as_ref()),
            block: req.volume_capabilities.iter().all(is_block),
            ephemeral: false,
            source,
            source_size: None,
        };
        let lv = self
            .0
            .mutate(&vg, "create", move |s| s.create_volume(create))
            .await?;
        Ok(csi::CreateVolumeResponse {
            volume: Some(self.volume(&lv)),
        })
    }

    async fn delete(&self, id: String) -> OpResult<()> {
        required("volume_id", &id)?;
        let Some(lv) = self
            .0
            .read({
                let id = id.clone();
                move |s| s.find_confirmed(&id)
            })
            .await?
        else {
            return Ok(());
        };
        self.0
            .mutate(&lv.vg, "delete", move |s| s.delete_volume(&id))
            .await
    }

    async fn find_volume(&self, id: &str) -> OpResult<Lv> {
        let id = id.to_string();
        self.0.read(move |s| s.volume(&id)).await
    }

    async fn sorted(&self, want: fn(&Lv) -> bool) -> OpResult<Vec<Lv>> {
        let mut lvs: Vec<Lv> = self
            .0
            .read(|s| s.all_lvs())
            .await?
            .into_iter()
            .filter(want)
            .collect();
        lvs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(lvs)
    }
}

/// Whether lvm reports the LV degraded: lv_attr's ninth character (health).
pub fn condition(lv: &Lv) -> csi::VolumeCondition {
    let message = match lv.attr.chars().nth(8) {
        Some('p') => "partial: a physical volume of the volume group is missing",
        Some('r') => "a RAID image needs refreshing",
        Some('m') => "RAID images are mismatched",
        Some('w') => "a RAID image is written mostly",
        _ => "",
    };
    csi::VolumeCondition {
        abnormal: !message.is_empty(),
        message: if message.is_empty() {
            "healthy".into()
        } else {
            message.into()
        },
    }
}

#[tonic::async_trait]
impl csi::controller_server::Controller for Controller {
    async fn create_volume(
        &self,
        request: Request<csi::CreateVolumeRequest>,
    ) -> Result<Response<csi::CreateVolumeResponse>, Status> {
        let result = self.create(request.into_inner()).await;
        finish(&self.0, "CreateVolume", result)
    }

    async fn delete_volume(
        &self,
        request: Request<csi::DeleteVolumeRequest>,
    ) -> Result<Response<csi::DeleteVolumeResponse>, Status> {
        let result = self
            .delete(request.into_inner().volume_id)
            .await
            .map(|()| csi::DeleteVolumeResponse {});
        finish(&self.0, "DeleteVolume", result)
    }

    async fn controller_publish_volume(
        &self,
        _: Request<csi::ControllerPublishVolumeRequest>,
    ) -> Result<Response<csi::ControllerPublishVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "local volumes need no controller publish",
        ))
    }

    async fn controller_unpublish_volume(
        &self,
        _: Request<csi::ControllerUnpublishVolumeRequest>,
    ) -> Result<Response<csi::ControllerUnpublishVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "local volumes need no controller unpublish",
        ))
    }

    async fn validate_volume_capabilities(
        &self,
        request: Request<csi::ValidateVolumeCapabilitiesRequest>,
    ) -> Result<Response<csi::ValidateVolumeCapabilitiesResponse>, Status> {
        let req = request.into_inner();
        let result = async {
            let id = required("volume_id", &req.volume_id)?;
            if req.volume_capabilities.is_empty() {
                return Err(OpError::Invalid("volume_capabilities are required".into()));
            }
            self.find_volume(id).await?;
            if let Err(e) = params::parse(&req.parameters, self.0.config.default_type, &[]) {
                return Ok(csi::ValidateVolumeCapabilitiesResponse {
                    confirmed: None,
                    message: e,
                });
            }
            for cap in &req.volume_capabilities {
                if let Err(e) = check_capability(cap) {
                    return Ok(csi::ValidateVolumeCapabilitiesResponse {
                        confirmed: None,
                        message: e.to_string(),
                    });
                }
            }
            Ok(csi::ValidateVolumeCapabilitiesResponse {
                confirmed: Some(csi::validate_volume_capabilities_response::Confirmed {
                    volume_context: req.volume_context.clone(),
                    volume_capabilities: req.volume_capabilities.clone(),
                    parameters: req.parameters.clone(),
                    mutable_parameters: req.mutable_parameters.clone(),
                }),
                message: String::new(),
            })
        }
        .await;
        finish(&self.0, "ValidateVolumeCapabilities", result)
    }

    async fn list_volumes(
        &self,
        request: Request<csi::ListVolumesRequest>,
    ) -> Result<Response<csi::ListVolumesResponse>, Status> {
        let req = request.into_inner();
        let result = async {
            let lvs = self.sorted(tags::is_volume).await?;
            let (page, next_token) = paging::page(&lvs, &req.starting_token, req.max_entries)
                .map_err(|e| {
                    if req.max_entries < 0 {
                        OpError::Invalid(e)
                    } else {
                        OpError::Aborted(e)
                    }
                })?;
            Ok(csi::ListVolumesResponse {
                entries: page
                    .iter()
                    .map(|lv| csi::list_volumes_response::Entry {
                        volume: Some(self.volume(lv)),
                        status: Some(csi::list_volumes_response::VolumeStatus {
                            published_node_ids: Vec::new(),
                            volume_condition: Some(condition(lv)),
                        }),
                    })
                    .collect(),
                next_token,
            })
        }
        .await;
        finish(&self.0, "ListVolumes", result)
    }

    async fn get_capacity(
        &self,
        request: Request<csi::GetCapacityRequest>,
    ) -> Result<Response<csi::GetCapacityResponse>, Status> {
        let req = request.into_inner();
        let result = async {
            let p = params::parse(&req.parameters, self.0.config.default_type, &[])
                .map_err(OpError::Invalid)?;
            for cap in &req.volume_capabilities {
                check_capability(cap)?;
            }
            if req
                .accessible_topology
                .as_ref()
                .is_some_and(|t| !self.0.is_local(t))
            {
                return Ok(csi::GetCapacityResponse {
                    available_capacity: 0,
                    maximum_volume_size: Some(0),
                    minimum_volume_size: None,
                });
            }
            let vg =
                p.vg.unwrap_or_else(|| self.0.store.default_vg().to_string());
            self.0.store.managed(&vg)?;
            let lv_type: LvType = p.lv_type;
            let (available, extent) = self.0.read(move |s| s.capacity(&vg, lv_type)).await?;
            Ok(csi::GetCapacityResponse {
                available_capacity: available as i64,
                maximum_volume_size: Some(available as i64),
                minimum_volume_size: Some(extent as i64),
            })
        }
        .await;
        finish(&self.0, "GetCapacity", result)
    }

    async fn controller_get_capabilities(
        &self,
        _: Request<csi::ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<csi::ControllerGetCapabilitiesResponse>, Status> {
        finish(
            &self.0,
            "ControllerGetCapabilities",
            Ok(csi::ControllerGetCapabilitiesResponse {
                capabilities: self.capabilities(),
            }),
        )
    }

    async fn create_snapshot(
        &self,
        request: Request<csi::CreateSnapshotRequest>,
    ) -> Result<Response<csi::CreateSnapshotResponse>, Status> {
        let req = request.into_inner();
        let result = async {
            let name = required("name", &req.name)?.to_string();
            let source = required("source_volume_id", &req.source_volume_id)?.to_string();
            if !req.parameters.is_empty() {
                let mut keys: Vec<&String> = req
                    .parameters
                    .keys()
                    .filter(|k| !k.starts_with("csi.storage.k8s.io/"))
                    .collect();
                keys.sort();
                if !keys.is_empty() {
                    return Err(OpError::Invalid(format!(
                        "snapshots take no parameters, got {keys:?}"
                    )));
                }
            }
            let origin = self.find_volume(&source).await?;
            let lv = self
                .0
                .mutate(&origin.vg, "snapshot", move |s| {
                    s.create_snapshot(&name, &source)
                })
                .await?;
            Ok(csi::CreateSnapshotResponse {
                snapshot: Some(Self::snapshot(&lv)),
            })
        }
        .await;
        finish(&self.0, "CreateSnapshot", result)
    }

    async fn delete_snapshot(
        &self,
        request: Request<csi::DeleteSnapshotRequest>,
    ) -> Result<Response<csi::DeleteSnapshotResponse>, Status> {
        let id = request.into_inner().snapshot_id;
        let result = async {
            required("snapshot_id", &id)?;
            let found = self
                .0
                .read({
                    let id = id.clone();
                    move |s| s.find_confirmed(&id)
                })
                .await?;
            if let Some(lv) = found.filter(tags::is_snapshot) {
                self.0
                    .mutate(&lv.vg, "delete-snapshot", move |s| s.delete_snapshot(&id))
                    .await?;
            }
            Ok(csi::DeleteSnapshotResponse {})
        }
        .await;
        finish(&self.0, "DeleteSnapshot", result)
    }

    async fn list_snapshots(
        &self,
        request: Request<csi::ListSnapshotsRequest>,
    ) -> Result<Response<csi::ListSnapshotsResponse>, Status> {
        let req = request.into_inner();
        let result = async {
            let lvs: Vec<Lv> = self
                .sorted(tags::is_snapshot)
                .await?
                .into_iter()
                .filter(|lv| req.snapshot_id.is_empty() || lv.name == req.snapshot_id)
                .filter(|lv| {
                    req.source_volume_id.is_empty()
                        || lv.origin.as_deref() == Some(req.source_volume_id.as_str())
                })
                .collect();
            let (page, next_token) = paging::page(&lvs, &req.starting_token, req.max_entries)
                .map_err(|e| {
                    if req.max_entries < 0 {
                        OpError::Invalid(e)
                    } else {
                        OpError::Aborted(e)
                    }
                })?;
            Ok(csi::ListSnapshotsResponse {
                entries: page
                    .iter()
                    .map(|lv| csi::list_snapshots_response::Entry {
                        snapshot: Some(Self::snapshot(lv)),
                    })
                    .collect(),
                next_token,
            })
        }
        .await;
        finish(&self.0, "ListSnapshots", result)
    }

    async fn get_snapshot(
        &self,
        request: Request<csi::GetSnapshotRequest>,
    ) -> Result<Response<csi::GetSnapshotResponse>, Status> {
        let id = request.into_inner().snapshot_id;
        let result = async {
            required("snapshot_id", &id)?;
            let lv = self.0.read(move |s| s.snapshot(&id)).await?;
            Ok(csi::GetSnapshotResponse {
                snapshot: Some(Self::snapshot(&lv)),
            })
        }
        .await;
        finish(&self.0, "GetSnapshot", result)
    }

    async fn controller_expand_volume(
        &self,
        request: Request<csi::ControllerExpandVolumeRequest>,
    ) -> Result<Response<csi::ControllerExpandVolumeResponse>, Status> {
        let req = request.into_inner();
        let result = async {
            let id = required("volume_id", &req.volume_id)?.to_string();
            let range =
                range(Some(req.capacity_range.as_ref().ok_or_else(|| {
                    OpError::Invalid("capacity_range is required".into())
                })?));
            let lv = self.find_volume(&id).await?;
            let block = req
                .volume_capability
                .as_ref()
                .map_or(tags::volume_meta(&lv).block, is_block);
            let lv = self
                .0
                .mutate(&lv.vg, "expand", move |s| s.expand_volume(&id, range))
                .await?;
            Ok(csi::ControllerExpandVolumeResponse {
                capacity_bytes: lv.size as i64,
                node_expansion_required: !block,
            })
        }
        .await;
        finish(&self.0, "ControllerExpandVolume", result)
    }

    async fn controller_get_volume(
        &self,
        request: Request<csi::ControllerGetVolumeRequest>,
    ) -> Result<Response<csi::ControllerGetVolumeResponse>, Status> {
        let id = request.into_inner().volume_id;
        let result = async {
            required("volume_id", &id)?;
            let lv = self.find_volume(&id).await?;
            Ok(csi::ControllerGetVolumeResponse {
                volume: Some(self.volume(&lv)),
                status: Some(csi::controller_get_volume_response::VolumeStatus {
                    published_node_ids: Vec::new(),
                    volume_condition: Some(condition(&lv)),
                }),
            })
        }
        .await;
        finish(&self.0, "ControllerGetVolume", result)
    }

    async fn controller_modify_volume(
        &self,
        _: Request<csi::ControllerModifyVolumeRequest>,
    ) -> Result<Response<csi::ControllerModifyVolumeResponse>, Status> {
        Err(Status::unimplemented("volumes have no mutable parameters"))
    }
}
