//! `[providers.<name>]` keys for `kind = "taegis"`.

use agentctl_core::ProviderError;
use agentctl_core::http::parse_base_url;
use agentctl_core::secret::{ExposeSecret, SecretRef};
use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

/// One published Taegis region: its canonical name, the names it is also known by, and its
/// API host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub api_url: &'static str,
}

/// The regions the official SDK publishes (vendor file §1). Lookup is case-insensitive.
pub const REGIONS: &[Region] = &[
    Region {
        name: "us1",
        aliases: &["charlie", "production"],
        api_url: "https://api.ctpx.secureworks.com",
    },
    Region {
        name: "us2",
        aliases: &["delta"],
        api_url: "https://api.delta.taegis.secureworks.com",
    },
    Region {
        name: "us3",
        aliases: &["foxtrot"],
        api_url: "https://api.foxtrot.taegis.secureworks.com",
    },
    Region {
        name: "eu1",
        aliases: &["eu", "echo"],
        api_url: "https://api.echo.taegis.secureworks.com",
    },
    Region {
        name: "eu2",
        aliases: &["euw1", "golf"],
        api_url: "https://api.golf.taegis.secureworks.com",
    },
    Region {
        name: "apse2",
        aliases: &["hotel"],
        api_url: "https://api.hotel.taegis.secureworks.com",
    },
    Region {
        name: "aps1",
        aliases: &["india"],
        api_url: "https://api.india.taegis.secureworks.com",
    },
    Region {
        name: "apne1",
        aliases: &["juliet"],
        api_url: "https://api.juliet.taegis.secureworks.com",
    },
    Region {
        name: "sae1",
        aliases: &["kilo"],
        api_url: "https://api.kilo.taegis.secureworks.com",
    },
    Region {
        name: "cac1",
        aliases: &["quebec"],
        api_url: "https://api.quebec.taegis.secureworks.com",
    },
];

/// The region used when none is configured.
pub const DEFAULT_REGION: &str = "us1";

/// The region named `name` (canonical name or alias, any case).
pub fn region(name: &str) -> Option<&'static Region> {
    let name = name.trim();
    REGIONS.iter().find(|r| {
        r.name.eq_ignore_ascii_case(name) || r.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The vendor-specific keys (the common ones — kind, rate_limit, concurrency, timeout_secs,
/// ca_file, insecure_skip_tls_verify — are read by the binary).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `us1` (default), `us2`, `us3`, `eu1`, `eu2`, … or a code name (`charlie`, `delta`, …).
    pub region: Option<String>,
    /// OAuth2 client id of a Taegis API credential.
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
    /// The tenant every call is made for (`X-Tenant-Context`).
    pub tenant_id: Option<String>,
    /// A ready bearer token instead of client credentials (e.g. `file:bearer_token.txt`).
    pub token: Option<SecretRef>,
    /// Override of the region's API host (proxies, the simulator).
    pub api_url: Option<String>,
}

/// How requests are authenticated.
pub enum Credentials {
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
    /// A ready bearer token (without any `Bearer ` prefix); it cannot be refreshed.
    Token(SecretString),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"[REDACTED]")
                .finish(),
            Credentials::Token(_) => f.write_str("Token([REDACTED])"),
        }
    }
}

/// Config with the API host resolved and secrets read.
#[derive(Debug)]
pub struct Resolved {
    pub api_url: Url,
    /// The region's canonical name, or `None` when `api_url` overrides it.
    pub region: Option<&'static str>,
    pub tenant_id: String,
    pub credentials: Credentials,
}

fn err(key: &str, why: impl std::fmt::Display) -> ProviderError {
    ProviderError::config(format!("{key}: {why}"))
}

fn secret(value: &SecretRef, key: &str) -> Result<SecretString, ProviderError> {
    value.resolve().map_err(|e| err(key, e))
}

/// `Bearer abc` → `abc` (the seed script stored tokens either way).
fn strip_bearer(token: &str) -> &str {
    let t = token.trim();
    match t.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("bearer ") => t[7..].trim(),
        _ => t,
    }
}

