//! The Taegis provider: endpoint assets (list, stale, re-check, `markForUninstall`) and API
//! clients, over the GraphQL gateway.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use agentctl_core::http::{HttpClient, HttpOptions, HttpResponse};
use agentctl_core::provider::{Check, find_string_fields, strip_fields};
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ApiClient, ErrorKind, ListQuery, ListTally,
    NewClient, NewClientSecret, NotSupported, Operation, Provider, ProviderError, Recheck,
    RelocateTarget, Result,
};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use url::Url;

use crate::auth::{TaegisAuth, jwt_exp, until_exp};
use crate::config::{Config, Credentials};
use crate::documents;
use crate::error::{graphql_error, http_error};
use crate::model::{
    Asset, AssetsAnswer, AssetsPage, Client, ClientSearchResults, CommandResult, EndpointGroupInfo,
    GraphQlError, GraphQlResponse, TASK_COMPLETED, TASK_FAILED, TaskInfo, TaskMetadata, role_ids,
};
use crate::unconfirmed;

pub const KIND: &str = "taegis";

pub const GRAPHQL_PATH: &str = "/graphql";

/// The tenant header every GraphQL call carries.
pub const TENANT_HEADER: &str = "X-Tenant-Context";

/// The `reason` sent with every uninstall request (shown in Taegis' audit trail).
pub const UNINSTALL_REASON: &str = "agentctl: stale agent uninstall";

pub struct Taegis {
    name: String,
    api: Url,
    region: Option<&'static str>,
    tenant_id: String,
    http: HttpClient,
    auth: TaegisAuth,
    credential_label: String,
    /// The configured `client_id`, the credential `clients delete-all` must not delete.
    own_client_id: Option<String>,
    polling: JobPolling,
}

/// How bulk jobs are polled (defaults: [`unconfirmed::JOB_POLL_FIRST_MS`], …).
#[derive(Debug, Clone, Copy)]
pub struct JobPolling {
    pub first: Duration,
    pub max: Duration,
    pub timeout: Duration,
}

impl Default for JobPolling {
    fn default() -> Self {
        Self {
            first: Duration::from_millis(unconfirmed::JOB_POLL_FIRST_MS),
            max: Duration::from_millis(unconfirmed::JOB_POLL_MAX_MS),
            timeout: Duration::from_secs(unconfirmed::JOB_TIMEOUT_SECS),
        }
    }
}

/// The three asset bulk jobs agentctl runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `deleteAssetsV2` + `deleteAssetsStatusV2` (remove: soft delete).
    Delete,
    /// `restoreAssetsV2` + `restoreAssetsStatusV2`.
    Restore,
    /// `assignBulkAssetsToGroup` + `assignBulkAssetsToGroupStatus` (relocate).
    Assign,
}

impl JobKind {
    pub fn of(action: &Action) -> Option<Self> {
        match action {
            Action::Remove => Some(Self::Delete),
            Action::Restore => Some(Self::Restore),
            Action::Relocate(_) => Some(Self::Assign),
            Action::Uninstall => None,
        }
    }

    pub fn mutation(self) -> &'static str {
        match self {
            Self::Delete => "deleteAssetsV2",
            Self::Restore => "restoreAssetsV2",
            Self::Assign => "assignBulkAssetsToGroup",
        }
    }

    pub fn status_query(self) -> &'static str {
        match self {
            Self::Delete => "deleteAssetsStatusV2",
            Self::Restore => "restoreAssetsStatusV2",
            Self::Assign => "assignBulkAssetsToGroupStatus",
        }
    }

    fn document(self) -> &'static str {
        match self {
            Self::Delete => documents::DELETE_ASSETS.as_str(),
            Self::Restore => documents::RESTORE_ASSETS.as_str(),
            Self::Assign => documents::ASSIGN_GROUP.as_str(),
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Delete => "removed (soft delete; restore can undo it)",
            Self::Restore => "restored",
            Self::Assign => "moved",
        }
    }
}

/// `filter` selecting exactly `ids`: `{where: {or: [{id: …}, …]}}` (`AssetWhereInputV2` has
/// a single-valued `id` and the `or` combinator; secureworks/taegis-sdk-python
/// `services/assets2/types.py`).
pub fn ids_filter(ids: &[String]) -> Value {
    let any: Vec<Value> = ids.iter().map(|id| json!({ "id": id })).collect();
    json!({ "where": { "or": any } })
}

/// The `input` of a job's mutation.
pub fn job_input(kind: JobKind, ids: &[String], group_id: Option<&str>) -> Value {
    let mut input = json!({ "filter": ids_filter(ids) });
    if kind == JobKind::Assign {
        input["groupId"] = json!(group_id);
    }
    input
}

/// What a finished job means for each asset. `after` is the assets' state after the job
/// (present → endpoint group id) when it was fetched, `None` when the job's counts already
/// say every asset succeeded.
pub fn job_outcomes(
    kind: JobKind,
    job_id: &str,
    task: &TaskInfo,
    ids: &[String],
    target_group: Option<&str>,
    after: Option<&HashMap<String, Option<String>>>,
) -> Vec<std::result::Result<ActionOutcome, String>> {
    let meta: TaskMetadata = task.metadata.unwrap_or_default();
    let status = task.status.as_deref().unwrap_or("(no status)");
    let (ok, bad) = (
        meta.num_succeeded.unwrap_or(0),
        meta.num_failed.unwrap_or(0),
    );
    let counts = format!(
        "{} job {job_id} {status}: {ok} succeeded, {bad} failed of {} matched",
        kind.mutation(),
        meta.num_endpoints.unwrap_or(ok + bad)
    );
    let requested = |note: &str| {
        Ok(ActionOutcome::Requested {
            detail: format!("{}{note} ({counts})", kind.done()),
            request_id: Some(job_id.to_string()),
        })
    };
    let Some(after) = after else {
        return ids.iter().map(|_| requested("")).collect();
    };
    ids.iter()
        .map(|id| {
            let state = after.get(id);
            match (kind, state) {
                (JobKind::Delete, None) if ok > 0 => requested(""),
                (JobKind::Delete, None) => Ok(ActionOutcome::Skipped {
                    why: "gone".into(),
                    detail: format!("no such asset: already removed ({counts})"),
                }),
                (JobKind::Delete, Some(_)) => Err(format!("still listed after the job ({counts})")),
                (JobKind::Restore, Some(_)) if ok > 0 => requested(""),
                (JobKind::Restore, Some(_)) => Ok(ActionOutcome::Skipped {
                    why: "present".into(),
                    detail: format!("listed and not removed: nothing to restore ({counts})"),
                }),
                (JobKind::Restore, None) => Err(format!("not listed after the job ({counts})")),
                (JobKind::Assign, Some(group)) if group.as_deref() == target_group => requested(""),
                (JobKind::Assign, Some(group)) => Err(format!(
                    "still in group {} after the job ({counts})",
                    group.as_deref().unwrap_or("(none)")
                )),
                (JobKind::Assign, None) => Ok(ActionOutcome::Skipped {
                    why: "gone".into(),
                    detail: format!("no such asset ({counts})"),
                }),
            }
        })
        .collect()
}

