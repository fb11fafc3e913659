//! LV and VG tags: the only state the driver keeps. Upstream's names are kept
//! (`lv.metal-stack.io/csi-lvm-driver`, `vg.metal-stack.io/csi-lvm-driver`, csi-lvm's
//! `isBlock=`), so volumes created by csi-driver-lvm are recognised; the rest says what a volume
//! is, so nothing depends on its name (upstream guessed "ephemeral" from a `csi-` prefix).

use super::params::LvType;
use super::report::Lv;

/// On every LV the driver created (upstream csi-driver-lvm's tag).
pub const DRIVER: &str = "lv.metal-stack.io/csi-lvm-driver";
/// On every VG the driver created (upstream).
pub const VG_DRIVER: &str = "vg.metal-stack.io/csi-lvm-driver";
/// On snapshot LVs.
pub const SNAPSHOT: &str = "lv.metal-stack.io/csi-lvm-snapshot";
/// `isBlock=true|false` (upstream csi-lvm).
pub const IS_BLOCK: &str = "isBlock";
/// `lv.metal-stack.io/type=linear|striped|mirror`: the type the LV was created as.
pub const TYPE: &str = "lv.metal-stack.io/type";
/// `lv.metal-stack.io/ephemeral=true` on ephemeral inline volumes.
pub const EPHEMERAL: &str = "lv.metal-stack.io/ephemeral";
/// `lv.metal-stack.io/integrity=true` on mirrors with dm-integrity.
pub const INTEGRITY: &str = "lv.metal-stack.io/integrity";
/// `lv.metal-stack.io/source=snapshot:<id>|volume:<id>`: the content the volume was created from.
pub const SOURCE: &str = "lv.metal-stack.io/source";

/// What a volume was created from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Snapshot(String),
    Volume(String),
}

impl Source {
    pub fn tag(&self) -> String {
        match self {
            Source::Snapshot(id) => format!("{SOURCE}=snapshot:{id}"),
            Source::Volume(id) => format!("{SOURCE}=volume:{id}"),
        }
    }

    fn parse(value: &str) -> Option<Source> {
        let (kind, id) = value.split_once(':')?;
        match kind {
            "snapshot" => Some(Source::Snapshot(id.into())),
            "volume" => Some(Source::Volume(id.into())),
            _ => None,
        }
    }
}

/// A volume's metadata as its tags record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMeta {
    pub lv_type: LvType,
    pub block: bool,
    pub ephemeral: bool,
    pub integrity: bool,
    pub source: Option<Source>,
}

/// Tags for a new volume.
pub fn volume_tags(meta: &VolumeMeta) -> Vec<String> {
    let mut tags = vec![
        DRIVER.to_string(),
        format!("{TYPE}={}", meta.lv_type),
        format!("{IS_BLOCK}={}", meta.block),
    ];
    if meta.ephemeral {
        tags.push(format!("{EPHEMERAL}=true"));
    }
    if meta.integrity {
        tags.push(format!("{INTEGRITY}=true"));
    }
    if let Some(source) = &meta.source {
        tags.push(source.tag());
    }
    tags
}

/// Whether an LV is one of the driver's volumes (not a snapshot, not foreign).
pub fn is_volume(lv: &Lv) -> bool {
    lv.has_tag(DRIVER) && !lv.has_tag(SNAPSHOT) && lv.origin.is_none()
}

/// Whether an LV is one of the driver's snapshots.
pub fn is_snapshot(lv: &Lv) -> bool {
    lv.has_tag(SNAPSHOT)
}

/// Reads the metadata back; LVs from upstream without our type tag count as linear.
pub fn volume_meta(lv: &Lv) -> VolumeMeta {
    let lv_type =
        lv.tag_value(TYPE)
            .and_then(|t| t.parse().ok())
            .unwrap_or(match lv.segtype.as_str() {
                "striped" => LvType::Striped,
                "raid1" | "mirror" => LvType::Mirror,
                _ => LvType::Linear,
            });
    VolumeMeta {
        lv_type,
        block: lv.tag_value(IS_BLOCK) == Some("true"),
        ephemeral: lv.tag_value(EPHEMERAL) == Some("true"),
        integrity: lv.tag_value(INTEGRITY) == Some("true"),
        source: lv.tag_value(SOURCE).and_then(Source::parse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(tags: Vec<String>, segtype: &str) -> Lv {
        Lv {
            name: "v".into(),
            vg: "vg".into(),
            uuid: String::new(),
            size: 0,
            tags,
            segtype: segtype.into(),
            origin: None,
            attr: String::new(),
            time: String::new(),
        }
    }

    #[test]
    fn tags_round_trip() {
        let meta = VolumeMeta {
            lv_type: LvType::Mirror,
            block: true,
            ephemeral: true,
            integrity: true,
            source: Some(Source::Snapshot("snap-1".into())),
        };
        let l = lv(volume_tags(&meta), "raid1");
        assert_eq!(volume_meta(&l), meta);
        assert!(is_volume(&l));
        assert!(!is_snapshot(&l));
    }

    #[test]
    fn upstream_volumes_are_recognised() {
        let l = lv(vec![DRIVER.into()], "striped");
        assert!(is_volume(&l));
        let meta = volume_meta(&l);
        assert_eq!(meta.lv_type, LvType::Striped);
        assert!(!meta.block && !meta.ephemeral);
        assert!(
            !is_volume(&lv(vec![], "linear")),
            "foreign LVs are not ours"
        );
    }
}
