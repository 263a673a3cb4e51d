//! The registry of provider kinds: where a config table becomes a [`Provider`]. The only
//! place in the binary that names vendor crates.

use std::sync::Arc;

use agentctl_core::Operation::{self, Clients, List, Relocate, Remove, Restore, Stale, Uninstall};
use agentctl_core::Provider;
use agentctl_core::http::HttpOptions;

use crate::config::{CommonKeys, ConfigFile, split_common};
use crate::error::{CliError, CliResult};

/// A provider kind: its name and short aliases (`agentctl se …`).
pub struct KindInfo {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// What a provider of this kind can do (namespace help shows only these commands). Kept
    /// equal to each provider's `supports` by a test against the sandbox providers.
    pub operations: &'static [Operation],
}

pub const KINDS: &[KindInfo] = &[
    KindInfo {
        name: agentctl_secure_endpoint::KIND,
        aliases: agentctl_secure_endpoint::ALIASES,
        operations: &[List, Stale, Uninstall, Remove, Relocate],
    },
    KindInfo {
        name: agentctl_secure_access::KIND,
        aliases: agentctl_secure_access::ALIASES,
        operations: &[List, Stale, Uninstall, Remove, Clients],
    },
    KindInfo {
        name: agentctl_apex_central::KIND,
        aliases: agentctl_apex_central::ALIASES,
        operations: &[List, Uninstall, Relocate],
    },
    KindInfo {
        name: agentctl_taegis::KIND,
        aliases: agentctl_taegis::ALIASES,
        operations: &[List, Stale, Uninstall, Remove, Restore, Relocate, Clients],
    },
];

pub fn kind_names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name).collect()
}

/// A built provider with the settings the binary needs to drive it.
#[derive(Clone)]
pub struct Configured {
    pub name: String,
    pub kind: &'static str,
    pub provider: Arc<dyn Provider>,
    pub concurrency: usize,
    pub insecure: bool,
    /// `min_agents` from the config (see `stale --min-agents`).
    pub min_agents: Option<u64>,
}

fn http_options(name: &str, common: &CommonKeys, vendor_default: Option<&str>) -> HttpOptions {
    let mut opts = HttpOptions::new(name);
    opts.timeout = common.timeout;
    opts.ca_file = common.ca_file.clone();
    opts.insecure_skip_tls_verify = common.insecure_skip_tls_verify;
    opts.rate_limit = common.rate_limit.clone().unwrap_or_else(|| {
        vendor_default
            .map(|d| {
                agentctl_core::ratelimit::RateLimitSpec::parse(d).expect("valid built-in quota")
            })
            .unwrap_or_default()
    });
    opts.headroom = common.concurrency as u64;
    opts.concurrency = common.concurrency;
    // A quota is per API key on the vendor's side, across runs: remember what this run
    // spends so the next one (e.g. `uninstall` right after `stale`) does not overdraw it.
    if !opts.rate_limit.is_off() {
        opts.quota_memory = Some(
            crate::app::state_dir()
                .join("quota")
                .join(format!("{name}.times")),
        );
    }
    opts.max_response_bytes = common.max_response_bytes;
    opts
}

fn vendor_keys_err(name: &str, e: impl std::fmt::Display) -> CliError {
    CliError::usage("config", e.to_string().trim().replace('\n', " ")).provider(name)
}

/// The kind of a configured provider without building it.
pub fn kind_of(file: &ConfigFile, name: &str) -> Option<String> {
    file.providers
        .get(name)
        .and_then(|t| t.get("kind"))
        .and_then(|k| k.as_str())
        .map(str::to_string)
}

/// Build one provider from its table. Warnings (literal secrets, TLS opt-out) are printed.
pub fn build(file: &ConfigFile, name: &str, readable_by_others: bool) -> CliResult<Configured> {
    let mut table = file
        .providers
        .get(name)
        .cloned()
        .ok_or_else(|| unknown_provider(file, name))?;
    let common = split_common(name, &mut table, &file.defaults)?;
    if common.insecure_skip_tls_verify {
        crate::error::eprint_line(&format!(
            "warning: {name}: TLS certificate verification is OFF (insecure_skip_tls_verify = true)"
        ));
    }
    let (provider, literal): (Arc<dyn Provider>, Vec<&'static str>) = match common.kind.as_str() {
        agentctl_secure_endpoint::KIND => {
            let cfg: agentctl_secure_endpoint::Config = toml::Value::Table(table)
                .try_into()
                .map_err(|e| vendor_keys_err(name, e))?;
            let p = agentctl_secure_endpoint::SecureEndpoint::new(
                name,
                &cfg,
                http_options(name, &common, None),
            )
            .map_err(|e| CliError::from_provider("config", e))?;
            (Arc::new(p), cfg.literal_secret_keys())
        }
        agentctl_secure_access::KIND => {
            let cfg: agentctl_secure_access::Config = toml::Value::Table(table)
                .try_into()
                .map_err(|e| vendor_keys_err(name, e))?;
            // The published per-key quotas unless the config says otherwise.
            let opts = http_options(
                name,
                &common,
                Some(agentctl_secure_access::DEFAULT_RATE_LIMIT),
            );
            let p = agentctl_secure_access::SecureAccess::new(name, &cfg, opts)
                .map_err(|e| CliError::from_provider("config", e))?;
            (Arc::new(p), cfg.literal_secret_keys())
        }
        agentctl_apex_central::KIND => {
            let cfg: agentctl_apex_central::Config = toml::Value::Table(table)
                .try_into()
                .map_err(|e| vendor_keys_err(name, e))?;
            let p = agentctl_apex_central::ApexCentral::new(
                name,
                &cfg,
                http_options(name, &common, None),
            )
            .map_err(|e| CliError::from_provider("config", e))?;
            (Arc::new(p), cfg.literal_secret_keys())
        }
        agentctl_taegis::KIND => {
            let cfg: agentctl_taegis::Config = toml::Value::Table(table)
                .try_into()
                .map_err(|e| vendor_keys_err(name, e))?;
            let p = agentctl_taegis::Taegis::new(name, &cfg, http_options(name, &common, None))
                .map_err(|e| CliError::from_provider("config", e))?;
            (Arc::new(p), cfg.literal_secret_keys())
        }
        other => {
            return Err(CliError::usage(
                "config",
                format!(
                    "kind: unknown kind '{other}'; expected one of {}",
                    kind_names().join(", ")
                ),
            )
            .provider(name));
        }
    };
    if readable_by_others && !literal.is_empty() {
        crate::error::eprint_line(&format!(
            "warning: {name}: literal secret in a config file readable by group or others ({}); use env:NAME or file:PATH, or chmod 600",
            literal.join(", ")
        ));
    }
    Ok(Configured {
        name: name.to_string(),
        kind: provider.kind(),
        provider,
        concurrency: common.concurrency,
        insecure: common.insecure_skip_tls_verify,
        min_agents: common.min_agents,
    })
}

