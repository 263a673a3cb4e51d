//! Taegis credentials: OAuth2 client credentials at `/auth/api/v2/auth/token` through the
//! shared [`ClientCredentials`], with the token's expiry read from its JWT `exp` claim, or a
//! ready bearer token that cannot be refreshed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentctl_core::Result;
use agentctl_core::auth::{BearerAuth, StaticToken, Token, TokenCache, TokenSource};
use agentctl_core::http::HttpClient;
use agentctl_core::oauth::ClientCredentials;
use async_trait::async_trait;
use secrecy::ExposeSecret;
use url::Url;

use crate::config::Credentials;

pub const TOKEN_PATH: &str = "/auth/api/v2/auth/token";

/// The `exp` claim of a JWT, read without verifying the signature (shared with every kind).
pub use agentctl_core::oauth::jwt_exp;

/// Time left until `exp` (zero when it has passed).
pub fn until_exp(exp: u64, now: SystemTime) -> Duration {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    Duration::from_secs(exp).saturating_sub(now)
}

/// Client credentials whose tokens expire when their JWT says (the server enforces `exp`;
/// `expires_in` is used only for a token that is not a readable JWT).
struct JwtExpiry(ClientCredentials);

#[async_trait]
impl TokenSource for JwtExpiry {
    async fn fetch(&self) -> Result<Token> {
        let token = self.0.fetch().await?;
        match jwt_exp(token.secret.expose_secret()) {
            Some(exp) => {
                let left = until_exp(exp, SystemTime::now());
                Ok(Token::new(token.secret, Some(left)))
            }
            None => Ok(token),
        }
    }
}

/// The token cache and bearer authenticator of one provider.
pub struct TaegisAuth {
    pub cache: Arc<TokenCache>,
    pub bearer: BearerAuth,
    /// A ready token: a 401 means it was refused or expired, it cannot be refreshed.
    pub fixed: bool,
}

impl TaegisAuth {
    pub fn new(http: &HttpClient, api_url: &Url, credentials: &Credentials) -> Self {
        let (cache, fixed) = match credentials {
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                let token_url = api_url.join(TOKEN_PATH).expect("valid path");
                let source = ClientCredentials::new(
                    http.clone(),
                    token_url.to_string(),
                    client_id.clone(),
                    client_secret.clone(),
                    "Taegis token",
                );
                (TokenCache::new(Arc::new(JwtExpiry(source))), false)
            }
            Credentials::Token(t) => (TokenCache::fixed(Arc::new(StaticToken(t.clone()))), true),
        };
        let cache = Arc::new(cache);
        Self {
            bearer: BearerAuth::new(cache.clone()),
            cache,
            fixed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn jwt(claims: &str) -> String {
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(r#"{"alg":"HS256","typ":"JWT"}"#), e(claims))
    }

    #[test]
    fn reads_exp_without_verifying() {
        assert_eq!(
            jwt_exp(&jwt(r#"{"exp":1900000000,"sub":"x"}"#)),
            Some(1_900_000_000)
        );
        assert_eq!(
            jwt_exp(&jwt(r#"{"exp":1900000000.5}"#)),
            Some(1_900_000_000)
        );
        assert_eq!(jwt_exp(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_exp("not-a-jwt"), None);
        assert_eq!(jwt_exp("a.!!!.c"), None);
        // Padded base64url is tolerated.
        let padded = format!(
            "h.{}.s",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":12}"#)
        );
        assert_eq!(jwt_exp(&padded), Some(12));
    }

    #[test]
    fn time_left_until_exp() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        assert_eq!(until_exp(1600, now), Duration::from_secs(600));
        assert_eq!(until_exp(900, now), Duration::ZERO);
    }
}
