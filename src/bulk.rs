//! The safety flow every bulk change goes through (SPEC "uninstall (and every other bulk
//! change)"): validate the whole input, `--max`, confirmation, `--dry-run`, prepare,
//! re-check, act with per-provider concurrency (in vendor batches where the vendor has a bulk
//! job API), journal every outcome, resume, summary and `<input>.failed.csv`.
//!
//! Run state (plan digest, journal, lock, failed file, run summary and index) lives behind
//! [`crate::runstate`]; this module decides what to send and records what happened.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use agentctl_core::time::format_timestamp;
use agentctl_core::{
    Action, ActionOutcome, AgentRef, ErrorKind, HostPattern, ListQuery, NotSupported, Operation,
    ProviderError, Recheck, RelocateTarget,
};
use futures::StreamExt;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::app::{App, state_dir};
use crate::error::{CliError, CliResult, exit};
use crate::fleet::protect::Protection;
use crate::plan::{PlanContext, PlanError, read_plan};
use crate::progress::Progress;
use crate::providers::Configured;
use crate::runstate::{
    self, BeginError, DigestRow, FailedRow, JournalEntry, Outcome, Resume, Run, RunSpec, RunSummary,
};

/// The outcome of a plan row whose agent is on the protection list (`skipped:protected`).
const PROTECTED: &str = "protected";

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

    fn input(&self) -> Option<&Path> {
        match self {
            Source::Plan(p) | Source::Journal(p) => Some(p),
            Source::Single { .. } | Source::Host { .. } => None,
        }
    }
}

/// What the run does to each agent.
#[derive(Debug, Clone)]
pub enum Actions {
    /// The same action for every agent (`uninstall`, `remove`, `restore`, `relocate`); a plan's
    /// `action` column is ignored.
    Fixed(Action),
    /// Each plan row's `action` column (`apply`); `relocate` rows go to `relocate_to`.
    PerRow { relocate_to: Option<RelocateTarget> },
}

impl Actions {
    /// The journal's command name: the action, or `apply`.
    fn command(&self) -> &'static str {
        match self {
            Actions::Fixed(a) => a.name(),
            Actions::PerRow { .. } => "apply",
        }
    }
}

/// What an exclusion hook sees of one agent before anything is sent.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub provider: &'a str,
    pub kind: &'a str,
    pub agent_id: &'a str,
    pub hostname: Option<&'a str>,
    /// The group as the plan (or the listing, for `--host`) gave it.
    pub group: Option<&'a str>,
}

/// A hook that keeps agents out of a bulk change: `Some(why)` skips the agent as
/// `skipped:<why>` (journaled, shown, never sent), e.g. `protected`.
pub type Exclusion = Box<dyn Fn(&Candidate<'_>) -> Option<String> + Send + Sync>;

pub struct BulkOptions {
    pub dry_run: bool,
    pub yes: bool,
    pub max: usize,
    pub journal: Option<PathBuf>,
    pub recheck: bool,
    /// Wait for another run holding the same journal instead of exiting 2.
    pub wait: bool,
    /// Send an uninstall again when it was requested at least this long ago and the agent is
    /// still there, unseen since (`None`: never).
    pub rerequest_after: Option<SignedDuration>,
    /// `--summary FILE.json`.
    pub summary: Option<PathBuf>,
    /// Filters applied to every target before anything is sent (see [`Exclusion`]).
    pub exclude: Vec<Exclusion>,
}

impl BulkOptions {
    pub fn new(a: &crate::cli::SafetyArgs, global: &crate::cli::GlobalArgs) -> Self {
        Self {
            dry_run: a.dry_run,
            yes: a.yes,
            max: a.max,
            journal: a.journal.clone(),
            recheck: !a.no_recheck,
            wait: global.wait,
            rerequest_after: (a.rerequest_after > 0)
                .then(|| SignedDuration::from_hours(i64::from(a.rerequest_after) * 24)),
            summary: a.summary.clone(),
            exclude: Vec::new(),
        }
    }
}

pub const RESULT_COLUMNS: [&str; 7] = [
    "provider", "kind", "agent_id", "hostname", "action", "outcome", "detail",
];

struct Target {
    agent: AgentRef,
    kind: &'static str,
    group: Option<String>,
    /// What the plan (or the command) asks; `None`: the plan says `pending-uninstall`.
    asked: Option<Action>,
    /// The uninstall was requested at this time, longer ago than the re-request window.
    rerequest_since: Option<Timestamp>,
}

impl Target {
    fn asked_name(&self) -> &'static str {
        self.asked
            .as_ref()
            .map_or("pending-uninstall", Action::name)
    }
}

/// The key of a row in the plan digest: the action with its destination.
fn action_key(action: Option<&Action>) -> String {
    match action {
        None => "pending-uninstall".into(),
        Some(Action::Relocate(t)) => format!(
            "relocate to={} folder={}",
            t.to,
            t.folder.as_deref().unwrap_or("")
        ),
        Some(a) => a.name().into(),
    }
}

/// The action a plan row's `action` column names.
fn row_action(text: &str, relocate_to: Option<&RelocateTarget>) -> Result<Option<Action>, String> {
    match text {
        "uninstall" => Ok(Some(Action::Uninstall)),
        "remove" => Ok(Some(Action::Remove)),
        "pending-uninstall" => Ok(None),
        "relocate" => relocate_to
            .cloned()
            .map(|t| Some(Action::Relocate(t)))
            .ok_or_else(|| "a relocate row needs --to-server (or --to-group)".to_string()),
        other => Err(format!("action '{other}' cannot be applied")),
    }
}

