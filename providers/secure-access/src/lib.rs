//! Cisco Secure Access (`api.sse.cisco.com`): roaming computers (list, stale, delete), network
//! tunnel groups (`tunnels` listing) and API keys through the Key Admin API (`clients`), all
//! with OAuth2 client-credentials tokens from `/auth/v2/token`.
//!
//! Wire facts: `shared/vendors/secure-access.md`; every unconfirmed guess is in
//! [`unconfirmed`].

mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod keyadmin;
pub mod model;
#[cfg(feature = "sim")]
pub mod sim;
pub mod unconfirmed;

pub use client::{DEFAULT_RATE_LIMIT, KIND, SecureAccess, TOKEN_RATE_LIMIT};
pub use config::Config;

/// Short names for `agentctl <kind> …`.
pub const ALIASES: &[&str] = &["sa"];
