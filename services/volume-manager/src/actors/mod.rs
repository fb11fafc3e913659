pub mod vg;
