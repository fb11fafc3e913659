//! The blocking operations: decide with the pure core, run lvm. Mutations run inside their
//! volume group's actor (one at a time per VG) and decide on the VG's model ([`Known`]), so
//! CreateVolume and DeleteVolume each cost one lvm command; reads run anywhere.

use std::fs::OpenOptions;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::core::capacity::{allocation_unit, available};
use crate::core::model::VgModel;
use crate::core::names;
use crate::core::params::LvType;
use crate::core::plan::{self, CreateRequest, Decision, PlanError};
use crate::core::report::{Lv, Pv, Vg};
use crate::core::size::Range;
use crate::core::tags::{self, Source};
use crate::error::{OpError, OpResult};
use crate::known::Known;
use crate::lvm::{Failure, Lvm};

/// Marks a volume whose content is still being copied from its source: a retry after a crash
/// copies again instead of handing out a half-filled volume.
pub const POPULATING: &str = "lv.metal-stack.io/populating";

/// The volume groups this driver manages and how to reach them.
#[derive(Debug, Clone)]
pub struct Store {
    pub lvm: Lvm,
    /// Managed VGs; the first is the default.
    pub vgs: Vec<String>,
    pub default_size: u64,
    /// Where LV device nodes appear (`<dev_dir>/<vg>/<lv>`).
    pub dev_dir: PathBuf,
    pub known: Known,
}

impl Store {
    pub fn default_vg(&self) -> &str {
        &self.vgs[0]
    }

    pub fn device(&self, vg: &str, lv: &str) -> PathBuf {
        self.dev_dir.join(vg).join(lv)
    }

    pub fn managed(&self, vg: &str) -> OpResult<()> {
        if self.vgs.iter().any(|v| v == vg) {
            Ok(())
        } else {
            Err(OpError::Invalid(format!(
                "volume group {vg:?} is not managed by this driver (managed: {})",
                self.vgs.join(", ")
            )))
        }
    }

    pub fn all_lvs(&self) -> OpResult<Vec<Lv>> {
        Ok(self.lvm.lvs(&self.vgs)?)
    }

    /// The LV named `name` in any managed VG: from the models when every VG has one, else
    /// from lvm.
    pub fn find(&self, name: &str) -> OpResult<Option<Lv>> {
        if !names::id_is_lv_name(name) {
            return Ok(None);
        }
        match self.known.lookup(&self.vgs, name) {
            Some(found) => Ok(found),
            None => self.find_in_lvm(name),
        }
    }

    /// Like [`Store::find`], but an LV the models do not know is looked for in lvm too: for
    /// answers that would otherwise leave an LV behind (deleting an unknown id).
    pub fn find_confirmed(&self, name: &str) -> OpResult<Option<Lv>> {
        if !names::id_is_lv_name(name) {
            return Ok(None);
        }
        match self.known.lookup(&self.vgs, name) {
            Some(Some(lv)) => Ok(Some(lv)),
            _ => self.find_in_lvm(name),
        }
    }

    fn find_in_lvm(&self, name: &str) -> OpResult<Option<Lv>> {
        Ok(self.all_lvs()?.into_iter().find(|lv| lv.name == name))
    }

    /// The VG's model, loaded from lvm when there is none. Only the VG's actor calls this.
    pub fn model(&self, vg: &str) -> OpResult<VgModel> {
        match self.known.get(vg) {
            Some(model) => Ok(model),
            None => self.reload(vg),
        }
    }

    /// Reads the VG's model from lvm and keeps it. Only the VG's actor calls this.
    pub fn reload(&self, vg: &str) -> OpResult<VgModel> {
        let (state, pvs) = self.vg_state(vg)?;
        let lvs = self.lvm.lvs(&[vg.to_string()])?;
        let model = VgModel {
            vg: state,
            pvs,
            lvs,
        };
        self.known.put(model.clone());
        Ok(model)
    }

    /// After a mutation the model does not follow by itself: reload it when the mutation
    /// succeeded, drop it (reloaded on next use) when it failed half-way or the reload fails.
    fn settle<T>(&self, vg: &str, result: OpResult<T>) -> OpResult<T> {
        if result.is_err() || self.reload(vg).is_err() {
            self.known.forget(vg);
        }
        result
    }

    pub fn volume(&self, id: &str) -> OpResult<Lv> {
        match self.find(id)? {
            Some(lv) if tags::is_volume(&lv) => Ok(lv),
            _ => Err(OpError::NotFound(format!("volume {id} does not exist"))),
        }
    }

    pub fn snapshot(&self, id: &str) -> OpResult<Lv> {
        match self.find(id)? {
            Some(lv) if tags::is_snapshot(&lv) => Ok(lv),
            _ => Err(OpError::NotFound(format!("snapshot {id} does not exist"))),
        }
    }

    pub fn vg_state(&self, vg: &str) -> OpResult<(Vg, Vec<Pv>)> {
        let state = self
            .lvm
            .vg(vg)?
            .ok_or_else(|| OpError::Unavailable(format!("volume group {vg} is missing")))?;
        Ok((state, self.lvm.pvs(vg)?))
    }

