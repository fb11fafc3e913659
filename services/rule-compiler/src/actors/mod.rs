//! Supervised actors: the ruleset owner (the kernel), the reconciler (inputs → compiled
//! ruleset, statuses), the monitor (counters → FirewallMonitor and metrics).

pub mod reconciler;
pub mod ruleset;
