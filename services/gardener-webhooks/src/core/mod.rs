//! Pure decisions: no I/O, no clock. Every rule returns the field errors it finds, each naming
//! the field path as Kubernetes' `field.ErrorList` does, so a denial says exactly what to fix.

pub mod bindings;
pub mod cloudprofile;
pub mod defaulter;
pub mod extensions;
pub mod field;
pub mod ignition;
pub mod mutation;
pub mod provider_config;
pub mod secret;
pub mod shoot;

#[cfg(test)]
pub(crate) mod test_support;
