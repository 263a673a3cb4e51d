//! Apex Central request signing: a fresh HS256 JWT per request whose `checksum` claim is
//! `base64(SHA-256(METHOD|lower(path+query)|canonical headers|body))` over exactly what is sent.
//!
//! [`ApexAuth`] implements the provider contract's [`Auth`], which sees the fully built request
//! on every attempt, so a retried request is signed again with a new `iat`.

use std::time::{SystemTime, UNIX_EPOCH};

use agentctl_core::auth::Auth;
use agentctl_core::{ProviderError, Result};
use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::unconfirmed;

/// The JWT header, compact, in the order the vendor's samples and test vectors use.
pub const JWT_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// The only token version Apex Central accepts.
pub const TOKEN_VERSION: &str = "V1";

/// The JWT payload. Field order is the order on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub appid: String,
    pub iat: u64,
    pub version: String,
    pub checksum: String,
}

/// The raw URL part of the checksum: path and query exactly as sent, lower-cased; no `?` when
/// the query is empty.
pub fn raw_url(path: &str, query: Option<&str>) -> String {
    match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}").to_lowercase(),
        None => path.to_lowercase(),
    }
}

/// The string that is hashed: `METHOD|raw url|canonical headers|body`.
pub fn checksum_input(
    method: &str,
    raw_url: &str,
    canonical_headers: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(method.len() + raw_url.len() + body.len() + 3);
    out.extend_from_slice(method.to_uppercase().as_bytes());
    out.push(b'|');
    out.extend_from_slice(raw_url.as_bytes());
    out.push(b'|');
    out.extend_from_slice(canonical_headers.as_bytes());
    out.push(b'|');
    out.extend_from_slice(body);
    out
}

/// `base64(SHA-256(input))`, standard alphabet with padding.
pub fn checksum(method: &str, raw_url: &str, body: &[u8]) -> String {
    let input = checksum_input(method, raw_url, unconfirmed::CANONICAL_HEADERS, body);
    STANDARD.encode(Sha256::digest(&input))
}

/// A signed compact JWT for `claims`.
pub fn token(claims: &Claims, key: &EncodingKey) -> Result<SecretString> {
    let payload = serde_json::to_vec(claims)
        .map_err(|e| ProviderError::protocol(format!("cannot encode JWT claims: {e}")))?;
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(JWT_HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::HS256)
        .map_err(|e| ProviderError::protocol(format!("cannot sign the JWT: {e}")))?;
    Ok(SecretString::from(format!("{message}.{signature}")))
}

/// Seconds since the Unix epoch, now.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Signs every request with the application ID and API key.
pub struct ApexAuth {
    application_id: String,
    key: EncodingKey,
}

impl std::fmt::Debug for ApexAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApexAuth")
            .field("application_id", &self.application_id)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

impl ApexAuth {
    pub fn new(application_id: &str, api_key: &SecretString) -> Self {
        Self {
            application_id: application_id.to_string(),
            key: EncodingKey::from_secret(api_key.expose_secret().as_bytes()),
        }
    }

    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The claims for `request` issued at `iat`.
    pub fn claims(&self, request: &reqwest::Request, iat: u64) -> Result<Claims> {
        if let Some(name) = request
            .headers()
            .keys()
            .find(|n| n.as_str().starts_with("api"))
        {
            return Err(ProviderError::protocol(format!(
                "request header {name} would enter the checksum, whose format for such headers is unconfirmed; not sending it"
            )));
        }
        let body: &[u8] = match request.body() {
            None => b"",
            Some(b) => b.as_bytes().ok_or_else(|| {
                ProviderError::protocol("a streamed request body cannot be checksummed")
            })?,
        };
        let url = request.url();
        Ok(Claims {
            appid: self.application_id.clone(),
            iat,
            version: TOKEN_VERSION.to_string(),
            checksum: checksum(
                request.method().as_str(),
                &raw_url(url.path(), url.query()),
                body,
            ),
        })
    }

