//! The ControlPlane controller (upstream's generic control-plane actuator with the metal values
//! provider): reads what the values need (the node network and the firewall networks from
//! metal-api, the SSH key, the kube-apiserver's addresses and name, the seed's API server),
//! keeps the certificates, and applies the shoot access Secrets of lb-allocator and
//! firewall-controller-manager and the three ManagedResources; on deletion removes them and
//! waits until gardener-resource-manager has cleaned up behind them. Decisions and
//! manifests: [`core`]; certificates are generated here (rcgen).
//!
//! Every write is a server-side apply (field manager `provider-metal`, forced) of the whole
//! desired object, without resourceVersion: applying the same values twice changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt as _;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
};
use metal_api_sdk::model::{NetworkFindRequest, NetworkResponse};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

use super::{Actuator, Outcome, Request, Shared, kube_error, resource, secret_data};
use crate::core::extensions::controlplane::secrets::{CertConfig, Existing, Issued, Usage};
use crate::core::extensions::controlplane::{
    self as core, Credential, FirewallManager, Inputs, MANAGED_RESOURCES, firewall_manager,
    manifests, secrets, seed, storage, values,
};
use crate::core::extensions::operation::ExtError;

/// The field manager of every write.
const FIELD_MANAGER: &str = "provider-metal";
/// How soon to look again while waiting for another controller.
const WAIT: Duration = Duration::from_secs(10);
/// Gardener's SSH key pair of the shoot (its secrets manager's `name` label, or the plain name).
const SSH_KEYPAIR: &str = "ssh-keypair";
/// Upstream's override of the seed's API server URL for the firewalls (key `url`), for seeds
/// whose in-cluster address the firewalls cannot reach.
const SEED_API_SERVER_CONFIG_MAP: (&str, &str) = ("garden", "seed-api-server");

pub struct ControlPlane;

impl Actuator for ControlPlane {
    const KIND: &'static str = "ControlPlane";
    const PLURAL: &'static str = "controlplanes";
    const FINALIZER: &'static str = "extensions.gardener.cloud/controlplane";

    fn reconcile<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(reconcile(request))
    }

    fn delete<'a>(&'a self, request: &'a Request<'a>) -> BoxFuture<'a, Result<Outcome, ExtError>> {
        Box::pin(delete(request))
    }
}

pub fn managed_resource_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("resources.gardener.cloud", "v1alpha1", manifests::KIND),
        "managedresources",
    )
}

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

