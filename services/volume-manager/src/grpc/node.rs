//! CSI Node: stage (format if certainly blank, mount), publish (bind mount, filesystem or
//! block), statistics, expansion and the node's topology. Ephemeral inline volumes are created
//! at publish and removed at unpublish, recognised by their tag.

use std::path::PathBuf;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::{check_capability, finish, fs_type, is_block, mount_flags, required};
use crate::core::names;
use crate::core::params;
use crate::core::plan::CreateRequest;
use crate::core::report::Lv;
use crate::core::size::Range;
use crate::core::tags;
use crate::csi::node_service_capability::{self as ncap, rpc::Type as Rpc};
use crate::csi::volume_capability::access_mode::Mode;
use crate::csi::{self, volume_usage::Unit};
use crate::driver::Driver;
use crate::error::{OpError, OpResult};
use crate::node;

pub struct Node(pub Arc<Driver>);

impl Node {
    async fn volume(&self, id: &str) -> OpResult<Lv> {
        let id = id.to_string();
        self.0.read(move |s| s.volume(&id)).await
    }

    /// The LV's device node, activated first.
    async fn device(&self, lv: &Lv) -> OpResult<PathBuf> {
        let (vg, name) = (lv.vg.clone(), lv.name.clone());
        self.0
            .read(move |s| {
                s.lvm.activate_lv(&vg, &name)?;
                let path = s.device(&vg, &name);
                if path.exists() {
                    Ok(path)
                } else {
                    Err(OpError::Precondition(format!(
                        "{} does not exist: the LV is not active{}",
                        path.display(),
                        if s.lvm.no_activation {
                            " (this node runs with --no-activation)"
                        } else {
                            ""
                        }
                    )))
                }
            })
            .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> OpResult<T> + Send + 'static,
    ) -> OpResult<T> {
        self.0.read(move |_| f()).await
    }

    async fn stage(&self, req: csi::NodeStageVolumeRequest) -> OpResult<()> {
        let id = required("volume_id", &req.volume_id)?;
        let staging = PathBuf::from(required("staging_target_path", &req.staging_target_path)?);
        let cap = req
            .volume_capability
            .ok_or_else(|| OpError::Invalid("volume_capability is required".into()))?;
        check_capability(&cap)?;
        let lv = self.volume(id).await?;
        if is_block(&cap) {
            return Ok(());
        }
        let fs = fs_type(&cap).unwrap_or(node::DEFAULT_FS).to_string();
        params::check_fs_type(&fs).map_err(OpError::Invalid)?;
        let device = self.device(&lv).await?;
        let flags = mount_flags(&cap);
        self.blocking(move || {
            if let Some(source) = node::mount_source(&staging)? {
                let on_it = node::mounts_of(&device, &[])?;
                return if on_it.contains(&staging) {
                    Ok(())
                } else {
                    Err(OpError::AlreadyExists(format!(
                        "{} is already staged from {source}",
                        staging.display()
                    )))
                };
            }
            if node::ensure_filesystem(&device, &fs)? {
                tracing::info!(device = %device.display(), fs, "formatted blank volume");
            }
            node::mount_fs(&device, &staging, &fs, &flags, false)
        })
        .await
    }

    async fn publish(&self, req: csi::NodePublishVolumeRequest) -> OpResult<()> {
        let id = required("volume_id", &req.volume_id)?.to_string();
        let target = PathBuf::from(required("target_path", &req.target_path)?);
        let cap = req
            .volume_capability
            .clone()
            .ok_or_else(|| OpError::Invalid("volume_capability is required".into()))?;
        check_capability(&cap)?;
        let flags = mount_flags(&cap);
        let readonly = req.readonly;
        if req
            .volume_context
            .get(params::EPHEMERAL)
            .map(String::as_str)
            == Some("true")
        {
            return self.publish_ephemeral(&id, &req, &cap, target).await;
        }
        let lv = self.volume(&id).await?;
        let device = self.device(&lv).await?;
        if is_block(&cap) {
            return self
                .blocking(move || node::bind(&device, &target, &flags, readonly))
                .await;
        }
        let staging = PathBuf::from(required("staging_target_path", &req.staging_target_path)?);
        let single_writer =
            cap.access_mode.as_ref().map(|m| m.mode) == Some(Mode::SingleNodeSingleWriter as i32);
        self.blocking(move || {
            if node::mount_source(&staging)?.is_none() {
                return Err(OpError::Precondition(format!(
                    "volume is not staged at {}",
                    staging.display()
                )));
            }
            if single_writer {
                let others = node::mounts_of(&device, &[&staging, &target])?;
                if !others.is_empty() {
                    return Err(OpError::Precondition(format!(
                        "single-writer volume is already published at {}",
                        others[0].display()
                    )));
                }
            }
            node::bind(&staging, &target, &flags, readonly)
        })
        .await
    }

