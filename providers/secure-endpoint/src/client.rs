//! The Secure Endpoint provider: v1 for listing and re-checks, v3 for uninstall requests.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use agentctl_core::auth::{Auth, BasicAuth};
use agentctl_core::http::{HttpClient, HttpOptions, HttpResponse};
use agentctl_core::provider::{Check, Listing};
use agentctl_core::time::parse_timestamp;
use agentctl_core::wire::{Each, Text};
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ListQuery, ListTally, NotSupported, Operation,
    Provider, ProviderError, Recheck, RelocateTarget, Result,
};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use url::Url;

use crate::config::{Config, V3Credentials};
use crate::error::api_error;
use crate::model::{Computer, DeleteAnswer, Group, V1Item, V1List, V1ListEach, V3Organizations};
use crate::unconfirmed;

pub const KIND: &str = "secure-endpoint";
/// Page size for `GET /v1/computers` (the documented maximum).
pub const PAGE_SIZE: u64 = 500;

pub struct SecureEndpoint {
    name: String,
    http: HttpClient,
    api: Url,
    v1: BasicAuth,
    v3: Option<Arc<dyn Auth>>,
    v3_kind: &'static str,
    configured_org: Option<String>,
    org: OnceCell<String>,
}

/// Is `id` a connector GUID (8-4-4-4-12 hex digits)?
pub fn is_connector_guid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl SecureEndpoint {
    pub fn new(name: &str, config: &Config, opts: HttpOptions) -> Result<Self> {
        let resolved = config.resolve().map_err(|e| e.with_provider(name))?;
        let http = HttpClient::new(opts).map_err(|e| e.with_provider(name))?;
        let (v3, v3_kind) = match &resolved.v3 {
            Some(creds @ V3Credentials::Xdr { .. }) => (
                Some(crate::auth::v3_auth(&http, &resolved.api_url, creds)),
                "XDR API client",
            ),
            Some(creds @ V3Credentials::Ready(_)) => (
                Some(crate::auth::v3_auth(&http, &resolved.api_url, creds)),
                "access_token",
            ),
            None => (None, "none"),
        };
        Ok(Self {
            name: name.to_string(),
            v1: BasicAuth::new(&resolved.client_id, &resolved.api_key),
            http,
            api: resolved.api_url,
            v3,
            v3_kind,
            configured_org: resolved.organization_id,
            org: OnceCell::new(),
        })
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.api.clone();
        url.set_path(path);
        url
    }

    fn err(&self, e: ProviderError) -> ProviderError {
        e.with_provider(&self.name)
    }

    async fn v1_get(&self, url: Url) -> Result<HttpResponse> {
        self.http
            .send(&self.v1, |c| {
                c.get(url.clone())
                    .header(http::header::ACCEPT, "application/json")
            })
            .await
            .map_err(|e| self.err(e))
    }

    fn v3_auth(&self) -> Result<&dyn Auth> {
        self.v3.as_deref().ok_or_else(|| {
            self.err(
                ProviderError::config(
                    "the v3 API (uninstall, organizations) needs xdr_client_id + xdr_client_secret, or access_token",
                )
                .with_hint("create an API client in Cisco XDR (or Secure Client Cloud Management) and add it to the provider's config"),
            )
        })
    }

    async fn organizations(&self) -> Result<(Vec<crate::model::Organization>, Option<u64>)> {
        let auth = self.v3_auth()?;
        let mut url = self.url("/v3/organizations");
        url.query_pairs_mut()
            .append_pair("size", &unconfirmed::V3_ORGANIZATIONS_PAGE_SIZE.to_string());
        let resp = self
            .http
            .send(auth, |c| {
                c.get(url.clone())
                    .header(http::header::ACCEPT, "application/json")
            })
            .await
            .map_err(|e| self.err(e))?;
        if !resp.is_success() {
            return Err(self.err(api_error("list v3 organizations", &resp)));
        }
        let orgs: V3Organizations = resp.json().map_err(|e| self.err(e))?;
        let total = orgs.meta.and_then(|m| m.total);
        Ok((orgs.data, total))
    }

    /// The v3 organization: configured, or the only one the token sees.
    async fn organization(&self) -> Result<&str> {
        self.org
            .get_or_try_init(|| async {
                if let Some(org) = &self.configured_org {
                    return Ok(org.clone());
                }
                let (orgs, total) = self.organizations().await?;
                match orgs.as_slice() {
                    [only] if total.unwrap_or(1) <= 1 => Ok(only.organization_identifier.clone()),
                    [] => Err(self.err(ProviderError::config(
                        "the v3 token sees no organization; check that Secure Endpoint is integrated with the XDR org",
                    ))),
                    many => {
                        let list: Vec<String> = many
                            .iter()
                            .map(|o| format!("{} ({})", o.organization_identifier, o.name))
                            .collect();
                        Err(self.err(
                            ProviderError::config(format!(
                                "the v3 token sees {} organizations; set organization_id to one of: {}",
                                total.unwrap_or(many.len() as u64),
                                list.join(", ")
                            ))
                            .with_hint("`agentctl se orgs` lists them"),
                        ))
                    }
                }
            })
            .await
            .map(String::as_str)
    }

    /// Groups whose name contains `name` (server-side filter), or every group.
    async fn groups(&self, name: Option<&str>) -> Result<Vec<Group>> {
        let mut url = self.url("/v1/groups");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &PAGE_SIZE.to_string());
            if let Some(name) = name {
                q.append_pair("name", name);
            }
        }
        let resp = self.v1_get(url).await?;
        if !resp.is_success() {
            return Err(self.err(api_error("list groups", &resp)));
        }
        let page: V1List<Group> = resp.json().map_err(|e| self.err(e))?;
        Ok(page.data)
    }

    /// The destination group of a move: a group GUID, or a name matched exactly (ignoring
    /// case). Unknown or ambiguous names are input errors listing the groups.
    async fn resolve_group(&self, target: &RelocateTarget) -> Result<Group> {
        if target.folder.is_some() {
            return Err(self.err(ProviderError::input(
                "Secure Endpoint groups have no folders; drop --folder",
            )));
        }
        let wanted = target.to.trim();
        let list = |groups: &[Group]| {
            groups
                .iter()
                .map(|g| format!("{} ({})", g.name, g.guid))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if is_connector_guid(wanted) {
            let all = self.groups(None).await?;
            return all
                .iter()
                .find(|g| g.guid.eq_ignore_ascii_case(wanted))
                .cloned()
                .ok_or_else(|| {
                    self.err(ProviderError::input(format!(
                        "no group has GUID {wanted}; groups: {}",
                        list(&all)
                    )))
                });
        }
        let candidates = self.groups(Some(wanted)).await?;
        let exact: Vec<&Group> = candidates
            .iter()
            .filter(|g| g.name.to_lowercase() == wanted.to_lowercase())
            .collect();
        match exact.as_slice() {
            [one] => Ok((*one).clone()),
            [] => {
                let all = self.groups(None).await?;
                Err(self.err(ProviderError::input(format!(
                    "no group is named '{wanted}'; groups: {}",
                    list(&all)
                ))))
            }
            many => Err(self.err(ProviderError::input(format!(
                "{} groups are named '{wanted}'; use one GUID: {}",
                many.len(),
                list(&many.iter().map(|g| (*g).clone()).collect::<Vec<_>>())
            )))),
        }
    }

    /// `PATCH /v1/computers/{guid}` with a form-encoded `group_guid` (as Cisco's own
    /// sample sends it).
    async fn move_to_group(
        &self,
        target: &RelocateTarget,
        agent: &AgentRef,
    ) -> Result<ActionOutcome> {
        let group = target.resolved_id.as_deref().ok_or_else(|| {
            self.err(ProviderError::input(
                "relocate target was not resolved (prepare not run)",
            ))
        })?;
        let url = self.computer_url(&agent.agent_id);
        let resp = self
            .http
            .send(&self.v1, |c| {
                c.patch(url.clone())
                    .header(http::header::ACCEPT, "application/json")
                    .form(&[("group_guid", group)])
            })
            .await
            .map_err(|e| self.err(e))?;
        let rid = resp.request_id_note();
        match resp.status.as_u16() {
            200..=299 => Ok(ActionOutcome::Requested {
                detail: format!("moved to group {} ({group}){rid}", target.to),
                request_id: resp.request_id.clone(),
            }),
            404 => Ok(ActionOutcome::Skipped {
                why: "gone".into(),
                detail: format!("HTTP 404: {}{rid}", crate::error::vendor_message(&resp)),
            }),
            _ => Err(self.err(api_error("move computer to group", &resp))),
        }
    }

    /// `DELETE /v1/computers/{guid}`: removes the registration (not an uninstall). Success
    /// only when the answer says `data.deleted: true` (Cisco's stale-GUID sample checks it;
    /// the failure shape, HTTP 200 with `deleted: false`, is XSOAR's
    /// `computer_delete_fail_response.json`). 404: already gone.
    async fn delete_computer(&self, agent: &AgentRef) -> Result<ActionOutcome> {
        let url = self.computer_url(&agent.agent_id);
        let resp = self
            .http
            .send(&self.v1, |c| {
                c.delete(url.clone())
                    .header(http::header::ACCEPT, "application/json")
            })
            .await
            .map_err(|e| self.err(e))?;
        let rid = resp.request_id_note();
        match resp.status.as_u16() {
            200..=299 => {
                let answer: V1Item<DeleteAnswer> = resp.json().map_err(|e| self.err(e))?;
                if answer.data.deleted == Some(true) {
                    Ok(ActionOutcome::Requested {
                        detail: format!("computer record deleted{rid}"),
                        request_id: resp.request_id.clone(),
                    })
                } else {
                    let mut e = ProviderError::api(
                        resp.status.as_u16(),
                        format!(
                            "delete computer: the answer says deleted: {}",
                            answer
                                .data
                                .deleted
                                .map_or("(absent)".to_string(), |d| d.to_string())
                        ),
                        resp.request_id.clone(),
                    );
                    e.retryable = false;
                    Err(self.err(e))
                }
            }
            404 => Ok(ActionOutcome::Skipped {
                why: "gone".into(),
                detail: format!("HTTP 404: {}{rid}", crate::error::vendor_message(&resp)),
            }),
            _ => Err(self.err(api_error("delete computer", &resp))),
        }
    }

    fn computer_url(&self, guid: &str) -> Url {
        self.url(&format!("/v1/computers/{guid}"))
    }

    fn uninstall_url(&self, org: &str, guid: &str) -> Url {
        self.url(&format!(
            "/v3/organizations/{org}/computers/{guid}/uninstall_request"
        ))
    }

    /// An agent record from a computer object, keeping `raw` (the whole object) as given.
    fn record(&self, raw: Value) -> Result<AgentRecord> {
        record(&self.name, raw).map_err(|e| self.err(e))
    }

    /// `GET /v1/computers` at `offset` (server-side hints from `query` where they are safe).
    fn list_url(&self, offset: u64, limit: u64, query: &ListQuery) -> Url {
        let mut url = self.url("/v1/computers");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &limit.to_string());
            q.append_pair("offset", &offset.to_string());
            if unconfirmed::SEND_HOSTNAME_FILTER
                && let Some(host) = query.host.as_ref().and_then(|h| h.exact())
            {
                q.append_pair("hostname[]", host);
            }
            if unconfirmed::SEND_LAST_SEEN_OVER
                && !query.include_unknown
                && let Some(before) = query.last_seen_before
            {
                let secs = jiff::Timestamp::now().as_second() - before.as_second();
                q.append_pair("last_seen_over", &secs.max(0).to_string());
            }
        }
        url
    }

    /// One page of computers.
    async fn list_page(&self, offset: u64, query: &ListQuery) -> Result<Page> {
        let resp = self.fetch_page(offset, query).await?;
        self.read_page(resp, offset, query).await
    }

    /// `GET /v1/computers` at `offset`, answered with success.
    async fn fetch_page(&self, offset: u64, query: &ListQuery) -> Result<HttpResponse> {
        let resp = self.v1_get(self.list_url(offset, PAGE_SIZE, query)).await?;
        if !resp.is_success() {
            return Err(self.err(api_error("list computers", &resp)));
        }
        Ok(resp)
    }

    /// The page in `resp`, parsed on a task of its own: the task goes to the back of the
    /// runtime's queue, so the requests this answer freed a turn for are written to the
    /// network before the parse (about 2 ms for 500 computers) holds the thread. agentctl's
    /// runtime has one thread, so records are still built and freed on the same thread.
    async fn read_page(&self, resp: HttpResponse, offset: u64, query: &ListQuery) -> Result<Page> {
        let name = self.name.clone();
        let query = query.clone();
        match tokio::spawn(async move { read_page(&name, &resp, &query, offset) }).await {
            Ok(page) => page.map_err(|e| self.err(e)),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(self.err(ProviderError::protocol(format!(
                "reading the page at offset {offset}: {e}"
            )))),
        }
    }

    /// Every page of the listing, in offset order. The first page reports the total, so
    /// the offsets of all the others are known at once: they are requested `concurrency` at
    /// a time (within the client-side quotas) and handed on in order as they complete, so
    /// the output is the same as a one-page-at-a-time walk. A request goes out as soon as
    /// an earlier one is answered, not when its page has been consumed; at most twice
    /// `concurrency` pages are held. Should the last page still point further (the fleet
    /// grew meanwhile), its `next` links are followed one by one.
    /// Counts into `tally` the total the first page reports and the computers each page holds
    /// (wanted or not).
    fn pages<'a>(&'a self, query: &'a ListQuery, tally: ListTally) -> BoxStream<'a, Result<Page>> {
        let concurrency = self.http.concurrency();
        let counted = tally.clone();
        futures::stream::once(async move {
            let first = self.list_page(0, query).await?;
            if let Some(total) = first.total {
                tally.report_total(total);
            }
            let planned: Vec<u64> = match (first.next, first.total) {
                // The next link follows on from the first page: the rest is offsets to total.
                (Some(next), Some(total)) => (0..)
                    .map(|i| next + i * PAGE_SIZE)
                    .take_while(|o| *o < total)
                    .collect(),
                (Some(next), None) => vec![next],
                (None, _) => Vec::new(),
            };
            let planned_end = planned.last().map_or(0, |o| o + PAGE_SIZE);
            // The HTTP client keeps at most `concurrency` requests on the network; the
            // pages after a slow one keep being requested while it is out.
            let fetched = futures::stream::iter(planned)
                .map(move |offset| self.list_page(offset, query))
                .buffered(2 * concurrency)
                .boxed();
            // Nothing planned although the first page links further (its total disagrees):
            // follow the link.
            let follow = if planned_end == 0 { first.next } else { None };
            let walk = futures::stream::try_unfold(
                (fetched, follow, planned_end),
                move |(mut fetched, mut follow, planned_end)| async move {
                    if let Some(page) = fetched.next().await {
                        let page = page?;
                        if let Some(n) = page.next
                            && n >= planned_end
                        {
                            follow = Some(n);
                        }
                        return Ok(Some((page, (fetched, follow, planned_end))));
                    }
                    match follow.take() {
                        None => Ok(None),
                        Some(offset) => {
                            let page = self.list_page(offset, query).await?;
                            let follow = page.next;
                            Ok(Some((page, (fetched, follow, offset + PAGE_SIZE))))
                        }
                    }
                },
            );
            Ok::<_, ProviderError>(futures::stream::iter([Ok(first)]).chain(walk))
        })
        .try_flatten()
        .inspect_ok(move |page| counted.add_received(page.received))
        .boxed()
    }
}

