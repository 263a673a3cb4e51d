//! A local simulator of the Taegis API, as strict as `shared/vendors/taegis.md` describes the
//! real service: OAuth2 client credentials at `/auth/api/v2/auth/token` (Basic id:secret,
//! form `grant_type=client_credentials`) issuing HS256 JWTs with `exp` and the tenant-ids
//! claim; `/graphql` with a real GraphQL schema (async-graphql), so unknown fields and wrong
//! argument types are rejected with `errors[]`; the bearer token and `X-Tenant-Context`
//! checked on every call; cursor-paged `assetsV2` with `filter.where`; `markForUninstall`
//! recording each request; API clients changed by create / rotate / delete.
//!
//! Knobs ([`SimConfig`]) set fleet size, latency, injected 503 / 429 faults, token lifetime,
//! page-size limits and the static bearer tokens it accepts. Used by the tests, `agentctl
//! --sandbox` and the benchmarks.

mod fleet;
mod schema;
mod server;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentctl_core::sim::{Counters, Revocation, Serving};
use jiff::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use fleet::{SimAsset, SimClient, SimGroup, SimJob, SimState, UninstallRequest};
pub use server::TENANT_IDS_CLAIM;

use agentctl_taegis::unconfirmed;

/// How the simulator answers a `createClient` / `rotateClientSecret` that issued a secret (a
/// knob for the "secret issued but answer unreadable" path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedAnswer {
    /// `data.<field> { clientSecret client { … } }`, the schema's shape.
    Published,
    /// The `NewClient` wrapped once more: `data.<field>.newClient { clientSecret client }`.
    ExtraEnvelope,
    /// `client` is null and `errors[]` says why (a failed nested resolver), the secret stays.
    ClientDropped,
}

/// How the simulated tenant looks and misbehaves.
#[derive(Clone)]
pub struct SimConfig {
    /// Hostile data and faults: hostile host names, an endless body, a hanging endpoint,
    /// failing first requests (see [`agentctl_core::sim::Hostile`]).
    pub hostile: agentctl_core::sim::Hostile,
    /// Assets generated for a new state.
    /// Take host names, last-seen times, MACs and serials from the shared machine roster
    /// (`agentctl_core::roster`) and add its planted machines: the sandbox's consoles then
    /// share machines. Off by default (each simulator alone has its own random fleet).
    pub roster: bool,
    pub fleet_size: usize,
    /// API clients that already exist in a new state (at most 2).
    pub clients: usize,
    /// Seed of the fleet, ids, secrets and injected faults.
    pub seed: u64,
    /// The instant the fleet's `lastSeenAt` times are relative to.
    pub now: Timestamp,
    /// Added to every response.
    pub latency: Duration,
    /// Share of GraphQL requests answered 503 (0.0–1.0).
    pub error_rate: f64,
    /// Share of GraphQL requests answered 429 with `Retry-After` (0.0–1.0).
    pub throttle_rate: f64,
    /// At most this many injected faults in all for the same top-level GraphQL field (`None`:
    /// faults are independent, as on a real service), so a retrying client always gets through.
    pub faults_per_path: Option<u32>,
    /// `Retry-After` seconds on injected 429s.
    pub retry_after_secs: u64,
    /// Lifetime of issued tokens (the JWT's `exp`; unconfirmed for the real service).
    pub token_ttl: Duration,
    /// Put `expires_in` in token answers (its presence is unconfirmed; without it a client
    /// must read the JWT's `exp`).
    pub send_expires_in: bool,
    /// Put `token_type` in token answers (the official SDK reads only `access_token`, so its
    /// presence is unconfirmed too).
    pub send_token_type: bool,
    /// The API credential agentctl is configured with.
    pub client_id: String,
    pub client_secret: String,
    /// The tenant (`X-Tenant-Context`, and the tenant-ids claim of issued tokens).
    pub tenant_id: String,
    /// Ready bearer tokens accepted as they are (the seed script's `bearer_token.txt`).
    pub static_tokens: Vec<String>,
    /// HS256 key of issued tokens.
    pub jwt_key: String,
    /// Largest `first` / `last` of `assetsV2`.
    pub max_page_size: usize,
    /// Largest `perPage` of `clientsSearch`.
    pub max_clients_per_page: usize,
    pub issued_answer: IssuedAnswer,
    /// Status polls a bulk job answers before it finishes (the first says pending, the next
    /// ones in progress); `u32::MAX`: a job that stays running.
    pub job_polls: u32,
    /// Asset ids every bulk job fails (counted in `numFailed`, left unchanged).
    pub job_fail_assets: Vec<String>,
    /// Endpoint groups added to a new state, `(id, name)` (e.g. a second group with an
    /// existing name, to make a name ambiguous).
    pub extra_groups: Vec<(String, String)>,
    /// Revoke the configured API client after this many requests in all (a client deleted or
    /// disabled in the console mid-run): the token endpoint refuses it with `invalid_client`,
    /// and every token issued to it gets the 401 GraphQL answer of a revoked token.
    pub revoke_credentials_after: Option<u64>,
}

