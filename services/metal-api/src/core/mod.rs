//! The pure core of the embedded metal-api: every decision (which address, which prefix,
//! which machine, allowed or not) as plain functions over [`State`]. No I/O, no clock, no
//! randomness of its own: time and entropy come in through [`Ctx`].
//!
//! A mutating operation validates everything first and changes the state only when it will
//! succeed, recording each changed entity in the state's journal. The inventory actor
//! persists the journal before it answers, so what a client is told is what is on disk.

mod error;
pub mod filters;
pub mod ipam;
pub mod ips;
pub mod machines;
pub mod masterdata;
pub mod networks;
pub mod records;
pub mod render;

use std::collections::BTreeMap;
use std::net::IpAddr;

pub use error::{ApiError, ApiResult};
use metal_api_sdk::model::{
    ImageResponse, PartitionResponse, ProjectResponse, SizeResponse, Timestamp,
};
pub use records::{Ip, Machine, Network};

/// Time and entropy for one operation, supplied by the caller so the core stays pure.
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub entropy: &'a mut dyn Entropy,
}

/// The randomness the core needs: identifiers and a choice among equals.
pub trait Entropy {
    fn uuid(&mut self) -> String;
    /// A number in `0..n` (`n > 0`).
    fn pick(&mut self, n: usize) -> usize;
}

/// One entity changed by an operation: its new value, or `None` when it was deleted.
/// Changes live only until they are written, so their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Ip(IpAddr, Option<Ip>),
    Network(String, Option<Network>),
    Machine(String, Option<Machine>),
    Partition(String, Option<PartitionResponse>),
    Size(String, Option<SizeResponse>),
    Image(String, Option<ImageResponse>),
    Project(String, Option<ProjectResponse>),
}

/// Everything the metal-api knows, in memory. Loaded from the store at start.
#[derive(Debug, Default, Clone)]
pub struct State {
    pub ips: BTreeMap<IpAddr, Ip>,
    pub networks: BTreeMap<String, Network>,
    pub machines: BTreeMap<String, Machine>,
    pub partitions: BTreeMap<String, PartitionResponse>,
    pub sizes: BTreeMap<String, SizeResponse>,
    pub images: BTreeMap<String, ImageResponse>,
    pub projects: BTreeMap<String, ProjectResponse>,
    /// Lowest address per prefix that may still be free: a hint that keeps first-free
    /// allocation O(1) amortized. Derived, never stored.
    free_hint: BTreeMap<ipnet::IpNet, IpAddr>,
    /// Changes not yet persisted, each with the value it replaced (for rollback).
    journal: Vec<(Change, Change)>,
}

impl State {
    /// Builds a state from stored entities (journal empty).
    pub fn from_changes(changes: impl IntoIterator<Item = Change>) -> Self {
        let mut state = State::default();
        for change in changes {
            state.apply(change);
        }
        state.journal.clear();
        state
    }