impl Config {
    pub fn resolve(&self) -> Result<Resolved, ProviderError> {
        let region = match self.region.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(region(name).ok_or_else(|| {
                let known: Vec<String> = REGIONS
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.aliases.join(", ")))
                    .collect();
                err(
                    "region",
                    format!(
                        "unknown region {name:?}; expected one of {}",
                        known.join(", ")
                    ),
                )
            })?),
        };
        let (api_url, region_name) = match &self.api_url {
            Some(u) => {
                let url = parse_base_url("api_url", u).map_err(|e| err("api_url", e))?;
                if url.path() != "/" && !url.path().is_empty() {
                    return Err(err(
                        "api_url",
                        format!(
                            "{url} has a path; give only the host (e.g. https://api.ctpx.secureworks.com), /graphql and /auth are added"
                        ),
                    ));
                }
                (url, None)
            }
            None => {
                let r = region.unwrap_or_else(|| self::region(DEFAULT_REGION).expect("default"));
                (Url::parse(r.api_url).expect("static URL"), Some(r.name))
            }
        };
        let tenant_id = match self.tenant_id.as_deref().map(str::trim) {
            Some(t) if !t.is_empty() => {
                if t.chars().any(|c| c.is_whitespace() || c.is_control())
                    || !t.is_ascii()
                    || t.len() > 128
                {
                    return Err(err(
                        "tenant_id",
                        format!("{t:?} is not a tenant id (printable ASCII without spaces)"),
                    ));
                }
                t.to_string()
            }
            _ => {
                return Err(err(
                    "tenant_id",
                    "missing; expected the Taegis tenant id every call is made for (sent as X-Tenant-Context)",
                ));
            }
        };
        let client_id = self
            .client_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let credentials = match (&self.token, client_id, &self.client_secret) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(err(
                    "token",
                    "set either token or client_id + client_secret, not both",
                ));
            }
            (Some(token), None, None) => {
                let raw = secret(token, "token")?;
                let stripped = strip_bearer(raw.expose_secret());
                if stripped.is_empty()
                    || stripped
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(err(
                        "token",
                        "is not a bearer token (expected one line without spaces, optionally starting with \"Bearer \")",
                    ));
                }
                Credentials::Token(SecretString::from(stripped.to_string()))
            }
            (None, None, None) => {
                return Err(err(
                    "client_id",
                    "missing; expected the client id of a Taegis API credential (with client_secret), or set token",
                ));
            }
            (None, None, Some(_)) => {
                return Err(err(
                    "client_id",
                    "missing; expected the client id that belongs to client_secret",
                ));
            }
            (None, Some(_), None) => {
                return Err(err(
                    "client_secret",
                    "missing; expected the API credential's secret (literal, env:NAME or file:PATH)",
                ));
            }
            (None, Some(id), Some(s)) => {
                if id.chars().any(|c| c.is_control() || c == ':') {
                    return Err(err(
                        "client_id",
                        "must not contain ':' or control characters",
                    ));
                }
                Credentials::ClientCredentials {
                    client_id: id.to_string(),
                    client_secret: secret(s, "client_secret")?,
                }
            }
        };
        Ok(Resolved {
            api_url,
            region: region_name,
            tenant_id,
            credentials,
        })
    }

    /// Keys holding a literal secret (the binary warns when the file is readable by others).
    pub fn literal_secret_keys(&self) -> Vec<&'static str> {
        SecretRef::literal_keys(&[
            ("client_secret", &self.client_secret),
            ("token", &self.token),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, toml::de::Error> {
        toml::from_str(text)
    }

    fn resolve_err(text: &str) -> String {
        parse(text).unwrap().resolve().unwrap_err().message
    }

    const CC: &str =
        "client_id = \"cid\"\nclient_secret = \"s3cret-value\"\ntenant_id = \"50530\"\n";

    #[test]
    fn defaults_to_us1_with_client_credentials() {
        let c = parse(CC).unwrap();
        let r = c.resolve().unwrap();
        assert_eq!(r.api_url.as_str(), "https://api.ctpx.secureworks.com/");
        assert_eq!(r.region, Some("us1"));
        assert_eq!(r.tenant_id, "50530");
        match &r.credentials {
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => {
                assert_eq!(client_id, "cid");
                assert_eq!(client_secret.expose_secret(), "s3cret-value");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.literal_secret_keys(), vec!["client_secret"]);
    }

    #[test]
    fn regions_and_aliases_are_case_insensitive() {
        for (name, host) in [
            ("US1", "api.ctpx.secureworks.com"),
            ("charlie", "api.ctpx.secureworks.com"),
            ("Production", "api.ctpx.secureworks.com"),
            ("us2", "api.delta.taegis.secureworks.com"),
            ("DELTA", "api.delta.taegis.secureworks.com"),
            ("foxtrot", "api.foxtrot.taegis.secureworks.com"),
            ("us3", "api.foxtrot.taegis.secureworks.com"),
            ("eu", "api.echo.taegis.secureworks.com"),
            ("Echo", "api.echo.taegis.secureworks.com"),
            ("eu2", "api.golf.taegis.secureworks.com"),
            ("golf", "api.golf.taegis.secureworks.com"),
            ("hotel", "api.hotel.taegis.secureworks.com"),
            ("india", "api.india.taegis.secureworks.com"),
            ("Juliet", "api.juliet.taegis.secureworks.com"),
            ("kilo", "api.kilo.taegis.secureworks.com"),
            ("quebec", "api.quebec.taegis.secureworks.com"),
            ("cac1", "api.quebec.taegis.secureworks.com"),
        ] {
            let r = parse(&format!("{CC}region = \"{name}\""))
                .unwrap()
                .resolve()
                .unwrap();
            assert_eq!(r.api_url.host_str(), Some(host), "{name}");
        }
        let e = resolve_err(&format!("{CC}region = \"mars\""));
        assert!(e.starts_with("region: unknown region \"mars\""), "{e}");
        assert!(e.contains("us1 (charlie, production)"), "{e}");
    }

    #[test]
    fn api_url_overrides_the_region() {
        let r = parse(&format!(
            "{CC}region = \"eu1\"\napi_url = \"http://127.0.0.1:9/\""
        ))
        .unwrap()
        .resolve()
        .unwrap();
        assert_eq!(r.api_url.as_str(), "http://127.0.0.1:9/");
        assert_eq!(r.region, None);
        assert!(resolve_err(&format!("{CC}api_url = \"ftp://x\"")).contains("scheme"));
        assert!(
            resolve_err(&format!(
                "{CC}api_url = \"https://api.ctpx.secureworks.com/graphql\""
            ))
            .contains("has a path")
        );
    }

    #[test]
    fn tenant_is_required_and_checked() {
        let e = resolve_err("client_id = \"c\"\nclient_secret = \"s\"");
        assert!(e.starts_with("tenant_id: missing"), "{e}");
        assert!(e.contains("X-Tenant-Context"), "{e}");
        assert!(
            resolve_err("client_id = \"c\"\nclient_secret = \"s\"\ntenant_id = \"a b\"")
                .starts_with("tenant_id")
        );
    }

    #[test]
    fn exactly_one_way_to_authenticate() {
        let e = resolve_err("tenant_id = \"1\"");
        assert!(e.starts_with("client_id: missing"), "{e}");
        assert!(
            resolve_err("tenant_id = \"1\"\nclient_id = \"c\"")
                .starts_with("client_secret: missing")
        );
        assert!(
            resolve_err("tenant_id = \"1\"\nclient_secret = \"s\"")
                .starts_with("client_id: missing")
        );
        assert!(
            resolve_err(&format!("{CC}token = \"abc\"")).starts_with("token: set either token")
        );
        assert!(
            resolve_err("tenant_id = \"1\"\nclient_id = \"c\"\nclient_secret = \"env:AGENTCTL_TAEGIS_SURELY_UNSET\"")
                .contains("AGENTCTL_TAEGIS_SURELY_UNSET is not set")
        );
    }

    #[test]
    fn a_ready_token_loses_its_bearer_prefix() {
        let dir = std::env::temp_dir().join(format!("agentctl-taegis-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bearer_token.txt");
        std::fs::write(&file, "Bearer eyJhbGciOi.payload.sig\n").unwrap();
        let c = parse(&format!(
            "tenant_id = \"50530\"\ntoken = \"file:{}\"",
            file.display()
        ))
        .unwrap();
        let r = c.resolve().unwrap();
        match &r.credentials {
            Credentials::Token(t) => assert_eq!(t.expose_secret(), "eyJhbGciOi.payload.sig"),
            other => panic!("{other:?}"),
        }
        assert!(c.literal_secret_keys().is_empty());
        assert_eq!(strip_bearer("bearer  abc"), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        std::fs::write(&file, "Bearer two words\n").unwrap();
        assert!(
            c.resolve()
                .unwrap_err()
                .message
                .starts_with("token: is not a bearer token")
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let e = parse(&format!("{CC}api_key = \"x\"")).unwrap_err();
        assert!(e.to_string().contains("api_key"), "{e}");
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = parse(CC).unwrap();
        let r = c.resolve().unwrap();
        let t = parse("tenant_id = \"1\"\ntoken = \"tok-very-secret\"").unwrap();
        let rt = t.resolve().unwrap();
        for text in [
            format!("{c:?}"),
            format!("{r:?}"),
            format!("{t:?}"),
            format!("{rt:?}"),
        ] {
            assert!(
                !text.contains("s3cret-value") && !text.contains("tok-very-secret"),
                "{text}"
            );
        }
    }
}
