//! Request handling of the simulator: routing, auth, budget, faults, envelopes.

// Checks return the error response itself; its size does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use agentctl_core::sim::Req;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Json, http::HeaderValue};
use http::{HeaderMap, Method, StatusCode, Uri, header};
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};

use super::{Inner, fleet};

/// Documented body of a v1 401 (vendor file §2), verbatim.
const V1_UNAUTHORIZED: &str = r#"{"version":"v0.1.0","data":{},"errors":[{"error_code":401,"description":"Unauthorized","details":["Unknown API key or Client ID"]}]}"#;
const V1_VERSION: &str = "v1.2.0";
const MAX_LIMIT: u64 = 500;
const MAX_V3_SIZE: u64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Xdr,
    SecureEndpoint,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Grant {
    kind: TokenKind,
    expires: Instant,
}

/// The fixed rate-limit window shared by v1 and v3.
pub(crate) struct Window {
    started: Instant,
    used: u64,
}

impl Window {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            used: 0,
        }
    }
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

/// What a request addresses, before method checks.
enum Resource<'a> {
    XdrToken,
    AccessTokens,
    Organizations,
    Uninstall { org: &'a str, guid: &'a str },
    Computers,
    Computer(&'a str),
    Groups,
    Group(&'a str),
    Version,
    Unknown,
}

impl<'a> Resource<'a> {
    fn parse(path: &'a str) -> Self {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        match segs.as_slice() {
            ["iroh", "oauth2", "token"] => Self::XdrToken,
            ["v3", "access_tokens"] => Self::AccessTokens,
            ["v3", "organizations"] => Self::Organizations,
            [
                "v3",
                "organizations",
                org,
                "computers",
                guid,
                "uninstall_request",
            ] => Self::Uninstall { org, guid },
            ["v1", "computers"] => Self::Computers,
            ["v1", "computers", guid] => Self::Computer(guid),
            ["v1", "groups"] => Self::Groups,
            ["v1", "groups", guid] => Self::Group(guid),
            ["v1", "version"] => Self::Version,
            _ => Self::Unknown,
        }
    }

    fn template(&self) -> &'static str {
        match self {
            Self::XdrToken => "/iroh/oauth2/token",
            Self::AccessTokens => "/v3/access_tokens",
            Self::Organizations => "/v3/organizations",
            Self::Uninstall { .. } => "uninstall_request",
            Self::Computers => "/v1/computers",
            Self::Computer(_) => "/v1/computers/{guid}",
            Self::Groups => "/v1/groups",
            Self::Group(_) => "/v1/groups/{guid}",
            Self::Version => "/v1/version",
            Self::Unknown => "unknown",
        }
    }

    fn is_v3(&self) -> bool {
        matches!(
            self,
            Self::AccessTokens | Self::Organizations | Self::Uninstall { .. }
        )
    }
}

