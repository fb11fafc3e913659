//! DNS-based (FQDN) egress for the rule compiler: a DNS proxy that learns which addresses the
//! names in `toFQDNs` selectors resolve to, a cache of those answers, and the nft sets the
//! FQDN egress rules match against.
//!
//! - [`selector`]: `matchName` / `matchPattern` validation and matching (upstream's semantics),
//!   and one nft set name per selector and family.
//! - [`cache`]: FQDN → IP → expiry, pure (time is an argument), with the set contents and
//!   `status.fqdn_state` it implies, and its ConfigMap form ([`Cache::to_state`]).
//! - [`sink`]: putting elements with timeouts into existing nft sets ([`NftSink`]).
//! - [`proxy`]: the UDP+TCP forwarder ([`Proxy::start`]) and active lookups
//!   ([`Proxy::resolve`]).
//!
//! Two deliberate departures from upstream's firewall-controller:
//!
//! - **One set per selector**, not per resolved name. A pattern's set is the union of every
//!   name it matches, so each rule is a single set lookup, and a name seen for the first time
//!   needs only new elements, never a new set and a ruleset reload.
//! - **Sets are filled before the answer is released.** Upstream replies first and updates
//!   the sets afterwards, so the client's first connection can race the update and be dropped.
//!   Here the proxy awaits the sink before sending the reply; elements carry the DNS TTL as
//!   their nft timeout, so the kernel expires them without a sweeper.
//!
//! AAAA answers are used too (upstream ignores them).

pub mod cache;
pub mod proxy;
pub mod selector;
pub mod sink;

mod answer;
mod state;
mod upstream;

pub use cache::{Cache, SetContents};
pub use proxy::{Proxy, ProxyConfig, ProxyHandle, ProxyStats, ResolveError};
pub use selector::{Family, Matcher, SelectorError, normalize, set_name};
pub use sink::{NftSink, SetSink, SinkError};
pub use state::StateError;