/// An agent record from a computer object, keeping `raw` in it.
fn record(name: &str, raw: Value) -> Result<AgentRecord> {
    let c = computer_of(&raw)?;
    // The record owns its text, so the object it was read from can go into it.
    let last_seen = last_seen_of(name, &c);
    let mut record = record_from(name, c, last_seen, true);
    record.raw = raw;
    Ok(record)
}

/// The computer object `raw` as read for a record (it borrows the text it only reads).
fn computer_of(raw: &Value) -> Result<Computer<'_>> {
    Computer::deserialize(raw)
        .map_err(|e| ProviderError::protocol(format!("unexpected computer object: {e}")))
}

/// The computer's `last_seen`, if it has one that reads as a time (a warning if not).
fn last_seen_of(name: &str, c: &Computer<'_>) -> Option<Timestamp> {
    let text = c.last_seen.as_deref()?;
    let parsed = parse_timestamp(text);
    if parsed.is_none() {
        tracing::warn!(provider = %name, "{}: unreadable last_seen {text:?}; treated as unknown", c.connector_guid);
    }
    parsed
}

/// An agent record from a parsed computer object (`raw`: `null`) and its `last_seen` as
/// [`last_seen_of`] read it; its MAC addresses only with `hints`
/// ([`ListQuery::identity_hints`]).
fn record_from(
    name: &str,
    c: Computer<'_>,
    last_seen: Option<Timestamp>,
    hints: bool,
) -> AgentRecord {
    let mac_addresses = if hints { c.mac_addresses() } else { Vec::new() };
    let mut ips = c.internal_ips;
    if let Some(ext) = c.external_ip.filter(|s| !s.is_empty())
        && !ips.contains(&ext)
    {
        ips.push(ext);
    }
    let group = c.groups.0.or(c.group_guid).map(Text::into_owned);
    AgentRecord {
        provider: name.to_string(),
        kind: KIND.to_string(),
        agent_id: c.connector_guid,
        hostname: c.hostname.unwrap_or_default(),
        last_seen,
        os: c.operating_system,
        agent_version: c.connector_version,
        ip_addresses: ips,
        group,
        mac_addresses,
        serial_number: None,
        pending_uninstall: false,
        raw: Value::Null,
    }
}