    async fn publish_ephemeral(
        &self,
        id: &str,
        req: &csi::NodePublishVolumeRequest,
        cap: &csi::VolumeCapability,
        target: PathBuf,
    ) -> OpResult<()> {
        let mut attributes = req.volume_context.clone();
        let size = attributes.remove(params::SIZE);
        let p = params::parse(&attributes, self.0.config.default_type, &[])
            .map_err(OpError::Invalid)?;
        let required_bytes = match size {
            None => 0,
            Some(s) => params::parse_size(&s).map_err(OpError::Invalid)? as i64,
        };
        let vg =
            p.vg.clone()
                .unwrap_or_else(|| self.0.store.default_vg().to_string());
        let create = CreateRequest {
            lv: names::volume_lv_name(id),
            vg: vg.clone(),
            lv_type: p.lv_type,
            integrity: false,
            range: Range {
                required: required_bytes,
                limit: 0,
            },
            block: is_block(cap),
            ephemeral: true,
            source: None,
            source_size: None,
        };
        let lv = self
            .0
            .mutate(&vg, "create-ephemeral", move |s| s.create_volume(create))
            .await?;
        let device = self.device(&lv).await?;
        let fs = fs_type(cap)
            .or(p.fs_type.as_deref())
            .unwrap_or(node::DEFAULT_FS)
            .to_string();
        params::check_fs_type(&fs).map_err(OpError::Invalid)?;
        let (flags, readonly, block) = (mount_flags(cap), req.readonly, is_block(cap));
        self.blocking(move || {
            if block {
                return node::bind(&device, &target, &flags, readonly);
            }
            node::ensure_filesystem(&device, &fs)?;
            node::mount_fs(&device, &target, &fs, &flags, readonly)
        })
        .await
    }

    async fn unpublish(&self, req: csi::NodeUnpublishVolumeRequest) -> OpResult<()> {
        let id = required("volume_id", &req.volume_id)?.to_string();
        let target = PathBuf::from(required("target_path", &req.target_path)?);
        self.blocking(move || node::unmount_and_remove(&target))
            .await?;
        let lv = {
            let id = id.clone();
            self.0.read(move |s| s.find_confirmed(&id)).await?
        };
        if let Some(lv) = lv.filter(|lv| tags::is_volume(lv) && tags::volume_meta(lv).ephemeral) {
            self.0
                .mutate(&lv.vg, "delete-ephemeral", move |s| s.delete_volume(&id))
                .await?;
        }
        Ok(())
    }

    async fn stats(
        &self,
        req: csi::NodeGetVolumeStatsRequest,
    ) -> OpResult<csi::NodeGetVolumeStatsResponse> {
        let id = required("volume_id", &req.volume_id)?;
        let path = PathBuf::from(required("volume_path", &req.volume_path)?);
        let lv = self.volume(id).await?;
        let (usage, mounted) = self
            .blocking(move || {
                let usage = node::usage(&path)?;
                let mounted = node::mount_source(&path)?.is_some();
                Ok((usage, mounted))
            })
            .await?;
        let mut condition = super::controller::condition(&lv);
        if !mounted && !condition.abnormal {
            condition = csi::VolumeCondition {
                abnormal: true,
                message: "the volume path is not a mount point".into(),
            };
        }
        let usage = match usage {
            node::Usage::Block { total } => vec![csi::VolumeUsage {
                available: 0,
                total: total as i64,
                used: 0,
                unit: Unit::Bytes as i32,
            }],
            node::Usage::Filesystem {
                total,
                available,
                used,
                inodes,
                inodes_free,
                inodes_used,
            } => vec![
                csi::VolumeUsage {
                    available: available as i64,
                    total: total as i64,
                    used: used as i64,
                    unit: Unit::Bytes as i32,
                },
                csi::VolumeUsage {
                    available: inodes_free as i64,
                    total: inodes as i64,
                    used: inodes_used as i64,
                    unit: Unit::Inodes as i32,
                },
            ],
        };
        Ok(csi::NodeGetVolumeStatsResponse {
            usage,
            volume_condition: Some(condition),
        })
    }

