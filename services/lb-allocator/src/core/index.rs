//! The allocator's view of the project's IPs: loaded from metal-api, kept current by the
//! allocator's own changes, reloaded every sync interval (which picks up what others changed,
//! as metal-ccm's one-minute housekeeping does). With leader election the allocator is the
//! only writer of this cluster's service tags, so between reloads the view is exact for them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use metal_api_sdk::model::IpResponse;

use super::tags::belongs_to_cluster;

/// A change to one IP, as metal-api answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    Upsert(IpResponse),
    Remove(String),
}

#[derive(Debug, Clone, Default)]
pub struct IpIndex {
    ips: BTreeMap<String, IpResponse>,
    by_tag: HashMap<String, BTreeSet<String>>,
    /// Set while a reload is in flight: addresses changed since it started, whose entries the
    /// reload's older snapshot must not overwrite.
    touched_during_reload: Option<HashSet<String>>,
}

impl IpIndex {
    pub fn len(&self) -> usize {
        self.ips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ips.is_empty()
    }

    fn unlink(&mut self, address: &str) -> Option<IpResponse> {
        let old = self.ips.remove(address)?;
        for tag in &old.tags {
            if let Some(set) = self.by_tag.get_mut(tag) {
                set.remove(address);
                if set.is_empty() {
                    self.by_tag.remove(tag);
                }
            }
        }
        Some(old)
    }

    fn link(&mut self, ip: IpResponse) {
        for tag in &ip.tags {
            self.by_tag
                .entry(tag.clone())
                .or_default()
                .insert(ip.ipaddress.clone());
        }
        self.ips.insert(ip.ipaddress.clone(), ip);
    }

    pub fn apply(&mut self, update: Update) {
        let address = match &update {
            Update::Upsert(ip) => ip.ipaddress.clone(),
            Update::Remove(a) => a.clone(),
        };
        if let Some(touched) = &mut self.touched_during_reload {
            touched.insert(address.clone());
        }
        self.unlink(&address);
        if let Update::Upsert(ip) = update {
            self.link(ip);
        }
    }

    /// Marks the start of a reload; [`IpIndex::finish_reload`] takes its result.
    pub fn begin_reload(&mut self) {
        self.touched_during_reload = Some(HashSet::new());
    }

    /// Replaces the view with `ips` (read after [`IpIndex::begin_reload`]), keeping the entries
    /// of addresses changed since then.
    pub fn finish_reload(&mut self, ips: Vec<IpResponse>) {
        let touched = self.touched_during_reload.take().unwrap_or_default();
        let kept: Vec<Option<IpResponse>> =
            touched.iter().map(|a| self.ips.get(a).cloned()).collect();
        self.ips.clear();
        self.by_tag.clear();
        for ip in ips
            .into_iter()
            .filter(|ip| !touched.contains(&ip.ipaddress))
        {
            self.link(ip);
        }
        for ip in kept.into_iter().flatten() {
            self.link(ip);
        }
    }

    /// A reload failed: nothing to take, stop tracking.
    pub fn abort_reload(&mut self) {
        self.touched_during_reload = None;
    }

    /// The IPs carrying `tag`, by address.
    pub fn tagged(&self, tag: &str) -> Vec<IpResponse> {
        self.by_tag
            .get(tag)
            .into_iter()
            .flatten()
            .filter_map(|a| self.ips.get(a).cloned())
            .collect()
    }

    /// The IPs that belong to `cluster` (metal-ccm's rule), by address.
    pub fn of_cluster(&self, cluster: &str) -> Vec<IpResponse> {
        self.ips
            .values()
            .filter(|ip| belongs_to_cluster(ip, cluster))
            .cloned()
            .collect()
    }

    pub fn all(&self) -> impl Iterator<Item = &IpResponse> {
        self.ips.values()
    }
}

#[cfg(test)]
mod tests {
    use metal_api_sdk::model::IpType;

    use super::*;

    fn ip(address: &str, tags: &[&str]) -> IpResponse {
        IpResponse {
            ipaddress: address.into(),
            allocationuuid: String::new(),
            name: String::new(),
            description: String::new(),
            networkid: "internet".into(),
            projectid: "p".into(),
            ip_type: IpType::Ephemeral,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created: None,
            changed: None,
        }
    }

    fn addresses(ips: Vec<IpResponse>) -> Vec<String> {
        ips.into_iter().map(|i| i.ipaddress).collect()
    }

    #[test]
    fn tag_lookups_follow_updates() {
        let mut index = IpIndex::default();
        index.apply(Update::Upsert(ip("1.1.1.1", &["a", "b"])));
        index.apply(Update::Upsert(ip("1.1.1.2", &["a"])));
        assert_eq!(addresses(index.tagged("a")), ["1.1.1.1", "1.1.1.2"]);
        index.apply(Update::Upsert(ip("1.1.1.1", &["b"])));
        assert_eq!(addresses(index.tagged("a")), ["1.1.1.2"]);
        assert_eq!(addresses(index.tagged("b")), ["1.1.1.1"]);
        index.apply(Update::Remove("1.1.1.2".into()));
        assert!(index.tagged("a").is_empty());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn a_reload_never_undoes_a_change_made_while_it_ran() {
        let mut index = IpIndex::default();
        index.apply(Update::Upsert(ip("1.1.1.1", &["old"])));
        index.begin_reload();
        // While metal-api was being read: one IP allocated, one freed.
        index.apply(Update::Upsert(ip("1.1.1.9", &["new"])));
        index.apply(Update::Remove("1.1.1.1".into()));
        // The snapshot was read before those changes.
        index.finish_reload(vec![ip("1.1.1.1", &["old"]), ip("1.1.1.5", &["other"])]);
        assert_eq!(
            addresses(index.all().cloned().collect()),
            ["1.1.1.5", "1.1.1.9"]
        );
        assert_eq!(addresses(index.tagged("new")), ["1.1.1.9"]);
        assert!(index.tagged("old").is_empty());
        // Later changes are no longer tracked as "during the reload".
        index.begin_reload();
        index.finish_reload(vec![]);
        assert!(index.is_empty());
    }
}
