//! The Apex Central provider: agents and servers from the Automation API, uninstall and
//! relocate as agent actions, every request signed by [`ApexAuth`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agentctl_core::http::{HttpClient, HttpOptions, HttpResponse};
use agentctl_core::provider::{Check, Listing};
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ErrorKind, ListQuery, NotSupported, Operation,
    Provider, ProviderError, Recheck, RelocateTarget, Result,
};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::sync::OnceCell;
use url::Url;

use crate::auth::ApexAuth;
use crate::config::Config;
use crate::error::success;
use crate::model::{
    ACT_RELOCATE, ACT_UNINSTALL, AGENTS_PATH, Agent, SERVERS_PATH, Server, read_agents, split_list,
};
use crate::unconfirmed;

pub const KIND: &str = "apex-central";

/// Why `stale` cannot be served (SPEC's one clear line).
pub const STALE_REASON: &str =
    "Apex Central reports no last-seen time, so stale detection is not possible";

/// Content type of request bodies, as the vendor's samples send it.
const JSON_UTF8: &str = "application/json;charset=utf-8";

/// Is `id` an Apex Central `entity_id`: five hyphen-separated groups of hex digits, 32 digits
/// in all (e.g. `8a1a84550462-40bc9afc-3770-16ac-cd6c`, or a GUID)?
pub fn is_entity_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit()))
        && parts.iter().map(|p| p.len()).sum::<usize>() == unconfirmed::ENTITY_ID_HEX_DIGITS
}

/// Internal (private, loopback, link-local, unique-local) addresses first, then the rest, each
/// group in the vendor's order.
fn order_ips(ips: Vec<String>) -> Vec<String> {
    let internal = |s: &String| match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    };
    let (mut first, rest): (Vec<String>, Vec<String>) = ips.into_iter().partition(internal);
    first.extend(rest);
    first
}

/// A server as listed, with its raw JSON.
#[derive(Debug, Clone)]
struct ServerEntry {
    server: Server,
    raw: Value,
}

impl ServerEntry {
    fn label(&self) -> String {
        format!(
            "{} ({})",
            self.server.entity_id,
            self.server.host_name.as_deref().unwrap_or("no host name")
        )
    }
}

/// Records a streamed listing hands on ahead of its reader (see [`ApexCentral::stream_agents`]).
const RECORDS_IN_FLIGHT: usize = 1024;

/// The capabilities of listed agents that lack an action `act` checks (uninstall,
/// relocate), by lower-case entity_id, with the host name for the message: `act` refuses
/// them before sending anything. Agents that offer both are not kept (nothing to refuse),
/// so a large listing costs nothing here.
#[derive(Default)]
struct Seen(Mutex<HashMap<String, (String, Vec<String>)>>);

impl Seen {
    fn note(&self, a: &Agent, hostname: &str) {
        let key = a.entity_id.to_lowercase();
        let complete = [ACT_UNINSTALL, ACT_RELOCATE]
            .iter()
            .all(|needed| a.capabilities.iter().any(|c| c == needed));
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if complete {
            seen.remove(&key);
        } else {
            seen.insert(key, (hostname.to_string(), a.capabilities.clone()));
        }
    }

    fn gap(&self, entity_id: &str, needed: &str) -> Option<String> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (host, caps) = seen.get(&entity_id.to_lowercase())?;
        (!caps.iter().any(|c| c == needed)).then(|| {
            let host = if host.is_empty() { entity_id } else { host };
            format!(
                "{host} ({entity_id}) does not offer {needed} (its capabilities: {})",
                if caps.is_empty() {
                    "none".to_string()
                } else {
                    caps.join(", ")
                }
            )
        })
    }
}

