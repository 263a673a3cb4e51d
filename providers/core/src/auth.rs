//! Request authentication: Basic, bearer tokens from a cache, and the token cache itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine;
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::error::{ErrorKind, ProviderError, Result};

/// Adds credentials to a request. Called once per attempt, so a scheme that signs each request
/// (a fresh JWT over the exact bytes sent) sees the final URL and body every time.
#[async_trait]
pub trait Auth: Send + Sync {
    /// Add credentials; returns the credential generation used (see [`Auth::refresh`]).
    async fn apply(&self, request: &mut reqwest::Request) -> Result<u64>;

    /// The server answered 401 to a request made with `generation`. Returns true when fresh
    /// credentials are now available and the request is worth sending once more.
    async fn refresh(&self, _generation: u64) -> Result<bool> {
        Ok(false)
    }
}

/// No credentials (token endpoints that take them in the body, or tests).
pub struct NoAuth;

#[async_trait]
impl Auth for NoAuth {
    async fn apply(&self, _request: &mut reqwest::Request) -> Result<u64> {
        Ok(0)
    }
}

fn sensitive(value: String) -> HeaderValue {
    let mut v = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}

/// `Authorization: Basic base64(user:password)`.
pub struct BasicAuth {
    header: HeaderValue,
}

impl BasicAuth {
    pub fn new(user: &str, password: &SecretString) -> Self {
        let encoded = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{}", password.expose_secret()));
        Self {
            header: sensitive(format!("Basic {encoded}")),
        }
    }
}

#[async_trait]
impl Auth for BasicAuth {
    async fn apply(&self, request: &mut reqwest::Request) -> Result<u64> {
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, self.header.clone());
        Ok(0)
    }
}

/// A bearer token with its expiry, as a token endpoint returned it.
#[derive(Clone)]
pub struct Token {
    pub secret: SecretString,
    /// When it stops working; `None` when the issuer did not say.
    pub expires_at: Option<Instant>,
    /// How long it was valid when issued.
    pub lifetime: Option<Duration>,
}

impl Token {
    pub fn new(secret: SecretString, expires_in: Option<Duration>) -> Self {
        Self {
            secret,
            expires_at: expires_in.map(|d| Instant::now() + d),
            lifetime: expires_in,
        }
    }

    /// Due for a refresh: within a fifth of its lifetime (at most 60 s) of expiring.
    pub fn needs_refresh(&self, now: Instant) -> bool {
        match (self.expires_at, self.lifetime) {
            (Some(at), Some(life)) => {
                let margin = (life / 5).min(Duration::from_secs(60));
                now + margin >= at
            }
            (Some(at), None) => now >= at,
            _ => false,
        }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Something that can obtain a new token (OAuth2 client credentials, a token exchange, a file).
#[async_trait]
pub trait TokenSource: Send + Sync {
    async fn fetch(&self) -> Result<Token>;
}

/// A ready token given by the user (config `token = "env:…"`): it cannot be refreshed.
pub struct StaticToken(pub SecretString);

#[async_trait]
impl TokenSource for StaticToken {
    async fn fetch(&self) -> Result<Token> {
        Ok(Token::new(self.0.clone(), None))
    }
}

/// Caches one token in memory, fetches a new one shortly before expiry, and at most once per
/// 401 however many requests in flight saw that 401. Tokens never touch the disk.
pub struct TokenCache {
    source: Arc<dyn TokenSource>,
    state: Mutex<Option<(Token, u64)>>,
    refreshable: bool,
}

impl TokenCache {
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        Self {
            source,
            state: Mutex::new(None),
            refreshable: true,
        }
    }

    /// For a token the user supplied: a 401 means it is wrong or expired, not worth refetching.
    pub fn fixed(source: Arc<dyn TokenSource>) -> Self {
        Self {
            refreshable: false,
            ..Self::new(source)
        }
    }

    /// A valid token and its generation.
    pub async fn get(&self) -> Result<(SecretString, u64)> {
        let mut state = self.state.lock().await;
        if let Some((token, generation)) = state.as_ref()
            && !token.needs_refresh(Instant::now())
        {
            return Ok((token.secret.clone(), *generation));
        }
        let generation = state.as_ref().map_or(1, |(_, g)| g + 1);
        let token = self.source.fetch().await?;
        let secret = token.secret.clone();
        *state = Some((token, generation));
        Ok((secret, generation))
    }

    /// Drop the token of `generation` if it is still the cached one; true when a later
    /// [`TokenCache::get`] will fetch or has fetched a newer token.
    pub async fn invalidate(&self, generation: u64) -> bool {
        if !self.refreshable {
            return false;
        }
        let mut state = self.state.lock().await;
        match state.as_ref() {
            Some((_, current)) if *current == generation => {
                if let Some((token, _)) = state.as_mut() {
                    token.expires_at = Some(Instant::now());
                    token.lifetime = None;
                }
                true
            }
            Some(_) => true,
            None => true,
        }
    }
}

/// `Authorization: Bearer <token>` from a [`TokenCache`].
pub struct BearerAuth {
    cache: Arc<TokenCache>,
}

impl BearerAuth {
    pub fn new(cache: Arc<TokenCache>) -> Self {
        Self { cache }
    }
}

#[async_trait]
impl Auth for BearerAuth {
    async fn apply(&self, request: &mut reqwest::Request) -> Result<u64> {
        let (token, generation) = self.cache.get().await?;
        request.headers_mut().insert(
            http::header::AUTHORIZATION,
            sensitive(format!("Bearer {}", token.expose_secret())),
        );
        Ok(generation)
    }