/// One page of `GET /v1/computers`: each object is parsed once, straight into [`Computer`]
/// when the caller does not keep raw JSON, else into a JSON value it is read from and kept in.
/// Computers the query does not want ([`ListQuery::wants_last_seen`]) become no record.
fn read_page(name: &str, resp: &HttpResponse, query: &ListQuery, offset: u64) -> Result<Page> {
    // Each computer becomes a record (or none) as soon as it is parsed: no page of parsed
    // objects is collected first.
    let mut records = Vec::with_capacity(PAGE_SIZE as usize);
    let mut failed = None;
    let (metadata, count) = if query.keep_raw {
        // As below, but the record keeps the object: it is built only for a computer the
        // query wants, and with MAC addresses only when the query asks for them.
        resp.json_seed(V1ListEach(Each::new(|raw: Value| {
            if failed.is_some() {
                return;
            }
            let c = match computer_of(&raw) {
                Ok(c) => c,
                Err(e) => {
                    failed = Some(e);
                    return;
                }
            };
            let last_seen = last_seen_of(name, &c);
            if query.wants_last_seen(last_seen) {
                let mut r = record_from(name, c, last_seen, query.identity_hints);
                r.raw = raw;
                records.push(r);
            }
        })))?
    } else {
        resp.json_seed(V1ListEach(Each::new(|c: Computer<'_>| {
            let last_seen = last_seen_of(name, &c);
            if query.wants_last_seen(last_seen) {
                records.push(record_from(name, c, last_seen, query.identity_hints));
            }
        })))?
    };
    if let Some(e) = failed {
        return Err(e);
    }
    // Follow `metadata.links.next` (present only when another page exists), reading its
    // offset but keeping the configured host (it may be a proxy or a simulator).
    let next = match metadata.links.next.as_deref() {
        None => None,
        Some(link) => {
            let next_offset = Url::parse(link)
                .ok()
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "offset")
                        .and_then(|(_, v)| v.parse::<u64>().ok())
                })
                .unwrap_or(offset + count);
            if next_offset <= offset || count == 0 {
                return Err(ProviderError::protocol(format!(
                    "pagination does not advance (offset {offset} → {next_offset})"
                )));
            }
            Some(next_offset)
        }
    };
    Ok(Page {
        records,
        received: count,
        total: metadata.results.and_then(|r| r.total),
        next,
    })
}