/// One agent as SPEC's record (`raw`: the vendor JSON, or `null`), its capabilities noted in
/// `seen`.
fn agent_record(
    name: &str,
    a: Agent,
    raw: Value,
    servers: &[ServerEntry],
    seen: &Seen,
) -> Result<AgentRecord> {
    if a.entity_id.is_empty() {
        return Err(ProviderError::protocol("agent object without entity_id").with_provider(name));
    }
    let hostname = a.host_name.clone().unwrap_or_default();
    seen.note(&a, &hostname);
    let server = a
        .managing_server_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|id| {
            servers
                .iter()
                .find(|s| s.server.entity_id.eq_ignore_ascii_case(id))
                .and_then(|s| s.server.host_name.clone())
                .unwrap_or_else(|| id.to_string())
        });
    let folder = a.folder_path.as_deref().filter(|f| !f.is_empty());
    let group = match (server, folder) {
        (Some(s), Some(f)) => Some(format!("{s}: {f}")),
        (Some(s), None) => Some(s),
        (None, Some(f)) => Some(f.to_string()),
        (None, None) => None,
    };
    Ok(AgentRecord {
        provider: name.to_string(),
        kind: KIND.to_string(),
        agent_id: a.entity_id,
        hostname,
        last_seen: None,
        // ProductAgents reports neither the OS nor the agent version.
        os: None,
        agent_version: None,
        ip_addresses: order_ips(split_list(a.ip_address_list.as_deref())),
        group,
        mac_addresses: split_list(a.mac_address_list.as_deref())
            .iter()
            .filter_map(|m| agentctl_core::identity::normalize_mac(m))
            .fold(Vec::new(), |mut acc, m| {
                if !acc.contains(&m) {
                    acc.push(m);
                }
                acc
            }),
        serial_number: None,
        pending_uninstall: false,
        raw,
    })
}

pub struct ApexCentral {
    name: String,
    http: HttpClient,
    base: Url,
    auth: ApexAuth,
    /// ProductServers, fetched once per run.
    servers: OnceCell<Vec<ServerEntry>>,
    /// Capabilities of agents seen by list / re-check that lack an action (see [`Seen`]).
    seen: Arc<Seen>,
}

impl ApexCentral {
    pub fn new(name: &str, config: &Config, opts: HttpOptions) -> Result<Self> {
        let resolved = config.resolve().map_err(|e| e.with_provider(name))?;
        let http = HttpClient::new(opts).map_err(|e| e.with_provider(name))?;
        Ok(Self {
            name: name.to_string(),
            http,
            auth: ApexAuth::new(&resolved.application_id, &resolved.api_key),
            base: resolved.url,
            servers: OnceCell::new(),
            seen: Arc::default(),
        })
    }

