//! Reads a MachineClass of provider metal and its Secrets into a checked [`Class`]. MCM hands
//! its driver the data of `secretRef` overlaid with `credentialsSecretRef`; so does this.
//!
//! With [`ClassReader::watch`] (the controller), MachineClasses and Secrets of `--namespace` are
//! watched, as MCM's informers do, and a class is parsed once per resourceVersion of the class
//! and its Secrets: a reconcile reads no more than its Machine's Node from the API. Without it
//! (or for a class or Secret not seen yet, or a Secret in another namespace) a read is a GET.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{Secret, SecretReference};
use kube::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt as _, watcher};
use kube_resources::mcm::MachineClass;

use crate::core::class::Class;
use crate::core::code::{Code, DriverError};

/// The provider name of our MachineClasses.
pub const PROVIDER: &str = "metal";

#[derive(Clone)]
pub struct ClassReader {
    client: kube::Client,
    namespace: String,
    watched: Option<Arc<Watched>>,
}

/// What a class reads as: checked, another provider's (`None`), or refused.
type Reading = Result<Option<Class>, DriverError>;

struct Watched {
    classes: Store<MachineClass>,
    secrets: Store<Secret>,
    /// class name → (resourceVersions of the class and its Secrets, what they parse to).
    parsed: parking_lot::Mutex<HashMap<String, (Vec<String>, Reading)>>,
}

impl ClassReader {
    pub fn new(client: kube::Client, namespace: String) -> Self {
        Self {
            client,
            namespace,
            watched: None,
        }
    }

