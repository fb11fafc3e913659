//! The pure core: every decision the driver makes (names, sizes, parameters, what to create,
//! what a volume group can still hold), as plain functions over plain data. No I/O.

pub mod capacity;
pub mod model;
pub mod names;
pub mod paging;
pub mod params;
pub mod plan;
pub mod report;
pub mod size;
pub mod tags;
