//! Request handling of the simulator: routing, the token endpoint, bearer and tenant checks,
//! injected faults, and the GraphQL endpoint (parse, validate, execute).

// Checks return the error response itself; its size does not matter in a test server.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_graphql::parser::types::{DocumentOperations, Selection};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Inner;
use super::fleet;
use super::schema::{AgentSchema, TaegisSchema};
use agentctl_taegis::TOKEN_PATH;
use agentctl_taegis::client::{GRAPHQL_PATH, TENANT_HEADER};
use agentctl_taegis::documents::ENDPOINT_GROUPS_PATH;
use agentctl_taegis::unconfirmed;

/// The tenant-ids claim the official SDK reads.
pub const TENANT_IDS_CLAIM: &str = "https://missione/octolabs/io/tenantIds";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
    jti: String,
    #[serde(rename = "https://missione/octolabs/io/tenantIds")]
    tenant_ids: Vec<String>,
}

#[derive(Clone)]
struct App {
    inner: Arc<Inner>,
    schema: TaegisSchema,
    /// The endpoint-management gateway's schema (`/agent-graphql`).
    agent_schema: AgentSchema,
}

pub(crate) fn router(inner: Arc<Inner>, schema: TaegisSchema, agent_schema: AgentSchema) -> Router {
    Router::new().fallback(handle).with_state(App {
        inner,
        schema,
        agent_schema,
    })
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// A GraphQL-shaped error answer.
fn gql_error(status: StatusCode, message: &str, code: Option<&str>) -> Response {
    let mut err = json!({ "message": message });
    if let Some(code) = code {
        err["extensions"] = json!({ "code": code });
    }
    json_response(status, json!({ "data": null, "errors": [err] }))
}

async fn handle(
    State(app): State<App>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sim = &app.inner;
    if !sim.cfg.latency.is_zero() {
        tokio::time::sleep(sim.cfg.latency).await;
    }
    let path = uri.path().trim_end_matches('/');
    sim.revocation.hit();
    sim.counts.hit(&format!("{method} {path}"));
    let request_id = {
        let mut rng = sim.rng.lock().unwrap();
        fleet::uuid(&mut rng)
    };
    let mut resp = match (path, &method) {
        (p, &Method::POST) if p == TOKEN_PATH => sim.token(&headers, &body),
        (p, &Method::POST) if p == GRAPHQL_PATH => {
            graphql(&app.inner, &app.schema, &headers, &body).await
        }
        (p, &Method::POST) if p == ENDPOINT_GROUPS_PATH => {
            graphql(&app.inner, &app.agent_schema, &headers, &body).await
        }
        (p, _) if p == TOKEN_PATH || p == GRAPHQL_PATH || p == ENDPOINT_GROUPS_PATH => {
            json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"error": "method not allowed"}),
            )
        }
        _ => json_response(StatusCode::NOT_FOUND, json!({"error": "not found"})),
    };
    sim.counts.hit(resp.status().as_str());
    resp.headers_mut()
        .insert("x-request-id", HeaderValue::from_str(&request_id).unwrap());
    resp
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

