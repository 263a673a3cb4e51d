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

use std::collections::HashMap;
use std::sync::Arc;

use agentctl_core::{AgentRecord, ListQuery, ListTally, Operation};
use futures::StreamExt;
use futures::stream::BoxStream;
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

/// One agent registration, without the vendor's raw JSON, in as little memory as a
/// cross-console pass over a large fleet allows: the agent's own strings (id, host name,
/// serial, addresses, MACs) share one allocation, and the strings many agents repeat (OS,
/// version, group) are kept once in the [`Fleet`] and referred to by number.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Index into [`Fleet::providers`].
    pub provider: u16,
    /// The console already shows an uninstall pending.
    pub pending_uninstall: bool,
    pub last_seen: Option<Timestamp>,
    /// Interned strings (see [`Fleet::os`], [`Fleet::agent_version`], [`Fleet::group`]).
    os: Sym,
    agent_version: Sym,
    group: Sym,
    /// See [`Packed`].
    text: Box<[u8]>,
}

/// An interned string's number in [`Interner::strings`] plus one; 0 is none.
type Sym = u32;

/// The layout of [`Agent::text`]: the agent id, the host name, the serial number (its length
/// plus one; 0 is none), the count of IP addresses and each address, the count of MAC
/// addresses and each (normalised, `aa:bb:…`) — every length and count a LEB128 number,
/// every string its UTF-8 bytes.
struct Packed<'a>(&'a [u8]);

impl<'a> Packed<'a> {
    fn write_len(out: &mut Vec<u8>, mut n: usize) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }

    fn write_str(out: &mut Vec<u8>, s: &str) {
        Self::write_len(out, s.len());
        out.extend_from_slice(s.as_bytes());
    }

    fn len(&mut self) -> usize {
        let mut n = 0usize;
        let mut shift = 0u32;
        while let Some((&byte, rest)) = self.0.split_first() {
            self.0 = rest;
            if shift < usize::BITS {
                n |= usize::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        n
    }

    fn bytes(&mut self, n: usize) -> &'a str {
        let (s, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        // Written from `&str`s only (see `Fleet::push`), so always UTF-8.
        std::str::from_utf8(s).unwrap_or_default()
    }

    fn str(&mut self) -> &'a str {
        let n = self.len();
        self.bytes(n)
    }

    fn skip_list(&mut self) {
        for _ in 0..self.len() {
            self.str();
        }
    }

    /// The strings of a list (a count, then each string).
    fn list(mut self) -> impl Iterator<Item = &'a str> {
        let n = self.len();
        (0..n).map(move |_| self.str())
    }
}

impl Agent {
    fn packed(&self) -> Packed<'_> {
        Packed(&self.text)
    }

    pub fn agent_id(&self) -> &str {
        self.packed().str()
    }

    pub fn hostname(&self) -> &str {
        let mut p = self.packed();
        p.str();
        p.str()
    }

    /// Normalised.
    pub fn serial(&self) -> Option<&str> {
        let mut p = self.packed();
        p.str();
        p.str();
        match p.len() {
            0 => None,
            n => Some(p.bytes(n - 1)),
        }
    }

    fn after_serial(&self) -> Packed<'_> {
        let mut p = self.packed();
        p.str();
        p.str();
        let n = p.len();
        if n > 0 {
            p.bytes(n - 1);
        }
        p
    }

    pub fn ip_addresses(&self) -> impl Iterator<Item = &str> {
        self.after_serial().list()
    }

    /// Normalised (`aa:bb:…`).
    pub fn macs(&self) -> impl Iterator<Item = &str> {
        let mut p = self.after_serial();
        p.skip_list();
        p.list()
    }
}

/// Repeated strings (OS names, versions, groups) are kept once.
#[derive(Default)]
struct Interner {
    index: HashMap<Arc<str>, Sym>,
    strings: Vec<Arc<str>>,
}

