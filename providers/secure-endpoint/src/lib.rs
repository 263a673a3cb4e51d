//! Cisco Secure Endpoint (formerly AMP for Endpoints): v1 API with Basic auth for listing,
//! v3 API with a bearer token (from an XDR API client, or a ready token) for uninstall.
//!
//! Wire facts: `shared/vendors/secure-endpoint.md`; every unconfirmed guess is in
//! [`unconfirmed`].

mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod model;
#[cfg(feature = "sim")]
pub mod sim;
pub mod unconfirmed;

pub use client::{KIND, SecureEndpoint};
pub use config::Config;

/// Short names for `agentctl <kind> …`.
pub const ALIASES: &[&str] = &["se"];