    /// Watches the MachineClasses and Secrets of the namespace until `stop`; reads use them
    /// once both have been listed.
    pub fn watch(mut self, stop: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        let (classes, class_writer) = reflector::store();
        let (secrets, secret_writer) = reflector::store();
        let class_api: Api<MachineClass> = Api::namespaced(self.client.clone(), &self.namespace);
        let secret_api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let classes_stream =
            reflector::reflector(class_writer, watcher(class_api, watcher::Config::default()))
                .default_backoff()
                .for_each(|_| futures::future::ready(()));
        let secrets_stream = reflector::reflector(
            secret_writer,
            watcher(secret_api, watcher::Config::default()),
        )
        .default_backoff()
        .for_each(|_| futures::future::ready(()));
        tokio::spawn(async move {
            tokio::select! {
                _ = stop => {}
                _ = futures::future::join(classes_stream, secrets_stream) => {}
            }
        });
        self.watched = Some(Arc::new(Watched {
            classes,
            secrets,
            parsed: Default::default(),
        }));
        self
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The MachineClass `name` of `--namespace`, checked. A class of another provider, a missing
    /// class or Secret, or a bad providerSpec is InvalidArgument; a failed read Unavailable.
    pub async fn read(&self, name: &str) -> Result<Class, DriverError> {
        self.read_ours(name).await?.ok_or_else(|| {
            DriverError::invalid(format!(
                "machine class {name}: provider is not {PROVIDER:?}"
            ))
        })
    }

    /// Like [`ClassReader::read`], but a class of another provider is `None`: its Machines are
    /// another driver's.
    pub async fn read_ours(&self, name: &str) -> Reading {
        if let Some(watched) = &self.watched
            && let Some(answer) = watched.read(name, &self.namespace)
        {
            return answer;
        }
        let classes: Api<MachineClass> = Api::namespaced(self.client.clone(), &self.namespace);
        let class = classes
            .get_opt(name)
            .await
            .map_err(|e| kube_failure(&format!("reading machine class {name}"), e))?
            .ok_or_else(|| self.class_not_found(name))?;
        if class.provider.as_deref() != Some(PROVIDER) {
            return Ok(None);
        }
        let mut data = BTreeMap::new();
        for (field, reference) in secret_refs(&class) {
            data.extend(self.get_secret(name, field, reference).await?);
        }
        Class::parse(name, &class.provider_spec, &data).map(Some)
    }

    fn class_not_found(&self, name: &str) -> DriverError {
        DriverError::invalid(format!(
            "machine class {name} not found in namespace {}",
            self.namespace
        ))
    }

    async fn get_secret(
        &self,
        class: &str,
        field: &str,
        reference: &SecretReference,
    ) -> Result<BTreeMap<String, Vec<u8>>, DriverError> {
        let (namespace, secret_name) = secret_key(class, field, reference, &self.namespace)?;
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = secrets
            .get_opt(secret_name)
            .await
            .map_err(|e| kube_failure(&format!("reading secret {namespace}/{secret_name}"), e))?
            .ok_or_else(|| secret_not_found(class, field, namespace, secret_name))?;
        Ok(secret_data(&secret))
    }
}

impl Watched {
    /// The class from the stores, parsed at most once per resourceVersions; `None` when the
    /// stores cannot tell: the class or a Secret not seen (yet), or a Secret in another
    /// namespace (not watched).
    fn read(&self, name: &str, namespace: &str) -> Option<Reading> {
        // Not (yet) seen: the GET answers, so a class created a moment ago is found.
        let class = self
            .classes
            .get(&ObjectRef::<MachineClass>::new(name).within(namespace))?;
        if class.provider.as_deref() != Some(PROVIDER) {
            return Some(Ok(None));
        }
        let mut versions = vec![class.metadata.resource_version.clone().unwrap_or_default()];
        let mut secrets = Vec::new();
        for (field, reference) in secret_refs(&class) {
            let (secret_ns, secret_name) = match secret_key(name, field, reference, namespace) {
                Ok(key) => key,
                Err(e) => return Some(Err(e)),
            };
            if secret_ns != namespace {
                return None;
            }
            let secret = self
                .secrets
                .get(&ObjectRef::<Secret>::new(secret_name).within(namespace))?;
            versions.push(secret.metadata.resource_version.clone().unwrap_or_default());
            secrets.push(secret);
        }
        let mut parsed = self.parsed.lock();
        if let Some((seen, answer)) = parsed.get(name)
            && *seen == versions
        {
            return Some(answer.clone());
        }
        let data: BTreeMap<String, Vec<u8>> = secrets.iter().flat_map(|s| secret_data(s)).collect();
        let answer = Class::parse(name, &class.provider_spec, &data).map(Some);
        parsed.insert(name.to_owned(), (versions, answer.clone()));
        Some(answer)
    }
}

fn secret_refs(class: &MachineClass) -> impl Iterator<Item = (&'static str, &SecretReference)> {
    [
        ("secretRef", class.secret_ref.as_ref()),
        (
            "credentialsSecretRef",
            class.credentials_secret_ref.as_ref(),
        ),
    ]
    .into_iter()
    .filter_map(|(field, reference)| reference.map(|r| (field, r)))
}

/// The namespace and name a reference points at (its namespace defaults to the class's).
fn secret_key<'a>(
    class: &str,
    field: &str,
    reference: &'a SecretReference,
    namespace: &'a str,
) -> Result<(&'a str, &'a str), DriverError> {
    let secret_ns = reference.namespace.as_deref().unwrap_or(namespace);
    match reference.name.as_deref() {
        Some(name) if !name.is_empty() => Ok((secret_ns, name)),
        _ => Err(DriverError::invalid(format!(
            "machine class {class}: {field}.name is required"
        ))),
    }
}

fn secret_not_found(class: &str, field: &str, namespace: &str, name: &str) -> DriverError {
    DriverError::invalid(format!(
        "machine class {class}: {field} {namespace}/{name} not found"
    ))
}

fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in secret.string_data.iter().flatten() {
        data.insert(k.clone(), v.clone().into_bytes());
    }
    data
}

/// A Kubernetes read that failed: a refusal (401, 403) is the configuration's fault (RBAC, a
/// Secret in a namespace we may not read), anything else the API being unavailable.
pub fn kube_failure(what: &str, error: kube::Error) -> DriverError {
    let code = match &error {
        kube::Error::Api(status) if matches!(status.code, 401 | 403) => Code::InvalidArgument,
        _ => Code::Unavailable,
    };
    DriverError::new(code, format!("{what}: {error}"))
}