    /// Sign `request` as issued at `iat` (tests use a fixed or an old `iat`).
    pub fn sign_request(&self, request: &mut reqwest::Request, iat: u64) -> Result<()> {
        // A bare `?` would be sent but not hashed; drop it so both agree.
        if request.url().query() == Some("") {
            request.url_mut().set_query(None);
        }
        let claims = self.claims(request, iat)?;
        let jwt = token(&claims, &self.key)?;
        let mut value = http::HeaderValue::from_str(&format!("Bearer {}", jwt.expose_secret()))
            .map_err(|_| ProviderError::protocol("the JWT is not a valid header value"))?;
        value.set_sensitive(true);
        request
            .headers_mut()
            .insert(http::header::AUTHORIZATION, value);
        Ok(())
    }
}

#[async_trait]
impl Auth for ApexAuth {
    async fn apply(&self, request: &mut reqwest::Request) -> Result<u64> {
        self.sign_request(request, now_unix())?;
        Ok(0)
    }
    // `refresh` keeps the default (false): every attempt is signed afresh anyway, so a 401 is
    // the server's final word (wrong key, application ID or clock).
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    const AGENTS: &str = "/WebApp/API/AgentResource/ProductAgents";
    const SERVERS: &str = "/WebApp/API/ServerResource/ProductServers";

    fn key() -> SecretString {
        SecretString::from("APIKEY".to_string())
    }

    #[test]
    fn vector_get_agents_with_host_name() {
        let raw = raw_url(AGENTS, Some("host_name=ABC"));
        assert_eq!(raw, "/webapp/api/agentresource/productagents?host_name=abc");
        assert_eq!(
            checksum_input("GET", &raw, "", b""),
            b"GET|/webapp/api/agentresource/productagents?host_name=abc||"
        );
        assert_eq!(
            checksum("GET", &raw, b""),
            "KqpqHAnwUxuCG9MJWTA79HQ3ASHMluiixg81i8dMgnA="
        );
    }

    #[test]
    fn vector_get_servers() {
        assert_eq!(
            checksum("GET", &raw_url(SERVERS, None), b""),
            "UN6y2hyaFH3W29YDKanCrdWHZdmTFQTUgB2FSJBrrpU="
        );
        // An empty query does not append `?`.
        assert_eq!(raw_url(SERVERS, Some("")), raw_url(SERVERS, None));
    }

    #[test]
    fn vector_post_isolate_body() {
        let body = br#"{"act": "cmd_isolate_agent", "allow_multiple_match": false, "entity_id": "8a1a84550462-40bc9afc-3770-16ac-cd6c"}"#;
        assert_eq!(
            checksum("POST", &raw_url(AGENTS, None), body),
            "EytG7QGGT5qJppxGj4NAc4FZn8/5K7DE0LHDUSDCTR8="
        );
        // The same JSON with other spacing is other bytes, hence another checksum.
        let compact = br#"{"act":"cmd_isolate_agent","allow_multiple_match":false,"entity_id":"8a1a84550462-40bc9afc-3770-16ac-cd6c"}"#;
        assert_ne!(
            checksum("POST", &raw_url(AGENTS, None), compact),
            "EytG7QGGT5qJppxGj4NAc4FZn8/5K7DE0LHDUSDCTR8="
        );
    }

    #[test]
    fn vector_jwt_for_servers() {
        let claims = Claims {
            appid: "APPID".into(),
            iat: 1_700_000_000,
            version: "V1".into(),
            checksum: "UN6y2hyaFH3W29YDKanCrdWHZdmTFQTUgB2FSJBrrpU=".into(),
        };
        let jwt = token(&claims, &EncodingKey::from_secret(b"APIKEY")).unwrap();
        assert_eq!(
            jwt.expose_secret(),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBpZCI6IkFQUElEIiwiaWF0IjoxNzAwMDAwMDAwLCJ2ZXJzaW9uIjoiVjEiLCJjaGVja3N1bSI6IlVONnkyaHlhRkgzVzI5WURLYW5DcmRXSFpkbVRGUVRVZ0IyRlNKQnJycFU9In0._AJ38aXq75ooRDivNgCUAQfreSw850XZw7i97Xswe0k"
        );
    }

