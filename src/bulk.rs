//! The safety flow every bulk change goes through (SPEC "uninstall (and every other bulk
//! change)"): validate the whole input, `--max`, confirmation, `--dry-run`, prepare,
//! re-check, act with per-provider concurrency, journal every outcome, resume, summary and
//! `<input>.failed.csv`.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use agentctl_core::{
    Action, ActionOutcome, AgentRef, ErrorKind, HostPattern, ListQuery, NotSupported,
    ProviderError, Recheck,
};
use futures::StreamExt;
use serde_json::json;

use crate::app::{App, state_dir};
use crate::error::{CliError, CliResult, exit};
use crate::journal::{self, FailedRow, Journal, JournalEntry, Outcome};
use crate::plan::{PlanContext, PlanError, read_plan};
use crate::progress::Progress;
use crate::providers::Configured;

/// Where the agents come from.
pub enum Source {
    /// A plan file (SPEC's CSV / JSON / NDJSON, or a legacy GUID CSV).
    Plan(PathBuf),
    /// One agent id of one provider.
    Single { id: String },
    /// Every agent of one provider whose host name matches (listed before anything is sent).
    /// A name without wildcards that matches several agents (duplicate registrations) is
    /// refused unless `allow_multiple`.
    Host {
        pattern: String,
        allow_multiple: bool,
    },
    /// The journal of an earlier run: the agents it `requested` a `remove` for (restore).
    Journal(PathBuf),
}

impl Source {
    /// The source named by `--from`, `--id` or `--host` (clap makes sure one is given).
    pub fn from_args(
        from: Option<&PathBuf>,
        id: Option<&String>,
        host: Option<&String>,
        allow_multiple: bool,
    ) -> Source {
        match (from, id, host) {
            (Some(path), _, _) => Source::Plan(path.clone()),
            (None, Some(id), _) => Source::Single { id: id.clone() },
            (None, None, Some(pattern)) => Source::Host {
                pattern: pattern.clone(),
                allow_multiple,
            },
            (None, None, None) => Source::Plan(PathBuf::new()),
        }
    }
}

pub struct BulkOptions {
    pub dry_run: bool,
    pub yes: bool,
    pub max: usize,
    pub journal: Option<PathBuf>,
    pub recheck: bool,
}

impl From<&crate::cli::SafetyArgs> for BulkOptions {
    fn from(a: &crate::cli::SafetyArgs) -> Self {
        Self {
            dry_run: a.dry_run,
            yes: a.yes,
            max: a.max,
            journal: a.journal.clone(),
            recheck: !a.no_recheck,
        }
    }
}

pub const RESULT_COLUMNS: [&str; 7] = [
    "provider", "kind", "agent_id", "hostname", "action", "outcome", "detail",
];

struct Target {
    agent: AgentRef,
    kind: &'static str,
}

