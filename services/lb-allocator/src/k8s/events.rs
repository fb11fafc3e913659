//! Events on Services and Nodes, reported as `lb-allocator`.

pub use mesh_controller::recorder::Events;

pub const REPORTER: &str = "lb-allocator";