use agentctl_core::sim::{authorization, basic_credentials as basic};

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl Inner {
    /// API client `id` was revoked by the `revoke_credentials_after` knob.
    fn client_revoked(&self, id: &str) -> bool {
        id == self.cfg.client_id && self.revocation.revoked()
    }

    fn token(&self, headers: &HeaderMap, body: &Bytes) -> Response {
        // A refused client (unknown, wrong secret, deleted, revoked): the OAuth2 error body of
        // RFC 6749 §5.2, which the official SDK's token fetch parses (requests-oauthlib in
        // secureworks/taegis-sdk-python `authentication.py`); Taegis's exact body is unconfirmed.
        let refuse = || json_response(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}));
        let Some((id, secret)) = basic(headers) else {
            return refuse();
        };
        if !header_str(headers, header::CONTENT_TYPE.as_str())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
        {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_request", "error_description": "form body expected"}),
            );
        }
        let grant = url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.into_owned());
        if grant.as_deref() != Some("client_credentials") {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": "unsupported_grant_type"}),
            );
        }
        // Any client of the tenant with its current secret (the configured one included): a
        // rotated secret stops working at once, so does a deleted client.
        let known = self
            .state
            .lock()
            .unwrap()
            .clients
            .iter()
            .any(|c| c.client_id == id && c.secret == secret);
        if !known || self.client_revoked(&id) {
            return refuse();
        }
        let iat = now_secs();
        let ttl = self.cfg.token_ttl.as_secs().max(1);
        let jti = {
            let mut rng = self.rng.lock().unwrap();
            fleet::hex(&mut rng, 32)
        };
        let claims = Claims {
            sub: id,
            iat,
            exp: iat + ttl,
            jti: jti.clone(),
            tenant_ids: vec![self.cfg.tenant_id.clone()],
        };
        let token = match jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(self.cfg.jwt_key.as_bytes()),
        ) {
            Ok(t) => t,
            Err(e) => {
                return json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": format!("cannot sign: {e}")}),
                );
            }
        };
        self.issued.lock().unwrap().insert(jti);
        let mut answer = json!({ "access_token": token });
        if self.cfg.send_token_type {
            answer["token_type"] = json!("bearer");
        }
        if self.cfg.send_expires_in {
            answer["expires_in"] = json!(ttl);
        }
        json_response(StatusCode::OK, answer)
    }

    /// The tenants the request's bearer token grants, or the 401 answer.
    fn bearer_tenants(&self, headers: &HeaderMap) -> Result<Vec<String>, Response> {
        let unauthenticated = |msg: &str| {
            gql_error(
                StatusCode::UNAUTHORIZED,
                msg,
                Some(unconfirmed::CODE_UNAUTHENTICATED),
            )
        };
        let Some(token) = authorization(headers, "Bearer") else {
            return Err(unauthenticated("Unauthorized: bearer token missing"));
        };
        if self.cfg.static_tokens.iter().any(|t| t == token) {
            return Ok(vec![self.cfg.tenant_id.clone()]);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        let claims = match jsonwebtoken::decode::<Claims>(
            token,
            &DecodingKey::from_secret(self.cfg.jwt_key.as_bytes()),
            &validation,
        ) {
            Ok(data) => data.claims,
            Err(_) => return Err(unauthenticated("Unauthorized: token is invalid or expired")),
        };
        if !self.issued.lock().unwrap().contains(&claims.jti) || self.client_revoked(&claims.sub) {
            return Err(unauthenticated("Unauthorized: token has been revoked"));
        }
        Ok(claims.tenant_ids)
    }

    /// A random 503 or 429, at most `faults_per_path` times for the same top-level field.
    fn injected_fault(&self, key: &str) -> Option<Response> {
        let (error, throttle) = (self.cfg.error_rate, self.cfg.throttle_rate);
        if error <= 0.0 && throttle <= 0.0 {
            return None;
        }
        let roll: f64 = self.rng.lock().unwrap().random();
        let faulty = roll < error + throttle;
        if let Some(limit) = self.cfg.faults_per_path {
            let mut counts = self.fault_counts.lock().unwrap();
            let count = counts.entry(key.to_string()).or_default();
            if !faulty || *count >= limit {
                return None;
            }
            *count += 1;
        }
        if roll < error {
            Some(gql_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
                None,
            ))
        } else if faulty {
            let mut resp = gql_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests", None);
            resp.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(self.cfg.retry_after_secs),
            );
            Some(resp)
        } else {
            None
        }
    }
}

