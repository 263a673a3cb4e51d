//! OAuth2 client credentials through the `oauth2` crate, driven by the project's own
//! [`HttpClient`] (so retries, quotas and TLS settings apply to token requests too).

use std::time::Duration;

use async_trait::async_trait;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, ClientId, ClientSecret, RefreshToken, Scope, StandardRevocableToken,
    TokenResponse, TokenUrl,
};
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

/// A token request that got no usable answer, keeping the HTTP client's error (its kind
/// tells a network failure from an open circuit breaker or an oversized answer).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.reason())]
struct TransportError(ProviderError);

#[async_trait]
impl TokenSource for ClientCredentials {
    async fn fetch(&self) -> Result<Token> {
        let token_url = TokenUrl::new(self.token_url.clone())
            .map_err(|e| ProviderError::config(format!("token URL {}: {e}", self.token_url)))?;
        let client = LenientClient::new(ClientId::new(self.client_id.clone()))
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
                // Retried like any idempotent call: asking for a token again changes nothing.
                let resp = http
                    .send_token(&NoAuth, |c| {
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
                    .map_err(TransportError)?;
                seen_status.store(resp.status.as_u16(), std::sync::atomic::Ordering::Relaxed);
                let mut out = http::Response::builder().status(resp.status);
                for (k, v) in &resp.headers {
                    out = out.header(k, v);
                }
                out.body(resp.body.to_vec())
                    .map_err(|e| TransportError(ProviderError::protocol(e.to_string())))
            }
        };
        let mut request = client.exchange_client_credentials();
        for s in &self.scopes {
            request = request.add_scope(oauth2::Scope::new(s.clone()));
        }
        let response = request.request_async(&send).await.map_err(|e| {
            self.map_error(e, last_status.load(std::sync::atomic::Ordering::Relaxed))
        })?;
        let access_token = response.access_token().secret();
        let expires_in = token_lifetime(response.expires_in(), access_token);
        Ok(Token::new(
            SecretString::from(access_token.to_string()),
            Some(expires_in),
        ))
    }
}

/// How long a token is assumed to live when its answer has no `expires_in` and it is not a
/// JWT with an `exp` claim. Short, so an unknown lifetime costs an early refresh at worst (a
/// 401 refreshes anyway).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// The lifetime of a new token: `expires_in` when the answer has it, else the time left until
/// the JWT's `exp` claim, else [`DEFAULT_TOKEN_LIFETIME`].
pub fn token_lifetime(expires_in: Option<Duration>, access_token: &str) -> Duration {
    expires_in
        .or_else(|| {
            jwt_exp(access_token).map(|exp| {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Duration::from_secs(exp).saturating_sub(now)
            })
        })
        .unwrap_or(DEFAULT_TOKEN_LIFETIME)
}

/// The `exp` claim of a JWT (seconds since the epoch), read without verifying the signature.
pub fn jwt_exp(token: &str) -> Option<u64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    match &claims["exp"] {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f as u64)),
        _ => None,
    }
}

/// The oauth2 client with [`LenientTokenResponse`] in place of the standard token answer.
type LenientClient = oauth2::Client<
    BasicErrorResponse,
    LenientTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// A token answer as real servers send it: only `access_token` is required. `token_type` may
/// be missing (Taegis's official SDK reads only `access_token`) and is not checked;
/// `expires_in` may be missing, a number or a numeric string; unknown fields are ignored.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct LenientTokenResponse {
    access_token: AccessToken,
    #[serde(skip, default = "bearer")]
    token_type: BasicTokenType,
    #[serde(default, deserialize_with = "lenient_seconds")]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(skip)]
    scopes: Option<Vec<Scope>>,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

/// `expires_in` as a number of seconds: an integer, a float or a numeric string; anything
/// else (null, negative, text) counts as absent.
fn lenient_seconds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let v = <Option<serde_json::Value> as serde::Deserialize>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Some(serde_json::Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    })
}

