//! `agentctl list`: every agent of the selected providers, streamed page by page.

use agentctl_core::{AgentRecord, HostPattern, ListQuery, Operation};
use futures::StreamExt;

use crate::app::App;
use crate::cli::ListArgs;
use crate::error::{CliError, CliResult, exit};
use crate::output::{AGENT_COLUMNS, agent_row};
use crate::progress::Progress;

pub async fn run(app: &App, args: &ListArgs) -> CliResult {
    let query = ListQuery {
        host: args.host.as_deref().map(HostPattern::new),
        keep_raw: app.format().shows_raw(),
        ..ListQuery::default()
    };
    stream_agents(app, Operation::List, &query, |_| true).await
}

/// List agents of every selected provider concurrently, keep those matching the query's
/// host pattern and `keep`, and write them as they arrive. A provider that fails is reported
/// and the others finish; the exit code is then 1.
pub async fn stream_agents(
    app: &App,
    op: Operation,
    query: &ListQuery,
    keep: impl Fn(&AgentRecord) -> bool,
) -> CliResult {
    let selected = app.select(op)?;
    let mut writer = app.writer(&AGENT_COLUMNS)?;
    let progress = Progress::spinner(app, "listing agents");
    let streams = selected.iter().map(|c| {
        let name = c.name.clone();
        c.provider.list(query).map(move |r| (name.clone(), r))
    });
    let mut merged = futures::stream::select_all(streams);
    let (mut seen, mut written) = (0u64, 0u64);
    let mut failures = Vec::new();
    while let Some((name, item)) = merged.next().await {
        match item {
            Ok(record) => {
                seen += 1;
                progress.set_message(format!("{seen} agents read, {written} kept"));
                let host_ok = query
                    .host
                    .as_ref()
                    .is_none_or(|h| h.matches(&record.hostname));
                if host_ok && keep(&record) {
                    written += 1;
                    writer.write_row(&agent_row(&record, app.now))?;
                }
            }
            Err(e) => {
                let err = CliError::from_provider(op.name(), e.with_provider(&name));
                crate::error::eprint_line(&err.to_string());
                failures.push(name);
            }
        }
    }
    progress.finish();
    writer.finish()?;
    if let Some(path) = &app.global.out {
        app.info(format!(
            "{written} agents written to {} ({seen} read)",
            path.display()
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(CliError::exit_with(
            exit::RUNTIME,
            op.name(),
            format!("incomplete: {} failed (see above)", failures.join(", ")),
        ))
    }
}
