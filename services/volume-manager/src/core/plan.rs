//! What a mutation does, decided from what lvm reports: create, adopt an existing LV (the
//! idempotent retry), or refuse with the spec's error. Also the lvm argument vectors, so the
//! exact commands are tested here and nowhere is a shell string built.

use super::capacity::{allocation_unit, available, effective_type, stripes};
use super::params::LvType;
use super::report::{Lv, Pv, Vg};
use super::size::{self, Range, SizeError};
use super::tags::{self, Source, VolumeMeta};

/// A CreateVolume (or ephemeral publish) after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRequest {
    pub lv: String,
    pub vg: String,
    pub lv_type: LvType,
    pub integrity: bool,
    pub range: Range,
    pub block: bool,
    pub ephemeral: bool,
    pub source: Option<Source>,
    /// Size of the source (snapshot origin or volume); the new volume is at least that big.
    pub source_size: Option<u64>,
}

/// A new LV to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLv {
    pub lv: String,
    pub vg: String,
    pub size: u64,
    pub meta: VolumeMeta,
    pub stripes: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The LV is already there as asked: the answer to a retried request.
    Existing(Lv),
    Create(NewLv),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Exhausted(String),
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error("{0}")]
    Invalid(String),
}

/// Decides a CreateVolume. `existing` is the LV of that name in any managed VG.
pub fn create(
    req: &CreateRequest,
    existing: Option<&Lv>,
    vg: &Vg,
    pvs: &[Pv],
    default_size: u64,
) -> Result<Decision, PlanError> {
    let lv_type = effective_type(req.lv_type, pvs.len());
    let mut range = req.range;
    if let Some(source) = req.source_size {
        // The spec: a volume from a source is at least as big as the source.
        if range.limit > 0 && source > range.limit as u64 {
            return Err(PlanError::Size(SizeError::OutOfRange(format!(
                "the source holds {source} bytes, more than limit_bytes {}",
                range.limit
            ))));
        }
        range.required = range.required.max(source as i64);
    }
    if let Some(lv) = existing {
        return adopt(req, lv, range, lv_type).map(Decision::Existing);
    }
    let size = size::choose(range, default_size, allocation_unit(lv_type, vg, pvs))?;
    let room = available(lv_type, vg, pvs);
    if size > room {
        return Err(PlanError::Exhausted(format!(
            "volume group {} has room for {room} bytes of {lv_type}, {size} requested",
            vg.name
        )));
    }
    Ok(Decision::Create(NewLv {
        lv: req.lv.clone(),
        vg: vg.name.clone(),
        size,
        stripes: stripes(lv_type, pvs),
        meta: VolumeMeta {
            lv_type,
            block: req.block,
            ephemeral: req.ephemeral,
            integrity: req.integrity && lv_type == LvType::Mirror,
            source: req.source.clone(),
        },
    }))
}

fn adopt(req: &CreateRequest, lv: &Lv, range: Range, lv_type: LvType) -> Result<Lv, PlanError> {
    let conflict = |why: String| {
        Err(PlanError::AlreadyExists(format!(
            "volume {} already exists {why}",
            req.lv
        )))
    };
    if !tags::is_volume(lv) {
        return conflict(format!(
            "in volume group {} and is not a volume of this driver",
            lv.vg
        ));
    }
    if lv.vg != req.vg {
        return conflict(format!("in volume group {}, not {}", lv.vg, req.vg));
    }
    if !size::satisfies(lv.size, range) {
        return conflict(format!(
            "with {} bytes, outside the requested range (required {}, limit {})",
            lv.size, range.required, range.limit
        ));
    }
    let meta = tags::volume_meta(lv);
    if meta.lv_type != lv_type {
        return conflict(format!("as {}, not {lv_type}", meta.lv_type));
    }
    if meta.source != req.source {
        return conflict("with a different content source".into());
    }
    Ok(lv.clone())
}

