//! One fleet, many consoles: every selected provider's agents listed once, reduced to what
//! cross-console questions need, and grouped into machines by the identity rule.
//!
//! - [`collect`] lists the providers concurrently (one pass each) and keeps a compact
//!   [`Agent`] per registration — never the vendor's raw JSON — so memory grows with the
//!   number of agents, not with the size of vendor objects.
//! - [`identity::Machines`] groups agents into machines (MAC, serial, host name, NetBIOS).
//! - [`corroborate`] (`stale`'s `seen_elsewhere`), [`gaps`], [`duplicates`] answer the
//!   questions; [`protect`] keeps protected agents out of plans and bulk changes; [`report`]
//!   puts it together for people (HTML, Markdown) and machines (JSON).
//!
//! Vendors know nothing of each other: everything here works on [`AgentRecord`]s.

pub mod corroborate;
pub mod duplicates;
pub mod gaps;
pub mod identity;
pub mod protect;
pub mod report;

use std::collections::HashSet;
use std::sync::Arc;

use agentctl_core::{AgentRecord, ListQuery, ListTally, Operation};
use futures::StreamExt;
use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::app::App;
use crate::error::{CliError, CliResult, exit};
use crate::progress::Progress;
use crate::providers::Configured;

/// One selected provider of the fleet.
#[derive(Debug, Clone)]
pub struct ProviderInfo {
    pub name: String,
    pub kind: &'static str,
    /// The kind reports a last-seen time (Apex Central does not: "present" only).
    pub has_last_seen: bool,
    /// The kind can delete a registration (`remove`).
    pub can_remove: bool,
}

/// One agent registration, without the vendor's raw JSON.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Index into [`Fleet::providers`].
    pub provider: u16,
    pub agent_id: Box<str>,
    pub hostname: Box<str>,
    pub last_seen: Option<Timestamp>,
    pub os: Option<Arc<str>>,
    pub agent_version: Option<Arc<str>>,
    pub ip_addresses: Box<[Box<str>]>,
    pub group: Option<Arc<str>>,
    /// Normalised (`aa:bb:…`).
    pub macs: Box<[Box<str>]>,
    pub serial: Option<Box<str>>,
    /// The console already shows an uninstall pending.
    pub pending_uninstall: bool,
}

/// Repeated strings (OS names, versions, groups) are kept once.
#[derive(Default)]
struct Interner(HashSet<Arc<str>>);

impl Interner {
    fn get(&mut self, s: Option<&str>) -> Option<Arc<str>> {
        let s = s?;
        if let Some(v) = self.0.get(s) {
            return Some(v.clone());
        }
        let v: Arc<str> = Arc::from(s);
        self.0.insert(v.clone());
        Some(v)
    }
}

/// Every agent of the selected providers.
#[derive(Default)]
pub struct Fleet {
    pub providers: Vec<ProviderInfo>,
    pub agents: Vec<Agent>,
    interner: Interner,
}

impl Fleet {
    pub fn new(providers: Vec<ProviderInfo>) -> Self {
        Self {
            providers,
            agents: Vec::new(),
            interner: Interner::default(),
        }
    }

    /// Add one record of provider `provider` (an index into `providers`).
    pub fn push(&mut self, provider: u16, r: &AgentRecord) {
        let macs: Vec<Box<str>> = r
            .mac_addresses
            .iter()
            .filter_map(|m| agentctl_core::identity::normalize_mac(m))
            .map(String::into_boxed_str)
            .collect();
        let agent = Agent {
            provider,
            agent_id: r.agent_id.clone().into_boxed_str(),
            hostname: r.hostname.clone().into_boxed_str(),
            last_seen: r.last_seen,
            os: self.interner.get(r.os.as_deref()),
            agent_version: self.interner.get(r.agent_version.as_deref()),
            ip_addresses: r
                .ip_addresses
                .iter()
                .map(|s| s.clone().into_boxed_str())
                .collect(),
            group: self.interner.get(r.group.as_deref()),
            macs: macs.into_boxed_slice(),
            serial: r
                .serial_number
                .as_deref()
                .and_then(agentctl_core::identity::normalize_serial)
                .map(String::into_boxed_str),
            pending_uninstall: r.pending_uninstall,
        };
        self.agents.push(agent);
    }

