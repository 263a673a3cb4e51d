//! `agentctl stale --days N`: agents whose last-seen time is older than now − N × 24 h, with
//! where else the same machine was seen (`seen_elsewhere`, `seen_elsewhere_in`, `match`).
//! `--corroborate` keeps only agents whose machine is stale in every other console too; the
//! others (broken agents) go to `--broken-out FILE`. Protected agents never enter the plan.

use std::path::Path;

use agentctl_core::time::stale_cutoff;
use agentctl_core::{AgentRecord, HostPattern, ListQuery, Operation};
use serde_json::{Map, Value};

use crate::app::App;
use crate::cli::StaleArgs;
use crate::error::{CliError, CliResult, exit};
use crate::fleet::corroborate::{SeenElsewhere, StaleFate, stale_fate};
use crate::fleet::identity::Machines;
use crate::fleet::protect::Protection;
use crate::fleet::{self, Fleet, ts_value};
use crate::output::{AGENT_COLUMNS, AgentRow, Cell, Format, Row, RowWriter, agent_row};
use crate::spill::{ExternalSort, Ordered};

/// The columns `stale` adds after `group`.
pub const SEEN_COLUMNS: [&str; 3] = ["seen_elsewhere", "seen_elsewhere_in", "match"];

/// `stale`'s columns: SPEC's agent columns, then [`SEEN_COLUMNS`].
pub fn columns() -> Vec<&'static str> {
    AGENT_COLUMNS
        .iter()
        .chain(SEEN_COLUMNS.iter())
        .copied()
        .collect()
}

/// An agent row with the corroboration columns after `group` (and `raw` last).
pub fn stale_row(
    record: &AgentRecord,
    seen: Option<&SeenElsewhere>,
    fleet: &Fleet,
    now: jiff::Timestamp,
) -> Map<String, Value> {
    let mut row = agent_row(record, now);
    let raw = row.remove("raw");
    row.insert("seen_elsewhere".into(), ts_value(seen.map(|s| s.last_seen)));
    row.insert(
        "seen_elsewhere_in".into(),
        seen.map_or(Value::Null, |s| {
            Value::String(fleet.providers[s.provider as usize].name.clone())
        }),
    );
    row.insert(
        "match".into(),
        seen.and_then(|s| s.rule)
            .map_or(Value::Null, |r| Value::String(r.name().into())),
    );
    if let Some(raw) = raw {
        row.insert("raw".into(), raw);
    }
    row
}

/// One `stale` row as a [`Row`]: the agent columns, [`SEEN_COLUMNS`], then `action`; its
/// object is [`stale_row`] then `action`.
pub struct StaleRow<'a> {
    pub agent: AgentRow<'a>,
    pub seen: Option<&'a SeenElsewhere>,
    pub fleet: &'a Fleet,
}

impl Row for StaleRow<'_> {
    fn cell(&self, column: &str) -> Cell<'_> {
        match column {
            "seen_elsewhere" => self.seen.map_or(Cell::Null, |s| Cell::Time(s.last_seen)),
            "seen_elsewhere_in" => self.seen.map_or(Cell::Null, |s| {
                Cell::Text(&self.fleet.providers[s.provider as usize].name)
            }),
            "match" => self
                .seen
                .and_then(|s| s.rule)
                .map_or(Cell::Null, |r| Cell::Text(r.name())),
            other => self.agent.cell(other),
        }
    }

    fn object(&self) -> Map<String, Value> {
        let mut row = stale_row(self.agent.record, self.seen, self.fleet, self.agent.now);
        if let Some(a) = self.agent.action {
            row.insert("action".into(), Value::String(a.into()));
        }
        row
    }
}

fn file_writer(path: &Path, bom: bool, columns: &[&str]) -> CliResult<RowWriter> {
    let created = crate::atomic::create(path)
        .map_err(|e| CliError::usage("output", format!("cannot create {}: {e}", path.display())))?;
    Ok(RowWriter::new(
        Box::new(std::io::BufWriter::new(created.file)),
        Format::from_extension(path).unwrap_or(Format::Csv),
        columns.iter().map(|c| c.to_string()).collect(),
        bom,
    )
    .with_commit(created.commit))
}