/// Decides an expansion: the new size, or `None` when the LV is already that big (expansion is
/// idempotent; LVs never shrink).
pub fn expand(lv: &Lv, range: Range, unit: u64) -> Result<Option<u64>, PlanError> {
    if range.required <= 0 {
        return Err(PlanError::Invalid(
            "capacity_range.required_bytes must be set to expand".into(),
        ));
    }
    if size::satisfies(lv.size, range) || lv.size >= range.required as u64 {
        if range.limit > 0 && lv.size > range.limit as u64 {
            return Err(PlanError::Size(SizeError::OutOfRange(format!(
                "the volume already has {} bytes, more than limit_bytes {}; volumes never shrink",
                lv.size, range.limit
            ))));
        }
        return Ok(None);
    }
    Ok(Some(size::choose(range, 0, unit)?))
}

/// Global options for every lvm command: metadata-only when activation is off.
pub fn global_args(no_activation: bool, config: Option<&str>) -> Vec<String> {
    let mut args = Vec::new();
    if no_activation {
        args.extend(["--driverloaded".into(), "n".into()]);
    }
    if let Some(config) = config {
        args.extend(["--config".into(), config.to_string()]);
    }
    args
}

/// `lvcreate` for a new volume. Production zeroes the start and wipes old signatures, so a
/// fresh LV is certainly blank; without activation lvm can do neither (and creates inactive).
pub fn lvcreate_args(new: &NewLv, no_activation: bool) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "lvcreate".into(),
        "--name".into(),
        new.lv.clone(),
        "--size".into(),
        format!("{}b", new.size),
        "--yes".into(),
    ];
    if no_activation {
        args.extend(["--activate", "n", "--zero", "n", "--wipesignatures", "n"].map(String::from));
    } else {
        args.extend(["--zero", "y", "--wipesignatures", "y"].map(String::from));
    }
    match new.meta.lv_type {
        LvType::Linear => args.extend(["--type", "linear"].map(String::from)),
        LvType::Striped => {
            args.extend([
                "--type".into(),
                "striped".into(),
                "--stripes".into(),
                new.stripes.to_string(),
            ]);
        }
        LvType::Mirror => {
            args.extend(["--type", "raid1", "--mirrors", "1", "--nosync"].map(String::from));
            if new.meta.integrity {
                args.extend(["--raidintegrity", "y"].map(String::from));
            }
        }
    }
    for tag in tags::volume_tags(&new.meta) {
        args.extend(["--addtag".into(), tag]);
    }
    args.push(new.vg.clone());
    args
}

/// `lvcreate --snapshot` for a thick copy-on-write snapshot as big as its origin, so it can never
/// fill up and be invalidated.
pub fn snapshot_args(origin: &Lv, snapshot: &str) -> Vec<String> {
    vec![
        "lvcreate".into(),
        "--snapshot".into(),
        "--name".into(),
        snapshot.into(),
        "--size".into(),
        format!("{}b", origin.size),
        "--yes".into(),
        "--addtag".into(),
        tags::SNAPSHOT.into(),
        format!("{}/{}", origin.vg, origin.name),
    ]
}

pub fn lvextend_args(lv: &Lv, size: u64) -> Vec<String> {
    vec![
        "lvextend".into(),
        "--size".into(),
        format!("{size}b"),
        format!("{}/{}", lv.vg, lv.name),
    ]
}

pub fn lvremove_args(vg: &str, lv: &str) -> Vec<String> {
    vec!["lvremove".into(), "--yes".into(), format!("{vg}/{lv}")]
}

/// `lvremove` for a volume, unless it is a snapshot origin: `--yes` would otherwise remove its
/// snapshots with it. lvm checks that itself, at the moment of removal, so the decision never
/// rests on what the driver last saw. When the selection matches nothing lvm removes nothing and
/// still succeeds; [`removed`] tells the cases apart.
pub fn lvremove_volume_args(vg: &str, lv: &str) -> Vec<String> {
    vec![
        "lvremove".into(),
        "--yes".into(),
        "--select".into(),
        format!("vg_name=\"{vg}\" && lv_name=\"{lv}\" && !(lv_role={{origin}})"),
    ]
}