    pub fn provider_of(&self, a: &Agent) -> &ProviderInfo {
        &self.providers[a.provider as usize]
    }

    /// SPEC's agent columns for one agent (no `raw`: the fleet does not keep it).
    pub fn agent_row(&self, a: &Agent, now: Timestamp) -> Map<String, Value> {
        let p = self.provider_of(a);
        let record = AgentRecord {
            provider: p.name.clone(),
            kind: p.kind.to_string(),
            agent_id: a.agent_id.to_string(),
            hostname: a.hostname.to_string(),
            last_seen: a.last_seen,
            os: a.os.as_deref().map(str::to_string),
            agent_version: a.agent_version.as_deref().map(str::to_string),
            ip_addresses: a.ip_addresses.iter().map(|s| s.to_string()).collect(),
            group: a.group.as_deref().map(str::to_string),
            mac_addresses: Vec::new(),
            serial_number: None,
            pending_uninstall: false,
            raw: Value::Null,
        };
        let mut row = crate::output::agent_row(&record, now);
        row.remove("raw");
        row
    }
}

impl ProviderInfo {
    pub fn of(c: &Configured) -> Self {
        Self {
            name: c.name.clone(),
            kind: c.kind,
            has_last_seen: c.provider.supports(Operation::Stale).is_ok(),
            can_remove: c.provider.supports(Operation::Remove).is_ok(),
        }
    }
}

/// Every agent, without the vendor JSON (the fleet never keeps it).
pub static FLEET_QUERY: std::sync::LazyLock<ListQuery> = std::sync::LazyLock::new(|| ListQuery {
    keep_raw: false,
    ..ListQuery::default()
});

/// What one listing pass gave.
pub struct Collected {
    pub fleet: Fleet,
    /// Providers whose listing failed (each already reported on stderr).
    pub failed: Vec<String>,
    /// Records received per provider (before the host filter), for `--min-agents`.
    pub received: Vec<u64>,
    /// What each provider's vendor reported and returned (see [`truncation_problems`]).
    pub tallies: Vec<ListTally>,
    /// Records that passed the host filter (the fleet's agents, when it keeps them).
    pub listed: u64,
}

impl Collected {
    /// Cross-console answers need every provider: a failed listing is exit 1, not a guess.
    pub fn require_complete(&self, what: &str) -> CliResult {
        if self.failed.is_empty() {
            return Ok(());
        }
        Err(CliError::exit_with(
            exit::RUNTIME,
            what,
            format!(
                "{} could not be listed; {what} needs every selected provider and does not guess",
                self.failed.join(", ")
            ),
        ))
    }
}

/// List every provider in `selected` concurrently, one pass each, keeping a compact
/// [`Agent`] per record. `on_record` sees each full record as it arrives (the agent's index
/// in the fleet, the record) — e.g. `stale` keeps the stale ones for its output. A provider
/// that fails is reported on stderr and named in [`Collected::failed`]; the others finish.
pub async fn collect(
    app: &App,
    op: Operation,
    selected: &[Configured],
    query: &ListQuery,
    mut on_record: impl FnMut(u32, &AgentRecord),
) -> Collected {
    collect_owned(app, op, selected, query, true, |_, i, r| on_record(i, &r)).await
}

