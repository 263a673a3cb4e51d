//! Secure Endpoint credentials: v1 Basic, and the v3 bearer token obtained by exchanging an
//! XDR client-credentials token at `POST /v3/access_tokens` (or a ready token from config).

use std::sync::Arc;
use std::time::Duration;

use agentctl_core::auth::{Auth, BearerAuth, StaticToken, Token, TokenCache, TokenSource};
use agentctl_core::http::HttpClient;
use agentctl_core::oauth::ClientCredentials;
use agentctl_core::{ErrorKind, Result};
use async_trait::async_trait;
use secrecy::SecretString;
use url::Url;

use crate::config::V3Credentials;
use crate::error::api_error;
use crate::model::AccessToken;
use crate::unconfirmed::V3_TOKEN_ASSUMED_LIFETIME;

/// Exchanges an XDR token for a Secure Endpoint v3 token.
struct V3TokenExchange {
    http: HttpClient,
    url: Url,
    xdr: BearerAuth,
}

#[async_trait]
impl TokenSource for V3TokenExchange {
    async fn fetch(&self) -> Result<Token> {
        // A token exchange changes nothing: retried on 5xx and resets like a read.
        let resp = self
            .http
            .send_token(&self.xdr, |c| {
                c.post(self.url.clone())
                    .header(http::header::ACCEPT, "application/json")
                    .form(&[("grant_type", "client_credentials")])
            })
            .await?;
        if !resp.is_success() {
            let mut e = api_error("exchange the XDR token at /v3/access_tokens", &resp);
            if resp.status.as_u16() == 401 || resp.status.as_u16() == 403 {
                e.kind = ErrorKind::Auth;
                e.hint = Some(
                    "the XDR API client must belong to an XDR / Secure Client org integrated with Secure Endpoint".into(),
                );
            }
            return Err(e);
        }
        let token: AccessToken = resp.json()?;
        let lifetime = token
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(V3_TOKEN_ASSUMED_LIFETIME);
        Ok(Token::new(
            SecretString::from(token.access_token),
            Some(lifetime),
        ))
    }
}

/// Build the v3 bearer authenticator from config.
pub fn v3_auth(http: &HttpClient, api_url: &Url, creds: &V3Credentials) -> Arc<dyn Auth> {
    match creds {
        V3Credentials::Ready(token) => Arc::new(BearerAuth::new(Arc::new(TokenCache::fixed(
            Arc::new(StaticToken(token.clone())),
        )))),
        V3Credentials::Xdr {
            token_url,
            client_id,
            client_secret,
        } => {
            let xdr_url = token_url.join("/iroh/oauth2/token").expect("valid path");
            let xdr = ClientCredentials::new(
                http.clone(),
                xdr_url.to_string(),
                client_id.clone(),
                client_secret.clone(),
                "XDR token",
            );
            let xdr_auth = BearerAuth::new(Arc::new(TokenCache::new(Arc::new(xdr))));
            let exchange = V3TokenExchange {
                http: http.clone(),
                url: api_url.join("/v3/access_tokens").expect("valid path"),
                xdr: xdr_auth,
            };
            Arc::new(BearerAuth::new(Arc::new(TokenCache::new(Arc::new(
                exchange,
            )))))
        }
    }
}
