//! The Taegis provider: endpoint assets (list, stale, re-check, `markForUninstall`) and API
//! clients, over the GraphQL gateway.

use std::collections::HashMap;
use std::time::SystemTime;

use agentctl_core::http::{HttpClient, HttpOptions, HttpResponse};
use agentctl_core::provider::{Check, find_string_fields, strip_fields};
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ApiClient, ErrorKind, ListQuery, NewClient,
    NewClientSecret, NotSupported, Operation, Provider, ProviderError, Recheck, Result,
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
    Asset, AssetsPage, Client, ClientSearchResults, CommandResult, GraphQlError, GraphQlResponse,
    role_ids,
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
        })
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

    /// POST one document; the raw HTTP answer.
    async fn post(&self, document: &str, variables: &Value) -> Result<HttpResponse> {
        let url = self.graphql_url();
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
        let resp = self.post(document, &variables).await?;
        if !resp.is_success() {
            return Err(self.err(http_error(what, &resp, self.auth.fixed)));
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
        let asset = Asset::deserialize(&raw)
            .map_err(|e| self.protocol(format!("unexpected asset object: {e}")))?;
        let c = asset.columns();
        if let Some(text) = &c.unreadable_last_seen {
            tracing::warn!(provider = %self.name, "{}: unreadable lastSeenAt {text}; treated as unknown", c.agent_id);
        }
        Ok(AgentRecord {
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
            pending_uninstall: false,
            raw,
        })
    }

    async fn assets_page(
        &self,
        after: Option<&str>,
        first: i32,
        filter: Option<&Value>,
    ) -> Result<AssetsPage> {
        let variables = json!({ "first": first, "after": after, "filter": filter });
        let data = self
            .call(
                "list assets (assetsV2)",
                &documents::ASSETS_PAGE,
                "assetsV2",
                variables,
            )
            .await?;
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
        let resp = self.post(document, &variables).await?;
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
            Operation::List | Operation::Stale | Operation::Uninstall | Operation::Clients => {
                Ok(())
            }
            Operation::Relocate => Err(NotSupported {
                provider: self.name.clone(),
                operation: op.name().to_string(),
                reason: "Taegis has no relocate operation".into(),
            }),
            Operation::Remove | Operation::Restore => Err(NotSupported {
                provider: self.name.clone(),
                operation: op.name().to_string(),
                reason: format!("{} is not implemented yet for Taegis", op.name()),
            }),
        }
    }

    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Result<AgentRecord>> {
        let filter = list_filter(query);
        // State: the cursor to continue after (None = first page), or done.
        futures::stream::try_unfold(Some(None::<String>), move |state| {
            let filter = filter.clone();
            async move {
                let Some(after) = state else {
                    return Ok::<_, ProviderError>(None);
                };
                let page = self
                    .assets_page(
                        after.as_deref(),
                        unconfirmed::ASSETS_PAGE_SIZE,
                        filter.as_ref(),
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
                let mut records = Vec::with_capacity(page.assets.len());
                for raw in page.assets {
                    let mut r = self.record(raw)?;
                    if !query.keep_raw {
                        r.raw = Value::Null;
                    }
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
                            .assets_page(after.as_deref(), batch as i32, Some(&filter))
                            .await?;
                        for raw in page.assets {
                            let mut r = self.record(raw)?;
                            if chunk.contains(&r.agent_id) {
                                r.raw = Value::Null;
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
        Ok(action.clone())
    }

    fn describe(&self, action: &Action, agent: &AgentRef) -> String {
        match action {
            Action::Uninstall => format!(
                "POST {} ({TENANT_HEADER}: {}) mutation markForUninstall(input: {})",
                self.graphql_url(),
                self.tenant_id,
                json!({
                    "endpointID": agent.agent_id,
                    "reason": UNINSTALL_REASON,
                    "requestID": "<new UUID>"
                })
            ),
            other => format!("{} is not supported by {KIND}", other.name()),
        }
    }

    async fn act(&self, action: &Action, agent: &AgentRef) -> Result<ActionOutcome> {
        if !matches!(action, Action::Uninstall) {
            return Err(self.not_supported(action.operation()));
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