    /// The changes made since the last call; the caller persists them.
    pub fn take_journal(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.journal)
            .into_iter()
            .map(|(new, _)| new)
            .collect()
    }

    /// A point to roll back to.
    pub fn mark(&self) -> usize {
        self.journal.len()
    }

    /// Undoes every change made after `mark`, newest first: a failed operation leaves
    /// nothing behind.
    pub fn rollback(&mut self, mark: usize) {
        while self.journal.len() > mark {
            let (_, old) = self.journal.pop().expect("journal longer than mark");
            self.apply(old);
            self.journal.pop();
        }
    }

    /// The current value of the entity a change addresses, as a change.
    fn current(&self, change: &Change) -> Change {
        match change {
            Change::Ip(k, _) => Change::Ip(*k, self.ips.get(k).cloned()),
            Change::Network(k, _) => Change::Network(k.clone(), self.networks.get(k).cloned()),
            Change::Machine(k, _) => Change::Machine(k.clone(), self.machines.get(k).cloned()),
            Change::Partition(k, _) => {
                Change::Partition(k.clone(), self.partitions.get(k).cloned())
            }
            Change::Size(k, _) => Change::Size(k.clone(), self.sizes.get(k).cloned()),
            Change::Image(k, _) => Change::Image(k.clone(), self.images.get(k).cloned()),
            Change::Project(k, _) => Change::Project(k.clone(), self.projects.get(k).cloned()),
        }
    }

    /// Applies and journals one change.
    fn apply(&mut self, change: Change) {
        let old = self.current(&change);
        match &change {
            Change::Ip(key, value) => match value {
                Some(ip) => {
                    self.ips.insert(*key, ip.clone());
                }
                None => {
                    self.ips.remove(key);
                    self.lower_free_hint(*key);
                }
            },
            Change::Network(key, value) => put(&mut self.networks, key, value),
            Change::Machine(key, value) => put(&mut self.machines, key, value),
            Change::Partition(key, value) => put(&mut self.partitions, key, value),
            Change::Size(key, value) => put(&mut self.sizes, key, value),
            Change::Image(key, value) => put(&mut self.images, key, value),
            Change::Project(key, value) => put(&mut self.projects, key, value),
        }
        self.journal.push((change, old));
    }

    pub(crate) fn put_ip(&mut self, ip: Ip) {
        self.apply(Change::Ip(ip.address, Some(ip)));
    }
    pub(crate) fn delete_ip(&mut self, address: IpAddr) {
        self.apply(Change::Ip(address, None));
    }
    pub(crate) fn put_network(&mut self, network: Network) {
        self.apply(Change::Network(network.id.clone(), Some(network)));
    }
    pub(crate) fn delete_network(&mut self, id: &str) {
        self.apply(Change::Network(id.to_string(), None));
    }
    pub(crate) fn put_machine(&mut self, machine: Machine) {
        self.apply(Change::Machine(machine.id.clone(), Some(machine)));
    }
    pub(crate) fn put_change(&mut self, change: Change) {
        self.apply(change);
    }

    fn lower_free_hint(&mut self, freed: IpAddr) {
        for (prefix, hint) in self.free_hint.iter_mut() {
            if prefix.contains(&freed) && freed < *hint {
                *hint = freed;
            }
        }
    }

    pub fn project_exists(&self, id: &str) -> bool {
        self.projects.contains_key(id)
    }
}

fn put<T: Clone>(map: &mut BTreeMap<String, T>, key: &str, value: &Option<T>) {
    match value {
        Some(v) => {
            map.insert(key.to_string(), v.clone());
        }
        None => {
            map.remove(key);
        }
    }
}

/// Sorted, de-duplicated tags (upstream de-duplicates and does not keep the order).
pub fn dedup_tags(tags: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut tags: Vec<String> = tags.into_iter().collect();
    tags.sort();
    tags.dedup();
    tags
}

/// True when every wanted tag is present (contains-all).
pub fn has_all_tags(have: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| have.contains(w))
}

#[cfg(test)]
pub(crate) mod testing {
    //! Deterministic entropy and a small fixture for core tests.
    use super::*;

    pub struct Counter(pub u64);

    impl Entropy for Counter {
        fn uuid(&mut self) -> String {
            self.0 += 1;
            format!("00000000-0000-4000-8000-{:012}", self.0)
        }
        fn pick(&mut self, _n: usize) -> usize {
            0
        }
    }

    pub fn now() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    pub const PROJECT: &str = "00000000-0000-0000-0000-000000000001";
    pub const OTHER_PROJECT: &str = "00000000-0000-0000-0000-000000000002";
    pub const PARTITION: &str = "fra-equ01";

    /// A state holding the compose seed: one partition, sizes, images, two projects,
    /// internet, private super, underlay and storage networks, 16 machines.
    pub fn seeded() -> State {
        let seed = crate::seed::parse(include_str!("../../../../compose/seed.yaml"))
            .expect("compose seed parses");
        let mut state = State::default();
        let mut entropy = Counter(0);
        let mut ctx = Ctx {
            now: now(),
            entropy: &mut entropy,
        };
        crate::seed::apply(&mut state, &mut ctx, &seed).expect("compose seed applies");
        state.take_journal();
        state
    }

    /// Runs `f` with a fresh context; on error rolls the state back, as the actor does.
    pub fn run<T>(
        state: &mut State,
        f: impl FnOnce(&mut State, &mut Ctx) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut entropy =
            Counter(1000 + state.ips.len() as u64 + state.networks.len() as u64 * 100);
        let mut ctx = Ctx {
            now: now(),
            entropy: &mut entropy,
        };
        let mark = state.mark();
        let result = f(state, &mut ctx);
        if result.is_err() {
            state.rollback(mark);
        }
        state.take_journal();
        result
    }
}
