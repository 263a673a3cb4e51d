//! Loading `config.toml`: where it is, the `[defaults]`, and each `[providers.<name>]`
//! split into the keys every provider shares and the vendor's own keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agentctl_core::ratelimit::RateLimitSpec;
use serde::Deserialize;

use crate::error::{CliError, CliResult};

pub const DEFAULT_CONCURRENCY: usize = 8;
pub const DEFAULT_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            concurrency: DEFAULT_CONCURRENCY,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub providers: BTreeMap<String, toml::Table>,
    /// Agents no plan and no bulk change may touch.
    #[serde(default)]
    pub protect: ProtectConfig,
    /// Which consoles every machine is expected in (`gaps`, `report`).
    #[serde(default)]
    pub coverage: CoverageConfig,
}

/// `[protect]`: host-name globs, group-name globs and agent ids that are never planned or
/// changed. Globs are case-insensitive and match the full name or its first DNS label.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectConfig {
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub agent_ids: Vec<String>,
}

/// `[coverage]`: `expect` = provider kinds (or provider names) every active machine should
/// be registered in; `gaps --expect` overrides it. Default: every selected provider.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoverageConfig {
    #[serde(default)]
    pub expect: Option<Vec<String>>,
}

/// Keys every provider takes, whatever its kind.
#[derive(Debug, Clone)]
pub struct CommonKeys {
    pub kind: String,
    pub rate_limit: Option<RateLimitSpec>,
    pub concurrency: usize,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_tls_verify: bool,
    /// The largest response body read (`max_response_mb`, default 64 MiB).
    pub max_response_bytes: u64,
    /// `stale` refuses to write a plan when this provider lists fewer agents.
    pub min_agents: Option<u64>,
    /// Cost of one agent licence (any currency): `report` multiplies the licences it could
    /// reclaim by it.
    pub licence_cost: Option<f64>,
}

pub const DEFAULT_MAX_RESPONSE_MB: u64 = 64;

pub struct Loaded {
    pub path: Option<PathBuf>,
    pub file: ConfigFile,
    /// Group- or world-readable config file (literal secrets in it get a warning).
    pub readable_by_others: bool,
}

/// `--config`, else `$AGENTCTL_CONFIG` (clap reads it into `explicit`), else
/// `$XDG_CONFIG_HOME/agentctl/config.toml`, else `~/.config/agentctl/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("agentctl/config.toml"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/agentctl/config.toml"))
}

pub fn load(explicit: Option<&Path>) -> CliResult<Loaded> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => default_path().ok_or_else(|| {
            CliError::usage(
                "config",
                "no --config given and neither XDG_CONFIG_HOME nor HOME is set",
            )
        })?,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let err = CliError::usage("config", format!("cannot read {}: {e}", path.display()));
        if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound {
            err.hint("agentctl config init creates it (or copy config.example.toml there); pass --config PATH, or try --sandbox")
        } else {
            err
        }
    })?;
    let file = parse(&text).map_err(|why| {
        CliError::usage("config", format!("{}: {why}", path.display()))
            .hint("config.example.toml documents every key")
    })?;
    Ok(Loaded {
        readable_by_others: readable_by_others(&path),
        path: Some(path),
        file,
    })
}

pub fn parse(text: &str) -> Result<ConfigFile, String> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
    if file.defaults.concurrency == 0 {
        return Err("defaults.concurrency must be at least 1".into());
    }
    if file.defaults.concurrency as u64 > MAX_CONCURRENCY {
        return Err(format!(
            "defaults.concurrency {} is more than {MAX_CONCURRENCY} requests in flight",
            file.defaults.concurrency
        ));
    }
    if file.defaults.timeout_secs == 0 {
        return Err("defaults.timeout_secs must be at least 1".into());
    }
    Ok(file)
}

/// A TOML error as `line L, column C: message`, then the offending line and a caret under
/// the column (control characters in the quoted line are escaped).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    let Some(span) = e.span() else {
        return message;
    };
    let start = span.start.min(text.len());
    let before = text.get(..start).unwrap_or_default();
    let line_no = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or_default();
    let column = text
        .get(line_start..start)
        .map_or(1, |s| s.chars().count() + 1);
    let shown = crate::sanitize::terminal_cell(line);
    let caret_pad = " ".repeat(column.saturating_sub(1).min(shown.chars().count()));
    format!(
        "line {line_no}, column {column}: {message}\n  {line_no} | {shown}\n  {} | {caret_pad}^",
        " ".repeat(line_no.to_string().len())
    )
}

#[cfg(unix)]
fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(not(unix))]
fn readable_by_others(_path: &Path) -> bool {
    false
}

