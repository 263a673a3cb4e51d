//! `[providers.<name>]` keys for `kind = "secure-endpoint"`.

use agentctl_core::ProviderError;
use agentctl_core::http::parse_base_url;
use agentctl_core::secret::SecretRef;
use serde::Deserialize;
use url::Url;

/// Cisco cloud region: selects the API host and the XDR token host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Nam,
    Eu,
    Apjc,
}

impl Region {
    pub fn api_url(self) -> &'static str {
        match self {
            Region::Nam => "https://api.amp.cisco.com",
            Region::Eu => "https://api.eu.amp.cisco.com",
            Region::Apjc => "https://api.apjc.amp.cisco.com",
        }
    }

    pub fn token_url(self) -> &'static str {
        match self {
            Region::Nam => "https://visibility.amp.cisco.com",
            Region::Eu => "https://visibility.eu.amp.cisco.com",
            Region::Apjc => "https://visibility.apjc.amp.cisco.com",
        }
    }
}

/// The vendor-specific keys (the common ones — kind, rate_limit, concurrency, timeout_secs,
/// ca_file, insecure_skip_tls_verify — are read by the binary).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub region: Option<Region>,
    /// v1 API client ID.
    pub client_id: Option<String>,
    /// v1 API key.
    pub api_key: Option<SecretRef>,
    /// v3: Cisco XDR / Secure Client API client, exchanged for a Secure Endpoint token.
    pub xdr_client_id: Option<String>,
    pub xdr_client_secret: Option<SecretRef>,
    /// v3 alternative: a ready Secure Endpoint token.
    pub access_token: Option<SecretRef>,
    pub organization_id: Option<String>,
    pub api_url: Option<String>,
    pub token_url: Option<String>,
}

/// Config with URLs resolved and secrets read.
pub struct Resolved {
    pub api_url: Url,
    pub client_id: String,
    pub api_key: secrecy::SecretString,
    pub v3: Option<V3Credentials>,
    pub organization_id: Option<String>,
}

pub enum V3Credentials {
    Xdr {
        token_url: Url,
        client_id: String,
        client_secret: secrecy::SecretString,
    },
    Ready(secrecy::SecretString),
}

fn err(key: &str, why: impl std::fmt::Display) -> ProviderError {
    ProviderError::config(format!("{key}: {why}"))
}

fn required_str(value: &Option<String>, key: &str, what: &str) -> Result<String, ProviderError> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(err(key, format!("missing; expected {what}"))),
    }
}

impl Config {
    pub fn resolve(&self) -> Result<Resolved, ProviderError> {
        let api_url = match (&self.api_url, self.region) {
            (Some(u), _) => parse_base_url("api_url", u).map_err(|e| err("api_url", e))?,
            (None, Some(r)) => Url::parse(r.api_url()).expect("static URL"),
            (None, None) => {
                return Err(err(
                    "region",
                    "missing; expected one of nam, eu, apjc (or set api_url)",
                ));
            }
        };
        let client_id = required_str(&self.client_id, "client_id", "the v1 API client ID")?;
        let api_key = self
            .api_key
            .as_ref()
            .ok_or_else(|| {
                err(
                    "api_key",
                    "missing; expected the v1 API key (literal, env:NAME or file:PATH)",
                )
            })?
            .resolve()
            .map_err(|e| err("api_key", e))?;
        let v3 = if let Some(token) = &self.access_token {
            Some(V3Credentials::Ready(
                token.resolve().map_err(|e| err("access_token", e))?,
            ))
        } else {
            match (&self.xdr_client_id, &self.xdr_client_secret) {
                (None, None) => None,
                (Some(_), None) => {
                    return Err(err(
                        "xdr_client_secret",
                        "missing; expected the XDR API client password (set with xdr_client_id)",
                    ));
                }
                (None, Some(_)) => {
                    return Err(err(
                        "xdr_client_id",
                        "missing; expected the XDR API client ID (set with xdr_client_secret)",
                    ));
                }
                (Some(id), Some(secret)) => {
                    let token_url = match (&self.token_url, self.region) {
                        (Some(u), _) => {
                            parse_base_url("token_url", u).map_err(|e| err("token_url", e))?
                        }
                        (None, Some(r)) => Url::parse(r.token_url()).expect("static URL"),
                        (None, None) => {
                            return Err(err(
                                "token_url",
                                "missing; expected the XDR token host (or set region)",
                            ));
                        }
                    };
                    Some(V3Credentials::Xdr {
                        token_url,
                        client_id: required_str(
                            &Some(id.clone()),
                            "xdr_client_id",
                            "the XDR API client ID",
                        )?,
                        client_secret: secret.resolve().map_err(|e| err("xdr_client_secret", e))?,
                    })
                }
            }
        };
        Ok(Resolved {
            api_url,
            client_id,
            api_key,
            v3,
            organization_id: self
                .organization_id
                .clone()
                .filter(|s| !s.trim().is_empty()),
        })
    }

    /// Keys holding a literal secret (the binary warns when the file is readable by others).
    pub fn literal_secret_keys(&self) -> Vec<&'static str> {
        SecretRef::literal_keys(&[
            ("api_key", &self.api_key),
            ("xdr_client_secret", &self.xdr_client_secret),
            ("access_token", &self.access_token),
        ])
    }
}
