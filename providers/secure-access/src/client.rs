//! The Secure Access provider: roaming computers (list, stale, re-check, delete), network
//! tunnel groups (`tunnels`), and API keys through the Key Admin API (`clients`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use agentctl_core::http::{HttpClient, HttpOptions, HttpResponse};
use agentctl_core::provider::{Check, Listing};
use agentctl_core::provider::{find_string_fields, strip_fields};
use agentctl_core::ratelimit::RateLimitSpec;
use agentctl_core::time::parse_timestamp;
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ApiClient, ListQuery, NewClient, NewClientSecret,
    NotSupported, Operation, Provider, ProviderError, Recheck, Result,
};
use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Value, json};
use url::Url;

use crate::auth::{KeyAuth, Tracked};
use crate::config::Config;
use crate::error::{Scope, api_error, is_expired_token_400, vendor_message};
use crate::keyadmin;
use crate::model::{
    ApiKey, KeysResponseList, RoamingComputer, TunnelGroup, TunnelGroupPage, id_text,
};
use crate::unconfirmed;

pub const KIND: &str = "secure-access";

/// The published per-key quotas of the deployments and admin scopes, all held at once. The
/// binary uses this when the provider sets no `rate_limit`.
pub const DEFAULT_RATE_LIMIT: &str = "5/s, 14/min, 350/30min";

/// The token endpoint's own quota per key.
pub const TOKEN_RATE_LIMIT: &str = "20/min";

/// Roaming computers: the documented maximum `limit`.
pub const PAGE_SIZE: u32 = 100;

/// Roaming-computer pages a listing asks for ahead of the one it reads (the list has no
/// total); at most `concurrency`.
pub const SPECULATIVE_PAGES: usize = 4;

/// Network tunnel groups: the documented maximum `limit`.
pub const TUNNEL_PAGE_SIZE: u32 = 200;

const ROAMING_PATH: &str = "/deployments/v2/roamingcomputers";
const TUNNELS_PATH: &str = "/deployments/v2/networktunnelgroups";

/// One API key's HTTP client (with that key's quota) and its tokens.
struct Channel {
    http: HttpClient,
    auth: KeyAuth,
    key: String,
}

pub struct SecureAccess {
    name: String,
    api: Url,
    org_id: Option<String>,
    main: Channel,
    admin: Option<Channel>,
}

/// Is `id` a roaming computer `deviceId` (hex digits)?
pub fn is_device_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= unconfirmed::DEVICE_ID_MAX_LEN
        && id.chars().all(|c| c.is_ascii_hexdigit())
}

/// After page `page` returned `got` items with `limit` asked: the next page, if any. The
/// list has no total, so a short (or empty) page is the last one; a full page may be
/// followed by an empty one (a fleet that is an exact multiple of `limit`).
pub fn next_page(page: u32, limit: u32, got: usize) -> Result<Option<u32>, String> {
    if got > limit as usize {
        return Err(format!(
            "page {page} has {got} roaming computers, more than limit={limit}"
        ));
    }
    if got < limit as usize {
        return Ok(None);
    }
    // A server that answers full pages forever runs out of page numbers, not memory.
    page.checked_add(1)
        .map(Some)
        .ok_or_else(|| format!("page {page} is full and there is no page number after it"))
}

/// After a tunnel-group page at `offset` with `got` items and the reported `total`: the
/// next offset, if any.
pub fn next_offset(offset: u64, got: usize, total: u64) -> Result<Option<u64>, String> {
    let Some(next) = offset.checked_add(got as u64) else {
        return Err(format!(
            "offset {offset} plus {got} tunnel groups is past any offset the API can take"
        ));
    };
    if next >= total {
        Ok(None)
    } else if got == 0 {
        Err(format!(
            "the server reports {total} tunnel groups but returned none at offset {offset}"
        ))
    } else {
        Ok(Some(next))
    }
}

/// `lastSyncBefore` for a cutoff, rounded up to the millisecond the API's timestamps carry,
/// so the server returns a superset of what the client-side rule keeps.
pub fn last_sync_before_param(cutoff: Timestamp) -> String {
    let ns = cutoff.as_nanosecond();
    let ms = ns.div_euclid(1_000_000) + i128::from(ns.rem_euclid(1_000_000) != 0);
    let rounded = Timestamp::from_millisecond(ms as i64).unwrap_or(cutoff);
    format!(
        "{}.{:03}Z",
        rounded.strftime("%Y-%m-%dT%H:%M:%S"),
        rounded.subsec_millisecond()
    )
}

/// A path segment that cannot change the path (ids from the user).
fn check_segment(what: &str, id: &str) -> Result<()> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || id == "."
        || id == ".."
    {
        return Err(ProviderError::input(format!(
            "{what} {id:?} is not a valid id (letters, digits, '-', '_' and '.')"
        )));
    }
    Ok(())
}

fn rid(resp: &HttpResponse) -> String {
    resp.request_id
        .as_deref()
        .map(|r| format!(" (request id {r})"))
        .unwrap_or_default()
}

fn timestamp_field(v: Option<&str>) -> Option<Timestamp> {
    v.and_then(parse_timestamp)
}