async fn reconcile(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let (shared, shoot, namespace) = (request.shared, request.shoot, request.namespace());
    let config = values::control_plane_config(request.value, shoot)?;
    // Upstream reads the Infrastructure's status too: the Cluster learns the CIDR only later.
    let infrastructure = match shoot.nodes_cidr {
        Some(_) => None,
        None => infrastructure(shared, namespace, request.name()).await?,
    };
    let Some(nodes_cidr) = values::nodes_cidr(shoot, infrastructure.as_ref()) else {
        return Ok(Outcome::pending(
            WAIT,
            "waiting for the node network (the Infrastructure's status.nodesCIDR)",
        ));
    };
    let apiserver = apiserver_record(shared, namespace, &shoot.name).await?;
    let apiserver_ips = if shoot.hibernated {
        Vec::new()
    } else {
        let ips = apiserver.ips.clone();
        if ips.is_empty() {
            return Ok(Outcome::pending(
                WAIT,
                format!(
                    "waiting for the kube-apiserver's addresses (DNSRecord {}-external)",
                    shoot.name
                ),
            ));
        }
        ips
    };
    let metal = shared.metal_client(shoot, request.value).await?;
    let find = NetworkFindRequest {
        projectid: Some(shoot.project_id().to_owned()),
        prefixes: Some(vec![nodes_cidr.clone()]),
        ..Default::default()
    };
    let found = metal
        .find_networks(&find)
        .await
        .map_err(|e| ExtError::metal("finding the node network", &e))?;
    let node_network_id = values::node_network(&found, shoot.project_id(), &nodes_cidr)?;
    let networks = firewall_networks(&metal, &shoot.infrastructure.firewall.networks).await?;
    let ssh_key = ssh_key_pair(shared, namespace).await?;
    let ssh_public_key = ssh_key.as_ref().and_then(|k| k.public_key.clone());
    let credential = credential(shared, request).await?;
    let values = core::values(Inputs {
        shoot,
        config: &config,
        nodes_cidr: &nodes_cidr,
        node_network_id: &node_network_id,
        networks: &networks,
        ssh_public_key: ssh_public_key.as_deref(),
        credential,
        apiserver_ips,
    })?;

    let certificates = ensure_secrets(shared, namespace).await?;
    let server = certificates
        .get(secrets::VOLUME_MANAGER_SERVER)
        .map(|c| &c.data)
        .ok_or_else(|| ExtError::internal("volume-manager's certificate is missing"))?;
    let field = |key: &str| server.get(key).cloned().unwrap_or_default();
    let tls = storage::Tls {
        cert: field("tls.crt"),
        key: field("tls.key"),
        ca: field("ca.crt"),
    };

    let firewall_manager = match &shared.config.firewall_controller_manager_image {
        None => None,
        Some(image) => {
            let Some(shoot_api_url) = shoot_api_url(&shoot.shoot, &apiserver) else {
                return Ok(Outcome::pending(
                    WAIT,
                    format!(
                        "waiting for the shoot's domain (spec.dns.domain, or the name of DNSRecord {}-external)",
                        shoot.name
                    ),
                ));
            };
            let ca = certificates
                .get(secrets::CA_CONTROLPLANE)
                .and_then(|c| c.data.get("ca.crt"))
                .ok_or_else(|| ExtError::internal("the control-plane CA is missing"))?;
            Some(FirewallManager {
                image: image.clone(),
                seed_api_url: seed_api_url(shared).await?,
                shoot_api_url,
                ssh_key_secret: ssh_key.map_or_else(|| SSH_KEYPAIR.to_owned(), |k| k.secret),
                ca_bundle: ca.clone(),
                shoot_kubeconfig_secret: seed::GENERIC_KUBECONFIG.to_owned(),
            })
        }
    };

    let secrets_api: Api<Secret> = Api::namespaced(shared.client.clone(), namespace);
    let mut access = vec![(seed::SHOOT_ACCESS_SECRET, seed::LB_ALLOCATOR)];
    if firewall_manager.is_some() {
        access.push((
            firewall_manager::SHOOT_ACCESS_SECRET,
            firewall_manager::NAME,
        ));
    }
    for (name, account) in access {
        apply(
            &secrets_api,
            name,
            &seed::shoot_access_secret(namespace, name, account),
        )
        .await?;
    }
    let resources = core::render(
        &values,
        &shared.config.control_plane_image,
        &tls,
        firewall_manager.as_ref(),
    );
    let managed: Api<DynamicObject> = Api::namespaced_with(
        shared.client.clone(),
        namespace,
        &managed_resource_resource(),
    );
    for resource in &resources {
        apply(
            &secrets_api,
            &resource.secret_name(),
            &resource.secret(namespace)?,
        )
        .await?;
        apply(&managed, resource.name, &resource.object(namespace)).await?;
    }
    if values.storage.is_none() {
        // csi-lvm switched off: gardener-resource-manager removes what it had applied.
        delete_managed_resource(&managed, &secrets_api, storage::RESOURCE).await?;
    }
    Ok(Outcome::done())
}

async fn delete(request: &Request<'_>) -> Result<Outcome, ExtError> {
    let (client, namespace) = (&request.shared.client, request.namespace());
    let managed: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &managed_resource_resource());
    let secrets_api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    // The shoot's resources go first, lb-allocator (the seed's) once they are gone.
    let (shoot_side, seed_side) = MANAGED_RESOURCES.split_at(2);
    for phase in [shoot_side, seed_side] {
        for name in phase {
            delete_managed_resource(&managed, &secrets_api, name).await?;
        }
        let mut remaining = Vec::new();
        for name in phase {
            let found = managed
                .get_opt(name)
                .await
                .map_err(|e| kube_error(&format!("reading managed resource {name}"), &e))?;
            if found.is_some() {
                remaining.push(*name);
            }
        }
        if !remaining.is_empty() {
            return Ok(Outcome::pending(
                Duration::from_secs(5),
                format!(
                    "waiting for the managed resources {} to be deleted",
                    remaining.join(", ")
                ),
            ));
        }
    }
    delete_opt(&secrets_api, seed::SHOOT_ACCESS_SECRET).await?;
    delete_opt(&secrets_api, firewall_manager::SHOOT_ACCESS_SECRET).await?;
    let managed_secrets = secrets_api
        .list(&ListParams::default().labels(&managed_labels()))
        .await
        .map_err(|e| kube_error("listing the managed secrets", &e))?;
    for secret in managed_secrets {
        delete_opt(&secrets_api, &secret.name_any()).await?;
    }
    Ok(Outcome::done())
}