pub fn unknown_provider(file: &ConfigFile, name: &str) -> CliError {
    let known: Vec<&str> = file.providers.keys().map(String::as_str).collect();
    let close = known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(name) || k.starts_with(name) || name.starts_with(**k));
    let hint = match close {
        Some(k) => format!("did you mean -p {k}?"),
        None => format!("agentctl config init --name {name} adds it"),
    };
    CliError::usage(
        "provider",
        format!(
            "no provider named '{name}' ({})",
            if known.is_empty() {
                "none is configured".to_string()
            } else {
                format!("configured: {}", known.join(", "))
            }
        ),
    )
    .hint(hint)
}

/// Resolve a kind name or alias (`se`) to the kind.
pub fn resolve_kind(name: &str) -> Option<&'static str> {
    KINDS
        .iter()
        .find(|k| k.name == name || k.aliases.contains(&name))
        .map(|k| k.name)
}

/// Check a provider table's keys without building it (no secrets read, nothing sent).
pub fn check_keys(file: &ConfigFile, name: &str) -> CliResult<&'static str> {
    let mut table = file
        .providers
        .get(name)
        .cloned()
        .ok_or_else(|| unknown_provider(file, name))?;
    let common = split_common(name, &mut table, &file.defaults)?;
    let value = toml::Value::Table(table);
    macro_rules! keys {
        ($krate:ident) => {{
            let _: $krate::Config = value.try_into().map_err(|e| vendor_keys_err(name, e))?;
            Ok($krate::KIND)
        }};
    }
    match common.kind.as_str() {
        agentctl_secure_endpoint::KIND => keys!(agentctl_secure_endpoint),
        agentctl_secure_access::KIND => keys!(agentctl_secure_access),
        agentctl_apex_central::KIND => keys!(agentctl_apex_central),
        agentctl_taegis::KIND => keys!(agentctl_taegis),
        other => Err(CliError::usage(
            "config",
            format!(
                "kind: unknown kind '{other}'; expected one of {}",
                kind_names().join(", ")
            ),
        )
        .provider(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_operations_match_what_providers_support() {
        // Every credential key present (literal, unreachable URL): `supports` needs no network.
        let text = r#"
[providers.se]
kind = "secure-endpoint"
api_url = "http://127.0.0.1:9"
token_url = "http://127.0.0.1:9"
client_id = "c"
api_key = "k"
xdr_client_id = "x"
xdr_client_secret = "s"
[providers.sa]
kind = "secure-access"
api_url = "http://127.0.0.1:9"
api_key = "k"
api_secret = "s"
key_admin_key = "ka"
key_admin_secret = "ks"
[providers.apex]
kind = "apex-central"
url = "http://127.0.0.1:9"
application_id = "a"
api_key = "k"
[providers.taegis]
kind = "taegis"
api_url = "http://127.0.0.1:9"
client_id = "c"
client_secret = "s"
tenant_id = "1"
"#;
        let file = crate::config::parse(text).unwrap();
        let all = [
            Operation::List,
            Operation::Stale,
            Operation::Uninstall,
            Operation::Remove,
            Operation::Restore,
            Operation::Relocate,
            Operation::Clients,
        ];
        for name in file.providers.keys() {
            let built = build(&file, name, false).unwrap_or_else(|e| panic!("{e}"));
            let info = KINDS.iter().find(|k| k.name == built.kind).unwrap();
            for op in all {
                assert_eq!(
                    built.provider.supports(op).is_ok(),
                    info.operations.contains(&op),
                    "{}: `{}` support changed; update `operations` in src/providers.rs KINDS",
                    built.kind,
                    op.name()
                );
            }
        }
    }

    #[test]
    fn config_example_is_valid_for_every_kind() {
        let text = include_str!("../config.example.toml");
        let file = crate::config::parse(text).unwrap();
        let mut kinds: Vec<&str> = file
            .providers
            .keys()
            .map(|name| check_keys(&file, name).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        kinds.sort();
        kinds.dedup();
        let mut all = kind_names();
        all.sort();
        assert_eq!(kinds, all, "config.example.toml shows every kind");
    }
}
