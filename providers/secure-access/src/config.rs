//! `[providers.<name>]` keys for `kind = "secure-access"`.

use agentctl_core::ProviderError;
use agentctl_core::http::parse_base_url;
use agentctl_core::secret::SecretRef;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// The commercial API host (Government and China use other hosts: set `api_url`).
pub const DEFAULT_API_URL: &str = "https://api.sse.cisco.com";

/// The vendor-specific keys (the common ones — kind, rate_limit, concurrency, timeout_secs,
/// ca_file, insecure_skip_tls_verify — are read by the binary).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// API key (the client id of the key pair).
    pub api_key: Option<String>,
    /// API key secret.
    pub api_secret: Option<SecretRef>,
    /// Separate Key Admin key for `clients`.
    pub key_admin_key: Option<String>,
    pub key_admin_secret: Option<SecretRef>,
    /// Child organization id, sent as `X-Umbrella-OrgId`.
    pub org_id: Option<String>,
    pub api_url: Option<String>,
}

/// A key and its secret, read.
pub struct KeyPair {
    pub key: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("key", &self.key)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// Config with the URL resolved and secrets read.
#[derive(Debug)]
pub struct Resolved {
    pub api_url: Url,
    pub api: KeyPair,
    pub key_admin: Option<KeyPair>,
    pub org_id: Option<String>,
}

fn err(key: &str, why: impl std::fmt::Display) -> ProviderError {
    ProviderError::config(format!("{key}: {why}"))
}

fn key_id(value: &Option<String>, key: &str, what: &str) -> Result<String, ProviderError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => {
            if v.chars().any(|c| c.is_control() || c == ':') {
                Err(err(key, "must not contain ':' or control characters"))
            } else {
                Ok(v.to_string())
            }
        }
        _ => Err(err(key, format!("missing; expected {what}"))),
    }
}

fn secret(value: &Option<SecretRef>, key: &str, what: &str) -> Result<SecretString, ProviderError> {
    value
        .as_ref()
        .ok_or_else(|| {
            err(
                key,
                format!("missing; expected {what} (literal, env:NAME or file:PATH)"),
            )
        })?
        .resolve()
        .map_err(|e| err(key, e))
}