async fn handle(
    State(sim): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _serving = sim.counts.serving();
    if !sim.cfg.latency.is_zero() {
        tokio::time::sleep(sim.cfg.latency).await;
    }
    let resource = Resource::parse(uri.path());
    if let Some((offset, extra)) = sim.cfg.slow_page_at
        && matches!(resource, Resource::Computers)
        && url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .any(|(k, v)| k == "offset" && v == offset.to_string())
    {
        tokio::time::sleep(extra).await;
    }
    sim.revocation.hit();
    sim.count(&format!("{method} {}", resource.template()));
    let req = Req {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let api = !matches!(resource, Resource::XdrToken);
    let mut resp = sim.respond(&resource, &req, api);
    let rid: u128 = sim.rng.lock().unwrap().random();
    resp.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_str(&format!("{rid:032x}")).unwrap(),
    );
    sim.count(resp.status().as_str());
    resp
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn v1_error(status: StatusCode, details: &[&str]) -> Response {
    json_response(
        status,
        json!({
            "version": V1_VERSION,
            "data": {},
            "errors": [{
                "error_code": status.as_u16(),
                "description": status.canonical_reason().unwrap_or(""),
                "details": details,
            }],
        }),
    )
}

fn v3_error(status: StatusCode, details: &[&str]) -> Response {
    json_response(
        status,
        json!({
            "errors": [{
                "error_code": status.as_u16(),
                "description": status.canonical_reason().unwrap_or(""),
                "details": details,
            }],
        }),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

fn method_not_allowed() -> Response {
    v1_error(
        StatusCode::METHOD_NOT_ALLOWED,
        &["method not allowed on this resource"],
    )
}

fn parse_uint(
    name: &str,
    value: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Response> {
    value
        .parse::<u64>()
        .ok()
        .filter(|v| range.contains(v))
        .ok_or_else(|| {
            v1_error(
                StatusCode::BAD_REQUEST,
                &[&format!(
                    "{name} must be an integer between {} and {}",
                    range.start(),
                    range.end()
                )],
            )
        })
}

/// 400 naming every query parameter the endpoint does not know.
fn reject_unknown(query: &[(String, String)], known: &[&str]) -> Result<(), Response> {
    let unknown: Vec<String> = query
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, _)| format!("unknown parameter: {k}"))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        let details: Vec<&str> = unknown.iter().map(String::as_str).collect();
        Err(v1_error(StatusCode::BAD_REQUEST, &details))
    }
}

fn wire_time(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl Inner {
    fn respond(&self, resource: &Resource<'_>, req: &Req<'_>, api: bool) -> Response {
        let mut resp = if api && !self.spend() {
            self.over_budget()
        } else {
            self.injected_fault(req)
                .unwrap_or_else(|| self.route(resource, req))
        };
        if api {
            self.rate_headers(resp.headers_mut());
        }
        resp
    }

    /// Take one request from the window's budget; false when it is spent.
    fn spend(&self) -> bool {
        let mut w = self.window.lock().unwrap();
        if w.started.elapsed() >= self.cfg.rate_window {
            *w = Window::new();
        }
        if w.used >= self.cfg.rate_limit {
            return false;
        }
        w.used += 1;
        true
    }

    fn window_state(&self) -> (u64, Duration) {
        let w = self.window.lock().unwrap();
        (
            self.cfg.rate_limit.saturating_sub(w.used),
            self.cfg.rate_window.saturating_sub(w.started.elapsed()),
        )
    }

    fn rate_headers(&self, headers: &mut HeaderMap) {
        let (remaining, reset) = self.window_state();
        let reset_secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
        let reset_date = Timestamp::now() + Duration::from_secs(reset_secs);
        let prefix = if self.cfg.hyphenated_rate_headers {
            "X-Rate-Limit-"
        } else {
            "x-ratelimit-"
        };
        for (name, value) in [
            ("Limit", self.cfg.rate_limit.to_string()),
            ("Remaining", remaining.to_string()),
            ("Reset", reset_secs.to_string()),
            ("ResetDate", wire_time(reset_date)),
        ] {
            let name = format!("{prefix}{name}").to_ascii_lowercase();
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&value).unwrap(),
            );
        }
    }

    fn over_budget(&self) -> Response {
        let mut resp = v1_error(StatusCode::TOO_MANY_REQUESTS, &["API rate limit exceeded"]);
        if self.cfg.send_retry_after {
            let (_, reset) = self.window_state();
            let secs = reset.as_secs() + u64::from(reset.subsec_nanos() > 0);
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&secs.to_string()).unwrap(),
            );
        }
        resp
    }

    /// A random 503 or burst 429, at most `faults_per_path` times for the same method and
    /// path (so a test can rely on a retrying client getting through).
    fn injected_fault(&self, req: &Req<'_>) -> Option<Response> {
        if self.cfg.error_rate <= 0.0 && self.cfg.throttle_rate <= 0.0 {
            return None;
        }
        let roll: f64 = self.rng.lock().unwrap().random();
        let faulty = roll < self.cfg.error_rate + self.cfg.throttle_rate;
        if let Some(limit) = self.cfg.faults_per_path {
            let key = format!("{} {}", req.method, req.uri.path());
            let mut counts = self.fault_counts.lock().unwrap();
            let count = counts.entry(key).or_default();
            if !faulty || *count >= limit {
                return None;
            }
            *count += 1;
        }
        if roll < self.cfg.error_rate {
            Some(v1_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &["Service temporarily unavailable"],
            ))
        } else if roll < self.cfg.error_rate + self.cfg.throttle_rate {
            Some(v1_error(
                StatusCode::TOO_MANY_REQUESTS,
                &["Too many concurrent requests"],
            ))
        } else {
            None
        }
    }

    fn route(&self, resource: &Resource<'_>, req: &Req<'_>) -> Response {
        // v1 and v3 authenticate first, whatever the method, as the real service does.
        let auth = match resource {
            Resource::XdrToken | Resource::AccessTokens | Resource::Unknown => Ok(()),
            r if r.is_v3() => self.check_se_token(req),
            _ => self.check_basic(req),
        };
        if let Err(resp) = auth {
            return resp;
        }
        let m = req.method;
        match (resource, m) {
            (Resource::XdrToken, &Method::POST) => self.xdr_token(req),
            (Resource::AccessTokens, &Method::POST) => self.access_token(req),
            (Resource::Organizations, &Method::GET) => self.organizations(req),
            (Resource::Uninstall { org, guid }, &Method::PUT) => self.uninstall(org, guid),
            (Resource::Computers, &Method::GET) => self.list_computers(req),
            (Resource::Computer(guid), &Method::GET) => self.get_computer(req, guid),
            (Resource::Computer(guid), &Method::DELETE) => self.delete_computer(guid),
            (Resource::Computer(guid), &Method::PATCH) => self.move_computer(req, guid),
            (Resource::Groups, &Method::GET) => self.list_groups(req),
            (Resource::Group(guid), &Method::GET) => self.get_group(req, guid),
            (Resource::Version, &Method::GET) => json_response(
                StatusCode::OK,
                json!({"version": V1_VERSION, "metadata": {"links": {"self": self.self_link(req)}}, "data": {}}),
            ),
            (Resource::Unknown, _) => v1_error(StatusCode::NOT_FOUND, &["no such resource"]),
            _ => method_not_allowed(),
        }
    }

    fn self_link(&self, req: &Req<'_>) -> String {
        format!(
            "{}{}",
            self.base_url,
            req.uri.path_and_query().map_or("/", |p| p.as_str())
        )
    }

    /// The credentials were revoked (`revoke_credentials_after`).
    fn revoked(&self) -> bool {
        self.revocation.revoked()
    }

    fn check_basic(&self, req: &Req<'_>) -> Result<(), Response> {
        match req.basic() {
            Some((user, pass))
                if user == self.cfg.client_id && pass == self.cfg.api_key && !self.revoked() =>
            {
                Ok(())
            }
            _ => Err((
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                V1_UNAUTHORIZED,
            )
                .into_response()),
        }
    }

    fn bearer_ok(&self, req: &Req<'_>, kind: TokenKind) -> bool {
        let Some(token) = req.authorization("Bearer") else {
            return false;
        };
        if self.revoked() {
            return false;
        }
        let mut tokens = self.tokens.lock().unwrap();
        tokens.retain(|_, g| g.expires > Instant::now());
        tokens.get(token).is_some_and(|g| g.kind == kind)
    }

    fn check_se_token(&self, req: &Req<'_>) -> Result<(), Response> {
        let n = self.v3_calls.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(every) = self.cfg.revoke_tokens_every
            && every > 0
            && n.is_multiple_of(u64::from(every))
        {
            self.tokens
                .lock()
                .unwrap()
                .retain(|_, g| g.kind != TokenKind::SecureEndpoint);
        }
        if self.bearer_ok(req, TokenKind::SecureEndpoint) {
            Ok(())
        } else {
            Err(v3_error(
                StatusCode::UNAUTHORIZED,
                &["invalid or expired access token"],
            ))
        }
    }

    fn issue(&self, kind: TokenKind, ttl: Duration) -> String {
        let bytes: [u8; 24] = self.rng.lock().unwrap().random();
        let body: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let token = match kind {
            TokenKind::Xdr => format!("eyJ{body}"),
            TokenKind::SecureEndpoint => format!("se{body}"),
        };
        self.tokens.lock().unwrap().insert(
            token.clone(),
            Grant {
                kind,
                expires: Instant::now() + ttl,
            },
        );
        token
    }

    /// `POST /iroh/oauth2/token`: client credentials in Basic auth as documented
    /// (`base64(client_id:client_password)`, not form-encoded), `grant_type=client_credentials`
    /// in a form body.
    fn xdr_token(&self, req: &Req<'_>) -> Response {
        if !req.content_type_is("application/x-www-form-urlencoded") {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "expected application/x-www-form-urlencoded",
            );
        }
        let form = req.form();
        match form
            .iter()
            .find(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.as_str())
        {
            Some("client_credentials") => {}
            Some(_) => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unsupported_grant_type",
                    "only client_credentials",
                );
            }
            None => {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "grant_type is required",
                );
            }
        }
        let ok = !self.revoked()
            && req.basic().is_some_and(|(u, p)| {
                u == self.cfg.xdr_client_id && p == self.cfg.xdr_client_secret
            });
        if !ok {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            );
        }
        let token = self.issue(TokenKind::Xdr, self.cfg.xdr_token_ttl);
        json_response(
            StatusCode::OK,
            json!({
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.cfg.xdr_token_ttl.as_secs(),
                "scope": "enrich:read casebook inspect:read",
            }),
        )
    }

    /// `POST /v3/access_tokens`: an XDR bearer token in, a Secure Endpoint token out. Both an
    /// empty body and a `grant_type=client_credentials` form are accepted (vendor file §7).
    fn access_token(&self, req: &Req<'_>) -> Response {
        if !self.bearer_ok(req, TokenKind::Xdr) {
            return v3_error(StatusCode::UNAUTHORIZED, &["invalid or expired XDR token"]);
        }
        if !req.body.is_empty() {
            let grant = req
                .content_type_is("application/x-www-form-urlencoded")
                .then(|| req.form())
                .and_then(|f| {
                    f.into_iter()
                        .find(|(k, _)| k == "grant_type")
                        .map(|(_, v)| v)
                });
            if grant.as_deref() != Some("client_credentials") {
                return v3_error(
                    StatusCode::BAD_REQUEST,
                    &["body must be empty or grant_type=client_credentials"],
                );
            }
        }
        let token = self.issue(TokenKind::SecureEndpoint, self.cfg.se_token_ttl);
        // The lifetime is not reported: which fields the real response carries besides
        // `access_token` is unconfirmed.
        json_response(
            StatusCode::OK,
            json!({"access_token": token, "token_type": "bearer"}),
        )
    }

    fn organizations(&self, req: &Req<'_>) -> Response {
        let query = req.query();
        if let Err(r) = reject_unknown(&query, &["size", "start"]) {
            return r;
        }
        let get = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(size) = get("size") else {
            return v3_error(StatusCode::BAD_REQUEST, &["size is required"]);
        };
        let size = match parse_uint("size", size, 1..=MAX_V3_SIZE) {
            Ok(v) => v as usize,
            Err(r) => return r,
        };
        let start = match get("start").map(|s| parse_uint("start", s, 0..=u64::from(u32::MAX))) {
            None => 0,
            Some(Ok(v)) => v as usize,
            Some(Err(r)) => return r,
        };
        let orgs = &self.cfg.organizations;
        let data: Vec<Value> = orgs
            .iter()
            .skip(start)
            .take(size)
            .map(|(name, id)| json!({"name": name, "organizationIdentifier": id}))
            .collect();
        json_response(
            StatusCode::OK,
            json!({"data": data, "meta": {"start": start, "size": size, "total": orgs.len()}}),
        )
    }

    fn uninstall(&self, org: &str, guid: &str) -> Response {
        if !self.cfg.organizations.iter().any(|(_, id)| id == org) {
            return v3_error(StatusCode::NOT_FOUND, &["organization not found"]);
        }
        let mut state = self.state.lock().unwrap();
        if !state.computers.contains_key(guid) {
            return v3_error(StatusCode::NOT_FOUND, &["computer not found"]);
        }
        state.uninstall_requests.push(guid.to_string());
        if self.cfg.uninstall_removes_computer {
            state.computers.remove(guid);
            self.changed(guid);
        }
        StatusCode::NO_CONTENT.into_response()
    }

    fn list_computers(&self, req: &Req<'_>) -> Response {
        let query = req.query();
        let known = [
            "limit",
            "offset",
            "hostname[]",
            "internal_ip",
            "external_ip",
            "group_guid[]",
            "last_seen_within",
            "last_seen_over",
        ];
        if let Err(r) = reject_unknown(&query, &known) {
            return r;
        }
        let mut limit = MAX_LIMIT;
        let mut offset = 0;
        let mut hosts = Vec::new();
        let mut groups = Vec::new();
        let (mut within, mut over, mut internal, mut external) = (None, None, None, None);
        for (k, v) in &query {
            let parsed = match k.as_str() {
                "limit" => parse_uint(k, v, 1..=MAX_LIMIT).map(|n| limit = n),
                "offset" => parse_uint(k, v, 0..=u64::from(u32::MAX)).map(|n| offset = n),
                // Unit unconfirmed; seconds assumed (vendor file §4).
                "last_seen_within" => {
                    parse_uint(k, v, 0..=u64::from(u32::MAX)).map(|n| within = Some(n))
                }
                "last_seen_over" => {
                    parse_uint(k, v, 0..=u64::from(u32::MAX)).map(|n| over = Some(n))
                }
                "hostname[]" => {
                    hosts.push(v.to_lowercase());
                    Ok(())
                }
                "group_guid[]" => {
                    groups.push(v.clone());
                    Ok(())
                }
                "internal_ip" => {
                    internal = Some(v.clone());
                    Ok(())
                }
                _ => {
                    external = Some(v.clone());
                    Ok(())
                }
            };
            if let Err(r) = parsed {
                return r;
            }
        }
        let unfiltered = hosts.is_empty()
            && groups.is_empty()
            && internal.is_none()
            && external.is_none()
            && within.is_none()
            && over.is_none();
        if unfiltered {
            // The plain listing: index straight into the ordered fleet, so a page costs the
            // same at offset 999,500 as at 0 (large fleets in the benchmarks).
            let state = self.state.lock().unwrap();
            let mut listing = self.listing.lock().unwrap();
            if listing.order.len() != state.computers.len() {
                listing.order = state.computers.keys().cloned().collect();
            }
            let total = listing.order.len() as u64;
            let start = (offset as usize).min(listing.order.len());
            let end = (offset.saturating_add(limit) as usize).min(listing.order.len());
            let mut data = Vec::with_capacity(end - start);
            for i in start..end {
                let guid = listing.order[i].clone();
                if let Some(c) = state.computers.get(&guid) {
                    data.push(listing.rendered(&self.base_url, &guid, c));
                }
            }
            drop(listing);
            drop(state);
            return self.computers_page(req, &query, offset, limit, total, data);
        }
        let now = Timestamp::now().as_second();
        let age = |c: &Value| {
            c["last_seen"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
                .map(|t| now - t.as_second())
        };
        let state = self.state.lock().unwrap();
        let matching: Vec<(&String, &Value)> = state
            .computers
            .iter()
            .filter(|(_, c)| {
                let host = c["hostname"].as_str().unwrap_or("").to_lowercase();
                // Matching semantics unconfirmed ("auto complete"): case-insensitive prefix.
                (hosts.is_empty() || hosts.iter().any(|h| host.starts_with(h.as_str())))
                    && (groups.is_empty() || groups.iter().any(|g| c["group_guid"] == g.as_str()))
                    && internal.as_ref().is_none_or(|ip| {
                        c["internal_ips"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x == ip.as_str()))
                    })
                    && external
                        .as_ref()
                        .is_none_or(|ip| c["external_ip"] == ip.as_str())
                    && within.is_none_or(|w| age(c).is_some_and(|a| a <= w as i64))
                    && over.is_none_or(|o| age(c).is_some_and(|a| a > o as i64))
            })
            .collect();
        let total = matching.len() as u64;
        let mut listing = self.listing.lock().unwrap();
        let data: Vec<Bytes> = matching
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(guid, c)| listing.rendered(&self.base_url, guid, c))
            .collect();
        drop(listing);
        drop(state);
        self.computers_page(req, &query, offset, limit, total, data)
    }

    /// The v1 list envelope of one computers page, with `next` while more remain.
    fn computers_page(
        &self,
        req: &Req<'_>,
        query: &[(String, String)],
        offset: u64,
        limit: u64,
        total: u64,
        mut data: Vec<Bytes>,
    ) -> Response {
        if self.cfg.short_page_at == Some(offset) {
            data.pop();
        }
        let mut links = json!({"self": self.self_link(req)});
        if offset + limit < total {
            let mut next = url::Url::parse(&format!("{}/v1/computers", self.base_url)).unwrap();
            {
                let mut q = next.query_pairs_mut();
                for (k, v) in query.iter().filter(|(k, _)| k != "offset" && k != "limit") {
                    q.append_pair(k, v);
                }
                q.append_pair("offset", &(offset + limit).to_string());
                q.append_pair("limit", &limit.to_string());
            }
            links["next"] = json!(next.as_str());
        }
        let metadata = json!({
            "links": links,
            "results": {
                "total": total,
                "current_item_count": data.len(),
                "index": offset,
                "items_per_page": limit,
            },
        });
        // `{"version", "metadata", "data"}` as `json_response` would write it, with each
        // computer's JSON taken as rendered (see `ListingCache`).
        let mut body = Vec::with_capacity(256 + data.iter().map(|d| d.len() + 1).sum::<usize>());
        body.extend_from_slice(b"{\"version\":");
        serde_json::to_writer(&mut body, V1_VERSION).expect("a string serializes");
        body.extend_from_slice(b",\"metadata\":");
        serde_json::to_writer(&mut body, &metadata).expect("a JSON value serializes");
        body.extend_from_slice(b",\"data\":[");
        for (i, d) in data.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(d);
        }
        body.extend_from_slice(b"]}");
        (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response()
    }

    fn get_computer(&self, req: &Req<'_>, guid: &str) -> Response {
        let state = self.state.lock().unwrap();
        match state.computers.get(guid) {
            Some(c) => json_response(
                StatusCode::OK,
                json!({
                    "version": V1_VERSION,
                    "metadata": {"links": {"self": self.self_link(req)}},
                    "data": fleet::render(&self.base_url, c),
                }),
            ),
            None => v1_error(StatusCode::NOT_FOUND, &["computer not found"]),
        }
    }

    /// `DELETE /v1/computers/{guid}`: 200 with `data: {deleted, connector_guid}` (Cisco's
    /// amp-01-basics `02h_delete_computer.py`, amp-04-delete-stale-guids); a refused delete
    /// is 200 with `deleted: false` (XSOAR `test_data/computer_delete_fail_response.json`).
    fn delete_computer(&self, guid: &str) -> Response {
        let mut state = self.state.lock().unwrap();
        if state.computers.contains_key(guid) && self.cfg.refuse_delete.iter().any(|g| g == guid) {
            return json_response(
                StatusCode::OK,
                json!({
                    "version": V1_VERSION,
                    "metadata": {"links": {"self": format!("{}/v1/computers/{guid}", self.base_url)}},
                    "data": {"deleted": false, "connector_guid": guid},
                }),
            );
        }
        match state.computers.remove(guid) {
            Some(_) => {
                self.changed(guid);
                json_response(
                    StatusCode::OK,
                    json!({
                        "version": V1_VERSION,
                        "metadata": {"links": {"self": format!("{}/v1/computers/{guid}", self.base_url)}},
                        "data": {"deleted": true, "connector_guid": guid},
                    }),
                )
            }
            None => v1_error(StatusCode::NOT_FOUND, &["computer not found"]),
        }
    }

    /// `PATCH /v1/computers/{guid}` with `group_guid`, as a form (Cisco's sample) or JSON.
    fn move_computer(&self, req: &Req<'_>, guid: &str) -> Response {
        let group_guid = if req.content_type_is("application/x-www-form-urlencoded") {
            req.form()
                .into_iter()
                .find(|(k, _)| k == "group_guid")
                .map(|(_, v)| v)
        } else {
            serde_json::from_slice::<Value>(req.body)
                .ok()
                .and_then(|v| v["group_guid"].as_str().map(str::to_string))
        };
        let Some(group_guid) = group_guid else {
            return v1_error(StatusCode::BAD_REQUEST, &["group_guid is required"]);
        };
        let mut state = self.state.lock().unwrap();
        let Some(group) = state
            .groups
            .iter()
            .find(|g| g["guid"] == group_guid.as_str())
            .cloned()
        else {
            return v1_error(StatusCode::BAD_REQUEST, &["group_guid: no such group"]);
        };
        let Some(c) = state.computers.get_mut(guid) else {
            return v1_error(StatusCode::NOT_FOUND, &["computer not found"]);
        };
        c["group_guid"] = group["guid"].clone();
        c["groups"] = json!([{"guid": group["guid"], "name": group["name"]}]);
        let rendered = fleet::render(&self.base_url, c);
        self.changed(guid);
        json_response(
            StatusCode::OK,
            json!({"version": V1_VERSION, "metadata": {"links": {"self": self.self_link(req)}}, "data": rendered}),
        )
    }

    fn group_object(&self, g: &Value) -> Value {
        let mut g = g.clone();
        let link = format!(
            "{}/v1/groups/{}",
            self.base_url,
            g["guid"].as_str().unwrap_or("")
        );
        g["links"] = json!({"group": link});
        g
    }

    fn list_groups(&self, req: &Req<'_>) -> Response {
        let query = req.query();
        if let Err(r) = reject_unknown(&query, &["name", "limit", "offset"]) {
            return r;
        }
        let mut limit = MAX_LIMIT;
        let mut offset = 0;
        let mut name = None;
        for (k, v) in &query {
            let parsed = match k.as_str() {
                "limit" => parse_uint(k, v, 1..=MAX_LIMIT).map(|n| limit = n),
                "offset" => parse_uint(k, v, 0..=u64::from(u32::MAX)).map(|n| offset = n),
                _ => {
                    name = Some(v.to_lowercase());
                    Ok(())
                }
            };
            if let Err(r) = parsed {
                return r;
            }
        }
        let state = self.state.lock().unwrap();
        let matching: Vec<&Value> = state
            .groups
            .iter()
            .filter(|g| {
                name.as_ref().is_none_or(|n| {
                    g["name"]
                        .as_str()
                        .unwrap_or("")
                        .to_lowercase()
                        .contains(n.as_str())
                })
            })
            .collect();
        let data: Vec<Value> = matching
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|g| self.group_object(g))
            .collect();
        json_response(
            StatusCode::OK,
            json!({
                "version": V1_VERSION,
                "metadata": {
                    "links": {"self": self.self_link(req)},
                    "results": {"total": matching.len(), "current_item_count": data.len(), "index": offset, "items_per_page": limit},
                },
                "data": data,
            }),
        )
    }

    fn get_group(&self, req: &Req<'_>, guid: &str) -> Response {
        let state = self.state.lock().unwrap();
        match state.groups.iter().find(|g| g["guid"] == guid) {
            Some(g) => json_response(
                StatusCode::OK,
                json!({"version": V1_VERSION, "metadata": {"links": {"self": self.self_link(req)}}, "data": self.group_object(g)}),
            ),
            None => v1_error(StatusCode::NOT_FOUND, &["group not found"]),
        }
    }
}