type Unsupported = BTreeMap<(String, &'static str), NotSupported>;

/// Step 1: read and validate everything before anything is sent.
async fn load_targets(
    app: &App,
    actions: &Actions,
    source: &Source,
) -> CliResult<(Vec<Target>, HashMap<String, Configured>)> {
    let command = actions.command();
    let fixed = match actions {
        Actions::Fixed(a) => Some(a),
        Actions::PerRow { .. } => None,
    };
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
    // `--id` / `--host` address one provider, which must support the (fixed) action.
    let single = |what: &str| -> CliResult<Configured> {
        let op = fixed.map_or(Operation::Uninstall, Action::operation);
        app.single(op, what)
    };
    let mut unsupported: Unsupported = BTreeMap::new();
    let mut note_support = |c: &Configured, action: Option<&Action>| {
        if let Some(a) = action
            && let Err(ns) = c.provider.supports(a.operation())
        {
            unsupported.entry((c.name.clone(), a.name())).or_insert(ns);
        }
    };
    let (targets, providers) = match source {
        Source::Single { id } => {
            let c = single("--id")?;
            c.provider
                .validate_agent_id(id)
                .map_err(|why| CliError::usage(command, why).provider(&c.name))?;
            let target = Target {
                kind: c.kind,
                group: None,
                asked: fixed.cloned(),
                rerequest_since: None,
                agent: AgentRef {
                    provider: c.name.clone(),
                    agent_id: id.clone(),
                    hostname: None,
                    last_seen: None,
                },
            };
            (vec![target], HashMap::from([(c.name.clone(), c)]))
        }
        Source::Host {
            pattern,
            allow_multiple,
        } => {
            let c = single("--host")?;
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
                let record = record.map_err(|e| CliError::from_provider(command, e))?;
                if host.matches(&record.hostname) {
                    targets.push(Target {
                        kind: c.kind,
                        group: record.group.clone(),
                        asked: fixed.cloned(),
                        rerequest_since: None,
                        agent: record.to_ref(),
                    });
                }
            }
            drop(stream);
            if targets.is_empty() {
                return Err(CliError::usage(
                    command,
                    format!("no agent of {} matches --host {pattern}", c.name),
                )
                .hint("`agentctl list --host PATTERN` shows what matches; * and ? are wildcards"));
            }
            targets.sort_by(|a, b| a.agent.agent_id.cmp(&b.agent.agent_id));
            if !host.has_wildcard() && targets.len() > 1 && !allow_multiple {
                let listed: Vec<String> = targets
                    .iter()
                    .map(|t| {
                        format!(
                            "{} ({}, last seen {})",
                            t.agent.agent_id,
                            t.agent.hostname.as_deref().unwrap_or(""),
                            t.agent
                                .last_seen
                                .map(format_timestamp)
                                .unwrap_or_else(|| "never".into())
                        )
                    })
                    .collect();
                return Err(CliError::usage(
                    command,
                    format!(
                        "--host {pattern} matches {} agents of {} (duplicate registrations): {}",
                        targets.len(),
                        c.name,
                        listed.join("; ")
                    ),
                )
                .hint("pick one with --id, or pass --allow-multiple to act on all of them"));
            }
            (targets, HashMap::from([(c.name.clone(), c)]))
        }
        Source::Plan(path) => {
            // `-p` names are checked before any row is read.
            for name in &app.global.providers {
                if !app.config.providers.contains_key(name) {
                    return Err(crate::providers::unknown_provider(&app.config, name));
                }
            }
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
            let mut problems = Vec::new();
            let mut targets = Vec::with_capacity(plan.rows.len());
            for row in plan.rows {
                let Some(c) = providers.get(&row.agent.provider) else {
                    continue;
                };
                let asked = match actions {
                    Actions::Fixed(a) => Some(a.clone()),
                    Actions::PerRow { relocate_to } => match row.action.as_deref() {
                        None => {
                            problems.push((row.line, "no action: apply needs an `action` column (write the plan with `stale --action …`)".to_string()));
                            continue;
                        }
                        Some(text) => match row_action(text, relocate_to.as_ref()) {
                            Ok(a) => a,
                            Err(why) => {
                                problems.push((row.line, why));
                                continue;
                            }
                        },
                    },
                };
                targets.push(Target {
                    kind: c.kind,
                    group: row.group,
                    asked,
                    rerequest_since: None,
                    agent: row.agent,
                });
            }
            if !problems.is_empty() {
                let e = PlanError::Invalid {
                    path: path.clone(),
                    problems,
                };
                return Err(CliError::usage("input", e.to_string())
                    .hint("nothing was sent; fix the rows above and run again"));
            }
            (targets, providers)
        }
        Source::Journal(path) => {
            let entries = runstate::journal::read_entries(path).map_err(|e| {
                CliError::usage("input", format!("cannot read {}: {e}", path.display()))
            })?;
            let mut seen = std::collections::HashSet::new();
            let mut providers: HashMap<String, Configured> = HashMap::new();
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
                if let Err(why) = c.provider.validate_agent_id(&entry.agent_id) {
                    problems.push(format!("line {line}: {why}"));
                    continue;
                }
                targets.push(Target {
                    kind: c.kind,
                    group: None,
                    asked: fixed.cloned(),
                    rerequest_since: None,
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
            (targets, providers)
        }
    };
    for t in &targets {
        note_support(&providers[&t.agent.provider], t.asked.as_ref());
    }
    let targets = drop_unsupported(app, command, targets, unsupported)?;
    Ok((targets, providers))
}

/// Rows whose provider cannot do their action are left out with one line per provider and
/// action saying why; when no row is left that is a usage error (exit 2) with the same lines.
fn drop_unsupported(
    app: &App,
    command: &str,
    targets: Vec<Target>,
    unsupported: Unsupported,
) -> CliResult<Vec<Target>> {
    if unsupported.is_empty() {
        return Ok(targets);
    }
    let total = targets.len();
    let blocked =
        |t: &Target| unsupported.contains_key(&(t.agent.provider.clone(), t.asked_name()));
    let (dropped, kept): (Vec<Target>, Vec<Target>) = targets.into_iter().partition(blocked);
    let lines: Vec<String> = unsupported
        .iter()
        .map(|((p, a), ns)| {
            let n = dropped
                .iter()
                .filter(|t| &t.agent.provider == p && t.asked_name() == *a)
                .count();
            format!("{p}: {} ({n} agent(s) not sent)", ns.reason)
        })
        .collect();
    if kept.is_empty() && total > 0 {
        let (first, rest) = lines
            .split_first()
            .map_or(("", &[][..]), |(f, r)| (f.as_str(), r));
        let mut err = CliError::usage(command, first.to_string());
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

/// What happened to one agent in a run.
struct Done {
    target: Arc<Target>,
    /// The action performed (the provider's effective action), or what the plan asked.
    action: &'static str,
    outcome: Outcome,
    detail: String,
    request_id: Option<String>,
}

/// Per-provider re-check accounting, for `-v` and the summary.
#[derive(Default)]
struct RecheckStats {
    bulk_calls: AtomicU64,
    bulk_agents: AtomicU64,
    per_agent: AtomicU64,
}

impl RecheckStats {
    fn describe(&self, enabled: bool) -> String {
        let bulk = self.bulk_calls.load(Ordering::Relaxed);
        let agents = self.bulk_agents.load(Ordering::Relaxed);
        let per = self.per_agent.load(Ordering::Relaxed);
        match (enabled, bulk, per) {
            (false, _, _) => "off".into(),
            (true, 0, 0) => "none needed".into(),
            (true, 0, per) => format!("per agent ({per} requests)"),
            (true, bulk, 0) => format!("bulk ({bulk} call(s) for {agents} agents)"),
            (true, bulk, per) => {
                format!("bulk ({bulk} call(s) for {agents} agents) and per agent ({per} requests)")
            }
        }
    }
}

/// Does this target get re-checked? When asked, and always for a re-request (it is only
/// sent when still there and unseen).
fn needs_recheck(t: &Target, _action: &Action, recheck: bool) -> bool {
    recheck || t.rerequest_since.is_some()
}

/// Step 5: what the re-check says about acting on `t` (`Some` = skip it).
fn judge(t: &Target, action: &Action, found: Recheck) -> Option<(Outcome, String)> {
    // Restore wants the opposite of every other action: a removed (soft-deleted) agent is not
    // listed, and one that is listed has nothing to restore.
    if matches!(action, Action::Restore) {
        return match found {
            Recheck::Gone => None,
            Recheck::Present(_) => Some((
                Outcome::Skipped("present".into()),
                "listed on re-check: not removed, nothing to restore".into(),
            )),
        };
    }
    let current = match found {
        Recheck::Gone => {
            return Some((
                Outcome::Skipped("gone".into()),
                "not found on re-check".into(),
            ));
        }
        Recheck::Present(current) => current,
    };
    // An agent that came back to life is not uninstalled or removed; moving it is still wanted.
    let removal = matches!(action, Action::Uninstall | Action::Remove);
    let one_second = SignedDuration::from_secs(1);
    if removal
        && let (Some(recorded), Some(now_seen)) = (t.agent.last_seen, current.last_seen)
        && now_seen.duration_since(recorded) >= one_second
    {
        return Some((
            Outcome::Skipped("seen-again".into()),
            format!("last seen {now_seen} on re-check, plan recorded {recorded}"),
        ));
    }
    if let (Some(since), Some(now_seen)) = (t.rerequest_since, current.last_seen)
        && now_seen.duration_since(since) >= one_second
    {
        return Some((
            Outcome::Skipped("seen-again".into()),
            format!("last seen {now_seen}, after the uninstall requested {since}"),
        ));
    }
    if matches!(action, Action::Uninstall) && current.pending_uninstall {
        return Some((
            Outcome::Skipped("pending-uninstall".into()),
            "the console already shows an uninstall pending for this agent".into(),
        ));
    }
    None
}

/// Re-check and act on one unit: a single agent, or a vendor batch (`act_batch`).
async fn process_unit(
    c: &Configured,
    action: &Action,
    unit: Vec<Arc<Target>>,
    pre: Option<Arc<HashMap<String, Recheck>>>,
    recheck: bool,
    stats: &RecheckStats,
    stop: &AtomicBool,
) -> Vec<Done> {
    if stop.load(Ordering::SeqCst) {
        // Stopping (Ctrl-C, closed output): not attempted, not journaled, resumed next run.
        return Vec::new();
    }
    let name = action.name();
    let mut out = Vec::with_capacity(unit.len());
    let mut send: Vec<Arc<Target>> = Vec::with_capacity(unit.len());
    for t in unit {
        if needs_recheck(&t, action, recheck) {
            let found = match &pre {
                Some(map) => Ok(map.get(&t.agent.agent_id).cloned().unwrap_or(Recheck::Gone)),
                None => {
                    stats.per_agent.fetch_add(1, Ordering::Relaxed);
                    c.provider.recheck(&t.agent.agent_id).await
                }
            };
            match found {
                Ok(found) => {
                    if let Some((outcome, detail)) = judge(&t, action, found) {
                        out.push(Done {
                            target: t,
                            action: name,
                            outcome,
                            detail,
                            request_id: None,
                        });
                        continue;
                    }
                }
                Err(e) => {
                    out.push(Done {
                        target: t,
                        action: name,
                        outcome: Outcome::Failed(slug(&e)),
                        detail: format!("re-check: {}", e.reason()),
                        request_id: None,
                    });
                    continue;
                }
            }
        }
        send.push(t);
    }
    // A vendor with a bulk job API gets even a single agent through `act_batch` (one job).
    let batched = c.provider.batch_size(action) > 1;
    let results = match send.len() {
        0 => Vec::new(),
        1 if !batched => vec![c.provider.act(action, &send[0].agent).await],
        _ => {
            let refs: Vec<AgentRef> = send.iter().map(|t| t.agent.clone()).collect();
            let mut r = c.provider.act_batch(action, &refs).await;
            // One result per agent is the contract; a short answer fails the rest honestly.
            while r.len() < send.len() {
                r.push(Err(ProviderError::protocol(
                    "the provider returned no result for this agent of the batch",
                )));
            }
            r
        }
    };
    for (t, result) in send.into_iter().zip(results) {
        let (outcome, mut detail, request_id) = match result {
            Ok(ActionOutcome::Requested { detail, request_id }) => {
                (Outcome::Requested, detail, request_id)
            }
            Ok(ActionOutcome::Skipped { why, detail }) => (Outcome::Skipped(why), detail, None),
            Err(e) => (Outcome::Failed(slug(&e)), e.reason(), None),
        };
        if let Some(since) = t.rerequest_since
            && outcome == Outcome::Requested
        {
            detail = format!("re-request (first requested {since}): {detail}");
        }
        out.push(Done {
            target: t,
            action: name,
            outcome,
            detail,
            request_id,
        });
    }
    out
}

/// A unit of work whose re-check is settled: the action, its agents, and the bulk re-check's
/// answers for them (`None`: each agent is re-checked on its own, if at all).
type Ready = (
    Action,
    Vec<Arc<Target>>,
    Option<Arc<HashMap<String, Recheck>>>,
);

/// One provider's units, re-checked and acted on with `concurrency` units in flight.
///
/// One bulk re-check per provider and run: the provider answers from one listing pass (or
/// its batched lookups) when that costs fewer requests than one per agent, else declines and
/// each unit re-checks its own agents just before acting. Re-checking in chunks would list
/// the fleet once per chunk. A unit is acted on as soon as the bulk re-check has answered for
/// all its agents, so the first changes go out while the rest of the listing is being read.
fn provider_stream(
    c: Configured,
    units: Vec<(Action, Vec<Arc<Target>>)>,
    recheck: bool,
    st: Arc<RecheckStats>,
    stop: Arc<AtomicBool>,
) -> futures::stream::LocalBoxStream<'static, Vec<Done>> {
    let concurrency = c.concurrency.max(1);
    let (tx, rx) = futures::channel::mpsc::unbounded::<Ready>();
    let feeding = {
        let (c, st, stop) = (c.clone(), st.clone(), stop.clone());
        async move { feed_units(&c, units, recheck, &st, &stop, tx).await }
    };
    let acting = rx
        .map(move |(a, unit, pre)| {
            let (c, st, stop) = (c.clone(), st.clone(), stop.clone());
            async move { process_unit(&c, &a, unit, pre, recheck, &st, &stop).await }
        })
        .buffer_unordered(concurrency);
    // The feeder yields nothing; it is polled alongside the units it releases.
    let feeding = futures::stream::once(feeding).filter_map(|()| futures::future::ready(None));
    futures::stream::select(feeding, acting).boxed_local()
}

/// Release `units` to `tx` as their re-check settles (see [`provider_stream`]).
async fn feed_units(
    c: &Configured,
    units: Vec<(Action, Vec<Arc<Target>>)>,
    recheck: bool,
    st: &RecheckStats,
    stop: &AtomicBool,
    tx: futures::channel::mpsc::UnboundedSender<Ready>,
) {
    // A closed receiver means the run is over; nothing more to release.
    let send = |ready: Ready| drop(tx.unbounded_send(ready));
    let refs: Vec<AgentRef> = units
        .iter()
        .flat_map(|(a, ts)| {
            ts.iter()
                .filter(|t| needs_recheck(t, a, recheck))
                .map(|t| t.agent.clone())
        })
        .collect();
    if refs.is_empty() || stop.load(Ordering::SeqCst) {
        units.into_iter().for_each(|(a, ts)| send((a, ts, None)));
        return;
    }
    // How many answers each unit still waits for, and which units wait for an agent.
    let mut waiting: Vec<usize> = Vec::with_capacity(units.len());
    let mut units_of: HashMap<String, Vec<usize>> = HashMap::with_capacity(refs.len());
    for (i, (a, ts)) in units.iter().enumerate() {
        let mut n = 0;
        for t in ts.iter().filter(|t| needs_recheck(t, a, recheck)) {
            units_of
                .entry(t.agent.agent_id.clone())
                .or_default()
                .push(i);
            n += 1;
        }
        waiting.push(n);
    }
    let mut slots: Vec<Option<(Action, Vec<Arc<Target>>)>> = units.into_iter().map(Some).collect();
    let mut answers: HashMap<String, Recheck> = HashMap::with_capacity(refs.len());
    let settled = |slot: (Action, Vec<Arc<Target>>), answers: &HashMap<String, Recheck>| {
        let (a, ts) = slot;
        let map: HashMap<String, Recheck> = ts
            .iter()
            .filter_map(|t| {
                let id = &t.agent.agent_id;
                answers.get(id).map(|r| (id.clone(), r.clone()))
            })
            .collect();
        (a, ts, Some(Arc::new(map)))
    };
    for (slot, n) in slots.iter_mut().zip(&waiting) {
        if *n == 0
            && let Some((a, ts)) = slot.take()
        {
            send((a, ts, None));
        }
    }
    let outcome = {
        let mut release = |id: String, answer: Recheck| {
            let Some(mine) = units_of.get(&id) else {
                return;
            };
            if answers.contains_key(&id) {
                return;
            }
            answers.insert(id, answer);
            for &i in mine {
                waiting[i] -= 1;
                if waiting[i] == 0
                    && let Some(slot) = slots[i].take()
                {
                    send(settled(slot, &answers));
                }
            }
        };
        let bulk = c.provider.recheck_bulk_each(&refs, &mut release);
        tokio::pin!(bulk);
        // Ctrl-C or a closed output stops the listing too, not only the changes.
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(100));
        loop {
            tokio::select! {
                r = &mut bulk => break Some(r),
                _ = tick.tick() => if stop.load(Ordering::SeqCst) { break None },
            }
        }
    };
    let rest = slots.into_iter().flatten();
    match outcome {
        // Stopping: the rest is not attempted, not journaled, resumed next run.
        None => {}
        Some(Ok(true)) => {
            st.bulk_calls.fetch_add(1, Ordering::Relaxed);
            st.bulk_agents
                .fetch_add(refs.len() as u64, Ordering::Relaxed);
            // Every agent the bulk re-check did not report is gone.
            rest.for_each(|slot| send(settled(slot, &answers)));
        }
        Some(Ok(false)) => rest.for_each(|(a, ts)| send((a, ts, None))),
        Some(Err(e)) => {
            if !answers.is_empty() {
                st.bulk_calls.fetch_add(1, Ordering::Relaxed);
                st.bulk_agents
                    .fetch_add(answers.len() as u64, Ordering::Relaxed);
            }
            tracing::warn!(
                provider = %c.name,
                error = %e.reason(),
                "bulk re-check failed; re-checking each remaining agent instead"
            );
            rest.for_each(|(a, ts)| send((a, ts, None)));
        }
    }
}

fn result_row(
    t: &Target,
    action: &str,
    outcome: &str,
    detail: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut r = serde_json::Map::new();
    r.insert("provider".into(), json!(t.agent.provider));
    r.insert("kind".into(), json!(t.kind));
    r.insert("agent_id".into(), json!(t.agent.agent_id));
    r.insert("hostname".into(), json!(t.agent.hostname));
    r.insert("action".into(), json!(action));
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

/// The prompt: per provider and action, how many agents.
fn confirm(
    count: usize,
    groups: &BTreeMap<(String, &'static str), (usize, String)>,
) -> CliResult<bool> {
    let mut err = std::io::stderr();
    writeln!(err, "About to change {count} agent(s):")?;
    for ((p, a), (n, detail)) in groups {
        writeln!(err, "  {p}: {a} {n}{detail}")?;
    }
    write!(err, "Type 'yes' to continue: ")?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}

struct DryInput<'a> {
    early: Vec<Done>,
    done_earlier: Vec<(Arc<Target>, &'static str, String)>,
    todo: Vec<Arc<Target>>,
    prepared_of: &'a dyn Fn(&Target) -> Action,
    journal_path: &'a Path,
}

/// Step 4: per agent, what a real run would do now — `would-send` with the HTTP call,
/// `skip:done` (the journal), `skip:<why>` (exclusions, and the re-check where the provider
/// can re-check in bulk, so including it costs a few requests, not one per agent).
async fn dry_run(
    app: &App,
    opts: &BulkOptions,
    spec: &RunSpec,
    providers: &HashMap<String, Configured>,
    mut writer: crate::output::RowWriter,
    input: DryInput<'_>,
) -> CliResult<RunSummary> {
    let mut summary = quiet_summary(spec, "dry-run", Some(input.journal_path.to_path_buf()));
    summary.done_earlier = input.done_earlier.len() as u64;
    let emit = |summary: &mut RunSummary,
                writer: &mut crate::output::RowWriter,
                t: &Target,
                action: &str,
                outcome: &str,
                detail: &str|
     -> CliResult {
        summary.count(&t.agent.provider, t.kind, outcome);
        writer.write_row(&result_row(t, action, outcome, detail))?;
        Ok(())
    };
    for d in &input.early {
        let outcome = match &d.outcome {
            Outcome::Skipped(why) => format!("skip:{why}"),
            other => other.to_string(),
        };
        emit(
            &mut summary,
            &mut writer,
            &d.target,
            d.action,
            &outcome,
            &d.detail,
        )?;
    }
    for (t, action, detail) in &input.done_earlier {
        emit(
            &mut summary,
            &mut writer,
            t,
            action,
            "skip:done",
            &format!("journal: {detail}"),
        )?;
    }
    // Re-check in bulk where the provider can; per-agent re-checks are left to the real run.
    let mut found: HashMap<(String, String), Recheck> = HashMap::new();
    if opts.recheck || input.todo.iter().any(|t| t.rerequest_since.is_some()) {
        let mut by_provider: BTreeMap<&str, Vec<AgentRef>> = BTreeMap::new();
        for t in &input.todo {
            let a = (input.prepared_of)(t);
            if needs_recheck(t, &a, opts.recheck) {
                by_provider
                    .entry(t.agent.provider.as_str())
                    .or_default()
                    .push(t.agent.clone());
            }
        }
        for (p, refs) in by_provider {
            let c = &providers[p];
            // One call for all of the provider's agents (one listing pass, not one per chunk).
            let included = match c.provider.recheck_bulk(&refs).await {
                Ok(Some(map)) => {
                    for r in &refs {
                        let rc = map.get(&r.agent_id).cloned().unwrap_or(Recheck::Gone);
                        found.insert((p.to_string(), r.agent_id.clone()), rc);
                    }
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    app.info(format!(
                        "{p}: re-check not included in the dry run: {}",
                        e.reason()
                    ));
                    false
                }
            };
            if !included {
                app.info(format!(
                    "{p}: re-check not included in the dry run (it would cost {} per-agent request(s)); the real run re-checks each agent before acting",
                    refs.len()
                ));
            }
        }
    }
    let mut would = 0usize;
    for t in &input.todo {
        let a = (input.prepared_of)(t);
        if let Some(rc) = found.remove(&(t.agent.provider.clone(), t.agent.agent_id.clone()))
            && let Some((outcome, detail)) = judge(t, &a, rc)
        {
            let outcome = match outcome {
                Outcome::Skipped(why) => format!("skip:{why}"),
                other => other.to_string(),
            };
            emit(&mut summary, &mut writer, t, a.name(), &outcome, &detail)?;
            continue;
        }
        let c = &providers[&t.agent.provider];
        let call = c.provider.describe(&a, &t.agent);
        let outcome = if t.rerequest_since.is_some() {
            "would-resend"
        } else {
            "would-send"
        };
        would += 1;
        emit(&mut summary, &mut writer, t, a.name(), outcome, &call)?;
    }
    writer.finish()?;
    let mut per: Vec<String> = summary
        .providers
        .iter()
        .map(|(p, ps)| {
            let n: u64 = ps
                .counts
                .iter()
                .filter(|(k, _)| k.starts_with("would-"))
                .map(|(_, n)| n)
                .sum();
            format!("{p}: {n}")
        })
        .collect();
    per.dedup();
    let done = input.done_earlier.len();
    app.info(format!(
        "dry run: would {} {would} agent(s) ({}){}; nothing was sent",
        spec.command,
        per.join(", "),
        if done > 0 {
            format!(
                ", {done} already done according to {}",
                input.journal_path.display()
            )
        } else {
            String::new()
        }
    ));
    Ok(summary)
}

/// `--summary FILE.json`, written whatever the run's end.
fn write_summary_file(app: &App, opts: &BulkOptions, summary: &RunSummary) -> CliResult {
    if let Some(path) = &opts.summary {
        runstate::summary::write(path, summary).map_err(|e| {
            CliError::runtime("summary", format!("cannot write {}: {e}", path.display()))
        })?;
        app.info(format!("run summary written to {}", path.display()));
    }
    Ok(())
}

/// A summary for a run that sent nothing and opened no journal.
fn quiet_summary(spec: &RunSpec, status: &str, journal: Option<PathBuf>) -> RunSummary {
    let now = Timestamp::now();
    RunSummary {
        run: runstate::new_run_id(now),
        command: spec.command.clone(),
        digest: spec.digest.clone(),
        status: status.into(),
        started: format_timestamp(now),
        ended: Some(format_timestamp(now)),
        journal,
        input: spec.input.clone(),
        agents: spec.agents,
        ..RunSummary::default()
    }
}

/// Make `<input>.failed.csv` current (plan inputs only) and say so.
fn sync_failed(
    app: &App,
    source: &Source,
    rows: &[FailedRow],
    run: &str,
) -> CliResult<Option<PathBuf>> {
    let Source::Plan(input) = source else {
        return Ok(None);
    };
    let path = runstate::journal::failed_csv_path(input);
    let existed = path.exists();
    let written = runstate::journal::sync_failed_csv(&path, rows, run).map_err(|e| {
        CliError::runtime(
            "failed file",
            format!("cannot update {}: {e}", path.display()),
        )
    })?;
    if written {
        app.info(format!(
            "failed agents written to {} (retry with --from {})",
            path.display(),
            path.display()
        ));
        Ok(Some(path))
    } else {
        if existed {
            app.info(format!(
                "removed {} from an earlier run: nothing failed this time",
                path.display()
            ));
        }
        Ok(None)
    }
}

pub async fn run(app: &App, actions: Actions, source: Source, opts: BulkOptions) -> CliResult {
    let command = actions.command();
    // The protection list ([protect], --protect-file): matching rows are `skipped:protected`.
    let mut opts = opts;
    let protection = Protection::load(&app.config.protect, app.global.protect_file.as_deref())?;
    if !protection.is_empty() {
        opts.exclude.push(Box::new(move |c: &Candidate<'_>| {
            protection
                .reason(c.agent_id, c.hostname, c.group)
                .map(|_| PROTECTED.to_string())
        }));
    }
    // 1. Validate everything.
    let (targets, providers) = load_targets(app, &actions, &source).await?;
    let keys: Vec<String> = targets
        .iter()
        .map(|t| action_key(t.asked.as_ref()))
        .collect();
    let digest = runstate::plan_digest(targets.iter().zip(&keys).map(|(t, k)| DigestRow {
        provider: &t.agent.provider,
        agent_id: &t.agent.agent_id,
        action: k,
    }));
    let spec = RunSpec {
        command: command.into(),
        digest,
        journal: opts.journal.clone(),
        input: source.input().map(Path::to_path_buf),
        agents: targets.len() as u64,
    };
    if targets.is_empty() {
        app.info("nothing to do: the plan has no agents");
        if !opts.dry_run {
            sync_failed(app, &source, &[], "")?;
        }
        let status = if opts.dry_run {
            "dry-run"
        } else {
            "nothing-to-do"
        };
        return write_summary_file(app, &opts, &quiet_summary(&spec, status, None));
    }
    // 2. --max.
    if targets.len() > opts.max {
        return Err(CliError::usage(
            command,
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
            command,
            format!(
                "refusing to {command} {} agent(s) without confirmation: no terminal to ask on",
                targets.len()
            ),
        )
        .hint("review the plan (or use --dry-run), then pass --yes"));
    }
    // What each provider really performs for each asked action (e.g. a console whose only
    // clean-up is deleting the record answers `remove` for `uninstall`): prompts, dry-run
    // lines, the journal and the summary say that.
    let mut effective: BTreeMap<(String, &'static str), Action> = BTreeMap::new();
    for t in &targets {
        let Some(asked) = &t.asked else { continue };
        let key = (t.agent.provider.clone(), asked.name());
        if effective.contains_key(&key) {
            continue;
        }
        let eff = providers[&t.agent.provider]
            .provider
            .effective_action(asked);
        if eff.name() != asked.name() {
            let what = match eff {
                Action::Remove => "removes the record (alias of remove)".to_string(),
                ref other => format!("is performed as {} (alias)", other.name()),
            };
            app.info(format!("{}: {} {what}", t.agent.provider, asked.name()));
        }
        effective.insert(key, eff);
    }
    let eff_of = |t: &Target| -> Option<&Action> {
        t.asked
            .as_ref()
            .map(|a| &effective[&(t.agent.provider.clone(), a.name())])
    };
    // 6. The journal of this plan: read only for a dry run, locked for a real one.
    let state_dir = state_dir();
    let (journal_path, state, mut run) = if opts.dry_run {
        let (path, state) = Run::peek(&spec, &state_dir).map_err(|e| {
            CliError::usage(
                "journal",
                format!(
                    "cannot read {}: {e}",
                    spec.journal_path(&state_dir).display()
                ),
            )
        })?;
        (path, state, None)
    } else {
        let shown = spec.journal_path(&state_dir);
        let on_wait = |h: &runstate::Held| {
            app.info(format!(
                "waiting: {h} is running this plan (journal {})",
                shown.display()
            ));
        };
        match Run::begin(&spec, &state_dir, opts.wait, on_wait).await {
            Ok((run, state)) => (run.journal_path().to_path_buf(), state, Some(run)),
            Err(BeginError::Held { journal, holder }) => {
                return Err(CliError::usage(
                    command,
                    format!(
                        "another run is working on this plan: {holder} holds journal {}",
                        journal.display()
                    ),
                )
                .hint("nothing was sent; wait for it to finish, or pass --wait to wait for it"));
            }
            Err(BeginError::Io { path, error }) => {
                return Err(CliError::usage(
                    "journal",
                    format!("cannot open {}: {error}", path.display()),
                ));
            }
        }
    };
    if state.skipped_lines() > 0 {
        app.info(format!(
            "note: {} unreadable line(s) in journal {} ignored (an interrupted write)",
            state.skipped_lines(),
            journal_path.display()
        ));
    }
    // Exclusions, the plan's pending-uninstall rows and resume decisions.
    let mut early: Vec<Done> = Vec::new();
    let mut done_earlier: Vec<(Arc<Target>, &'static str, String)> = Vec::new();
    let mut todo: Vec<Arc<Target>> = Vec::new();
    for mut t in targets {
        let candidate = Candidate {
            provider: &t.agent.provider,
            kind: t.kind,
            agent_id: &t.agent.agent_id,
            hostname: t.agent.hostname.as_deref(),
            group: t.group.as_deref(),
        };
        let excluded = opts.exclude.iter().find_map(|f| f(&candidate));
        let name = eff_of(&t).map_or("uninstall", Action::name);
        if let Some(why) = excluded {
            early.push(Done {
                target: Arc::new(t),
                action: name,
                outcome: Outcome::Skipped(why),
                detail: "kept out of every bulk change; nothing sent".into(),
                request_id: None,
            });
            continue;
        }
        if t.asked.is_none() {
            early.push(Done {
                target: Arc::new(t),
                action: name,
                outcome: Outcome::Skipped("pending-uninstall".into()),
                detail: "the plan marks an uninstall already pending; nothing sent".into(),
                request_id: None,
            });
            continue;
        }
        match state.decide(
            &t.agent.provider,
            &t.agent.agent_id,
            name,
            app.now,
            opts.rerequest_after,
        ) {
            Resume::Send => todo.push(Arc::new(t)),
            Resume::Rerequest { since } => {
                t.rerequest_since = Some(since);
                todo.push(Arc::new(t));
            }
            Resume::Done { outcome, ts } => {
                done_earlier.push((Arc::new(t), name, format!("{outcome} at {ts}")));
            }
        }
    }
    if !done_earlier.is_empty() {
        app.info(format!(
            "resuming: {} agent(s) already done according to {}",
            done_earlier.len(),
            journal_path.display()
        ));
    }
    let rerequests = todo.iter().filter(|t| t.rerequest_since.is_some()).count();
    if rerequests > 0 {
        app.info(format!(
            "{rerequests} uninstall request(s) older than the re-request window will be sent again if the agent is still there and unseen"
        ));
    }
    // Prepare each provider and action (tokens, organization, resolved ids): reads only.
    let mut prepared: HashMap<(String, &'static str), Action> = HashMap::new();
    for t in &todo {
        let Some(eff) = eff_of(t) else { continue };
        let key = (t.agent.provider.clone(), eff.name());
        if prepared.contains_key(&key) {
            continue;
        }
        let c = &providers[&t.agent.provider];
        let p = c
            .provider
            .prepare(eff)
            .await
            .map_err(|e| CliError::from_provider(command, e.with_provider(&c.name)))?;
        prepared.insert(key, p);
    }
    let prepared_of = |t: &Target| -> Action {
        let eff = eff_of(t).cloned().unwrap_or(Action::Uninstall);
        prepared
            .get(&(t.agent.provider.clone(), eff.name()))
            .cloned()
            .unwrap_or(eff)
    };
    let mut writer = app.writer(&RESULT_COLUMNS)?;
    // 4. Dry run: what a real run would do now, per agent; nothing sent, nothing written.
    if opts.dry_run {
        let summary = dry_run(
            app,
            &opts,
            &spec,
            &providers,
            writer,
            DryInput {
                early,
                done_earlier,
                todo,
                prepared_of: &prepared_of,
                journal_path: &journal_path,
            },
        )
        .await?;
        return write_summary_file(app, &opts, &summary);
    }
    let mut run = run
        .take()
        .ok_or_else(|| CliError::runtime(command, "the run has no journal"))?;
    if todo.is_empty() && early.is_empty() {
        writer.finish()?;
        app.info(format!(
            "nothing left to do: every agent of this plan is done according to {}",
            journal_path.display()
        ));
        run.summary_mut().done_earlier = done_earlier.len() as u64;
        let failed_file = sync_failed(app, &source, &[], run.id())?;
        run.summary_mut().failed_file = failed_file;
        let summary = run.finish("finished");
        return write_summary_file(app, &opts, &summary);
    }
    if interactive && !todo.is_empty() {
        let mut groups: BTreeMap<(String, &'static str), (usize, String)> = BTreeMap::new();
        for t in &todo {
            let a = prepared_of(t);
            groups
                .entry((t.agent.provider.clone(), a.name()))
                .or_insert((0, action_detail(&a)))
                .0 += 1;
        }
        if !confirm(todo.len(), &groups)? {
            drop(run.finish("not-confirmed"));
            return Err(CliError::usage(command, "not confirmed; nothing was sent"));
        }
    }
    // 5-7. Re-check and act, `concurrency` units in flight per provider.
    let progress = Progress::bar(app, (todo.len() + early.len()) as u64, command);
    let stop = Arc::new(AtomicBool::new(false));
    let recheck = opts.recheck;
    let mut by_provider: BTreeMap<String, Vec<Arc<Target>>> = BTreeMap::new();
    for t in todo {
        by_provider
            .entry(t.agent.provider.clone())
            .or_default()
            .push(t);
    }
    let stats: BTreeMap<String, Arc<RecheckStats>> = by_provider
        .keys()
        .map(|p| (p.clone(), Arc::new(RecheckStats::default())))
        .collect();
    let streams = by_provider.into_iter().map(|(name, mine)| {
        let c = providers[&name].clone();
        // Group by action (in plan order), then cut into the vendor's batches.
        let mut groups: Vec<(Action, Vec<Arc<Target>>)> = Vec::new();
        for t in mine {
            let a = prepared_of(&t);
            match groups.iter_mut().find(|(g, _)| g == &a) {
                Some((_, v)) => v.push(t),
                None => groups.push((a, vec![t])),
            }
        }
        let mut units: Vec<(Action, Vec<Arc<Target>>)> = Vec::new();
        for (a, ts) in groups {
            let size = c.provider.batch_size(&a).max(1);
            if size > 1 {
                tracing::info!(provider = %name, action = a.name(), size, "acting in vendor batches");
            }
            for chunk in ts.chunks(size) {
                units.push((a.clone(), chunk.to_vec()));
            }
        }
        provider_stream(c, units, recheck, stats[&name].clone(), stop.clone())
    });
    let mut merged = futures::stream::select_all(streams);
    let mut failed_rows: Vec<FailedRow> = Vec::new();
    let mut interrupted = false;
    let mut output_error: Option<std::io::Error> = None;
    let mut rerequested = 0u64;
    let mut written = 0u64;
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    let mut pending_early = Some(early);
    loop {
        let batch = if let Some(early) = pending_early.take() {
            early
        } else {
            tokio::select! {
                item = merged.next() => match item {
                    Some(batch) => batch,
                    None => break,
                },
                _ = &mut ctrl_c => {
                    if interrupted {
                        break;
                    }
                    interrupted = true;
                    stop.store(true, Ordering::SeqCst);
                    app.info("interrupted: recording the requests in flight (Ctrl-C again to stop at once)");
                    ctrl_c = Box::pin(tokio::signal::ctrl_c());
                    continue;
                }
            }
        };
        for d in batch {
            let t = &d.target;
            let mut entry = JournalEntry::new(
                &t.agent.provider,
                &t.agent.agent_id,
                d.action,
                d.outcome.clone(),
                &d.detail,
            );
            entry.hostname = t.agent.hostname.clone();
            entry.request_id = d.request_id.clone();
            run.record(t.kind, entry).map_err(|e| {
                stop.store(true, Ordering::SeqCst);
                CliError::runtime(
                    "journal",
                    format!("cannot append to {}: {e}", journal_path.display()),
                )
            })?;
            if t.rerequest_since.is_some() && d.outcome == Outcome::Requested {
                rerequested += 1;
            }
            let outcome_text = d.outcome.to_string();
            if output_error.is_none() {
                let row = result_row(t, d.action, &outcome_text, &d.detail);
                match writer.write_row(&row).and_then(|()| writer.flush()) {
                    Ok(()) => written += 1,
                    Err(e) => {
                        // A closed stdout (`| head`) or a full disk: stop sending, keep
                        // journaling what is already in flight.
                        stop.store(true, Ordering::SeqCst);
                        output_error = Some(e);
                    }
                }
            }
            if let Outcome::Failed(_) = &d.outcome {
                failed_rows.push(FailedRow {
                    provider: t.agent.provider.clone(),
                    kind: t.kind.to_string(),
                    agent_id: t.agent.agent_id.clone(),
                    hostname: t.agent.hostname.clone(),
                    last_seen: t.agent.last_seen,
                    action: d.action.to_string(),
                    error: format!("{outcome_text}: {}", d.detail),
                });
            }
            progress.inc();
        }
    }
    drop(merged);
    progress.finish();
    if output_error.is_none()
        && let Err(e) = writer.finish()
    {
        output_error = Some(e);
    }
    // 8. Summary on stderr and in the run index; failures to <input>.failed.csv.
    {
        let s = run.summary_mut();
        s.done_earlier = done_earlier.len() as u64;
        s.rerequested = rerequested;
        for (p, st) in &stats {
            let how = st.describe(recheck);
            tracing::info!(provider = %p, "re-check: {how}");
            if let Some(ps) = s.providers.get_mut(p) {
                ps.recheck = how;
            }
        }
    }
    let failed_file = sync_failed(app, &source, &failed_rows, run.id())?;
    run.summary_mut().failed_file = failed_file;
    let status = if output_error.is_some() {
        "output-closed"
    } else if interrupted {
        "interrupted"
    } else {
        "finished"
    };
    let summary = run.finish(status);
    for (p, ps) in &summary.providers {
        app.info(format!("{p}: {}", RunSummary::line(&ps.counts)));
    }
    let mut extra = String::new();
    if summary.done_earlier > 0 {
        extra.push_str(&format!(", {} done earlier", summary.done_earlier));
    }
    if summary.rerequested > 0 {
        extra.push_str(&format!(", {} re-requested", summary.rerequested));
    }
    app.info(format!(
        "{command}: {}{extra}; journal {}",
        RunSummary::line(&summary.counts),
        journal_path.display()
    ));
    write_summary_file(app, &opts, &summary)?;
    if let Some(e) = output_error {
        let what = if crate::error::is_broken_pipe(&e) {
            "output closed (broken pipe)".to_string()
        } else {
            format!("cannot write results: {e}")
        };
        return Err(CliError::runtime(
            command,
            format!(
                "{what}: stopped sending after {written} result(s) were written; journal {} records every request sent",
                journal_path.display()
            ),
        )
        .hint("run the same command again to resume"));
    }
    if interrupted {
        return Err(CliError::exit_with(
            exit::INTERRUPTED,
            command,
            format!(
                "interrupted; journal {} is intact, run the same command again to resume",
                journal_path.display()
            ),
        ));
    }
    let failed = RunSummary::total(&summary.counts, "failed:");
    if failed > 0 {
        return Err(CliError::exit_with(
            exit::PARTIAL,
            command,
            format!("{failed} agent(s) failed"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentctl_core::{AgentRecord, Check, ListQuery, Provider};
    use futures::stream::BoxStream;
    use std::sync::Mutex;

    /// What every fake vendor here answers alike: its names, support for everything, an
    /// empty listing, any id, and the id as the description.
    macro_rules! fake_basics {
        () => {
            fn name(&self) -> &str {
                "fake"
            }
            fn kind(&self) -> &'static str {
                "fake-kind"
            }
            fn supports(&self, _op: Operation) -> Result<(), NotSupported> {
                Ok(())
            }
            fn list<'a>(
                &'a self,
                _q: &'a ListQuery,
            ) -> BoxStream<'a, agentctl_core::Result<AgentRecord>> {
                futures::stream::empty().boxed()
            }
            fn validate_agent_id(&self, _id: &str) -> Result<(), String> {
                Ok(())
            }
            fn describe(&self, _a: &Action, agent: &AgentRef) -> String {
                agent.agent_id.clone()
            }
        };
    }

    /// A provider whose vendor takes batches of 3 and re-checks one agent at a time.
    #[derive(Default)]
    struct Batching {
        batches: Mutex<Vec<Vec<String>>>,
        rechecks: AtomicU64,
    }

    #[async_trait::async_trait]
    impl Provider for Batching {
        fake_basics!();
        async fn recheck(&self, id: &str) -> agentctl_core::Result<Recheck> {
            self.rechecks.fetch_add(1, Ordering::Relaxed);
            Ok(if id == "gone" {
                Recheck::Gone
            } else {
                Recheck::Present(Box::new(record(id, None, id == "pending")))
            })
        }
        async fn act(
            &self,
            _a: &Action,
            _agent: &AgentRef,
        ) -> agentctl_core::Result<ActionOutcome> {
            Err(ProviderError::protocol("batching vendor: act_batch only"))
        }
        fn batch_size(&self, _a: &Action) -> usize {
            3
        }
        async fn act_batch(
            &self,
            _a: &Action,
            agents: &[AgentRef],
        ) -> Vec<agentctl_core::Result<ActionOutcome>> {
            let ids: Vec<String> = agents.iter().map(|a| a.agent_id.clone()).collect();
            self.batches.lock().unwrap().push(ids);
            agents
                .iter()
                .map(|a| {
                    Ok(ActionOutcome::Requested {
                        detail: format!("job for {}", a.agent_id),
                        request_id: Some("job-1".into()),
                    })
                })
                .collect()
        }
        async fn doctor(&self) -> Vec<Check> {
            Vec::new()
        }
    }

    fn record(id: &str, last_seen: Option<Timestamp>, pending: bool) -> AgentRecord {
        AgentRecord {
            provider: "fake".into(),
            kind: "fake-kind".into(),
            agent_id: id.into(),
            hostname: id.into(),
            last_seen,
            pending_uninstall: pending,
            ..AgentRecord::default()
        }
    }

    fn target(id: &str, last_seen: Option<Timestamp>) -> Arc<Target> {
        Arc::new(Target {
            agent: AgentRef {
                provider: "fake".into(),
                agent_id: id.into(),
                hostname: None,
                last_seen,
            },
            kind: "fake-kind",
            group: None,
            asked: Some(Action::Uninstall),
            rerequest_since: None,
        })
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn judge_rules() {
        let t = target("a", Some(ts("2026-10-01T00:00:00Z")));
        let present =
            |seen: &str, pending| Recheck::Present(Box::new(record("a", Some(ts(seen)), pending)));
        let why = |r: Option<(Outcome, String)>| r.map(|(o, _)| o.to_string());
        assert_eq!(
            why(judge(&t, &Action::Uninstall, Recheck::Gone)),
            Some("skipped:gone".into())
        );
        assert_eq!(
            why(judge(
                &t,
                &Action::Uninstall,
                present("2026-10-01T00:00:00.999Z", false)
            )),
            None
        );
        assert_eq!(
            why(judge(
                &t,
                &Action::Remove,
                present("2026-10-01T00:00:01Z", false)
            )),
            Some("skipped:seen-again".into())
        );
        assert_eq!(
            why(judge(
                &t,
                &Action::Uninstall,
                present("2026-09-01T00:00:00Z", true)
            )),
            Some("skipped:pending-uninstall".into())
        );
        assert_eq!(
            why(judge(
                &t,
                &Action::Remove,
                present("2026-09-01T00:00:00Z", true)
            )),
            None
        );
        // Restore: the other way round.
        assert_eq!(why(judge(&t, &Action::Restore, Recheck::Gone)), None);
        assert_eq!(
            why(judge(
                &t,
                &Action::Restore,
                present("2026-09-01T00:00:00Z", false)
            )),
            Some("skipped:present".into())
        );
        // A re-request is not sent to an agent seen after the first request.
        let mut again = Target {
            agent: t.agent.clone(),
            kind: t.kind,
            group: None,
            asked: Some(Action::Uninstall),
            rerequest_since: Some(ts("2026-11-01T00:00:00Z")),
        };
        again.agent.last_seen = None;
        assert_eq!(
            why(judge(
                &again,
                &Action::Uninstall,
                present("2026-11-02T00:00:00Z", false)
            )),
            Some("skipped:seen-again".into())
        );
        assert_eq!(
            why(judge(
                &again,
                &Action::Uninstall,
                present("2026-10-31T00:00:00Z", false)
            )),
            None
        );
    }

    #[tokio::test]
    async fn a_batch_is_rechecked_per_agent_then_sent_as_one_job_with_one_result_each() {
        let fake = Arc::new(Batching::default());
        let c = Configured {
            name: "fake".into(),
            kind: "fake-kind",
            provider: fake.clone(),
            concurrency: 1,
            insecure: false,
            min_agents: None,
        };
        let unit = vec![
            target("a", None),
            target("gone", None),
            target("pending", None),
            target("b", None),
        ];
        let stats = RecheckStats::default();
        let stop = AtomicBool::new(false);
        let done = process_unit(&c, &Action::Uninstall, unit, None, true, &stats, &stop).await;
        let outcomes: Vec<(String, String, Option<String>)> = done
            .iter()
            .map(|d| {
                (
                    d.target.agent.agent_id.clone(),
                    d.outcome.to_string(),
                    d.request_id.clone(),
                )
            })
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("gone".into(), "skipped:gone".into(), None),
                ("pending".into(), "skipped:pending-uninstall".into(), None),
                ("a".into(), "requested".into(), Some("job-1".into())),
                ("b".into(), "requested".into(), Some("job-1".into())),
            ]
        );
        assert_eq!(
            *fake.batches.lock().unwrap(),
            vec![vec!["a".to_string(), "b".to_string()]]
        );
        assert_eq!(fake.rechecks.load(Ordering::Relaxed), 4);
        assert_eq!(stats.describe(true), "per agent (4 requests)");
        // A bulk re-check answer replaces the per-agent requests (absent = gone).
        let pre = Arc::new(HashMap::from([(
            "a".to_string(),
            Recheck::Present(Box::new(record("a", None, false))),
        )]));
        let done = process_unit(
            &c,
            &Action::Uninstall,
            vec![target("a", None), target("x", None)],
            Some(pre),
            true,
            &stats,
            &stop,
        )
        .await;
        assert_eq!(fake.rechecks.load(Ordering::Relaxed), 4);
        assert_eq!(done[0].outcome.to_string(), "skipped:gone");
        assert_eq!(done[1].outcome.to_string(), "requested");
        // Stopping: nothing is attempted.
        stop.store(true, Ordering::SeqCst);
        let done = process_unit(
            &c,
            &Action::Uninstall,
            vec![target("c", None)],
            None,
            true,
            &stats,
            &stop,
        )
        .await;
        assert!(done.is_empty());
        assert_eq!(fake.batches.lock().unwrap().len(), 2);
    }

    /// A one-at-a-time vendor whose bulk re-check reports "a", then waits until "a" has been
    /// acted on before it reports "b"; "c" it never reports (gone).
    #[derive(Default)]
    struct Streaming {
        acted: Mutex<Vec<String>>,
        a_acted: tokio::sync::Notify,
    }

    #[async_trait::async_trait]
    impl Provider for Streaming {
        fake_basics!();
        async fn recheck(&self, _id: &str) -> agentctl_core::Result<Recheck> {
            Err(ProviderError::protocol(
                "the bulk re-check answers everything",
            ))
        }
        async fn recheck_bulk_each(
            &self,
            _agents: &[AgentRef],
            found: &mut (dyn FnMut(String, Recheck) + Send),
        ) -> agentctl_core::Result<bool> {
            found(
                "a".into(),
                Recheck::Present(Box::new(record("a", None, false))),
            );
            // Reported twice: the first answer stands.
            found("a".into(), Recheck::Gone);
            self.a_acted.notified().await;
            found(
                "b".into(),
                Recheck::Present(Box::new(record("b", None, false))),
            );
            Ok(true)
        }
        async fn act(&self, _a: &Action, agent: &AgentRef) -> agentctl_core::Result<ActionOutcome> {
            self.acted.lock().unwrap().push(agent.agent_id.clone());
            if agent.agent_id == "a" {
                self.a_acted.notify_one();
            }
            Ok(ActionOutcome::Requested {
                detail: String::new(),
                request_id: None,
            })
        }
        async fn doctor(&self) -> Vec<Check> {
            Vec::new()
        }
    }

    #[tokio::test]
    async fn agents_are_acted_on_while_the_bulk_recheck_is_still_reading() {
        let fake = Arc::new(Streaming::default());
        let c = Configured {
            name: "fake".into(),
            kind: "fake-kind",
            provider: fake.clone(),
            concurrency: 2,
            insecure: false,
            min_agents: None,
        };
        let units = ["c", "b", "a"]
            .iter()
            .map(|id| (Action::Uninstall, vec![target(id, None)]))
            .collect();
        let stats = Arc::new(RecheckStats::default());
        let stream = provider_stream(
            c,
            units,
            true,
            stats.clone(),
            Arc::new(AtomicBool::new(false)),
        );
        // "b" is only reported once "a" has been acted on: waiting for the whole re-check
        // before acting would never finish.
        let done: Vec<Vec<Done>> =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.collect())
                .await
                .expect("acting must not wait for the whole re-check");
        let outcomes: Vec<(String, String)> = done
            .iter()
            .flatten()
            .map(|d| (d.target.agent.agent_id.clone(), d.outcome.to_string()))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ("a".to_string(), "requested".to_string()),
                ("b".to_string(), "requested".to_string()),
                ("c".to_string(), "skipped:gone".to_string()),
            ]
        );
        assert_eq!(*fake.acted.lock().unwrap(), vec!["a", "b"]);
        assert_eq!(stats.describe(true), "bulk (1 call(s) for 3 agents)");
    }
}