#[derive(Deserialize)]
struct GraphQlBody {
    query: String,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

/// Top-level field names of the operation that will run.
fn top_fields(
    doc: &async_graphql::parser::types::ExecutableDocument,
    op: Option<&str>,
) -> Vec<String> {
    let operation = match (&doc.operations, op) {
        (DocumentOperations::Single(o), _) => Some(o),
        (DocumentOperations::Multiple(map), Some(name)) => map.get(name),
        (DocumentOperations::Multiple(map), None) => map.values().next(),
    };
    operation
        .map(|o| {
            o.node
                .selection_set
                .node
                .items
                .iter()
                .filter_map(|s| match &s.node {
                    Selection::Field(f) => Some(f.node.name.node.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn graphql<Q, M, S>(
    sim: &Arc<Inner>,
    target: &async_graphql::Schema<Q, M, S>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response
where
    Q: async_graphql::ObjectType + 'static,
    M: async_graphql::ObjectType + 'static,
    S: async_graphql::SubscriptionType + 'static,
{
    let tenants = match sim.bearer_tenants(headers) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let Some(tenant) = header_str(headers, TENANT_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return gql_error(
            StatusCode::from_u16(unconfirmed::MISSING_TENANT_STATUS).unwrap(),
            "missing tenant context: set the X-Tenant-Context header",
            Some(unconfirmed::CODE_BAD_USER_INPUT),
        );
    };
    if tenant != sim.cfg.tenant_id || !tenants.iter().any(|t| t == tenant) {
        return gql_error(
            StatusCode::from_u16(unconfirmed::FOREIGN_TENANT_STATUS).unwrap(),
            &format!("tenant {tenant} is not accessible with this token"),
            Some(unconfirmed::CODE_FORBIDDEN),
        );
    }
    if !header_str(headers, header::CONTENT_TYPE.as_str())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        return gql_error(
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
            Some(unconfirmed::CODE_BAD_USER_INPUT),
        );
    }
    let request: GraphQlBody = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return gql_error(
                StatusCode::BAD_REQUEST,
                &format!("invalid JSON body: {e}"),
                Some(unconfirmed::CODE_BAD_USER_INPUT),
            );
        }
    };
    let doc = match async_graphql::parser::parse_query(&request.query) {
        Ok(d) => d,
        Err(e) => {
            return gql_error(
                StatusCode::BAD_REQUEST,
                &format!("Syntax Error: {e}"),
                Some(unconfirmed::CODE_PARSE_FAILED),
            );
        }
    };
    let fields = top_fields(&doc, request.operation_name.as_deref());
    for f in &fields {
        sim.counts.hit(&format!("graphql {f}"));
    }
    if let Some(resp) = sim.injected_fault(&format!("POST {GRAPHQL_PATH} {}", fields.join(","))) {
        return resp;
    }
    let mut gql = async_graphql::Request::new(request.query);
    if let Some(vars) = request.variables.filter(|v| !v.is_null()) {
        gql = gql.variables(async_graphql::Variables::from_json(vars));
    }
    if let Some(op) = request.operation_name {
        gql = gql.operation_name(op);
    }
    let response = target.execute(gql).await;
    // Errors without a path are request errors (validation, variables): the whole document
    // was refused, as a gateway answers with HTTP 400.
    let refused = !response.errors.is_empty() && response.errors.iter().all(|e| e.path.is_empty());
    let data = response.data.into_json().unwrap_or(Value::Null);
    let mut errors = serde_json::to_value(&response.errors).unwrap_or_else(|_| json!([]));
    if refused {
        if let Some(list) = errors.as_array_mut() {
            for e in list {
                e["extensions"] = json!({ "code": unconfirmed::CODE_VALIDATION_FAILED });
            }
        }
        return json_response(
            StatusCode::from_u16(unconfirmed::VALIDATION_ERROR_STATUS).unwrap(),
            json!({ "errors": errors }),
        );
    }
    let mut out = json!({ "data": data });
    if !response.errors.is_empty() {
        out["errors"] = errors;
    }
    bend_issued_answer(sim.cfg.issued_answer, &mut out);
    json_response(StatusCode::OK, out)
}

/// The `issued_answer` knob: bend a `createClient` / `rotateClientSecret` answer that carries
/// a secret into an extra envelope, or drop its `client` with a field error as a GraphQL
/// server does when a nested resolver fails.
fn bend_issued_answer(how: super::IssuedAnswer, out: &mut Value) {
    for field in ["createClient", "rotateClientSecret"] {
        let Some(answer) = out["data"].get_mut(field) else {
            continue;
        };
        if answer.is_null() {
            continue;
        }
        match how {
            super::IssuedAnswer::Published => {}
            super::IssuedAnswer::ExtraEnvelope => {
                let inner = answer.take();
                *answer = json!({ "newClient": inner });
            }
            super::IssuedAnswer::ClientDropped => {
                answer["client"] = Value::Null;
                let error = json!({
                    "message": "client: the client service did not answer",
                    "path": [field, "client"],
                });
                match out.get_mut("errors").and_then(Value::as_array_mut) {
                    Some(list) => list.push(error),
                    None => out["errors"] = json!([error]),
                }
            }
        }
    }
}
