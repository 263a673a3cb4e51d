//! The provider contract: what every vendor kind implements.
//!
//! Listing is a stream so large fleets are processed page by page. Bulk changes go through one
//! [`Action`] path so the binary's safety flow (validate, confirm, dry-run, re-check, journal)
//! is written once. Anything a kind cannot do answers [`NotSupported`] with a reason.

use async_trait::async_trait;
use futures::stream::BoxStream;
use jiff::Timestamp;
use secrecy::SecretString;
use serde::Serialize;

use crate::error::{NotSupported, ProviderError, Result};
use crate::record::{AgentRecord, AgentRef};

/// Operations a command may ask of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    List,
    /// Stale detection needs a last-seen time per agent.
    Stale,
    Uninstall,
    /// Delete the agent's registration from the console (not an uninstall).
    Remove,
    /// Undo a `Remove` where the vendor keeps deleted records (soft delete).
    Restore,
    Relocate,
    Clients,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::List => "list",
            Operation::Stale => "stale",
            Operation::Uninstall => "uninstall",
            Operation::Remove => "remove",
            Operation::Restore => "restore",
            Operation::Relocate => "relocate",
            Operation::Clients => "clients",
        }
    }
}

/// Host-name filter (`--host`), by the machine-identity rule of [`crate::identity`]:
///
/// - without a wildcard, a name matches every host that is the same machine by name: equal
///   first DNS labels, case-insensitive with Unicode case folding, or a 15-character NetBIOS
///   truncation (`tky-lt-0042` finds `TKY-LT-0042.corp.example`, and the reverse);
/// - with `*` / `?`, a case-insensitive glob matched against the whole host name and against
///   its first DNS label (`'lab-0?'` finds `LAB-01.corp.example`).
#[derive(Debug, Clone)]
pub struct HostPattern {
    pattern: String,
    kind: PatternKind,
}

#[derive(Debug, Clone)]
enum PatternKind {
    /// The folded first label of a name without wildcards.
    Name(String),
    Glob(wildmatch::WildMatch),
}

impl HostPattern {
    pub fn new(pattern: &str) -> Self {
        let kind = if pattern.contains(['*', '?']) {
            PatternKind::Glob(wildmatch::WildMatch::new_case_insensitive(pattern.trim()))
        } else {
            PatternKind::Name(crate::identity::short_name(pattern))
        };
        Self {
            pattern: pattern.to_string(),
            kind,
        }
    }

    pub fn matches(&self, hostname: &str) -> bool {
        match &self.kind {
            PatternKind::Name(short) => {
                crate::identity::short_names_match(short, &crate::identity::short_name(hostname))
                    .is_some()
            }
            PatternKind::Glob(glob) => {
                let name = hostname.trim();
                glob.matches(name) || glob.matches(&crate::identity::short_name(name))
            }
        }
    }

    /// Whether the pattern is a glob (`*` / `?`) rather than one machine's name.
    pub fn has_wildcard(&self) -> bool {
        matches!(self.kind, PatternKind::Glob(_))
    }

    /// Always `None`: under the machine-identity rule no single exact name is a server-side
    /// filter that returns every host the pattern matches (a short name also finds FQDN
    /// registrations). Kept so providers can ask; use [`HostPattern::literal_prefix`] or
    /// [`HostPattern::hint_text`] for a server-side narrowing hint.
    pub fn exact(&self) -> Option<&str> {
        None
    }

    /// Text every matching host name starts with, compared case-insensitively (a server-side
    /// prefix / substring hint): for a glob, the literal text before the first wildcard; for a
    /// name, its first label cut to the 15 characters a NetBIOS truncation keeps.
    pub fn literal_prefix(&self) -> &str {
        match &self.kind {
            PatternKind::Name(short) => {
                crate::identity::netbios_prefix(short).unwrap_or(short.as_str())
            }
            PatternKind::Glob(_) => {
                let end = self.pattern.find(['*', '?']).unwrap_or(self.pattern.len());
                &self.pattern[..end]
            }
        }
    }