    fn err(&self, e: ProviderError) -> ProviderError {
        e.with_provider(&self.name)
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        url.set_path(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<HttpResponse> {
        let url = self.url(path, query);
        self.http
            .send(&self.auth, |c| {
                c.get(url.clone())
                    .header(http::header::ACCEPT, "application/json")
            })
            .await
            .map_err(|e| self.err(e))
    }

    async fn post_agents(&self, body: &str) -> Result<HttpResponse> {
        let url = self.url(AGENTS_PATH, &[]);
        let body = bytes::Bytes::from(body.to_string());
        self.http
            .send(&self.auth, |c| {
                c.post(url.clone())
                    .header(http::header::ACCEPT, "application/json")
                    .header(http::header::CONTENT_TYPE, JSON_UTF8)
                    .body(body.clone())
            })
            .await
            .map_err(|e| self.err(e))
    }

    fn items(&self, what: &str, content: Value) -> Result<Vec<Value>> {
        match content {
            Value::Array(items) => Ok(items),
            // An empty list is sometimes rendered as "" or null by envelope-style APIs.
            Value::Null => Ok(Vec::new()),
            Value::String(s) if s.is_empty() => Ok(Vec::new()),
            other => Err(self.err(ProviderError::protocol(format!(
                "{what}: result_content is not a list: {}",
                truncate(&other.to_string())
            )))),
        }
    }

    async fn fetch_servers(&self) -> Result<Vec<ServerEntry>> {
        let resp = self.get(SERVERS_PATH, &[]).await?;
        let content = success("list servers", &resp).map_err(|e| self.err(e))?;
        self.items("list servers", content)?
            .into_iter()
            .map(|raw| {
                let server: Server = serde_json::from_value(raw.clone()).map_err(|e| {
                    self.err(ProviderError::protocol(format!(
                        "unexpected server object: {e}"
                    )))
                })?;
                Ok(ServerEntry { server, raw })
            })
            .collect()
    }

    async fn servers(&self) -> Result<&[ServerEntry]> {
        self.servers
            .get_or_try_init(|| self.fetch_servers())
            .await
            .map(Vec::as_slice)
    }

    async fn fetch_agents(&self, query: &[(&str, &str)]) -> Result<Vec<Value>> {
        let resp = self.get(AGENTS_PATH, query).await?;
        let content = success("list agents", &resp).map_err(|e| self.err(e))?;
        self.items("list agents", content)
    }

    /// How many agents the list holds (`doctor`): counted agent by agent on a blocking
    /// thread, nothing kept; an answer that is not a plain success of the documented shape is
    /// read generically, for its precise error.
    async fn count_agents(&self) -> Result<usize> {
        let resp = self.get(AGENTS_PATH, &[]).await?;
        if resp.is_success() {
            let body = resp.body.clone();
            let counted = tokio::task::spawn_blocking(move || {
                let mut n = 0usize;
                read_agents(&body, |_| {
                    n += 1;
                    Ok(())
                })
                .map(|code| (code, n))
            })
            .await;
            if let Ok(Ok((1, n))) = counted {
                return Ok(n);
            }
        }
        let content = success("list agents", &resp).map_err(|e| self.err(e))?;
        Ok(self.items("list agents", content)?.len())
    }

    fn record(&self, raw: Value, servers: &[ServerEntry]) -> Result<AgentRecord> {
        let a = self.agent(&raw)?;
        self.typed_record(a, raw, servers)
    }

    /// One agent object of a generic (JSON tree) reading.
    fn agent(&self, raw: &Value) -> Result<Agent> {
        Agent::deserialize(raw).map_err(|e| {
            self.err(ProviderError::protocol(format!(
                "unexpected agent object: {e}"
            )))
        })
    }

    fn typed_record(&self, a: Agent, raw: Value, servers: &[ServerEntry]) -> Result<AgentRecord> {
        agent_record(&self.name, a, raw, servers, &self.seen)
    }

    /// Servers for grouping; a failure only loses the host names (ids are shown instead).
    async fn servers_for_group(&self) -> Vec<ServerEntry> {
        match self.servers().await {
            Ok(s) => s.to_vec(),
            Err(e) => {
                tracing::warn!(provider = %self.name, "cannot list servers ({}); group shows managing_server_id", e.reason());
                Vec::new()
            }
        }
    }

    /// The agent list. Without the vendor JSON (`keep_raw` off), a successful answer is
    /// first checked whole (agent by agent, nothing kept), then read again agent by agent on
    /// a blocking thread, each record handed on as soon as it is read: the unpaginated list
    /// never exists as a JSON tree, a `Vec` of agents or a `Vec` of records, only the answer's
    /// bytes and the records the reader has not taken yet. An answer that is not a plain
    /// success of the documented shape (and every answer with `keep_raw`) is read generically,
    /// which says precisely what is wrong with it.
    async fn list_stream<'a>(
        &'a self,
        query: &'a ListQuery,
    ) -> Result<BoxStream<'a, Result<AgentRecord>>> {
        let exact = query.host.as_ref().and_then(|h| h.exact());
        let selector: Vec<(&str, &str)> = match exact {
            Some(host) if unconfirmed::SEND_HOST_NAME_SELECTOR => vec![("host_name", host)],
            _ => Vec::new(),
        };
        let resp = self.get(AGENTS_PATH, &selector).await?;
        if !query.keep_raw && resp.is_success() {
            let body = resp.body.clone();
            let checked = tokio::task::spawn_blocking(move || {
                read_agents(&body, |a| {
                    if a.entity_id.is_empty() {
                        Err("agent object without entity_id".into())
                    } else {
                        Ok(())
                    }
                })
            })
            .await;
            if matches!(checked, Ok(Ok(1))) {
                let servers = self.servers_for_group().await;
                return Ok(self.stream_agents(resp, servers, query.host.clone()));
            }
        }
        let content = success("list agents", &resp).map_err(|e| self.err(e))?;
        drop(resp);
        let mut items = Vec::new();
        for raw in self.items("list agents", content)? {
            let a = self.agent(&raw)?;
            let raw = if query.keep_raw { raw } else { Value::Null };
            items.push((a, raw));
        }
        let servers = self.servers_for_group().await;
        let mut out = Vec::with_capacity(items.len());
        for (a, raw) in items {
            let record = self.typed_record(a, raw, &servers)?;
            if query
                .host
                .as_ref()
                .is_none_or(|h| h.matches(&record.hostname))
            {
                out.push(Ok(record));
            }
        }
        Ok(futures::stream::iter(out).boxed())
    }