fn managed_labels() -> String {
    format!(
        "{}={},{}={}",
        secrets::LABEL_MANAGED_BY,
        secrets::MANAGED_BY,
        secrets::LABEL_MANAGER_IDENTITY,
        secrets::MANAGER_IDENTITY
    )
}

/// Server-side applies `object` as `name`.
async fn apply<K>(api: &Api<K>, name: &str, object: &Value) -> Result<(), ExtError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch(name, &apply_params(), &Patch::Apply(object))
        .await
        .map(drop)
        .map_err(|e| kube_error(&format!("applying {name}"), &e))
}

async fn delete_opt<K>(api: &Api<K>, name: &str) -> Result<(), ExtError>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(kube_error(&format!("deleting {name}"), &e)),
    }
}

async fn delete_managed_resource(
    managed: &Api<DynamicObject>,
    secrets_api: &Api<Secret>,
    name: &str,
) -> Result<(), ExtError> {
    delete_opt(managed, name).await?;
    delete_opt(secrets_api, &manifests::secret_name(name)).await
}

/// The namespace's Infrastructure (named like the ControlPlane, else the first there is).
async fn infrastructure(
    shared: &Shared,
    namespace: &str,
    name: &str,
) -> Result<Option<Value>, ExtError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        shared.client.clone(),
        namespace,
        &resource("Infrastructure", "infrastructures"),
    );
    let read =
        |e: kube::Error| kube_error(&format!("reading the infrastructure of {namespace}"), &e);
    let found = match api.get_opt(name).await.map_err(read)? {
        Some(found) => Some(found),
        None => match api.list(&ListParams::default()).await {
            Ok(list) => list.items.into_iter().next(),
            // The kind is not served (yet): no Infrastructure either.
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(e) => return Err(read(e)),
        },
    };
    found
        .map(|o| serde_json::to_value(o).map_err(|e| ExtError::internal(e.to_string())))
        .transpose()
}

/// The shoot's external DNSRecord: the kube-apiserver's name and addresses.
#[derive(Debug, Default)]
struct ApiServerRecord {
    name: Option<String>,
    ips: Vec<String>,
}