/// Whether lvremove's output reports `lv` removed.
pub fn removed(stdout: &str, lv: &str) -> bool {
    stdout
        .lines()
        .any(|l| l.contains(&format!("\"{lv}\" successfully removed")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn volumes_are_removed_only_when_lvm_finds_them_no_origin() {
        assert_eq!(
            lvremove_volume_args("vg0", "pvc-1"),
            [
                "lvremove",
                "--yes",
                "--select",
                r#"vg_name="vg0" && lv_name="pvc-1" && !(lv_role={origin})"#
            ]
        );
        assert!(removed(
            "  Logical volume \"pvc-1\" successfully removed.\n",
            "pvc-1"
        ));
        assert!(!removed(
            "  Logical volume \"pvc-10\" successfully removed.\n",
            "pvc-1"
        ));
        assert!(!removed("", "pvc-1"));
    }

    fn vg(free: u64) -> Vg {
        Vg {
            name: "vg0".into(),
            uuid: String::new(),
            size: free,
            free,
            extent_size: 4 * MIB,
            pv_count: 2,
            lv_count: 0,
            tags: vec![],
            attr: String::new(),
        }
    }

    fn pvs(free: u64) -> Vec<Pv> {
        ["/dev/loop3", "/dev/loop4"]
            .map(|n| Pv {
                name: n.into(),
                vg: "vg0".into(),
                size: free,
                free,
            })
            .to_vec()
    }

    fn req(required: i64, lv_type: LvType) -> CreateRequest {
        CreateRequest {
            lv: "pvc-1".into(),
            vg: "vg0".into(),
            lv_type,
            integrity: false,
            range: Range { required, limit: 0 },
            block: false,
            ephemeral: false,
            source: None,
            source_size: None,
        }
    }

    fn created(d: Decision) -> NewLv {
        match d {
            Decision::Create(n) => n,
            other => panic!("expected a create, got {other:?}"),
        }
    }

    fn existing_lv(size: u64, lv_type: LvType) -> Lv {
        let meta = VolumeMeta {
            lv_type,
            block: false,
            ephemeral: false,
            integrity: false,
            source: None,
        };
        Lv {
            name: "pvc-1".into(),
            vg: "vg0".into(),
            uuid: "u".into(),
            size,
            tags: tags::volume_tags(&meta),
            segtype: "linear".into(),
            origin: None,
            attr: String::new(),
            time: String::new(),
        }
    }

    #[test]
    fn a_new_volume_gets_the_rounded_size_and_its_tags() {
        let n = created(
            create(
                &req(10 * MIB as i64 + 1, LvType::Linear),
                None,
                &vg(1 << 30),
                &pvs(512 * MIB),
                1 << 30,
            )
            .unwrap(),
        );
        assert_eq!(n.size, 12 * MIB);
        let args = lvcreate_args(&n, true);
        assert_eq!(
            args,
            [
                "lvcreate",
                "--name",
                "pvc-1",
                "--size",
                "12582912b",
                "--yes",
                "--activate",
                "n",
                "--zero",
                "n",
                "--wipesignatures",
                "n",
                "--type",
                "linear",
                "--addtag",
                "lv.metal-stack.io/csi-lvm-driver",
                "--addtag",
                "lv.metal-stack.io/type=linear",
                "--addtag",
                "isBlock=false",
                "vg0"
            ]
        );
        assert!(
            lvcreate_args(&n, false)
                .windows(2)
                .any(|w| w == ["--zero", "y"])
        );
    }

    #[test]
    fn striped_and_mirror_arguments() {
        let n = created(
            create(
                &req(MIB as i64, LvType::Striped),
                None,
                &vg(1 << 30),
                &pvs(512 * MIB),
                0,
            )
            .unwrap(),
        );
        assert_eq!(n.size, 8 * MIB, "one extent per stripe");
        assert!(
            lvcreate_args(&n, false)
                .windows(4)
                .any(|w| w == ["--type", "striped", "--stripes", "2"])
        );
        let mut r = req(MIB as i64, LvType::Mirror);
        r.integrity = true;
        let n = created(create(&r, None, &vg(1 << 30), &pvs(512 * MIB), 0).unwrap());
        let args = lvcreate_args(&n, false);
        assert!(
            args.windows(5)
                .any(|w| w == ["--type", "raid1", "--mirrors", "1", "--nosync"])
        );
        assert!(args.windows(2).any(|w| w == ["--raidintegrity", "y"]));
    }

    #[test]
    fn retries_adopt_and_conflicts_are_already_exists() {
        let lv = existing_lv(12 * MIB, LvType::Linear);
        let d = create(
            &req(10 * MIB as i64, LvType::Linear),
            Some(&lv),
            &vg(0),
            &pvs(0),
            0,
        )
        .unwrap();
        assert_eq!(d, Decision::Existing(lv.clone()));
        for (r, why) in [
            (
                req(20 * MIB as i64, LvType::Linear),
                "outside the requested range",
            ),
            (
                req(10 * MIB as i64, LvType::Striped),
                "as linear, not striped",
            ),
        ] {
            let e = create(&r, Some(&lv), &vg(0), &pvs(0), 0).unwrap_err();
            assert!(
                matches!(&e, PlanError::AlreadyExists(m) if m.contains(why)),
                "{e}"
            );
        }
        let mut foreign = lv.clone();
        foreign.tags.clear();
        assert!(matches!(
            create(
                &req(MIB as i64, LvType::Linear),
                Some(&foreign),
                &vg(0),
                &pvs(0),
                0
            ),
            Err(PlanError::AlreadyExists(_))
        ));
    }

    #[test]
    fn no_room_is_exhaustion() {
        let e = create(
            &req(600 * MIB as i64, LvType::Striped),
            None,
            &vg(1 << 30),
            &pvs(256 * MIB),
            0,
        )
        .unwrap_err();
        assert!(matches!(e, PlanError::Exhausted(_)), "{e}");
        assert!(
            create(
                &req(500 * MIB as i64, LvType::Striped),
                None,
                &vg(1 << 30),
                &pvs(256 * MIB),
                0
            )
            .is_ok()
        );
    }

    #[test]
    fn a_volume_from_a_source_is_at_least_the_source() {
        let mut r = req(0, LvType::Linear);
        r.source = Some(Source::Snapshot("snap-1".into()));
        r.source_size = Some(40 * MIB);
        let n = created(create(&r, None, &vg(1 << 30), &pvs(512 * MIB), 4 * MIB).unwrap());
        assert_eq!(n.size, 40 * MIB);
        r.range.limit = 20 * MIB as i64;
        assert!(create(&r, None, &vg(1 << 30), &pvs(512 * MIB), 4 * MIB).is_err());
    }

    #[test]
    fn expansion_is_idempotent_and_never_shrinks() {
        let lv = existing_lv(12 * MIB, LvType::Linear);
        let r = |required: i64, limit: i64| Range { required, limit };
        assert_eq!(expand(&lv, r(10 * MIB as i64, 0), 4 * MIB), Ok(None));
        assert_eq!(expand(&lv, r(12 * MIB as i64, 0), 4 * MIB), Ok(None));
        assert_eq!(
            expand(&lv, r(13 * MIB as i64, 0), 4 * MIB),
            Ok(Some(16 * MIB))
        );
        assert!(expand(&lv, r(0, 0), 4 * MIB).is_err());
        assert!(expand(&lv, r(4 * MIB as i64, 8 * MIB as i64), 4 * MIB).is_err());
        assert_eq!(
            lvextend_args(&lv, 16 * MIB),
            ["lvextend", "--size", "16777216b", "vg0/pvc-1"]
        );
    }
}
