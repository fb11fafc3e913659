//! The pure decisions of the extension controllers (replacing gardener-extension-provider-metal's
//! Infrastructure, ControlPlane, Worker and health check controllers): what Gardener's operation
//! contract asks of every controller ([`operation`]), what a shoot is made of ([`shoot`]) and, per
//! kind, what to allocate, write and report.

pub mod controlplane;
pub mod health;
pub mod infrastructure;
pub mod operation;
pub mod shoot;
pub mod worker;