    /// The text a server-side substring hint may be taken from: every matching host name
    /// contains, case-insensitively, each literal run of it. For a glob the pattern itself;
    /// for a name, [`HostPattern::literal_prefix`].
    pub fn hint_text(&self) -> &str {
        match &self.kind {
            PatternKind::Name(_) => self.literal_prefix(),
            PatternKind::Glob(_) => &self.pattern,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.pattern
    }
}

/// What to list. Providers may use these as server-side hints to fetch less, but the caller
/// always applies the same filters on the client, so a hint never changes the result.
#[derive(Debug, Clone)]
pub struct ListQuery {
    pub host: Option<HostPattern>,
    /// Only agents last seen before this instant are wanted (stale detection).
    pub last_seen_before: Option<Timestamp>,
    /// Agents without a last-seen time are wanted too (with `last_seen_before`).
    pub include_unknown: bool,
    /// Keep each agent's vendor JSON in [`AgentRecord::raw`] (JSON output shows it). When
    /// false, providers leave `raw` as `null` and skip building it: a CSV or table listing
    /// of a large fleet then neither copies nor keeps the vendor objects. Default: true.
    pub keep_raw: bool,
    /// Fill in the identity hints ([`AgentRecord::mac_addresses`], `serial_number`) that
    /// matching one machine across consoles needs. A listing whose rows never show them (a
    /// single provider's `list` or `stale`) turns this off, and a provider may then leave them
    /// empty rather than read and normalise them. Default: true.
    pub identity_hints: bool,
}

impl ListQuery {
    /// Whether this query wants an agent last seen at `last_seen`: every agent without
    /// [`ListQuery::last_seen_before`]; with it, those seen before that instant, and those
    /// with no last-seen time when [`ListQuery::include_unknown`]. A provider whose API
    /// cannot filter by last-seen time may drop the others before it builds their records;
    /// the caller filters the records it gets the same way either way.
    pub fn wants_last_seen(&self, last_seen: Option<Timestamp>) -> bool {
        self.last_seen_before.is_none_or(|before| {
            crate::time::is_stale(last_seen, before)
                || (self.include_unknown && last_seen.is_none())
        })
    }
}

impl Default for ListQuery {
    fn default() -> Self {
        Self {
            host: None,
            last_seen_before: None,
            include_unknown: false,
            keep_raw: true,
            identity_hints: true,
        }
    }
}

/// What a listing pass counted, filled in by the provider as it pages: the total the
/// vendor's own answer reports for the query (where its API reports one) and the number of
/// records the vendor actually returned, before any client-side filtering. A caller that is
/// about to write a plan compares the two: a listing whose rows fall short of (or exceed) the
/// vendor's own total was cut short or shifted under its feet, and is not a plan.
///
/// Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct ListTally(std::sync::Arc<TallyCounts>);

#[derive(Debug, Default)]
struct TallyCounts {
    reported: std::sync::atomic::AtomicU64,
    has_reported: std::sync::atomic::AtomicBool,
    received: std::sync::atomic::AtomicU64,
}

impl ListTally {
    /// The vendor reported `total` records for this listing (the first report wins: later
    /// pages of a fleet that changes meanwhile do not move the yardstick).
    pub fn report_total(&self, total: u64) {
        use std::sync::atomic::Ordering;
        if !self.0.has_reported.swap(true, Ordering::AcqRel) {
            self.0.reported.store(total, Ordering::Release);
        }
    }

    /// The vendor returned `n` more records.
    pub fn add_received(&self, n: u64) {
        self.0
            .received
            .fetch_add(n, std::sync::atomic::Ordering::AcqRel);
    }

    /// The total the vendor reported, when it reported one.
    pub fn reported(&self) -> Option<u64> {
        use std::sync::atomic::Ordering;
        self.0
            .has_reported
            .load(Ordering::Acquire)
            .then(|| self.0.reported.load(Ordering::Acquire))
    }

    /// Records the vendor returned.
    pub fn received(&self) -> u64 {
        self.0.received.load(std::sync::atomic::Ordering::Acquire)
    }

    /// `Some((reported, received))` when the vendor reported a total the rows disagree with.
    pub fn disagreement(&self) -> Option<(u64, u64)> {
        let received = self.received();
        self.reported()
            .filter(|t| *t != received)
            .map(|t| (t, received))
    }
}

/// Where `relocate` moves agents (resolved by [`Provider::prepare`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelocateTarget {
    /// Server (or group) as the user gave it: an id or a name.
    pub to: String,
    /// The vendor id it resolved to.
    pub resolved_id: Option<String>,
    pub folder: Option<String>,
    pub allow_multiple: bool,
}

/// A change applied to one agent at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// Ask the agent to uninstall itself (it acts at its next check-in).
    Uninstall,
    /// Delete the agent's registration from the console.
    Remove,
    /// Bring back a removed registration (vendors with soft delete).
    Restore,
    Relocate(RelocateTarget),
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Uninstall => "uninstall",
            Action::Remove => "remove",
            Action::Restore => "restore",
            Action::Relocate(_) => "relocate",
        }
    }

    pub fn operation(&self) -> Operation {
        match self {
            Action::Uninstall => Operation::Uninstall,
            Action::Remove => Operation::Remove,
            Action::Restore => Operation::Restore,
            Action::Relocate(_) => Operation::Relocate,
        }
    }
}