impl Interner {
    fn get(&mut self, s: Option<&str>) -> Sym {
        let Some(s) = s else {
            return 0;
        };
        if let Some(&sym) = self.index.get(s) {
            return sym;
        }
        let v: Arc<str> = Arc::from(s);
        self.strings.push(v.clone());
        let sym = self.strings.len() as Sym;
        self.index.insert(v, sym);
        sym
    }

    fn resolve(&self, sym: Sym) -> Option<&str> {
        let i = (sym as usize).checked_sub(1)?;
        self.strings.get(i).map(AsRef::as_ref)
    }
}

/// Every agent of the selected providers.
#[derive(Default)]
pub struct Fleet {
    pub providers: Vec<ProviderInfo>,
    pub agents: Vec<Agent>,
    interner: Interner,
    /// Scratch space for packing one agent's strings.
    scratch: Vec<u8>,
}

impl Fleet {
    pub fn new(providers: Vec<ProviderInfo>) -> Self {
        Self {
            providers,
            ..Self::default()
        }
    }

    /// Add one record of provider `provider` (an index into `providers`).
    pub fn push(&mut self, provider: u16, r: &AgentRecord) {
        let out = &mut self.scratch;
        out.clear();
        Packed::write_str(out, &r.agent_id);
        Packed::write_str(out, &r.hostname);
        match r
            .serial_number
            .as_deref()
            .and_then(agentctl_core::identity::normalize_serial)
        {
            Some(serial) => {
                Packed::write_len(out, serial.len() + 1);
                out.extend_from_slice(serial.as_bytes());
            }
            None => Packed::write_len(out, 0),
        }
        Packed::write_len(out, r.ip_addresses.len());
        for ip in &r.ip_addresses {
            Packed::write_str(out, ip);
        }
        let macs: Vec<String> = r
            .mac_addresses
            .iter()
            .filter_map(|m| agentctl_core::identity::normalize_mac(m))
            .collect();
        Packed::write_len(out, macs.len());
        for mac in &macs {
            Packed::write_str(out, mac);
        }
        let agent = Agent {
            provider,
            pending_uninstall: r.pending_uninstall,
            last_seen: r.last_seen,
            os: self.interner.get(r.os.as_deref()),
            agent_version: self.interner.get(r.agent_version.as_deref()),
            group: self.interner.get(r.group.as_deref()),
            text: out.as_slice().into(),
        };
        self.agents.push(agent);
    }

    pub fn os<'f>(&'f self, a: &'f Agent) -> Option<&'f str> {
        self.interner.resolve(a.os)
    }

    pub fn agent_version<'f>(&'f self, a: &'f Agent) -> Option<&'f str> {
        self.interner.resolve(a.agent_version)
    }

    pub fn group<'f>(&'f self, a: &'f Agent) -> Option<&'f str> {
        self.interner.resolve(a.group)
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
            agent_id: a.agent_id().to_string(),
            hostname: a.hostname().to_string(),
            last_seen: a.last_seen,
            os: self.os(a).map(str::to_string),
            agent_version: self.agent_version(a).map(str::to_string),
            ip_addresses: a.ip_addresses().map(str::to_string).collect(),
            group: self.group(a).map(str::to_string),
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
) -> (Vec<ListTally>, Merged<'a>) {
    let tallies: Vec<ListTally> = selected.iter().map(|_| ListTally::default()).collect();
    let streams = selected
        .iter()
        .zip(&tallies)
        .map(|(c, tally)| Some(c.provider.list_tallied(query, tally.clone())))
        .collect();
    (tallies, Merged { streams, start: 0 })
}

/// The listings of several providers as one stream of [`ListingItem`]s, taken round-robin
/// from whichever are ready. Unlike `futures::stream::select_all`, which allocates a task
/// for every item it hands on, this costs nothing per record; with the handful of providers
/// a run selects, polling each in turn is cheaper than tracking which one woke.
pub struct Merged<'a> {
    /// A provider's listing, until it has ended.
    streams: Vec<Option<BoxStream<'a, agentctl_core::Result<AgentRecord>>>>,
    /// The provider polled first next time: the one after the last to yield, so a provider
    /// with records always ready cannot hold back the others.
    start: usize,
}

