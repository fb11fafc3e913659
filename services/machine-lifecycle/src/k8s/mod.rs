//! The Kubernetes side: MachineClasses read into checked classes, and the Machine controller.

pub mod classes;
pub mod controller;
