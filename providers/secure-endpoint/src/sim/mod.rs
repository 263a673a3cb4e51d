//! A local simulator of the Secure Endpoint API (v1 + v3) and the XDR token endpoint, as
//! strict as `shared/vendors/secure-endpoint.md` describes the real service: Basic auth with
//! the documented 401 envelope, expiring bearer tokens, `metadata.links.next` paging with a
//! 500 limit, 400 for unknown query parameters, `x-ratelimit-*` headers and 429 over budget.
//!
//! Knobs ([`SimConfig`]) set fleet size, latency, injected 5xx / 429 rates, token lifetimes
//! and token revocation. Used by the end-to-end tests, `agentctl --sandbox` and the
//! benchmarks. Both "hosts" (API and XDR token) are served on one loopback address.

mod fleet;
mod server;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use agentctl_core::sim::{Counters, Revocation, Serving};
use std::time::Duration;

use jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

pub use fleet::SimState;

/// How the simulated tenant looks and misbehaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Hostile data and faults: hostile host names, an endless body, a hanging endpoint,
    /// failing first requests (see [`agentctl_core::sim::Hostile`]).
    pub hostile: agentctl_core::sim::Hostile,
    /// Number of computers generated for a new state.
    /// Take host names, last-seen times, MACs and serials from the shared machine roster
    /// (`agentctl_core::roster`) and add its planted machines: the sandbox's consoles then
    /// share machines. Off by default (each simulator alone has its own random fleet).
    pub roster: bool,
    pub fleet_size: usize,
    /// Seed of the fleet and of injected faults.
    pub seed: u64,
    /// The instant the fleet's last-seen times are relative to.
    pub now: Timestamp,
    /// Added to every response.
    pub latency: Duration,
    /// Share of requests answered 503 (0.0–1.0).
    pub error_rate: f64,
    /// Share of requests answered 429 with budget still left (a burst limit).
    pub throttle_rate: f64,
    /// At most this many injected faults in all for the same method and path (`None`:
    /// faults are independent, as on a real service). A retrying client then always gets
    /// through, whatever else (401s, other requests) happens between its attempts.
    pub faults_per_path: Option<u32>,
    /// Requests per window across v1 and v3 (3000 per hour observed).
    pub rate_limit: u64,
    pub rate_window: Duration,
    /// Send `Retry-After` on budget 429s (whether the real API does is unconfirmed).
    pub send_retry_after: bool,
    /// Spell rate headers `X-Rate-Limit-*` (the documentation's spelling) instead of the
    /// observed `x-ratelimit-*`.
    pub hyphenated_rate_headers: bool,
    /// Lifetime of XDR tokens (600 s documented).
    pub xdr_token_ttl: Duration,
    /// Lifetime of Secure Endpoint v3 tokens (unconfirmed; the response does not say it).
    pub se_token_ttl: Duration,
    /// Revoke every v3 token on each n-th v3 request (that request gets 401).
    pub revoke_tokens_every: Option<u32>,
    /// Revoke the credentials themselves after this many requests in all: the v1 API key and
    /// the XDR API client are refused from then on, and every issued token stops working (a
    /// credential revoked in the console mid-run).
    pub revoke_credentials_after: Option<u64>,
    /// v1 API credentials.
    pub client_id: String,
    pub api_key: String,
    /// XDR API client credentials.
    pub xdr_client_id: String,
    pub xdr_client_secret: String,
    /// v3 organizations visible to the token: (name, organizationIdentifier).
    pub organizations: Vec<(String, String)>,
    /// An accepted uninstall request removes the computer (as a connector that uninstalls
    /// deregisters); otherwise it stays listed.
    pub uninstall_removes_computer: bool,
    /// Connector GUIDs whose `DELETE /v1/computers/{guid}` is refused the documented way:
    /// HTTP 200 with `data.deleted: false` (XSOAR `computer_delete_fail_response.json`); the
    /// computer stays listed.
    pub refuse_delete: Vec<String>,
    /// The computers page at this offset holds one computer fewer than it should while its
    /// `metadata.results.total` still counts it: a listing cut short on the server's side.
    pub short_page_at: Option<u64>,
    /// The computers page at this offset is answered this much later than the others (a
    /// slow shard, or a page the server takes longer to build).
    pub slow_page_at: Option<(u64, Duration)>,
}

impl Default for SimConfig {
    /// The sandbox tenant.
    fn default() -> Self {
        Self {
            hostile: agentctl_core::sim::Hostile::default(),
            fleet_size: 1200,
            roster: false,
            seed: 20_230_920,
            now: Timestamp::now(),
            latency: Duration::ZERO,
            error_rate: 0.0,
            throttle_rate: 0.0,
            faults_per_path: None,
            rate_limit: 3000,
            rate_window: Duration::from_secs(3600),
            send_retry_after: false,
            hyphenated_rate_headers: false,
            xdr_token_ttl: Duration::from_secs(600),
            se_token_ttl: Duration::from_secs(3600),
            revoke_tokens_every: None,
            revoke_credentials_after: None,
            client_id: "a1b2c3d4e5f6a7b8c9d0".into(),
            api_key: "sim-v1-key-0f3c1e7a-6b1d-4a4e-9d55-7f0e2c8b9a10".into(),
            xdr_client_id: "client-5a7e0c52-8f44-4d6c-b1a3-2f9e7d3c6b18".into(),
            xdr_client_secret: "sim-xdr-secret+/=with&odd:chars".into(),
            organizations: vec![("Sandbox Corp".into(), "4baasceazofqpxidpinxtt5l".into())],
            uninstall_removes_computer: true,
            refuse_delete: Vec::new(),
            short_page_at: None,
            slow_page_at: None,
        }
    }
}