fn config_err(provider: &str, key: &str, why: impl std::fmt::Display) -> CliError {
    CliError::usage("config", format!("{key}: {why}")).provider(provider)
}

/// Take the shared keys out of a provider table, leaving only the vendor's own.
pub fn split_common(
    name: &str,
    table: &mut toml::Table,
    defaults: &Defaults,
) -> CliResult<CommonKeys> {
    let kind = match table.remove("kind") {
        Some(toml::Value::String(k)) => k,
        Some(other) => {
            return Err(config_err(
                name,
                "kind",
                format!("expected a string, found {}", other.type_str()),
            ));
        }
        None => {
            return Err(config_err(
                name,
                "kind",
                format!(
                    "missing; expected one of {}",
                    crate::providers::kind_names().join(", ")
                ),
            ));
        }
    };
    let rate_limit = match table.remove("rate_limit") {
        None => None,
        Some(toml::Value::String(s)) => {
            Some(RateLimitSpec::parse(&s).map_err(|e| config_err(name, "rate_limit", e))?)
        }
        Some(other) => {
            return Err(config_err(
                name,
                "rate_limit",
                format!(
                    "expected a string like \"5/s, 14/min\" or \"off\", found {}",
                    other.type_str()
                ),
            ));
        }
    };
    let positive = |key: &str, v: Option<toml::Value>, default: u64| -> CliResult<u64> {
        match v {
            None => Ok(default),
            Some(toml::Value::Integer(i)) if i > 0 => Ok(i as u64),
            Some(other) => Err(config_err(
                name,
                key,
                format!("expected a positive integer, found {other}"),
            )),
        }
    };
    let concurrency = positive(
        "concurrency",
        table.remove("concurrency"),
        defaults.concurrency as u64,
    )?;
    if concurrency > MAX_CONCURRENCY {
        return Err(config_err(
            name,
            "concurrency",
            format!("{concurrency} is more than {MAX_CONCURRENCY} requests in flight"),
        ));
    }
    let concurrency = concurrency as usize;
    let min_agents = match table.remove("min_agents") {
        None => None,
        Some(toml::Value::Integer(i)) if i >= 0 => Some(i as u64),
        Some(other) => {
            return Err(config_err(
                name,
                "min_agents",
                format!("expected a non-negative integer, found {other}"),
            ));
        }
    };
    let timeout = Duration::from_secs(positive(
        "timeout_secs",
        table.remove("timeout_secs"),
        defaults.timeout_secs,
    )?);
    let ca_file = match table.remove("ca_file") {
        None => None,
        Some(toml::Value::String(s)) => Some(PathBuf::from(s)),
        Some(other) => {
            return Err(config_err(
                name,
                "ca_file",
                format!("expected a path, found {}", other.type_str()),
            ));
        }
    };
    let insecure_skip_tls_verify = match table.remove("insecure_skip_tls_verify") {
        None => false,
        Some(toml::Value::Boolean(b)) => b,
        Some(other) => {
            return Err(config_err(
                name,
                "insecure_skip_tls_verify",
                format!("expected true or false, found {}", other.type_str()),
            ));
        }
    };
    let max_response_mb = positive(
        "max_response_mb",
        table.remove("max_response_mb"),
        DEFAULT_MAX_RESPONSE_MB,
    )?;
    if max_response_mb > 4096 {
        return Err(config_err(
            name,
            "max_response_mb",
            format!("expected at most 4096 (MiB), found {max_response_mb}"),
        ));
    }
    let licence_cost = licence_cost(name, table.remove("licence_cost"))?;
    Ok(CommonKeys {
        licence_cost,
        kind,
        rate_limit,
        concurrency,
        timeout,
        ca_file,
        insecure_skip_tls_verify,
        max_response_bytes: max_response_mb * 1024 * 1024,
        min_agents,
    })
}

/// More requests in flight per provider than any vendor's quota allows (and than a rate-limit
/// headroom can protect).
pub const MAX_CONCURRENCY: u64 = 1024;

/// `licence_cost`: a finite number of at least 0 (integer or decimal).
fn licence_cost(name: &str, v: Option<toml::Value>) -> CliResult<Option<f64>> {
    match v {
        None => Ok(None),
        Some(toml::Value::Integer(i)) if i >= 0 => Ok(Some(i as f64)),
        Some(toml::Value::Float(f)) if f >= 0.0 && f.is_finite() => Ok(Some(f)),
        Some(other) => Err(config_err(
            name,
            "licence_cost",
            format!(
                "expected a number of at least 0 (the cost of one agent licence), found {other}"
            ),
        )),
    }
}

