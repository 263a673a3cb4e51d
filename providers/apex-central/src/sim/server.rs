//! Request handling of the simulator: routing, JWT and checksum verification, agent actions.

// Checks return the error response itself; its size does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use jsonwebtoken::{Algorithm, DecodingKey};
use rand::Rng;
use serde_json::{Map, Value, json};

use super::Inner;
use super::fleet::AGENT_SERVER_PRODUCT;
use crate::auth::{TOKEN_VERSION, checksum, raw_url};
use crate::error::meaning;
use crate::model::{ACT_ISOLATE, ACT_RELOCATE, ACT_RESTORE, ACT_UNINSTALL};
use crate::unconfirmed::sim_http_status;

const AGENT_SELECTORS: &[&str] = &[
    "entity_id",
    "ip_address",
    "mac_address",
    "host_name",
    "product",
    "managing_server_id",
];
const SERVER_SELECTORS: &[&str] = &["entity_id", "ip_address", "host_name", "product"];
const ACTION_SELECTORS: &[&str] = &[
    "entity_id",
    "ip_address",
    "mac_address",
    "host_name",
    "product",
];

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new().fallback(handle).with_state(inner)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Resource {
    Agents,
    Servers,
}

impl Resource {
    /// Paths match case-insensitively, with or without a trailing slash (XSOAR posts to
    /// `…/ProductAgents/`).
    fn parse(path: &str) -> Option<Self> {
        match path.trim_end_matches('/').to_ascii_lowercase().as_str() {
            "/webapp/api/agentresource/productagents" => Some(Self::Agents),
            "/webapp/api/serverresource/productservers" => Some(Self::Servers),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Agents => "ProductAgents",
            Self::Servers => "ProductServers",
        }
    }
}

/// The documented envelope with a negative code, at the code's HTTP status.
fn failure(code: i64, detail: &str) -> Response {
    let status = StatusCode::from_u16(sim_http_status(code)).unwrap();
    let description = match (meaning(code), detail) {
        (Some(m), "") => m.to_string(),
        (Some(m), d) => format!("{m}: {d}"),
        (None, d) => d.to_string(),
    };
    (
        status,
        axum::Json(
            json!({"result_code": code, "result_description": description, "result_content": ""}),
        ),
    )
        .into_response()
}

fn success(content: Vec<Value>) -> Response {
    axum::Json(json!({"result_code": 1, "result_description": "Operation successful", "result_content": content}))
        .into_response()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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
    sim.revocation.hit();
    let mut resp = match Resource::parse(uri.path()) {
        None => {
            sim.count("unknown path");
            (StatusCode::NOT_FOUND, "Not Found").into_response()
        }
        Some(resource) => {
            sim.count(&format!("{method} {}", resource.name()));
            sim.respond(resource, &method, &uri, &headers, &body)
        }
    };
    let rid: u64 = sim.rng.lock().unwrap().random();
    resp.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_str(&format!("{rid:016x}")).unwrap(),
    );
    sim.count(resp.status().as_str());
    resp
}

/// Does `item` match the selector `key = value` (every selector must match)?
fn matches(item: &Value, key: &str, value: &str) -> bool {
    let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default();
    match key {
        "entity_id" | "managing_server_id" => field(key).eq_ignore_ascii_case(value),
        "host_name" => field(key).to_lowercase() == value.to_lowercase(),
        "product" => field(key) == value,
        "ip_address" => field("ip_address_list")
            .split(',')
            .any(|ip| ip.trim() == value),
        "mac_address" => field("mac_address_list")
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case(value)),
        _ => false,
    }
}

impl Inner {
    fn respond(
        &self,
        resource: Resource,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Response {
        if self.cfg.error_rate > 0.0
            && self.rng.lock().unwrap().random::<f64>() < self.cfg.error_rate
        {
            let mut r = failure(-99, "service temporarily unavailable");
            *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            self.count("result_code -99");
            return r;
        }
        let result =
            self.verify(method, uri, headers, body)
                .and_then(|()| match (resource, method) {
                    (Resource::Agents, &Method::GET) => self.list_agents(uri),
                    (Resource::Agents, &Method::POST) => self.agent_action(uri, body),
                    (Resource::Servers, &Method::GET) => self.list_servers(uri),
                    _ => Err(failure(-50, &format!("{method} is not supported here"))),
                });
        let resp = result.unwrap_or_else(|r| r);
        if resp.status().is_success() {
            self.count("result_code 1");
        }
        resp
    }

    /// Query parameters as received; 400 / -21 for a parameter the endpoint does not know.
    fn query_params(&self, uri: &Uri, known: &[&str]) -> Result<Vec<(String, String)>, Response> {
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        if let Some((k, _)) = params.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(self.fail(-21, &format!("unknown parameter {k}")));
        }
        Ok(params)
    }

