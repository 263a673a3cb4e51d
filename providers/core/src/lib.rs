//! The `agentctl` provider contract and the HTTP plumbing every vendor shares.
//!
//! - [`provider::Provider`]: the trait each vendor kind implements (list as a stream,
//!   re-check, act, extra listings, doctor, API clients), with [`error::NotSupported`] for
//!   what a kind cannot do.
//! - [`identity`]: the machine-identity rule (first DNS label, Unicode case folding, NetBIOS
//!   truncation, MAC / serial forms) shared by `--host` and every cross-console feature.
//! - [`record::AgentRecord`]: the common agent row (SPEC's columns plus the raw vendor JSON).
//! - [`http::HttpClient`]: rustls, private CA, proxies, timeouts, retries with backoff that
//!   honour `Retry-After` and reset headers, client-side quotas, and on a 401 a fresh
//!   token and a retry, at most twice per request.
//! - [`auth`], [`oauth`]: Basic, bearer token cache, OAuth2 client credentials.
//! - [`secret::SecretRef`]: `env:` / `file:` / literal secrets that never print.
//! - [`wire::Text`]: a JSON string borrowed from the response body wherever it sits.

pub mod auth;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod error;
pub mod http;
pub mod identity;
pub mod oauth;
pub mod provider;
pub mod ratelimit;
pub mod record;
pub mod retry;
#[cfg(feature = "sim")]
pub mod roster;
pub mod secret;
#[cfg(feature = "sim")]
pub mod sim;
pub mod time;
pub mod wire;

pub use error::{ErrorKind, NotSupported, ProviderError, Result};
pub use provider::{
    Action, ActionOutcome, ApiClient, Check, HostPattern, ListQuery, ListTally, Listing, NewClient,
    NewClientSecret, Operation, Provider, Recheck, RelocateTarget,
};
pub use record::{AgentRecord, AgentRef};