impl futures::Stream for Merged<'_> {
    type Item = ListingItem;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<ListingItem>> {
        use std::task::Poll;
        let this = &mut *self;
        let n = this.streams.len();
        let mut pending = false;
        for k in 0..n {
            let i = (this.start + k) % n;
            let Some(stream) = this.streams[i].as_mut() else {
                continue;
            };
            match stream.poll_next_unpin(cx) {
                Poll::Ready(Some(item)) => {
                    this.start = (i + 1) % n;
                    return Poll::Ready(Some((i, Some(item))));
                }
                Poll::Ready(None) => {
                    this.streams[i] = None;
                    this.start = (i + 1) % n;
                    return Poll::Ready(Some((i, None)));
                }
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(None)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, host: &str) -> AgentRecord {
        AgentRecord {
            provider: "p".into(),
            kind: "secure-endpoint".into(),
            agent_id: id.into(),
            hostname: host.into(),
            last_seen: Some("2026-11-01T10:00:00.25Z".parse().unwrap()),
            os: Some("Windows 11".into()),
            agent_version: Some("8.4.1".into()),
            ip_addresses: vec!["10.0.0.5".into(), "2001:db8::1".into()],
            group: Some("Zürich Ops".into()),
            mac_addresses: vec!["00-1B-44-11-3A-B7".into(), "not a mac".into()],
            serial_number: Some(" pf1ki05k ".into()),
            pending_uninstall: true,
            raw: Value::Null,
        }
    }

    fn fleet() -> Fleet {
        Fleet::new(vec![ProviderInfo {
            name: "p".into(),
            kind: "secure-endpoint",
            has_last_seen: true,
            can_remove: true,
        }])
    }

    #[test]
    fn an_agent_keeps_every_string_it_was_given() {
        let mut f = fleet();
        let long_id = "é".repeat(300); // lengths above one LEB128 byte
        f.push(0, &record(&long_id, "ZÜRICH-PC-01.corp.example"));
        let mut bare = record("", "");
        bare.ip_addresses.clear();
        bare.mac_addresses.clear();
        bare.serial_number = None;
        bare.os = None;
        bare.agent_version = None;
        bare.group = None;
        bare.last_seen = None;
        bare.pending_uninstall = false;
        f.push(0, &bare);
        f.push(0, &record("b", "host-b"));

        let a = &f.agents[0];
        assert_eq!(a.agent_id(), long_id);
        assert_eq!(a.hostname(), "ZÜRICH-PC-01.corp.example");
        assert_eq!(a.serial(), Some("PF1KI05K"));
        assert_eq!(
            a.ip_addresses().collect::<Vec<_>>(),
            ["10.0.0.5", "2001:db8::1"]
        );
        assert_eq!(a.macs().collect::<Vec<_>>(), ["00:1b:44:11:3a:b7"]);
        assert_eq!(f.os(a), Some("Windows 11"));
        assert_eq!(f.agent_version(a), Some("8.4.1"));
        assert_eq!(f.group(a), Some("Zürich Ops"));
        assert!(a.pending_uninstall);
        assert_eq!(a.last_seen, record("x", "y").last_seen);

        let b = &f.agents[1];
        assert_eq!((b.agent_id(), b.hostname(), b.serial()), ("", "", None));
        assert_eq!(b.ip_addresses().count() + b.macs().count(), 0);
        assert_eq!(
            (f.os(b), f.agent_version(b), f.group(b)),
            (None, None, None)
        );
        assert!(!b.pending_uninstall && b.last_seen.is_none());

        // Repeated strings are kept once.
        let c = &f.agents[2];
        assert!(std::ptr::eq(f.group(a).unwrap(), f.group(c).unwrap()));
        assert_eq!(f.interner.strings.len(), 3);
    }

    #[test]
    fn the_row_of_a_kept_agent_is_the_row_of_its_record() {
        let mut f = fleet();
        let r = record("id-1", "host-1");
        f.push(0, &r);
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let mut expected = crate::output::agent_row(&r, now);
        expected.remove("raw");
        assert_eq!(f.agent_row(&f.agents[0], now), expected);
    }
}
