//! OAuth2 client credentials through the `oauth2` crate, driven by the project's own
//! [`HttpClient`] (so retries, quotas and TLS settings apply to token requests too).

use std::time::Duration;

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, TokenResponse, TokenUrl};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::{NoAuth, Token, TokenSource};
use crate::error::{ErrorKind, ProviderError, Result};
use crate::http::HttpClient;

/// `grant_type=client_credentials` with HTTP Basic client authentication.
///
/// The Basic header is `base64(client_id ":" client_secret)` with both parts as they are —
/// what every vendor here documents and what `curl -u` and Python `requests` send. The oauth2
/// crate would form-urlencode each part first (RFC 6749 §2.3.1), which differs for a secret
/// with reserved characters (`+ / = & :`) and is refused by a server that does not decode.
pub struct ClientCredentials {
    http: HttpClient,
    token_url: String,
    client_id: String,
    client_secret: SecretString,
    scopes: Vec<String>,
    /// Extra headers sent with the token request (e.g. a child-organization id).
    headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// What the token is for, in error messages ("XDR token").
    label: String,
}

impl ClientCredentials {
    pub fn new(
        http: HttpClient,
        token_url: String,
        client_id: String,
        client_secret: SecretString,
        label: &str,
    ) -> Self {
        Self {
            http,
            token_url,
            client_id,
            client_secret,
            scopes: Vec::new(),
            headers: Vec::new(),
            label: label.to_string(),
        }
    }

    pub fn with_scopes(mut self, scopes: Vec<String>) -> Self {
        self.scopes = scopes;
        self
    }

    /// Send `name: value` with every token request (some vendors select a child
    /// organization this way).
    pub fn with_header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn fetch(&self) -> Result<Token> {
        let token_url = TokenUrl::new(self.token_url.clone())
            .map_err(|e| ProviderError::config(format!("token URL {}: {e}", self.token_url)))?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                self.client_secret.expose_secret().to_string(),
            ))
            .set_auth_type(AuthType::BasicAuth)
            .set_token_uri(token_url);
        let http = self.http.clone();
        let extra = self.headers.clone();
        let basic = basic_header(&self.client_id, &self.client_secret);
        // The status of the last token response, so a refusal with a non-OAuth body (plain
        // `{"message": ...}`) is still reported as an authentication error.
        let last_status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
        let seen_status = last_status.clone();
        let send = move |req: oauth2::HttpRequest| {
            let http = http.clone();
            let extra = extra.clone();
            let basic = basic.clone();
            let seen_status = seen_status.clone();
            async move {
                let (parts, body) = req.into_parts();
                let resp = http
                    .send(&NoAuth, |c| {
                        let mut b = c.request(parts.method.clone(), parts.uri.to_string());
                        for (k, v) in &parts.headers {
                            if k != http::header::AUTHORIZATION {
                                b = b.header(k, v);
                            }
                        }
                        b = b.header(http::header::AUTHORIZATION, basic.clone());
                        for (k, v) in &extra {
                            b = b.header(k, v);
                        }
                        b.body(body.clone())
                    })
                    .await
                    .map_err(|e| TransportError(e.reason()))?;
                seen_status.store(resp.status.as_u16(), std::sync::atomic::Ordering::Relaxed);
                let mut out = http::Response::builder().status(resp.status);
                for (k, v) in &resp.headers {
                    out = out.header(k, v);
                }
                out.body(resp.body.to_vec())
                    .map_err(|e| TransportError(e.to_string()))
            }
        };
        let mut request = client.exchange_client_credentials();
        for s in &self.scopes {
            request = request.add_scope(oauth2::Scope::new(s.clone()));
        }
        let response = request.request_async(&send).await.map_err(|e| {
            self.map_error(e, last_status.load(std::sync::atomic::Ordering::Relaxed))
        })?;
        let expires_in = response.expires_in().or(Some(Duration::from_secs(300)));
        Ok(Token::new(
            SecretString::from(response.access_token().secret().to_string()),
            expires_in,
        ))
    }
}

