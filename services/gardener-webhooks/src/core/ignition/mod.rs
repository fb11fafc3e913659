//! `OperatingSystemConfig` → Ignition, replacing metal-stack's os-metal-extension (OSC types
//! `ubuntu`, `debian`, `nvidia`; `.spec.providerConfig` an [`ImageProviderConfig`]).
//!
//! # Purposes (Gardener's OSC contract)
//!
//! - `provision`: the metal extension files (below) are merged into a copy of `.spec.files` by
//!   path (same path replaced, otherwise appended) and everything is rendered to Ignition: the
//!   userdata machine-controller-manager hands to metal-api. No extension units or files.
//! - `reconcile`: nothing is translated (gardener-node-agent applies the OSC itself); the
//!   extension files go to `.status.extensionFiles`. There are no extension units, as upstream.
//! - anything else: "unknown purpose".
//!
//! The extension files are upstream's, under upstream's conditions (see `extension_files.rs`).
//!
//! # Ignition version
//!
//! 2.3.0 (what metal-stack's images boot, shaped as upstream's Container Linux Config transpiler
//! emitted it) unless the OSC's annotation [`VERSION_ANNOTATION`] names a version, or, without
//! the annotation, the caller's default (the binary's `--ignition-version`) is 3.4.0. The
//! annotation wins over the default in both directions: it is the more specific choice.
//!
//! # Files and units
//!
//! Every unit is enabled, as upstream did (`command`, `enable` are not read), with its drop-ins.
//! Files get their permissions as mode (0644 when unset, as the transpiler defaulted) and their
//! content as a `data:` URL: inline content in plain or `b64` encoding (any other is an error
//! naming the file), or a Secret's `dataKey` (`secretRef`; the caller passes the Secrets it read,
//! and a missing Secret or key is an error naming it, never an empty file as upstream wrote).
//! What Ignition itself would refuse is refused here first, naming the culprit: relative paths,
//! modes beyond 0o7777, unit names without a systemd type, drop-ins not ending in `.conf`,
//! duplicate files or units.
//!
//! ## `imageRef`: extracted at boot
//!
//! Gardener puts files into OSCs whose content is a file inside a container image
//! (gardener-node-agent's binary is one). Ignition cannot fetch from a registry, and refusing
//! such files would leave a modern Gardener's machines unprovisionable, so each becomes a oneshot
//! unit that pulls the image with `ctr` through the mirrors of `/etc/containerd/certs.d`, copies
//! the file out with its mode (0600 when unset, gardener-node-agent's default) and is ordered
//! before, and wanted by, every unit that lists the file in `filePaths` (see `image_ref.rs`).
//!
//! ## Placeholders survive rendering
//!
//! machine-controller-manager replaces `<<BOOTSTRAP_TOKEN>>` and `<<MACHINE_NAME>>` in the
//! userdata string: the raw form if it occurs anywhere, otherwise Go's `url.QueryEscape` form
//! with the `url.QueryEscape`d value. Data URLs percent-encode every byte outside RFC 2396's
//! unreserved set, which turns each placeholder into exactly its `QueryEscape` form
//! (`%3C%3CBOOTSTRAP_TOKEN%3E%3E`), and the JSON is written as Go writes it, with `<`, `>`, `&`
//! as `\u003c` etc., so no raw placeholder appears elsewhere to divert MCM to the raw branch. That
//! holds for all content, so `transmitUnencoded` needs no special case. (A value whose
//! `QueryEscape` contains `+`, i.e. a space, would decode as `+`; tokens and machine names have
//! none.)
//!
//! ## Refused
//!
//! Files with a `hostName` in a `provision` OSC: userdata is shared by a whole worker pool and
//! cannot hold a file for one host.

mod content;
mod data_url;
mod error;
mod extension_files;
mod go_json;
mod image_ref;
mod osc;
mod spec;

#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use crate::core::field::Path;
use crate::core::provider_config::decode;

use content::Content;
use extension_files::{Purpose, dedup_by_path, extension_files, merge_by_path};
use osc::{File, IMAGE_PROVIDER_CONFIG, Osc, Spec};
use spec::{PlannedFile, PlannedUnit};

pub use error::{RenderError, UnsupportedVersion};
pub use osc::ImageProviderConfig;

/// The OSC annotation that picks the Ignition version for one OSC.
pub const VERSION_ANNOTATION: &str = "os.metal-stack.io/ignition-version";

