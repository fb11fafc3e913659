//! What a volume group can still hold for each LV type. Upstream reported the VG's free
//! bytes (halved for mirrors) whatever the geometry; this follows lvm's allocation: a striped LV
//! takes the same number of extents on every PV, a raid1 image pair needs two PVs with room for
//! the data and one metadata extent each.

use super::params::LvType;
use super::report::{Pv, Vg};

/// The type lvm will actually be asked for: striped and mirror need two PVs, with fewer the
/// volume falls back to linear (as upstream, which logs a warning).
pub fn effective_type(lv_type: LvType, pv_count: usize) -> LvType {
    if pv_count < 2 {
        LvType::Linear
    } else {
        lv_type
    }
}

/// Stripes for a striped LV: all PVs of the VG (upstream).
pub fn stripes(lv_type: LvType, pvs: &[Pv]) -> u32 {
    match effective_type(lv_type, pvs.len()) {
        LvType::Striped => pvs.len() as u32,
        _ => 1,
    }
}

/// The size every LV of `lv_type` is a multiple of.
pub fn allocation_unit(lv_type: LvType, vg: &Vg, pvs: &[Pv]) -> u64 {
    vg.extent_size.max(1) * u64::from(stripes(lv_type, pvs))
}

fn whole_extents(bytes: u64, extent: u64) -> u64 {
    bytes / extent * extent
}

/// The largest LV of `lv_type` that fits now.
pub fn available(lv_type: LvType, vg: &Vg, pvs: &[Pv]) -> u64 {
    let extent = vg.extent_size.max(1);
    match effective_type(lv_type, pvs.len()) {
        LvType::Linear => whole_extents(vg.free, extent),
        LvType::Striped => {
            let min = pvs.iter().map(|p| p.free).min().unwrap_or(0);
            whole_extents(min, extent) * pvs.len() as u64
        }
        LvType::Mirror => {
            let mut free: Vec<u64> = pvs.iter().map(|p| whole_extents(p.free, extent)).collect();
            free.sort_unstable_by(|a, b| b.cmp(a));
            free.get(1)
                .map_or(0, |second| second.saturating_sub(extent))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn vg(free: u64) -> Vg {
        Vg {
            name: "vg".into(),
            uuid: String::new(),
            size: 0,
            free,
            extent_size: 4 * MIB,
            pv_count: 0,
            lv_count: 0,
            tags: vec![],
            attr: String::new(),
        }
    }

    fn pv(free: u64) -> Pv {
        Pv {
            name: "/dev/x".into(),
            vg: "vg".into(),
            size: free,
            free,
        }
    }

    #[test]
    fn one_pv_falls_back_to_linear() {
        let pvs = [pv(100 * MIB)];
        for t in LvType::ALL {
            assert_eq!(available(t, &vg(100 * MIB), &pvs), 100 * MIB);
            assert_eq!(stripes(t, &pvs), 1);
        }
    }

    #[test]
    fn striped_is_bounded_by_the_fullest_pv() {
        let pvs = [pv(100 * MIB), pv(40 * MIB + 5)];
        assert_eq!(available(LvType::Striped, &vg(140 * MIB), &pvs), 80 * MIB);
        assert_eq!(allocation_unit(LvType::Striped, &vg(0), &pvs), 8 * MIB);
        assert_eq!(
            available(LvType::Linear, &vg(140 * MIB + 5), &pvs),
            140 * MIB
        );
    }

    #[test]
    fn mirror_needs_two_pvs_and_a_metadata_extent() {
        let pvs = [pv(100 * MIB), pv(60 * MIB), pv(20 * MIB)];
        assert_eq!(available(LvType::Mirror, &vg(180 * MIB), &pvs), 56 * MIB);
        assert_eq!(
            available(LvType::Mirror, &vg(4 * MIB), &[pv(4 * MIB), pv(0)]),
            0
        );
    }
}
