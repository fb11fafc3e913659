//! The CSI gRPC edge: Identity, Controller and Node on one unix socket. Each method checks its
//! arguments, translates to the driver's operations and back; no decisions live here.

pub mod controller;
pub mod identity;
pub mod node;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::{Code, Status};

use crate::csi;
use crate::driver::Driver;
use crate::error::OpError;

/// The socket path of a `unix://` endpoint (also `unix:/path` and a plain path).
pub fn socket_path(endpoint: &str) -> anyhow::Result<PathBuf> {
    let path = endpoint
        .strip_prefix("unix://")
        .or_else(|| endpoint.strip_prefix("unix:"))
        .unwrap_or(endpoint);
    anyhow::ensure!(
        path.starts_with('/'),
        "--csi-endpoint {endpoint:?}: expected unix:///absolute/path"
    );
    Ok(PathBuf::from(path))
}

/// A client channel to the driver's socket (for tools and tests; the kubelet and the
/// sidecars bring their own).
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
    driver: Arc<Driver>,
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
    tracing::info!(socket = %socket.display(), "CSI endpoint listening");
    let router = tonic::transport::Server::builder()
        .add_service(csi::identity_server::IdentityServer::new(
            identity::Identity(driver.clone()),
        ))
        .add_service(csi::controller_server::ControllerServer::new(
            controller::Controller(driver.clone()),
        ))
        .add_service(csi::node_server::NodeServer::new(node::Node(driver)));
    let socket = socket.to_path_buf();
    Ok(tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
            .await
        {
            tracing::error!("CSI server: {e}");
        }
        let _ = std::fs::remove_file(&socket);
    }))
}

/// Counts the call and turns the driver's error into the spec's status.
pub fn finish<T>(
    driver: &Driver,
    method: &str,
    result: Result<T, OpError>,
) -> Result<tonic::Response<T>, Status> {
    let code = result.as_ref().map_or_else(OpError::code, |_| Code::Ok);
    driver.metrics.rpc(method, code);
    match result {
        Ok(v) => Ok(tonic::Response::new(v)),
        Err(e) => {
            if matches!(e, OpError::Internal(_) | OpError::Unavailable(_)) {
                tracing::warn!(method, "{e}");
            }
            Err(e.into())
        }
    }
}

pub fn required<'a>(field: &str, value: &'a str) -> Result<&'a str, OpError> {
    if value.is_empty() {
        Err(OpError::Invalid(format!("{field} is required")))
    } else {
        Ok(value)
    }
}

use csi::volume_capability::access_mode::Mode;

/// Local volumes serve one node: the single-node access modes only.
pub fn check_capability(cap: &csi::VolumeCapability) -> Result<(), OpError> {
    if cap.access_type.is_none() {
        return Err(OpError::Invalid(
            "volume capability: access_type (block or mount) is required".into(),
        ));
    }
    let mode = cap
        .access_mode
        .as_ref()
        .map(|m| Mode::try_from(m.mode).unwrap_or(Mode::Unknown))
        .ok_or_else(|| OpError::Invalid("volume capability: access_mode is required".into()))?;
    match mode {
        Mode::SingleNodeWriter
        | Mode::SingleNodeReaderOnly
        | Mode::SingleNodeSingleWriter
        | Mode::SingleNodeMultiWriter => Ok(()),
        Mode::Unknown => Err(OpError::Invalid(
            "volume capability: access_mode is unknown".into(),
        )),
        other => Err(OpError::Invalid(format!(
            "access mode {} is not supported: LVM volumes are local to one node",
            other.as_str_name()
        ))),
    }
}

pub fn is_block(cap: &csi::VolumeCapability) -> bool {
    matches!(
        cap.access_type,
        Some(csi::volume_capability::AccessType::Block(_))
    )
}

pub fn fs_type(cap: &csi::VolumeCapability) -> Option<&str> {
    match &cap.access_type {
        Some(csi::volume_capability::AccessType::Mount(m)) if !m.fs_type.is_empty() => {
            Some(m.fs_type.as_str())
        }
        _ => None,
    }
}

pub fn mount_flags(cap: &csi::VolumeCapability) -> Vec<String> {
    match &cap.access_type {
        Some(csi::volume_capability::AccessType::Mount(m)) => m.mount_flags.clone(),
        _ => Vec::new(),
    }
}

pub fn timestamp(unix: Option<i64>) -> Option<prost_types::Timestamp> {
    unix.map(|seconds| prost_types::Timestamp { seconds, nanos: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            socket_path("unix:///csi/csi.sock").unwrap(),
            PathBuf::from("/csi/csi.sock")
        );
        assert_eq!(
            socket_path("/tmp/x.sock").unwrap(),
            PathBuf::from("/tmp/x.sock")
        );
        assert!(socket_path("unix://tmp/csi.sock").is_err());
        assert!(socket_path("tcp://1.2.3.4:5").is_err());
    }
}
