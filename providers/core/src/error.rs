//! Errors every provider reports in the same shape, so the binary can map them to exit codes
//! and print one line per failure without knowing the vendor.

use std::fmt;

/// An operation a provider kind cannot serve, with the reason a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider}: {reason}")]
pub struct NotSupported {
    pub provider: String,
    pub operation: String,
    pub reason: String,
}

/// What went wrong, coarse enough for exit codes and retry decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Missing or malformed configuration; nothing was sent.
    Config,
    /// Invalid user input (ids, names, arguments); nothing was sent.
    Input,
    /// Credentials were refused (after one refresh).
    Auth,
    /// The vendor answered with an error status or error body.
    Api,
    /// Connection, TLS, DNS or timeout.
    Network,
    /// The vendor answered something that does not match its documented format.
    Protocol,
    /// The provider kind cannot do this.
    NotSupported,
}

/// An error from a provider, carrying what the vendor said (status, message, request id).
#[derive(Debug, Clone, thiserror::Error)]
pub struct ProviderError {
    pub kind: ErrorKind,
    /// Configured provider name, filled in by the provider before it returns the error.
    pub provider: Option<String>,
    pub message: String,
    pub status: Option<u16>,
    pub request_id: Option<String>,
    /// A further request may succeed (rate limit, server error, connection reset).
    pub retryable: bool,
    pub hint: Option<String>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            provider: None,
            message: message.into(),
            status: None,
            request_id: None,
            retryable: false,
            hint: None,
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }

    pub fn protocol(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, message)
    }

    pub fn network(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            ..Self::new(ErrorKind::Network, message)
        }
    }

    pub fn api(status: u16, message: impl Into<String>, request_id: Option<String>) -> Self {
        let kind = if status == 401 || status == 403 {
            ErrorKind::Auth
        } else {
            ErrorKind::Api
        };
        Self {
            status: Some(status),
            request_id,
            retryable: status == 429 || status >= 500,
            ..Self::new(kind, message)
        }
    }

    pub fn not_supported(ns: NotSupported) -> Self {
        Self {
            provider: Some(ns.provider.clone()),
            ..Self::new(ErrorKind::NotSupported, ns.reason)
        }
    }

    pub fn with_provider(mut self, provider: &str) -> Self {
        if self.provider.is_none() {
            self.provider = Some(provider.to_string());
        }
        self
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The one-line reason, without the provider prefix: `HTTP 404: Not Found (request id abc)`.
    pub fn reason(&self) -> String {
        let mut out = String::new();
        if let Some(status) = self.status {
            out.push_str(&format!("HTTP {status}: "));
        }
        out.push_str(&self.message);
        if let Some(id) = &self.request_id {
            out.push_str(&format!(" (request id {id})"));
        }
        out
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.provider {
            Some(p) => write!(f, "{p}: {}", self.reason()),
            None => f.write_str(&self.reason()),
        }
    }
}

impl From<NotSupported> for ProviderError {
    fn from(ns: NotSupported) -> Self {
        Self::not_supported(ns)
    }
}

pub type Result<T, E = ProviderError> = std::result::Result<T, E>;