    /// Read a checked successful answer agent by agent on a blocking thread, handing each
    /// record (that `host` matches) on through a bounded channel; the answer's bytes are
    /// released when the last agent is read.
    fn stream_agents(
        &self,
        resp: HttpResponse,
        servers: Vec<ServerEntry>,
        host: Option<agentctl_core::HostPattern>,
    ) -> BoxStream<'static, Result<AgentRecord>> {
        let (tx, rx) = tokio::sync::mpsc::channel(RECORDS_IN_FLIGHT);
        let name = self.name.clone();
        let seen = self.seen.clone();
        let reader = tokio::task::spawn_blocking(move || {
            let body = resp.body;
            let mut failed: Option<ProviderError> = None;
            let read = read_agents(&body, |a| {
                let record = agent_record(&name, a, Value::Null, &servers, &seen).map_err(|e| {
                    let reason = e.reason();
                    failed = Some(e);
                    reason
                })?;
                if host.as_ref().is_none_or(|h| h.matches(&record.hostname)) {
                    tx.blocking_send(Ok(record))
                        .map_err(|_| "the listing is no longer read".to_string())?;
                }
                Ok(())
            });
            drop(body);
            if let Err(e) = read
                && !tx.is_closed()
            {
                let err = failed.unwrap_or_else(|| {
                    ProviderError::protocol(format!("list agents: unexpected answer: {e}"))
                        .with_provider(&name)
                });
                let _ = tx.blocking_send(Err(err));
            }
        });
        let provider = self.name.clone();
        futures::stream::unfold(
            (rx, Some(reader), provider),
            |(mut rx, reader, provider)| async move {
                if let Some(item) = rx.recv().await {
                    return Some((item, (rx, reader, provider)));
                }
                // Every record is in: a reader that did not finish must not look like the
                // end of the list.
                match reader?.await {
                    Ok(()) => None,
                    Err(e) => Some((
                        Err(ProviderError::protocol(format!(
                            "list agents: reading the answer failed: {e}"
                        ))
                        .with_provider(&provider)),
                        (rx, None, provider),
                    )),
                }
            },
        )
        .boxed()
    }

    /// Resolve `--to-server` (entity_id or host name, case-insensitive) via ProductServers.
    /// Unknown or ambiguous → an input error listing the candidates.
    pub async fn resolve_server(&self, to: &str) -> Result<Server> {
        let to = to.trim();
        let servers = self.servers().await?;
        if let Some(s) = servers
            .iter()
            .find(|s| s.server.entity_id.eq_ignore_ascii_case(to))
        {
            return Ok(s.server.clone());
        }
        let wanted = to.to_lowercase();
        let named: Vec<&ServerEntry> = servers
            .iter()
            .filter(|s| {
                s.server
                    .host_name
                    .as_deref()
                    .is_some_and(|h| h.to_lowercase() == wanted)
            })
            .collect();
        match named.as_slice() {
            [one] => Ok(one.server.clone()),
            [] => {
                let known: Vec<String> = servers.iter().map(ServerEntry::label).collect();
                Err(self.err(
                    ProviderError::input(format!(
                        "no server with entity_id or host name '{to}'; servers: {}",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ))
                    .with_hint("`agentctl apex servers` lists them"),
                ))
            }
            many => {
                let labels: Vec<String> = many.iter().map(|s| s.label()).collect();
                Err(self.err(
                    ProviderError::input(format!(
                        "server name '{to}' is ambiguous: {} servers have that host name: {}",
                        many.len(),
                        labels.join(", ")
                    ))
                    .with_hint("give --to-server the entity_id of the one you mean"),
                ))
            }
        }
    }

    /// The JSON body of `action` for one agent (compact; exactly these bytes are hashed and
    /// sent).
    pub fn action_body(&self, action: &Action, entity_id: &str) -> String {
        let mut body = Map::new();
        match action {
            Action::Uninstall => {
                body.insert("act".into(), json!(ACT_UNINSTALL));
                body.insert("allow_multiple_match".into(), json!(false));
                body.insert("entity_id".into(), json!(entity_id));
            }
            // Not supported (see `supports`): `prepare` and `act` refuse them before a body is
            // built, so only the dry-run description could get here.
            Action::Remove | Action::Restore => {
                body.insert("act".into(), json!(action.name()));
                body.insert("entity_id".into(), json!(entity_id));
            }
            Action::Relocate(t) => {
                body.insert("act".into(), json!(ACT_RELOCATE));
                body.insert("allow_multiple_match".into(), json!(t.allow_multiple));
                body.insert("entity_id".into(), json!(entity_id));
                body.insert(
                    "relocate_to_server_id".into(),
                    json!(t.resolved_id.as_deref().unwrap_or(&t.to)),
                );
                body.insert(
                    "relocate_to_folder_path".into(),
                    json!(t.folder.as_deref().unwrap_or_default()),
                );
            }
        }
        Value::Object(body).to_string()
    }

    async fn prepare_relocate(&self, t: &RelocateTarget) -> Result<RelocateTarget> {
        let folder = t.folder.as_deref().map(str::trim).filter(|f| !f.is_empty());
        if unconfirmed::RELOCATE_REQUIRES_FOLDER && folder.is_none() {
            return Err(self.err(
                ProviderError::input(
                    "relocate needs --folder: Apex Central requires the target folder (relocate_to_folder_path)",
                )
                .with_hint(r"e.g. --folder '\NewDomain\NewFolder'; for a folder move on the same server, give the current server as --to-server"),
            ));
        }
        let server = self.resolve_server(&t.to).await?;
        Ok(RelocateTarget {
            to: t.to.clone(),
            resolved_id: Some(server.entity_id),
            folder: folder.map(str::to_string),
            allow_multiple: t.allow_multiple,
        })
    }

    fn capability_gap(&self, entity_id: &str, needed: &str) -> Option<String> {
        self.seen.gap(entity_id, needed)
    }
}

