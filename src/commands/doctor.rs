//! `agentctl doctor`: per provider, config, credentials and one cheap read call, with latency.
//! Providers are checked concurrently.

use serde_json::json;

use crate::app::App;
use crate::error::{CliError, CliResult, exit};

type Row = (String, bool, String, Option<u64>);

/// One provider's checks: its config, then what the provider checks itself.
async fn check_one(app: &App, name: &str) -> Vec<Row> {
    match app.provider(name) {
        Err(e) => vec![("config".into(), false, e.why, None)],
        Ok(configured) => {
            let tls = if configured.insecure {
                "loaded; TLS verification OFF (insecure_skip_tls_verify)"
            } else {
                "loaded"
            };
            let mut rows = vec![("config".to_string(), true, tls.to_string(), None)];
            for check in configured.provider.doctor().await {
                rows.push((check.name, check.ok, check.detail, check.latency_ms));
            }
            rows
        }
    }
}

pub async fn run(app: &App) -> CliResult {
    let names = app.requested_names();
    if names.is_empty() {
        return Err(CliError::usage("doctor", "no provider is configured").hint(
            "agentctl config init adds a provider (or see config.example.toml); or try --sandbox",
        ));
    }
    let mut writer = app.writer(&["provider", "kind", "check", "ok", "detail", "latency_ms"])?;
    // Every provider is checked at the same time (an unreachable one costs its timeout once,
    // not once per provider); rows come out in config order.
    let checks = futures::future::join_all(names.iter().map(|name| check_one(app, name))).await;
    let mut all_ok = true;
    for (name, rows) in names.iter().zip(checks) {
        let kind = crate::providers::kind_of(&app.config, name).unwrap_or_default();
        for (check, ok, detail, latency) in rows {
            all_ok &= ok;
            let mut r = serde_json::Map::new();
            r.insert("provider".into(), json!(name));
            r.insert("kind".into(), json!(kind));
            r.insert("check".into(), json!(check));
            r.insert("ok".into(), json!(ok));
            r.insert("detail".into(), json!(detail));
            r.insert("latency_ms".into(), json!(latency));
            writer.write_row(&r)?;
        }
    }
    writer.finish()?;
    if all_ok {
        Ok(())
    } else {
        Err(CliError::exit_with(
            exit::RUNTIME,
            "doctor",
            "some checks failed (see above)",
        ))
    }
}
