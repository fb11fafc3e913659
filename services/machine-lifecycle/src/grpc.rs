//! The `machine_lifecycle.v1.Driver` gRPC service on a unix socket: each method decodes the
//! request into a checked class and forwards to the [`Driver`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Request, Response, Status};

use crate::core::class::Class;
use crate::core::code::DriverError;
use crate::core::machines::{Address, VolumeSpec};
use crate::driver::Driver;
use crate::metrics::Metrics;
use crate::proto;
use crate::proto::driver_server::{self, DriverServer};

pub struct Service {
    pub driver: Arc<Driver>,
    pub metrics: Metrics,
}

const CALLER: &str = "grpc";

fn class(class: Option<proto::MachineClass>) -> Result<Class, DriverError> {
    let class = class.ok_or_else(|| DriverError::invalid("machine_class is required"))?;
    let spec: serde_json::Value =
        serde_json::from_slice(&class.provider_spec_json).map_err(|e| {
            DriverError::invalid(format!(
                "machine class {}: provider_spec_json: {e}",
                class.name
            ))
        })?;
    let secret: BTreeMap<String, Vec<u8>> = class.secret.into_iter().collect();
    Class::parse(&class.name, &spec, &secret)
}

fn machine(machine: Option<proto::Machine>) -> Result<proto::Machine, DriverError> {
    machine
        .filter(|m| !m.name.is_empty())
        .ok_or_else(|| DriverError::invalid("machine.name is required"))
}

fn addresses(addresses: Vec<Address>) -> Vec<proto::NodeAddress> {
    addresses
        .into_iter()
        .map(|a| proto::NodeAddress {
            r#type: a.kind,
            address: a.address,
        })
        .collect()
}

impl Service {
    fn answer<T>(
        &self,
        method: &'static str,
        result: Result<T, DriverError>,
    ) -> Result<Response<T>, Status> {
        self.metrics
            .count(method, CALLER, result)
            .map(Response::new)
            .map_err(Status::from)
    }
}

#[tonic::async_trait]
impl driver_server::Driver for Service {
    async fn create_machine(
        &self,
        request: Request<proto::CreateMachineRequest>,
    ) -> Result<Response<proto::CreateMachineResponse>, Status> {
        let r = request.into_inner();
        let result = async {
            let (m, class) = (machine(r.machine)?, class(r.machine_class)?);
            let created = self.driver.create(&class, &m.name).await?;
            Ok(proto::CreateMachineResponse {
                provider_id: created.found.provider_id,
                node_name: created.found.node_name,
                last_known_state: String::new(),
                addresses: addresses(created.found.addresses),
                adopted: created.adopted,
            })
        }
        .await;
        self.answer("CreateMachine", result)
    }

    async fn initialize_machine(
        &self,
        _: Request<proto::InitializeMachineRequest>,
    ) -> Result<Response<proto::InitializeMachineResponse>, Status> {
        let result = self
            .driver
            .initialize()
            .map(|_| proto::InitializeMachineResponse::default());
        self.answer("InitializeMachine", result)
    }

    async fn delete_machine(
        &self,
        request: Request<proto::DeleteMachineRequest>,
    ) -> Result<Response<proto::DeleteMachineResponse>, Status> {
        let r = request.into_inner();
        let result = async {
            let (m, class) = (machine(r.machine)?, class(r.machine_class)?);
            let freed = self.driver.delete(&class, &m.name, &m.provider_id).await?;
            Ok(proto::DeleteMachineResponse {
                last_known_state: String::new(),
                freed_provider_id: freed.unwrap_or_default(),
            })
        }
        .await;
        self.answer("DeleteMachine", result)
    }

    async fn get_machine_status(
        &self,
        request: Request<proto::GetMachineStatusRequest>,
    ) -> Result<Response<proto::GetMachineStatusResponse>, Status> {
        let r = request.into_inner();
        let result = async {
            let (m, class) = (machine(r.machine)?, class(r.machine_class)?);
            let found = self.driver.status(&class, &m.name, &m.provider_id).await?;
            Ok(proto::GetMachineStatusResponse {
                provider_id: found.provider_id,
                node_name: found.node_name,
                addresses: addresses(found.addresses),
            })
        }
        .await;
        self.answer("GetMachineStatus", result)
    }

    async fn list_machines(
        &self,
        request: Request<proto::ListMachinesRequest>,
    ) -> Result<Response<proto::ListMachinesResponse>, Status> {
        let r = request.into_inner();
        let result = async {
            let class = class(r.machine_class)?;
            let listed = self.driver.list(&class).await?;
            Ok(proto::ListMachinesResponse {
                machine_list: listed.into_iter().collect(),
            })
        }
        .await;
        self.answer("ListMachines", result)
    }

    async fn get_volume_i_ds(
        &self,
        request: Request<proto::GetVolumeIDsRequest>,
    ) -> Result<Response<proto::GetVolumeIDsResponse>, Status> {
        let specs: Vec<VolumeSpec> = request
            .into_inner()
            .pv_specs
            .into_iter()
            .map(|s| VolumeSpec {
                csi_driver: s.csi_driver,
                volume_handle: s.csi_volume_handle,
            })
            .collect();
        let result = Ok(proto::GetVolumeIDsResponse {
            volume_ids: self.driver.volume_ids(&specs),
        });
        self.answer("GetVolumeIDs", result)
    }
}

/// A client channel to the driver's socket (for tools and tests).
pub async fn connect(socket: &Path) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let socket = socket.to_path_buf();
    tonic::transport::Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(socket).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
}

/// Binds the socket (replacing a stale one from a previous run) and serves until `shutdown`.
pub async fn serve(
    service: Service,
    socket: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match std::fs::remove_file(socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing stale {}", socket.display()));
        }
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(socket)
        .with_context(|| format!("binding {}", socket.display()))?;
    tracing::info!(socket = %socket.display(), "driver gRPC listening");
    let router = tonic::transport::Server::builder().add_service(DriverServer::new(service));
    let socket = socket.to_path_buf();
    Ok(tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
            .await
        {
            tracing::error!("driver gRPC server: {e}");
        }
        let _ = std::fs::remove_file(&socket);
    }))
}