/// Step 1: read and validate everything before anything is sent.
async fn load_targets(
    app: &App,
    action: &Action,
    source: &Source,
) -> CliResult<(Vec<Target>, HashMap<String, Configured>)> {
    let op = action.operation();
    let built: RefCell<HashMap<String, Result<Configured, String>>> = RefCell::new(HashMap::new());
    // A provider whose configuration is broken is reported once, naming provider and key,
    // instead of once per plan row.
    let config_errors: RefCell<Vec<CliError>> = RefCell::new(Vec::new());
    let get = |name: &str| -> Result<Configured, String> {
        if let Some(r) = built.borrow().get(name) {
            return r.clone();
        }
        let r = match app.provider(name) {
            Ok(c) => Ok(c),
            Err(e) if app.config.providers.contains_key(name) => {
                config_errors.borrow_mut().push(e);
                Err(format!(
                    "provider '{name}' is not usable (configuration error)"
                ))
            }
            Err(e) => Err(e.why),
        };
        built.borrow_mut().insert(name.to_string(), r.clone());
        r
    };
    match source {
        Source::Single { id } => {
            let c = app.single(action.operation(), "--id")?;
            c.provider
                .validate_agent_id(id)
                .map_err(|why| CliError::usage(action.name(), why).provider(&c.name))?;
            let target = Target {
                kind: c.kind,
                agent: AgentRef {
                    provider: c.name.clone(),
                    agent_id: id.clone(),
                    hostname: None,
                    last_seen: None,
                },
            };
            Ok((vec![target], HashMap::from([(c.name.clone(), c)])))
        }
        Source::Host {
            pattern,
            allow_multiple,
        } => {
            let c = app.single(action.operation(), "--host")?;
            let host = HostPattern::new(pattern);
            let query = ListQuery {
                host: Some(host.clone()),
                // Only the agents' identities are needed.
                keep_raw: false,
                ..ListQuery::default()
            };
            let mut targets = Vec::new();
            let mut stream = c.provider.list(&query);
            while let Some(record) = stream.next().await {
                let record = record.map_err(|e| CliError::from_provider(action.name(), e))?;
                if host.matches(&record.hostname) {
                    targets.push(Target {
                        kind: c.kind,
                        agent: record.to_ref(),
                    });
                }
            }
            drop(stream);
            if targets.is_empty() {
                return Err(CliError::usage(
                    action.name(),
                    format!("no agent of {} matches --host {pattern}", c.name),
                )
                .hint("`agentctl list --host PATTERN` shows what matches; * and ? are wildcards"));
            }
            if host.exact().is_some() && targets.len() > 1 && !allow_multiple {
                let listed: Vec<String> = targets
                    .iter()
                    .map(|t| {
                        format!(
                            "{} ({}, last seen {})",
                            t.agent.agent_id,
                            t.agent.hostname.as_deref().unwrap_or(""),
                            t.agent
                                .last_seen
                                .map(agentctl_core::time::format_timestamp)
                                .unwrap_or_else(|| "never".into())
                        )
                    })
                    .collect();
                return Err(CliError::usage(
                    action.name(),
                    format!(
                        "--host {pattern} matches {} agents of {} (duplicate registrations): {}",
                        targets.len(),
                        c.name,
                        listed.join("; ")
                    ),
                )
                .hint("pick one with --id, or pass --allow-multiple to act on all of them"));
            }
            Ok((targets, HashMap::from([(c.name.clone(), c)])))
        }
        Source::Plan(path) => {
            // `-p` names are checked before any row is read.
            for name in &app.global.providers {
                if !app.config.providers.contains_key(name) {
                    return Err(crate::providers::unknown_provider(&app.config, name));
                }
            }
            let unsupported: RefCell<BTreeMap<String, NotSupported>> =
                RefCell::new(BTreeMap::new());
            let legacy = legacy_provider(app);
            let validate = |provider: &str, kind: Option<&str>, id: &str| -> Result<(), String> {
                if !app.global.providers.is_empty()
                    && !app.global.providers.iter().any(|p| p == provider)
                {
                    return Err(format!(
                        "provider '{provider}' is not among those selected with -p"
                    ));
                }
                let c = get(provider)?;
                if let Some(k) = kind
                    && !k.is_empty()
                    && k != c.kind
                {
                    return Err(format!(
                        "kind '{k}' does not match provider '{provider}' ({})",
                        c.kind
                    ));
                }
                if let Err(ns) = c.provider.supports(op) {
                    // Said once per provider below, not once per row.
                    unsupported
                        .borrow_mut()
                        .entry(provider.to_string())
                        .or_insert(ns);
                    return Ok(());
                }
                c.provider.validate_agent_id(id)
            };
            let ctx = PlanContext {
                legacy_provider: legacy.as_deref(),
                validate: &validate,
            };
            let plan = read_plan(path, &ctx);
            let mut config_errors = config_errors.into_inner();
            if !config_errors.is_empty() {
                let mut first = config_errors.remove(0);
                if !config_errors.is_empty() {
                    let rest: Vec<String> = config_errors
                        .iter()
                        .map(|e| format!("{}: {}", e.provider.as_deref().unwrap_or("?"), e.why))
                        .collect();
                    first = first.hint(format!("also: {}", rest.join("; ")));
                }
                return Err(first);
            }
            let plan = plan.map_err(|e| match e {
                PlanError::Invalid { .. } => CliError::usage("input", e.to_string())
                    .hint("nothing was sent; fix the rows above and run again"),
                other => CliError::usage("input", other.to_string()),
            })?;
            for d in &plan.duplicates {
                app.info(format!(
                    "note: {} / {} appears on lines {}; merged",
                    d.provider,
                    d.agent_id,
                    d.lines
                        .iter()
                        .map(|l| l.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let providers: HashMap<String, Configured> = built
                .into_inner()
                .into_iter()
                .filter_map(|(k, v)| v.ok().map(|c| (k, c)))
                .collect();
            let targets = plan
                .rows
                .into_iter()
                .map(|row| Target {
                    kind: providers[&row.agent.provider].kind,
                    agent: row.agent,
                })
                .collect();
            let targets = drop_unsupported(app, action, targets, unsupported.into_inner())?;
            Ok((targets, providers))
        }
        Source::Journal(path) => {
            let entries = journal::read_entries(path).map_err(|e| {
                CliError::usage("input", format!("cannot read {}: {e}", path.display()))
            })?;
            let mut seen = std::collections::HashSet::new();
            let mut providers: HashMap<String, Configured> = HashMap::new();
            let mut unsupported: BTreeMap<String, NotSupported> = BTreeMap::new();
            let mut problems = Vec::new();
            let mut targets = Vec::new();
            for (line, entry) in entries {
                if entry.action != "remove" || entry.outcome != "requested" {
                    continue;
                }
                if !seen.insert((entry.provider.clone(), entry.agent_id.clone())) {
                    continue;
                }
                let c = match get(&entry.provider) {
                    Ok(c) => c,
                    Err(why) => {
                        problems.push(format!("line {line}: {why}"));
                        continue;
                    }
                };
                if let Err(ns) = c.provider.supports(op) {
                    unsupported.entry(c.name.clone()).or_insert(ns);
                }
                if let Err(why) = c.provider.validate_agent_id(&entry.agent_id) {
                    problems.push(format!("line {line}: {why}"));
                    continue;
                }
                targets.push(Target {
                    kind: c.kind,
                    agent: AgentRef {
                        provider: entry.provider.clone(),
                        agent_id: entry.agent_id.clone(),
                        hostname: entry.hostname.clone(),
                        last_seen: None,
                    },
                });
                providers.insert(c.name.clone(), c);
            }
            if !problems.is_empty() {
                return Err(CliError::usage(
                    "input",
                    format!("{}: {}", path.display(), problems.join("; ")),
                )
                .hint("nothing was sent"));
            }
            if targets.is_empty() {
                app.info(format!(
                    "note: {} records no agent a remove run removed",
                    path.display()
                ));
            }
            let targets = drop_unsupported(app, action, targets, unsupported)?;
            Ok((targets, providers))
        }
    }
}

/// Plan rows of providers that cannot do `action` are left out with one line per provider
/// saying why; when no row is left that is a usage error (exit 2) with the same lines.
fn drop_unsupported(
    app: &App,
    action: &Action,
    targets: Vec<Target>,
    unsupported: BTreeMap<String, NotSupported>,
) -> CliResult<Vec<Target>> {
    if unsupported.is_empty() {
        return Ok(targets);
    }
    let total = targets.len();
    let (kept, dropped): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| !unsupported.contains_key(&t.agent.provider));
    let lines: Vec<String> = unsupported
        .iter()
        .map(|(p, ns)| {
            let n = dropped.iter().filter(|t| &t.agent.provider == p).count();
            format!("{p}: {} ({n} agent(s) not sent)", ns.reason)
        })
        .collect();
    if kept.is_empty() && total > 0 {
        let (first, rest) = lines
            .split_first()
            .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
        let mut err = CliError::usage(action.name(), first.to_string());
        if !rest.is_empty() {
            err = err.hint(rest.join("; "));
        }
        return Err(err);
    }
    for line in lines {
        app.info(format!("note: skipping {line}"));
    }
    Ok(kept)
}

/// The provider the legacy GUID formats belong to: the one `-p` names, or the only
/// secure-endpoint provider configured.
fn legacy_provider(app: &App) -> Option<String> {
    let se = agentctl_secure_endpoint::KIND;
    let is_se = |n: &String| crate::providers::kind_of(&app.config, n).as_deref() == Some(se);
    match app.global.providers.as_slice() {
        [one] if is_se(one) => Some(one.clone()),
        [] => {
            let all: Vec<&String> = app.config.providers.keys().filter(|n| is_se(n)).collect();
            (all.len() == 1).then(|| all[0].clone())
        }
        _ => None,
    }
}

fn slug(e: &ProviderError) -> String {
    match (e.kind, e.status) {
        // Refused credentials (a 401, or the circuit breaker once they were refused often).
        (ErrorKind::Auth, _) => "auth".into(),
        (_, Some(s)) => format!("http-{s}"),
        (ErrorKind::Network, None) => "network".into(),
        (ErrorKind::Protocol, None) => "protocol".into(),
        (ErrorKind::NotSupported, None) => "not-supported".into(),
        (ErrorKind::Config | ErrorKind::Input, None) => "config".into(),
        (ErrorKind::Api, None) => "api".into(),
    }
}

/// Steps 5 and the act itself for one agent.
async fn process(
    c: &Configured,
    action: &Action,
    agent: &AgentRef,
    recheck: bool,
) -> (Outcome, String, Option<String>) {
    if recheck {
        match c.provider.recheck(&agent.agent_id).await {
            Ok(Recheck::Gone) => {
                return (
                    Outcome::Skipped("gone".into()),
                    "not found on re-check".into(),
                    None,
                );
            }
            Ok(Recheck::Present(current)) => {
                // An agent that came back to life is not removed; moving it is still wanted.
                let removal = matches!(action, Action::Uninstall | Action::Remove);
                if removal
                    && let (Some(recorded), Some(now_seen)) = (agent.last_seen, current.last_seen)
                    && now_seen.as_nanosecond() - recorded.as_nanosecond() >= 1_000_000_000
                {
                    return (
                        Outcome::Skipped("seen-again".into()),
                        format!("last seen {now_seen} on re-check, plan recorded {recorded}"),
                        None,
                    );
                }
            }
            Err(e) => {
                return (
                    Outcome::Failed(slug(&e)),
                    format!("re-check: {}", e.reason()),
                    None,
                );
            }
        }
    }
    match c.provider.act(action, agent).await {
        Ok(ActionOutcome::Requested { detail, request_id }) => {
            (Outcome::Requested, detail, request_id)
        }
        Ok(ActionOutcome::Skipped { why, detail }) => (Outcome::Skipped(why), detail, None),
        Err(e) => (Outcome::Failed(slug(&e)), e.reason(), None),
    }
}

fn result_row(
    t: &Target,
    action: &Action,
    outcome: &str,
    detail: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut r = serde_json::Map::new();
    r.insert("provider".into(), json!(t.agent.provider));
    r.insert("kind".into(), json!(t.kind));
    r.insert("agent_id".into(), json!(t.agent.agent_id));
    r.insert("hostname".into(), json!(t.agent.hostname));
    r.insert("action".into(), json!(action.name()));
    r.insert("outcome".into(), json!(outcome));
    r.insert("detail".into(), json!(detail));
    r
}

/// What a prepared action does beyond its verb (e.g. the resolved destination).
fn action_detail(action: &Action) -> String {
    match action {
        Action::Uninstall | Action::Remove | Action::Restore => String::new(),
        Action::Relocate(t) => {
            let id = t
                .resolved_id
                .as_deref()
                .filter(|id| *id != t.to)
                .map(|id| format!(" ({id})"))
                .unwrap_or_default();
            let folder = t
                .folder
                .as_deref()
                .map(|f| format!(", folder {f}"))
                .unwrap_or_default();
            format!(" → {}{id}{folder}", t.to)
        }
    }
}

fn confirm(
    count: usize,
    by_provider: &BTreeMap<String, usize>,
    actions: &HashMap<String, Action>,
) -> CliResult<bool> {
    let mut err = std::io::stderr();
    writeln!(err, "About to change {count} agent(s):")?;
    for (p, n) in by_provider {
        let a = &actions[p];
        writeln!(err, "  {p}: {} {n}{}", a.name(), action_detail(a))?;
    }
    write!(err, "Type 'yes' to continue: ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

#[derive(Default)]
struct Tally {
    requested: usize,
    skipped: usize,
    failed: usize,
    resumed: usize,
}

pub async fn run(app: &App, action: Action, source: Source, opts: BulkOptions) -> CliResult {
    let verb = action.name();
    // 1. Validate everything.
    let (mut targets, providers) = load_targets(app, &action, &source).await?;
    if targets.is_empty() {
        app.info("nothing to do: the plan has no agents");
        return Ok(());
    }
    // 2. --max.
    if targets.len() > opts.max {
        return Err(CliError::usage(
            verb,
            format!(
                "{} agents selected, more than --max {}",
                targets.len(),
                opts.max
            ),
        )
        .hint(format!(
            "review the plan, then pass --max {} (or more) to proceed",
            targets.len()
        )));
    }
    // 3. Confirmation must be possible before anything else happens.
    let interactive = !opts.dry_run && !opts.yes;
    if interactive && !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            verb,
            format!(
                "refusing to {verb} {} agent(s) without confirmation: no terminal to ask on",
                targets.len()
            ),
        )
        .hint("review the plan (or use --dry-run), then pass --yes"));
    }
    // What each provider really performs (e.g. a console whose only clean-up is deleting the
    // record answers `remove` for `uninstall`): prompts, dry-run lines and the journal say that.
    let mut effective: HashMap<String, Action> = HashMap::new();
    for name in targets
        .iter()
        .map(|t| t.agent.provider.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let eff = providers[&name].provider.effective_action(&action);
        if eff.name() != action.name() {
            let what = match eff {
                Action::Remove => "removes the record (alias of remove)".to_string(),
                ref other => format!("is performed as {} (alias)", other.name()),
            };
            app.info(format!("{name}: {verb} {what}"));
        }
        effective.insert(name, eff);
    }
    // 6 (resume). Agents an earlier run already finished are not sent again.
    let journal_path = opts.journal.clone().unwrap_or_else(|| {
        let from = match &source {
            Source::Plan(p) => Some(p.as_path()),
            Source::Journal(p) => Some(p.as_path()),
            Source::Single { .. } | Source::Host { .. } => None,
        };
        journal::default_journal_path(verb, from, &state_dir())
    });
    let mut journal = None;
    let mut tally = Tally::default();
    if !opts.dry_run {
        let (j, state) = Journal::open(&journal_path).map_err(|e| {
            CliError::usage(
                "journal",
                format!("cannot open {}: {e}", journal_path.display()),
            )
        })?;
        if state.skipped_lines() > 0 {
            app.info(format!(
                "note: {} unreadable line(s) in journal {} ignored (an interrupted write)",
                state.skipped_lines(),
                journal_path.display()
            ));
        }
        let before = targets.len();
        targets.retain(|t| {
            let done_as = effective[&t.agent.provider].name();
            !state.is_done(&t.agent.provider, &t.agent.agent_id, done_as)
        });
        tally.resumed = before - targets.len();
        if tally.resumed > 0 {
            app.info(format!(
                "resuming: {} agent(s) already done according to {}",
                tally.resumed,
                journal_path.display()
            ));
        }
        journal = Some(j);
    }
    if targets.is_empty() {
        app.info("nothing left to do");
        return Ok(());
    }
    // Prepare each provider (tokens, organization, resolved ids): reads only.
    let mut actions: HashMap<String, Action> = HashMap::new();
    for name in targets
        .iter()
        .map(|t| t.agent.provider.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let c = &providers[&name];
        let prepared = c
            .provider
            .prepare(&effective[&name])
            .await
            .map_err(|e| CliError::from_provider(verb, e.with_provider(&name)))?;
        actions.insert(name, prepared);
    }
    let mut by_provider: BTreeMap<String, usize> = BTreeMap::new();
    for t in &targets {
        *by_provider.entry(t.agent.provider.clone()).or_default() += 1;
    }
    let mut writer = app.writer(&RESULT_COLUMNS)?;
    // 4. Dry run: the call per agent, nothing sent.
    if opts.dry_run {
        for t in &targets {
            let c = &providers[&t.agent.provider];
            let call = c.provider.describe(&actions[&t.agent.provider], &t.agent);
            let a = &actions[&t.agent.provider];
            writer.write_row(&result_row(t, a, "dry-run", &call))?;
        }
        writer.finish()?;
        let summary: Vec<String> = by_provider
            .iter()
            .map(|(p, n)| format!("{p}: {n}"))
            .collect();
        app.info(format!(
            "dry run: would {verb} {} agent(s) ({}); nothing was sent",
            targets.len(),
            summary.join(", ")
        ));
        return Ok(());
    }
    if interactive && !confirm(targets.len(), &by_provider, &actions)? {
        return Err(CliError::usage(verb, "not confirmed; nothing was sent"));
    }
    let mut journal = journal.expect("opened unless dry run");
    // 5-7. Re-check and act, `concurrency` agents in flight per provider.
    let progress = Progress::bar(app, targets.len() as u64, verb);
    let targets: Vec<Arc<Target>> = targets.into_iter().map(Arc::new).collect();
    let recheck = opts.recheck;
    let streams = by_provider.keys().map(|name| {
        let c = providers[name].clone();
        let a = actions[name].clone();
        let mine: Vec<Arc<Target>> = targets
            .iter()
            .filter(|t| &t.agent.provider == name)
            .cloned()
            .collect();
        futures::stream::iter(mine)
            .map(move |t| {
                let c = c.clone();
                let a = a.clone();
                async move {
                    let (outcome, detail, request_id) = process(&c, &a, &t.agent, recheck).await;
                    (t, outcome, detail, request_id)
                }
            })
            .buffer_unordered(providers[name].concurrency)
    });
    let mut merged = futures::stream::select_all(streams);
    let mut per_provider: BTreeMap<String, Tally> = BTreeMap::new();
    let mut failed_rows = Vec::new();
    let mut interrupted = false;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let next = tokio::select! {
            item = merged.next() => item,
            _ = &mut ctrl_c => { interrupted = true; None }
        };
        let Some((t, outcome, detail, request_id)) = next else {
            break;
        };
        let done_as = actions[&t.agent.provider].name();
        let mut entry = JournalEntry::new(
            &t.agent.provider,
            &t.agent.agent_id,
            done_as,
            outcome.clone(),
            &detail,
        );
        entry.hostname = t.agent.hostname.clone();
        entry.request_id = request_id;
        journal.append(&entry).map_err(|e| {
            CliError::runtime(
                "journal",
                format!("cannot append to {}: {e}", journal_path.display()),
            )
        })?;
        let outcome_text = outcome.to_string();
        writer.write_row(&result_row(
            &t,
            &actions[&t.agent.provider],
            &outcome_text,
            &detail,
        ))?;
        let pt = per_provider.entry(t.agent.provider.clone()).or_default();
        match &outcome {
            Outcome::Requested => {
                tally.requested += 1;
                pt.requested += 1;
            }
            Outcome::Skipped(_) => {
                tally.skipped += 1;
                pt.skipped += 1;
            }
            Outcome::Failed(_) => {
                tally.failed += 1;
                pt.failed += 1;
                failed_rows.push(FailedRow {
                    provider: t.agent.provider.clone(),
                    kind: t.kind.to_string(),
                    agent_id: t.agent.agent_id.clone(),
                    hostname: t.agent.hostname.clone(),
                    last_seen: t.agent.last_seen,
                    error: format!("{outcome_text}: {detail}"),
                });
            }
        }
        progress.inc();
    }
    drop(merged);
    progress.finish();
    writer.finish()?;
    // 8. Summary on stderr, failures to <input>.failed.csv.
    for (p, t) in &per_provider {
        app.info(format!(
            "{p}: {} requested, {} skipped, {} failed",
            t.requested, t.skipped, t.failed
        ));
    }
    app.info(format!(
        "{verb}: {} requested, {} skipped, {} failed{}; journal {}",
        tally.requested,
        tally.skipped,
        tally.failed,
        if tally.resumed > 0 {
            format!(", {} done earlier", tally.resumed)
        } else {
            String::new()
        },
        journal_path.display()
    ));
    if !failed_rows.is_empty()
        && let Source::Plan(path) = &source
    {
        let failed_path = journal::failed_csv_path(path);
        journal::write_failed_csv(&failed_path, &failed_rows)?;
        app.info(format!(
            "failed agents written to {} (retry with --from {})",
            failed_path.display(),
            failed_path.display()
        ));
    }
    if interrupted {
        return Err(CliError::exit_with(
            exit::INTERRUPTED,
            verb,
            format!(
                "interrupted; journal {} is intact, run the same command again to resume",
                journal_path.display()
            ),
        ));
    }
    if tally.failed > 0 {
        return Err(CliError::exit_with(
            exit::PARTIAL,
            verb,
            format!("{} agent(s) failed", tally.failed),
        ));
    }
    Ok(())
}