async fn apiserver_record(
    shared: &Shared,
    namespace: &str,
    shoot: &str,
) -> Result<ApiServerRecord, ExtError> {
    let api: Api<DynamicObject> = Api::namespaced_with(
        shared.client.clone(),
        namespace,
        &resource("DNSRecord", "dnsrecords"),
    );
    let name = format!("{shoot}-external");
    let Some(record) = api
        .get_opt(&name)
        .await
        .map_err(|e| kube_error(&format!("reading DNSRecord {name}"), &e))?
    else {
        return Ok(ApiServerRecord::default());
    };
    Ok(ApiServerRecord {
        name: record
            .data
            .pointer("/spec/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        ips: record
            .data
            .pointer("/spec/values")
            .cloned()
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .unwrap_or_default(),
    })
}

/// The shoot's API server as its firewalls reach it: `https://api.<spec.dns.domain>` as
/// upstream, else the name of its external DNSRecord (which gardenlet names so).
fn shoot_api_url(shoot: &Value, record: &ApiServerRecord) -> Option<String> {
    shoot
        .pointer("/spec/dns/domain")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
        .map(|domain| format!("https://api.{domain}"))
        .or_else(|| record.name.as_ref().map(|name| format!("https://{name}")))
}

/// The seed's API server for the firewalls: upstream's ConfigMap override, else the configured
/// (or this process's) API server.
async fn seed_api_url(shared: &Shared) -> Result<String, ExtError> {
    let (namespace, name) = SEED_API_SERVER_CONFIG_MAP;
    let api: Api<ConfigMap> = Api::namespaced(shared.client.clone(), namespace);
    let url = match api.get_opt(name).await {
        Ok(found) => found.and_then(|c| c.data.and_then(|mut d| d.remove("url"))),
        // No garden namespace (or no right to read it): no override.
        Err(kube::Error::Api(status)) if status.code == 403 || status.code == 404 => None,
        Err(e) => {
            return Err(kube_error(
                &format!("reading configmap {namespace}/{name}"),
                &e,
            ));
        }
    };
    url.or_else(|| shared.config.seed_api_url.clone())
        .map(|u| u.trim_end_matches('/').to_owned())
        .ok_or_else(|| {
            ExtError::configuration("the seed's API server URL is unknown (--seed-api-url)")
        })
}

/// The firewall networks metal-api knows, with the parents of those labelled default-external
/// (whether a parent is the private super network makes a DMZ network).
async fn firewall_networks(
    metal: &metal_api_sdk::Client,
    ids: &[String],
) -> Result<Vec<NetworkResponse>, ExtError> {
    let mut found = Vec::new();
    for id in ids {
        found.extend(network(metal, id).await?);
    }
    let parents: BTreeSet<String> = found
        .iter()
        .filter(|n| n.labels.contains_key(values::LABEL_DEFAULT_EXTERNAL))
        .filter_map(|n| n.parentnetworkid.clone())
        .filter(|p| !p.is_empty() && !ids.contains(p))
        .collect();
    for parent in parents {
        found.extend(network(metal, &parent).await?);
    }
    Ok(found)
}

async fn network(
    metal: &metal_api_sdk::Client,
    id: &str,
) -> Result<Option<NetworkResponse>, ExtError> {
    match metal.get_network(id).await {
        Ok(network) => Ok(Some(network)),
        Err(metal_api_sdk::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(ExtError::metal(&format!("reading network {id}"), &e)),
    }
}

/// The shoot's SSH key pair: its Secret's name and public key.
struct SshKeyPair {
    secret: String,
    public_key: Option<String>,
}

/// The newest `ssh-keypair` of Gardener's secrets manager, else the Secret of that name; none
/// is no error.
async fn ssh_key_pair(shared: &Shared, namespace: &str) -> Result<Option<SshKeyPair>, ExtError> {
    let api: Api<Secret> = Api::namespaced(shared.client.clone(), namespace);
    let managed = api
        .list(
            &ListParams::default()
                .labels(&format!("name={SSH_KEYPAIR},managed-by=secrets-manager")),
        )
        .await
        .map_err(|e| kube_error("listing the ssh key pairs", &e))?;
    let newest = managed
        .items
        .into_iter()
        .max_by(|a, b| a.creation_timestamp().cmp(&b.creation_timestamp()));
    let secret = match newest {
        Some(secret) => Some(secret),
        None => shared.secret(namespace, SSH_KEYPAIR).await?,
    };
    Ok(secret.map(|s| SshKeyPair {
        secret: s.name_any(),
        public_key: secret_data(&s).remove("id_rsa.pub"),
    }))
}

/// Which key of the ControlPlane's cloudprovider Secret lb-allocator gets.
async fn credential(shared: &Shared, request: &Request<'_>) -> Result<Credential, ExtError> {
    let name = request
        .value
        .pointer("/spec/secretRef/name")
        .and_then(Value::as_str)
        .ok_or_else(|| ExtError::configuration("spec.secretRef.name is not set"))?;
    let secret = shared
        .secret(request.namespace(), name)
        .await?
        .ok_or_else(|| ExtError::configuration(format!("secret {name} does not exist")))?;
    Credential::of(name, &secret_data(&secret))
}

/// Brings the managed certificates up to date; returns them all.
async fn ensure_secrets(
    shared: &Shared,
    namespace: &str,
) -> Result<BTreeMap<String, Existing>, ExtError> {
    let api: Api<Secret> = Api::namespaced(shared.client.clone(), namespace);
    let listed = api
        .list(&ListParams::default().labels(&managed_labels()))
        .await
        .map_err(|e| kube_error("listing the managed secrets", &e))?;
    // By object name: a Secret of another manager under the same `name` label is not ours.
    let mut existing: BTreeMap<String, Existing> = listed
        .items
        .iter()
        .map(|s| {
            let labels = s
                .labels()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            (
                s.name_any(),
                Existing {
                    labels,
                    data: secret_data(s),
                },
            )
        })
        .collect();
    let configs = secrets::configs(namespace);
    let now = unix_now();
    for (name, reason) in secrets::plan(&configs, &existing, now) {
        let config = configs
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| ExtError::internal(format!("no configuration of secret {name}")))?;
        let ca = match config.signed_by {
            None => None,
            Some(ca_name) => {
                let ca_config = configs.iter().find(|c| c.name == ca_name).ok_or_else(|| {
                    ExtError::internal(format!("no configuration of CA {ca_name}"))
                })?;
                let data = &existing
                    .get(ca_name)
                    .ok_or_else(|| ExtError::internal(format!("CA {ca_name} is missing")))?
                    .data;
                let pem = |key: &str| data.get(key).cloned().unwrap_or_default();
                Some((ca_config, pem("ca.crt"), pem("ca.key")))
            }
        };
        let issued = issue(
            config,
            ca.as_ref().map(|(c, _, key)| (*c, key.as_str())),
            now,
        )?;
        let ca_cert = ca.as_ref().map(|(_, cert, _)| cert.as_str());
        apply(
            &api,
            name,
            &secrets::secret(config, namespace, &issued, ca_cert),
        )
        .await?;
        tracing::info!(%namespace, secret = name, ?reason, "generated");
        existing.insert(name.to_owned(), secrets::contents(config, &issued, ca_cert));
    }
    Ok(existing)
}

/// The parameters shared by a CA's own certificate and its issuer: what identifies it.
fn ca_params(config: &CertConfig) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = distinguished_name(config);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    Ok(params)
}