fn truncate(s: &str) -> String {
    if s.chars().count() > 200 {
        format!("{}…", s.chars().take(200).collect::<String>())
    } else {
        s.to_string()
    }
}

fn verb(action: &Action) -> &'static str {
    match action {
        Action::Uninstall => "uninstallable",
        Action::Remove => "removable",
        Action::Restore => "restorable",
        Action::Relocate(_) => "relocatable",
    }
}

#[async_trait]
impl Provider for ApexCentral {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn supports(&self, op: Operation) -> Result<(), NotSupported> {
        let reason = match op {
            Operation::List | Operation::Uninstall | Operation::Relocate => return Ok(()),
            Operation::Stale => STALE_REASON,
            Operation::Remove => {
                "the Apex Central Automation API offers no call that deletes an agent's registration (ProductAgents actions are only cmd_uninstall_agent, cmd_relocate_agent, cmd_isolate_agent, cmd_restore_isolated_agent); use uninstall, or remove the agent in the Apex One console"
            }
            Operation::Restore => {
                "Apex Central cannot remove agents through its API, so there is nothing to restore"
            }
            Operation::Clients => {
                "the Apex Central Automation API has no API-client management (register applications under Administration > Settings > Automation API Access Settings)"
            }
        };
        Err(NotSupported {
            provider: self.name.clone(),
            operation: op.name().to_string(),
            reason: reason.to_string(),
        })
    }

