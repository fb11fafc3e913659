//! gardener-webhooks: Gardener's admission and mutation for shoots of type metal (replaces
//! gardener-extension-provider-metal's webhooks and its admission component).
//!
//! Work in progress (issue 13): so far the pure core of the garden admission's provider-config
//! decoding and its Secret and CloudProfile rules; the Shoot rules, the defaulter, the seed and
//! shoot mutations and the HTTPS service follow.

pub mod core;