    fn fail(&self, code: i64, detail: &str) -> Response {
        self.count(&format!("result_code {code}"));
        failure(code, detail)
    }

    /// Verify the JWT like Apex Central: token present, well-formed JWT, supported algorithm,
    /// version V1, known application, signature over the received header and payload bytes,
    /// `iat` within the communication time-out, checksum of the received request.
    fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<(), Response> {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| self.fail(-2, ""))?;
        let parts: Vec<&str> = token.split('.').collect();
        let [head, payload, signature] = parts.as_slice() else {
            return Err(self.fail(-3, "not a compact JWT"));
        };
        let decode = |part: &str| -> Option<Map<String, Value>> {
            let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
            match serde_json::from_slice(&bytes).ok()? {
                Value::Object(m) => Some(m),
                _ => None,
            }
        };
        let head_json = decode(head).ok_or_else(|| self.fail(-3, "unreadable JWT header"))?;
        if head_json.get("typ").and_then(Value::as_str) != Some("JWT") {
            return Err(self.fail(-3, "typ must be JWT"));
        }
        let alg = match head_json.get("alg").and_then(Value::as_str) {
            Some("HS256") => Algorithm::HS256,
            Some("HS384") => Algorithm::HS384,
            Some("HS512") => Algorithm::HS512,
            _ => return Err(self.fail(-9, "")),
        };
        let claims = decode(payload).ok_or_else(|| self.fail(-3, "unreadable JWT payload"))?;
        let text = |k: &str| claims.get(k).and_then(Value::as_str);
        // The samples send a fractional `iat`; both forms are accepted.
        let iat = claims.get("iat").and_then(Value::as_f64);
        let (Some(appid), Some(iat), Some(version), Some(sum)) =
            (text("appid"), iat, text("version"), text("checksum"))
        else {
            return Err(self.fail(-3, "appid, iat, version and checksum are required"));
        };
        if version != TOKEN_VERSION {
            return Err(self.fail(-4, ""));
        }
        // A removed application is unknown (AC19-RESP / CM7-CODES: -5, "invalid application
        // ID", an authorization error: HTTP 401).
        if appid != self.cfg.application_id || self.revocation.revoked() {
            return Err(self.fail(-5, ""));
        }
        let message = format!("{head}.{payload}");
        let key = DecodingKey::from_secret(self.cfg.api_key.as_bytes());
        if !jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, alg).unwrap_or(false)
        {
            return Err(self.fail(-7, ""));
        }
        let now = now_secs();
        if now - iat > self.cfg.communication_timeout.as_secs_f64() {
            return Err(self.fail(
                -6,
                "the request arrived later than the communication time-out",
            ));
        }
        if iat - now > self.cfg.future_skew.as_secs_f64() {
            return Err(self.fail(-6, "iat is in the future"));
        }
        let expected = checksum(method.as_str(), &raw_url(uri.path(), uri.query()), body);
        if sum != expected {
            return Err(self.fail(-8, ""));
        }
        Ok(())
    }

    fn list_agents(&self, uri: &Uri) -> Result<Response, Response> {
        let params = self.query_params(uri, AGENT_SELECTORS)?;
        let state = self.state.lock().unwrap();
        let items = state
            .agents
            .values()
            .filter(|a| params.iter().all(|(k, v)| matches(a, k, v)))
            .cloned()
            .collect();
        Ok(success(items))
    }

    fn list_servers(&self, uri: &Uri) -> Result<Response, Response> {
        let params = self.query_params(uri, SERVER_SELECTORS)?;
        let state = self.state.lock().unwrap();
        let items = state
            .servers
            .iter()
            .filter(|s| params.iter().all(|(k, v)| matches(s, k, v)))
            .cloned()
            .collect();
        Ok(success(items))
    }

    fn agent_action(&self, uri: &Uri, body: &Bytes) -> Result<Response, Response> {
        if uri.query().is_some_and(|q| !q.is_empty()) {
            return Err(self.fail(-21, "actions take their parameters in the body"));
        }
        let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
            return Err(self.fail(-21, "the body must be a JSON object"));
        };
        let known = [
            "act",
            "allow_multiple_match",
            "relocate_to_server_id",
            "relocate_to_folder_path",
        ];
        if let Some(k) = req
            .keys()
            .find(|k| !known.contains(&k.as_str()) && !ACTION_SELECTORS.contains(&k.as_str()))
        {
            return Err(self.fail(-21, &format!("unknown parameter {k}")));
        }
        let act = match req.get("act").and_then(Value::as_str) {
            None => return Err(self.fail(-21, "act is required")),
            Some(a @ (ACT_UNINSTALL | ACT_RELOCATE | ACT_ISOLATE | ACT_RESTORE)) => a,
            Some(other) => return Err(self.fail(-22, &format!("unknown act {other}"))),
        };
        // Documented as a "String" True/False; the examples send booleans. Both are accepted.
        let allow_multiple = match req.get("allow_multiple_match") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(self.fail(-21, "allow_multiple_match is required (True or False)")),
        };
        let mut selectors = Vec::new();
        for key in ACTION_SELECTORS {
            match req.get(*key) {
                None => {}
                Some(Value::String(v)) if !v.is_empty() => selectors.push((*key, v.as_str())),
                Some(_) => return Err(self.fail(-21, &format!("{key} must be a non-empty string"))),
            }
        }
        if selectors.is_empty() {
            return Err(self.fail(-21, "at least one agent selector is required"));
        }
        let relocate = if act == ACT_RELOCATE {
            let field = |k: &str| req.get(k).and_then(Value::as_str).filter(|v| !v.is_empty());
            let (Some(server), Some(folder)) = (
                field("relocate_to_server_id"),
                field("relocate_to_folder_path"),
            ) else {
                return Err(self.fail(
                    -21,
                    "relocate_to_server_id and relocate_to_folder_path are required",
                ));
            };
            Some((server.to_string(), folder.to_string()))
        } else {
            if req.contains_key("relocate_to_server_id")
                || req.contains_key("relocate_to_folder_path")
            {
                return Err(self.fail(
                    -21,
                    "relocate parameters are only valid with cmd_relocate_agent",
                ));
            }
            None
        };

        let mut state = self.state.lock().unwrap();
        let target = match &relocate {
            None => None,
            Some((server_id, folder)) => {
                let Some(server) = state.servers.iter().find(|s| {
                    s["entity_id"]
                        .as_str()
                        .is_some_and(|id| id.eq_ignore_ascii_case(server_id))
                }) else {
                    return Err(self.fail(-105, ""));
                };
                if server["product"] != AGENT_SERVER_PRODUCT {
                    return Err(self.fail(-107, ""));
                }
                Some((
                    server["entity_id"].as_str().unwrap().to_string(),
                    folder.clone(),
                ))
            }
        };
        let matched: Vec<String> = state
            .agents
            .values()
            .filter(|a| selectors.iter().all(|(k, v)| matches(a, k, v)))
            .map(|a| a["entity_id"].as_str().unwrap_or_default().to_string())
            .collect();
        if matched.len() > 1 && !allow_multiple {
            return Err(self.fail(-102, &format!("{} agents match", matched.len())));
        }
        // Agents without the capability are not affected (result_code 1, possibly with an
        // empty result_content: see unconfirmed::EMPTY_RESULT_MEANS_NOT_APPLICABLE).
        let applicable: Vec<String> = matched
            .into_iter()
            .filter(|id| {
                state.agents[id]["capabilities"]
                    .as_array()
                    .is_some_and(|caps| caps.iter().any(|c| c == act))
            })
            .collect();
        let mut affected = Vec::new();
        for id in &applicable {
            let agent = state.agents.get_mut(id).expect("matched agent");
            match act {
                ACT_RELOCATE => {
                    let (server, folder) = target.as_ref().expect("relocate target");
                    agent["managing_server_id"] = json!(server);
                    agent["folder_path"] = json!(folder);
                }
                ACT_ISOLATE => agent["isolation_status"] = json!("isolated"),
                ACT_RESTORE => agent["isolation_status"] = json!("normal"),
                _ => {}
            }
            affected.push(agent.clone());
            if act == ACT_UNINSTALL && self.cfg.uninstall_removes_agent {
                state.agents.remove(id);
            }
        }
        if !applicable.is_empty() {
            let mut record = json!({
                "act": act,
                "entity_ids": applicable,
                "allow_multiple_match": allow_multiple,
            });
            if let Some((server, folder)) = &target {
                record["relocate_to_server_id"] = json!(server);
                record["relocate_to_folder_path"] = json!(folder);
            }
            state.actions.push(record);
            self.count(&format!("act {act}"));
        }
        Ok(success(affected))
    }
}
