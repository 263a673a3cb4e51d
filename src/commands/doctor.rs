//! `agentctl doctor`: per provider, config, credentials and one cheap read call, with latency.

use serde_json::json;

use crate::app::App;
use crate::error::{CliError, CliResult, exit};

pub async fn run(app: &App) -> CliResult {
    let names = app.requested_names();
    if names.is_empty() {
        return Err(CliError::usage("doctor", "no provider is configured")
            .hint("add a [providers.<name>] section (see config.example.toml), or try --sandbox"));
    }
    let mut writer = app.writer(&["provider", "kind", "check", "ok", "detail", "latency_ms"])?;
    let mut all_ok = true;
    for name in &names {
        let kind = crate::providers::kind_of(&app.config, name).unwrap_or_default();
        let row = |check: &str, ok: bool, detail: &str, latency: Option<u64>| {
            let mut r = serde_json::Map::new();
            r.insert("provider".into(), json!(name));
            r.insert("kind".into(), json!(kind));
            r.insert("check".into(), json!(check));
            r.insert("ok".into(), json!(ok));
            r.insert("detail".into(), json!(detail));
            r.insert("latency_ms".into(), json!(latency));
            r
        };
        match app.provider(name) {
            Err(e) => {
                all_ok = false;
                writer.write_row(&row("config", false, &e.why, None))?;
            }
            Ok(configured) => {
                let tls = if configured.insecure {
                    "loaded; TLS verification OFF (insecure_skip_tls_verify)"
                } else {
                    "loaded"
                };
                writer.write_row(&row("config", true, tls, None))?;
                for check in configured.provider.doctor().await {
                    all_ok &= check.ok;
                    writer.write_row(&row(
                        &check.name,
                        check.ok,
                        &check.detail,
                        check.latency_ms,
                    ))?;
                }
            }
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
