//! metal-api v1: wire types, HMAC authentication and an async client.
//!
//! The same types and the same HMAC code serve both sides: the mesh's services (client) and
//! the embedded metal-api server.

pub mod auth;
pub mod client;
pub mod model;
pub mod tags;

pub use client::{Auth, Client, ClientConfig, Error};