    fn listings(&self) -> &'static [&'static str] {
        &["servers"]
    }

    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Result<AgentRecord>> {
        futures::stream::once(self.list_stream(query))
            .try_flatten()
            .boxed()
    }

    fn validate_agent_id(&self, id: &str) -> Result<(), String> {
        if is_entity_id(id) {
            Ok(())
        } else {
            Err(format!(
                "'{id}' is not an Apex Central entity_id (32 hex digits in five hyphen-separated groups)"
            ))
        }
    }

    async fn recheck(&self, agent_id: &str) -> Result<Recheck> {
        let mut raw = self.fetch_agents(&[("entity_id", agent_id)]).await?;
        raw.retain(|a| {
            a.get("entity_id")
                .and_then(Value::as_str)
                .is_some_and(|id| id.eq_ignore_ascii_case(agent_id))
        });
        match raw.len() {
            0 => Ok(Recheck::Gone),
            1 => {
                let servers = self.servers_for_group().await;
                let item = raw.pop().expect("one item");
                Ok(Recheck::Present(Box::new(self.record(item, &servers)?)))
            }
            n => Err(self.err(ProviderError::protocol(format!(
                "{n} agents share entity_id {agent_id}"
            )))),
        }
    }

    /// Re-check every agent from one `ProductAgents` listing: the list is unpaginated, so
    /// one signed request answers any number of agents where the per-agent way costs one
    /// each. Declined for a single agent (the same one request).
    async fn recheck_bulk(&self, agents: &[AgentRef]) -> Result<Option<HashMap<String, Recheck>>> {
        // Lower-cased id -> the id as the plan spelled it (answers are keyed by the latter).
        let wanted: HashMap<String, &str> = agents
            .iter()
            .map(|a| (a.agent_id.to_lowercase(), a.agent_id.as_str()))
            .collect();
        if wanted.len() < 2 {
            return Ok(None);
        }
        let query = ListQuery {
            keep_raw: false,
            ..ListQuery::default()
        };
        let mut map = HashMap::with_capacity(wanted.len());
        let mut listing = self.list(&query);
        while let Some(record) = listing.next().await {
            let record = record?;
            if let Some(asked) = wanted.get(&record.agent_id.to_lowercase()) {
                map.insert(asked.to_string(), Recheck::Present(Box::new(record)));
            }
        }
        tracing::info!(
            provider = %self.name,
            "re-check of {} agents: one ProductAgents listing ({} present, {} gone) instead of one request per agent",
            wanted.len(),
            map.len(),
            wanted.len().saturating_sub(map.len())
        );
        Ok(Some(map))
    }

    async fn prepare(&self, action: &Action) -> Result<Action> {
        self.supports(action.operation())?;
        match action {
            Action::Relocate(t) => Ok(Action::Relocate(self.prepare_relocate(t).await?)),
            Action::Uninstall => {
                // One signed read now, so a wrong key, application ID or clock stops the run
                // before the first change.
                self.servers().await?;
                Ok(Action::Uninstall)
            }
            Action::Remove | Action::Restore => Err(self.not_supported(action.operation())),
        }
    }

    fn describe(&self, action: &Action, agent: &AgentRef) -> String {
        format!(
            "POST {} {}",
            self.url(AGENTS_PATH, &[]),
            self.action_body(action, &agent.agent_id)
        )
    }

    async fn act(&self, action: &Action, agent: &AgentRef) -> Result<ActionOutcome> {
        let id = agent.agent_id.as_str();
        if let Err(why) = self.validate_agent_id(id) {
            return Err(self.err(ProviderError::input(why)));
        }
        let (needed, what) = match action {
            Action::Uninstall => (ACT_UNINSTALL, "uninstall agent"),
            Action::Relocate(_) => (ACT_RELOCATE, "relocate agent"),
            Action::Remove | Action::Restore => {
                return Err(self.not_supported(action.operation()));
            }
        };
        if let Some(gap) = self.capability_gap(id, needed) {
            return Err(self.err(ProviderError::new(
                ErrorKind::Api,
                format!("not {} by the API: {gap}", verb(action)),
            )));
        }
        let action = match action {
            Action::Relocate(t) if t.resolved_id.is_none() || t.folder.is_none() => {
                Action::Relocate(self.prepare_relocate(t).await?)
            }
            other => other.clone(),
        };
        let body = self.action_body(&action, id);
        let resp = self.post_agents(&body).await?;
        let content = success(what, &resp).map_err(|e| self.err(e))?;
        let affected = self.items(what, content)?;
        let rid = resp.request_id_note();
        if affected.is_empty() && unconfirmed::EMPTY_RESULT_MEANS_NOT_APPLICABLE {
            // A retry after the agent already went (an uninstalled agent leaves the list):
            // nothing left to do, not a failure.
            if let Ok(Recheck::Gone) = self.recheck(id).await {
                return Ok(ActionOutcome::Skipped {
                    why: "gone".into(),
                    detail: format!(
                        "Apex Central affected no agent and {id} is no longer listed{rid}"
                    ),
                });
            }
            return Err(self.err(ProviderError::new(
                ErrorKind::Api,
                format!(
                    "not {} by the API: Apex Central accepted the request but affected no agent (result_code 1, empty result_content); the agent may lack {needed} or no longer be managed{rid}",
                    verb(&action)
                ),
            )));
        }
        let ids: Vec<&str> = affected
            .iter()
            .filter_map(|a| a.get("entity_id").and_then(Value::as_str))
            .collect();
        if !ids.iter().any(|a| a.eq_ignore_ascii_case(id)) {
            return Err(self.err(ProviderError::protocol(format!(
                "{what}: the response lists other agents ({}) than {id}",
                ids.join(", ")
            ))));
        }
        let detail = match &action {
            Action::Uninstall => format!("{ACT_UNINSTALL} accepted (result_code 1){rid}"),
            Action::Remove | Action::Restore => {
                format!("{} accepted (result_code 1){rid}", action.name())
            }
            Action::Relocate(t) => format!(
                "{ACT_RELOCATE} to server {} folder {} accepted for {} agent(s) (result_code 1){rid}",
                t.resolved_id.as_deref().unwrap_or(&t.to),
                t.folder.as_deref().unwrap_or_default(),
                affected.len()
            ),
        };
        Ok(ActionOutcome::Requested {
            detail,
            request_id: resp.request_id.clone(),
        })
    }

    async fn listing(&self, name: &str) -> Result<Listing> {
        if name != "servers" {
            return Err(self.not_supported_listing(name));
        }
        let rows = self
            .servers()
            .await?
            .iter()
            .map(|s| {
                let mut row = Map::new();
                row.insert("provider".into(), json!(self.name));
                row.insert("entity_id".into(), json!(s.server.entity_id));
                row.insert("host_name".into(), json!(s.server.host_name));
                row.insert("product".into(), json!(s.server.product));
                row.insert(
                    "ip_addresses".into(),
                    json!(split_list(s.server.ip_address_list.as_deref()).join(";")),
                );
                row.insert("ad_domain".into(), json!(s.server.ad_domain));
                row.insert("raw".into(), s.raw.clone());
                row
            })
            .collect();
        Ok(Listing {
            columns: vec![
                "provider",
                "entity_id",
                "host_name",
                "product",
                "ip_addresses",
                "ad_domain",
            ],
            rows,
        })
    }

    async fn doctor(&self) -> Vec<Check> {
        let mut checks = vec![Check {
            name: "config (url, application_id, api_key)".into(),
            ok: true,
            detail: format!(
                "{} as application {}; HS256 JWT with request checksum, fresh iat per request",
                self.base,
                self.auth.application_id()
            ),
            latency_ms: None,
        }];
        let started = Instant::now();
        let servers = match self.get(SERVERS_PATH, &[]).await {
            Ok(resp) => {
                if let Some(c) = clock_check(&resp) {
                    checks.push(c);
                }
                success("GET ProductServers", &resp)
                    .map_err(|e| {
                        e.reason() + &e.hint.map(|h| format!(" (hint: {h})")).unwrap_or_default()
                    })
                    .and_then(|c| self.items("GET ProductServers", c).map_err(|e| e.reason()))
                    .map(|s| format!("GET {SERVERS_PATH}: {} servers", s.len()))
            }
            Err(e) => Err(e.reason()),
        };
        let servers_ok = servers.is_ok();
        checks.push(Check::from_result(
            "signed read (servers)",
            servers,
            started,
        ));
        if !servers_ok {
            return checks;
        }
        let started = Instant::now();
        let agents = self
            .count_agents()
            .await
            .map(|n| format!("GET {AGENTS_PATH}: {n} agents"))
            .map_err(|e| e.reason());
        checks.push(Check::from_result("agents", agents, started));
        checks
    }
}

