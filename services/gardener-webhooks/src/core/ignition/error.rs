//! Why an `OperatingSystemConfig` cannot be rendered. Every message names the file, unit, secret,
//! key or field that is wrong, so the OSC's `lastError` says what to fix.

use super::{SUPPORTED_TYPES, VERSION_ANNOTATION};

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RenderError {
    #[error("invalid OperatingSystemConfig: {0}")]
    Decode(String),
    #[error("unsupported operating system type {0:?}: supported types are {SUPPORTED_TYPES:?}")]
    UnsupportedType(String),
    #[error("unknown purpose: {0}")]
    UnknownPurpose(String),
    #[error(
        "annotation {VERSION_ANNOTATION}: unsupported Ignition version {0:?}: supported values are \"2.3.0\", \"3.4.0\""
    )]
    VersionAnnotation(String),
    /// The strict decoder's field error, e.g. `spec.providerConfig: Invalid value: …`.
    #[error("{0}")]
    ProviderConfig(String),
    #[error(
        "registry mirror {mirror:?}: mirrorOf {registry:?} is not a bare registry host (it names a directory under /etc/containerd/certs.d)"
    )]
    MirrorOf { mirror: String, registry: String },
    #[error("file {path}: path must be absolute")]
    RelativePath { path: String },
    #[error("file {path}: duplicate path in spec.files")]
    DuplicateFile { path: String },
    #[error(
        "file {path}: host-specific file (hostName {host:?}) cannot be rendered into userdata shared by a whole worker pool"
    )]
    HostSpecificFile { path: String, host: String },
    #[error("file {path}: permissions {permissions} out of range 0 to 0o7777")]
    Permissions { path: String, permissions: i64 },
    #[error(
        "file {path}: no content: set one of content.inline, content.secretRef, content.imageRef"
    )]
    NoContent { path: String },
    #[error(
        "file {path}: more than one of content.inline, content.secretRef, content.imageRef is set"
    )]
    AmbiguousContent { path: String },
    #[error(
        "file {path}: unknown encoding {encoding:?}: supported encodings are \"\" (plain) and \"b64\""
    )]
    UnknownEncoding { path: String, encoding: String },
    #[error("file {path}: content.inline.data is not valid base64: {reason}")]
    InlineBase64 { path: String, reason: String },
    #[error("file {path}: secret {secret:?} not found")]
    MissingSecret { path: String, secret: String },
    #[error("file {path}: secret {secret:?} has no key {key:?}")]
    MissingSecretKey {
        path: String,
        secret: String,
        key: String,
    },
    #[error("file {path}: secret {secret:?} key {key:?} is not a base64 string: {reason}")]
    SecretData {
        path: String,
        secret: String,
        key: String,
        reason: String,
    },
    #[error("file {path}: imageRef.{field} {value:?} {reason}")]
    ImageRef {
        path: String,
        field: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(
        "file {path}: a file copied from an image needs a path of letters, digits and . _ - / + : @ only"
    )]
    ImageRefPath { path: String },
    #[error("unit {unit:?}: duplicate name")]
    DuplicateUnit { unit: String },
    #[error(
        "unit {unit:?}: name must end in a systemd unit type (.service, .socket, .device, .mount, .automount, .swap, .target, .path, .timer, .snapshot, .slice, .scope)"
    )]
    UnitName { unit: String },
    #[error("unit {unit:?}: drop-in {dropin:?}: name must end in .conf")]
    DropInName { unit: String, dropin: String },
}

/// A `--ignition-version` flag or annotation value that is not a supported Ignition version.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("unsupported Ignition version {0:?}: supported values are \"2.3.0\", \"3.4.0\"")]
pub struct UnsupportedVersion(pub String);
