//! `[providers.<name>]` keys for `kind = "apex-central"`.

use agentctl_core::ProviderError;
use agentctl_core::http::parse_base_url;
use agentctl_core::secret::SecretRef;
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// The vendor-specific keys (the common ones — kind, rate_limit, concurrency, timeout_secs,
/// ca_file, insecure_skip_tls_verify — are read by the binary).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Base URL of the Apex Central server, e.g. `https://apex.example.internal`.
    pub url: Option<String>,
    /// Application ID from Automation API Access Settings.
    pub application_id: Option<String>,
    /// API key of that application (literal, `env:NAME` or `file:PATH`).
    pub api_key: Option<SecretRef>,
}

/// Config with the URL parsed and the secret read.
pub struct Resolved {
    pub url: Url,
    pub application_id: String,
    pub api_key: SecretString,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("url", &self.url.as_str())
            .field("application_id", &self.application_id)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

fn err(key: &str, why: impl std::fmt::Display) -> ProviderError {
    ProviderError::config(format!("{key}: {why}"))
}

impl Config {
    pub fn resolve(&self) -> Result<Resolved, ProviderError> {
        let url = match self.url.as_deref().map(str::trim) {
            Some(u) if !u.is_empty() => parse_base_url("url", u).map_err(|e| err("url", e))?,
            _ => {
                return Err(err(
                    "url",
                    "missing; expected the Apex Central server URL, e.g. https://apex.example.internal",
                ));
            }
        };
        if url.path() != "/" && !url.path().is_empty() {
            return Err(err(
                "url",
                format!(
                    "{:?} has a path; expected only scheme, host and port (agentctl adds /WebApp/API/…)",
                    url.as_str()
                ),
            ));
        }
        let application_id = match self.application_id.as_deref().map(str::trim) {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => {
                return Err(err(
                    "application_id",
                    "missing; expected the Application ID from Administration > Settings > Automation API Access Settings",
                ));
            }
        };
        let api_key = self
            .api_key
            .as_ref()
            .ok_or_else(|| {
                err(
                    "api_key",
                    "missing; expected the application's API key (literal, env:NAME or file:PATH)",
                )
            })?
            .resolve()
            .map_err(|e| err("api_key", e))?;
        Ok(Resolved {
            url,
            application_id,
            api_key,
        })
    }

    /// Keys holding a literal secret (the binary warns when the file is readable by others).
    pub fn literal_secret_keys(&self) -> Vec<&'static str> {
        SecretRef::literal_keys(&[("api_key", &self.api_key)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn resolves_a_complete_config() {
        let c = parse(
            r#"
url = "https://apex.example.internal:8443/"
application_id = " 6F1A2B3C-APP "
api_key = "literal-key"
"#,
        )
        .unwrap();
        let r = c.resolve().unwrap();
        assert_eq!(r.url.as_str(), "https://apex.example.internal:8443/");
        assert_eq!(r.application_id, "6F1A2B3C-APP");
        assert_eq!(r.api_key.expose_secret(), "literal-key");
        assert_eq!(c.literal_secret_keys(), vec!["api_key"]);
        assert!(!format!("{r:?}").contains("literal-key"));
        assert!(!format!("{c:?}").contains("literal-key"));
    }

    #[test]
    fn env_secret_is_not_literal() {
        let c = parse(
            "url = \"http://127.0.0.1:1\"\napplication_id = \"a\"\napi_key = \"env:AGENTCTL_APEX_TEST_UNSET\"\n",
        )
        .unwrap();
        assert!(c.literal_secret_keys().is_empty());
        let e = c.resolve().unwrap_err();
        assert!(
            e.message
                .starts_with("api_key: environment variable AGENTCTL_APEX_TEST_UNSET")
        );
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e =
            parse("url = \"https://a\"\napplication_id = \"a\"\napi_key = \"k\"\napikey = \"x\"\n")
                .unwrap_err();
        assert!(e.to_string().contains("unknown field `apikey`"), "{e}");
    }

    #[test]
    fn missing_or_malformed_keys_name_the_key() {
        let none = parse("").unwrap();
        assert!(
            none.resolve()
                .unwrap_err()
                .message
                .starts_with("url: missing")
        );
        let bad = parse("url = \"ftp://apex\"\napplication_id = \"a\"\napi_key = \"k\"").unwrap();
        assert!(
            bad.resolve()
                .unwrap_err()
                .message
                .contains("scheme must be https")
        );
        let path = parse("url = \"https://apex/WebApp\"\napplication_id = \"a\"\napi_key = \"k\"")
            .unwrap();
        assert!(path.resolve().unwrap_err().message.contains("has a path"));
        let no_app = parse("url = \"https://apex\"\napi_key = \"k\"").unwrap();
        assert!(
            no_app
                .resolve()
                .unwrap_err()
                .message
                .starts_with("application_id: missing")
        );
        let no_key = parse("url = \"https://apex\"\napplication_id = \"a\"").unwrap();
        assert!(
            no_key
                .resolve()
                .unwrap_err()
                .message
                .starts_with("api_key: missing")
        );
        let empty =
            parse("url = \"https://apex\"\napplication_id = \"a\"\napi_key = \"\"").unwrap();
        assert_eq!(empty.resolve().unwrap_err().message, "api_key: is empty");
    }
}
