//! The actors of the metal-api service.

pub mod inventory;

pub use inventory::{Exec, Inventory};
