//! Controller habits shared by every metal-mesh controller: leader election on a Lease,
//! exponential backoff with jitter, status writes that survive conflicts, reconcile metrics,
//! Events published in the background.
//! Finalizers and Events come from kube-runtime (`kube::runtime::finalizer`,
//! `kube::runtime::events`) and are re-exported here so every controller uses the same ones.

pub mod backoff;
pub mod client;
pub mod lease;
pub mod metrics;
pub mod recorder;
pub mod status;

pub use kube::runtime::events;
pub use kube::runtime::finalizer;
