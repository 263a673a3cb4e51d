//! Trend Micro Apex Central (Automation API): every request carries a fresh HS256 JWT whose
//! `checksum` claim hashes the method, path + query and body actually sent.
//!
//! Agents come from `GET /WebApp/API/AgentResource/ProductAgents`, servers from
//! `GET /WebApp/API/ServerResource/ProductServers`; uninstall and relocate are `POST`s to the
//! agent resource. The API reports no last-seen time, so `stale` is not possible.
//!
//! Wire facts: `shared/vendors/apex-central.md`; every unconfirmed guess is in
//! [`unconfirmed`].

pub mod auth;
pub mod client;
pub mod config;
pub mod error;
pub mod model;
#[cfg(feature = "sim")]
pub mod sim;
pub mod unconfirmed;

pub use client::{ApexCentral, KIND};
pub use config::Config;

/// Short names for `agentctl <kind> …`.
pub const ALIASES: &[&str] = &["apex"];