    async fn expand(
        &self,
        req: csi::NodeExpandVolumeRequest,
    ) -> OpResult<csi::NodeExpandVolumeResponse> {
        let id = required("volume_id", &req.volume_id)?.to_string();
        let path = PathBuf::from(required("volume_path", &req.volume_path)?);
        let mut lv = self.volume(&id).await?;
        if !path.exists() {
            return Err(OpError::NotFound(format!(
                "volume path {} does not exist",
                path.display()
            )));
        }
        if let Some(range) = req
            .capacity_range
            .as_ref()
            .filter(|r| r.required_bytes > lv.size as i64)
        {
            // Node-only expansion (the resizer's "trivial" path): the LV grows here.
            let range = Range {
                required: range.required_bytes,
                limit: range.limit_bytes,
            };
            lv = self
                .0
                .mutate(&lv.vg, "expand", move |s| s.expand_volume(&id, range))
                .await?;
        }
        let block = req
            .volume_capability
            .as_ref()
            .map_or(tags::volume_meta(&lv).block, is_block)
            || std::fs::metadata(&path).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt as _;
                m.file_type().is_block_device()
            });
        if !block {
            let device = self.device(&lv).await?;
            self.blocking(move || node::grow_filesystem(&device, &path))
                .await?;
        }
        Ok(csi::NodeExpandVolumeResponse {
            capacity_bytes: lv.size as i64,
        })
    }
}

#[tonic::async_trait]
impl csi::node_server::Node for Node {
    async fn node_stage_volume(
        &self,
        request: Request<csi::NodeStageVolumeRequest>,
    ) -> Result<Response<csi::NodeStageVolumeResponse>, Status> {
        let result = self
            .stage(request.into_inner())
            .await
            .map(|()| csi::NodeStageVolumeResponse {});
        finish(&self.0, "NodeStageVolume", result)
    }

    async fn node_unstage_volume(
        &self,
        request: Request<csi::NodeUnstageVolumeRequest>,
    ) -> Result<Response<csi::NodeUnstageVolumeResponse>, Status> {
        let req = request.into_inner();
        let result = async {
            required("volume_id", &req.volume_id)?;
            let staging = PathBuf::from(required("staging_target_path", &req.staging_target_path)?);
            self.blocking(move || node::unmount(&staging)).await?;
            Ok(csi::NodeUnstageVolumeResponse {})
        }
        .await;
        finish(&self.0, "NodeUnstageVolume", result)
    }

    async fn node_publish_volume(
        &self,
        request: Request<csi::NodePublishVolumeRequest>,
    ) -> Result<Response<csi::NodePublishVolumeResponse>, Status> {
        let result = self
            .publish(request.into_inner())
            .await
            .map(|()| csi::NodePublishVolumeResponse {});
        finish(&self.0, "NodePublishVolume", result)
    }

    async fn node_unpublish_volume(
        &self,
        request: Request<csi::NodeUnpublishVolumeRequest>,
    ) -> Result<Response<csi::NodeUnpublishVolumeResponse>, Status> {
        let result = self
            .unpublish(request.into_inner())
            .await
            .map(|()| csi::NodeUnpublishVolumeResponse {});
        finish(&self.0, "NodeUnpublishVolume", result)
    }

    async fn node_get_volume_stats(
        &self,
        request: Request<csi::NodeGetVolumeStatsRequest>,
    ) -> Result<Response<csi::NodeGetVolumeStatsResponse>, Status> {
        let result = self.stats(request.into_inner()).await;
        finish(&self.0, "NodeGetVolumeStats", result)
    }

    async fn node_expand_volume(
        &self,
        request: Request<csi::NodeExpandVolumeRequest>,
    ) -> Result<Response<csi::NodeExpandVolumeResponse>, Status> {
        let result = self.expand(request.into_inner()).await;
        finish(&self.0, "NodeExpandVolume", result)
    }

    async fn node_get_capabilities(
        &self,
        _: Request<csi::NodeGetCapabilitiesRequest>,
    ) -> Result<Response<csi::NodeGetCapabilitiesResponse>, Status> {
        let capabilities = [
            Rpc::StageUnstageVolume,
            Rpc::GetVolumeStats,
            Rpc::ExpandVolume,
            Rpc::VolumeCondition,
            Rpc::SingleNodeMultiWriter,
        ]
        .into_iter()
        .map(|t| csi::NodeServiceCapability {
            r#type: Some(ncap::Type::Rpc(ncap::Rpc { r#type: t as i32 })),
        })
        .collect();
        finish(
            &self.0,
            "NodeGetCapabilities",
            Ok(csi::NodeGetCapabilitiesResponse { capabilities }),
        )
    }

    async fn node_get_info(
        &self,
        _: Request<csi::NodeGetInfoRequest>,
    ) -> Result<Response<csi::NodeGetInfoResponse>, Status> {
        finish(
            &self.0,
            "NodeGetInfo",
            Ok(csi::NodeGetInfoResponse {
                node_id: self.0.config.node_id.clone(),
                max_volumes_per_node: self.0.config.max_volumes_per_node,
                accessible_topology: Some(self.0.topology()),
            }),
        )
    }
}
