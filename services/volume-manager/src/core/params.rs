//! StorageClass parameters (`CreateVolumeRequest.parameters`, `GetCapacityRequest.parameters`)
//! and the ephemeral inline volume attributes, with upstream's names: `type`
//! (linear | striped | mirror), `integrity` (mirror only), `fsType`, plus `vgName` to choose one
//! of several volume groups. A missing `type` takes the configured default (upstream: an
//! Internal error). Keys the external-provisioner adds (`csi.storage.k8s.io/...`) are ignored;
//! any other unknown key is an error, so a typo never silently gives a different volume.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::names::is_valid_vg_name;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LvType {
    Linear,
    Striped,
    Mirror,
}

impl LvType {
    pub const ALL: [LvType; 3] = [LvType::Linear, LvType::Striped, LvType::Mirror];

    pub fn as_str(self) -> &'static str {
        match self {
            LvType::Linear => "linear",
            LvType::Striped => "striped",
            LvType::Mirror => "mirror",
        }
    }
}

impl fmt::Display for LvType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LvType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linear" => Ok(LvType::Linear),
            "striped" => Ok(LvType::Striped),
            "mirror" => Ok(LvType::Mirror),
            other => Err(format!(
                "type {other:?} is not one of linear, striped, mirror"
            )),
        }
    }
}

pub const TYPE: &str = "type";
pub const INTEGRITY: &str = "integrity";
pub const FS_TYPE: &str = "fsType";
pub const VG_NAME: &str = "vgName";
/// Ephemeral inline volumes: the size attribute (`100Mi`, `400MB`, `1073741824`).
pub const SIZE: &str = "size";
/// Set by kubelet on ephemeral inline volumes.
pub const EPHEMERAL: &str = "csi.storage.k8s.io/ephemeral";
/// Prefix of the keys the CO adds (PVC name and namespace, pod info).
const CO_PREFIX: &str = "csi.storage.k8s.io/";

/// What the parameters ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeParams {
    pub lv_type: LvType,
    pub integrity: bool,
    /// The volume group; `None` is the configured default.
    pub vg: Option<String>,
    /// Filesystem from the parameters (the capability's fs_type wins when both are given).
    pub fs_type: Option<String>,
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" | "" => Ok(false),
        _ => Err(format!("{key} {value:?} is not a boolean")),
    }
}

/// Parses StorageClass parameters. `extra_keys` are further accepted keys (the ephemeral
/// attributes accept `size`).
pub fn parse(
    params: &HashMap<String, String>,
    default_type: LvType,
    extra_keys: &[&str],
) -> Result<VolumeParams, String> {
    let mut unknown: Vec<&str> = params
        .keys()
        .map(String::as_str)
        .filter(|k| {
            !k.starts_with(CO_PREFIX)
                && ![TYPE, INTEGRITY, FS_TYPE, VG_NAME].contains(k)
                && !extra_keys.contains(k)
        })
        .collect();
    if !unknown.is_empty() {
        unknown.sort_unstable();
        return Err(format!(
            "unknown parameter(s) {}; known: type, integrity, fsType, vgName",
            unknown.join(", ")
        ));
    }
    let lv_type = match params.get(TYPE).map(|s| s.trim()) {
        None | Some("") => default_type,
        Some(t) => t.parse()?,
    };
    let integrity = match params.get(INTEGRITY) {
        None => false,
        Some(v) => parse_bool(INTEGRITY, v)?,
    };
    if integrity && lv_type != LvType::Mirror {
        return Err(format!(
            "integrity is only supported with type mirror, not {lv_type}"
        ));
    }
    let vg = match params.get(VG_NAME).map(|s| s.trim()) {
        None | Some("") => None,
        Some(vg) if is_valid_vg_name(vg) => Some(vg.to_string()),
        Some(vg) => return Err(format!("vgName {vg:?} is not a valid volume group name")),
    };
    let fs_type = match params.get(FS_TYPE).map(|s| s.trim()) {
        None | Some("") => None,
        Some(fs) => Some(check_fs_type(fs)?.to_string()),
    };
    Ok(VolumeParams {
        lv_type,
        integrity,
        vg,
        fs_type,
    })
}

/// Filesystems the node can create and grow.
pub const FILESYSTEMS: &[&str] = &["ext4", "ext3", "xfs"];

pub fn check_fs_type(fs: &str) -> Result<&str, String> {
    if FILESYSTEMS.contains(&fs) {
        Ok(fs)
    } else {
        Err(format!(
            "fsType {fs:?} is not supported; supported: {}",
            FILESYSTEMS.join(", ")
        ))
    }
}

/// Parses a size attribute: a plain byte count, a Kubernetes quantity (`100Mi`, `1G`) or a
/// go-units string (`400MB`, `1.5GiB`), as upstream accepts for ephemeral volumes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim();
    let multiplier: f64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "ki" | "kib" => 1024.0,
        "mi" | "mib" => 1024f64.powi(2),
        "gi" | "gib" => 1024f64.powi(3),
        "ti" | "tib" => 1024f64.powi(4),
        _ => return Err(format!("size {text:?}: unknown unit {unit:?}")),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("size {text:?} is not a number with a unit"))?;
    let bytes = (value * multiplier).ceil();
    if !(1.0..=9.0e18).contains(&bytes) {
        return Err(format!("size {text:?} is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_missing_type_takes_the_default() {
        let p = parse(&map(&[]), LvType::Striped, &[]).unwrap();
        assert_eq!(p.lv_type, LvType::Striped);
        assert!(!p.integrity && p.vg.is_none());
    }

    #[test]
    fn upstream_parameters() {
        let p = parse(
            &map(&[
                ("type", "mirror"),
                ("integrity", "true"),
                ("vgName", "fast"),
                ("csi.storage.k8s.io/pvc/name", "data"),
            ]),
            LvType::Linear,
            &[],
        )
        .unwrap();
        assert_eq!(p.lv_type, LvType::Mirror);
        assert!(p.integrity);
        assert_eq!(p.vg.as_deref(), Some("fast"));
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        let e = parse(&map(&[("type", "raid5")]), LvType::Linear, &[]).unwrap_err();
        assert!(e.contains("raid5"), "{e}");
        let e = parse(&map(&[("integrity", "true")]), LvType::Linear, &[]).unwrap_err();
        assert!(e.contains("only supported with type mirror"), "{e}");
        let e = parse(&map(&[("vgname", "x")]), LvType::Linear, &[]).unwrap_err();
        assert!(e.contains("unknown parameter(s) vgname"), "{e}");
        let e = parse(&map(&[("vgName", "a/b")]), LvType::Linear, &[]).unwrap_err();
        assert!(e.contains("not a valid volume group"), "{e}");
        let e = parse(&map(&[("fsType", "ntfs")]), LvType::Linear, &[]).unwrap_err();
        assert!(e.contains("ntfs"), "{e}");
    }

    #[test]
    fn sizes_in_every_notation_upstream_accepts() {
        assert_eq!(parse_size("100Mi"), Ok(100 << 20));
        assert_eq!(parse_size("400MB"), Ok(400_000_000));
        assert_eq!(parse_size("1G"), Ok(1_000_000_000));
        assert_eq!(parse_size("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }
}