/// A provider's `licence_cost` (for `report`), checked the same way as when the provider is
/// built.
pub fn provider_licence_cost(file: &ConfigFile, name: &str) -> CliResult<Option<f64>> {
    let value = file
        .providers
        .get(name)
        .and_then(|t| t.get("licence_cost"))
        .cloned();
    licence_cost(name, value)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_top_level_and_default_keys_are_errors() {
        assert!(
            parse("[defaultz]\nconcurrency = 2")
                .unwrap_err()
                .contains("defaultz")
        );
        assert!(
            parse("[defaults]\nconcurency = 2")
                .unwrap_err()
                .contains("concurency")
        );
        assert!(parse("[defaults]\nconcurrency = 0").is_err());
        let f = parse("[defaults]\nconcurrency = 3\n[providers.a]\nkind = \"secure-endpoint\"")
            .unwrap();
        assert_eq!(f.defaults.concurrency, 3);
        assert_eq!(f.defaults.timeout_secs, 30);
        assert!(f.providers.contains_key("a"));
    }

    #[test]
    fn licence_cost_is_a_non_negative_number() {
        let mut t: toml::Table = toml::from_str("kind = \"taegis\"\nlicence_cost = 12.5").unwrap();
        let c = split_common("tg", &mut t, &Defaults::default()).unwrap();
        assert_eq!(c.licence_cost, Some(12.5));
        assert!(t.is_empty());
        let mut t: toml::Table = toml::from_str("kind = \"taegis\"\nlicence_cost = 30").unwrap();
        let c = split_common("tg", &mut t, &Defaults::default()).unwrap();
        assert_eq!(c.licence_cost, Some(30.0));
        for bad in ["\"12\"", "-1", "-0.5", "nan", "inf", "true"] {
            let mut t: toml::Table =
                toml::from_str(&format!("kind = \"taegis\"\nlicence_cost = {bad}")).unwrap();
            let e = split_common("tg", &mut t, &Defaults::default()).unwrap_err();
            assert!(e.why.contains("licence_cost"), "{bad}: {}", e.why);
        }
    }

    #[test]
    fn protect_and_coverage_parse_and_unknown_keys_stay_errors() {
        let f = parse(
            "[protect]\nhosts = [\"dc-*\"]\ngroups = [\"Servers\"]\nagent_ids = [\"x\"]\n[coverage]\nexpect = [\"taegis\"]",
        )
        .unwrap();
        assert_eq!(f.protect.hosts, vec!["dc-*"]);
        assert_eq!(f.protect.groups, vec!["Servers"]);
        assert_eq!(f.coverage.expect, Some(vec!["taegis".to_string()]));
        assert!(
            parse("[protect]\nhost = [\"x\"]")
                .unwrap_err()
                .contains("host")
        );
        assert!(
            parse("[coverage]\nexpected = []")
                .unwrap_err()
                .contains("expected")
        );
    }

    #[test]
    fn common_keys_are_split_and_checked() {
        let mut t: toml::Table = toml::from_str(
            "kind = \"secure-endpoint\"\nrate_limit = \"5/s\"\nconcurrency = 2\nregion = \"eu\"",
        )
        .unwrap();
        let c = split_common("se", &mut t, &Defaults::default()).unwrap();
        assert_eq!(c.kind, "secure-endpoint");
        assert_eq!(c.concurrency, 2);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.rate_limit.unwrap().quotas.len(), 1);
        assert_eq!(t.keys().collect::<Vec<_>>(), vec!["region"]);

        let mut bad: toml::Table =
            toml::from_str("kind = \"secure-endpoint\"\nconcurrency = -1").unwrap();
        let e = split_common("se", &mut bad, &Defaults::default()).unwrap_err();
        assert_eq!(e.provider.as_deref(), Some("se"));
        assert!(e.why.contains("concurrency"));
        let mut none: toml::Table = toml::Table::new();
        assert!(
            split_common("x", &mut none, &Defaults::default())
                .unwrap_err()
                .why
                .contains("kind: missing")
        );
    }

    #[test]
    fn toml_syntax_errors_show_line_column_and_the_line() {
        let text =
            "[defaults]\nconcurrency = 2\n[providers.a]\nkind = \"secure-endpoint\nregion = 1\n";
        let e = parse(text).unwrap_err();
        let first = e.lines().next().unwrap();
        assert!(first.starts_with("line 4, column "), "{e}");
        assert!(e.contains("4 | kind = \"secure-endpoint"), "{e}");
        assert!(e.lines().nth(2).unwrap().trim_end().ends_with('^'), "{e}");
        // A control character in the offending line is shown escaped.
        let e = parse("x = \u{1b}]0;t\u{7}\n").unwrap_err();
        assert!(!e.contains('\u{1b}') && e.contains("\\x1b"), "{e}");
    }
}