/// The OSC types this extension handles.
pub const SUPPORTED_TYPES: &[&str] = &["ubuntu", "debian", "nvidia"];

/// Mode of a file without permissions (the transpiler's default).
const DEFAULT_MODE: u32 = 0o644;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnitionVersion {
    V2_3_0,
    V3_4_0,
}

impl IgnitionVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            IgnitionVersion::V2_3_0 => "2.3.0",
            IgnitionVersion::V3_4_0 => "3.4.0",
        }
    }
}

impl fmt::Display for IgnitionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IgnitionVersion {
    type Err = UnsupportedVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "2.3.0" => Ok(IgnitionVersion::V2_3_0),
            "3.4.0" => Ok(IgnitionVersion::V3_4_0),
            other => Err(UnsupportedVersion(other.to_owned())),
        }
    }
}

/// Secrets the OSC refers to, by name (same namespace as the OSC): their `data` maps (base64
/// values as the API serves them). Only `provision` reads them.
pub type Secrets = std::collections::BTreeMap<String, serde_json::Map<String, Value>>;

#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// The Ignition document (`provision` only), for the `osc-result-<name>` Secret.
    pub user_data: Option<String>,
    /// For `.status.extensionUnits` (OSC `Unit` shape); none today.
    pub extension_units: Vec<Value>,
    /// For `.status.extensionFiles` (OSC `File` shape: path, permissions, content.inline).
    pub extension_files: Vec<Value>,
    /// The version rendered (or that `provision` would render).
    pub version: IgnitionVersion,
}

/// The names of the Secrets `osc` refers to (`spec.files[].content.secretRef.name`), sorted and
/// unique, for the caller to read and to watch. Reads the JSON leniently, so it also answers for
/// an OSC that [`render`] would refuse.
pub fn referenced_secrets(osc: &Value) -> Vec<String> {
    let mut names = BTreeSet::new();
    if let Some(files) = osc.pointer("/spec/files").and_then(Value::as_array) {
        for file in files {
            if let Some(name) = file
                .pointer("/content/secretRef/name")
                .and_then(Value::as_str)
                .filter(|name| !name.is_empty())
            {
                names.insert(name.to_owned());
            }
        }
    }
    names.into_iter().collect()
}

/// Renders `osc` (an `OperatingSystemConfig` as JSON) for its purpose; see the module docs.
pub fn render(
    osc: &Value,
    secrets: &Secrets,
    default_version: IgnitionVersion,
) -> Result<Rendered, RenderError> {
    let osc = Osc::deserialize(osc).map_err(|e| RenderError::Decode(e.to_string()))?;
    let spec = &osc.spec;
    if !SUPPORTED_TYPES.contains(&spec.os_type.as_ref()) {
        return Err(RenderError::UnsupportedType(spec.os_type.to_string()));
    }
    let purpose = match spec.purpose.as_ref() {
        "provision" => Purpose::Provision,
        "reconcile" => Purpose::Reconcile,
        other => return Err(RenderError::UnknownPurpose(other.to_owned())),
    };
    let version = match osc.metadata.annotations.get(VERSION_ANNOTATION) {
        Some(value) => value
            .parse()
            .map_err(|_| RenderError::VersionAnnotation(value.clone()))?,
        None => default_version,
    };
    let config = provider_config(spec)?;
    let isolation = config.network_isolation.unwrap_or_default();
    let extension = dedup_by_path(extension_files(spec, purpose, &isolation)?);
    Ok(match purpose {
        Purpose::Provision => Rendered {
            user_data: Some(userdata(spec, &extension, secrets, version)?),
            extension_units: Vec::new(),
            extension_files: Vec::new(),
            version,
        },
        Purpose::Reconcile => Rendered {
            user_data: None,
            extension_units: Vec::new(),
            extension_files: extension.iter().map(File::to_json).collect(),
            version,
        },
    })
}

fn provider_config(spec: &Spec<'_>) -> Result<ImageProviderConfig, RenderError> {
    match &spec.provider_config {
        None | Some(Value::Null) => Ok(ImageProviderConfig::default()),
        Some(raw) => decode(
            raw,
            IMAGE_PROVIDER_CONFIG,
            &Path::new("spec.providerConfig"),
        )
        .map_err(|e| RenderError::ProviderConfig(e.to_string())),
    }
}