    #[test]
    fn signed_request_reproduces_the_jwt_vector() {
        let auth = ApexAuth::new("APPID", &key());
        let mut req = agentctl_core::http::plain_client()
            .get(format!("https://apex.example{SERVERS}"))
            .build()
            .unwrap();
        auth.sign_request(&mut req, 1_700_000_000).unwrap();
        let value = req.headers()[http::header::AUTHORIZATION].clone();
        assert!(value.is_sensitive());
        assert_eq!(
            value.to_str().unwrap(),
            "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhcHBpZCI6IkFQUElEIiwiaWF0IjoxNzAwMDAwMDAwLCJ2ZXJzaW9uIjoiVjEiLCJjaGVja3N1bSI6IlVONnkyaHlhRkgzVzI5WURLYW5DcmRXSFpkbVRGUVRVZ0IyRlNKQnJycFU9In0._AJ38aXq75ooRDivNgCUAQfreSw850XZw7i97Xswe0k"
        );
    }

    fn claims_of(req: &reqwest::Request) -> Claims {
        let value = req.headers()[http::header::AUTHORIZATION].to_str().unwrap();
        let jwt = value.strip_prefix("Bearer ").unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        jsonwebtoken::decode::<Claims>(jwt, &DecodingKey::from_secret(b"APIKEY"), &v)
            .expect("signature verifies with the API key")
            .claims
    }

    #[test]
    fn query_is_hashed_as_sent_percent_encoded_and_lower_cased() {
        let auth = ApexAuth::new("APPID", &key());
        let mut req = agentctl_core::http::plain_client()
            .get(format!("https://apex.example{AGENTS}"))
            .query(&[("host_name", "東京-LT 01"), ("product", "SLF_X")])
            .build()
            .unwrap();
        auth.sign_request(&mut req, 1_700_000_123).unwrap();
        let sent = req.url().query().unwrap().to_string();
        assert_eq!(sent, "host_name=%E6%9D%B1%E4%BA%AC-LT+01&product=SLF_X");
        let expected = checksum(
            "GET",
            "/webapp/api/agentresource/productagents?host_name=%e6%9d%b1%e4%ba%ac-lt+01&product=slf_x",
            b"",
        );
        let claims = claims_of(&req);
        assert_eq!(claims.checksum, expected);
        assert_eq!(claims.iat, 1_700_000_123);
        assert_eq!(claims.appid, "APPID");
        assert_eq!(claims.version, "V1");
    }

    #[test]
    fn body_is_hashed_byte_for_byte_and_a_bare_question_mark_is_dropped() {
        let auth = ApexAuth::new("APPID", &key());
        let body = r#"{"act":"cmd_relocate_agent","allow_multiple_match":false,"entity_id":"e1","relocate_to_server_id":"S","relocate_to_folder_path":"\\Büro\\Neu"}"#;
        let mut req = agentctl_core::http::plain_client()
            .post(format!("https://apex.example{AGENTS}?"))
            .body(body)
            .build()
            .unwrap();
        auth.sign_request(&mut req, 1).unwrap();
        assert_eq!(req.url().query(), None);
        assert_eq!(
            claims_of(&req).checksum,
            checksum(
                "POST",
                "/webapp/api/agentresource/productagents",
                body.as_bytes()
            )
        );
        // Case is preserved in the body: only the URL is lower-cased.
        assert_ne!(
            claims_of(&req).checksum,
            checksum(
                "POST",
                "/webapp/api/agentresource/productagents",
                body.to_lowercase().as_bytes()
            )
        );
    }

    #[tokio::test]
    async fn every_application_gets_a_fresh_iat_and_nothing_secret_is_debugged() {
        let auth = ApexAuth::new("APPID", &key());
        let mut req = agentctl_core::http::plain_client()
            .get(format!("https://apex.example{SERVERS}"))
            .build()
            .unwrap();
        let before = now_unix();
        auth.apply(&mut req).await.unwrap();
        let iat = claims_of(&req).iat;
        assert!(iat >= before && iat <= now_unix());
        assert!(!format!("{auth:?}").contains("APIKEY"));
        assert!(!format!("{req:?}").contains("eyJ"), "{req:?}");
    }

    #[test]
    fn api_headers_are_refused_rather_than_signed_with_a_guess() {
        let auth = ApexAuth::new("APPID", &key());
        let mut req = agentctl_core::http::plain_client()
            .get(format!("https://apex.example{SERVERS}"))
            .header("API-Extra", "1")
            .build()
            .unwrap();
        let e = auth.sign_request(&mut req, 1).unwrap_err();
        assert!(e.message.contains("api-extra"), "{}", e.message);
    }
}
