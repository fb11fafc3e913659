//! The pure core: validation and compilation, no I/O, no clock.

pub mod compile;
pub mod decompose;
pub mod firewall;
pub mod policy;
pub mod ranges;
pub mod service;
