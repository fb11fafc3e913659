//! The control plane's certificates, kept as Gardener's secrets manager keeps them: one Secret
//! per configuration in the shoot's namespace, labelled `managed-by: secrets-manager`,
//! `manager-identity: provider-metal`, `name: <name>`, with when it was issued
//! (`issued-at-time`) and until when it is valid (`valid-until-time`, unix seconds), a checksum
//! of its configuration and, for a certificate, of the CA that signed it. A CA holds `ca.crt`
//! and `ca.key`; a certificate `tls.crt`, `tls.key` and (unless it keeps it to itself) `ca.crt`.
//!
//! The names are upstream's. Unlike Gardener's, they carry no hash: a renewed certificate
//! replaces the old one in place, which our services pick up without a restart (they re-read
//! their TLS files), and the Deployments never need re-rendering for it.
//!
//! [`plan`] decides what to (re)generate; generating is the controller's.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::seed::LB_ALLOCATOR;

pub const LABEL_NAME: &str = "name";
pub const LABEL_MANAGED_BY: &str = "managed-by";
pub const MANAGED_BY: &str = "secrets-manager";
pub const LABEL_MANAGER_IDENTITY: &str = "manager-identity";
pub const MANAGER_IDENTITY: &str = "provider-metal";
pub const LABEL_ISSUED_AT: &str = "issued-at-time";
pub const LABEL_VALID_UNTIL: &str = "valid-until-time";
pub const LABEL_CHECKSUM_CONFIG: &str = "checksum-of-config";
pub const LABEL_CHECKSUM_CA: &str = "checksum-of-signing-ca";
pub const LABEL_PERSIST: &str = "persist";

pub const CA_CONTROLPLANE: &str = "ca-provider-metal-controlplane";
/// lb-allocator's serving certificate, under the name of the metal-ccm one it replaces.
pub const LB_ALLOCATOR_SERVER: &str = "cloud-controller-manager-server";
pub const FIREWALL_CONTROLLER_MANAGER: &str = "firewall-controller-manager";
pub const CA_DROPTAILER: &str = "ca-provider-metal-droptailer";
pub const DROPTAILER_CLIENT: &str = "droptailer-client";
pub const DROPTAILER_SERVER: &str = "droptailer-server";
pub const CA_METALLB_WEBHOOK: &str = "ca-provider-metal-metallb-webhook";
pub const METALLB_WEBHOOK: &str = "metallb-webhook-cert";
/// volume-manager's serving certificate in the shoot (ours; upstream's csi-lvm serves none).
pub const VOLUME_MANAGER_SERVER: &str = "volume-manager-server";

const DAY: i64 = 24 * 60 * 60;
/// Gardener's CA validity.
pub const CA_VALIDITY: i64 = 10 * 365 * DAY;
/// Certificates live a year: renewed after ~292 days, long before anything expires.
pub const CERT_VALIDITY: i64 = 365 * DAY;
/// Gardener renews after this share of the validity...
const RENEW_PERCENT: i64 = 80;
/// ... or this long before the end, whichever comes first.
const RENEW_BEFORE: i64 = 10 * DAY;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Ca,
    Server,
    Client,
}

/// What one Secret holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertConfig {
    pub name: &'static str,
    pub common_name: String,
    pub organization: Vec<String>,
    /// DNS names and IP addresses.
    pub alt_names: Vec<String>,
    pub usage: Usage,
    /// The CA (by name) signing a certificate.
    pub signed_by: Option<&'static str>,
    /// Whether the certificate's Secret also carries its CA (`ca.crt`).
    pub publish_ca: bool,
    /// Seconds.
    pub validity: i64,
}

impl CertConfig {
    fn ca(name: &'static str) -> Self {
        CertConfig {
            name,
            common_name: name.to_owned(),
            organization: Vec::new(),
            alt_names: Vec::new(),
            usage: Usage::Ca,
            signed_by: None,
            publish_ca: false,
            validity: CA_VALIDITY,
        }
    }

