//! The Kubernetes client every service builds the same way.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reading kubeconfig {path}: {source}")]
    Read {
        path: String,
        source: kube::config::KubeconfigError,
    },
    #[error("Kubernetes configuration: {0}")]
    Config(String),
    #[error("Kubernetes client: {0}")]
    Client(#[from] kube::Error),
}

/// The configuration from `kubeconfig`, else the usual discovery (KUBECONFIG, ~/.kube/config,
/// in-cluster). Its `default_namespace` is the context's namespace.
pub async fn config(kubeconfig: Option<&Path>) -> Result<kube::Config, ClientError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|source| ClientError::Read {
                path: path.display().to_string(),
                source,
            })?;
            kube::Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|e| ClientError::Config(e.to_string()))
        }
        None => kube::Config::infer()
            .await
            .map_err(|e| ClientError::Config(e.to_string())),
    }
}

/// A client for [`config`].
pub async fn client(kubeconfig: Option<&Path>) -> Result<kube::Client, ClientError> {
    Ok(kube::Client::try_from(config(kubeconfig).await?)?)
}
