//! The actors that own the allocator's state.

pub mod allocator;
pub mod lbconfig;
pub mod machines;
