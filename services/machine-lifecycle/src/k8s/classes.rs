//! Reads a MachineClass of provider metal and its Secrets into a checked [`Class`]. MCM hands
//! its driver the data of `secretRef` overlaid with `credentialsSecretRef`; so does this.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, SecretReference};
use kube::Api;
use kube_resources::mcm::MachineClass;

use crate::core::class::Class;
use crate::core::code::{Code, DriverError};

/// The provider name of our MachineClasses.
pub const PROVIDER: &str = "metal";

#[derive(Clone)]
pub struct ClassReader {
    client: kube::Client,
    namespace: String,
}

impl ClassReader {
    pub fn new(client: kube::Client, namespace: String) -> Self {
        Self { client, namespace }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The MachineClass `name` of `--namespace`, checked. A class of another provider, a missing
    /// class or Secret, or a bad providerSpec is InvalidArgument; a failed read Unavailable.
    pub async fn read(&self, name: &str) -> Result<Class, DriverError> {
        let classes: Api<MachineClass> = Api::namespaced(self.client.clone(), &self.namespace);
        let class = classes
            .get_opt(name)
            .await
            .map_err(|e| kube_failure(&format!("reading machine class {name}"), e))?
            .ok_or_else(|| {
                DriverError::invalid(format!(
                    "machine class {name} not found in namespace {}",
                    self.namespace
                ))
            })?;
        match class.provider.as_deref() {
            Some(PROVIDER) => {}
            other => {
                return Err(DriverError::invalid(format!(
                    "machine class {name}: provider is {:?}, not {PROVIDER:?}",
                    other.unwrap_or_default()
                )));
            }
        }
        let mut data = BTreeMap::new();
        for (field, reference) in [
            ("secretRef", class.secret_ref.as_ref()),
            (
                "credentialsSecretRef",
                class.credentials_secret_ref.as_ref(),
            ),
        ] {
            if let Some(reference) = reference {
                data.extend(self.secret_data(name, field, reference).await?);
            }
        }
        Class::parse(name, &class.provider_spec, &data)
    }

    async fn secret_data(
        &self,
        class: &str,
        field: &str,
        reference: &SecretReference,
    ) -> Result<BTreeMap<String, Vec<u8>>, DriverError> {
        let namespace = reference.namespace.as_deref().unwrap_or(&self.namespace);
        let secret_name = reference.name.as_deref().unwrap_or_default();
        if secret_name.is_empty() {
            return Err(DriverError::invalid(format!(
                "machine class {class}: {field}.name is required"
            )));
        }
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets
            .get_opt(secret_name)
            .await
            .map_err(|e| kube_failure(&format!("reading secret {namespace}/{secret_name}"), e))?
            .ok_or_else(|| {
                DriverError::invalid(format!(
                    "machine class {class}: {field} {namespace}/{secret_name} not found"
                ))
            })?;
        let mut data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        for (k, v) in secret.string_data.unwrap_or_default() {
            data.insert(k, v.into_bytes());
        }
        Ok(data)
    }
}

/// A Kubernetes read that failed: the API is the one unavailable.
pub fn kube_failure(what: &str, error: kube::Error) -> DriverError {
    DriverError::new(Code::Unavailable, format!("{what}: {error}"))
}
