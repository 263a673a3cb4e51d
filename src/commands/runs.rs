//! `agentctl runs` (past bulk runs) and `agentctl runs show DIGEST|RUN|PATH` (one run's or
//! one plan's outcomes), in any `-o` format.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::app::{App, state_dir};
use crate::cli::{RunsArgs, RunsCommand};
use crate::error::{CliError, CliResult};
use crate::runstate::{RunSummary, digest, journal, lock, summary};

pub const RUN_COLUMNS: [&str; 13] = [
    "run",
    "command",
    "digest",
    "status",
    "started",
    "ended",
    "duration_secs",
    "agents",
    "requested",
    "skipped",
    "failed",
    "done_earlier",
    "journal",
];

pub const ENTRY_COLUMNS: [&str; 9] = [
    "ts",
    "run",
    "provider",
    "agent_id",
    "hostname",
    "action",
    "outcome",
    "detail",
    "request_id",
];

pub async fn run(app: &App, args: &RunsArgs) -> CliResult {
    match &args.command {
        None => list(app),
        Some(RunsCommand::Show { what }) => show(app, what),
    }
}

fn lock_path(journal: &Path) -> PathBuf {
    let mut p = journal.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// A run entered as `running` whose journal lock is free was killed.
fn status(s: &RunSummary) -> String {
    if s.status == "running"
        && let Some(j) = &s.journal
        && !lock::is_held(&lock_path(j))
    {
        return "killed".into();
    }
    s.status.clone()
}

fn list(app: &App) -> CliResult {
    let dir = state_dir();
    let (runs, bad) = summary::list(&dir).map_err(|e| {
        CliError::runtime(
            "runs",
            format!("cannot read {}: {e}", summary::index_dir(&dir).display()),
        )
    })?;
    if bad > 0 {
        app.info(format!("note: {bad} unreadable run record(s) ignored"));
    }
    let mut writer = app.writer(&RUN_COLUMNS)?;
    for s in &runs {
        let mut row = Map::new();
        row.insert("run".into(), json!(s.run));
        row.insert("command".into(), json!(s.command));
        row.insert("digest".into(), json!(s.digest));
        row.insert("status".into(), json!(status(s)));
        row.insert("started".into(), json!(s.started));
        row.insert("ended".into(), json!(s.ended));
        row.insert(
            "duration_secs".into(),
            json!((s.duration_secs * 1000.0).round() / 1000.0),
        );
        row.insert("agents".into(), json!(s.agents));
        row.insert(
            "requested".into(),
            json!(RunSummary::total(&s.counts, "requested")),
        );
        row.insert(
            "skipped".into(),
            json!(RunSummary::total(&s.counts, "skipped:")),
        );
        row.insert(
            "failed".into(),
            json!(RunSummary::total(&s.counts, "failed:")),
        );
        row.insert("done_earlier".into(), json!(s.done_earlier));
        row.insert("journal".into(), json!(s.journal));
        row.insert("counts".into(), json!(s.counts));
        writer.write_row(&row)?;
    }
    writer.finish()?;
    if runs.is_empty() {
        app.info(format!(
            "no runs recorded yet under {}",
            summary::index_dir(&dir).display()
        ));
    }
    Ok(())
}

/// The journals `what` names, and the run to keep (for a run id).
fn resolve(what: &str) -> CliResult<(Vec<PathBuf>, Option<String>)> {
    let dir = state_dir();
    let path = Path::new(what);
    if path.is_file() {
        return Ok((vec![path.to_path_buf()], None));
    }
    let (runs, _) = summary::list(&dir).unwrap_or_default();
    if let Some(s) = runs.iter().find(|s| s.run == what) {
        let journal = s.journal.clone().ok_or_else(|| {
            CliError::usage(
                "runs show",
                format!("run {what} has no journal (a dry run)"),
            )
        })?;
        return Ok((vec![journal], Some(what.to_string())));
    }
    if digest::is_digest(what) {
        let mut journals: Vec<PathBuf> = runs
            .iter()
            .filter(|s| s.digest.eq_ignore_ascii_case(what))
            .filter_map(|s| s.journal.clone())
            .collect();
        // Journals of the default location, also those whose runs are not in the index.
        if let Ok(entries) = std::fs::read_dir(dir.join("journals")) {
            for e in entries.flatten() {
                let p = e.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if name
                    .to_ascii_lowercase()
                    .starts_with(&format!("{}-", what.to_ascii_lowercase()))
                    && name.ends_with(".jsonl")
                {
                    journals.push(p);
                }
            }
        }
        journals.sort();
        journals.dedup();
        if !journals.is_empty() {
            return Ok((journals, None));
        }
    }
    Err(CliError::usage(
        "runs show",
        format!("'{what}' is no journal file, run id or plan digest this machine has a record of"),
    )
    .hint("`agentctl runs` lists the runs with their digests and journals"))
}

fn show(app: &App, what: &str) -> CliResult {
    let (journals, only_run) = resolve(what)?;
    let mut writer = app.writer(&ENTRY_COLUMNS)?;
    for path in &journals {
        let entries = journal::read_entries(path).map_err(|e| {
            CliError::usage("runs show", format!("cannot read {}: {e}", path.display()))
        })?;
        for (_, e) in entries {
            if only_run
                .as_deref()
                .is_some_and(|r| e.run.as_deref() != Some(r))
            {
                continue;
            }
            let mut row = Map::new();
            row.insert("ts".into(), json!(e.ts));
            row.insert("run".into(), json!(e.run));
            row.insert("provider".into(), json!(e.provider));
            row.insert("agent_id".into(), json!(e.agent_id));
            row.insert("hostname".into(), json!(e.hostname));
            row.insert("action".into(), json!(e.action));
            row.insert("outcome".into(), json!(e.outcome));
            row.insert("detail".into(), json!(e.detail));
            row.insert("request_id".into(), json!(e.request_id));
            for (k, v) in e.extra {
                row.entry(k).or_insert(v);
            }
            row.insert("journal".into(), Value::String(path.display().to_string()));
            writer.write_row(&row)?;
        }
    }
    writer.finish()?;
    Ok(())
}