    fn cert(
        name: &'static str,
        ca: &'static str,
        usage: Usage,
        common_name: &str,
        alt_names: Vec<String>,
    ) -> Self {
        CertConfig {
            name,
            common_name: common_name.to_owned(),
            organization: Vec::new(),
            alt_names,
            usage,
            signed_by: Some(ca),
            publish_ca: true,
            validity: CERT_VALIDITY,
        }
    }

    fn organization(mut self, organization: &str) -> Self {
        self.organization = vec![organization.to_owned()];
        self
    }

    pub fn is_ca(&self) -> bool {
        self.usage == Usage::Ca
    }

    /// Changes whenever the certificate would come out different.
    pub fn checksum(&self) -> String {
        digest(&format!(
            "{}|{}|{}|{}|{:?}|{:?}|{}|{}",
            self.name,
            self.common_name,
            self.organization.join(","),
            self.alt_names.join(","),
            self.usage,
            self.signed_by,
            self.publish_ca,
            self.validity
        ))
    }
}

/// Kubernetes' names of a Service (`kutil.DNSNamesForService`).
fn service_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}

/// Upstream's secret configurations, plus volume-manager's: every CA before what it signs.
pub fn configs(namespace: &str) -> Vec<CertConfig> {
    let metallb = "metallb-webhook-service.metallb-system.svc";
    let mut lb_allocator = CertConfig::cert(
        LB_ALLOCATOR_SERVER,
        CA_CONTROLPLANE,
        Usage::Server,
        LB_ALLOCATOR,
        service_names(LB_ALLOCATOR, namespace),
    );
    lb_allocator.publish_ca = false;
    let mut volume_manager_names = service_names("volume-manager", super::storage::CSI_LVM);
    volume_manager_names.extend(["localhost".to_owned(), "127.0.0.1".to_owned()]);
    vec![
        CertConfig::ca(CA_CONTROLPLANE),
        CertConfig::ca(CA_DROPTAILER),
        CertConfig::ca(CA_METALLB_WEBHOOK),
        lb_allocator,
        CertConfig::cert(
            FIREWALL_CONTROLLER_MANAGER,
            CA_CONTROLPLANE,
            Usage::Server,
            FIREWALL_CONTROLLER_MANAGER,
            service_names(FIREWALL_CONTROLLER_MANAGER, namespace),
        ),
        CertConfig::cert(
            DROPTAILER_CLIENT,
            CA_DROPTAILER,
            Usage::Client,
            "droptailer",
            vec!["droptailer".into()],
        )
        .organization("droptailer-client"),
        CertConfig::cert(
            DROPTAILER_SERVER,
            CA_DROPTAILER,
            Usage::Server,
            "droptailer",
            vec!["droptailer".into()],
        )
        .organization("droptailer-server"),
        CertConfig::cert(
            METALLB_WEBHOOK,
            CA_METALLB_WEBHOOK,
            Usage::Server,
            metallb,
            vec![metallb.into()],
        )
        .organization("metallb"),
        CertConfig::cert(
            VOLUME_MANAGER_SERVER,
            CA_CONTROLPLANE,
            Usage::Server,
            "volume-manager",
            volume_manager_names,
        ),
    ]
}

/// A managed Secret as found: its labels and data (as text).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Existing {
    pub labels: BTreeMap<String, String>,
    pub data: BTreeMap<String, String>,
}

/// Why a Secret is (re)generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Missing,
    /// Its data lacks a key the configuration needs.
    Incomplete,
    ConfigChanged,
    /// Its CA is (re)generated in the same plan.
    CaRenewed,
    /// It was signed by another CA than the current one.
    CaChanged,
    /// 80 % of its validity elapsed (or it expires within 10 days).
    Due,
}