/// One page of `GET /v1/computers`.
struct Page {
    records: Vec<AgentRecord>,
    /// How many computers the page held, wanted or not.
    received: u64,
    /// `metadata.results.total`, when reported.
    total: Option<u64>,
    /// The offset `metadata.links.next` points at, when there is a further page.
    next: Option<u64>,
}

#[async_trait]
impl Provider for SecureEndpoint {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn supports(&self, op: Operation) -> Result<(), NotSupported> {
        let reason = match op {
            Operation::List
            | Operation::Stale
            | Operation::Uninstall
            | Operation::Remove
            | Operation::Relocate => {
                return Ok(());
            }
            Operation::Clients => {
                "the Secure Endpoint API has no API-client management (create API credentials in the console)"
            }
            Operation::Restore => "Secure Endpoint deletes computers for good; there is no restore",
        };
        Err(NotSupported {
            provider: self.name.clone(),
            operation: op.name().to_string(),
            reason: reason.to_string(),
        })
    }

    fn listings(&self) -> &'static [&'static str] {
        &["orgs"]
    }

    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Result<AgentRecord>> {
        self.list_tallied(query, ListTally::default())
    }

    /// `metadata.results.total` of the first page against the records of every page.
    fn list_tallied<'a>(
        &'a self,
        query: &'a ListQuery,
        tally: ListTally,
    ) -> BoxStream<'a, Result<AgentRecord>> {
        self.pages(query, tally)
            .map_ok(|page| futures::stream::iter(page.records.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    fn validate_agent_id(&self, id: &str) -> Result<(), String> {
        if is_connector_guid(id) {
            Ok(())
        } else {
            Err(format!(
                "'{id}' is not a connector GUID (8-4-4-4-12 hex digits)"
            ))
        }
    }

    async fn recheck(&self, agent_id: &str) -> Result<Recheck> {
        let resp = self.v1_get(self.computer_url(agent_id)).await?;
        match resp.status.as_u16() {
            200 => {
                let item: V1Item<Value> = resp.json().map_err(|e| self.err(e))?;
                Ok(Recheck::Present(Box::new(self.record(item.data)?)))
            }
            404 => Ok(Recheck::Gone),
            _ => Err(self.err(api_error("re-check computer", &resp))),
        }
    }

    /// Re-check from one listing pass when that costs fewer requests than one `GET` per
    /// agent: the first page tells the fleet size, and the listing (⌈M / 500⌉ pages, read
    /// concurrently) is used when it has fewer pages than there are agents. Agents the
    /// listing does not show are confirmed one by one (a computer deleted mid-listing shifts
    /// the offsets, and "gone" must not be guessed), so the whole re-check costs at most
    /// pages + N requests, and N + 1 when the listing is the dearer way.
    async fn recheck_bulk(&self, agents: &[AgentRef]) -> Result<Option<HashMap<String, Recheck>>> {
        let mut map = HashMap::with_capacity(agents.len());
        let used = self
            .recheck_bulk_each(agents, &mut |id, answer| {
                map.insert(id, answer);
            })
            .await?;
        Ok(used.then_some(map))
    }

    /// [`Provider::recheck_bulk`], reported page by page: the caller acts on the agents of
    /// the pages read so far while the others are still being read. A computer removed from
    /// the listing (uninstalled, deleted) moves every later computer one offset down, so the
    /// pages after the first are read from the last offset backwards, in order: a change to
    /// an agent of a page already read can only move computers of pages already read. The
    /// first page's agents are reported last for the same reason.
    async fn recheck_bulk_each(
        &self,
        agents: &[AgentRef],
        report: &mut (dyn FnMut(String, Recheck) + Send),
    ) -> Result<bool> {
        let wanted: HashSet<&str> = agents.iter().map(|a| a.agent_id.as_str()).collect();
        if wanted.len() < 2 {
            return Ok(false);
        }
        let query = ListQuery {
            keep_raw: false,
            ..ListQuery::default()
        };
        let first = self.list_page(0, &query).await?;
        let total = first.total.unwrap_or(first.records.len() as u64);
        let page_count = total.div_ceil(PAGE_SIZE).max(1);
        if page_count >= wanted.len() as u64 {
            tracing::info!(
                provider = %self.name,
                "re-check of {} agents: one GET per agent (the listing would take {page_count} pages); 1 request spent on the fleet size",
                wanted.len()
            );
            return Ok(false);
        }
        let mut seen: HashSet<String> = HashSet::with_capacity(wanted.len());
        let mut requests = 1u64;
        let mut pick = |records: Vec<AgentRecord>| -> Vec<AgentRecord> {
            records
                .into_iter()
                .filter(|r| wanted.contains(r.agent_id.as_str()) && seen.insert(r.agent_id.clone()))
                .collect()
        };
        let mut held = pick(first.records);
        match (first.next, first.total) {
            (Some(next), Some(total)) => {
                let offsets: Vec<u64> = (0..)
                    .map(|i| next + i * PAGE_SIZE)
                    .take_while(|o| *o < total)
                    .collect();
                let mut pages = futures::stream::iter(offsets.into_iter().rev())
                    .map(|offset| self.list_page(offset, &query))
                    .buffered(self.http.concurrency());
                while let Some(page) = pages.next().await {
                    requests += 1;
                    for r in pick(page?.records) {
                        report(r.agent_id.clone(), Recheck::Present(Box::new(r)));
                    }
                }
            }
            // No total to plan offsets with: follow the links, and report at the end.
            (Some(mut offset), None) => loop {
                let page = self.list_page(offset, &query).await?;
                requests += 1;
                held.extend(pick(page.records));
                match page.next {
                    Some(n) if n > offset => offset = n,
                    _ => break,
                }
            },
            (None, _) => {}
        }
        for r in held {
            report(r.agent_id.clone(), Recheck::Present(Box::new(r)));
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|id| !seen.contains(**id))
            .map(|id| id.to_string())
            .collect();
        let mut confirmations = futures::stream::iter(missing)
            .map(|id: String| async move {
                let found = self.recheck(&id).await?;
                Ok::<_, ProviderError>((id, found))
            })
            .buffer_unordered(self.http.concurrency());
        let mut confirmed = 0u64;
        while let Some(answer) = confirmations.next().await {
            let (id, found) = answer?;
            confirmed += 1;
            report(id, found);
        }
        requests += confirmed;
        tracing::info!(
            provider = %self.name,
            "re-check of {} agents: one listing of {page_count} pages plus {confirmed} GET for agents it did not show; {requests} requests (one per agent: {})",
            wanted.len(),
            wanted.len()
        );
        Ok(true)
    }

    async fn prepare(&self, action: &Action) -> Result<Action> {
        self.supports(action.operation())?;
        match action {
            Action::Uninstall => {
                // Obtain the v3 token and the organization now, so credential problems stop
                // the run before the first change.
                self.organization().await?;
                Ok(Action::Uninstall)
            }
            Action::Relocate(target) => {
                let group = self.resolve_group(target).await?;
                Ok(Action::Relocate(RelocateTarget {
                    to: group.name,
                    resolved_id: Some(group.guid),
                    ..target.clone()
                }))
            }
            // v1 Basic auth only: nothing to obtain beforehand.
            Action::Remove => Ok(Action::Remove),
            Action::Restore => Err(self.not_supported(action.operation())),
        }
    }

    fn describe(&self, action: &Action, agent: &AgentRef) -> String {
        match action {
            Action::Uninstall => {
                let org = self.org.get().map_or("{organization}", String::as_str);
                format!("PUT {}", self.uninstall_url(org, &agent.agent_id))
            }
            Action::Relocate(t) => format!(
                "PATCH {} group_guid={}",
                self.computer_url(&agent.agent_id),
                t.resolved_id.as_deref().unwrap_or("{group}")
            ),
            Action::Remove => format!("DELETE {}", self.computer_url(&agent.agent_id)),
            Action::Restore => {
                format!("({} is not supported)", action.name())
            }
        }
    }

    async fn act(&self, action: &Action, agent: &AgentRef) -> Result<ActionOutcome> {
        self.supports(action.operation())?;
        match action {
            Action::Relocate(target) => return self.move_to_group(target, agent).await,
            Action::Remove => return self.delete_computer(agent).await,
            Action::Uninstall | Action::Restore => {}
        }
        let org = self.organization().await?;
        let auth = self.v3_auth()?;
        let url = self.uninstall_url(org, &agent.agent_id);
        let resp = self
            .http
            .send(auth, |c| c.put(url.clone()))
            .await
            .map_err(|e| self.err(e))?;
        let rid = resp.request_id_note();
        match resp.status.as_u16() {
            200..=299 => Ok(ActionOutcome::Requested {
                detail: format!("HTTP {}{rid}", resp.status.as_u16()),
                request_id: resp.request_id.clone(),
            }),
            404 if unconfirmed::UNINSTALL_404_MEANS_GONE => Ok(ActionOutcome::Skipped {
                why: "gone".into(),
                detail: format!("HTTP 404: {}{rid}", crate::error::vendor_message(&resp)),
            }),
            _ => Err(self.err(api_error("uninstall request", &resp))),
        }
    }

    async fn listing(&self, name: &str) -> Result<Listing> {
        if name != "orgs" {
            return Err(self.not_supported_listing(name));
        }
        let (orgs, total) = self.organizations().await?;
        if let Some(total) = total
            && total > orgs.len() as u64
        {
            tracing::warn!(provider = %self.name, "showing {} of {total} organizations", orgs.len());
        }
        let rows = orgs
            .into_iter()
            .map(|o| {
                let mut row = serde_json::Map::new();
                row.insert("provider".into(), json!(self.name));
                row.insert("organization_id".into(), json!(o.organization_identifier));
                row.insert("name".into(), json!(o.name));
                row.insert(
                    "raw".into(),
                    json!({"name": o.name, "organizationIdentifier": o.organization_identifier}),
                );
                row
            })
            .collect();
        Ok(Listing {
            columns: vec!["provider", "organization_id", "name"],
            rows,
        })
    }

    async fn doctor(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let started = Instant::now();
        let mut url = self.url("/v1/computers");
        url.query_pairs_mut().append_pair("limit", "1");
        let v1 = match self.v1_get(url).await {
            Ok(resp) if resp.is_success() => {
                let total = resp
                    .json::<V1List<Value>>()
                    .ok()
                    .and_then(|p| p.metadata.results.and_then(|r| r.total));
                Ok(format!(
                    "GET /v1/computers: {} computers",
                    total.map_or("?".to_string(), |t| t.to_string())
                ))
            }
            Ok(resp) => Err(api_error("GET /v1/computers", &resp).reason()),
            Err(e) => Err(e.reason()),
        };
        checks.push(Check::from_result(
            "v1 API (client_id + api_key)",
            v1,
            started,
        ));
        if self.v3.is_none() {
            checks.push(Check {
                name: "v3 API (uninstall)".into(),
                ok: false,
                detail: "not configured: set xdr_client_id + xdr_client_secret or access_token to uninstall".into(),
                latency_ms: None,
            });
            return checks;
        }
        let started = Instant::now();
        let v3 = match self.organization().await {
            Ok(org) => Ok(format!("token via {}; organization {org}", self.v3_kind)),
            Err(e) => Err(e.reason()),
        };
        checks.push(Check::from_result(
            "v3 API (token, organization)",
            v3,
            started,
        ));
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_validation() {
        assert!(is_connector_guid("9cc16b53-7e2a-4b1c-9a43-0123456789ab"));
        assert!(is_connector_guid("9CC16B53-7E2A-4B1C-9A43-0123456789AB"));
        assert!(!is_connector_guid("9cc16b53-7e2a-4b1c-9a43-0123456789a"));
        assert!(!is_connector_guid("not-a-guid"));
        assert!(!is_connector_guid(""));
        assert!(!is_connector_guid("9cc16b53_7e2a_4b1c_9a43_0123456789ab"));
    }
}