/// The result of one change request the vendor accepted or declined without error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    /// The vendor accepted the request. `request_id` identifies it for the vendor's support
    /// and audit trail (a vendor request id header, or an id agentctl sent with the request)
    /// and is recorded in the journal.
    Requested {
        detail: String,
        request_id: Option<String>,
    },
    /// Nothing was done for a reason that is not a failure (e.g. the agent is already gone).
    Skipped { why: String, detail: String },
}

/// What the re-check found just before acting.
#[derive(Debug, Clone, PartialEq)]
pub enum Recheck {
    Gone,
    Present(Box<AgentRecord>),
}

/// One row of an extra listing (`se orgs`, `apex servers`, `sa tunnels`).
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub columns: Vec<&'static str>,
    /// One JSON object per row, with at least the keys in `columns`, plus `raw`.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// One line of `doctor`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub latency_ms: Option<u64>,
}

impl Check {
    /// A check whose outcome is `result` (`Ok(detail)` passes, `Err(detail)` fails), with the
    /// latency measured from `started`.
    pub fn from_result(
        name: impl Into<String>,
        result: std::result::Result<String, String>,
        started: std::time::Instant,
    ) -> Self {
        let latency_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
        let (ok, detail) = match result {
            Ok(detail) => (true, detail),
            Err(detail) => (false, detail),
        };
        Check {
            name: name.into(),
            ok,
            detail,
            latency_ms,
        }
    }

    /// Run `work` and time it (see [`Check::from_result`]).
    pub async fn timed(
        name: impl Into<String>,
        work: impl std::future::Future<Output = std::result::Result<String, String>>,
    ) -> Self {
        let started = std::time::Instant::now();
        let result = work.await;
        Self::from_result(name, result, started)
    }
}

/// An API client credential (`clients` command).
#[derive(Debug, Clone, Serialize)]
pub struct ApiClient {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub raw: serde_json::Value,
}

/// A client together with its secret, returned once by create and rotate.
///
/// Once the vendor has issued a secret it must reach the user even when the rest of the
/// answer is not what the vendor documents: then `client` holds only what could be read
/// (empty strings, `None`, no roles for the rest) and `problem` says what could not be read.
/// The caller delivers the secret and then reports `problem` as a failure.
#[derive(Debug)]
pub struct NewClientSecret {
    pub client: ApiClient,
    pub client_secret: SecretString,
    /// What could not be read from the vendor's answer (never contains the secret).
    pub problem: Option<String>,
}

impl ApiClient {
    /// A client of which only `id` (possibly empty) is known, with `raw` as received.
    pub fn partial(id: impl Into<String>, raw: serde_json::Value) -> Self {
        Self {
            id: id.into(),
            client_id: String::new(),
            name: String::new(),
            created_at: None,
            updated_at: None,
            roles: Vec::new(),
            raw,
        }
    }
}

/// The string fields named one of `names` anywhere in `value` (objects and arrays, a few
/// levels deep), with their JSON paths: where an issued secret is in an answer whose envelope
/// is not the documented one.
pub fn find_string_fields<'a>(
    value: &'a serde_json::Value,
    names: &[&str],
) -> Vec<(String, &'a str)> {
    fn walk<'a>(
        v: &'a serde_json::Value,
        names: &[&str],
        path: String,
        depth: usize,
        out: &mut Vec<(String, &'a str)>,
    ) {
        if depth > 8 {
            return;
        }
        match v {
            serde_json::Value::Object(map) => {
                for (k, child) in map {
                    let here = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    match child {
                        serde_json::Value::String(s) if names.contains(&k.as_str()) => {
                            out.push((here, s.as_str()))
                        }
                        _ => walk(child, names, here, depth + 1, out),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, names, format!("{path}[{i}]"), depth + 1, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, names, String::new(), 0, &mut out);
    out
}

/// Remove every field named one of `names` from `value`, at any depth (so a secret is never
/// kept in a raw record).
pub fn strip_fields(value: &mut serde_json::Value, names: &[&str]) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|k, _| !names.contains(&k.as_str()));
            for child in map.values_mut() {
                strip_fields(child, names);
            }
        }
        serde_json::Value::Array(items) => {
            for child in items {
                strip_fields(child, names);
            }
        }
        _ => {}
    }
}

