//! A local simulator of the Apex Central Automation API, as strict as
//! `shared/vendors/apex-central.md` describes the real service: every request must carry an
//! HS256 JWT signed with the application's API key, for the configured application ID, version
//! V1, issued within the communication time-out, whose checksum matches the method, path +
//! query and body actually received; failures answer HTTP 401 with the documented negative
//! `result_code`. Agents and servers are deterministic (seeded), with duplicate host names,
//! non-ASCII host names, agents lacking capabilities and two servers sharing a host name; the
//! four agent actions are applied to the state and recorded.
//!
//! Knobs ([`SimConfig`]) set fleet size, latency, injected 5xx, the communication time-out, the
//! tolerated future skew of `iat` and the credentials. Used by the tests, `agentctl --sandbox`
//! and the benchmarks.

mod fleet;
mod server;

use std::sync::{Arc, Mutex};

use agentctl_core::sim::{Counters, Revocation, Serving};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

pub use fleet::{
    AGENT_SERVER_PRODUCT, FIXED_CLIENT, FIXED_NON_ASCII, FIXED_NOT_RELOCATABLE, FIXED_TWIN,
    SimState,
};

use crate::unconfirmed;

/// How the simulated Apex Central server looks and misbehaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Hostile data and faults: hostile host names, an endless body, a hanging endpoint,
    /// failing first requests (see [`agentctl_core::sim::Hostile`]).
    pub hostile: agentctl_core::sim::Hostile,
    /// Number of agents generated for a new state (at least the few fixed ones).
    /// Take host names, last-seen times, MACs and serials from the shared machine roster
    /// (`agentctl_core::roster`) and add its planted machines: the sandbox's consoles then
    /// share machines. Off by default (each simulator alone has its own random fleet).
    pub roster: bool,
    pub fleet_size: usize,
    /// Seed of the fleet and of injected faults.
    pub seed: u64,
    /// Added to every response, before the token is checked (so a latency above the
    /// communication time-out makes every token arrive expired).
    pub latency: Duration,
    /// Share of requests answered 503 (0.0–1.0).
    pub error_rate: f64,
    /// The application's communication time-out: the longest time between `iat` and arrival.
    pub communication_timeout: Duration,
    /// How far ahead of the server's clock an `iat` may be.
    pub future_skew: Duration,
    /// The registered application.
    pub application_id: String,
    pub api_key: String,
    /// An accepted uninstall removes the agent from the listing (it unregisters); otherwise it
    /// stays listed.
    pub uninstall_removes_agent: bool,
    /// Remove the registered application after this many requests in all (its access revoked
    /// in Automation API Access Settings mid-run): every request is then refused with HTTP
    /// 401 and `result_code` -5, "invalid application ID".
    pub revoke_credentials_after: Option<u64>,
}

impl Default for SimConfig {
    /// The sandbox server.
    fn default() -> Self {
        Self {
            hostile: agentctl_core::sim::Hostile::default(),
            fleet_size: 240,
            roster: false,
            seed: 20_191_105,
            latency: Duration::ZERO,
            error_rate: 0.0,
            communication_timeout: unconfirmed::SIM_COMMUNICATION_TIMEOUT,
            future_skew: unconfirmed::SIM_FUTURE_SKEW,
            application_id: "6F1A2B3C-4D5E-4F60-8A9B-0C1D2E3F4A5B".into(),
            api_key: "sim-apex-key-3b9d0c6e-71f2-4a58-9e1d-c0ffee5eed42".into(),
            uninstall_removes_agent: true,
            revoke_credentials_after: None,
        }
    }
}

pub(crate) struct Inner {
    cfg: SimConfig,
    base_url: String,
    state: Mutex<SimState>,
    counts: Counters,
    rng: Mutex<StdRng>,
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
        rng: Mutex::new(StdRng::seed_from_u64(cfg.seed ^ 0xa9e3)),
        cfg,
        base_url: listener.base_url().to_string(),
        state: Mutex::new(state),
        counts: Counters::default(),
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

    /// `http://127.0.0.1:<port>`: the provider's `url`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.cfg
    }

    /// Everything to persist between sandbox runs.
    pub fn state(&self) -> SimState {
        self.inner.state.lock().unwrap().clone()
    }

    /// Requests seen in all (every route, every answer).
    pub fn total_requests(&self) -> u64 {
        self.inner.revocation.total()
    }

    /// Requests seen per route (`"GET ProductAgents"`, `"POST ProductAgents"`,
    /// `"GET ProductServers"`), responses per status (`"200"`, `"401"`, `"503"`), answers per
    /// result code (`"result_code -6"`) and applied actions (`"act cmd_relocate_agent"`).
    pub fn request_count(&self, key: &str) -> u64 {
        self.inner.counts.get(key)
    }

    /// Accepted actions, in arrival order (see [`SimState::actions`]).
    pub fn actions(&self) -> Vec<Value> {
        self.inner.state.lock().unwrap().actions.clone()
    }

    /// Delete an agent behind the API's back (removed in the console).
    pub fn forget(&self, entity_id: &str) {
        self.inner.state.lock().unwrap().agents.remove(entity_id);
    }

    /// Every agent as `GET ProductAgents` shows it.
    pub fn agents(&self) -> Vec<Value> {
        self.inner
            .state
            .lock()
            .unwrap()
            .agents
            .values()
            .cloned()
            .collect()
    }

    /// Every server as `GET ProductServers` shows it.
    pub fn servers(&self) -> Vec<Value> {
        self.inner.state.lock().unwrap().servers.clone()
    }

    /// The agent with this entity_id.
    pub fn agent(&self, entity_id: &str) -> Option<Value> {
        self.inner
            .state
            .lock()
            .unwrap()
            .agents
            .get(entity_id)
            .cloned()
    }

    /// Replace an agent's capabilities (e.g. to make it not relocatable).
    pub fn set_capabilities(&self, entity_id: &str, capabilities: &[&str]) {
        if let Some(a) = self.inner.state.lock().unwrap().agents.get_mut(entity_id) {
            a["capabilities"] = capabilities.iter().map(|c| Value::from(*c)).collect();
        }
    }

    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

impl SimState {
    /// Give the first agents the core's hostile host names (the `hostile.names` knob).
    pub fn plant_hostile_names(&mut self) {
        let names = agentctl_core::sim::hostile_names();
        for (a, name) in self.agents.values_mut().zip(names) {
            a["host_name"] = serde_json::Value::String(name);
        }
    }
}