pub async fn run(app: &App, args: &StaleArgs) -> CliResult {
    let cutoff = stale_cutoff(app.now, args.days);
    let include_unknown = args.include_unknown;
    let protection = Protection::load(&app.config.protect, app.global.protect_file.as_deref())?;
    let mut selected = app.select(Operation::Stale)?;
    selected.sort_by(|a, b| a.name.cmp(&b.name));
    super::list::action_notes(app, &selected, &args.plan);
    let mins: Vec<Option<u64>> = selected
        .iter()
        .map(|c| args.min_agents.or(c.min_agents))
        .collect();
    // Where else a machine was seen needs every agent of every provider, not only the stale
    // ones; with a single provider there is no elsewhere, so no per-agent fleet is kept,
    // memory stays flat and the stale hint is safe (unless a minimum is checked: that counts
    // the whole listing).
    let cross = selected.len() > 1;
    let query = ListQuery {
        host: args.host.as_deref().map(HostPattern::new),
        last_seen_before: (selected.len() == 1 && mins.iter().all(Option::is_none))
            .then_some(cutoff),
        include_unknown,
        // The vendor's record only where a JSON output shows it (`--broken-out x.json` too).
        keep_raw: app.format().shows_raw()
            || args
                .broken_out
                .as_deref()
                .is_some_and(|p| Format::from_extension(p).unwrap_or(Format::Csv).shows_raw()),
        // Rows never show MAC addresses or serials; only the fleet kept to match machines
        // across consoles reads them.
        identity_hints: cross,
    };
    // The rule a provider given the hint may already have applied; applied here to every
    // record either way.
    let rule = ListQuery {
        last_seen_before: Some(cutoff),
        include_unknown,
        ..ListQuery::default()
    };
    let keep = |r: &AgentRecord| rule.wants_last_seen(r.last_seen);
    // The stable order of every listing: provider, host name (case-insensitively, then
    // exactly), agent id; sorted within a memory budget (`crate::spill`).
    let mut stale: ExternalSort<Ordered> = ExternalSort::new(crate::spill::run_budget());
    let mut spill_failed: Option<std::io::Error> = None;
    let collected = fleet::collect_owned(
        app,
        Operation::Stale,
        &selected,
        &query,
        cross,
        |p, i, r| {
            if spill_failed.is_none() && keep(&r) {
                // The fleet keeps its own identity hints; the row drops them.
                if let Err(e) = stale.push(|out| Ordered::encode_row(p, i, &r, out)) {
                    spill_failed = Some(e);
                }
            }
        },
    )
    .await;
    if let Some(e) = spill_failed {
        return Err(super::list::spill_error(Operation::Stale, e));
    }
    if args.corroborate {
        collected.require_complete("stale --corroborate")?;
    } else if !collected.failed.is_empty() && selected.len() > 1 {
        app.info("note: seen_elsewhere leaves out the providers that could not be listed");
    }
    let problems =
        fleet::truncation_problems(&selected, &mins, &collected.received, &collected.tallies);
    if !problems.is_empty() {
        return Err(fleet::refuse_truncated("stale", &problems));
    }
    let fleet = &collected.fleet;
    let machines = cross.then(|| Machines::build(fleet));

    let mut columns = columns();
    if args.plan.action.is_some() {
        columns.push("action");
    }
    let mut writer = app.writer(&columns)?;
    let mut broken_writer = match &args.broken_out {
        Some(path) => Some(file_writer(path, app.global.bom, &columns)?),
        None => None,
    };
    let (mut written, mut broken, mut protected) = (0u64, 0u64, 0u64);
    let mut sorted = stale
        .finish()
        .map_err(|e| super::list::spill_error(Operation::Stale, e))?;
    // One row read back from the sorted bytes at a time, its strings reused.
    let mut item = Ordered::default();
    while sorted
        .next_into(&mut item)
        .map_err(|e| super::list::spill_error(Operation::Stale, e))?
    {
        let (i, record) = (item.index, &item.record);
        // One provider (no fleet kept): the same rule with nothing elsewhere to corroborate.
        let fate = match &machines {
            Some(m) => stale_fate(fleet, m, &protection, i, cutoff),
            None if protection.is_empty() => StaleFate::Retired(None),
            None => match protection.reason(
                &record.agent_id,
                Some(&record.hostname),
                record.group.as_deref(),
            ) {
                Some(why) => StaleFate::Protected(why),
                None => StaleFate::Retired(None),
            },
        };
        let (seen, alive_elsewhere) = match fate {
            StaleFate::Protected(_) => {
                protected += 1;
                continue;
            }
            StaleFate::Broken(s) => (Some(s), true),
            StaleFate::Retired(s) => (s, false),
        };
        let row = StaleRow {
            agent: AgentRow {
                record,
                now: app.now,
                action: super::list::action_cell(record, app.now, &args.plan),
            },
            seen: seen.as_ref(),
            fleet,
        };
        if args.corroborate && alive_elsewhere {
            broken += 1;
            if let Some(w) = broken_writer.as_mut() {
                w.write(&row)?;
            }
            continue;
        }
        written += 1;
        writer.write(&row)?;
    }
    writer.finish()?;
    if let Some(w) = broken_writer {
        w.finish()?;
    }
    if protected > 0 {
        app.info(format!(
            "{protected} protected agents held back (config [protect] / --protect-file)"
        ));
    }
    if args.corroborate {
        let to = args
            .broken_out
            .as_ref()
            .map(|p| format!(" (written to {})", p.display()))
            .unwrap_or_default();
        app.info(format!(
            "{broken} agents stale here but alive elsewhere: broken agents, not retired machines{to}"
        ));
    }
    if let Some(path) = &app.global.out {
        app.info(format!(
            "{written} agents written to {} ({} read)",
            path.display(),
            collected.listed
        ));
    }
    if collected.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::exit_with(
            exit::RUNTIME,
            "stale",
            format!(
                "incomplete: {} failed (see above)",
                collected.failed.join(", ")
            ),
        ))
    }
}
