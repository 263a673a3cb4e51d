//! The provider contract's conformance suite against the Secure Access simulator.
#![cfg(feature = "sim")]

use std::time::Duration;

use agentctl_core::Provider;
use agentctl_core::conformance::{self, Harness};
use agentctl_core::http::HttpOptions;
use agentctl_core::ratelimit::RateLimitSpec;
use agentctl_secure_access::sim::{self, RunningSim, SimConfig};
use agentctl_secure_access::{Config, SecureAccess};
use async_trait::async_trait;
use jiff::Timestamp;

struct Sa {
    sim: RunningSim,
    provider: SecureAccess,
    now: Timestamp,
}

async fn start() -> Sa {
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let cfg = SimConfig {
        // More than one page of 100.
        fleet_size: 230,
        now,
        // The published quotas are tested elsewhere; here they would only slow the suite.
        quotas: RateLimitSpec::off(),
        token_quotas: RateLimitSpec::off(),
        ..SimConfig::default()
    };
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let config: Config = toml::from_str(&format!(
        "api_url = \"{}\"\napi_key = \"{}\"\napi_secret = '{}'\nkey_admin_key = \"{}\"\nkey_admin_secret = '{}'\n",
        sim.base_url(),
        cfg.api_key,
        cfg.api_secret,
        cfg.key_admin_key,
        cfg.key_admin_secret
    ))
    .unwrap();
    let mut o = HttpOptions::new("sa");
    o.rate_limit = RateLimitSpec::off();
    o.min_backoff = Duration::from_millis(10);
    let provider = SecureAccess::new("sa", &config, o).unwrap();
    Sa { sim, provider, now }
}

#[async_trait]
impl Harness for Sa {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }
    fn agent_ids(&self) -> Vec<String> {
        self.sim
            .roaming_computers()
            .iter()
            .map(|c| c["deviceId"].as_str().unwrap().to_string())
            .collect()
    }
    fn now(&self) -> Timestamp {
        self.now
    }
    fn set_last_seen(&self, agent_id: &str, when: Option<Timestamp>) -> bool {
        self.sim.set_last_sync(agent_id, when);
        true
    }
    fn forget(&self, agent_id: &str) {
        self.sim.forget(agent_id);
    }
    async fn stop(self) {
        self.sim.shutdown().await;
    }
}

#[tokio::test]
async fn secure_access_conforms() {
    conformance::run(start).await;
}
