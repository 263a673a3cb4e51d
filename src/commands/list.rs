//! `agentctl list`: every agent of the selected providers.
//!
//! Rows come out in a stable order — provider name, then host name (case-insensitively, then
//! exactly), then agent id — so two plans can be diffed and snapshots compared. Providers are
//! listed concurrently; each provider's rows are written, sorted, as soon as it and every
//! provider before it have finished. Sorting keeps memory bounded: a large listing is sorted
//! in runs spilled to unnamed temporary files and merged (`crate::spill`).

use agentctl_core::time::stale_cutoff;
use agentctl_core::{Action, AgentRecord, HostPattern, ListQuery, Operation};
use futures::StreamExt;

use crate::app::App;
use crate::cli::{ListArgs, PlanAction, PlanActionArgs};
use crate::error::{CliError, CliResult, exit};
use crate::output::{AGENT_COLUMNS, AgentRow, RowWriter};
use crate::progress::Progress;
use crate::spill::{ExternalSort, Ordered};

pub async fn run(app: &App, args: &ListArgs) -> CliResult {
    let query = ListQuery {
        host: args.host.as_deref().map(HostPattern::new),
        keep_raw: app.format().shows_raw(),
        // Rows never show MAC addresses or serials (`Ordered::encode_row`).
        identity_hints: false,
        ..ListQuery::default()
    };
    let shape = Shape {
        plan: args.plan.clone(),
        min_agents: None,
    };
    stream_agents(app, Operation::List, &query, &shape, |_| true).await
}

/// What a listing adds to the agent rows and checks before writing them.
#[derive(Debug, Clone)]
pub struct Shape {
    /// `--action` / `--uninstall-within`: the `action` column.
    pub plan: PlanActionArgs,
    /// `--min-agents`: refuse when a provider lists fewer (its config's `min_agents` applies
    /// too).
    pub min_agents: Option<u64>,
}

/// The `action` cell for one agent: what `apply` will do. An agent whose vendor already shows
/// an uninstall pending says `pending-uninstall` instead of `uninstall` (apply sends nothing).
pub fn action_cell(
    rec: &AgentRecord,
    now: jiff::Timestamp,
    plan: &PlanActionArgs,
) -> Option<&'static str> {
    let action = match plan.action? {
        PlanAction::Uninstall => "uninstall",
        PlanAction::Remove => "remove",
        PlanAction::Relocate => "relocate",
        PlanAction::Auto => {
            let cutoff = stale_cutoff(now, plan.uninstall_within);
            if rec.last_seen.is_some_and(|seen| seen >= cutoff) {
                "uninstall"
            } else {
                "remove"
            }
        }
    };
    Some(if action == "uninstall" && rec.pending_uninstall {
        "pending-uninstall"
    } else {
        action
    })
}

/// Say once per provider when the plan asks for something it cannot do (or does as another
/// action).
pub fn action_notes(app: &App, selected: &[crate::providers::Configured], plan: &PlanActionArgs) {
    let Some(choice) = plan.action else {
        return;
    };
    let asked: &[Action] = match choice {
        PlanAction::Uninstall => &[Action::Uninstall],
        PlanAction::Remove => &[Action::Remove],
        PlanAction::Auto => &[Action::Uninstall, Action::Remove],
        PlanAction::Relocate => &[],
    };
    for c in selected {
        for a in asked {
            if let Err(ns) = c.provider.supports(a.operation()) {
                app.info(format!(
                    "note: {}: {} (apply will skip its {} rows)",
                    c.name,
                    ns.reason,
                    a.name()
                ));
            } else if c.provider.effective_action(a).name() != a.name() {
                app.info(format!(
                    "note: {}: {} is done as {} by this provider",
                    c.name,
                    a.name(),
                    c.provider.effective_action(a).name()
                ));
            }
        }
    }
}

/// Progress: agents read per provider, ✓ for the providers that finished.
pub(crate) fn show_counts(
    progress: &Progress,
    selected: &[crate::providers::Configured],
    received: &[u64],
    finished: &[bool],
) {
    let counts: Vec<(String, u64, bool)> = selected
        .iter()
        .zip(received.iter().zip(finished))
        .map(|(c, (n, done))| (c.name.clone(), *n, *done))
        .collect();
    progress.set_counts(&counts);
}

/// An output error while sorting (a spill file that cannot be written or read back).
pub fn spill_error(op: Operation, e: std::io::Error) -> CliError {
    CliError::runtime(
        op.name(),
        format!("cannot sort the listing in temporary files: {e}"),
    )
    .hint("agentctl spills large listings to the temp directory; set TMPDIR to a disk with room")
}