/// Did the job report success for every asset it was given?
pub fn job_fully_succeeded(task: &TaskInfo, count: usize) -> bool {
    let meta = task.metadata.unwrap_or_default();
    task.status.as_deref() == Some(TASK_COMPLETED)
        && meta.num_failed.unwrap_or(0) == 0
        && meta.num_succeeded == Some(count as i64)
}

/// The group a relocate names, by id or by name (exact, ignoring case); unknown or ambiguous
/// names are input errors listing the groups.
pub fn resolve_group(
    groups: &[EndpointGroupInfo],
    wanted: &str,
) -> std::result::Result<EndpointGroupInfo, String> {
    let wanted = wanted.trim();
    let list = |gs: &[&EndpointGroupInfo]| {
        gs.iter()
            .map(|g| format!("{} ({})", g.name.as_deref().unwrap_or(""), g.id))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let all: Vec<&EndpointGroupInfo> = groups.iter().collect();
    if let Some(g) = groups.iter().find(|g| g.id == wanted) {
        return Ok(g.clone());
    }
    let named: Vec<&EndpointGroupInfo> = groups
        .iter()
        .filter(|g| {
            g.name
                .as_deref()
                .is_some_and(|n| n.trim().to_lowercase() == wanted.to_lowercase())
        })
        .collect();
    match named.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!(
            "no endpoint group has the id or name '{wanted}'; groups: {}",
            list(&all)
        )),
        many => Err(format!(
            "{} endpoint groups are named '{wanted}'; use an id: {}",
            many.len(),
            list(many)
        )),
    }
}

/// Is `id` usable as a Taegis asset id (non-empty, no whitespace or control characters)?
pub fn is_asset_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 256 && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `lastSeenAt_lt` for a cutoff, rounded up to the whole second, so the server returns a
/// superset of what the client-side rule keeps whatever precision it compares at.
pub fn last_seen_lt_param(cutoff: Timestamp) -> String {
    let secs = cutoff.as_second() + i64::from(cutoff.subsec_nanosecond() > 0);
    Timestamp::from_second(secs).unwrap_or(cutoff).to_string()
}

/// The server-side host filter for a pattern: a `(field, value)` for `where`, or `None` when
/// no filter is certain to return every asset the client-side match keeps.
pub fn host_hint(pattern: &agentctl_core::HostPattern) -> Option<(&'static str, String)> {
    if unconfirmed::HOSTNAME_FILTER_IGNORES_CASE {
        if let Some(exact) = pattern.exact() {
            return Some(("hostname", exact.to_string()));
        }
        let prefix = pattern.literal_prefix();
        return (!prefix.is_empty()).then(|| ("hostname_contains", prefix.to_string()));
    }
    // Case may matter on the server: only a run without cased letters is safe to send.
    let caseless = |c: char| c.to_lowercase().eq(c.to_uppercase());
    let mut best = String::new();
    for segment in pattern.hint_text().split(['*', '?']) {
        let mut run = String::new();
        for c in segment.chars().chain(std::iter::once('A')) {
            if caseless(c) {
                run.push(c);
            } else {
                if run.chars().count() > best.chars().count() {
                    best = std::mem::take(&mut run);
                }
                run.clear();
            }
        }
    }
    (best.chars().count() >= unconfirmed::HOSTNAME_HINT_MIN_LEN)
        .then_some(("hostname_contains", best))
}

/// The `filter` variable for a listing.
pub fn list_filter(query: &ListQuery) -> Option<Value> {
    let mut filter = Map::new();
    if let Some(before) = query.last_seen_before
        && !(unconfirmed::SEND_LAST_SEEN_FILTER_ONLY_WITHOUT_UNKNOWN && query.include_unknown)
    {
        filter.insert("lastSeenAt_lt".into(), json!(last_seen_lt_param(before)));
    }
    if let Some((field, value)) = query.host.as_ref().and_then(host_hint) {
        filter.insert(field.into(), json!(value));
    }
    (!filter.is_empty()).then(|| json!({ "where": filter }))
}

/// A v4 UUID for `markForUninstall`'s `requestID`.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What a `markForUninstall` result means for the agent, given the `requestID` sent.
pub fn uninstall_outcome(
    result: CommandResult,
    sent_request_id: String,
) -> std::result::Result<ActionOutcome, String> {
    let reason = result.reason.unwrap_or_default();
    let echoed = result
        .request_id
        .filter(|r| !r.is_empty())
        .unwrap_or(sent_request_id);
    match result.success {
        Some(true) => Ok(ActionOutcome::Requested {
            detail: if reason.is_empty() {
                format!("markForUninstall accepted (requestID {echoed})")
            } else {
                format!("markForUninstall accepted: {reason} (requestID {echoed})")
            },
            request_id: Some(echoed),
        }),
        // A retry of a request the server had already taken.
        _ if reason
            .to_lowercase()
            .contains(unconfirmed::DUPLICATE_REQUEST_REASON) =>
        {
            Ok(ActionOutcome::Requested {
                detail: format!("markForUninstall already accepted: {reason} (requestID {echoed})"),
                request_id: Some(echoed),
            })
        }
        _ if reason
            .to_lowercase()
            .contains(unconfirmed::NOT_FOUND_REASON) =>
        {
            Ok(ActionOutcome::Skipped {
                why: "gone".into(),
                detail: format!("markForUninstall: {reason} (requestID {echoed})"),
            })
        }
        _ => Err(format!(
            "markForUninstall refused: {} (requestID {echoed})",
            if reason.is_empty() {
                "no reason given"
            } else {
                &reason
            }
        )),
    }
}