impl TokenResponse for LenientTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
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
    fn map_error(
        &self,
        e: oauth2::RequestTokenError<TransportError, oauth2::basic::BasicErrorResponse>,
        status: u16,
    ) -> ProviderError {
        use oauth2::RequestTokenError as E;
        match e {
            // An OAuth error body with a status that is no refusal (a 5xx that outlived the
            // retries, a 429): the service failed, the credentials were not judged.
            E::ServerResponse(r) if status != 0 && status != 400 && status != 401 => {
                let mut msg = format!("{}: {}", self.label, r.error());
                if let Some(d) = r.error_description() {
                    msg.push_str(&format!(" ({d})"));
                }
                ProviderError::api(status, msg, None)
            }
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
            E::Request(TransportError(mut inner)) => {
                inner.message = format!("{}: {}", self.label, inner.message);
                inner
            }
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
                if matches!(status, 0 | 400 | 401)
                    && (snippet.to_ascii_lowercase().contains("unauthorized")
                        || snippet.contains("invalid_client"))
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

    /// Token answers as real servers send them: no `token_type`, no `expires_in`, a numeric
    /// string, extra fields.
    #[tokio::test]
    async fn token_answers_without_type_or_lifetime_are_accepted() {
        use base64::Engine;
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1000;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let jwt = format!(
            "{}.{}.sig",
            e(r#"{"alg":"HS256"}"#),
            e(&format!(r#"{{"exp":{exp}}}"#))
        );
        let answers: Vec<(&'static str, String)> = vec![
            ("/bare", r#"{"access_token":"t-bare"}"#.to_string()),
            ("/jwt", format!(r#"{{"access_token":"{jwt}"}}"#)),
            (
                "/text",
                r#"{"access_token":"t-text","token_type":"Bearer","expires_in":"120","scope":"a b","extra":{"x":[1]}}"#
                    .to_string(),
            ),
            (
                "/float",
                r#"{"access_token":"t-float","expires_in":59.5,"token_type":null}"#.to_string(),
            ),
        ];
        let mut app = axum::Router::new();
        for (path, body) in answers {
            app = app.route(
                path,
                axum::routing::post(move || async move {
                    (StatusCode::OK, [("content-type", "application/json")], body)
                }),
            );
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let http = HttpClient::new(HttpOptions::new("t")).unwrap();
        let fetch = |path: &str| {
            ClientCredentials::new(
                http.clone(),
                format!("http://{addr}{path}"),
                "id".into(),
                SecretString::from("s".to_string()),
                "test token",
            )
        };
        let bare = fetch("/bare").fetch().await.unwrap();
        assert_eq!(bare.secret.expose_secret(), "t-bare");
        assert_eq!(bare.lifetime, Some(DEFAULT_TOKEN_LIFETIME));
        let from_jwt = fetch("/jwt").fetch().await.unwrap();
        let life = from_jwt.lifetime.unwrap().as_secs();
        assert!((990..=1000).contains(&life), "{life}");
        let text = fetch("/text").fetch().await.unwrap();
        assert_eq!(text.secret.expose_secret(), "t-text");
        assert_eq!(text.lifetime, Some(Duration::from_secs(120)));
        let float = fetch("/float").fetch().await.unwrap();
        assert_eq!(float.lifetime, Some(Duration::from_secs(59)));
    }

    #[test]
    fn lifetime_prefers_expires_in_then_jwt_exp_then_the_default() {
        assert_eq!(
            token_lifetime(Some(Duration::from_secs(7)), "x.y.z"),
            Duration::from_secs(7)
        );
        assert_eq!(token_lifetime(None, "opaque"), DEFAULT_TOKEN_LIFETIME);
        // An expired JWT: zero left, so the next use refreshes.
        let past = format!(
            "h.{}.s",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                r#"{"exp":12}"#
            )
        );
        assert_eq!(token_lifetime(None, &past), Duration::ZERO);
        assert_eq!(jwt_exp("a.!!!.c"), None);
    }
}