/// Compare the server's `Date` header with this machine's clock: the JWT `iat` must reach the
/// server within the application's communication time-out.
fn clock_check(resp: &HttpResponse) -> Option<Check> {
    let date = resp.headers.get(http::header::DATE)?.to_str().ok()?;
    let server = jiff::fmt::rfc2822::parse(date).ok()?.timestamp();
    let offset = jiff::Timestamp::now().as_second() - server.as_second();
    let ok = offset.unsigned_abs() <= CLOCK_WARNING.as_secs();
    Some(Check {
        name: "clock".into(),
        ok,
        detail: if ok {
            format!("within {}s of the server's clock", offset.abs())
        } else {
            format!(
                "this machine's clock is {}s {} the server's: tokens may be refused as expired (result_code -6); sync both with NTP",
                offset.abs(),
                if offset > 0 { "ahead of" } else { "behind" }
            )
        },
        latency_ms: None,
    })
}

/// The largest offset between this machine's clock and the server's `Date` header that
/// `doctor` accepts: a token must arrive within the communication time-out, so a clock that
/// is off by more eats most of a short time-out.
pub const CLOCK_WARNING: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entity_id_validation() {
        assert!(is_entity_id("8a1a84550462-40bc9afc-3770-16ac-cd6c"));
        assert!(is_entity_id("9CC16B53-7E2A-4B1C-9A43-0123456789AB"));
        assert!(!is_entity_id("8a1a84550462-40bc9afc-3770-16ac-cd6"));
        assert!(!is_entity_id("8a1a84550462-40bc9afc-3770-16ac-cd6cz"));
        assert!(!is_entity_id("8a1a8455046240bc9afc377016accd6c"));
        assert!(!is_entity_id("8a1a84550462--40bc9afc3770-16ac-cd6c"));
        assert!(!is_entity_id(""));
    }

    #[test]
    fn internal_addresses_come_first() {
        assert_eq!(
            order_ips(vec![
                "203.0.113.5".into(),
                "10.0.0.1".into(),
                "fe80::1".into(),
                "2001:db8::1".into(),
                "192.168.1.2".into(),
            ]),
            [
                "10.0.0.1",
                "fe80::1",
                "192.168.1.2",
                "203.0.113.5",
                "2001:db8::1"
            ]
        );
    }

    fn provider() -> ApexCentral {
        let cfg: Config = toml::from_str(
            "url = \"https://apex.example\"\napplication_id = \"APP\"\napi_key = \"KEY\"",
        )
        .unwrap();
        ApexCentral::new("apex", &cfg, HttpOptions::new("apex")).unwrap()
    }

    #[test]
    fn bodies_and_describe() {
        let p = provider();
        let id = "8a1a84550462-40bc9afc-3770-16ac-cd6c";
        assert_eq!(
            p.action_body(&Action::Uninstall, id),
            format!(
                r#"{{"act":"cmd_uninstall_agent","allow_multiple_match":false,"entity_id":"{id}"}}"#
            )
        );
        let reloc = Action::Relocate(RelocateTarget {
            to: "ApexOne02".into(),
            resolved_id: Some("S-1".into()),
            folder: Some(r"\NewDomain\NewFolder".into()),
            allow_multiple: true,
        });
        assert_eq!(
            p.action_body(&reloc, id),
            format!(
                r#"{{"act":"cmd_relocate_agent","allow_multiple_match":true,"entity_id":"{id}","relocate_to_server_id":"S-1","relocate_to_folder_path":"\\NewDomain\\NewFolder"}}"#
            )
        );
        let agent = AgentRef {
            provider: "apex".into(),
            agent_id: id.into(),
            hostname: None,
            last_seen: None,
        };
        assert_eq!(
            p.describe(&Action::Uninstall, &agent),
            format!(
                r#"POST https://apex.example/WebApp/API/AgentResource/ProductAgents {{"act":"cmd_uninstall_agent","allow_multiple_match":false,"entity_id":"{id}"}}"#
            )
        );
    }

    #[test]
    fn stale_is_not_supported_with_the_documented_reason() {
        let p = provider();
        let ns = p.supports(Operation::Stale).unwrap_err();
        assert_eq!(ns.reason, STALE_REASON);
        assert_eq!(ns.to_string(), format!("apex: {STALE_REASON}"));
        assert!(p.supports(Operation::Relocate).is_ok());
        assert!(p.supports(Operation::Uninstall).is_ok());
        assert!(p.supports(Operation::Clients).is_err());
        assert_eq!(p.listings(), ["servers"]);
    }
}