impl Taegis {
    pub fn new(name: &str, config: &Config, opts: HttpOptions) -> Result<Self> {
        let resolved = config.resolve().map_err(|e| e.with_provider(name))?;
        let http = HttpClient::new(opts).map_err(|e| e.with_provider(name))?;
        let auth = TaegisAuth::new(&http, &resolved.api_url, &resolved.credentials);
        let (credential_label, own_client_id) = match &resolved.credentials {
            Credentials::ClientCredentials { client_id, .. } => (
                format!("client credentials of {client_id}"),
                Some(client_id.clone()),
            ),
            Credentials::Token(_) => ("a ready bearer token".to_string(), None),
        };
        Ok(Self {
            name: name.to_string(),
            api: resolved.api_url,
            region: resolved.region,
            tenant_id: resolved.tenant_id,
            http,
            auth,
            credential_label,
            own_client_id,
            polling: JobPolling::default(),
        })
    }

    /// Poll bulk jobs with other timing (tests, benchmarks).
    pub fn with_job_polling(mut self, polling: JobPolling) -> Self {
        self.polling = polling;
        self
    }

    fn graphql_url(&self) -> Url {
        let mut url = self.api.clone();
        url.set_path(GRAPHQL_PATH);
        url
    }

    fn err(&self, e: ProviderError) -> ProviderError {
        e.with_provider(&self.name)
    }

    fn protocol(&self, msg: impl Into<String>) -> ProviderError {
        self.err(ProviderError::protocol(msg))
    }

    /// POST one document to `url` (a gateway); the raw HTTP answer.
    async fn post_to(&self, url: Url, document: &str, variables: &Value) -> Result<HttpResponse> {
        let body = json!({ "query": document, "variables": variables });
        self.http
            .send(&self.auth.bearer, |c| {
                c.post(url.clone())
                    .header(http::header::ACCEPT, "application/json")
                    .header(TENANT_HEADER, self.tenant_id.as_str())
                    .json(&body)
            })
            .await
            .map_err(|e| self.err(e))
    }

    /// Run one document and return `data.<field>` (`Value::Null` when the server has no
    /// result). `errors[]` and failed statuses become errors carrying the server's messages.
    async fn call(
        &self,
        what: &str,
        document: &str,
        field: &str,
        variables: Value,
    ) -> Result<Value> {
        self.call_at(self.graphql_url(), what, document, field, variables)
            .await
    }

    async fn call_at(
        &self,
        url: Url,
        what: &str,
        document: &str,
        field: &str,
        variables: Value,
    ) -> Result<Value> {
        let resp = self.post_to(url, document, &variables).await?;
        self.data_field(&resp, what, field)
    }

    /// `data.<field>` of a GraphQL answer; `errors[]` and failed statuses become errors
    /// carrying the server's messages.
    fn data_field(&self, resp: &HttpResponse, what: &str, field: &str) -> Result<Value> {
        if !resp.is_success() {
            return Err(self.err(http_error(what, resp, self.auth.fixed)));
        }
        let body: GraphQlResponse = resp.json().map_err(|e| self.err(e))?;
        if let Some(errors) = body.errors.filter(|e| !e.is_empty()) {
            return Err(self.err(graphql_error(
                what,
                resp.status.as_u16(),
                &errors,
                resp.request_id.clone(),
            )));
        }
        match body.data {
            Some(Value::Object(mut data)) => Ok(data.remove(field).unwrap_or(Value::Null)),
            Some(Value::Null) | None => {
                Err(self.protocol(format!("{what}: the answer has no data")))
            }
            Some(other) => Err(self.protocol(format!("{what}: unexpected data {other}"))),
        }
    }

    fn record(&self, raw: Value) -> Result<AgentRecord> {
        let asset = self.asset(&raw)?;
        Ok(self.asset_record(asset, raw))
    }

    fn asset(&self, raw: &Value) -> Result<Asset> {
        Asset::deserialize(raw).map_err(|e| self.protocol(format!("unexpected asset object: {e}")))
    }

    /// SPEC's record of an asset (`raw`: its vendor JSON, or `null`).
    fn asset_record(&self, asset: Asset, raw: Value) -> AgentRecord {
        let c = asset.columns();
        if let Some(text) = &c.unreadable_last_seen {
            tracing::warn!(provider = %self.name, "{}: unreadable lastSeenAt {text}; treated as unknown", c.agent_id);
        }
        AgentRecord {
            provider: self.name.clone(),
            kind: KIND.to_string(),
            agent_id: c.agent_id,
            hostname: c.hostname,
            last_seen: c.last_seen,
            os: c.os,
            agent_version: c.agent_version,
            ip_addresses: c.ip_addresses,
            group: c.group,
            mac_addresses: c.mac_addresses,
            serial_number: c.serial_number,
            pending_uninstall: c.pending_uninstall,
            raw,
        }
    }

    /// Every endpoint group of the tenant (`allEndpointGroups` on the endpoint-management
    /// gateway).
    pub async fn endpoint_groups(&self) -> Result<Vec<EndpointGroupInfo>> {
        let mut url = self.api.clone();
        url.set_path(documents::ENDPOINT_GROUPS_PATH);
        let data = self
            .call_at(
                url,
                "list endpoint groups (allEndpointGroups)",
                documents::ALL_ENDPOINT_GROUPS,
                "allEndpointGroups",
                json!({}),
            )
            .await?;
        if data.is_null() {
            return Err(self.protocol("allEndpointGroups returned no result"));
        }
        Vec::<EndpointGroupInfo>::deserialize(&data)
            .map_err(|e| self.protocol(format!("unexpected allEndpointGroups answer: {e}")))
    }

