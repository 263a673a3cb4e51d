//! `agentctl report --days N --out FILE.html|FILE.md|FILE.json`: one report for people
//! (HTML with inline SVG charts, printable; Markdown for tickets) or a SIEM (JSON), from one
//! concurrent listing pass of every selected provider.

use std::io::Write;
use std::path::Path;

use agentctl_core::Operation;
use agentctl_core::time::stale_cutoff;

use crate::app::App;
use crate::cli::{OutputFormat, ReportArgs};
use crate::error::{CliError, CliResult};
use crate::fleet::identity::Machines;
use crate::fleet::protect::Protection;
use crate::fleet::report::{Inputs, Report};
use crate::fleet::{self, FLEET_QUERY};
use crate::progress::Progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Html,
    Markdown,
    Json,
}

pub fn kind_of(path: &Path) -> Option<Kind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "html" | "htm" => Some(Kind::Html),
        "md" | "markdown" => Some(Kind::Markdown),
        "json" => Some(Kind::Json),
        _ => None,
    }
}

/// The format: `-o json`, else `--out`'s extension. JSON may go to stdout; the others need a
/// file.
fn format(app: &App) -> CliResult<Kind> {
    if !app.global.columns.is_empty() || app.global.sort.is_some() {
        return Err(CliError::usage(
            "report",
            "--columns and --sort apply to row listings; a report has fixed sections",
        )
        .hint("for rows to pick and sort, use stale, gaps or duplicates"));
    }
    let out = app.global.out.as_deref();
    match app.global.output {
        Some(OutputFormat::Json) => return Ok(Kind::Json),
        Some(other) => {
            return Err(CliError::usage(
                "report",
                format!(
                    "-o {} is not a report format",
                    format!("{other:?}").to_lowercase()
                ),
            )
            .hint("the format follows --out's extension (.html, .md, .json); -o json is the only override"));
        }
        None => {}
    }
    let Some(out) = out else {
        return Err(CliError::usage("report", "--out FILE is required").hint(
            "agentctl report --days 30 --out report.html (or .md, .json; -o json for stdout)",
        ));
    };
    kind_of(out).ok_or_else(|| {
        CliError::usage(
            "report",
            format!(
                "cannot tell the report format from {}: use .html, .md or .json",
                out.display()
            ),
        )
    })
}

pub async fn run(app: &App, args: &ReportArgs) -> CliResult {
    let kind = format(app)?;
    let tz = match &app.global.tz {
        Some(name) => crate::view::parse_tz(name)?,
        None => jiff::tz::TimeZone::system(),
    };
    let protection = Protection::load(&app.config.protect, app.global.protect_file.as_deref())?;
    let selected = app.select(Operation::List)?;
    let licence_costs = selected
        .iter()
        .map(|c| crate::config::provider_licence_cost(&app.config, &c.name))
        .collect::<CliResult<Vec<_>>>()?;
    let collected = fleet::collect(app, Operation::List, &selected, &FLEET_QUERY, |_, _| {}).await;
    collected.require_complete("report")?;
    let fleet = &collected.fleet;
    let expected = super::gaps::expected(app, fleet, args.expect.as_deref())?;
    let progress = Progress::spinner(app, "report");
    progress.set_message(format!(
        "grouping {} agents into machines",
        fleet.agents.len()
    ));
    let machines = Machines::build(fleet);
    progress.set_message(format!(
        "finding gaps, duplicates and broken agents among {} machines",
        machines.len()
    ));
    let mut report = Report::build(
        fleet,
        &machines,
        Inputs {
            now: app.now,
            days: args.days,
            cutoff: stale_cutoff(app.now, args.days),
            min_age_hours: args.min_age,
            expected,
            protection: &protection,
            licence_costs,
        },
    );
    drop(machines);
    // JSON is for machines: UTC unless a zone was asked for explicitly, as for listings.
    if app.global.tz.is_some() {
        report.json_tz = Some(tz.clone());
    }
    progress.set_message(match kind {
        Kind::Html => "drawing charts and writing HTML".to_string(),
        Kind::Markdown => "writing Markdown".to_string(),
        Kind::Json => "writing JSON".to_string(),
    });
    let written = match app.global.out.as_deref() {
        Some(out) => write_file(out, kind, &report, &tz),
        None => {
            let stdout = std::io::stdout();
            let mut w = std::io::BufWriter::new(stdout.lock());
            report
                .write_json(&mut w)
                .and_then(|()| w.write_all(b"\n"))
                .and_then(|()| w.flush())
                .map_err(|e| CliError::runtime("report", format!("cannot write: {e}")))
        }
    };
    progress.finish();
    written?;
    let (reclaimable, cost) = report.total_reclaimable();
    let to = app
        .global
        .out
        .as_ref()
        .map(|p| format!(" written to {}", p.display()))
        .unwrap_or_default();
    app.info(format!(
        "report{to}: {} machines, {} agents; {} coverage gaps, {} duplicates, {} broken agents, {} protected held back, {reclaimable} licences reclaimable{}",
        report.machines,
        fleet.agents.len(),
        report.gaps.len(),
        report.duplicates.len(),
        report.broken.len(),
        report.held.len(),
        cost.map(|c| format!(" ({c:.2})")).unwrap_or_default()
    ));
    Ok(())
}

fn write_file(out: &Path, kind: Kind, report: &Report<'_>, tz: &jiff::tz::TimeZone) -> CliResult {
    let created = crate::atomic::create(out)
        .map_err(|e| CliError::usage("output", format!("cannot create {}: {e}", out.display())))?;
    let mut file = std::io::BufWriter::new(created.file);
    let written = match kind {
        Kind::Html => file.write_all(report.to_html(tz).as_bytes()),
        Kind::Markdown => file.write_all(report.to_markdown(tz).as_bytes()),
        Kind::Json => report
            .write_json(&mut file)
            .and_then(|()| file.write_all(b"\n")),
    };
    written
        .and_then(|()| file.flush())
        .and_then(|()| created.commit.commit())
        .map_err(|e| CliError::runtime("report", format!("cannot write {}: {e}", out.display())))
}
