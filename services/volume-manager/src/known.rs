//! The volume groups' models, shared between the actors that keep them and the lookups that
//! read them. Only a VG's own actor writes its entry, inside a mutation, after lvm has
//! answered: an entry never shows a change lvm has not made, nor misses one it acknowledged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::core::model::VgModel;
use crate::core::report::Lv;

#[derive(Debug, Clone, Default)]
pub struct Known(Arc<Mutex<BTreeMap<String, VgModel>>>);

impl Known {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, VgModel>> {
        // A panic while holding the lock leaves at worst a stale model: use it anyway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, vg: &str) -> Option<VgModel> {
        self.lock().get(vg).cloned()
    }

    pub fn put(&self, model: VgModel) {
        self.lock().insert(model.vg.name.clone(), model);
    }

    /// Drops the VG's model: the next mutation reloads it from lvm.
    pub fn forget(&self, vg: &str) {
        self.lock().remove(vg);
    }

    /// Changes the VG's model in place, if there is one.
    pub fn update<R>(&self, vg: &str, f: impl FnOnce(&mut VgModel) -> R) -> Option<R> {
        self.lock().get_mut(vg).map(f)
    }

    /// The LV named `name`: `Some(found)` when every one of `vgs` has a model, `None` when some
    /// has none (then only lvm can tell).
    pub fn lookup(&self, vgs: &[String], name: &str) -> Option<Option<Lv>> {
        let models = self.lock();
        let mut found = None;
        for vg in vgs {
            let model = models.get(vg)?;
            if found.is_none() {
                found = model.find(name).cloned();
            }
        }
        Some(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::report::Vg;

    fn model(vg: &str, lvs: &[&str]) -> VgModel {
        VgModel {
            vg: Vg {
                name: vg.into(),
                uuid: String::new(),
                size: 0,
                free: 0,
                extent_size: 1,
                pv_count: 1,
                lv_count: 0,
                tags: vec![],
                attr: String::new(),
            },
            pvs: vec![],
            lvs: lvs
                .iter()
                .map(|n| Lv {
                    name: n.to_string(),
                    vg: vg.into(),
                    uuid: String::new(),
                    size: 1,
                    tags: vec![],
                    segtype: "linear".into(),
                    origin: None,
                    attr: String::new(),
                    time: String::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn lookups_answer_only_when_every_vg_is_known() {
        let known = Known::default();
        let vgs = ["a".to_string(), "b".to_string()];
        known.put(model("a", &["x"]));
        assert_eq!(known.lookup(&vgs, "x"), None, "b is unknown");
        known.put(model("b", &["y"]));
        assert_eq!(known.lookup(&vgs, "y").unwrap().unwrap().vg, "b");
        assert_eq!(known.lookup(&vgs, "z"), Some(None));
        known.update("a", |m| m.lvs.clear());
        assert_eq!(known.lookup(&vgs, "x"), Some(None));
        known.forget("b");
        assert_eq!(known.lookup(&vgs, "x"), None);
        assert!(known.get("b").is_none() && known.get("a").is_some());
    }
}