    /// The assets among `ids` that are listed now, with their endpoint group id.
    async fn assets_state(&self, ids: &[String]) -> Result<HashMap<String, Option<String>>> {
        let filter = ids_filter(ids);
        let mut out = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .assets_page(
                    after.as_deref(),
                    unconfirmed::ASSETS_PAGE_SIZE,
                    Some(&filter),
                )
                .await?;
            for raw in page.assets {
                let c = Asset::deserialize(&raw)
                    .map_err(|e| self.protocol(format!("unexpected asset object: {e}")))?
                    .columns();
                out.insert(c.agent_id, c.group_id);
            }
            match page.page_info {
                Some(p) if p.has_next_page && p.end_cursor.is_some() && p.end_cursor != after => {
                    after = p.end_cursor;
                }
                _ => return Ok(out),
            }
        }
    }

    /// Start one bulk job for `ids` and poll it until it finishes; its id and final state.
    pub async fn run_job(
        &self,
        kind: JobKind,
        ids: &[String],
        group_id: Option<&str>,
    ) -> Result<(String, TaskInfo)> {
        if ids.is_empty() {
            // An empty `or` must never reach the service: a filter that selects nothing here
            // could select everything there.
            return Err(self.err(ProviderError::input("a bulk job needs at least one asset")));
        }
        let what = format!("{} ({} assets)", kind.mutation(), ids.len());
        let data = self
            .call(
                &what,
                kind.document(),
                kind.mutation(),
                json!({ "input": job_input(kind, ids, group_id) }),
            )
            .await?;
        let started = TaskInfo::deserialize(&data)
            .map_err(|e| self.protocol(format!("unexpected {} answer: {e}", kind.mutation())))?;
        let Some(job_id) = started.id.filter(|id| !id.is_empty()) else {
            return Err(self.protocol(format!("{} returned no job id", kind.mutation())));
        };
        let begun = Instant::now();
        let mut wait = self.polling.first;
        loop {
            tokio::time::sleep(wait).await;
            let data = self
                .call(
                    &format!("{} {job_id}", kind.status_query()),
                    &documents::job_status(kind.status_query(), &job_id),
                    kind.status_query(),
                    json!({}),
                )
                .await
                .map_err(|mut e| {
                    e.request_id.get_or_insert_with(|| job_id.clone());
                    e
                })?;
            if data.is_null() {
                let mut e = self.protocol(format!("{} knows no job {job_id}", kind.status_query()));
                e.request_id = Some(job_id.clone());
                return Err(e);
            }
            let task = TaskInfo::deserialize(&data).map_err(|e| {
                self.protocol(format!("unexpected {} answer: {e}", kind.status_query()))
            })?;
            match task.status.as_deref() {
                Some(TASK_COMPLETED) | Some(TASK_FAILED) => return Ok((job_id, task)),
                _ if begun.elapsed() >= self.polling.timeout => {
                    let mut e = self.err(ProviderError::new(
                        ErrorKind::Api,
                        format!(
                            "{} job {job_id} still {} after {} s; check it in the console and run again",
                            kind.mutation(),
                            task.status.as_deref().unwrap_or("running"),
                            begun.elapsed().as_secs()
                        ),
                    ));
                    e.request_id = Some(job_id.clone());
                    return Err(e);
                }
                _ => wait = (wait * 2).min(self.polling.max),
            }
        }
    }

    /// One job for a batch of agents; one result per agent.
    async fn job_batch(&self, action: &Action, agents: &[AgentRef]) -> Vec<Result<ActionOutcome>> {
        let Some(kind) = JobKind::of(action) else {
            return agents
                .iter()
                .map(|_| Err(self.not_supported(action.operation())))
                .collect();
        };
        if let Err(ns) = self.supports(action.operation()) {
            return agents.iter().map(|_| Err(ns.clone().into())).collect();
        }
        let group_id = match action {
            Action::Relocate(t) => match t.resolved_id.as_deref() {
                Some(g) => Some(g.to_string()),
                None => {
                    let e = self.err(ProviderError::input(
                        "relocate target was not resolved (prepare not run)",
                    ));
                    return agents.iter().map(|_| Err(e.clone())).collect();
                }
            },
            _ => None,
        };
        let mut results: Vec<Option<Result<ActionOutcome>>> = vec![None; agents.len()];
        let mut ids = Vec::new();
        let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, a) in agents.iter().enumerate() {
            match self.validate_agent_id(&a.agent_id) {
                Err(e) => results[i] = Some(Err(self.err(ProviderError::input(e)))),
                Ok(()) => {
                    let slots = positions.entry(a.agent_id.clone()).or_default();
                    if slots.is_empty() {
                        ids.push(a.agent_id.clone());
                    }
                    slots.push(i);
                }
            }
        }
        if !ids.is_empty() {
            let per_id: Vec<Result<ActionOutcome>> =
                match self.run_job(kind, &ids, group_id.as_deref()).await {
                    Err(e) => ids.iter().map(|_| Err(e.clone())).collect(),
                    Ok((job_id, task)) => {
                        let after = if job_fully_succeeded(&task, ids.len()) {
                            Ok(None)
                        } else {
                            self.assets_state(&ids).await.map(Some)
                        };
                        match after {
                            Err(mut e) => {
                                e.request_id.get_or_insert_with(|| job_id.clone());
                                ids.iter().map(|_| Err(e.clone())).collect()
                            }
                            Ok(after) => job_outcomes(
                                kind,
                                &job_id,
                                &task,
                                &ids,
                                group_id.as_deref(),
                                after.as_ref(),
                            )
                            .into_iter()
                            .map(|r| {
                                r.map_err(|msg| {
                                    let mut e = self.err(ProviderError::new(ErrorKind::Api, msg));
                                    e.request_id = Some(job_id.clone());
                                    e
                                })
                            })
                            .collect(),
                        }
                    }
                };
            for (id, r) in ids.iter().zip(per_id) {
                for &i in &positions[id] {
                    results[i] = Some(r.clone());
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(self.protocol("no result for an agent"))))
            .collect()
    }

    async fn assets_page(
        &self,
        after: Option<&str>,
        first: i32,
        filter: Option<&Value>,
    ) -> Result<AssetsPage> {
        let resp = self.assets_answer(after, first, filter).await?;
        self.generic_page(&resp)
    }

    async fn assets_answer(
        &self,
        after: Option<&str>,
        first: i32,
        filter: Option<&Value>,
    ) -> Result<HttpResponse> {
        let variables = json!({ "first": first, "after": after, "filter": filter });
        self.post_to(self.graphql_url(), &documents::ASSETS_PAGE, &variables)
            .await
    }

    /// One `assetsV2` page, each asset with its vendor JSON (`keep_raw`) or without: then a
    /// plain success is read straight into typed assets (no JSON tree of the page, no copy
    /// of each asset), and anything else generically, for its precise error.
    async fn assets_page_of(
        &self,
        after: Option<&str>,
        first: i32,
        filter: Option<&Value>,
        keep_raw: bool,
    ) -> Result<AssetsPage<(Option<Asset>, Value)>> {
        let resp = self.assets_answer(after, first, filter).await?;
        if !keep_raw
            && resp.is_success()
            && let Some(page) = serde_json::from_slice::<AssetsAnswer>(&resp.body)
                .ok()
                .and_then(AssetsAnswer::page)
        {
            return Ok(AssetsPage {
                total_count: page.total_count,
                assets: page
                    .assets
                    .into_iter()
                    .map(|a| (Some(a), Value::Null))
                    .collect(),
                page_info: page.page_info,
            });
        }
        let page = self.generic_page(&resp)?;
        Ok(AssetsPage {
            total_count: page.total_count,
            assets: page.assets.into_iter().map(|raw| (None, raw)).collect(),
            page_info: page.page_info,
        })
    }

    /// A page's asset as a record; the vendor JSON kept only with `keep_raw`.
    fn page_record(
        &self,
        (asset, raw): (Option<Asset>, Value),
        keep_raw: bool,
    ) -> Result<AgentRecord> {
        let asset = match asset {
            Some(a) => a,
            None => self.asset(&raw)?,
        };
        Ok(self.asset_record(asset, if keep_raw { raw } else { Value::Null }))
    }

    /// An `assetsV2` answer read generically (a JSON tree): every error said precisely.
    fn generic_page(&self, resp: &HttpResponse) -> Result<AssetsPage> {
        let data = self.data_field(resp, "list assets (assetsV2)", "assetsV2")?;
        if data.is_null() {
            return Err(self.protocol("list assets (assetsV2): the answer has no assetsV2"));
        }
        AssetsPage::deserialize(&data)
            .map_err(|e| self.protocol(format!("unexpected assetsV2 answer: {e}")))
    }

    fn client_object(&self, raw: Value) -> Result<ApiClient> {
        let c = Client::deserialize(&raw)
            .map_err(|e| self.protocol(format!("unexpected client object: {e}")))?;
        Ok(c.into_api_client(raw))
    }

    /// Run a mutation that issues a secret (`createClient`, `rotateClientSecret`: `NewClient
    /// { clientSecret client }`, PYSDK `services/clients/types.py`). Once a secret is in the
    /// answer it is handed back whatever else is wrong with it (an extra envelope, a `client`
    /// that is null or unreadable, `errors[]` next to the data); what could not be read goes
    /// into `problem`. `Ok(None)`: the server answered `data.<field> = null` (no such client).
    async fn issue(
        &self,
        what: &str,
        document: &str,
        field: &str,
        variables: Value,
        known_id: Option<&str>,
    ) -> Result<Option<NewClientSecret>> {
        let resp = self
            .post_to(self.graphql_url(), document, &variables)
            .await?;
        if !resp.is_success() {
            return Err(self.err(http_error(what, &resp, self.auth.fixed)));
        }
        let lost = |why: &str| {
            self.protocol(format!(
                "{what}: the server answered HTTP {} but {why}; if it issued a secret, that secret cannot be recovered: rotate the client to issue a new one",
                resp.status.as_u16()
            ))
        };
        let body: Value =
            serde_json::from_slice(&resp.body).map_err(|_| lost("the answer is not JSON"))?;
        let errors: Vec<GraphQlError> = body
            .get("errors")
            .cloned()
            .and_then(|e| serde_json::from_value(e).ok())
            .unwrap_or_default();
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let found = find_string_fields(&data, SECRET_FIELDS);
        let secret = match found.as_slice() {
            [] if !errors.is_empty() => {
                return Err(self.err(graphql_error(
                    what,
                    resp.status.as_u16(),
                    &errors,
                    resp.request_id.clone(),
                )));
            }
            [] if data.get(field).is_some_and(Value::is_null) => return Ok(None),
            [] => return Err(lost("the answer has no clientSecret")),
            [(_, s), rest @ ..] if rest.iter().all(|(_, other)| other == s) => s.to_string(),
            _ => return Err(lost("the answer has several different secrets")),
        };
        if secret.is_empty() {
            return Err(lost("the answer's clientSecret is empty"));
        }
        let mut problems: Vec<String> = errors
            .iter()
            .map(|e| format!("server error: {}", e.message))
            .collect();
        let path = &found[0].0;
        let documented = [
            format!("{field}.clientSecret"),
            format!("{field}.client_secret"),
        ];
        let holder = if documented.contains(path) {
            data.get(field).cloned().unwrap_or(Value::Null)
        } else {
            problems.push(format!(
                "the answer is not the documented data.{field} {{ clientSecret client }} (the secret was at data.{path})"
            ));
            let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
            parent
                .split('.')
                .filter(|s| !s.is_empty())
                .try_fold(&data, |v, seg| v.get(seg))
                .cloned()
                .unwrap_or(Value::Null)
        };
        let mut raw = holder.get("client").cloned().unwrap_or(Value::Null);
        strip_fields(&mut raw, SECRET_FIELDS);
        let client = match Client::deserialize(&raw) {
            Ok(c) => c.into_api_client(raw),
            Err(_) => {
                problems.push(if raw.is_null() {
                    "the answer has no client".to_string()
                } else {
                    "its client has no readable id".to_string()
                });
                let mut partial = ApiClient::partial(known_id.unwrap_or_default(), raw.clone());
                if let Some(name) = raw.get("name").and_then(Value::as_str) {
                    partial.name = name.to_string();
                }
                if let Some(cid) = raw.get("clientID").and_then(Value::as_str) {
                    partial.client_id = cid.to_string();
                }
                partial
            }
        };
        let problem = (!problems.is_empty()).then(|| {
            format!(
                "{what}: the answer is not what Taegis documents: {}",
                problems.join("; ")
            )
            .replace(&secret, "[secret]")
        });
        Ok(Some(NewClientSecret {
            client,
            client_secret: SecretString::from(secret),
            problem,
        }))
    }

    fn check_client_id(&self, id: &str) -> Result<()> {
        if is_asset_id(id) {
            Ok(())
        } else {
            Err(self.err(ProviderError::input(format!(
                "{id:?} is not a Taegis client id"
            ))))
        }
    }

    fn not_found(&self, what: String) -> ProviderError {
        let mut e = self.err(ProviderError::new(ErrorKind::Api, what));
        e.status = None;
        e
    }
}

