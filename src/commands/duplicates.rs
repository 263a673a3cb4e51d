//! `agentctl duplicates [--min-age HOURS]`: within each provider, machines registered under
//! more than one agent id. The newest registration by last-seen time is kept; the others are
//! written as a plan (SPEC's agent columns, then `match`, `duplicate_of` and `action`) that
//! `apply --from` / `remove --from` can act on. Agents seen within `--min-age` hours and
//! protected agents are never planned (both counted on stderr).

use agentctl_core::Operation;
use jiff::SignedDuration;
use serde_json::{Map, Value};

use crate::app::App;
use crate::cli::DuplicatesArgs;
use crate::error::{CliError, CliResult, exit};
use crate::fleet::identity::Machines;
use crate::fleet::protect::Protection;
use crate::fleet::{self, FLEET_QUERY, Fleet, duplicates};
use crate::output::AGENT_COLUMNS;

/// The plan columns: SPEC's agent columns, `match`, `duplicate_of`, `action`.
pub fn columns() -> Vec<&'static str> {
    AGENT_COLUMNS
        .iter()
        .copied()
        .chain(["match", "duplicate_of", "action"])
        .collect()
}

pub fn duplicate_row(
    fleet: &Fleet,
    d: &duplicates::Duplicate,
    now: jiff::Timestamp,
) -> Map<String, Value> {
    let a = &fleet.agents[d.agent as usize];
    let mut row = fleet.agent_row(a, now);
    row.insert(
        "match".into(),
        d.rule
            .map_or(Value::Null, |r| Value::String(r.name().into())),
    );
    row.insert(
        "duplicate_of".into(),
        Value::String(fleet.agents[d.kept as usize].agent_id().to_string()),
    );
    row.insert(
        "action".into(),
        if fleet.provider_of(a).can_remove {
            Value::String("remove".into())
        } else {
            Value::Null
        },
    );
    row
}

pub async fn run(app: &App, args: &DuplicatesArgs) -> CliResult {
    let protection = Protection::load(&app.config.protect, app.global.protect_file.as_deref())?;
    let selected = app.select(Operation::List)?;
    let collected = fleet::collect(app, Operation::List, &selected, &FLEET_QUERY, |_, _| {}).await;
    let fleet = &collected.fleet;
    let machines = Machines::build(fleet);
    let min_seen = app.now - SignedDuration::from_hours(i64::from(args.min_age));
    let found = duplicates::find(fleet, &machines, min_seen);
    let mut writer = app.writer(&columns())?;
    let (mut planned, mut recent, mut protected) = (0usize, 0usize, 0usize);
    let mut no_action: Vec<&str> = Vec::new();
    for d in &found.duplicates {
        let a = &fleet.agents[d.agent as usize];
        match d.fate(fleet, &protection) {
            duplicates::DuplicateFate::TooRecent => {
                recent += 1;
                continue;
            }
            duplicates::DuplicateFate::Protected(_) => {
                protected += 1;
                continue;
            }
            duplicates::DuplicateFate::Planned => {}
        }
        let p = fleet.provider_of(a);
        if !p.can_remove && !no_action.contains(&p.name.as_str()) {
            no_action.push(&p.name);
        }
        planned += 1;
        writer.write_row(&duplicate_row(fleet, d, app.now))?;
    }
    writer.finish()?;
    app.info(format!(
        "{planned} duplicate registrations planned for removal (the newest of each machine is kept)"
    ));
    if recent > 0 {
        app.info(format!(
            "{recent} duplicates seen within the last {} h not planned (--min-age)",
            args.min_age
        ));
    }
    if protected > 0 {
        app.info(format!(
            "{protected} protected agents held back (config [protect] / --protect-file)"
        ));
    }
    for name in no_action {
        app.info(format!(
            "note: {name} cannot remove registrations; its rows have no action"
        ));
    }
    for (p, n) in &found.unranked {
        app.info(format!(
            "note: {}: {n} machines have several registrations, but {} reports no last-seen time to tell the newest; none planned",
            fleet.providers[*p as usize].name,
            fleet.providers[*p as usize].kind
        ));
    }
    if collected.failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::exit_with(
            exit::RUNTIME,
            "duplicates",
            format!(
                "incomplete: {} failed (see above)",
                collected.failed.join(", ")
            ),
        ))
    }
}
