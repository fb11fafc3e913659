//! What a volume group's actor knows of its VG between lvm calls. Each lvm invocation costs
//! tens of milliseconds, as much as the lvcreate it would guard, so CreateVolume and
//! DeleteVolume decide on this model and then run exactly one lvm command. lvm stays the
//! authority: whatever it refuses (a name taken, no space) makes the actor reload the model
//! from lvm and decide again, so the model can be optimistic about free space.

use super::params::LvType;
use super::plan::NewLv;
use super::report::{Lv, Pv, Vg};
use super::tags;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VgModel {
    pub vg: Vg,
    pub pvs: Vec<Pv>,
    pub lvs: Vec<Lv>,
}

impl VgModel {
    pub fn find(&self, name: &str) -> Option<&Lv> {
        self.lvs.iter().find(|lv| lv.name == name)
    }

    /// The snapshots whose origin is `origin`.
    pub fn snapshots_of(&self, origin: &str) -> Vec<String> {
        self.lvs
            .iter()
            .filter(|lv| lv.origin.as_deref() == Some(origin))
            .map(|lv| lv.name.clone())
            .collect()
    }

    /// Records the LV `lvcreate` just made from `new` (with `extra_tags` beside the volume's
    /// own) and returns it as a report would show it. lvm's uuid, attributes and time are not
    /// known until the next reload; nothing decided here needs them.
    pub fn created(&mut self, new: &NewLv, extra_tags: &[String]) -> Lv {
        let mut lv_tags = tags::volume_tags(&new.meta);
        lv_tags.extend(extra_tags.iter().cloned());
        let lv = Lv {
            name: new.lv.clone(),
            vg: new.vg.clone(),
            uuid: String::new(),
            size: new.size,
            tags: lv_tags,
            segtype: segtype(new.meta.lv_type).into(),
            origin: None,
            attr: String::new(),
            time: String::new(),
        };
        self.take(new);
        self.lvs.retain(|l| l.name != lv.name);
        self.lvs.push(lv.clone());
        self.vg.lv_count = self.lvs.len() as u32;
        lv
    }

    /// Records that `lvremove` removed the LV `name`.
    pub fn removed(&mut self, name: &str) {
        let Some(at) = self.lvs.iter().position(|l| l.name == name) else {
            return;
        };
        let lv = self.lvs.remove(at);
        let footprint = if lv.segtype == segtype(LvType::Mirror) {
            2 * (lv.size + self.vg.extent_size)
        } else {
            lv.size
        };
        self.vg.free = (self.vg.free + footprint).min(self.vg.size);
        // Where lvm frees it is unknown; hand it back evenly, which is what it took for the
        // striped LVs and an estimate otherwise (a wrong estimate costs a reload, never a
        // wrong answer).
        let share = footprint / self.pvs.len().max(1) as u64;
        for pv in &mut self.pvs {
            pv.free = (pv.free + share).min(pv.size);
        }
        self.vg.lv_count = self.lvs.len() as u32;
    }

    /// Subtracts what `new` occupies: a striped LV the same share on every PV, a mirror its
    /// full size on the two PVs with most room, a linear LV from the first PVs with room.
    fn take(&mut self, new: &NewLv) {
        let footprint = match new.meta.lv_type {
            LvType::Mirror => 2 * (new.size + self.vg.extent_size),
            _ => new.size,
        };
        self.vg.free = self.vg.free.saturating_sub(footprint);
        match new.meta.lv_type {
            LvType::Striped if new.stripes > 1 => {
                let share = new.size / u64::from(new.stripes);
                for pv in &mut self.pvs {
                    pv.free = pv.free.saturating_sub(share);
                }
            }
            LvType::Mirror => {
                self.pvs.sort_by_key(|p| std::cmp::Reverse(p.free));
                for pv in self.pvs.iter_mut().take(2) {
                    pv.free = pv.free.saturating_sub(new.size + self.vg.extent_size);
                }
                self.pvs.sort_by(|a, b| a.name.cmp(&b.name));
            }
            _ => {
                let mut left = new.size;
                for pv in &mut self.pvs {
                    let taken = left.min(pv.free);
                    pv.free -= taken;
                    left -= taken;
                }
            }
        }
    }
}

