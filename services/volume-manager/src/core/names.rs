//! CSI names to LVM names. A CSI name may be up to 128 bytes of anything; an LV name is
//! restricted (lvm(8) "VALID NAMES") and lvm appends suffixes (`_rimage_0`, `_rmeta_0`, `_imeta`)
//! to sub-LVs, so a name that cannot be used as is becomes a stable hash of itself. The mapping is
//! deterministic: the same request name always lands on the same LV, which is what makes
//! CreateVolume and CreateSnapshot idempotent without any state besides LVM itself.

use sha2::{Digest, Sha256};

/// Longest CSI name or id the spec allows (bytes).
pub const MAX_CSI_NAME: usize = 128;
/// Longest LV name used as is; leaves room for lvm's sub-LV suffixes under its 127-byte limit.
pub const MAX_DIRECT_LV_NAME: usize = 96;

/// Substrings lvm reserves for its own sub-LVs.
const RESERVED_PARTS: &[&str] = &[
    "_cdata", "_cmeta", "_corig", "_iorig", "_imeta", "_mimage", "_mlog", "_pmspare", "_rimage",
    "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_wcorig",
];
/// Prefixes lvm reserves.
const RESERVED_PREFIXES: &[&str] = &["snapshot", "pvmove"];

/// Whether `name` is usable as an LV name as is (lvm's rules, plus our length limit).
pub fn is_valid_lv_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_DIRECT_LV_NAME
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'.' | b'-'))
        && !RESERVED_PARTS.iter().any(|p| name.contains(p))
        && !RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether `name` is usable as a VG name (same character rules as LVs).
pub fn is_valid_vg_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name != "."
        && name != ".."
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'.' | b'-'))
}

fn hashed(prefix: &str, name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    format!("{prefix}{}", &hex::encode(digest)[..40])
}

/// The LV that holds the volume requested under CSI name `name`.
pub fn volume_lv_name(name: &str) -> String {
    if is_valid_lv_name(name) {
        name.to_string()
    } else {
        hashed("vol-", name)
    }
}

/// The LV that holds the snapshot requested under CSI name `name`. Snapshot names from the
/// external-snapshotter start with `snapshot-`, a prefix lvm reserves, so they are hashed.
pub fn snapshot_lv_name(name: &str) -> String {
    if is_valid_lv_name(name) {
        name.to_string()
    } else {
        hashed("snap-", name)
    }
}

/// Checks a volume or snapshot id received from the CO before it reaches any lvm command.
/// Ids are LV names we handed out, so anything else cannot exist here.
pub fn check_id(id: &str) -> Result<&str, String> {
    if id.is_empty() {
        Err("is empty".into())
    } else if id.len() > MAX_CSI_NAME {
        Err(format!("is longer than {MAX_CSI_NAME} bytes"))
    } else {
        Ok(id)
    }
}

/// Whether an id can name an LV of ours at all (an id that cannot is certainly not found).
pub fn id_is_lv_name(id: &str) -> bool {
    is_valid_lv_name(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvc_names_are_used_as_they_are() {
        let name = "pvc-3f1c1a7e-1d3b-4c55-9a0e-2f54bd3bbf11";
        assert_eq!(volume_lv_name(name), name);
    }

    #[test]
    fn names_lvm_cannot_take_are_hashed_stably() {
        let long = "x".repeat(128);
        let a = volume_lv_name(&long);
        assert_eq!(a, volume_lv_name(&long));
        assert!(a.starts_with("vol-") && a.len() == 44 && is_valid_lv_name(&a));
        for bad in [
            "with space",
            "-lead",
            "a_rimage_0",
            "über",
            "snapshot-1",
            ".",
            "",
        ] {
            let lv = volume_lv_name(bad);
            assert!(lv.starts_with("vol-"), "{bad:?} -> {lv}");
            assert!(is_valid_lv_name(&lv));
        }
        assert_ne!(volume_lv_name("a b"), volume_lv_name("a c"));
    }

    #[test]
    fn snapshot_names_from_the_snapshotter_are_hashed() {
        let lv = snapshot_lv_name("snapshot-7c1ce2d2-9a61-4b7b-8d7e-0f7a1b0c2d3e");
        assert!(lv.starts_with("snap-") && is_valid_lv_name(&lv));
        assert_eq!(snapshot_lv_name("backup-1"), "backup-1");
    }

    #[test]
    fn ids_are_checked() {
        assert!(check_id("").is_err());
        assert!(check_id(&"a".repeat(129)).is_err());
        assert_eq!(check_id("pvc-1"), Ok("pvc-1"));
        assert!(!id_is_lv_name("../etc"));
    }

    #[test]
    fn vg_names() {
        assert!(is_valid_vg_name("csi-lvm"));
        assert!(!is_valid_vg_name("a/b"));
        assert!(!is_valid_vg_name("-x"));
    }
}
