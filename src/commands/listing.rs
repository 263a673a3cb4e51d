//! Extra per-kind listings: `agentctl se orgs` (and later `apex servers`, `sa tunnels`).

use crate::app::App;
use crate::error::{CliError, CliResult, exit};

pub async fn run(app: &App, name: &str) -> CliResult {
    let names = app.requested_names();
    if names.is_empty() {
        return Err(CliError::usage(
            name,
            format!(
                "no {} provider is configured",
                app.kind_scope.unwrap_or("matching")
            ),
        ));
    }
    let mut writer = None;
    let mut failed = false;
    for n in &names {
        let configured = app.provider(n)?;
        match configured.provider.listing(name).await {
            Ok(listing) => {
                let w = match writer.as_mut() {
                    Some(w) => w,
                    None => writer.insert(app.writer(&listing.columns)?),
                };
                for row in &listing.rows {
                    w.write_row(row)?;
                }
            }
            Err(e) => {
                crate::error::eprint_line(&format!(
                    "{}",
                    CliError::from_provider(name, e.with_provider(n))
                ));
                failed = true;
            }
        }
    }
    if let Some(w) = writer {
        w.finish()?;
    }
    if failed {
        Err(CliError::exit_with(
            exit::RUNTIME,
            name,
            "failed (see above)",
        ))
    } else {
        Ok(())
    }
}