/// List agents of every selected provider concurrently, keep those matching the query's
/// host pattern and `keep`, and write them in the stable order. A provider that fails is
/// reported and the others finish; the exit code is then 1.
pub async fn stream_agents(
    app: &App,
    op: Operation,
    query: &ListQuery,
    shape: &Shape,
    keep: impl Fn(&AgentRecord) -> bool,
) -> CliResult {
    let mut selected = app.select(op)?;
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    let mut columns: Vec<&str> = AGENT_COLUMNS.to_vec();
    if shape.plan.action.is_some() {
        columns.push("action");
    }
    action_notes(app, &selected, &shape.plan);
    let mins: Vec<Option<u64>> = selected
        .iter()
        .map(|c| shape.min_agents.or(c.min_agents))
        .collect();
    let checking = mins.iter().any(Option::is_some);
    // A minimum is checked against the whole listing, so no server-side stale filter then:
    // a count of stale agents says nothing about a truncated listing.
    let mut query = query.clone();
    if checking {
        query.last_seen_before = None;
    }
    let query = &query;
    // The raw vendor record is only written by JSON formats; do not hold it otherwise.
    let keep_raw = query.keep_raw;
    let progress = Progress::spinner(app, "listing agents");
    let (tallies, mut merged) = crate::fleet::listings(&selected, query);
    let n = selected.len();
    // Each provider's rows in the stable order, within a bounded memory budget (large
    // listings are sorted in runs spilled to temporary files, see `crate::spill`).
    let budget = crate::spill::run_budget() / n.max(1);
    let new_sorter = || ExternalSort::<Ordered>::new(budget);
    let mut buffers: Vec<ExternalSort<Ordered>> = (0..n).map(|_| new_sorter()).collect();
    let mut received = vec![0u64; n];
    let mut finished = vec![false; n];
    let mut next = 0usize;
    let (mut seen, mut written) = (0u64, 0u64);
    let mut failures = Vec::new();
    let mut writer: Option<RowWriter> = None;
    let emit = |writer: &mut Option<RowWriter>,
                records: ExternalSort<Ordered>,
                written: &mut u64|
     -> CliResult {
        let w = match writer {
            Some(w) => w,
            None => writer.insert(app.writer(&columns)?),
        };
        let mut sorted = records.finish().map_err(|e| spill_error(op, e))?;
        // One row read back from the sorted bytes at a time, its strings reused.
        let mut item = Ordered::default();
        while sorted
            .next_into(&mut item)
            .map_err(|e| spill_error(op, e))?
        {
            let rec = &item.record;
            w.write(&AgentRow {
                record: rec,
                now: app.now,
                action: action_cell(rec, app.now, &shape.plan),
            })?;
            *written += 1;
        }
        // On a terminal a fitted table shows this provider's rows now.
        progress.suspend(|| w.flush_section())?;
        Ok(())
    };
    while let Some((i, item)) = merged.next().await {
        match item {
            Some(Ok(mut record)) => {
                seen += 1;
                received[i] += 1;
                if seen % 256 == 1 {
                    show_counts(&progress, &selected, &received, &finished);
                }
                let host_ok = query
                    .host
                    .as_ref()
                    .is_none_or(|h| h.matches(&record.hostname));
                if host_ok && keep(&record) {
                    if !keep_raw {
                        record.raw = serde_json::Value::Null;
                    }
                    buffers[i]
                        .push(|out| Ordered::encode_row(0, 0, &record, out))
                        .map_err(|e| spill_error(op, e))?;
                }
            }
            Some(Err(e)) => {
                let name = &selected[i].name;
                let err = CliError::from_provider(op.name(), e.with_provider(name));
                crate::error::eprint_line(&err.to_string());
                failures.push(name.clone());
            }
            None => {
                finished[i] = true;
                show_counts(&progress, &selected, &received, &finished);
                if !checking {
                    while next < n && finished[next] {
                        let records = std::mem::replace(&mut buffers[next], new_sorter());
                        emit(&mut writer, records, &mut written)?;
                        next += 1;
                    }
                }
            }
        }
    }
    progress.finish();
    if checking {
        let problems = crate::fleet::truncation_problems(&selected, &mins, &received, &tallies);
        if !problems.is_empty() {
            return Err(crate::fleet::refuse_truncated(op.name(), &problems));
        }
        for records in std::mem::take(&mut buffers) {
            emit(&mut writer, records, &mut written)?;
        }
    }
    let writer = match writer {
        Some(w) => w,
        None => app.writer(&columns)?,
    };
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