pub(crate) struct Inner {
    cfg: SimConfig,
    base_url: String,
    state: Mutex<SimState>,
    tokens: Mutex<HashMap<String, server::Grant>>,
    counts: Counters,
    rng: Mutex<StdRng>,
    window: Mutex<server::Window>,
    v3_calls: AtomicU64,
    /// Requests seen in all, and the `revoke_credentials_after` knob.
    revocation: Revocation,
    fault_counts: Mutex<HashMap<String, u32>>,
    /// Connector GUIDs in listing order and each computer's rendered JSON.
    listing: Mutex<ListingCache>,
}

/// What the plain listing reuses between pages: the listing order (rebuilt when computers
/// were removed) and each computer's JSON as `GET /v1/computers` shows it, rendered once
/// and dropped when the computer changes. A real console's own work per page is not the
/// client's cost: without this, the benchmarks measured the simulator's JSON writer as
/// much as agentctl.
#[derive(Default)]
pub(crate) struct ListingCache {
    pub(crate) order: Vec<String>,
    rendered: HashMap<String, bytes::Bytes>,
}

impl ListingCache {
    /// `c` (the computer `guid`) as the listing shows it.
    pub(crate) fn rendered(&mut self, base: &str, guid: &str, c: &Value) -> bytes::Bytes {
        if let Some(b) = self.rendered.get(guid) {
            return b.clone();
        }
        let b = bytes::Bytes::from(
            serde_json::to_vec(&fleet::render(base, c)).expect("a JSON value serializes"),
        );
        self.rendered.insert(guid.to_string(), b.clone());
        b
    }
}

impl Inner {
    fn count(&self, key: &str) {
        self.counts.hit(key);
    }

    /// The computer `guid` changed or went: render it afresh next time.
    pub(crate) fn changed(&self, guid: &str) {
        self.listing.lock().unwrap().rendered.remove(guid);
    }
}

/// A simulator serving on loopback until [`RunningSim::shutdown`].
pub struct RunningSim {
    inner: Arc<Inner>,
    server: Serving,
    hostile: Arc<agentctl_core::sim::Counters>,
}

/// Serve `cfg` on `127.0.0.1:<free port>`, from `state` or a newly generated fleet.
pub async fn start(cfg: SimConfig, state: Option<SimState>) -> std::io::Result<RunningSim> {
    let listener = agentctl_core::sim::listen().await?;
    let state = state.unwrap_or_else(|| {
        let mut state = SimState::generate(&cfg);
        if cfg.hostile.names {
            state.plant_hostile_names();
        }
        state
    });
    let revocation = Revocation::new(cfg.revoke_credentials_after);
    let inner = Arc::new(Inner {
        rng: Mutex::new(StdRng::seed_from_u64(cfg.seed ^ 0x5eed)),
        window: Mutex::new(server::Window::new()),
        cfg,
        base_url: listener.base_url().to_string(),
        state: Mutex::new(state),
        tokens: Mutex::new(HashMap::new()),
        counts: Counters::default(),
        v3_calls: AtomicU64::new(0),
        revocation,
        fault_counts: Mutex::new(HashMap::new()),
        listing: Mutex::new(ListingCache::default()),
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

    /// `http://127.0.0.1:<port>`: both the API and the XDR token host.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn state(&self) -> SimState {
        self.inner.state.lock().unwrap().clone()
    }

    /// Connector GUIDs of accepted uninstall requests, in arrival order (repeats included).
    pub fn uninstall_requests(&self) -> Vec<String> {
        self.inner.state.lock().unwrap().uninstall_requests.clone()
    }

    /// Requests seen for a route (`"GET /v1/computers"`, `"GET /v1/computers/{guid}"`,
    /// `"PUT uninstall_request"`, `"POST /v3/access_tokens"`, `"GET /v3/organizations"`,
    /// `"POST /iroh/oauth2/token"`, …) or responses with a status (`"401"`, `"429"`, `"503"`).
    pub fn request_count(&self, key: &str) -> u64 {
        self.inner.counts.get(key)
    }

    /// The most requests the simulator was serving at the same time so far.
    pub fn peak_in_flight(&self) -> u64 {
        self.inner.counts.peak_in_flight()
    }

    /// Requests seen in all (every route, every answer).
    pub fn total_requests(&self) -> u64 {
        self.inner.revocation.total()
    }

    /// Change a computer's last-seen time (an agent that checks in again, or goes silent).
    pub fn set_last_seen(&self, guid: &str, when: Option<Timestamp>) {
        let mut state = self.inner.state.lock().unwrap();
        if let Some(c) = state.computers.get_mut(guid) {
            c["last_seen"] = when.map_or(Value::Null, |t| {
                Value::String(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
            });
        }
        self.inner.changed(guid);
    }

    /// Delete a computer behind the API's back (decommissioned in the console).
    pub fn forget(&self, guid: &str) {
        let mut state = self.inner.state.lock().unwrap();
        state.computers.remove(guid);
        self.inner.changed(guid);
    }

    /// Every registered computer as `GET /v1/computers` shows it.
    pub fn computers(&self) -> Vec<Value> {
        let state = self.inner.state.lock().unwrap();
        state
            .computers
            .values()
            .map(|c| fleet::render(&self.inner.base_url, c))
            .collect()
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl SimState {
    /// Give the first computers the core's hostile host names (the `hostile.names` knob).
    pub fn plant_hostile_names(&mut self) {
        let names = agentctl_core::sim::hostile_names();
        for (c, name) in self.computers.values_mut().zip(names) {
            c["hostname"] = Value::String(name);
        }
    }
}
