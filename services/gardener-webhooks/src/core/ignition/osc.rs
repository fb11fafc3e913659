//! The parts of an `OperatingSystemConfig` (`extensions.gardener.cloud/v1alpha1`) the renderer
//! reads. Decoding is lenient like Gardener's own: fields Gardener adds later are ignored and
//! `null` reads as absent. Large strings (file data, unit contents) are borrowed from the caller's
//! JSON, so a config of many big files is not copied before it is encoded.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::Value;

use crate::core::provider_config::NetworkIsolation;

/// OSC `.spec.providerConfig`, written by the provider's controlplane webhook
/// (`metal.provider.extensions.gardener.cloud/v1alpha1`, kind `ImageProviderConfig`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageProviderConfig {
    #[serde(default)]
    pub network_isolation: Option<NetworkIsolation>,
}

/// The kind name of [`ImageProviderConfig`].
pub const IMAGE_PROVIDER_CONFIG: &str = "ImageProviderConfig";

#[derive(Debug, Deserialize)]
#[serde(expecting = "an OperatingSystemConfig object")]
pub(super) struct Osc<'a> {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: Metadata,
    #[serde(borrow)]
    pub spec: Spec<'a>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Metadata {
    #[serde(default, deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Spec<'a> {
    #[serde(rename = "type", borrow, deserialize_with = "text")]
    pub os_type: Cow<'a, str>,
    #[serde(borrow, deserialize_with = "text")]
    pub purpose: Cow<'a, str>,
    #[serde(default)]
    pub provider_config: Option<Value>,
    #[serde(default, borrow)]
    pub cri_config: Option<CriConfig<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub units: Vec<Unit<'a>>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub files: Vec<File<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CriConfig<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub name: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub cgroup_driver: Cow<'a, str>,
}

/// `command` and `enable` are not read: upstream enables every unit and lets systemd start
/// them at boot.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Unit<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub name: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub content: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub drop_ins: Vec<DropIn<'a>>,
    /// The files this unit needs; used to order image extraction before it.
    #[serde(default, deserialize_with = "nullable")]
    pub file_paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DropIn<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub name: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub content: Cow<'a, str>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct File<'a> {
    #[serde(borrow, deserialize_with = "text")]
    pub path: Cow<'a, str>,
    /// Wider than the CRD's int32 so that an out-of-range mode is reported, not a decode error.
    #[serde(default)]
    pub permissions: Option<i64>,
    #[serde(default, borrow, deserialize_with = "nullable")]
    pub content: FileContent<'a>,
    #[serde(default)]
    pub host_name: Option<String>,
}

/// `transmitUnencoded` is not read: every file goes out percent-encoded, which keeps the
/// placeholders visible to machine-controller-manager (see the module docs).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FileContent<'a> {
    #[serde(default, borrow)]
    pub inline: Option<Inline<'a>>,
    #[serde(default)]
    pub secret_ref: Option<SecretRef>,
    #[serde(default)]
    pub image_ref: Option<ImageRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Inline<'a> {
    #[serde(default, borrow, deserialize_with = "text")]
    pub encoding: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "text")]
    pub data: Cow<'a, str>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SecretRef {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub data_key: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ImageRef {
    #[serde(default, deserialize_with = "nullable")]
    pub image: String,
    #[serde(default, deserialize_with = "nullable")]
    pub file_path_in_image: String,
}

impl File<'static> {
    /// A file with plain inline content, as the extension adds them.
    pub(super) fn plain(path: String, permissions: Option<i64>, data: String) -> Self {
        File {
            path: Cow::Owned(path),
            permissions,
            content: FileContent {
                inline: Some(Inline {
                    encoding: Cow::Borrowed(""),
                    data: Cow::Owned(data),
                }),
                secret_ref: None,
                image_ref: None,
            },
            host_name: None,
        }
    }
}

impl File<'_> {
    /// The OSC `File` shape (`.status.extensionFiles[]`), as Go marshals it.
    pub(super) fn to_json(&self) -> Value {
        let mut file = serde_json::Map::new();
        file.insert("path".into(), Value::from(self.path.as_ref()));
        if let Some(permissions) = self.permissions {
            file.insert("permissions".into(), Value::from(permissions));
        }
        let mut content = serde_json::Map::new();
        if let Some(inline) = &self.content.inline {
            content.insert(
                "inline".into(),
                serde_json::json!({"encoding": inline.encoding, "data": inline.data}),
            );
        }
        file.insert("content".into(), Value::Object(content));
        Value::Object(file)
    }
}

/// A `T` where JSON `null` (which Go decodes as the zero value) reads as `T::default()`.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A string borrowed from the input where it can be, `null` as `""`. (serde's own `Cow`
/// support only borrows a bare `Cow` field, and never with `null`.)
fn text<'de: 'a, 'a, D: Deserializer<'de>>(deserializer: D) -> Result<Cow<'a, str>, D::Error> {
    struct Text;

    impl<'de> Visitor<'de> for Text {
        type Value = Cow<'de, str>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(""))
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(Text)
        }
    }

    deserializer.deserialize_option(Text)
}
