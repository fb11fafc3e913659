//! The MachineClass as the driver reads it: the providerSpec (decoded leniently, as upstream:
//! unknown fields are ignored) and the Secret, both checked on every call. A failed check is
//! `InvalidArgument` naming the field (upstream: Internal).

use std::collections::BTreeMap;

use metal_api_sdk::auth::HmacKind;
use metal_api_sdk::client::Auth;
use metal_api_sdk::model::{DnsServer, NtpServer};
use serde::{Deserialize, Serialize};

use super::code::DriverError;
use super::tags;

/// The MachineClass `providerSpec` of provider metal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderSpec {
    #[serde(default)]
    pub partition: String,
    #[serde(default)]
    pub size: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub project: String,
    /// The cluster's private network.
    #[serde(default)]
    pub network: String,
    /// Must hold `cluster.metal-stack.io/id=<cluster id>`.
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    #[serde(default)]
    pub dns_servers: Vec<DnsServer>,
    #[serde(default)]
    pub ntp_servers: Vec<NtpServer>,
}

/// Secret keys, as upstream names them.
pub const KEY_URL: &str = "metalAPIURL";
pub const KEY_HMAC: &str = "metalAPIHMac";
pub const KEY_TOKEN: &str = "metalAPIKey";
pub const KEY_USER_DATA: &str = "userData";

/// Where and how to reach metal-api; the key never reaches `Debug` output.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub url: String,
    pub credential: Credential,
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    /// metal-go signs with the Metal-Admin scheme.
    Hmac(String),
    Token(String),
}

/// Names the kind only: keys never reach logs.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credential::Hmac(_) => "Hmac(..)",
            Credential::Token(_) => "Token(..)",
        })
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.credential {
            Credential::Hmac(_) => "hmac",
            Credential::Token(_) => "token",
        };
        write!(f, "Endpoint({}, {kind})", self.url)
    }
}

impl Endpoint {
    pub fn auth(&self) -> Auth {
        match &self.credential {
            Credential::Hmac(key) => Auth::Hmac {
                kind: HmacKind::Admin,
                key: key.clone(),
            },
            Credential::Token(token) => Auth::Bearer(token.clone()),
        }
    }
}

/// A checked MachineClass: what every driver call needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub name: String,
    pub spec: ProviderSpec,
    /// The value of the `cluster.metal-stack.io/id` tag.
    pub cluster_id: String,
    pub endpoint: Endpoint,
    /// The Secret's `userData`, trimmed; empty when absent.
    pub user_data: String,
}