/// What `clients create` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    pub name: String,
    pub roles: Vec<String>,
    pub expire_at: Option<Timestamp>,
}

/// The contract every vendor kind implements. Methods a kind does not support keep the
/// default implementation, which answers [`NotSupported`].
#[async_trait]
pub trait Provider: Send + Sync {
    /// Configured name (`[providers.<name>]`).
    fn name(&self) -> &str;

    /// Provider kind (`secure-endpoint`, …).
    fn kind(&self) -> &'static str;

    /// `Ok` when this provider can do `op`, else the reason it cannot.
    fn supports(&self, op: Operation) -> Result<(), NotSupported>;

    /// Extra listings this kind offers (`orgs`, `servers`, `tunnels`).
    fn listings(&self) -> &'static [&'static str] {
        &[]
    }

    /// Every agent matching the hints in `query`, page by page.
    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Result<AgentRecord>>;

    /// [`Provider::list`], counting into `tally` what the vendor reported and returned. Kinds
    /// whose API reports a total override this; the default lists without counting, so the
    /// tally stays empty and nothing is compared.
    fn list_tallied<'a>(
        &'a self,
        query: &'a ListQuery,
        _tally: ListTally,
    ) -> BoxStream<'a, Result<AgentRecord>> {
        self.list(query)
    }

    /// Is `id` well-formed for this kind? Used to validate a whole plan before sending anything.
    fn validate_agent_id(&self, id: &str) -> Result<(), String>;

    /// Fetch one agent again just before acting on it.
    async fn recheck(&self, agent_id: &str) -> Result<Recheck>;

    /// Everything a bulk action needs before the first change (tokens, org ids, resolving a
    /// server name); may rewrite the action with resolved ids. Sends no changing request.
    async fn prepare(&self, action: &Action) -> Result<Action> {
        self.supports(action.operation())?;
        Ok(action.clone())
    }

    /// The action this provider really performs when asked for `action`. A kind whose vendor
    /// has no such call but documents another one as its equivalent answers that one (e.g. a
    /// console with no uninstall API whose only clean-up is deleting the record); the caller
    /// then says so to the user, journals the effective action and prompts for it. Default:
    /// `action` itself.
    fn effective_action(&self, action: &Action) -> Action {
        action.clone()
    }

    /// The HTTP call `action` would make for `agent` (shown by `--dry-run`).
    fn describe(&self, action: &Action, agent: &AgentRef) -> String;

    /// Apply `action` to one agent.
    async fn act(&self, action: &Action, agent: &AgentRef) -> Result<ActionOutcome>;

    /// How many agents one [`Provider::act_batch`] call should carry for `action`. 1 (the
    /// default) means the vendor changes one agent per request and the caller uses
    /// [`Provider::act`]; a vendor with a bulk job API (one request for many agents) answers
    /// its batch size, and the caller hands it that many agents at a time. Either way every
    /// agent goes through the same safety flow and gets its own journal line.
    fn batch_size(&self, _action: &Action) -> usize {
        1
    }

    /// Apply `action` to several agents at once; one result per agent, in the order given.
    /// The default applies them one after another with [`Provider::act`].
    async fn act_batch(&self, action: &Action, agents: &[AgentRef]) -> Vec<Result<ActionOutcome>> {
        let mut out = Vec::with_capacity(agents.len());
        for agent in agents {
            out.push(self.act(action, agent).await);
        }
        out
    }

    /// Re-check several agents with fewer requests than one per agent (e.g. one filtered
    /// listing), where that is cheaper for this vendor. `Ok(None)` means "no cheaper way":
    /// the caller re-checks each agent with [`Provider::recheck`]. `Ok(Some(map))` answers
    /// every given agent id (absent from the map = gone).
    async fn recheck_bulk(
        &self,
        _agents: &[AgentRef],
    ) -> Result<Option<std::collections::HashMap<String, Recheck>>> {
        Ok(None)
    }

    /// [`Provider::recheck_bulk`] answered agent by agent, as soon as each answer is known, so
    /// the caller can act on the first agents while the listing behind the re-check is still
    /// being read. `found` gets each agent id at most once (later sightings of the same id are
    /// not reported). `Ok(false)`: no cheaper way, nothing was reported, re-check each agent.
    /// `Ok(true)`: every given agent not reported is gone. An `Err` after some answers leaves
    /// those answers standing; the rest are unknown.
    ///
    /// The default reports [`Provider::recheck_bulk`]'s map when it is complete; a vendor
    /// whose cheaper way is a paged listing overrides this to report page by page.
    async fn recheck_bulk_each(
        &self,
        agents: &[AgentRef],
        found: &mut (dyn FnMut(String, Recheck) + Send),
    ) -> Result<bool> {
        match self.recheck_bulk(agents).await? {
            None => Ok(false),
            Some(map) => {
                for (id, answer) in map {
                    found(id, answer);
                }
                Ok(true)
            }
        }
    }

    /// An extra listing by name (see [`Provider::listings`]).
    async fn listing(&self, name: &str) -> Result<Listing> {
        Err(self.not_supported_listing(name))
    }

    /// Config, credentials and one cheap read call per API the provider uses.
    async fn doctor(&self) -> Vec<Check>;

    async fn list_clients(&self) -> Result<Vec<ApiClient>> {
        Err(self.not_supported(Operation::Clients))
    }

    async fn get_client(&self, _id: &str) -> Result<ApiClient> {
        Err(self.not_supported(Operation::Clients))
    }

    async fn create_client(&self, _new: &NewClient) -> Result<NewClientSecret> {
        Err(self.not_supported(Operation::Clients))
    }

    async fn rotate_client(&self, _id: &str) -> Result<NewClientSecret> {
        Err(self.not_supported(Operation::Clients))
    }

    async fn delete_client(&self, _id: &str) -> Result<()> {
        Err(self.not_supported(Operation::Clients))
    }

    /// Client ids of the credentials this provider itself is configured with (e.g. the API
    /// key it authenticates as). `clients delete-all` skips them and `clients delete` refuses
    /// them unless forced, so agentctl never deletes the credential it is using. Matched
    /// against both [`ApiClient::client_id`] and [`ApiClient::id`].
    fn own_client_ids(&self) -> Vec<String> {
        Vec::new()
    }

    /// Helper for default implementations.
    fn not_supported(&self, op: Operation) -> ProviderError {
        match self.supports(op) {
            Err(ns) => ns.into(),
            Ok(()) => ProviderError::protocol(format!(
                "{}: {} is declared supported but not implemented",
                self.name(),
                op.name()
            )),
        }
    }

    fn not_supported_listing(&self, name: &str) -> ProviderError {
        NotSupported {
            provider: self.name().to_string(),
            operation: name.to_string(),
            reason: format!("{} has no '{name}' listing", self.kind()),
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_compares_the_first_reported_total_with_the_records_received() {
        let tally = ListTally::default();
        assert_eq!(
            tally.disagreement(),
            None,
            "nothing reported: nothing compared"
        );
        let shared = tally.clone();
        shared.report_total(1200);
        shared.report_total(1201); // a later page of a fleet that grew meanwhile
        tally.add_received(500);
        tally.add_received(699);
        assert_eq!(tally.reported(), Some(1200));
        assert_eq!(tally.disagreement(), Some((1200, 1199)));
        tally.add_received(1);
        assert_eq!(tally.disagreement(), None);
        let unreported = ListTally::default();
        unreported.add_received(7);
        assert_eq!(
            (unreported.reported(), unreported.disagreement()),
            (None, None)
        );
    }

    #[tokio::test]
    async fn a_timed_check_passes_on_ok_fails_on_err_and_measures() {
        let ok = Check::timed("read", async { Ok("12 agents".to_string()) }).await;
        assert!(ok.ok);
        assert_eq!(
            (ok.name.as_str(), ok.detail.as_str()),
            ("read", "12 agents")
        );
        assert!(ok.latency_ms.is_some());
        let bad = Check::timed("token", async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            Err("refused".to_string())
        })
        .await;
        assert!(!bad.ok);
        assert_eq!(bad.detail, "refused");
        assert!(bad.latency_ms.unwrap() >= 5);
    }

    #[test]
    fn string_fields_are_found_at_any_depth_and_stripped() {
        let mut v = serde_json::json!({
            "data": {"key": {"id": "1", "clientSecret": "s1"}},
            "list": [{"client_secret": "s2"}, {"clientSecret": 3}],
            "message": "success"
        });
        let found = find_string_fields(&v, &["clientSecret", "client_secret"]);
        assert_eq!(
            found,
            vec![
                ("data.key.clientSecret".to_string(), "s1"),
                ("list[0].client_secret".to_string(), "s2"),
            ]
        );
        strip_fields(&mut v, &["clientSecret", "client_secret"]);
        assert!(find_string_fields(&v, &["clientSecret", "client_secret"]).is_empty());
        assert_eq!(v["data"]["key"]["id"], "1");
        assert!(!v.to_string().contains("s1"));
    }
}
