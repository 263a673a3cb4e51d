//! A local simulator of the Secure Access API, as strict as `shared/vendors/secure-access.md`
//! describes the real service: OAuth2 client credentials at `/auth/v2/token` (Basic
//! key:secret, expiring tokens, `{"message"}` errors), roaming computers as bare arrays with
//! `page` / `limit` validation and the `{statusCode, error, message}` error shape, DELETE
//! answering 204 / 404, network tunnel groups with `offset` / `limit` / `total` and the
//! `{error, requestId, validationErrors}` shape, the Key Admin API in Cisco's published shapes
//! (see [`crate::keyadmin`]: `{keys, offset, limit, total, message}`, `{key, message}`, 201 /
//! 200 with `clientSecret`, 204, `{description, message}` errors, 409, 415, the request model's
//! refusals), OAuth scopes per key (a deployments token gets 403 on `/admin/v2/apiKeys*`, a
//! Key Admin token 403 on deployments paths), and the published multi-window quotas enforced
//! per key and scope, answering 429.
//!
//! Knobs ([`SimConfig`]) set fleet size, latency, injected 5xx, token lifetime, quotas and the
//! unconfirmed behaviours. Used by the tests, `agentctl --sandbox` and the benchmarks.

mod fleet;
mod server;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use agentctl_core::sim::{Counters, Revocation, Serving};
use std::time::Duration;

use agentctl_core::ratelimit::RateLimitSpec;
use jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

pub use fleet::{SimApiKey, SimState};

/// How the simulator answers a request with an expired or revoked token (unconfirmed for
/// Secure Access).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiredToken {
    /// 401 in the API's error shape (what the tunnel-groups spec documents).
    Unauthorized,
    /// Umbrella's 400 `{"error":"invalid_request"}`.
    InvalidRequest400,
}

/// How the simulator answers an accepted create / refresh (a knob for the "secret issued but
/// answer unreadable" path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedAnswer {
    /// `{key: {…, clientSecret}, message}`, as Cisco documents.
    Published,
    /// The documented answer wrapped once more: `{data: {key, message}}`.
    ExtraEnvelope,
    /// The documented envelope with `id`, `createdAt`, `modifiedAt` and `scopes` left out.
    MissingFields,
}

/// How the simulated organization looks and misbehaves.
#[derive(Clone)]
pub struct SimConfig {
    /// Hostile data and faults: hostile host names, an endless body, a hanging endpoint,
    /// failing first requests (see [`agentctl_core::sim::Hostile`]).
    pub hostile: agentctl_core::sim::Hostile,
    /// Roaming computers generated for a new state.
    /// Take host names, last-seen times, MACs and serials from the shared machine roster
    /// (`agentctl_core::roster`) and add its planted machines: the sandbox's consoles then
    /// share machines. Off by default (each simulator alone has its own random fleet).
    pub roster: bool,
    pub fleet_size: usize,
    /// Network tunnel groups generated for a new state.
    pub tunnel_groups: usize,
    /// API keys that already exist in the Key Admin API for a new state, besides the
    /// configured deployments key (always listed).
    pub api_keys: usize,
    /// Seed of the fleet, ids, secrets and injected faults.
    pub seed: u64,
    /// The instant the fleet's `lastSync` times are relative to.
    pub now: Timestamp,
    /// Added to every response.
    pub latency: Duration,
    /// Share of requests answered 503 (0.0–1.0).
    pub error_rate: f64,
    /// Lifetime of access tokens (`expires_in`; 3600 s documented).
    pub token_ttl: Duration,
    /// Put `token_type` / `expires_in` in token answers (both documented; off to test a
    /// client against servers that leave them out).
    pub send_token_type: bool,
    pub send_expires_in: bool,
    /// The API key agentctl is configured with, and its scopes.
    pub api_key: String,
    pub api_secret: String,
    pub api_scopes: Vec<String>,
    /// The separate Key Admin key.
    pub key_admin_key: String,
    pub key_admin_secret: String,
    /// Child organizations the keys may select with `X-Umbrella-OrgId`.
    pub child_orgs: Vec<String>,
    /// Deployments and admin quotas, per key and scope (published: 5/s, 14/min, 350/30min).
    pub quotas: RateLimitSpec,
    /// Token endpoint quota per key (published: 20/min).
    pub token_quotas: RateLimitSpec,
    /// Send `Retry-After` and `X-RateLimit-*` on 429 (their presence is unconfirmed).
    pub rate_limit_headers: bool,
    pub expired_token: ExpiredToken,
    pub issued_answer: IssuedAnswer,
    /// Revoke the configured deployments key after this many requests in all (a key deleted
    /// or disabled in the console mid-run): the token endpoint refuses it with its 401
    /// `{"message"}` answer, and every token issued to it gets the `expired_token` answer.
    pub revoke_credentials_after: Option<u64>,
}