impl SecureAccess {
    pub fn new(name: &str, config: &Config, opts: HttpOptions) -> Result<Self> {
        let resolved = config.resolve().map_err(|e| e.with_provider(name))?;
        let token_spec = RateLimitSpec::parse(TOKEN_RATE_LIMIT).expect("valid built-in quota");
        let api_spec = opts.rate_limit.clone();
        let http = HttpClient::new(opts).map_err(|e| e.with_provider(name))?;
        let org = resolved.org_id.as_deref();
        let main = Channel {
            auth: KeyAuth::new(
                &http.with_rate_limit(&token_spec),
                &resolved.api_url,
                &resolved.api,
                org,
                "token for api_key",
            )
            .map_err(|e| e.with_provider(name))?,
            key: resolved.api.key.clone(),
            http,
        };
        // The Key Admin key has its own quotas (they are per key).
        let admin = match &resolved.key_admin {
            None => None,
            Some(pair) => Some(Channel {
                auth: KeyAuth::new(
                    &main.http.with_rate_limit(&token_spec),
                    &resolved.api_url,
                    pair,
                    org,
                    "token for key_admin_key",
                )
                .map_err(|e| e.with_provider(name))?,
                key: pair.key.clone(),
                http: main.http.with_rate_limit(&api_spec),
            }),
        };
        Ok(Self {
            name: name.to_string(),
            api: resolved.api_url,
            org_id: resolved.org_id,
            main,
            admin,
        })
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.api.clone();
        url.set_path(path);
        url
    }

    fn device_url(&self, device_id: &str) -> Url {
        self.url(&format!("{ROAMING_PATH}/{device_id}"))
    }

    fn err(&self, e: ProviderError) -> ProviderError {
        e.with_provider(&self.name)
    }

    fn protocol(&self, msg: impl Into<String>) -> ProviderError {
        self.err(ProviderError::protocol(msg))
    }

    fn admin(&self) -> Result<&Channel> {
        self.admin.as_ref().ok_or_else(|| {
            self.err(
                ProviderError::config(format!(
                    "clients needs the Key Admin credential: set key_admin_key and key_admin_secret in [providers.{}]",
                    self.name
                ))
                .with_hint("create a Key Admin key in Secure Access (Admin > API Keys > Key Admin) with the admin.apikeys scopes"),
            )
        })
    }