/// `Basic base64(id:secret)`, marked sensitive so it is never logged.
fn basic_header(client_id: &str, secret: &SecretString) -> http::HeaderValue {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{client_id}:{}", secret.expose_secret()));
    let mut value = http::HeaderValue::from_str(&format!("Basic {encoded}"))
        .expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

impl ClientCredentials {
    fn map_error<RE: std::error::Error + 'static>(
        &self,
        e: oauth2::RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
        status: u16,
    ) -> ProviderError {
        use oauth2::RequestTokenError as E;
        match e {
            E::ServerResponse(r) => {
                let mut msg = format!("{} refused: {}", self.label, r.error());
                if let Some(d) = r.error_description() {
                    msg.push_str(&format!(" ({d})"));
                }
                let mut err = ProviderError::new(ErrorKind::Auth, msg);
                err.hint =
                    Some("check the client id and secret, and that the client is enabled".into());
                err
            }
            E::Request(inner) => ProviderError::network(format!("{}: {inner}", self.label)),
            E::Parse(inner, body) => {
                let text = String::from_utf8_lossy(&body);
                // A 401 / 403 with a non-OAuth body lands here too.
                let snippet: String = text.chars().take(200).collect();
                if status == 401 || status == 403 {
                    let mut err = ProviderError::new(
                        ErrorKind::Auth,
                        format!("{} refused: {snippet}", self.label),
                    );
                    err.status = Some(status);
                    err.hint = Some(
                        "check the client id and secret, and that the client is enabled".into(),
                    );
                    return err;
                }
                let mut err = ProviderError::protocol(format!(
                    "{}: unexpected token response ({inner}): {snippet}",
                    self.label
                ));
                if status != 0 {
                    err.status = Some(status);
                }
                if snippet.to_ascii_lowercase().contains("unauthorized")
                    || snippet.contains("invalid_client")
                {
                    err.kind = ErrorKind::Auth;
                }
                err
            }
            E::Other(msg) => ProviderError::protocol(format!("{}: {msg}", self.label)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpOptions;
    use axum::http::{HeaderMap, StatusCode};

    /// A token endpoint that refuses with a plain `{"message"}` body unless the extra header
    /// arrives.
    async fn serve() -> String {
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(|headers: HeaderMap| async move {
                // The documented form: base64 of "id:secret" as they are, not form-encoded.
                let raw_basic = format!(
                    "Basic {}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        "id:s+/=&:odd"
                    )
                );
                let basic_ok = headers
                    .get("authorization")
                    .is_some_and(|v| v.to_str().ok() == Some(raw_basic.as_str()));
                if basic_ok && headers.get("x-org").and_then(|v| v.to_str().ok()) == Some("42") {
                    (
                        StatusCode::OK,
                        [("content-type", "application/json")],
                        r#"{"token_type":"bearer","access_token":"t1","expires_in":3600}"#,
                    )
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        [("content-type", "application/json")],
                        r#"{"message":"Invalid credentials"}"#,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/token")
    }

    #[tokio::test]
    async fn raw_basic_and_extra_headers_are_sent_and_a_plain_401_is_an_auth_error() {
        let url = serve().await;
        let http = HttpClient::new(HttpOptions::new("t")).unwrap();
        let source = |with_header: bool| {
            let cc = ClientCredentials::new(
                http.clone(),
                url.clone(),
                "id".into(),
                SecretString::from("s+/=&:odd".to_string()),
                "test token",
            );
            if with_header {
                cc.with_header(
                    http::HeaderName::from_static("x-org"),
                    http::HeaderValue::from_static("42"),
                )
            } else {
                cc
            }
        };
        let token = source(true).fetch().await.unwrap();
        assert_eq!(token.secret.expose_secret(), "t1");
        let e = source(false).fetch().await.unwrap_err();
        assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(401)));
        assert!(e.message.contains("Invalid credentials"), "{}", e.message);
    }
}
