//! Secure Access credentials: OAuth2 client credentials at `/auth/v2/token` (Basic key:secret)
//! through the shared [`ClientCredentials`], cached per key, and a per-request wrapper that
//! remembers which token generation a request used (for Umbrella's "expired token = 400").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use agentctl_core::Result;
use agentctl_core::auth::{Auth, BearerAuth, TokenCache};
use agentctl_core::http::HttpClient;
use agentctl_core::oauth::ClientCredentials;
use async_trait::async_trait;
use url::Url;

use crate::config::KeyPair;
use crate::unconfirmed;

/// The token endpoint, for the deployments key and the Key Admin key alike.
pub const TOKEN_PATH: &str = "/auth/v2/token";

/// One API key: its token cache and the bearer authenticator over it.
pub struct KeyAuth {
    pub cache: Arc<TokenCache>,
    pub bearer: BearerAuth,
}

impl KeyAuth {
    /// `token_http` should carry the token endpoint's own quota (20/min per key).
    pub fn new(
        token_http: &HttpClient,
        api_url: &Url,
        pair: &KeyPair,
        org_id: Option<&str>,
        label: &str,
    ) -> Result<Self> {
        let token_url = api_url.join(TOKEN_PATH).expect("valid path");
        let mut source = ClientCredentials::new(
            token_http.clone(),
            token_url.to_string(),
            pair.key.clone(),
            pair.secret.clone(),
            label,
        );
        if unconfirmed::ORG_HEADER_ON_TOKEN_REQUEST
            && let Some(org) = org_id
        {
            let value = http::HeaderValue::from_str(org).map_err(|_| {
                agentctl_core::ProviderError::config(format!(
                    "org_id {org:?} is not a valid header value"
                ))
            })?;
            let name = http::HeaderName::from_bytes(unconfirmed::ORG_HEADER.as_bytes())
                .expect("valid header name");
            source = source.with_header(name, value);
        }
        let cache = Arc::new(TokenCache::new(Arc::new(source)));
        Ok(Self {
            bearer: BearerAuth::new(cache.clone()),
            cache,
        })
    }
}

/// Bearer auth for one request that records the token generation it sent.
pub struct Tracked<'a> {
    inner: &'a BearerAuth,
    used: AtomicU64,
}

impl<'a> Tracked<'a> {
    pub fn new(inner: &'a BearerAuth) -> Self {
        Self {
            inner,
            used: AtomicU64::new(0),
        }
    }

    pub fn generation(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

#[async_trait]
impl Auth for Tracked<'_> {
    async fn apply(&self, request: &mut reqwest::Request) -> Result<u64> {
        let generation = self.inner.apply(request).await?;
        self.used.store(generation, Ordering::Relaxed);
        Ok(generation)
    }

    async fn refresh(&self, generation: u64) -> Result<bool> {
        self.inner.refresh(generation).await
    }
}