    /// Send one request on `ch`: JSON accepted, the child-org header, and one more attempt
    /// with a fresh token when the answer is Umbrella's expired-token 400.
    async fn send<F>(&self, ch: &Channel, build: F) -> Result<HttpResponse>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let build = |c: &reqwest::Client| {
            let mut b = build(c).header(http::header::ACCEPT, "application/json");
            if unconfirmed::ORG_HEADER_ON_API_REQUESTS
                && let Some(org) = &self.org_id
            {
                b = b.header(unconfirmed::ORG_HEADER, org.as_str());
            }
            b
        };
        let mut retried = false;
        loop {
            let auth = Tracked::new(&ch.auth.bearer);
            let resp = ch.http.send(&auth, &build).await.map_err(|e| self.err(e))?;
            if unconfirmed::EXPIRED_TOKEN_MAY_BE_400_INVALID_REQUEST
                && !retried
                && is_expired_token_400(&resp)
            {
                retried = true;
                tracing::info!(provider = %self.name, "token answered as expired (400 invalid_request); refreshing");
                ch.auth.cache.invalidate(auth.generation()).await;
                continue;
            }
            return Ok(resp);
        }
    }

    /// An agent record from a roaming computer object, keeping `raw` as given.
    fn record(&self, raw: Value) -> Result<AgentRecord> {
        let c = RoamingComputer::deserialize(&raw)
            .map_err(|e| self.protocol(format!("unexpected roaming computer object: {e}")))?;
        Ok(self.record_from(c, raw))
    }

    fn record_from(&self, c: RoamingComputer, raw: Value) -> AgentRecord {
        let last_seen = match &c.last_sync {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => {
                let parsed = parse_timestamp(text);
                if parsed.is_none() {
                    tracing::warn!(provider = %self.name, "{}: unreadable lastSync {text:?}; treated as unknown", c.device_id);
                }
                parsed
            }
            Some(other) => {
                tracing::warn!(provider = %self.name, "{}: unreadable lastSync {other}; treated as unknown", c.device_id);
                None
            }
        };
        AgentRecord {
            provider: self.name.clone(),
            kind: KIND.to_string(),
            agent_id: c.device_id,
            hostname: c.name.unwrap_or_default(),
            last_seen,
            os: c
                .os_version_name
                .filter(|s| !s.is_empty())
                .or(c.os_version.filter(|s| !s.is_empty())),
            agent_version: c.version.filter(|s| !s.is_empty()),
            ip_addresses: Vec::new(),
            group: None,
            mac_addresses: Vec::new(),
            serial_number: None,
            pending_uninstall: false,
            raw,
        }
    }

    fn list_url(&self, page: u32, query: &ListQuery) -> Url {
        let mut url = self.url(ROAMING_PATH);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("page", &page.to_string());
            q.append_pair("limit", &PAGE_SIZE.to_string());
            if let Some(before) = query.last_seen_before
                && !(unconfirmed::SEND_LAST_SYNC_BEFORE_ONLY_WITHOUT_UNKNOWN
                    && query.include_unknown)
            {
                q.append_pair("lastSyncBefore", &last_sync_before_param(before));
            }
            if unconfirmed::SEND_NAME_FILTER
                && let Some(host) = query.host.as_ref().and_then(|h| h.exact())
            {
                q.append_pair("name", host);
            }
        }
        url
    }

    /// One page of roaming computers as records. Each object is parsed once: straight into
    /// [`RoamingComputer`] unless the caller keeps raw JSON.
    async fn list_page(&self, page: u32, query: &ListQuery) -> Result<Vec<AgentRecord>> {
        let url = self.list_url(page, query);
        let resp = self.send(&self.main, |c| c.get(url.clone())).await?;
        if !resp.is_success() {
            return Err(self.err(api_error(
                "list roaming computers",
                Scope::RoamingRead,
                &resp,
            )));
        }
        if query.keep_raw {
            let items: Vec<Value> = resp.json().map_err(|e| self.err(e))?;
            items.into_iter().map(|raw| self.record(raw)).collect()
        } else {
            let items: Vec<RoamingComputer> = resp.json().map_err(|e| self.err(e))?;
            Ok(items
                .into_iter()
                .map(|c| self.record_from(c, Value::Null))
                .collect())
        }
    }

    /// Every page of the listing, in order. The list has no total, so after a full first
    /// page the others are fetched speculatively: [`SPECULATIVE_PAGES`] (at most
    /// `concurrency`) in flight, handed on in page order, and the walk stops at the first
    /// short or empty page; the pages already asked for beyond it (at most the window less
    /// one) are dropped.
    fn pages<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Result<Vec<AgentRecord>>> {
        let window = self.main.http.concurrency().min(SPECULATIVE_PAGES);
        // The first page alone: a fleet that fits on it costs one request, not a window.
        let first = futures::stream::once(async move { (1, self.list_page(1, query).await) });
        // Once the last page is seen, no further page is asked for, and the ones in flight
        // are awaited rather than abandoned (their quota use is then known exactly).
        let stop = Arc::new(AtomicBool::new(false));
        let more = stop.clone();
        let rest = futures::stream::iter(2u32..=u32::MAX)
            .take_while(move |_| std::future::ready(!more.load(Ordering::SeqCst)))
            .map(move |page| async move { (page, self.list_page(page, query).await) })
            .buffered(window);
        let fetched = first.chain(rest).boxed();
        // State: the pages in flight, the first deviceId of the previous page (a server that
        // ignored `page` would repeat it forever), and whether the last page was seen.
        futures::stream::try_unfold(
            (fetched, None::<String>, false),
            move |(mut fetched, previous_first, done)| {
                let stop = stop.clone();
                async move {
                    if done {
                        stop.store(true, Ordering::SeqCst);
                        while fetched.next().await.is_some() {}
                        return Ok(None);
                    }
                    let Some((page, records)) = fetched.next().await else {
                        return Ok(None);
                    };
                    let records = records?;
                    let first = records.first().map(|r| r.agent_id.clone());
                    if first.is_some() && first == previous_first {
                        return Err(self.protocol(format!(
                            "pagination does not advance: page {page} repeats page {}",
                            page - 1
                        )));
                    }
                    let next =
                        next_page(page, PAGE_SIZE, records.len()).map_err(|e| self.protocol(e))?;
                    Ok::<_, ProviderError>(Some((records, (fetched, first, next.is_none()))))
                }
            },
        )
        .boxed()
    }

    async fn tunnel_groups(&self) -> Result<Vec<Value>> {
        let mut all = Vec::new();
        let mut offset = 0u64;
        loop {
            let mut url = self.url(TUNNELS_PATH);
            url.query_pairs_mut()
                .append_pair("offset", &offset.to_string())
                .append_pair("limit", &TUNNEL_PAGE_SIZE.to_string());
            let resp = self.send(&self.main, |c| c.get(url.clone())).await?;
            if !resp.is_success() {
                return Err(self.err(api_error(
                    "list network tunnel groups",
                    Scope::TunnelsRead,
                    &resp,
                )));
            }
            let page: TunnelGroupPage = resp.json().map_err(|e| self.err(e))?;
            let got = page.data.len();
            all.extend(page.data);
            match next_offset(offset, got, page.total).map_err(|e| self.protocol(e))? {
                Some(next) => offset = next,
                None => return Ok(all),
            }
        }
    }

    fn tunnel_row(&self, raw: Value) -> Result<serde_json::Map<String, Value>> {
        let g = TunnelGroup::deserialize(&raw)
            .map_err(|e| self.protocol(format!("unexpected network tunnel group: {e}")))?;
        let hubs: Vec<String> = g
            .hubs
            .iter()
            .map(|h| {
                let dc = h
                    .datacenter
                    .as_ref()
                    .and_then(|d| d.name.clone())
                    .unwrap_or_else(|| "?".into());
                let role = if h.is_primary == Some(true) {
                    " primary"
                } else {
                    ""
                };
                let status = h
                    .status
                    .as_ref()
                    .and_then(|s| s.status.clone())
                    .unwrap_or_else(|| "?".into());
                let tunnels = h
                    .tunnels_count
                    .map(|n| format!(", {n} tunnel{}", if n == 1 { "" } else { "s" }))
                    .unwrap_or_default();
                format!("{dc}{role} {status}{tunnels}")
            })
            .collect();
        let mut row = serde_json::Map::new();
        row.insert("provider".into(), json!(self.name));
        row.insert("id".into(), json!(id_text(&g.id)));
        row.insert("name".into(), json!(g.name.unwrap_or_default()));
        row.insert("status".into(), json!(g.status.unwrap_or_default()));
        row.insert("region".into(), json!(g.region.unwrap_or_default()));
        row.insert(
            "device_type".into(),
            json!(g.device_type.unwrap_or_default()),
        );
        row.insert("hubs".into(), json!(hubs.join("; ")));
        row.insert("raw".into(), raw);
        Ok(row)
    }

    /// A key object of a list or get answer (`KeyForList` / `KeyAdminKey`).
    fn api_client(&self, mut raw: Value) -> Result<ApiClient> {
        // Never keep a secret in the raw record.
        strip_fields(&mut raw, SECRET_FIELDS);
        let k = ApiKey::deserialize(&raw)
            .map_err(|e| self.protocol(format!("unexpected API key object: {e}")))?;
        Ok(ApiClient {
            client_id: k.client_id.clone().unwrap_or_else(|| k.id.clone()),
            id: k.id,
            name: k.name.unwrap_or_default(),
            created_at: timestamp_field(Some(&k.created_at)),
            updated_at: timestamp_field(Some(&k.modified_at)),
            roles: k.scopes,
            raw,
        })
    }

    /// The `key` of a `{key, message}` answer (`KeyResponse`).
    fn key_object(&self, what: &str, resp: &HttpResponse) -> Result<Value> {
        let v: Value = resp.json().map_err(|e| self.err(e))?;
        match v {
            Value::Object(mut o) if o.get("key").is_some_and(Value::is_object) => {
                Ok(o.remove("key").unwrap_or_default())
            }
            _ => Err(self.protocol(format!(
                "{what}: the answer is not the documented {{key, message}} object"
            ))),
        }
    }

    /// A create / refresh answer the server accepted (`KeyResponseWithSecret` /
    /// `KeyResponseRefreshSecret`: `{key: {…, clientSecret}, message}`). Once a `clientSecret`
    /// is in the answer it is handed back whatever else is wrong; what could not be read goes
    /// into `problem`.
    fn issued(
        &self,
        what: &str,
        resp: &HttpResponse,
        known_id: Option<&str>,
    ) -> Result<NewClientSecret> {
        let status = resp.status.as_u16();
        let lost = |why: String| {
            self.protocol(format!(
                "{what} was accepted (HTTP {status}{}) but {why}; the secret cannot be recovered: rotate the key to issue a new one",
                rid(resp)
            ))
        };
        let body: Value = serde_json::from_slice(&resp.body)
            .map_err(|_| lost("the answer is not JSON".into()))?;
        let found = find_string_fields(&body, SECRET_FIELDS);
        let secret = match found.as_slice() {
            [] => return Err(lost("the answer has no clientSecret".into())),
            [(_, s), rest @ ..] if rest.iter().all(|(_, other)| other == s) => s.to_string(),
            _ => return Err(lost("the answer has several different secrets".into())),
        };
        if secret.is_empty() {
            return Err(lost("the answer's clientSecret is empty".into()));
        }
        let secret_path = found[0].0.clone();
        let mut problems: Vec<String> = Vec::new();
        // The documented place: body.key.clientSecret.
        let key = match body.get("key") {
            Some(k @ Value::Object(_)) if secret_path == "key.clientSecret" => k.clone(),
            _ => {
                problems.push(format!(
                    "the answer is not the documented {{key, message}} object (the secret was at {secret_path})"
                ));
                object_holding(&body, SECRET_FIELDS)
                    .cloned()
                    .unwrap_or(Value::Null)
            }
        };
        let mut raw = key.clone();
        strip_fields(&mut raw, SECRET_FIELDS);
        let text = |field: &str| raw.get(field).and_then(Value::as_str).map(str::to_string);
        let id = match text("id").filter(|s| !s.is_empty()) {
            Some(id) => id,
            None => {
                problems.push("key.id is missing".into());
                known_id.unwrap_or_default().to_string()
            }
        };
        let client_id = text("clientId").unwrap_or_else(|| {
            problems.push("key.clientId is missing".into());
            String::new()
        });
        let mut time = |field: &str| match text(field) {
            Some(t) => {
                let parsed = timestamp_field(Some(&t));
                if parsed.is_none() {
                    problems.push(format!("key.{field} is not an ISO 8601 time"));
                }
                parsed
            }
            None => {
                problems.push(format!("key.{field} is missing"));
                None
            }
        };
        let created_at = time("createdAt");
        let updated_at = time("modifiedAt");
        let roles = match raw.get("scopes").and_then(Value::as_array) {
            Some(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            None => {
                problems.push("key.scopes is missing".into());
                Vec::new()
            }
        };
        let client = ApiClient {
            id,
            client_id,
            name: text("name").unwrap_or_default(),
            created_at,
            updated_at,
            roles,
            raw,
        };
        let problem = (!problems.is_empty()).then(|| {
            format!(
                "{what}: the answer (HTTP {status}{}) is not what Cisco documents: {}",
                rid(resp),
                problems.join("; ")
            )
            .replace(&secret, "[secret]")
        });
        Ok(NewClientSecret {
            client,
            client_secret: SecretString::from(secret),
            problem,
        })
    }

    async fn admin_call<F>(&self, what: &str, build: F) -> Result<HttpResponse>
    where
        F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync,
    {
        let ch = self.admin()?;
        let resp = self.send(ch, build).await?;
        if resp.is_success() {
            Ok(resp)
        } else {
            Err(self.err(api_error(what, Scope::KeyAdmin, &resp)))
        }
    }
}

