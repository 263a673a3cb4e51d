//! Secureworks Taegis XDR: endpoint assets (list, stale, re-check, uninstall through the
//! endpoint command manager) and API clients, all over the GraphQL gateway at `/graphql`,
//! authenticated with OAuth2 client credentials from `/auth/api/v2/auth/token` or a ready
//! bearer token, and scoped to one tenant with `X-Tenant-Context`.
//!
//! Wire facts: `shared/vendors/taegis.md`; every unconfirmed guess is in [`unconfirmed`].

mod auth;
pub mod client;
pub mod config;
pub mod documents;
pub mod error;
pub mod model;
pub mod unconfirmed;

pub use auth::TOKEN_PATH;
pub use client::{KIND, Taegis};
pub use config::Config;

/// Short names for `agentctl <kind> …` (the kind name is already short).
pub const ALIASES: &[&str] = &[];