/// [`collect`], handing each record over by value (the provider's index in `selected`, the
/// agent's index, the record) so the caller keeps it without a copy. With `keep_fleet`
/// false no [`Agent`] is kept ([`Collected::fleet`] has no agents; the indices still count
/// the records that passed the host filter): for a caller that needs no cross-console
/// answer, memory then does not grow with the fleet.
pub async fn collect_owned(
    app: &App,
    op: Operation,
    selected: &[Configured],
    query: &ListQuery,
    keep_fleet: bool,
    mut on_record: impl FnMut(u16, u32, AgentRecord),
) -> Collected {
    let mut fleet = Fleet::new(selected.iter().map(ProviderInfo::of).collect());
    let progress = Progress::spinner(app, "listing agents");
    let (tallies, mut merged) = listings(selected, query);
    let mut failed = Vec::new();
    let mut received = vec![0u64; selected.len()];
    let mut finished = vec![false; selected.len()];
    let mut seen = 0u64;
    let mut listed = 0u32;
    while let Some((i, item)) = merged.next().await {
        let i = i as u16;
        let Some(item) = item else {
            // This provider's listing ended: show it done.
            finished[i as usize] = true;
            crate::commands::list::show_counts(&progress, selected, &received, &finished);
            continue;
        };
        match item {
            Ok(record) => {
                seen += 1;
                received[i as usize] += 1;
                if seen.is_multiple_of(500) {
                    crate::commands::list::show_counts(&progress, selected, &received, &finished);
                }
                if query
                    .host
                    .as_ref()
                    .is_some_and(|h| !h.matches(&record.hostname))
                {
                    continue;
                }
                if keep_fleet {
                    fleet.push(i, &record);
                }
                on_record(i, listed, record);
                listed = listed.saturating_add(1);
            }
            Err(e) => {
                let name = &selected[i as usize].name;
                let err = CliError::from_provider(op.name(), e.with_provider(name));
                crate::error::eprint_line(&err.to_string());
                if !failed.contains(name) {
                    failed.push(name.clone());
                }
            }
        }
    }
    progress.finish();
    Collected {
        fleet,
        failed,
        received,
        tallies,
        listed: u64::from(listed),
    }
}

/// One listing item: the provider's index in `selected`, and a record (or error) — `None`
/// once that provider's listing has ended.
pub type ListingItem = (usize, Option<agentctl_core::Result<AgentRecord>>);

/// Every provider in `selected` listed concurrently, one pass each, merged as they produce;
/// each counts into its [`ListTally`] (same order as `selected`) what its vendor reported
/// and returned.
pub fn listings<'a>(
    selected: &'a [Configured],
    query: &'a ListQuery,
) -> (
    Vec<ListTally>,
    futures::stream::SelectAll<futures::stream::BoxStream<'a, ListingItem>>,
) {
    let tallies: Vec<ListTally> = selected.iter().map(|_| ListTally::default()).collect();
    let streams: Vec<_> = selected
        .iter()
        .zip(&tallies)
        .enumerate()
        .map(|(i, (c, tally))| {
            c.provider
                .list_tallied(query, tally.clone())
                .map(move |r| (i, Some(r)))
                .chain(futures::stream::once(async move { (i, None) }))
                .boxed()
        })
        .collect();
    (tallies, futures::stream::select_all(streams))
}

/// Why a listing is not a plan: a provider that listed fewer agents than its minimum
/// (`--min-agents` / `min_agents`), or whose rows disagree with the total its vendor's own
/// answer reported. One line per provider at fault; empty when the listing can be trusted.
pub fn truncation_problems(
    selected: &[Configured],
    mins: &[Option<u64>],
    received: &[u64],
    tallies: &[ListTally],
) -> Vec<String> {
    let mut problems = Vec::new();
    for (i, c) in selected.iter().enumerate() {
        let got = received.get(i).copied().unwrap_or(0);
        if let Some(m) = mins.get(i).copied().flatten()
            && got < m
        {
            problems.push(format!(
                "{} listed {got} agent(s), fewer than the minimum {m}",
                c.name
            ));
        }
        if let Some((reported, returned)) = tallies.get(i).and_then(ListTally::disagreement) {
            problems.push(format!(
                "{} reports {reported} agent(s) but its pages held {returned}",
                c.name
            ));
        }
    }
    problems
}

/// The error for [`truncation_problems`].
pub fn refuse_truncated(command: &str, problems: &[String]) -> CliError {
    CliError::runtime(
        command,
        format!("refusing to write a plan: {}", problems.join("; ")),
    )
    .hint("a listing this small or inconsistent looks truncated (permissions, scope, a vendor fault, a fleet that changed while it was listed); run it again, check `agentctl doctor`, or lower --min-agents / min_agents")
}

/// RFC 3339 UTC, as every other time agentctl writes.
pub fn ts_value(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(agentctl_core::time::format_timestamp(t))
    })
}