#[async_trait]
impl Provider for SecureAccess {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn supports(&self, op: Operation) -> Result<(), NotSupported> {
        match op {
            // `uninstall` is served as a documented alias of `remove` (see effective_action):
            // the roaming-computers API has no uninstall call, only record deletion.
            Operation::List | Operation::Stale | Operation::Uninstall | Operation::Remove => Ok(()),
            Operation::Clients if self.admin.is_some() => Ok(()),
            Operation::Clients => Err(NotSupported {
                provider: self.name.clone(),
                operation: op.name().to_string(),
                reason: format!(
                    "clients needs the Key Admin credential: set key_admin_key and key_admin_secret in [providers.{}]",
                    self.name
                ),
            }),
            Operation::Relocate => Err(NotSupported {
                provider: self.name.clone(),
                operation: op.name().to_string(),
                reason: "the Secure Access roaming-computers API has no move or relocate operation (only rename and delete)".into(),
            }),
            Operation::Restore => Err(NotSupported {
                provider: self.name.clone(),
                operation: op.name().to_string(),
                reason: "Secure Access deletes roaming-computer records for good (DELETE …/roamingcomputers/{deviceId}); there is no restore — the client registers again at its next start".into(),
            }),
        }
    }

    fn listings(&self) -> &'static [&'static str] {
        &["tunnels"]
    }

    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxStream<'a, Result<AgentRecord>> {
        self.pages(query)
            .map_ok(|records| futures::stream::iter(records.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    fn validate_agent_id(&self, id: &str) -> Result<(), String> {
        if is_device_id(id) {
            Ok(())
        } else {
            Err(format!(
                "'{id}' is not a roaming computer deviceId (hex digits, e.g. AB000C044C87A4F0)"
            ))
        }
    }

    async fn recheck(&self, agent_id: &str) -> Result<Recheck> {
        self.validate_agent_id(agent_id)
            .map_err(|e| self.err(ProviderError::input(e)))?;
        let url = self.device_url(agent_id);
        let resp = self.send(&self.main, |c| c.get(url.clone())).await?;
        match resp.status.as_u16() {
            200 => {
                let raw: Value = resp.json().map_err(|e| self.err(e))?;
                Ok(Recheck::Present(Box::new(self.record(raw)?)))
            }
            404 => Ok(Recheck::Gone),
            _ => Err(self.err(api_error(
                "re-check roaming computer",
                Scope::RoamingRead,
                &resp,
            ))),
        }
    }

    /// Re-check from a `lastSyncBefore`-filtered listing when that costs fewer requests than
    /// one `GET` per device. The filter is the newest last-seen time the plan recorded plus
    /// one second, so every device that has not synced since its plan row shows up (a
    /// device newer than that has come back to life or is gone, either way it is checked on
    /// its own). The listing may read at most N − 1 pages; should it need more, it stops
    /// and the caller re-checks per device (under Secure Access's 14 requests a minute the
    /// count matters more than anything). Devices the listing did not show are fetched one
    /// by one, so the whole re-check costs at most pages + N requests.
    async fn recheck_bulk(&self, agents: &[AgentRef]) -> Result<Option<HashMap<String, Recheck>>> {
        let wanted: HashSet<&str> = agents.iter().map(|a| a.agent_id.as_str()).collect();
        if wanted.len() < 2 {
            return Ok(None);
        }
        for id in &wanted {
            self.validate_agent_id(id)
                .map_err(|e| self.err(ProviderError::input(e)))?;
        }
        let newest = agents
            .iter()
            .map(|a| a.last_seen)
            .collect::<Option<Vec<Timestamp>>>()
            .and_then(|seen| seen.into_iter().max());
        let query = ListQuery {
            last_seen_before: newest
                .and_then(|t| t.checked_add(jiff::SignedDuration::from_secs(1)).ok()),
            include_unknown: false,
            keep_raw: false,
            host: None,
            identity_hints: true,
        };
        let budget = wanted.len() - 1;
        let mut found: HashMap<String, Recheck> = HashMap::with_capacity(wanted.len());
        let mut pages = self.pages(&query);
        let mut read = 0usize;
        let mut complete = false;
        while read < budget {
            match pages.next().await {
                None => {
                    complete = true;
                    break;
                }
                Some(records) => {
                    read += 1;
                    for r in records? {
                        if wanted.contains(r.agent_id.as_str()) {
                            found.insert(r.agent_id.clone(), Recheck::Present(Box::new(r)));
                        }
                    }
                }
            }
        }
        if !complete {
            // The budget is spent; is the listing finished anyway (the last page read was short)?
            complete = match pages.next().await {
                None => true,
                Some(_) => {
                    read += 1;
                    false
                }
            };
        }
        drop(pages);
        if !complete {
            tracing::info!(
                provider = %self.name,
                "re-check of {} devices: the filtered listing needs more than {read} pages; one GET per device instead ({read} requests spent on the listing)",
                wanted.len()
            );
            return Ok(None);
        }
        let missing: Vec<String> = wanted
            .iter()
            .filter(|id| !found.contains_key(**id))
            .map(|id| id.to_string())
            .collect();
        let confirmed: Vec<(String, Recheck)> = futures::stream::iter(missing)
            .map(|id: String| async move {
                let found = self.recheck(&id).await?;
                Ok::<_, ProviderError>((id, found))
            })
            .buffer_unordered(self.main.http.concurrency())
            .try_collect()
            .await?;
        let confirmations = confirmed.len();
        found.extend(confirmed);
        tracing::info!(
            provider = %self.name,
            "re-check of {} devices: {read} page(s) of roaming computers{} plus {confirmations} GET for devices they did not show; {} requests (one per device: {})",
            wanted.len(),
            if query.last_seen_before.is_some() { " filtered by lastSyncBefore" } else { "" },
            read + confirmations,
            wanted.len()
        );
        Ok(Some(found))
    }

    async fn prepare(&self, action: &Action) -> Result<Action> {
        self.supports(action.operation())
            .map_err(ProviderError::from)?;
        // Obtain the token now, so a credential problem stops the run before the first change.
        self.main.auth.cache.get().await.map_err(|e| self.err(e))?;
        Ok(self.effective_action(action))
    }

    /// Secure Access has no uninstall API; its only clean-up is deleting the roaming-computer
    /// record, which is what `uninstall` has always done for this kind. It is an alias of
    /// `remove`, and says so.
    fn effective_action(&self, action: &Action) -> Action {
        match action {
            Action::Uninstall => Action::Remove,
            other => other.clone(),
        }
    }

    fn describe(&self, action: &Action, agent: &AgentRef) -> String {
        match self.effective_action(action) {
            Action::Remove => format!("DELETE {}", self.device_url(&agent.agent_id)),
            other => format!("{} is not supported by {KIND}", other.name()),
        }
    }

    async fn act(&self, action: &Action, agent: &AgentRef) -> Result<ActionOutcome> {
        if self.effective_action(action) != Action::Remove {
            return Err(self.not_supported(action.operation()));
        }
        self.validate_agent_id(&agent.agent_id)
            .map_err(|e| self.err(ProviderError::input(e)))?;
        let url = self.device_url(&agent.agent_id);
        let resp = self.send(&self.main, |c| c.delete(url.clone())).await?;
        match resp.status.as_u16() {
            200..=299 => Ok(ActionOutcome::Requested {
                detail: format!(
                    "roaming-computer record deleted (HTTP {}){}",
                    resp.status.as_u16(),
                    rid(&resp)
                ),
                request_id: resp.request_id.clone(),
            }),
            404 => Ok(ActionOutcome::Skipped {
                why: "gone".into(),
                detail: format!("HTTP 404: {}{}", vendor_message(&resp), rid(&resp)),
            }),
            _ => Err(self.err(api_error(
                "remove (delete roaming computer)",
                Scope::RoamingWrite,
                &resp,
            ))),
        }
    }

    async fn listing(&self, name: &str) -> Result<Listing> {
        if name != "tunnels" {
            return Err(self.not_supported_listing(name));
        }
        let rows = self
            .tunnel_groups()
            .await?
            .into_iter()
            .map(|raw| self.tunnel_row(raw))
            .collect::<Result<Vec<_>>>()?;
        Ok(Listing {
            columns: vec![
                "provider",
                "id",
                "name",
                "status",
                "region",
                "device_type",
                "hubs",
            ],
            rows,
        })
    }

    async fn doctor(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let token = Check::timed("token (api_key)", async {
            self.main
                .auth
                .cache
                .get()
                .await
                .map(|_| {
                    format!(
                        "POST /auth/v2/token as {}{}",
                        self.main.key,
                        self.org_id
                            .as_deref()
                            .map(|o| format!(" for organization {o}"))
                            .unwrap_or_default()
                    )
                })
                .map_err(|e| self.err(e).reason())
        })
        .await;
        let token_ok = token.ok;
        checks.push(token);
        if token_ok {
            checks.push(
                Check::timed("roaming computers (read)", async {
                    let url = self.list_url(1, &ListQuery::default());
                    let mut url = url;
                    url.query_pairs_mut()
                        .clear()
                        .append_pair("page", "1")
                        .append_pair("limit", "1");
                    match self.send(&self.main, |c| c.get(url.clone())).await {
                        Ok(r) if r.is_success() => {
                            Ok(format!("GET {ROAMING_PATH}: HTTP {}", r.status.as_u16()))
                        }
                        Ok(r) => {
                            Err(
                                api_error(&format!("GET {ROAMING_PATH}"), Scope::RoamingRead, &r)
                                    .reason(),
                            )
                        }
                        Err(e) => Err(e.reason()),
                    }
                })
                .await,
            );
            checks.push(
                Check::timed("network tunnel groups (read, for `tunnels`)", async {
                    let mut url = self.url(TUNNELS_PATH);
                    url.query_pairs_mut()
                        .append_pair("offset", "0")
                        .append_pair("limit", "1");
                    match self.send(&self.main, |c| c.get(url.clone())).await {
                        Ok(r) if r.is_success() => {
                            let total = r
                                .json::<TunnelGroupPage>()
                                .map(|p| p.total.to_string())
                                .unwrap_or_else(|_| "?".into());
                            Ok(format!("GET {TUNNELS_PATH}: {total} tunnel groups"))
                        }
                        Ok(r) => {
                            Err(
                                api_error(&format!("GET {TUNNELS_PATH}"), Scope::TunnelsRead, &r)
                                    .reason(),
                            )
                        }
                        Err(e) => Err(e.reason()),
                    }
                })
                .await,
            );
        }
        match &self.admin {
            None => checks.push(Check {
                name: "Key Admin (clients)".into(),
                ok: true,
                detail: "not configured; set key_admin_key + key_admin_secret to manage API keys"
                    .into(),
                latency_ms: None,
            }),
            Some(admin) => checks.push(
                Check::timed("Key Admin (clients)", async {
                    let mut url = self.url(keyadmin::API_KEYS_PATH);
                    url.query_pairs_mut()
                        .append_pair("offset", "0")
                        .append_pair("limit", "1");
                    match self.send(admin, |c| c.get(url.clone())).await {
                        Ok(r) if r.is_success() => Ok(format!(
                            "GET {} as {}: HTTP {}",
                            keyadmin::API_KEYS_PATH,
                            admin.key,
                            r.status.as_u16()
                        )),
                        Ok(r) => Err(api_error(
                            &format!("GET {}", keyadmin::API_KEYS_PATH),
                            Scope::KeyAdmin,
                            &r,
                        )
                        .reason()),
                        Err(e) => Err(e.reason()),
                    }
                })
                .await,
            ),
        }
        checks
    }

    async fn list_clients(&self) -> Result<Vec<ApiClient>> {
        let mut out = Vec::new();
        let mut offset = 0u64;
        let limit = keyadmin::LIST_PAGE_SIZE;
        loop {
            let mut url = self.url(keyadmin::API_KEYS_PATH);
            url.query_pairs_mut()
                .append_pair("offset", &offset.to_string())
                .append_pair("limit", &limit.to_string());
            let resp = self
                .admin_call("list API keys", |c| c.get(url.clone()))
                .await?;
            let page: KeysResponseList = resp.json().map_err(|e| self.err(e))?;
            let Some(items) = page.keys else {
                return Err(self.protocol(
                    "list API keys: the answer has no keys array (expected {keys, offset, limit, total, message})",
                ));
            };
            let got = items.len();
            for raw in items {
                out.push(self.api_client(raw)?);
            }
            let more = match page.total {
                Some(total) => next_offset(offset, got, total.max(0) as u64)
                    .map_err(|e| self.protocol(e))?
                    .is_some(),
                None => got == limit as usize,
            };
            if !more {
                return Ok(out);
            }
            offset += got as u64;
        }
    }

    async fn get_client(&self, id: &str) -> Result<ApiClient> {
        check_segment("API key id", id).map_err(|e| self.err(e))?;
        let url = self.url(&keyadmin::api_key_path(id));
        let resp = self
            .admin_call("get API key", |c| c.get(url.clone()))
            .await?;
        let raw = self.key_object("get API key", &resp)?;
        self.api_client(raw)
    }

    async fn create_client(&self, new: &NewClient) -> Result<NewClientSecret> {
        let name = new.name.trim();
        keyadmin::check_name(name).map_err(|e| self.err(ProviderError::input(e)))?;
        if new.roles.is_empty() {
            return Err(self.err(ProviderError::input(
                "give at least one scope, e.g. deployments.roamingcomputers:read",
            )));
        }
        for scope in &new.roles {
            match scope.split_once(':') {
                Some((s, p)) if !s.is_empty() && !p.is_empty() && !p.contains(':') => {}
                _ => {
                    return Err(self.err(ProviderError::input(format!(
                        "scope {scope:?} is not of the form scope:permission (e.g. deployments.roamingcomputers:write)"
                    ))));
                }
            }
        }
        let expire_at = match new.expire_at {
            None => String::new(),
            Some(t) if t <= Timestamp::now() => {
                return Err(self.err(ProviderError::input(format!(
                    "expire-at {t} is in the past"
                ))));
            }
            Some(t) => t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        };
        // CreateAPIKeysRequest: name and scopes required; expireAt "" = never expires.
        let body = json!({"name": name, "scopes": new.roles, "expireAt": expire_at});
        let url = self.url(keyadmin::API_KEYS_PATH);
        let resp = self
            .admin_call("create API key", |c| c.post(url.clone()).json(&body))
            .await?;
        let mut issued = self.issued("create API key", &resp, None)?;
        if issued.client.name.is_empty() {
            issued.client.name = name.to_string();
        }
        Ok(issued)
    }

    async fn rotate_client(&self, id: &str) -> Result<NewClientSecret> {
        check_segment("API key id", id).map_err(|e| self.err(e))?;
        let url = self.url(&keyadmin::api_key_refresh_path(id));
        let resp = self
            .admin_call("refresh API key", |c| c.post(url.clone()))
            .await?;
        self.issued("refresh API key", &resp, Some(id))
    }

    async fn delete_client(&self, id: &str) -> Result<()> {
        check_segment("API key id", id).map_err(|e| self.err(e))?;
        let url = self.url(&keyadmin::api_key_path(id));
        self.admin_call("delete API key", |c| c.delete(url.clone()))
            .await?;
        Ok(())
    }

    /// The deployments key and the Key Admin key: their ids are the keys' client ids.
    fn own_client_ids(&self) -> Vec<String> {
        let mut ids = vec![self.main.key.clone()];
        if let Some(admin) = &self.admin {
            ids.push(admin.key.clone());
        }
        ids
    }
}

/// Where an issued secret is, in any answer shape.
const SECRET_FIELDS: &[&str] = &["clientSecret"];

/// The innermost object that has one of `fields` as a string.
fn object_holding<'a>(v: &'a Value, fields: &[&str]) -> Option<&'a Value> {
    match v {
        Value::Object(map) => {
            if fields
                .iter()
                .any(|f| map.get(*f).is_some_and(Value::is_string))
            {
                return Some(v);
            }
            map.values().find_map(|c| object_holding(c, fields))
        }
        Value::Array(items) => items.iter().find_map(|c| object_holding(c, fields)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_validation() {
        assert!(is_device_id("AB000C044C87A4F0"));
        assert!(is_device_id("ab000c044c87a4f0"));
        assert!(!is_device_id(""));
        assert!(!is_device_id("AB000C044C87A4FG"));
        assert!(!is_device_id("AB000C04/../x"));
        assert!(!is_device_id(&"A".repeat(65)));
    }

    #[test]
    fn paging_stops_on_short_or_empty_pages() {
        assert_eq!(next_page(1, 100, 100), Ok(Some(2)));
        assert_eq!(next_page(2, 100, 99), Ok(None));
        // Empty fleet, and the empty page after an exact multiple of 100.
        assert_eq!(next_page(1, 100, 0), Ok(None));
        assert_eq!(next_page(4, 100, 0), Ok(None));
        assert!(next_page(1, 100, 101).is_err());
        // Found by the secure_access fuzz target: the last page number is an error, not an
        // overflow (a server answering full pages forever).
        assert!(next_page(u32::MAX, 100, 100).is_err());
        assert_eq!(next_page(u32::MAX, 100, 99), Ok(None));
        assert!(next_offset(u64::MAX, 1, u64::MAX).is_err());
    }

    #[test]
    fn tunnel_paging_follows_total() {
        assert_eq!(next_offset(0, 200, 450), Ok(Some(200)));
        assert_eq!(next_offset(400, 50, 450), Ok(None));
        assert_eq!(next_offset(0, 0, 0), Ok(None));
        assert_eq!(next_offset(0, 200, 200), Ok(None));
        // A server returning fewer than limit continues from what it returned.
        assert_eq!(next_offset(0, 150, 450), Ok(Some(150)));
        assert!(next_offset(200, 0, 450).is_err());
    }

    #[test]
    fn last_sync_before_rounds_up_to_the_millisecond() {
        let t: Timestamp = "2024-09-19T10:34:30Z".parse().unwrap();
        assert_eq!(last_sync_before_param(t), "2024-09-19T10:34:30.000Z");
        let t: Timestamp = "2024-09-19T10:34:30.1234Z".parse().unwrap();
        assert_eq!(last_sync_before_param(t), "2024-09-19T10:34:30.124Z");
        let t: Timestamp = "2024-09-19T10:34:30.999001Z".parse().unwrap();
        assert_eq!(last_sync_before_param(t), "2024-09-19T10:34:31.000Z");
    }

    #[test]
    fn path_ids_are_checked() {
        assert!(check_segment("id", "1234567").is_ok());
        assert!(check_segment("id", "a1b2-c3_d4.e5").is_ok());
        for bad in ["", "..", "a/b", "a?b", "a b", "a%2Fb"] {
            assert!(check_segment("id", bad).is_err(), "{bad}");
        }
    }
}