    pub fn capacity(&self, vg: &str, lv_type: LvType) -> OpResult<(u64, u64)> {
        let (state, pvs) = self.vg_state(vg)?;
        Ok((available(lv_type, &state, &pvs), state.extent_size))
    }

    /// CreateVolume: adopts the LV a previous attempt left (same name), or creates it.
    pub fn create_volume(&self, mut req: CreateRequest) -> OpResult<Lv> {
        self.managed(&req.vg)?;
        let source = match &req.source {
            None => None,
            Some(source) => {
                let lv = match source {
                    Source::Snapshot(id) => self.snapshot(id)?,
                    Source::Volume(id) => self.volume(id)?,
                };
                if lv.vg != req.vg {
                    return Err(OpError::Invalid(format!(
                        "the source {} is in volume group {}, the volume would be in {}",
                        lv.name, lv.vg, req.vg
                    )));
                }
                if self.lvm.no_activation {
                    return Err(OpError::Precondition(
                        "copying a snapshot or volume needs active LVs, and this node runs \
                         with --no-activation"
                            .into(),
                    ));
                }
                req.source_size = Some(lv.size);
                Some(lv)
            }
        };
        // Decide on the model; what lvm refuses (the name taken, no room) is decided again
        // once on a model freshly read from lvm.
        let mut fresh = false;
        let lv = loop {
            let model = if fresh {
                self.reload(&req.vg)?
            } else {
                self.model(&req.vg)?
            };
            let existing = self.find(&req.lv)?;
            let planned = plan::create(
                &req,
                existing.as_ref(),
                &model.vg,
                &model.pvs,
                self.default_size,
            );
            let new = match planned {
                // A retry is answered from lvm, not from the model: the LV may have gone
                // behind the driver's back.
                Ok(Decision::Existing(lv)) if fresh => break lv,
                Ok(Decision::Existing(_)) => {
                    fresh = true;
                    continue;
                }
                Ok(Decision::Create(new)) => new,
                Err(PlanError::Exhausted(_)) if !fresh => {
                    fresh = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let extra_tags: Vec<String> = source
                .iter()
                .map(|_| format!("{POPULATING}=true"))
                .collect();
            let mut args = plan::lvcreate_args(&new, self.lvm.no_activation);
            let at = args.len() - 1;
            for tag in &extra_tags {
                args.splice(at..at, ["--addtag".to_string(), tag.clone()]);
            }
            if new.meta.lv_type != req.lv_type {
                tracing::warn!(
                    volume = new.lv,
                    vg = new.vg,
                    "volume group has fewer than 2 physical volumes: {} falls back to linear",
                    req.lv_type
                );
            }
            match self.lvm.run(&args) {
                Ok(_) => {
                    let recorded = self.known.update(&new.vg, |m| m.created(&new, &extra_tags));
                    match recorded {
                        Some(lv) => break lv,
                        None => break self.volume(&new.lv)?,
                    }
                }
                Err(e) if e.failure == Failure::Exists && !fresh => fresh = true,
                Err(e) => {
                    self.known.forget(&new.vg);
                    return Err(if e.failure == Failure::NoSpace {
                        OpError::Exhausted(format!(
                            "volume group {} has not enough free space: {}",
                            new.vg, e.stderr
                        ))
                    } else {
                        e.into()
                    });
                }
            }
        };
        if let Some(source) = source
            && lv.tag_value(POPULATING).is_some()
        {
            let populated = self.populate(&source, &lv).and_then(|()| {
                Ok(self
                    .lvm
                    .deltag(&lv.vg, &lv.name, &format!("{POPULATING}=true"))?)
            });
            self.settle(&lv.vg, populated)?;
            return self.volume(&lv.name);
        }
        Ok(lv)
    }

    /// Copies a source's blocks into a new volume. A volume source is copied from a temporary
    /// snapshot, so the copy is consistent even while the source is in use.
    fn populate(&self, source: &Lv, target: &Lv) -> OpResult<()> {
        let temporary = tags::is_volume(source).then(|| format!("{}-clonesrc", target.name));
        let from = match &temporary {
            None => source.name.clone(),
            Some(tmp) => {
                if self.find(tmp)?.is_none() {
                    self.lvm.run(&plan::snapshot_args(source, tmp))?;
                }
                tmp.clone()
            }
        };
        self.lvm.activate_lv(&source.vg, &from)?;
        self.lvm.activate_lv(&target.vg, &target.name)?;
        let copied = copy_blocks(
            &self.device(&source.vg, &from),
            &self.device(&target.vg, &target.name),
            source.size,
        );
        if let Some(tmp) = &temporary {
            self.lvm.run(&plan::lvremove_args(&source.vg, tmp))?;
        }
        copied.map_err(|e| {
            OpError::Internal(format!("copying {} into {}: {e}", source.name, target.name))
        })
    }

    /// DeleteVolume: idempotent; never removes an LV that is not one of our volumes.
    pub fn delete_volume(&self, id: &str) -> OpResult<()> {
        let Some(lv) = self.find_confirmed(id)? else {
            return Ok(());
        };
        if !tags::is_volume(&lv) {
            tracing::warn!(
                id,
                vg = lv.vg,
                "DeleteVolume for an LV that is not a volume of this driver: left alone"
            );
            return Ok(());
        }
        // lvm refuses a snapshot origin itself (the selection then matches nothing), so the
        // snapshot check never rests on the model.
        match self.lvm.run(&plan::lvremove_volume_args(&lv.vg, &lv.name)) {
            Ok(out) if plan::removed(&out, &lv.name) => {
                self.known.update(&lv.vg, |m| m.removed(&lv.name));
                Ok(())
            }
            // Nothing removed: gone already (the model was behind lvm) is success; still there
            // means it has snapshots.
            Ok(_) => {
                let model = self.reload(&lv.vg)?;
                if model.find(&lv.name).is_none() {
                    return Ok(());
                }
                Err(OpError::Precondition(format!(
                    "volume {id} has snapshots ({}); delete them first",
                    model.snapshots_of(&lv.name).join(", ")
                )))
            }
            Err(e) => {
                self.known.forget(&lv.vg);
                Err(e.into())
            }
        }
    }

    /// Grows the LV to cover `range`; returns the LV with its size afterwards.
    pub fn expand_volume(&self, id: &str, range: Range) -> OpResult<Lv> {
        let lv = self.volume(id)?;
        let (vg, pvs) = self.vg_state(&lv.vg)?;
        let lv_type = tags::volume_meta(&lv).lv_type;
        let Some(size) = plan::expand(&lv, range, allocation_unit(lv_type, &vg, &pvs))? else {
            return Ok(lv);
        };
        let grow = size - lv.size;
        if lv_type == LvType::Linear && grow > vg.free {
            return Err(OpError::Exhausted(format!(
                "volume group {} has {} bytes free, {grow} more needed",
                vg.name, vg.free
            )));
        }
        let extended = self.lvm.run(&plan::lvextend_args(&lv, size)).map(drop);
        self.settle(&lv.vg, extended.map_err(OpError::from))?;
        self.volume(id)
    }

    /// CreateSnapshot: idempotent on name; the same name for another source is ALREADY_EXISTS.
    pub fn create_snapshot(&self, name: &str, source_id: &str) -> OpResult<Lv> {
        let lv_name = names::snapshot_lv_name(name);
        if let Some(existing) = self.find_confirmed(&lv_name)? {
            return if tags::is_snapshot(&existing) && existing.origin.as_deref() == Some(source_id)
            {
                Ok(existing)
            } else {
                Err(OpError::AlreadyExists(format!(
                    "snapshot {name} already exists for another source"
                )))
            };
        }
        let origin = self.volume(source_id)?;
        let vg = self.vg_state(&origin.vg)?.0;
        if vg.free < origin.size {
            return Err(OpError::Exhausted(format!(
                "volume group {} has {} bytes free, a snapshot of {} needs {}",
                vg.name, vg.free, origin.name, origin.size
            )));
        }
        let created = self
            .lvm
            .run(&plan::snapshot_args(&origin, &lv_name))
            .map(drop);
        self.settle(&origin.vg, created.map_err(OpError::from))?;
        self.snapshot(&lv_name)
    }

    pub fn delete_snapshot(&self, id: &str) -> OpResult<()> {
        match self.find_confirmed(id)? {
            Some(lv) if tags::is_snapshot(&lv) => {
                let removed = self
                    .lvm
                    .run(&plan::lvremove_args(&lv.vg, &lv.name))
                    .map(drop);
                self.settle(&lv.vg, removed.map_err(OpError::from))
            }
            _ => Ok(()),
        }
    }
}

/// Copies `bytes` from one block device to another and flushes the target.
fn copy_blocks(from: &Path, to: &Path, bytes: u64) -> std::io::Result<()> {
    let mut src = std::fs::File::open(from)?;
    let mut dst = OpenOptions::new().write(true).open(to)?;
    let mut buffer = vec![0u8; 4 << 20];
    let mut left = bytes;
    while left > 0 {
        let want = buffer.len().min(left as usize);
        let n = src.read(&mut buffer[..want])?;
        if n == 0 {
            break;
        }
        dst.write_all(&buffer[..n])?;
        left -= n as u64;
    }
    dst.sync_all()
}

#[cfg(test)]
mod tests {
    use super::copy_blocks;

    #[test]
    fn copies_exactly_the_source_size() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, vec![7u8; 10_000]).unwrap();
        std::fs::write(&b, vec![0u8; 20_000]).unwrap();
        copy_blocks(&a, &b, 10_000).unwrap();
        let out = std::fs::read(&b).unwrap();
        assert!(out[..10_000].iter().all(|&x| x == 7));
        assert!(out[10_000..].iter().all(|&x| x == 0));
    }
}