fn distinguished_name(config: &CertConfig) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, config.common_name.as_str());
    for organization in &config.organization {
        name.push(DnType::OrganizationName, organization.as_str());
    }
    name
}

/// A new key and certificate for `config`, self-signed for a CA, else signed by `ca` (its
/// configuration and PEM key). Valid from a minute ago (clock skew) for the config's validity.
pub fn issue(
    config: &CertConfig,
    ca: Option<(&CertConfig, &str)>,
    now: i64,
) -> Result<Issued, ExtError> {
    let failed = |e: rcgen::Error| {
        ExtError::internal(format!("generating certificate {}: {e}", config.name))
    };
    let key = KeyPair::generate().map_err(failed)?;
    let mut params = if config.is_ca() {
        ca_params(config).map_err(failed)?
    } else {
        let mut params = CertificateParams::new(config.alt_names.clone()).map_err(failed)?;
        params.distinguished_name = distinguished_name(config);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![match config.usage {
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
            _ => ExtendedKeyUsagePurpose::ServerAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        params
    };
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let at = |unix: i64| epoch + Duration::from_secs(unix.max(0) as u64);
    params.not_before = at(now - 60);
    params.not_after = at(now + config.validity);
    let cert = match ca {
        None => params.self_signed(&key).map_err(failed)?,
        Some((ca_config, ca_key)) => {
            let signing = KeyPair::from_pem(ca_key).map_err(failed)?;
            let issuer = Issuer::new(ca_params(ca_config).map_err(failed)?, signing);
            params.signed_by(&key, &issuer).map_err(failed)?
        }
    };
    Ok(Issued {
        cert: cert.pem(),
        key: key.serialize_pem(),
        issued_at: now,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::RootCertStore;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    use super::*;

    fn verify(ca_pem: &str, cert_pem: &str, name: &str) -> Result<(), rustls::Error> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
        verifier
            .verify_server_cert(
                &cert,
                &[],
                &ServerName::try_from(name.to_owned()).unwrap(),
                &[],
                UnixTime::now(),
            )
            .map(drop)
    }

    #[test]
    fn a_server_certificate_verifies_against_its_ca_also_when_signed_later() {
        let configs = secrets::configs("shoot--p--s1");
        let by_name = |n: &str| configs.iter().find(|c| c.name == n).unwrap();
        let ca_config = by_name(secrets::CA_CONTROLPLANE);
        let now = unix_now();
        let ca = issue(ca_config, None, now).unwrap();
        // As a later reconcile does: only the CA's PEM key is at hand.
        let server = issue(
            by_name(secrets::LB_ALLOCATOR_SERVER),
            Some((ca_config, &ca.key)),
            now,
        )
        .unwrap();
        verify(&ca.cert, &server.cert, "lb-allocator.shoot--p--s1.svc").unwrap();
        assert!(verify(&ca.cert, &server.cert, "elsewhere.example").is_err());
        let volume = issue(
            by_name(secrets::VOLUME_MANAGER_SERVER),
            Some((ca_config, &ca.key)),
            now,
        )
        .unwrap();
        verify(&ca.cert, &volume.cert, "localhost").unwrap();

        let other_ca = issue(by_name(secrets::CA_METALLB_WEBHOOK), None, now).unwrap();
        assert!(verify(&other_ca.cert, &server.cert, "lb-allocator").is_err());
        let metallb = by_name(secrets::METALLB_WEBHOOK);
        let webhook = issue(
            metallb,
            Some((by_name(secrets::CA_METALLB_WEBHOOK), &other_ca.key)),
            now,
        )
        .unwrap();
        verify(
            &other_ca.cert,
            &webhook.cert,
            "metallb-webhook-service.metallb-system.svc",
        )
        .unwrap();
    }
}