#[async_trait]
impl Provider for Taegis {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn supports(&self, op: Operation) -> Result<(), NotSupported> {
        match op {
            Operation::List
            | Operation::Stale
            | Operation::Uninstall
            | Operation::Remove
            | Operation::Restore
            | Operation::Relocate
            | Operation::Clients => Ok(()),
        }
    }

    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Result<AgentRecord>> {
        self.list_tallied(query, ListTally::default())
    }

    /// `totalCount` of the first page against the assets of every page.
    fn list_tallied<'a>(
        &'a self,
        query: &'a ListQuery,
        tally: ListTally,
    ) -> BoxStream<'a, Result<AgentRecord>> {
        let filter = list_filter(query);
        // State: the cursor to continue after (None = first page), or done.
        futures::stream::try_unfold(Some(None::<String>), move |state| {
            let filter = filter.clone();
            let tally = tally.clone();
            async move {
                let Some(after) = state else {
                    return Ok::<_, ProviderError>(None);
                };
                let page = self
                    .assets_page_of(
                        after.as_deref(),
                        unconfirmed::ASSETS_PAGE_SIZE,
                        filter.as_ref(),
                        query.keep_raw,
                    )
                    .await?;
                if page.assets.len() > unconfirmed::ASSETS_PAGE_SIZE as usize {
                    return Err(self.protocol(format!(
                        "assetsV2 returned {} assets for first={}",
                        page.assets.len(),
                        unconfirmed::ASSETS_PAGE_SIZE
                    )));
                }
                let next = match page.page_info {
                    Some(info) if info.has_next_page => match info.end_cursor {
                        Some(c) if Some(&c) != after.as_ref() && !page.assets.is_empty() => {
                            Some(Some(c))
                        }
                        _ => {
                            return Err(self.protocol(
                                "assetsV2 reports a next page but its endCursor does not advance",
                            ));
                        }
                    },
                    _ => None,
                };
                if let Some(total) = page.total_count {
                    tally.report_total(total.max(0) as u64);
                }
                tally.add_received(page.assets.len() as u64);
                let mut records = Vec::with_capacity(page.assets.len());
                for item in page.assets {
                    let r = self.page_record(item, query.keep_raw)?;
                    if query.host.as_ref().is_none_or(|h| h.matches(&r.hostname)) {
                        records.push(Ok(r));
                    }
                }
                Ok(Some((futures::stream::iter(records), next)))
            }
        })
        .try_flatten()
        .boxed()
    }

    fn validate_agent_id(&self, id: &str) -> Result<(), String> {
        if is_asset_id(id) {
            Ok(())
        } else {
            Err(format!(
                "'{id}' is not a Taegis asset id (non-empty, without spaces or control characters)"
            ))
        }
    }

    async fn recheck(&self, agent_id: &str) -> Result<Recheck> {
        self.validate_agent_id(agent_id)
            .map_err(|e| self.err(ProviderError::input(e)))?;
        let filter = json!({ "where": { "id": agent_id } });
        let page = self.assets_page(None, 1, Some(&filter)).await?;
        match page.assets.into_iter().next() {
            None => Ok(Recheck::Gone),
            Some(raw) => {
                let r = self.record(raw)?;
                if r.agent_id != agent_id {
                    return Err(self.protocol(format!(
                        "re-check of asset {agent_id} returned asset {}",
                        r.agent_id
                    )));
                }
                Ok(Recheck::Present(Box::new(r)))
            }
        }
    }

    /// Re-check in batches: one `assetsV2` query per [`unconfirmed::RECHECK_BATCH`] agents,
    /// filtered by `where: {or: [{id: …}, …]}` (`AssetWhereInputV2` has an exact `id` and
    /// `or`, but no id-list field), batches in flight `concurrency` at a time. An agent the
    /// filtered answer does not hold is gone. Declined (`None`) for a single agent, where
    /// the per-agent query costs the same.
    async fn recheck_bulk(&self, agents: &[AgentRef]) -> Result<Option<HashMap<String, Recheck>>> {
        let mut ids: Vec<&str> = agents.iter().map(|a| a.agent_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() < 2 {
            return Ok(None);
        }
        for id in &ids {
            self.validate_agent_id(id)
                .map_err(|e| self.err(ProviderError::input(e)))?;
        }
        let batch = unconfirmed::RECHECK_BATCH.min(unconfirmed::ASSETS_PAGE_SIZE as usize);
        let batches: Vec<Vec<String>> = ids
            .chunks(batch)
            .map(|c| c.iter().map(|id| id.to_string()).collect())
            .collect();
        let requests = std::sync::atomic::AtomicU64::new(0);
        let found: Vec<Vec<AgentRecord>> = futures::stream::iter(batches)
            .map(|chunk: Vec<String>| {
                let requests = &requests;
                async move {
                    let filter = json!({ "where": { "or": chunk
                        .iter()
                        .map(|id| json!({ "id": id }))
                        .collect::<Vec<_>>() } });
                    let mut records = Vec::with_capacity(chunk.len());
                    let mut after: Option<String> = None;
                    loop {
                        requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let page = self
                            .assets_page_of(after.as_deref(), batch as i32, Some(&filter), false)
                            .await?;
                        for item in page.assets {
                            let r = self.page_record(item, false)?;
                            if chunk.contains(&r.agent_id) {
                                records.push(r);
                            }
                        }
                        match page.page_info {
                            Some(info) if info.has_next_page => match info.end_cursor {
                                Some(c) if Some(&c) != after.as_ref() => after = Some(c),
                                _ => {
                                    return Err(self.protocol(
                                        "assetsV2 reports a next page but its endCursor does not advance",
                                    ));
                                }
                            },
                            _ => break,
                        }
                    }
                    Ok::<_, ProviderError>(records)
                }
            })
            .buffer_unordered(self.http.concurrency())
            .try_collect()
            .await?;
        let mut map = HashMap::with_capacity(ids.len());
        for r in found.into_iter().flatten() {
            map.insert(r.agent_id.clone(), Recheck::Present(Box::new(r)));
        }
        tracing::info!(
            provider = %self.name,
            "re-check of {} agents: assetsV2 filtered by id in batches of {batch}; {} requests ({} present, {} gone)",
            ids.len(),
            requests.into_inner(),
            map.len(),
            ids.len() - map.len()
        );
        Ok(Some(map))
    }

    async fn prepare(&self, action: &Action) -> Result<Action> {
        self.supports(action.operation())
            .map_err(ProviderError::from)?;
        // Obtain the token now, so a credential problem stops the run before the first change.
        self.auth.cache.get().await.map_err(|e| self.err(e))?;
        match action {
            Action::Relocate(target) => {
                if target.folder.is_some() {
                    return Err(self.err(ProviderError::input(
                        "Taegis endpoint groups have no folders; drop --folder",
                    )));
                }
                let groups = self.endpoint_groups().await?;
                let group = resolve_group(&groups, &target.to)
                    .map_err(|e| self.err(ProviderError::input(e)))?;
                Ok(Action::Relocate(RelocateTarget {
                    to: group.name.clone().unwrap_or_else(|| group.id.clone()),
                    resolved_id: Some(group.id),
                    ..target.clone()
                }))
            }
            other => Ok(other.clone()),
        }
    }

    fn describe(&self, action: &Action, agent: &AgentRef) -> String {
        let graphql = self.graphql_url();
        let tenant = format!("({TENANT_HEADER}: {})", self.tenant_id);
        match JobKind::of(action) {
            None => format!(
                "POST {graphql} {tenant} mutation markForUninstall(input: {})",
                json!({
                    "endpointID": agent.agent_id,
                    "reason": UNINSTALL_REASON,
                    "requestID": "<new UUID>"
                })
            ),
            Some(kind) => {
                let group = match action {
                    Action::Relocate(t) => t.resolved_id.as_deref(),
                    _ => None,
                };
                format!(
                    "POST {graphql} {tenant} mutation {}(input: {}) in a job of up to {} assets, then poll {}",
                    kind.mutation(),
                    job_input(kind, std::slice::from_ref(&agent.agent_id), group),
                    unconfirmed::BULK_JOB_BATCH_SIZE,
                    kind.status_query()
                )
            }
        }
    }

    fn batch_size(&self, action: &Action) -> usize {
        match JobKind::of(action) {
            Some(_) => unconfirmed::BULK_JOB_BATCH_SIZE,
            None => 1,
        }
    }

    async fn act_batch(&self, action: &Action, agents: &[AgentRef]) -> Vec<Result<ActionOutcome>> {
        if JobKind::of(action).is_none() {
            let mut out = Vec::with_capacity(agents.len());
            for a in agents {
                out.push(self.act(action, a).await);
            }
            return out;
        }
        // Larger inputs: one job per batch, a few jobs in flight, results in input order.
        let jobs: Vec<futures::future::BoxFuture<'_, Vec<Result<ActionOutcome>>>> = agents
            .chunks(unconfirmed::BULK_JOB_BATCH_SIZE)
            .map(|chunk| futures::FutureExt::boxed(self.job_batch(action, chunk)))
            .collect();
        futures::stream::iter(jobs)
            .buffered(unconfirmed::JOBS_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn act(&self, action: &Action, agent: &AgentRef) -> Result<ActionOutcome> {
        if JobKind::of(action).is_some() {
            return self
                .job_batch(action, std::slice::from_ref(agent))
                .await
                .pop()
                .unwrap_or_else(|| Err(self.protocol("no result for the agent")));
        }
        self.validate_agent_id(&agent.agent_id)
            .map_err(|e| self.err(ProviderError::input(e)))?;
        let request_id = new_request_id();
        let variables = json!({ "input": {
            "endpointID": agent.agent_id,
            "reason": UNINSTALL_REASON,
            "requestID": request_id,
        }});
        let data = self
            .call(
                "uninstall (markForUninstall)",
                documents::MARK_FOR_UNINSTALL,
                "markForUninstall",
                variables,
            )
            .await?;
        if data.is_null() {
            return Err(self.protocol("markForUninstall returned no result"));
        }
        let result = CommandResult::deserialize(&data)
            .map_err(|e| self.protocol(format!("unexpected markForUninstall result: {e}")))?;
        uninstall_outcome(result, request_id)
            .map_err(|msg| self.err(ProviderError::new(ErrorKind::Api, msg)))
    }

    async fn doctor(&self) -> Vec<Check> {
        let mut checks = vec![Check {
            name: "config (api, tenant, credentials)".into(),
            ok: true,
            detail: format!(
                "{} ({}), tenant {}, {}",
                self.api.as_str().trim_end_matches('/'),
                self.region.unwrap_or("api_url"),
                self.tenant_id,
                self.credential_label
            ),
            latency_ms: None,
        }];
        let token = Check::timed("token", async {
                let (token, _) = self.auth.cache.get().await.map_err(|e| self.err(e).reason())?;
                let exp = jwt_exp(token.expose_secret());
                let left = exp.map(|e| until_exp(e, SystemTime::now()));
                if self.auth.fixed {
                    match left {
                        Some(d) if d.is_zero() => Err("the bearer token has expired (its exp claim is in the past); get a new one".into()),
                        Some(d) => Ok(format!("ready bearer token, valid for another {} min", d.as_secs() / 60)),
                        None => Ok("ready bearer token (not a JWT; its expiry is unknown)".into()),
                    }
                } else {
                    Ok(format!(
                        "POST {}{}",
                        crate::auth::TOKEN_PATH,
                        left.map(|d| format!(": valid for {} min", d.as_secs() / 60)).unwrap_or_default()
                    ))
                }
            })
            .await;
        let token_ok = token.ok;
        checks.push(token);
        if token_ok {
            checks.push(
                Check::timed("assets (read) and tenant", async {
                    let data = self
                        .call(
                            "assetsV2",
                            documents::ASSETS_COUNT,
                            "assetsV2",
                            json!({"first": 1}),
                        )
                        .await
                        .map_err(|e| e.reason())?;
                    let total = data.get("totalCount").and_then(Value::as_i64);
                    Ok(format!(
                        "assetsV2 for tenant {}: {} assets",
                        self.tenant_id,
                        total.map_or("?".into(), |t| t.to_string())
                    ))
                })
                .await,
            );
        }
        checks
    }

    async fn list_clients(&self) -> Result<Vec<ApiClient>> {
        let mut out: Vec<ApiClient> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let per_page = unconfirmed::CLIENTS_PER_PAGE;
        let mut offset = unconfirmed::CLIENTS_FIRST_PAGE_OFFSET;
        loop {
            let variables = json!({ "filters": { "pageOffset": offset, "perPage": per_page } });
            let data = self
                .call(
                    "list clients (clientsSearch)",
                    &documents::CLIENTS_SEARCH,
                    "clientsSearch",
                    variables,
                )
                .await?;
            if data.is_null() {
                return Err(self.protocol("clientsSearch returned no result"));
            }
            let page = ClientSearchResults::deserialize(&data)
                .map_err(|e| self.protocol(format!("unexpected clientsSearch answer: {e}")))?;
            let results = page.results.unwrap_or_default();
            let got = results.len();
            let mut new = 0;
            for raw in results {
                let c = self.client_object(raw)?;
                if seen.insert(c.id.clone()) {
                    new += 1;
                    out.push(c);
                }
            }
            let total = page.total_count.map(|t| t.max(0) as usize);
            let done = match total {
                Some(t) => out.len() >= t,
                None => got < per_page as usize,
            };
            if done || got == 0 || new == 0 {
                if let Some(t) = total
                    && out.len() < t
                {
                    return Err(self.protocol(format!(
                        "clientsSearch reports {t} clients but paging returned {}",
                        out.len()
                    )));
                }
                return Ok(out);
            }
            offset += if unconfirmed::CLIENTS_PAGE_OFFSET_COUNTS_PAGES {
                1
            } else {
                got as i32
            };
        }
    }

    async fn get_client(&self, id: &str) -> Result<ApiClient> {
        self.check_client_id(id)?;
        let data = self
            .call(
                "get client",
                &documents::CLIENT,
                "client",
                json!({ "id": id }),
            )
            .await?;
        if data.is_null() {
            return Err(self.not_found(format!("client {id} not found")));
        }
        self.client_object(data)
    }

    async fn create_client(&self, new: &NewClient) -> Result<NewClientSecret> {
        let name = new.name.trim();
        if name.is_empty() {
            return Err(self.err(ProviderError::input("the API client needs a name")));
        }
        if new.expire_at.is_some() {
            return Err(self.err(ProviderError::input(
                "Taegis API clients do not expire; drop --expire-at (delete the client when it is no longer needed)",
            )));
        }
        let roles = role_ids(&new.roles).map_err(|e| self.err(ProviderError::input(e)))?;
        // No roles: the server assigns Tenant Analyst.
        let variables = if roles.is_empty() {
            json!({ "name": name })
        } else {
            json!({ "name": name, "roles": roles })
        };
        let issued = self
            .issue(
                "create client",
                &documents::CREATE_CLIENT,
                "createClient",
                variables,
                None,
            )
            .await?;
        let mut issued =
            issued.ok_or_else(|| self.protocol("create client: the server returned no client"))?;
        if issued.client.name.is_empty() {
            issued.client.name = name.to_string();
        }
        Ok(issued)
    }

    async fn rotate_client(&self, id: &str) -> Result<NewClientSecret> {
        self.check_client_id(id)?;
        self.issue(
            "rotate client secret",
            &documents::ROTATE_CLIENT_SECRET,
            "rotateClientSecret",
            json!({ "id": id }),
            Some(id),
        )
        .await?
        .ok_or_else(|| self.not_found(format!("client {id} not found")))
    }

    async fn delete_client(&self, id: &str) -> Result<()> {
        self.check_client_id(id)?;
        let data = self
            .call(
                "delete client",
                &documents::DELETE_CLIENT,
                "deleteClient",
                json!({ "id": id }),
            )
            .await?;
        if data.is_null() {
            return Err(self.not_found(format!("client {id} not found")));
        }
        Ok(())
    }

    /// The configured `client_id` (a ready bearer token names no client).
    fn own_client_ids(&self) -> Vec<String> {
        self.own_client_id.iter().cloned().collect()
    }
}

/// Where an issued secret is: `clientSecret`, or the deprecated `client_secret`.
const SECRET_FIELDS: &[&str] = &["clientSecret", "client_secret"];

#[cfg(test)]
mod tests {
    use super::*;
    use agentctl_core::HostPattern;

    #[test]
    fn asset_ids() {
        assert!(is_asset_id("0b5d8e2a-3c41-4f7e-9a10-2d6c8b4e1f00"));
        assert!(is_asset_id("abc"));
        assert!(!is_asset_id(""));
        assert!(!is_asset_id("a b"));
        assert!(!is_asset_id("a\tb"));
        assert!(!is_asset_id(&"x".repeat(257)));
    }

    #[test]
    fn cutoff_is_rounded_up_to_the_second() {
        let t: Timestamp = "2026-10-01T12:00:00Z".parse().unwrap();
        assert_eq!(last_seen_lt_param(t), "2026-10-01T12:00:00Z");
        let t: Timestamp = "2026-10-01T12:00:00.000001Z".parse().unwrap();
        assert_eq!(last_seen_lt_param(t), "2026-10-01T12:00:01Z");
    }

    #[test]
    fn host_hints_are_case_free_runs() {
        let h = |p: &str| host_hint(&HostPattern::new(p));
        assert_eq!(
            h("büro-pc-0042"),
            Some(("hostname_contains", "-0042".into()))
        );
        assert_eq!(h("*-10.2*"), Some(("hostname_contains", "-10.2".into())));
        assert_eq!(
            h("ws-fin-1?3"),
            None,
            "runs shorter than the minimum are not sent"
        );
        assert_eq!(h("wkst*"), None);
        assert_eq!(h("東京-lt-12"), Some(("hostname_contains", "東京-".into())));
    }

    #[test]
    fn filters_follow_the_query() {
        let cutoff: Timestamp = "2026-10-01T12:00:00.5Z".parse().unwrap();
        let q = ListQuery {
            last_seen_before: Some(cutoff),
            ..ListQuery::default()
        };
        assert_eq!(
            list_filter(&q),
            Some(json!({"where": {"lastSeenAt_lt": "2026-10-01T12:00:01Z"}}))
        );
        let q = ListQuery {
            include_unknown: true,
            ..q
        };
        assert_eq!(
            list_filter(&q),
            None,
            "assets without lastSeenAt are wanted"
        );
        let q = ListQuery {
            host: Some(HostPattern::new("*-0042")),
            ..ListQuery::default()
        };
        assert_eq!(
            list_filter(&q),
            Some(json!({"where": {"hostname_contains": "-0042"}}))
        );
        assert_eq!(list_filter(&ListQuery::default()), None);
    }

    #[test]
    fn uninstall_results() {
        let r = |v: Value| CommandResult::deserialize(&v).unwrap();
        let ok = uninstall_outcome(
            r(json!({"Success": true, "Reason": "queued", "requestID": "q1"})),
            "q1".into(),
        );
        assert_eq!(
            ok,
            Ok(ActionOutcome::Requested {
                detail: "markForUninstall accepted: queued (requestID q1)".into(),
                request_id: Some("q1".into())
            })
        );
        // The server did not echo the id: the one sent is recorded.
        let ok = uninstall_outcome(r(json!({"Success": true})), "q2".into()).unwrap();
        assert!(
            matches!(ok, ActionOutcome::Requested { request_id: Some(ref id), .. } if id == "q2")
        );
        let dup = uninstall_outcome(
            r(json!({"Success": false, "Reason": "Duplicate requestID q3"})),
            "q3".into(),
        )
        .unwrap();
        assert!(
            matches!(dup, ActionOutcome::Requested { ref detail, .. } if detail.contains("already accepted"))
        );
        let refused = uninstall_outcome(
            r(json!({"Success": false, "Reason": "sensor offline"})),
            "q4".into(),
        )
        .unwrap_err();
        assert_eq!(
            refused,
            "markForUninstall refused: sensor offline (requestID q4)"
        );
        let refused = uninstall_outcome(r(json!({"Success": null})), "q5".into()).unwrap_err();
        assert!(refused.contains("no reason given"));
        let gone = uninstall_outcome(
            r(json!({"Success": false, "Reason": "endpoint e1 not found"})),
            "q6".into(),
        )
        .unwrap();
        assert!(matches!(gone, ActionOutcome::Skipped { ref why, .. } if why == "gone"));
    }

    #[test]
    fn request_ids_are_unique_v4_uuids() {
        let a = new_request_id();
        let b = new_request_id();
        assert_ne!(a, b);
        assert!(crate::model::is_uuid(&a));
        assert_eq!(&a[14..15], "4");
    }
}