    async fn refresh(&self, generation: u64) -> Result<bool> {
        Ok(self.cache.invalidate(generation).await)
    }
}

/// The error a provider reports when credentials were refused even after a refresh.
pub fn auth_error(
    what: &str,
    status: u16,
    message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let mut e = ProviderError::api(status, format!("{what}: {message}"), request_id);
    e.kind = ErrorKind::Auth;
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct Counting {
        calls: AtomicU32,
        ttl: Duration,
    }

    #[async_trait]
    impl TokenSource for Counting {
        async fn fetch(&self) -> Result<Token> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(Token::new(
                SecretString::from(format!("tok{n}")),
                Some(self.ttl),
            ))
        }
    }

    #[tokio::test]
    async fn reuses_until_near_expiry_and_refreshes_once_per_401() {
        let src = Arc::new(Counting {
            calls: AtomicU32::new(0),
            ttl: Duration::from_secs(600),
        });
        let cache = TokenCache::new(src.clone());
        let (t1, g1) = cache.get().await.unwrap();
        let (t2, g2) = cache.get().await.unwrap();
        assert_eq!(t1.expose_secret(), t2.expose_secret());
        assert_eq!(g1, g2);
        assert_eq!(src.calls.load(Ordering::SeqCst), 1);
        // Eight requests in flight all saw a 401 with generation g1: one refetch.
        for _ in 0..8 {
            assert!(cache.invalidate(g1).await);
        }
        let (t3, g3) = cache.get().await.unwrap();
        assert_eq!(t3.expose_secret(), "tok2");
        assert!(
            cache.invalidate(g1).await,
            "stale generation: newer token already there"
        );
        let (_, g4) = cache.get().await.unwrap();
        assert_eq!(g3, g4);
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn refreshes_before_expiry() {
        let src = Arc::new(Counting {
            calls: AtomicU32::new(0),
            ttl: Duration::from_millis(50),
        });
        let cache = TokenCache::new(src.clone());
        cache.get().await.unwrap();
        // Margin is a fifth of 50 ms: after 45 ms the token is due.
        tokio::time::sleep(Duration::from_millis(45)).await;
        cache.get().await.unwrap();
        assert_eq!(src.calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn fixed_token_is_not_refetched() {
        let cache = TokenCache::fixed(Arc::new(StaticToken(SecretString::from(
            "ready".to_string(),
        ))));
        let (_, g) = cache.get().await.unwrap();
        assert!(!cache.invalidate(g).await);
    }

    #[test]
    fn token_debug_is_redacted() {
        let t = Token::new(SecretString::from("abc-secret".to_string()), None);
        assert!(!format!("{t:?}").contains("abc-secret"));
    }
}