impl Default for SimConfig {
    /// The sandbox tenant.
    fn default() -> Self {
        Self {
            hostile: agentctl_core::sim::Hostile::default(),
            fleet_size: 1200,
            roster: false,
            clients: 2,
            seed: 20_261_001,
            now: Timestamp::now(),
            latency: Duration::ZERO,
            error_rate: 0.0,
            throttle_rate: 0.0,
            faults_per_path: None,
            retry_after_secs: unconfirmed::SIM_RETRY_AFTER_SECS,
            token_ttl: Duration::from_secs(unconfirmed::SIM_TOKEN_LIFETIME_SECS),
            send_expires_in: true,
            send_token_type: true,
            client_id: "sim-taegis-client-7Qm2".into(),
            client_secret: "sim-taegis-secret-9f4e+/=&:odd".into(),
            tenant_id: "50530".into(),
            static_tokens: vec!["sim-taegis-ready-bearer-token-3c1d".into()],
            jwt_key: "sim-taegis-jwt-signing-key".into(),
            max_page_size: unconfirmed::ASSETS_PAGE_SIZE as usize,
            max_clients_per_page: unconfirmed::CLIENTS_PER_PAGE as usize,
            issued_answer: IssuedAnswer::Published,
            job_polls: 2,
            job_fail_assets: Vec::new(),
            extra_groups: Vec::new(),
            revoke_credentials_after: None,
        }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("fleet_size", &self.fleet_size)
            .field("seed", &self.seed)
            .field("latency", &self.latency)
            .field("error_rate", &self.error_rate)
            .field("throttle_rate", &self.throttle_rate)
            .field("faults_per_path", &self.faults_per_path)
            .field("token_ttl", &self.token_ttl)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .field("tenant_id", &self.tenant_id)
            .field("static_tokens", &"[REDACTED]")
            .field("max_page_size", &self.max_page_size)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    cfg: SimConfig,
    base_url: String,
    state: Mutex<SimState>,
    /// `jti`s of issued tokens still valid (revocation clears them).
    issued: Mutex<HashSet<String>>,
    counts: Counters,
    rng: Mutex<StdRng>,
    fault_counts: Mutex<HashMap<String, u32>>,
    /// Requests seen in all, and the `revoke_credentials_after` knob.
    revocation: Revocation,
}

/// A simulator serving on loopback until [`RunningSim::shutdown`].
pub struct RunningSim {
    inner: Arc<Inner>,
    server: Serving,
    hostile: Arc<agentctl_core::sim::Counters>,
}

/// Serve `cfg` on `127.0.0.1:<free port>`, from `state` or a newly generated tenant.
pub async fn start(cfg: SimConfig, state: Option<SimState>) -> std::io::Result<RunningSim> {
    let listener = agentctl_core::sim::listen().await?;
    let mut state = state
        .map(SimState::with_groups_of_assets)
        .unwrap_or_else(|| {
            let mut state = SimState::generate(&cfg);
            if cfg.hostile.names {
                state.plant_hostile_names();
            }
            state
        });
    // The configured credential is an ordinary API client of the tenant (a state saved before
    // it was listed gets it back): rotating or deleting it changes what it can do.
    if !state.clients.iter().any(|c| c.client_id == cfg.client_id) {
        state.clients.push(fleet::configured_client(&cfg));
    }
    let revocation = Revocation::new(cfg.revoke_credentials_after);
    let inner = Arc::new(Inner {
        rng: Mutex::new(StdRng::seed_from_u64(cfg.seed ^ 0x7ae9)),
        cfg,
        base_url: listener.base_url().to_string(),
        state: Mutex::new(state),
        issued: Mutex::new(HashSet::new()),
        counts: Counters::default(),
        fault_counts: Mutex::new(HashMap::new()),
        revocation,
    });
    let hostile_knobs = inner.cfg.hostile.clone();
    let (app, hostile) = agentctl_core::sim::hostile(
        server::router(
            inner.clone(),
            schema::build(Some(inner.clone())),
            schema::build_agent(Some(inner.clone())),
        ),
        &hostile_knobs,
    );
    let server = listener.serve(app);
    Ok(RunningSim {
        inner,
        server,
        hostile,
    })
}

/// The simulated schema in SDL (for review and tests).
pub fn schema_sdl() -> String {
    schema::build(None).sdl()
}

/// The simulated endpoint-management schema (`/agent-graphql`) in SDL.
pub fn agent_schema_sdl() -> String {
    schema::build_agent(None).sdl()
}

/// Parse and validate `document` with `variables` against the simulated schema without
/// touching any state; the request-level errors (parse, validation, variable coercion), as
/// the server would report them. Empty when the document is valid.
pub fn validate_document(document: &str, variables: serde_json::Value) -> Vec<String> {
    validate_with(&schema::build(None), document, variables)
}

/// [`validate_document`] against the endpoint-management schema (`/agent-graphql`).
pub fn validate_agent_document(document: &str, variables: serde_json::Value) -> Vec<String> {
    validate_with(&schema::build_agent(None), document, variables)
}

fn validate_with<Q, M, S>(
    target: &async_graphql::Schema<Q, M, S>,
    document: &str,
    variables: serde_json::Value,
) -> Vec<String>
where
    Q: async_graphql::ObjectType + 'static,
    M: async_graphql::ObjectType + 'static,
    S: async_graphql::SubscriptionType + 'static,
{
    let request = async_graphql::Request::new(document)
        .variables(async_graphql::Variables::from_json(variables));
    let response = futures::executor::block_on(target.execute(request));
    response
        .errors
        .into_iter()
        // Without state every resolver fails with this one error; anything else is the
        // document's or its variables' fault.
        .filter(|e| e.message != schema::NO_STATE)
        .map(|e| e.message)
        .collect()
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

    /// A bearer token from this simulator's token endpoint, fetched by hand with the
    /// configured client (for tests and benchmarks that speak GraphQL without the provider).
    pub async fn fetch_token(&self) -> Result<String, String> {
        let c = self.config();
        let answer: serde_json::Value = agentctl_core::http::plain_client()
            .post(format!("{}/auth/api/v2/auth/token", self.base_url()))
            // base64(id:secret) with the parts as they are, as the vendor documents.
            .basic_auth(&c.client_id, Some(&c.client_secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        answer["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no access_token in {answer}"))
    }

    /// Everything that persists (for `--sandbox`).
    pub fn state(&self) -> SimState {
        self.inner.state.lock().unwrap().clone()
    }

    /// The assets still registered, in cursor order.
    pub fn assets(&self) -> Vec<SimAsset> {
        self.inner.state.lock().unwrap().assets.clone()
    }

    /// Soft-deleted assets (hidden from `assetsV2` until restored).
    pub fn deleted_assets(&self) -> Vec<SimAsset> {
        self.inner.state.lock().unwrap().deleted.clone()
    }

    /// Endpoint groups.
    pub fn groups(&self) -> Vec<SimGroup> {
        self.inner.state.lock().unwrap().groups.clone()
    }

    /// Bulk jobs started so far, oldest first.
    pub fn jobs(&self) -> Vec<SimJob> {
        self.inner.state.lock().unwrap().jobs.clone()
    }

    /// Mark an asset as pending uninstall (as the console shows after an uninstall request
    /// that the sensor has not picked up yet).
    pub fn set_pending_uninstall(&self, asset_id: &str, pending: bool) {
        let mut state = self.inner.state.lock().unwrap();
        if let Some(a) = state.assets.iter_mut().find(|a| a.id == asset_id) {
            a.pending_uninstall = pending;
        }
    }

    /// Accepted `markForUninstall` requests, in arrival order.
    pub fn uninstall_requests(&self) -> Vec<UninstallRequest> {
        self.inner.state.lock().unwrap().uninstall_requests.clone()
    }

    pub fn clients(&self) -> Vec<SimClient> {
        self.inner.state.lock().unwrap().clients.clone()
    }

    /// Requests seen: by route (`"POST /auth/api/v2/auth/token"`, `"POST /graphql"`), by
    /// top-level GraphQL field (`"graphql assetsV2"`, `"graphql markForUninstall"`,
    /// `"graphql clientsSearch"`, …) or responses by status (`"400"`, `"401"`, `"403"`,
    /// `"429"`, `"503"`).
    pub fn request_count(&self, key: &str) -> u64 {
        self.inner.counts.get(key)
    }

    /// Requests seen in all (every route, every answer).
    pub fn total_requests(&self) -> u64 {
        self.inner.revocation.total()
    }

    /// Delete an asset behind the API's back (for good, not a soft delete).
    pub fn forget(&self, asset_id: &str) {
        self.inner
            .state
            .lock()
            .unwrap()
            .assets
            .retain(|a| a.id != asset_id);
    }

    /// Change an asset's `lastSeenAt` (a sensor that checks in again, or goes silent).
    pub fn set_last_seen(&self, asset_id: &str, when: Option<Timestamp>) {
        let mut state = self.inner.state.lock().unwrap();
        if let Some(a) = state.assets.iter_mut().find(|a| a.id == asset_id) {
            a.last_seen_at = when;
        }
    }

    /// Invalidate every token issued so far (as if they expired or were revoked).
    pub fn revoke_tokens(&self) {
        self.inner.issued.lock().unwrap().clear();
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl SimState {
    /// Give the first assets the core's hostile host names (the `hostile.names` knob).
    pub fn plant_hostile_names(&mut self) {
        let names = agentctl_core::sim::hostile_names();
        for (a, name) in self.assets.iter_mut().zip(names) {
            if let Some(first) = a.hostnames.first_mut() {
                *first = name;
            }
        }
    }
}
