//! The allocator's decisions as plain functions over plain data: no I/O, no clock, no
//! randomness. The actors carry them out against metal-api and Kubernetes.

pub mod config;
pub mod ensure;
pub mod error;
pub mod index;
pub mod lbconfig;
pub mod node;
pub mod outcome;
pub mod render;
pub mod service;
pub mod tags;
pub mod writeplan;
