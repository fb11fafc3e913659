//! The Kubernetes side: MachineClasses read into checked classes, the Machine controller, and
//! (with `--machine-deployments`) the MachineDeployment and MachineSet controllers.

pub mod classes;
pub mod controller;
pub mod scaling;
