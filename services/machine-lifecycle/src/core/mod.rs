//! The pure core: what the driver asks metal-api and how it reads the answers, the error codes,
//! the Machine status the controller writes, and the MachineDeployment and MachineSet scaling.
//! No I/O, no clock.

pub mod class;
pub mod code;
pub mod lifecycle;
pub mod machines;
pub mod retry;
pub mod scaling;
pub mod tags;