impl Class {
    /// Decodes and checks a providerSpec and the Secret's data (raw bytes, as a Secret holds them).
    pub fn parse(
        name: &str,
        provider_spec: &serde_json::Value,
        secret: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Class, DriverError> {
        let spec = ProviderSpec::deserialize(provider_spec).map_err(|e| {
            DriverError::invalid(format!("machine class {name}: providerSpec: {e}"))
        })?;
        Self::checked(name, spec, secret)
    }

    pub fn checked(
        name: &str,
        spec: ProviderSpec,
        secret: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Class, DriverError> {
        let invalid = |what: String| DriverError::invalid(format!("machine class {name}: {what}"));
        for (field, value) in [
            ("image", &spec.image),
            ("network", &spec.network),
            ("partition", &spec.partition),
            ("project", &spec.project),
            ("size", &spec.size),
        ] {
            if value.trim().is_empty() {
                return Err(invalid(format!("providerSpec.{field} is required")));
            }
        }
        let cluster_id = tags::cluster_id(&spec.tags).ok_or_else(|| {
            invalid(format!(
                "providerSpec.tags must hold {}=<cluster id>",
                tags::CLUSTER_ID
            ))
        })?;
        let text = |key: &str| -> Result<Option<String>, DriverError> {
            match secret.get(key) {
                None => Ok(None),
                Some(bytes) => String::from_utf8(bytes.clone())
                    .map(|s| Some(s.trim().to_owned()).filter(|s| !s.is_empty()))
                    .map_err(|_| invalid(format!("secret key {key} is not UTF-8"))),
            }
        };
        let url =
            text(KEY_URL)?.ok_or_else(|| invalid(format!("secret key {KEY_URL} is required")))?;
        let credential = match (text(KEY_HMAC)?, text(KEY_TOKEN)?) {
            (Some(key), None) => Credential::Hmac(key),
            (None, Some(token)) => Credential::Token(token),
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "secret keys {KEY_HMAC} and {KEY_TOKEN} are exclusive: give one"
                )));
            }
            (None, None) => {
                return Err(invalid(format!(
                    "secret key {KEY_HMAC} or {KEY_TOKEN} is required"
                )));
            }
        };
        Ok(Class {
            name: name.to_owned(),
            cluster_id: cluster_id.to_owned(),
            user_data: text(KEY_USER_DATA)?.unwrap_or_default(),
            endpoint: Endpoint { url, credential },
            spec,
        })
    }

    /// The tag every machine of this cluster carries.
    pub fn cluster_tag(&self) -> String {
        tags::cluster_tag(&self.cluster_id)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub fn spec() -> serde_json::Value {
        json!({
            "partition": "fra-equ01", "size": "c1-medium-x86", "image": "ubuntu-24.04",
            "project": "p1", "network": "n1",
            "tags": ["kubernetes.io/cluster=c1", "cluster.metal-stack.io/id=c1"],
            "sshKeys": ["ssh-ed25519 AAAA"], "dnsServers": [{"ip": "1.1.1.1"}],
            "ntpServers": [{"address": "time.example"}],
            "unknownField": true,
        })
    }

    pub fn secret(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn a_complete_class_is_read_leniently() {
        let class = Class::parse(
            "pool",
            &spec(),
            &secret(&[
                (KEY_URL, "http://metal"),
                (KEY_HMAC, "k"),
                (KEY_USER_DATA, " #ignition\n"),
            ]),
        )
        .unwrap();
        assert_eq!(class.cluster_id, "c1");
        assert_eq!(class.user_data, "#ignition");
        assert_eq!(class.spec.dns_servers[0].ip, "1.1.1.1");
        assert_eq!(class.endpoint.credential, Credential::Hmac("k".into()));
        assert!(!format!("{class:?}").contains("\"k\""), "no key in Debug");
    }

    #[test]
    fn each_missing_field_is_named() {
        let ok = secret(&[(KEY_URL, "http://metal"), (KEY_TOKEN, "t")]);
        for field in ["image", "network", "partition", "project", "size"] {
            let mut s = spec();
            s[field] = json!("");
            let e = Class::parse("pool", &s, &ok).unwrap_err();
            assert_eq!(e.code, super::super::code::Code::InvalidArgument);
            assert!(e.message.contains(&format!("providerSpec.{field}")), "{e}");
        }
        let mut s = spec();
        s["tags"] = json!(["a=b"]);
        let e = Class::parse("pool", &s, &ok).unwrap_err();
        assert!(e.message.contains("cluster.metal-stack.io/id"), "{e}");
        let mut s = spec();
        s["size"] = json!(7);
        let e = Class::parse("pool", &s, &ok).unwrap_err();
        assert!(e.message.contains("providerSpec"), "{e}");
    }

    #[test]
    fn the_secret_needs_a_url_and_exactly_one_credential() {
        let e = Class::parse("pool", &spec(), &secret(&[(KEY_HMAC, "k")])).unwrap_err();
        assert!(e.message.contains(KEY_URL), "{e}");
        let e = Class::parse("pool", &spec(), &secret(&[(KEY_URL, "u")])).unwrap_err();
        assert!(
            e.message.contains(KEY_HMAC) && e.message.contains(KEY_TOKEN),
            "{e}"
        );
        let e = Class::parse(
            "pool",
            &spec(),
            &secret(&[(KEY_URL, "u"), (KEY_HMAC, "k"), (KEY_TOKEN, "t")]),
        )
        .unwrap_err();
        assert!(e.message.contains("exclusive"), "{e}");
        let token = Class::parse(
            "pool",
            &spec(),
            &secret(&[(KEY_URL, "u"), (KEY_TOKEN, "t"), (KEY_HMAC, "  ")]),
        )
        .unwrap();
        assert_eq!(token.endpoint.credential, Credential::Token("t".into()));
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-z=./ -]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("partition".to_string()),
                        Just("size".to_string()),
                        Just("tags".to_string()),
                        Just("dnsServers".to_string()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a MachineClass holds, reading it answers (no panic), and anything it
        /// refuses is InvalidArgument.
        #[test]
        fn any_class_is_read_or_refused_as_invalid(
            spec in json_value(),
            data in proptest::collection::btree_map("[a-zA-Z]{1,12}", proptest::collection::vec(proptest::num::u8::ANY, 0..8), 0..5),
        ) {
            if let Err(e) = Class::parse("fuzz", &spec, &data) {
                proptest::prop_assert_eq!(e.code, super::super::code::Code::InvalidArgument);
                proptest::prop_assert!(e.message.starts_with("machine class fuzz: "));
            }
        }
    }
}