fn userdata(
    spec: &Spec<'_>,
    extension: &[File<'static>],
    secrets: &Secrets,
    version: IgnitionVersion,
) -> Result<String, RenderError> {
    if let Some(file) = spec
        .files
        .iter()
        .find(|file| file.host_name.as_deref().is_some_and(|h| !h.is_empty()))
    {
        return Err(RenderError::HostSpecificFile {
            path: file.path.to_string(),
            host: file.host_name.clone().unwrap_or_default(),
        });
    }
    let merged = merge_by_path(&spec.files, extension)?;
    let mut files = Vec::with_capacity(merged.len() + 1);
    let mut extract = Vec::new();
    for file in merged {
        let path = file.path.as_ref();
        if !path.starts_with('/') {
            return Err(RenderError::RelativePath { path: path.into() });
        }
        let mode = match file.permissions {
            None => None,
            Some(permissions @ 0..=0o7777) => Some(permissions as u32),
            Some(permissions) => {
                return Err(RenderError::Permissions {
                    path: path.into(),
                    permissions,
                });
            }
        };
        match content::resolve(file, secrets)? {
            Content::Bytes(bytes) => files.push(PlannedFile {
                path,
                mode: mode.unwrap_or(DEFAULT_MODE),
                source: data_url::encode(&bytes),
            }),
            Content::Image(image) => {
                if path == image_ref::HELPER_PATH {
                    return Err(RenderError::DuplicateFile { path: path.into() });
                }
                extract.push(image_ref::extract_unit(
                    file,
                    image,
                    mode.unwrap_or(image_ref::DEFAULT_MODE),
                    &spec.units,
                )?);
            }
        }
    }
    if !extract.is_empty() {
        if files.iter().any(|f| f.path == image_ref::HELPER_PATH) {
            return Err(RenderError::DuplicateFile {
                path: image_ref::HELPER_PATH.into(),
            });
        }
        files.push(PlannedFile {
            path: image_ref::HELPER_PATH,
            mode: image_ref::HELPER_MODE,
            source: data_url::encode(image_ref::HELPER_SCRIPT.as_bytes()),
        });
    }

    let mut names = HashSet::with_capacity(spec.units.len() + extract.len());
    let mut units = Vec::with_capacity(spec.units.len() + extract.len());
    for unit in &spec.units {
        check_unit(&unit.name, unit.drop_ins.iter().map(|d| d.name.as_ref()))?;
        if !names.insert(unit.name.as_ref()) {
            return Err(RenderError::DuplicateUnit {
                unit: unit.name.to_string(),
            });
        }
        units.push(PlannedUnit {
            name: Cow::Borrowed(unit.name.as_ref()),
            contents: Cow::Borrowed(unit.content.as_ref()),
            dropins: unit
                .drop_ins
                .iter()
                .map(|d| (d.name.as_ref(), d.content.as_ref()))
                .collect(),
        });
    }
    for unit in &extract {
        if !names.insert(unit.name.as_str()) {
            return Err(RenderError::DuplicateUnit {
                unit: unit.name.clone(),
            });
        }
        units.push(PlannedUnit {
            name: Cow::Borrowed(unit.name.as_str()),
            contents: Cow::Borrowed(unit.contents.as_str()),
            dropins: Vec::new(),
        });
    }
    Ok(spec::document(version, &files, &units))
}

/// Ignition's own checks: the name's extension is a systemd unit type, drop-ins end in `.conf`.
fn check_unit<'a>(name: &str, dropins: impl Iterator<Item = &'a str>) -> Result<(), RenderError> {
    const TYPES: &[&str] = &[
        ".service",
        ".socket",
        ".device",
        ".mount",
        ".automount",
        ".swap",
        ".target",
        ".path",
        ".timer",
        ".snapshot",
        ".slice",
        ".scope",
    ];
    if !TYPES.contains(&extension(name)) {
        return Err(RenderError::UnitName { unit: name.into() });
    }
    for dropin in dropins {
        if extension(dropin) != ".conf" {
            return Err(RenderError::DropInName {
                unit: name.into(),
                dropin: dropin.into(),
            });
        }
    }
    Ok(())
}

/// Go's `path.Ext`: from the last dot of the last element.
fn extension(name: &str) -> &str {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.rfind('.').map_or("", |at| &last[at..])
}