/// Which Secrets to (re)generate, in the order of `configs`, so a CA comes before what it
/// signs. `now` in unix seconds.
pub fn plan(
    configs: &[CertConfig],
    existing: &BTreeMap<String, Existing>,
    now: i64,
) -> Vec<(&'static str, Reason)> {
    let mut out: Vec<(&'static str, Reason)> = Vec::new();
    for config in configs {
        let renewed = |name: &str| out.iter().any(|(n, _)| *n == name);
        let reason = match existing.get(config.name) {
            None => Some(Reason::Missing),
            Some(found) => {
                let keys: &[&str] = if config.is_ca() {
                    &["ca.crt", "ca.key"]
                } else {
                    &["tls.crt", "tls.key"]
                };
                if keys
                    .iter()
                    .any(|k| found.data.get(*k).is_none_or(String::is_empty))
                {
                    Some(Reason::Incomplete)
                } else if found.labels.get(LABEL_CHECKSUM_CONFIG) != Some(&config.checksum()) {
                    Some(Reason::ConfigChanged)
                } else if config.signed_by.is_some_and(renewed) {
                    Some(Reason::CaRenewed)
                } else if config.signed_by.is_some_and(|ca| {
                    let current = existing
                        .get(ca)
                        .and_then(|ca| ca.data.get("ca.crt"))
                        .map(|pem| digest(pem));
                    current.as_ref() != found.labels.get(LABEL_CHECKSUM_CA)
                }) {
                    Some(Reason::CaChanged)
                } else if renewal_due(&found.labels, now) {
                    Some(Reason::Due)
                } else {
                    None
                }
            }
        };
        if let Some(reason) = reason {
            out.push((config.name, reason));
        }
    }
    out
}

/// Whether a Secret with these lifetime labels is to be renewed at `now`: Gardener's rule,
/// after 80 % of its validity or within 10 days of its end. Unreadable labels count as due.
pub fn renewal_due(labels: &BTreeMap<String, String>, now: i64) -> bool {
    let time = |key: &str| labels.get(key).and_then(|v| v.parse::<i64>().ok());
    let (Some(issued), Some(until)) = (time(LABEL_ISSUED_AT), time(LABEL_VALID_UNTIL)) else {
        return true;
    };
    let renew_at = issued + (until - issued) * RENEW_PERCENT / 100;
    now > renew_at || now > until - RENEW_BEFORE
}

/// A short digest for labels (which hold at most 63 characters).
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))[..16].to_owned()
}

/// A generated key pair and certificate, PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert: String,
    pub key: String,
    /// Unix seconds.
    pub issued_at: i64,
}

/// What a managed Secret of `config` holding `issued` is labelled with and holds (as text);
/// `ca` is the signing CA's certificate (PEM) of a certificate.
pub fn contents(config: &CertConfig, issued: &Issued, ca: Option<&str>) -> Existing {
    let mut labels: BTreeMap<String, String> = [
        (LABEL_NAME, config.name.to_owned()),
        (LABEL_MANAGED_BY, MANAGED_BY.to_owned()),
        (LABEL_MANAGER_IDENTITY, MANAGER_IDENTITY.to_owned()),
        (LABEL_CHECKSUM_CONFIG, config.checksum()),
        (LABEL_ISSUED_AT, issued.issued_at.to_string()),
        (
            LABEL_VALID_UNTIL,
            (issued.issued_at + config.validity).to_string(),
        ),
    ]
    .map(|(k, v)| (k.to_owned(), v))
    .into();
    let mut data = BTreeMap::new();
    if config.is_ca() {
        // Gardener keeps CAs across its secrets manager's cleanups.
        labels.insert(LABEL_PERSIST.into(), "true".into());
        data.insert("ca.crt".to_owned(), issued.cert.clone());
        data.insert("ca.key".to_owned(), issued.key.clone());
    } else {
        data.insert("tls.crt".to_owned(), issued.cert.clone());
        data.insert("tls.key".to_owned(), issued.key.clone());
        if let Some(ca) = ca {
            labels.insert(LABEL_CHECKSUM_CA.into(), digest(ca));
            if config.publish_ca {
                data.insert("ca.crt".to_owned(), ca.to_owned());
            }
        }
    }
    Existing { labels, data }
}

/// The Secret of `config` holding `issued` (see [`contents`]).
pub fn secret(config: &CertConfig, namespace: &str, issued: &Issued, ca: Option<&str>) -> Value {
    let Existing { labels, data } = contents(config, issued, ca);
    let data: BTreeMap<String, String> = data
        .into_iter()
        .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": config.name, "namespace": namespace, "labels": labels},
        "type": if config.is_ca() { "Opaque" } else { "kubernetes.io/tls" },
        "data": data,
    })
}
