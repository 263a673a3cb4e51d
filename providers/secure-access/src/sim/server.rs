//! Request handling of the simulator: routing, tokens, scopes, quotas, faults, error shapes.

// Checks return the error response itself; its size does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agentctl_core::sim::Req;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri, header};
use jiff::Timestamp;
use rand::Rng;
use serde_json::{Value, json};

use super::fleet::{self, DNS_STATUSES, SWG_STATUSES};
use super::{ExpiredToken, Inner};
use crate::keyadmin;
use crate::unconfirmed;

/// What a token grants.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    key: String,
    scopes: Vec<String>,
    org: Option<String>,
    expires: Instant,
}

/// Arrival times of the requests one key made in one scope (a sliding-window log).
#[derive(Default)]
pub(crate) struct Log(VecDeque<Instant>);

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

/// The three API families answer errors in different shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Token,
    Roaming,
    Tunnels,
    Admin,
    Unknown,
}

enum Resource<'a> {
    Token,
    Roaming,
    Device(&'a str),
    Tunnels,
    Tunnel(&'a str),
    Keys,
    Key(&'a str),
    KeyRefresh(&'a str),
    Unknown,
}

impl<'a> Resource<'a> {
    fn parse(path: &'a str) -> Self {
        let keys = keyadmin::API_KEYS_PATH.trim_matches('/');
        let rest = path.trim_matches('/');
        if let Some(tail) = rest.strip_prefix(keys) {
            let segs: Vec<&str> = tail.trim_start_matches('/').split('/').collect();
            return match segs.as_slice() {
                [""] => Self::Keys,
                [id] => Self::Key(id),
                [id, "refresh"] => Self::KeyRefresh(id),
                _ => Self::Unknown,
            };
        }
        let segs: Vec<&str> = rest.split('/').collect();
        match segs.as_slice() {
            ["auth", "v2", "token"] => Self::Token,
            ["deployments", "v2", "roamingcomputers"] => Self::Roaming,
            ["deployments", "v2", "roamingcomputers", id] => Self::Device(id),
            ["deployments", "v2", "networktunnelgroups"] => Self::Tunnels,
            ["deployments", "v2", "networktunnelgroups", id] => Self::Tunnel(id),
            _ => Self::Unknown,
        }
    }

    fn template(&self) -> String {
        match self {
            Self::Token => "/auth/v2/token".into(),
            Self::Roaming => "/deployments/v2/roamingcomputers".into(),
            Self::Device(_) => "/deployments/v2/roamingcomputers/{deviceId}".into(),
            Self::Tunnels => "/deployments/v2/networktunnelgroups".into(),
            Self::Tunnel(_) => "/deployments/v2/networktunnelgroups/{id}".into(),
            Self::Keys => keyadmin::API_KEYS_PATH.into(),
            Self::Key(_) => keyadmin::api_key_path("{id}"),
            Self::KeyRefresh(_) => keyadmin::api_key_refresh_path("{id}"),
            Self::Unknown => "unknown".into(),
        }
    }

    fn family(&self) -> Family {
        match self {
            Self::Token => Family::Token,
            Self::Roaming | Self::Device(_) => Family::Roaming,
            Self::Tunnels | Self::Tunnel(_) => Family::Tunnels,
            Self::Keys | Self::Key(_) | Self::KeyRefresh(_) => Family::Admin,
            Self::Unknown => Family::Unknown,
        }
    }

    /// The quota bucket (per key).
    fn quota_scope(&self) -> &'static str {
        match self.family() {
            Family::Token => "auth",
            Family::Admin => "admin",
            _ => "deployments",
        }
    }

    /// The OAuth scope a method on this resource needs.
    fn needs(&self, method: &Method) -> Option<&'static str> {
        let write = !matches!(*method, Method::GET | Method::HEAD);
        Some(match (self, write) {
            (Self::Roaming | Self::Device(_), false) => "deployments.roamingcomputers:read",
            (Self::Roaming | Self::Device(_), true) => "deployments.roamingcomputers:write",
            (Self::Tunnels | Self::Tunnel(_), false) => "deployments.networktunnelgroups:read",
            (Self::Tunnels | Self::Tunnel(_), true) => "deployments.networktunnelgroups:write",
            (Self::Keys | Self::Key(_), false) => "admin.apikeys:read",
            (Self::Keys, true) => "admin.apikeys:create",
            (Self::Key(_), true) if *method == Method::DELETE => "admin.apikeys:delete",
            (Self::Key(_), true) => "admin.apikeys:update",
            (Self::KeyRefresh(_), _) => "admin.apikeys:refresh",
            _ => return None,
        })
    }
}

/// Does `granted` cover `needed`? A `:write` grant also reads.
fn has_scope(granted: &[String], needed: &str) -> bool {
    granted.iter().any(|g| {
        g == needed
            || (needed.ends_with(":read")
                && g.strip_suffix(":write") == needed.strip_suffix(":read"))
    })
}

async fn handle(
    State(sim): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !sim.cfg.latency.is_zero() {
        tokio::time::sleep(sim.cfg.latency).await;
    }
    let resource = Resource::parse(uri.path());
    sim.revocation.hit();
    sim.count(&format!("{method} {}", resource.template()));
    let req = Req {
        method: &method,
        uri: &uri,
        headers: &headers,
        body: &body,
    };
    let request_id = sim.request_id();
    let resp = sim.respond(&resource, &req, &request_id);
    sim.count(resp.status().as_str());
    let mut resp = resp;
    resp.headers_mut()
        .insert("x-request-id", HeaderValue::from_str(&request_id).unwrap());
    resp
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl Inner {
    fn request_id(&self) -> String {
        let mut rng = self.rng.lock().unwrap();
        format!(
            "{}-{}-4{}-a{}-{}",
            fleet::hex(&mut rng, 8, false),
            fleet::hex(&mut rng, 4, false),
            fleet::hex(&mut rng, 3, false),
            fleet::hex(&mut rng, 3, false),
            fleet::hex(&mut rng, 12, false)
        )
    }

    /// An error in the family's documented shape.
    fn error(&self, family: Family, status: StatusCode, message: &str, rid: &str) -> Response {
        match family {
            Family::Token => json_response(status, json!({"message": message})),
            Family::Tunnels => json_response(status, json!({"error": message, "requestId": rid})),
            // Key Admin error models (UnauthorizedError, ForbiddenError, NotFoundError,
            // AlreadyExistsError, UnsupportedMediaError, ServiceUnavailableError:
            // secureaccess/models/*_error.py): `description` + `message` ∈ {success, error}.
            Family::Admin => json_response(
                status,
                json!({"message": keyadmin::MESSAGE_ERROR, "description": message}),
            ),
            Family::Roaming | Family::Unknown => json_response(
                status,
                json!({"statusCode": status.as_u16(), "error": reason(status), "message": message}),
            ),
        }
    }

    fn respond(&self, resource: &Resource<'_>, req: &Req<'_>, rid: &str) -> Response {
        let family = resource.family();
        if family == Family::Unknown {
            return self.error(family, StatusCode::NOT_FOUND, "Not Found", rid);
        }
        if family == Family::Token {
            return self.token(req);
        }
        let grant = match self.check_token(family, req, rid) {
            Ok(g) => g,
            Err(resp) => return resp,
        };
        if let Some(needed) = resource.needs(req.method)
            && !has_scope(&grant.scopes, needed)
        {
            return self.error(family, StatusCode::FORBIDDEN, "Access Forbidden", rid);
        }
        if let Err(resp) = self.spend(&grant.key, resource.quota_scope(), family, rid) {
            return resp;
        }
        if self.cfg.error_rate > 0.0
            && self
                .rng
                .lock()
                .unwrap()
                .random_bool(self.cfg.error_rate.min(1.0))
        {
            return self.error(
                family,
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
                rid,
            );
        }
        let m = req.method;
        match (resource, m) {
            (Resource::Roaming, &Method::GET) => self.list_roaming(req, rid),
            (Resource::Device(id), &Method::GET) => self.get_device(id, rid),
            (Resource::Device(id), &Method::DELETE) => self.delete_device(id, rid),
            (Resource::Tunnels, &Method::GET) => self.list_tunnels(req, rid),
            (Resource::Tunnel(id), &Method::GET) => self.get_tunnel(id, rid),
            (Resource::Keys, &Method::GET) => self.list_keys(req, rid),
            (Resource::Keys, &Method::POST) => self.create_key(req, rid),
            (Resource::Key(id), &Method::GET) => self.get_key(id, rid),
            (Resource::Key(id), &Method::DELETE) => self.delete_key(id, rid),
            (Resource::KeyRefresh(id), &Method::POST) => self.refresh_key(id, req, rid),
            _ => self.error(
                family,
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                rid,
            ),
        }
    }

    // ----- auth -------------------------------------------------------------------------

    /// The scopes of key `id` with `secret`, if that pair is valid now.
    fn key_scopes(&self, id: &str, secret: &str) -> Option<Vec<String>> {
        if self.key_revoked(id) {
            return None;
        }
        if id == self.cfg.key_admin_key && secret == self.cfg.key_admin_secret {
            return Some(
                ["read", "create", "update", "delete", "refresh"]
                    .iter()
                    .map(|p| format!("admin.apikeys:{p}"))
                    .collect(),
            );
        }
        // Every other key, the configured deployments key included, lives in the Key Admin
        // list: deleting or refreshing it there changes what it can do here.
        let mut state = self.state.lock().unwrap();
        let key = state
            .api_keys
            .iter_mut()
            .find(|k| k.client_id() == id && k.secret == secret)?;
        let expire = key.key["expireAt"].as_str().unwrap_or_default();
        if !expire.is_empty()
            && expire
                .parse::<Timestamp>()
                .is_ok_and(|t| t <= Timestamp::now())
        {
            return None;
        }
        key.key["lastUsedAt"] = json!(fleet::wire_time_s(Timestamp::now()));
        Some(key.scopes())
    }

    /// Key `id` was revoked by the `revoke_credentials_after` knob.
    fn key_revoked(&self, id: &str) -> bool {
        id == self.cfg.api_key && self.revocation.revoked()
    }

    fn token(&self, req: &Req<'_>) -> Response {
        let err = |status: StatusCode, msg: &str| self.error(Family::Token, status, msg, "");
        if *req.method != Method::POST {
            return err(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        }
        let Some((id, secret)) = req.basic() else {
            return err(StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        if let Err(resp) = self.spend(&id, "auth", Family::Token, "") {
            return resp;
        }
        if !req.content_type_is("application/x-www-form-urlencoded") {
            return err(
                StatusCode::BAD_REQUEST,
                "Content-Type must be application/x-www-form-urlencoded",
            );
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(req.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let grant_type = form
            .iter()
            .find(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.as_str());
        if grant_type != Some("client_credentials") {
            return err(
                StatusCode::BAD_REQUEST,
                "grant_type must be client_credentials",
            );
        }
        // An unknown, expired or revoked key: 401 `{"message": string}` (Cisco's token API
        // definition, api-evangelist/cisco-umbrella
        // openapi/_original/cisco-umbrella-auth-token.yaml, `401Error`).
        let Some(scopes) = self.key_scopes(&id, &secret) else {
            return err(StatusCode::UNAUTHORIZED, "Unauthorized");
        };
        let org = req.header(unconfirmed::ORG_HEADER).map(str::to_string);
        if let Some(org) = &org
            && !self.cfg.child_orgs.contains(org)
        {
            return err(
                StatusCode::FORBIDDEN,
                "Forbidden: the key cannot access that organization",
            );
        }
        let token = {
            let mut rng = self.rng.lock().unwrap();
            format!("sim.{}", fleet::hex(&mut rng, 48, false))
        };
        self.tokens.lock().unwrap().insert(
            token.clone(),
            Grant {
                key: id,
                scopes,
                org,
                expires: Instant::now() + self.cfg.token_ttl,
            },
        );
        // SADOC quick-start / UMBSPEC: {"token_type":"bearer","access_token":…,"expires_in":3600}.
        let mut answer = json!({ "access_token": token });
        if self.cfg.send_token_type {
            answer["token_type"] = json!("bearer");
        }
        if self.cfg.send_expires_in {
            answer["expires_in"] = json!(self.cfg.token_ttl.as_secs().max(1));
        }
        json_response(StatusCode::OK, answer)
    }

    fn check_token(&self, family: Family, req: &Req<'_>, rid: &str) -> Result<Grant, Response> {
        let invalid = || match self.cfg.expired_token {
            ExpiredToken::Unauthorized => self.error(
                family,
                StatusCode::UNAUTHORIZED,
                "Authorization token is invalid.",
                rid,
            ),
            ExpiredToken::InvalidRequest400 => {
                json_response(StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}))
            }
        };
        let Some(token) = req.authorization("Bearer") else {
            return Err(self.error(
                family,
                StatusCode::UNAUTHORIZED,
                "Authorization header is missing.",
                rid,
            ));
        };
        let grant = {
            let mut tokens = self.tokens.lock().unwrap();
            match tokens.get(token) {
                Some(g) if self.key_revoked(&g.key) => {
                    tokens.remove(token);
                    return Err(invalid());
                }
                Some(g) if g.expires > Instant::now() => g.clone(),
                Some(_) => {
                    tokens.remove(token);
                    return Err(invalid());
                }
                None => return Err(invalid()),
            }
        };
        // A token for one organization cannot address another.
        if let Some(org) = req.header(unconfirmed::ORG_HEADER)
            && grant.org.as_deref() != Some(org)
        {
            return Err(self.error(family, StatusCode::FORBIDDEN, "Access Forbidden", rid));
        }
        Ok(grant)
    }

    // ----- quotas -----------------------------------------------------------------------

    /// Count one request of `key` in `scope`, or answer 429 when any window is full.
    fn spend(
        &self,
        key: &str,
        scope: &'static str,
        family: Family,
        rid: &str,
    ) -> Result<(), Response> {
        let quotas = if scope == "auth" {
            &self.cfg.token_quotas
        } else {
            &self.cfg.quotas
        };
        if quotas.is_off() {
            return Ok(());
        }
        let now = Instant::now();
        let longest = quotas
            .quotas
            .iter()
            .map(|q| q.window)
            .max()
            .unwrap_or_default();
        let mut windows = self.windows.lock().unwrap();
        let log = windows.entry((key.to_string(), scope)).or_default();
        while log
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            log.0.pop_front();
        }
        let mut wait = Duration::ZERO;
        let mut full = None;
        for q in &quotas.quotas {
            let in_window: Vec<&Instant> = log
                .0
                .iter()
                .filter(|t| now.duration_since(**t) < q.window)
                .collect();
            if in_window.len() >= q.requests as usize {
                // Room returns when the oldest request that fills the window leaves it.
                let oldest = in_window[in_window.len() - q.requests as usize];
                wait = wait.max(q.window - now.duration_since(*oldest));
                full = Some(*q);
            }
        }
        let Some(q) = full else {
            log.0.push_back(now);
            return Ok(());
        };
        drop(windows);
        let mut resp = self.error(family, StatusCode::TOO_MANY_REQUESTS, "Exceeded Limit", rid);
        if self.cfg.rate_limit_headers {
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let h = resp.headers_mut();
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            h.insert("x-ratelimit-limit", HeaderValue::from(q.requests));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
            h.insert("x-ratelimit-reset", HeaderValue::from(secs));
        }
        Err(resp)
    }

    // ----- roaming computers ------------------------------------------------------------

    fn list_roaming(&self, req: &Req<'_>, rid: &str) -> Response {
        let bad = |msg: String| self.error(Family::Roaming, StatusCode::BAD_REQUEST, &msg, rid);
        let mut page = 1u64;
        let mut limit = 100u64;
        let mut before = None;
        let mut after = None;
        let mut name = None;
        let mut status = None;
        let mut swg = None;
        for (k, v) in req.query() {
            match k.as_str() {
                "page" => match v.parse::<u64>() {
                    Ok(p) if (1..=i32::MAX as u64).contains(&p) => page = p,
                    _ => {
                        return bad(format!(
                            "\"page\" must be an integer greater than or equal to 1, got {v:?}"
                        ));
                    }
                },
                "limit" => match v.parse::<u64>() {
                    Ok(l) if (1..=100).contains(&l) => limit = l,
                    _ => {
                        return bad(format!(
                            "\"limit\" must be an integer from 1 to 100, got {v:?}"
                        ));
                    }
                },
                "lastSyncBefore" | "lastSyncAfter" => match v.parse::<Timestamp>() {
                    Ok(t) if k == "lastSyncBefore" => before = Some(t),
                    Ok(t) => after = Some(t),
                    Err(_) => {
                        return bad(format!(
                            "\"{k}\" must be a date-time, e.g. 2024-09-19T10:34:30.000Z, got {v:?}"
                        ));
                    }
                },
                "name" => name = Some(v),
                "status" if DNS_STATUSES.contains(&v.as_str()) => status = Some(v),
                "swgStatus" if v == "Off" || SWG_STATUSES.contains(&v.as_str()) => swg = Some(v),
                "status" | "swgStatus" => {
                    return bad(format!("\"{k}\" has an invalid value {v:?}"));
                }
                other => return bad(format!("unknown query parameter \"{other}\"")),
            }
        }
        let state = self.state.lock().unwrap();
        let synced = |c: &Value| {
            c["lastSync"]
                .as_str()
                .and_then(|s| s.parse::<Timestamp>().ok())
        };
        let matching: Vec<&Value> = state
            .roaming_computers
            .iter()
            .filter(|c| before.is_none_or(|b| synced(c).is_some_and(|t| t < b)))
            .filter(|c| after.is_none_or(|a| synced(c).is_some_and(|t| t > a)))
            .filter(|c| name.as_deref().is_none_or(|n| c["name"] == n))
            .filter(|c| status.as_deref().is_none_or(|s| c["status"] == s))
            .filter(|c| swg.as_deref().is_none_or(|s| c["swgStatus"] == s))
            .collect();
        let start = ((page - 1) * limit).min(matching.len() as u64) as usize;
        let end = (start + limit as usize).min(matching.len());
        json_response(
            StatusCode::OK,
            Value::Array(matching[start..end].iter().map(|c| (*c).clone()).collect()),
        )
    }

    fn get_device(&self, id: &str, rid: &str) -> Response {
        let state = self.state.lock().unwrap();
        match state.roaming_computers.iter().find(|c| c["deviceId"] == id) {
            Some(c) => json_response(StatusCode::OK, c.clone()),
            None => self.error(
                Family::Roaming,
                StatusCode::NOT_FOUND,
                "Roaming computer not found",
                rid,
            ),
        }
    }

    fn delete_device(&self, id: &str, rid: &str) -> Response {
        let mut state = self.state.lock().unwrap();
        match state
            .roaming_computers
            .iter()
            .position(|c| c["deviceId"] == id)
        {
            Some(i) => {
                state.roaming_computers.remove(i);
                state.deleted.push(id.to_string());
                StatusCode::NO_CONTENT.into_response()
            }
            None => self.error(
                Family::Roaming,
                StatusCode::NOT_FOUND,
                "Roaming computer not found",
                rid,
            ),
        }
    }

    // ----- network tunnel groups --------------------------------------------------------

    fn list_tunnels(&self, req: &Req<'_>, rid: &str) -> Response {
        let mut offset = 0u64;
        let mut limit = 10u64;
        let mut sort_by = "name".to_string();
        let mut desc = false;
        let mut include_statuses = false;
        let mut name_filter: Option<String> = None;
        let mut status_filter: Option<String> = None;
        let mut validation = serde_json::Map::new();
        let mut first_error: Option<String> = None;
        for (k, v) in req.query() {
            match k.as_str() {
                "offset" => match v.parse::<u64>() {
                    Ok(o) => offset = o,
                    Err(_) => {
                        validation.insert(
                            "offset".into(),
                            json!("Value should be a non-negative number."),
                        );
                    }
                },
                "limit" => match v.parse::<u64>() {
                    Ok(l) if (1..=200).contains(&l) => limit = l,
                    _ => {
                        validation.insert(
                            "limit".into(),
                            json!("Value should be a number from 1 to 200."),
                        );
                    }
                },
                "sortBy" if ["name", "status", "createdAt", "modifiedAt"].contains(&v.as_str()) => {
                    sort_by = v
                }
                "sortBy" => {
                    validation.insert(
                        "sortBy".into(),
                        json!("must be one of [name status createdAt modifiedAt]."),
                    );
                }
                "sortOrder" if v == "asc" || v == "desc" => desc = v == "desc",
                "sortOrder" => {
                    validation.insert("sortOrder".into(), json!("must be one of [asc desc]."));
                }
                "includeStatuses" if v == "true" || v == "false" => include_statuses = v == "true",
                "filters" => match serde_json::from_str::<Value>(&v) {
                    Ok(Value::Object(f)) => {
                        name_filter = f.get("name").and_then(Value::as_str).map(str::to_lowercase);
                        status_filter = f.get("status").and_then(Value::as_str).map(str::to_string);
                    }
                    _ => {
                        first_error =
                            first_error.or(Some("\"filters\" query param is invalid".into()))
                    }
                },
                other => {
                    first_error =
                        first_error.or(Some(format!("\"{other}\" query param is invalid")));
                }
            }
        }
        if first_error.is_some() || !validation.is_empty() {
            let mut body = json!({
                "error": first_error.unwrap_or_else(|| "Invalid query parameters".into()),
                "requestId": rid,
            });
            if !validation.is_empty() {
                body["validationErrors"] = Value::Object(validation);
            }
            return json_response(StatusCode::BAD_REQUEST, body);
        }
        let state = self.state.lock().unwrap();
        let mut matching: Vec<Value> = state
            .tunnel_groups
            .iter()
            .filter(|g| {
                name_filter.as_deref().is_none_or(|n| {
                    g["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_lowercase()
                        .contains(n)
                })
            })
            .filter(|g| status_filter.as_deref().is_none_or(|s| g["status"] == s))
            .cloned()
            .collect();
        matching.sort_by(|a, b| {
            let key = |g: &Value| g[sort_by.as_str()].as_str().unwrap_or_default().to_string();
            key(a)
                .cmp(&key(b))
                .then(a["id"].as_u64().cmp(&b["id"].as_u64()))
        });
        if desc {
            matching.reverse();
        }
        let total = matching.len() as u64;
        let data: Vec<Value> = matching
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|mut g| {
                if let Some(hubs) = g["hubs"].as_array_mut() {
                    for h in hubs {
                        if include_statuses {
                            h["tunnelsStatus"] = json!([]);
                        }
                    }
                }
                g
            })
            .collect();
        json_response(
            StatusCode::OK,
            json!({"data": data, "offset": offset, "limit": limit, "total": total}),
        )
    }

    fn get_tunnel(&self, id: &str, rid: &str) -> Response {
        let Ok(id) = id.parse::<u64>() else {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "Network tunnel group ID is invalid.", "requestId": rid}),
            );
        };
        let state = self.state.lock().unwrap();
        match state
            .tunnel_groups
            .iter()
            .find(|g| g["id"].as_u64() == Some(id))
        {
            Some(g) => json_response(StatusCode::OK, g.clone()),
            None => self.error(Family::Tunnels, StatusCode::NOT_FOUND, "Not Found", rid),
        }
    }

    // ----- Key Admin --------------------------------------------------------------------
    //
    // Shapes: Cisco's unified Secure Access OpenAPI definition as generated into the official
    // SDK (CiscoDevNet cisco-secure-access-python-sdk, `secureaccess/api/api_keys_api.py` and
    // `secureaccess/models/{keys_response_list,key_response,key_response_with_secret,
    // key_response_refresh_secret,key_admin_key,key_for_list,key_with_secret,
    // key_refresh_secret,create_api_keys_request}.py`).

    fn admin_error(&self, status: StatusCode, message: &str, rid: &str) -> Response {
        self.error(Family::Admin, status, message, rid)
    }

    /// A request-model refusal (status not in Cisco's definition; see `unconfirmed`).
    fn invalid(&self, message: &str, rid: &str) -> Response {
        self.admin_error(
            StatusCode::from_u16(unconfirmed::KEY_ADMIN_VALIDATION_STATUS)
                .unwrap_or(StatusCode::BAD_REQUEST),
            message,
            rid,
        )
    }

    /// `KeysResponseList`: `{keys: [KeyForList], offset, limit, total, message}`; `limit` 0
    /// (the default) means no limit.
    fn list_keys(&self, req: &Req<'_>, rid: &str) -> Response {
        let mut offset = 0u64;
        let mut limit = 0u64;
        for (k, v) in req.query() {
            match k.as_str() {
                "offset" => match v.parse() {
                    Ok(o) => offset = o,
                    Err(_) => {
                        return self.invalid(
                            &format!("offset must be a non-negative integer, got {v:?}"),
                            rid,
                        );
                    }
                },
                "limit" => match v.parse() {
                    Ok(l) => limit = l,
                    Err(_) => {
                        return self.invalid(
                            &format!("limit must be a non-negative integer, got {v:?}"),
                            rid,
                        );
                    }
                },
                other => {
                    return self.invalid(&format!("unknown query parameter {other:?}"), rid);
                }
            }
        }
        let state = self.state.lock().unwrap();
        let total = state.api_keys.len() as u64;
        let take = if limit == 0 {
            usize::MAX
        } else {
            limit as usize
        };
        let keys: Vec<Value> = state
            .api_keys
            .iter()
            .skip(offset as usize)
            .take(take)
            .map(|k| fleet::key_for_list(&k.key))
            .collect();
        json_response(
            StatusCode::OK,
            json!({"keys": keys, "offset": offset, "limit": limit, "total": total,
                   "message": keyadmin::MESSAGE_SUCCESS}),
        )
    }

    /// `KeyResponse`: `{key: KeyAdminKey, message}`.
    fn get_key(&self, id: &str, rid: &str) -> Response {
        let state = self.state.lock().unwrap();
        match state.api_keys.iter().find(|k| k.id() == id) {
            Some(k) => json_response(
                StatusCode::OK,
                json!({"key": k.key, "message": keyadmin::MESSAGE_SUCCESS}),
            ),
            None => self.admin_error(StatusCode::NOT_FOUND, "The API key was not found.", rid),
        }
    }

    /// The body of a create / refresh answer, bent by the `issued_answer` knob.
    fn issued_answer(&self, key: Value) -> Value {
        match self.cfg.issued_answer {
            super::IssuedAnswer::Published => {
                json!({"key": key, "message": keyadmin::MESSAGE_SUCCESS})
            }
            super::IssuedAnswer::ExtraEnvelope => {
                json!({"data": {"key": key, "message": keyadmin::MESSAGE_SUCCESS}})
            }
            super::IssuedAnswer::MissingFields => {
                let mut key = key;
                if let Some(o) = key.as_object_mut() {
                    for f in ["id", "createdAt", "modifiedAt", "scopes"] {
                        o.remove(f);
                    }
                }
                json!({"key": key, "message": keyadmin::MESSAGE_SUCCESS})
            }
        }
    }

    /// `POST /apiKeys` with `CreateAPIKeysRequest`: 201 `KeyResponseWithSecret`; 409
    /// AlreadyExistsError for a taken name; 415 UnsupportedMediaError for a non-JSON body.
    fn create_key(&self, req: &Req<'_>, rid: &str) -> Response {
        if !req.content_type_is("application/json") {
            return self.admin_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The request Content-Type must be application/json.",
                rid,
            );
        }
        let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(req.body) else {
            return self.invalid("the request body must be a JSON object", rid);
        };
        if let Some(k) = body
            .keys()
            .find(|k| !keyadmin::CREATE_FIELDS.contains(&k.as_str()))
        {
            return self.invalid(&format!("unknown field {k:?}"), rid);
        }
        let name = match body.get("name") {
            Some(Value::String(n)) => n.as_str(),
            _ => return self.invalid("name is required and must be a string", rid),
        };
        if let Err(why) = keyadmin::check_name(name) {
            return self.invalid(&format!("name: {why}"), rid);
        }
        let description = match body.get("description") {
            None | Some(Value::Null) => "",
            Some(Value::String(d)) if d.chars().count() <= keyadmin::DESCRIPTION_MAX_CHARS => {
                d.as_str()
            }
            Some(_) => {
                return self.invalid(
                    "description must be a string of at most 256 characters",
                    rid,
                );
            }
        };
        let strings = |v: Option<&Value>| -> Option<Vec<String>> {
            v?.as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        let Some(scopes) = strings(body.get("scopes")) else {
            return self.invalid("scopes is required and must be an array of strings", rid);
        };
        let valid_scope = |s: &str| {
            s.split_once(':').is_some_and(|(r, p)| {
                !r.is_empty()
                    && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
                    && ["read", "write", "create", "update", "delete", "refresh"].contains(&p)
            })
        };
        if scopes.is_empty() || !scopes.iter().all(|s| valid_scope(s)) {
            return self.invalid("scopes must be \"scope:permission\" strings", rid);
        }
        let allowed_ips = match body.get("allowedIPs") {
            None | Some(Value::Null) => Vec::new(),
            v => match strings(v) {
                Some(ips) => ips,
                None => return self.invalid("allowedIPs must be an array of strings", rid),
            },
        };
        let expire_at = match body.get("expireAt") {
            None | Some(Value::Null) => "",
            Some(Value::String(e)) => e.as_str(),
            Some(_) => return self.invalid("expireAt must be a string", rid),
        };
        if !expire_at.is_empty() {
            match expire_at.parse::<Timestamp>() {
                Ok(t) if t > Timestamp::now() => {}
                Ok(_) => return self.invalid("expireAt must be in the future", rid),
                Err(_) => {
                    return self.invalid(
                        "expireAt must be an ISO 8601 date-time or an empty string",
                        rid,
                    );
                }
            }
        }
        let mut state = self.state.lock().unwrap();
        if state.api_keys.iter().any(|k| k.key["name"] == name) {
            return self.admin_error(
                StatusCode::CONFLICT,
                "An API key with this name already exists.",
                rid,
            );
        }
        state.next_key_seed = state.next_key_seed.wrapping_add(1);
        let mut key = fleet::new_api_key(
            state.next_key_seed,
            name,
            &scopes,
            expire_at,
            description,
            Timestamp::now(),
        );
        key.key["allowedIPs"] = json!(allowed_ips);
        key.key["creatorKeyId"] = json!(self.cfg.key_admin_key);
        // KeyWithSecret: the key with its client id and secret.
        let mut shown = key.key.clone();
        shown["clientSecret"] = json!(key.secret);
        state.api_keys.push(key);
        json_response(StatusCode::CREATED, self.issued_answer(shown))
    }

    /// `POST /apiKeys/{id}/refresh`: 200 `KeyResponseRefreshSecret`; the old secret stops
    /// working at once.
    fn refresh_key(&self, id: &str, req: &Req<'_>, rid: &str) -> Response {
        if req.header("content-type").is_some() && !req.content_type_is("application/json") {
            return self.admin_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "The request Content-Type must be application/json.",
                rid,
            );
        }
        let mut state = self.state.lock().unwrap();
        state.next_key_seed = state.next_key_seed.wrapping_add(1);
        let seed = state.next_key_seed;
        let Some(key) = state.api_keys.iter_mut().find(|k| k.id() == id) else {
            return self.admin_error(StatusCode::NOT_FOUND, "The API key was not found.", rid);
        };
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
        key.secret = fleet::hex(&mut rng, 32, false);
        let now = json!(fleet::wire_time_s(Timestamp::now()));
        key.key["modifiedAt"] = now.clone();
        key.key["lastRefreshedAt"] = now;
        // KeyRefreshSecret has no allowedIPs.
        let mut shown = fleet::key_for_list(&key.key);
        shown["clientSecret"] = json!(key.secret);
        let client_id = key.client_id().to_string();
        drop(state);
        if unconfirmed::REFRESH_REVOKES_TOKENS {
            self.tokens
                .lock()
                .unwrap()
                .retain(|_, g| g.key != client_id);
        }
        json_response(StatusCode::OK, self.issued_answer(shown))
    }

    /// `DELETE /apiKeys/{id}`: 204 without a body; the key and its tokens stop working.
    fn delete_key(&self, id: &str, rid: &str) -> Response {
        let mut state = self.state.lock().unwrap();
        let Some(i) = state.api_keys.iter().position(|k| k.id() == id) else {
            return self.admin_error(StatusCode::NOT_FOUND, "The API key was not found.", rid);
        };
        let removed = state.api_keys.remove(i);
        drop(state);
        let client_id = removed.client_id().to_string();
        self.tokens
            .lock()
            .unwrap()
            .retain(|_, g| g.key != client_id);
        StatusCode::NO_CONTENT.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_scope_also_reads() {
        let g = vec!["deployments.roamingcomputers:write".to_string()];
        assert!(has_scope(&g, "deployments.roamingcomputers:read"));
        assert!(has_scope(&g, "deployments.roamingcomputers:write"));
        assert!(!has_scope(&g, "deployments.networktunnelgroups:read"));
        let r = vec!["deployments.roamingcomputers:read".to_string()];
        assert!(!has_scope(&r, "deployments.roamingcomputers:write"));
    }

    #[test]
    fn routes() {
        assert!(matches!(
            Resource::parse("/admin/v2/apiKeys"),
            Resource::Keys
        ));
        assert!(matches!(
            Resource::parse("/admin/v2/apiKeys/ab-1"),
            Resource::Key("ab-1")
        ));
        assert!(matches!(
            Resource::parse("/admin/v2/apiKeys/ab-1/refresh"),
            Resource::KeyRefresh("ab-1")
        ));
        assert!(matches!(
            Resource::parse("/deployments/v2/roamingcomputers/AB00"),
            Resource::Device("AB00")
        ));
        assert!(matches!(
            Resource::parse("/deployments/v2/roaming"),
            Resource::Unknown
        ));
    }
}