/// lvm's segment type for each volume type.
fn segtype(lv_type: LvType) -> &'static str {
    match lv_type {
        LvType::Linear => "linear",
        LvType::Striped => "striped",
        LvType::Mirror => "raid1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::capacity::available;
    use crate::core::tags::VolumeMeta;

    const MIB: u64 = 1 << 20;

    fn model(pv_free: &[u64]) -> VgModel {
        let pvs: Vec<Pv> = pv_free
            .iter()
            .enumerate()
            .map(|(i, &free)| Pv {
                name: format!("/dev/loop{i}"),
                vg: "vg0".into(),
                size: free,
                free,
            })
            .collect();
        let total = pv_free.iter().sum();
        VgModel {
            vg: Vg {
                name: "vg0".into(),
                uuid: "u".into(),
                size: total,
                free: total,
                extent_size: 4 * MIB,
                pv_count: pvs.len() as u32,
                lv_count: 0,
                tags: vec![],
                attr: String::new(),
            },
            pvs,
            lvs: vec![],
        }
    }

    fn new(name: &str, size: u64, lv_type: LvType, stripes: u32) -> NewLv {
        NewLv {
            lv: name.into(),
            vg: "vg0".into(),
            size,
            stripes,
            meta: VolumeMeta {
                lv_type,
                block: false,
                ephemeral: false,
                integrity: false,
                source: None,
            },
        }
    }

    #[test]
    fn a_created_lv_is_found_with_its_tags_and_takes_its_space() {
        let mut m = model(&[100 * MIB]);
        let lv = m.created(
            &new("pvc-a", 8 * MIB, LvType::Linear, 1),
            &["x=1".to_string()],
        );
        assert_eq!(m.find("pvc-a"), Some(&lv));
        assert!(tags::is_volume(&lv));
        assert!(lv.has_tag("x=1"));
        assert_eq!(tags::volume_meta(&lv).lv_type, LvType::Linear);
        assert_eq!(m.vg.free, 92 * MIB);
        assert_eq!(m.pvs[0].free, 92 * MIB);
        assert_eq!(m.vg.lv_count, 1);
        m.removed("pvc-a");
        assert_eq!(m.find("pvc-a"), None);
        assert_eq!(m.vg.free, 100 * MIB);
        m.removed("pvc-a");
        assert_eq!(m.vg.free, 100 * MIB, "removing twice changes nothing");
    }

    #[test]
    fn striped_and_mirrored_lvs_take_space_on_every_pv_they_use() {
        let mut m = model(&[100 * MIB, 100 * MIB]);
        m.created(&new("s", 40 * MIB, LvType::Striped, 2), &[]);
        assert_eq!(
            m.pvs.iter().map(|p| p.free).collect::<Vec<_>>(),
            [80 * MIB, 80 * MIB]
        );
        assert_eq!(available(LvType::Striped, &m.vg, &m.pvs), 160 * MIB);
        m.created(&new("m", 20 * MIB, LvType::Mirror, 1), &[]);
        assert_eq!(
            m.pvs.iter().map(|p| p.free).collect::<Vec<_>>(),
            [56 * MIB, 56 * MIB]
        );
        assert_eq!(m.vg.free, 112 * MIB);
    }

    #[test]
    fn linear_lvs_spill_over_to_the_next_pv() {
        let mut m = model(&[10 * MIB, 100 * MIB]);
        m.created(&new("l", 30 * MIB, LvType::Linear, 1), &[]);
        assert_eq!(
            m.pvs.iter().map(|p| p.free).collect::<Vec<_>>(),
            [0, 80 * MIB]
        );
    }

    #[test]
    fn recreating_a_name_replaces_it_and_snapshots_are_listed_by_origin() {
        let mut m = model(&[100 * MIB]);
        m.created(&new("a", 8 * MIB, LvType::Linear, 1), &[]);
        m.created(&new("a", 8 * MIB, LvType::Linear, 1), &[]);
        assert_eq!(m.lvs.len(), 1);
        let mut snap = m.lvs[0].clone();
        snap.name = "snap-1".into();
        snap.origin = Some("a".into());
        m.lvs.push(snap);
        assert_eq!(m.snapshots_of("a"), ["snap-1"]);
        assert!(m.snapshots_of("snap-1").is_empty());
    }
}