/// The scopes of the sandbox API key: everything agentctl's commands need.
pub fn default_api_scopes() -> Vec<String> {
    [
        "deployments.roamingcomputers:read",
        "deployments.roamingcomputers:write",
        "deployments.networktunnelgroups:read",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

impl Default for SimConfig {
    /// The sandbox organization.
    fn default() -> Self {
        Self {
            hostile: agentctl_core::sim::Hostile::default(),
            fleet_size: 1500,
            roster: false,
            tunnel_groups: 12,
            api_keys: 3,
            seed: 20_240_919,
            now: Timestamp::now(),
            latency: Duration::ZERO,
            error_rate: 0.0,
            token_ttl: Duration::from_secs(3600),
            send_token_type: true,
            send_expires_in: true,
            api_key: "5f0c2a9e1b7d4c3a8e6f0d2b4a9c7e1f".into(),
            api_secret: "sim-sa-secret-8d3e+/=&:odd".into(),
            api_scopes: default_api_scopes(),
            key_admin_key: "0a7d3c9b2e4f4b1d9c8e7f6a5b4c3d2e".into(),
            key_admin_secret: "sim-key-admin-secret-51c2".into(),
            child_orgs: vec!["8012345".into()],
            quotas: RateLimitSpec::parse(crate::DEFAULT_RATE_LIMIT).expect("valid quota"),
            token_quotas: RateLimitSpec::parse(crate::TOKEN_RATE_LIMIT).expect("valid quota"),
            rate_limit_headers: false,
            expired_token: ExpiredToken::Unauthorized,
            issued_answer: IssuedAnswer::Published,
            revoke_credentials_after: None,
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("fleet_size", &self.fleet_size)
            .field("tunnel_groups", &self.tunnel_groups)
            .field("api_keys", &self.api_keys)
            .field("seed", &self.seed)
            .field("latency", &self.latency)
            .field("error_rate", &self.error_rate)
            .field("token_ttl", &self.token_ttl)
            .field("api_key", &self.api_key)
            .field("api_secret", &"[REDACTED]")
            .field("key_admin_key", &self.key_admin_key)
            .field("key_admin_secret", &"[REDACTED]")
            .field("quotas", &self.quotas)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    cfg: SimConfig,
    base_url: String,
    state: Mutex<SimState>,
    tokens: Mutex<HashMap<String, server::Grant>>,
    counts: Counters,
    rng: Mutex<StdRng>,
    windows: Mutex<HashMap<(String, &'static str), server::Log>>,
    /// Requests seen in all, and the `revoke_credentials_after` knob.
    revocation: Revocation,
}

impl Inner {
    fn count(&self, key: &str) {
        self.counts.hit(key);
    }
}

/// A simulator serving on loopback until [`RunningSim::shutdown`].
pub struct RunningSim {
    inner: Arc<Inner>,
    server: Serving,
    hostile: Arc<agentctl_core::sim::Counters>,
}

/// Serve `cfg` on `127.0.0.1:<free port>`, from `state` or a newly generated organization.
pub async fn start(cfg: SimConfig, state: Option<SimState>) -> std::io::Result<RunningSim> {
    let listener = agentctl_core::sim::listen().await?;
    let mut state = state.unwrap_or_else(|| {
        let mut state = SimState::generate(&cfg);
        if cfg.hostile.names {
            state.plant_hostile_names();
        }
        state
    });
    // The configured deployments key is an ordinary key of the organization (a state saved
    // before it was listed gets it back).
    if !state.api_keys.iter().any(|k| k.client_id() == cfg.api_key) {
        state.api_keys.insert(0, fleet::configured_key(&cfg));
    }
    let revocation = Revocation::new(cfg.revoke_credentials_after);
    let inner = Arc::new(Inner {
        rng: Mutex::new(StdRng::seed_from_u64(cfg.seed ^ 0x5eed)),
        cfg,
        base_url: listener.base_url().to_string(),
        state: Mutex::new(state),
        tokens: Mutex::new(HashMap::new()),
        counts: Counters::default(),
        windows: Mutex::new(HashMap::new()),
        revocation,
    });
    let hostile_knobs = inner.cfg.hostile.clone();
    let (app, hostile) = agentctl_core::sim::hostile(server::router(inner.clone()), &hostile_knobs);
    let server = listener.serve(app);
    Ok(RunningSim {
        inner,
        server,
        hostile,
    })
}

impl RunningSim {
    /// Requests the [`agentctl_core::sim::Hostile`] knobs answered (endless body, hang,
    /// injected first failures).
    pub fn hostile_requests(&self) -> u64 {
        self.hostile.get("hostile")
    }

    /// `http://127.0.0.1:<port>`: the `api_url` for the provider.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    pub fn state(&self) -> SimState {
        self.inner.state.lock().unwrap().clone()
    }

    /// `deviceId`s removed by accepted DELETEs, in arrival order.
    pub fn deleted(&self) -> Vec<String> {
        self.inner.state.lock().unwrap().deleted.clone()
    }

    /// The roaming computers still registered, in listing order.
    pub fn roaming_computers(&self) -> Vec<Value> {
        self.inner.state.lock().unwrap().roaming_computers.clone()
    }

    /// Requests seen for a route (`"POST /auth/v2/token"`, `"GET /deployments/v2/roamingcomputers"`,
    /// `"GET /deployments/v2/roamingcomputers/{deviceId}"`, `"DELETE /deployments/v2/roamingcomputers/{deviceId}"`,
    /// `"GET /deployments/v2/networktunnelgroups"`, `"GET /admin/v2/apiKeys"`, `"POST /admin/v2/apiKeys"`,
    /// `"GET /admin/v2/apiKeys/{id}"`, `"DELETE /admin/v2/apiKeys/{id}"`,
    /// `"POST /admin/v2/apiKeys/{id}/refresh"`) or responses with a status (`"401"`, `"429"`, `"503"`).
    pub fn request_count(&self, key: &str) -> u64 {
        self.inner.counts.get(key)
    }

    /// Requests seen in all (every route, every answer).
    pub fn total_requests(&self) -> u64 {
        self.inner.revocation.total()
    }

    /// Delete a roaming computer behind the API's back (removed in the dashboard).
    pub fn forget(&self, device_id: &str) {
        self.inner
            .state
            .lock()
            .unwrap()
            .roaming_computers
            .retain(|c| c["deviceId"] != device_id);
    }

    /// Change a device's `lastSync` (a client that checks in again, or goes silent).
    pub fn set_last_sync(&self, device_id: &str, when: Option<Timestamp>) {
        let mut state = self.inner.state.lock().unwrap();
        if let Some(c) = state
            .roaming_computers
            .iter_mut()
            .find(|c| c["deviceId"] == device_id)
        {
            c["lastSync"] = when.map_or(Value::Null, |t| Value::String(fleet::wire_time(t)));
        }
    }

    /// Invalidate every access token issued so far (as if they expired or were revoked).
    pub fn revoke_tokens(&self) {
        self.inner.tokens.lock().unwrap().clear();
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl SimState {
    /// Give the first roaming computers the core's hostile host names (the `hostile.names`
    /// knob).
    pub fn plant_hostile_names(&mut self) {
        let names = agentctl_core::sim::hostile_names();
        for (c, name) in self.roaming_computers.iter_mut().zip(names) {
            c["name"] = serde_json::Value::String(name);
        }
    }
}
