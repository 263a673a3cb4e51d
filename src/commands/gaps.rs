//! `agentctl gaps --days N [--expect KIND,…]`: machines active (seen within N days) in at
//! least one provider but missing from, or stale in, another expected provider.

use agentctl_core::Operation;
use agentctl_core::time::stale_cutoff;
use serde_json::{Map, Value};

use crate::app::App;
use crate::cli::GapsArgs;
use crate::error::{CliError, CliResult};
use crate::fleet::identity::Machines;
use crate::fleet::{self, FLEET_QUERY, Fleet, gaps, ts_value};

pub const COLUMNS: [&str; 6] = [
    "host",
    "match",
    "seen_in",
    "newest_last_seen",
    "missing_in",
    "stale_in",
];

/// The providers (indices into the fleet) every active machine is expected in: `--expect`,
/// else the config's `coverage.expect`, else all. Entries are kinds (or their short aliases)
/// or provider names; one that names no selected provider is a usage error.
pub fn expected(app: &App, fleet: &Fleet, flag: Option<&[String]>) -> CliResult<Vec<u16>> {
    let (list, source) = match (flag, app.config.coverage.expect.as_deref()) {
        (Some(l), _) => (l.to_vec(), "--expect"),
        (None, Some(l)) => (l.to_vec(), "coverage.expect"),
        (None, None) => return Ok((0..fleet.providers.len() as u16).collect()),
    };
    let mut out: Vec<u16> = Vec::new();
    for entry in list.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
        let kind = crate::providers::resolve_kind(entry);
        let hits: Vec<u16> = fleet
            .providers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.name == entry || Some(p.kind) == kind)
            .map(|(i, _)| i as u16)
            .collect();
        if hits.is_empty() {
            let names: Vec<String> = fleet
                .providers
                .iter()
                .map(|p| format!("{} ({})", p.name, p.kind))
                .collect();
            return Err(CliError::usage(
                source,
                format!("'{entry}' names no selected provider or provider kind"),
            )
            .hint(format!("selected: {}", names.join(", "))));
        }
        for h in hits {
            if !out.contains(&h) {
                out.push(h);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

fn names(fleet: &Fleet, ids: &[u16]) -> Value {
    Value::Array(
        ids.iter()
            .map(|&p| Value::String(fleet.providers[p as usize].name.clone()))
            .collect(),
    )
}

pub fn gap_row(fleet: &Fleet, g: &gaps::Gap) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("host".into(), Value::String(g.host.clone()));
    row.insert(
        "match".into(),
        g.rule
            .map_or(Value::Null, |r| Value::String(r.name().into())),
    );
    row.insert("seen_in".into(), names(fleet, &g.seen_in));
    row.insert("newest_last_seen".into(), ts_value(g.newest_last_seen));
    row.insert("missing_in".into(), names(fleet, &g.missing_in));
    row.insert("stale_in".into(), names(fleet, &g.stale_in));
    row
}

pub async fn run(app: &App, args: &GapsArgs) -> CliResult {
    let cutoff = stale_cutoff(app.now, args.days);
    let selected = app.select(Operation::List)?;
    let collected = fleet::collect(app, Operation::List, &selected, &FLEET_QUERY, |_, _| {}).await;
    collected.require_complete("gaps")?;
    let fleet = &collected.fleet;
    let expected = expected(app, fleet, args.expect.as_deref())?;
    let machines = Machines::build(fleet);
    let found = gaps::find(fleet, &machines, &expected, cutoff);
    let mut writer = app.writer(&COLUMNS)?;
    for g in &found {
        writer.write_row(&gap_row(fleet, g))?;
    }
    writer.finish()?;
    let expected_names: Vec<&str> = expected
        .iter()
        .map(|&p| fleet.providers[p as usize].name.as_str())
        .collect();
    app.info(format!(
        "{} machines with a coverage gap among {} machines ({} agents); expected in: {}",
        found.len(),
        machines.len(),
        fleet.agents.len(),
        expected_names.join(", ")
    ));
    Ok(())
}