impl Config {
    pub fn resolve(&self) -> Result<Resolved, ProviderError> {
        let api_url = match &self.api_url {
            Some(u) => parse_base_url("api_url", u).map_err(|e| err("api_url", e))?,
            None => Url::parse(DEFAULT_API_URL).expect("static URL"),
        };
        if api_url.path() != "/" && !api_url.path().is_empty() {
            return Err(err(
                "api_url",
                format!(
                    "{api_url} has a path; give only the host (e.g. {DEFAULT_API_URL}), the API paths are added"
                ),
            ));
        }
        let api = KeyPair {
            key: key_id(&self.api_key, "api_key", "the Secure Access API key")?,
            secret: secret(&self.api_secret, "api_secret", "the API key secret")?,
        };
        let key_admin = match (&self.key_admin_key, &self.key_admin_secret) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(err(
                    "key_admin_secret",
                    "missing; expected the Key Admin key secret (set with key_admin_key)",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "key_admin_key",
                    "missing; expected the Key Admin key (set with key_admin_secret)",
                ));
            }
            (key, value) => Some(KeyPair {
                key: key_id(key, "key_admin_key", "the Key Admin key")?,
                secret: secret(value, "key_admin_secret", "the Key Admin key secret")?,
            }),
        };
        let org_id = match self.org_id.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => {
                Some(v.to_string())
            }
            Some(v) => {
                return Err(err(
                    "org_id",
                    format!("{v:?} is not an organization id (digits expected)"),
                ));
            }
        };
        Ok(Resolved {
            api_url,
            api,
            key_admin,
            org_id,
        })
    }

    /// Keys holding a literal secret (the binary warns when the file is readable by others).
    pub fn literal_secret_keys(&self) -> Vec<&'static str> {
        SecretRef::literal_keys(&[
            ("api_secret", &self.api_secret),
            ("key_admin_secret", &self.key_admin_secret),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    fn resolve_err(text: &str) -> String {
        parse(text).unwrap().resolve().unwrap_err().message
    }

    #[test]
    fn minimal_config_uses_the_commercial_host() {
        let c = parse("api_key = \"k1\"\napi_secret = \"s1\"").unwrap();
        let r = c.resolve().unwrap();
        assert_eq!(r.api_url.as_str(), "https://api.sse.cisco.com/");
        assert_eq!(r.api.key, "k1");
        assert_eq!(r.api.secret.expose_secret(), "s1");
        assert!(r.key_admin.is_none());
        assert!(r.org_id.is_none());
        assert_eq!(c.literal_secret_keys(), vec!["api_secret"]);
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = parse("api_key = \"k\"\napi_secret = \"s\"\nclient_secret = \"x\"").unwrap_err();
        assert!(e.to_string().contains("client_secret"), "{e}");
    }

    #[test]
    fn missing_and_half_configured_keys_name_the_key() {
        assert!(resolve_err("api_secret = \"s\"").starts_with("api_key: missing"));
        assert!(resolve_err("api_key = \"k\"").starts_with("api_secret: missing"));
        assert!(
            resolve_err("api_key = \"k\"\napi_secret = \"s\"\nkey_admin_key = \"a\"")
                .starts_with("key_admin_secret: missing")
        );
        assert!(
            resolve_err("api_key = \"k\"\napi_secret = \"s\"\nkey_admin_secret = \"a\"")
                .starts_with("key_admin_key: missing")
        );
        assert!(
            resolve_err("api_key = \"k\"\napi_secret = \"env:AGENTCTL_SA_SURELY_UNSET\"")
                .contains("AGENTCTL_SA_SURELY_UNSET is not set")
        );
        assert!(resolve_err("api_key = \"a:b\"\napi_secret = \"s\"").starts_with("api_key"));
    }

    #[test]
    fn url_org_and_key_admin() {
        let c = parse(
            r#"
api_key = "k"
api_secret = "s"
key_admin_key = "ka"
key_admin_secret = "file:/dev/null/none"
org_id = " 8012345 "
api_url = "http://127.0.0.1:9/"
"#,
        )
        .unwrap();
        // The Key Admin secret file cannot be read: the error names the key.
        assert!(
            c.resolve()
                .unwrap_err()
                .message
                .starts_with("key_admin_secret")
        );
        let c = Config {
            key_admin_secret: Some(SecretRef::from("admin-secret".to_string())),
            ..c
        };
        let r = c.resolve().unwrap();
        assert_eq!(r.api_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(r.org_id.as_deref(), Some("8012345"));
        assert_eq!(r.key_admin.as_ref().unwrap().key, "ka");
        assert_eq!(
            c.literal_secret_keys(),
            vec!["api_secret", "key_admin_secret"]
        );
        let base = "api_key = \"k\"\napi_secret = \"s\"\n";
        assert!(resolve_err(&format!("{base}api_url = \"ftp://x\"")).contains("scheme"));
        assert!(
            resolve_err(&format!(
                "{base}api_url = \"https://api.sse.cisco.com/deployments/v2\""
            ))
            .contains("has a path")
        );
        assert!(resolve_err(&format!("{base}org_id = \"12 34\"")).starts_with("org_id"));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = parse(
            "api_key = \"k\"\napi_secret = \"hunter2-secret\"\nkey_admin_key = \"a\"\nkey_admin_secret = \"admin-pw-9\"",
        )
        .unwrap();
        let r = c.resolve().unwrap();
        for text in [format!("{c:?}"), format!("{r:?}")] {
            assert!(
                !text.contains("hunter2") && !text.contains("admin-pw-9"),
                "{text}"
            );
        }
    }
}
