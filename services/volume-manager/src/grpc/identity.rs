//! CSI Identity: name, capabilities, and a Probe that reports whether the VGs are readable.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::finish;
use crate::csi::plugin_capability::{self, service, volume_expansion};
use crate::csi::{self, PluginCapability};
use crate::driver::Driver;

pub struct Identity(pub Arc<Driver>);

fn service(t: service::Type) -> PluginCapability {
    PluginCapability {
        r#type: Some(plugin_capability::Type::Service(
            plugin_capability::Service { r#type: t as i32 },
        )),
    }
}

#[tonic::async_trait]
impl csi::identity_server::Identity for Identity {
    async fn get_plugin_info(
        &self,
        _: Request<csi::GetPluginInfoRequest>,
    ) -> Result<Response<csi::GetPluginInfoResponse>, Status> {
        let c = &self.0.config;
        finish(
            &self.0,
            "GetPluginInfo",
            Ok(csi::GetPluginInfoResponse {
                name: c.driver_name.clone(),
                vendor_version: c.version.clone(),
                manifest: [("volumeGroups".to_string(), self.0.store.vgs.join(","))].into(),
            }),
        )
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<csi::GetPluginCapabilitiesRequest>,
    ) -> Result<Response<csi::GetPluginCapabilitiesResponse>, Status> {
        let capabilities = vec![
            service(service::Type::ControllerService),
            service(service::Type::VolumeAccessibilityConstraints),
            PluginCapability {
                r#type: Some(plugin_capability::Type::VolumeExpansion(
                    plugin_capability::VolumeExpansion {
                        r#type: volume_expansion::Type::Online as i32,
                    },
                )),
            },
        ];
        finish(
            &self.0,
            "GetPluginCapabilities",
            Ok(csi::GetPluginCapabilitiesResponse { capabilities }),
        )
    }

    async fn probe(
        &self,
        _: Request<csi::ProbeRequest>,
    ) -> Result<Response<csi::ProbeResponse>, Status> {
        let result = self
            .0
            .health()
            .await
            .map(|()| csi::ProbeResponse { ready: Some(true) });
        let result = result.map_err(|e| crate::error::OpError::Precondition(e.to_string()));
        finish(&self.0, "Probe", result)
    }
}
