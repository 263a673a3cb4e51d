//! The provider contract's conformance suite against the Secure Endpoint simulator.
#![cfg(feature = "sim")]

use std::time::Duration;

use agentctl_core::conformance::{self, Harness};
use agentctl_core::http::HttpOptions;
use agentctl_core::{Provider, RelocateTarget};
use agentctl_secure_endpoint::sim::{self, RunningSim, SimConfig};
use agentctl_secure_endpoint::{Config, SecureEndpoint};
use async_trait::async_trait;
use jiff::Timestamp;
use serde_json::json;

struct Se {
    sim: RunningSim,
    provider: SecureEndpoint,
    now: Timestamp,
}

async fn start() -> Se {
    // Whole seconds: the API keeps last_seen to the second.
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let cfg = SimConfig {
        // More than one page of 500.
        fleet_size: 520,
        now,
        ..SimConfig::default()
    };
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let config: Config = serde_json::from_value(json!({
        "api_url": sim.base_url(),
        "token_url": sim.base_url(),
        "client_id": cfg.client_id,
        "api_key": cfg.api_key,
        "xdr_client_id": cfg.xdr_client_id,
        "xdr_client_secret": cfg.xdr_client_secret,
    }))
    .unwrap();
    let mut o = HttpOptions::new("se");
    o.min_backoff = Duration::from_millis(10);
    o.max_backoff = Duration::from_millis(50);
    let provider = SecureEndpoint::new("se", &config, o).unwrap();
    Se { sim, provider, now }
}

#[async_trait]
impl Harness for Se {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }
    fn agent_ids(&self) -> Vec<String> {
        self.sim
            .computers()
            .iter()
            .map(|c| c["connector_guid"].as_str().unwrap().to_string())
            .collect()
    }
    fn now(&self) -> Timestamp {
        self.now
    }
    fn set_last_seen(&self, agent_id: &str, when: Option<Timestamp>) -> bool {
        self.sim.set_last_seen(agent_id, when);
        true
    }
    fn forget(&self, agent_id: &str) {
        self.sim.forget(agent_id);
    }
    fn relocate_target(&self) -> Option<RelocateTarget> {
        let group = self.sim.state().groups[1]["name"].as_str()?.to_string();
        Some(RelocateTarget {
            to: group,
            resolved_id: None,
            folder: None,
            allow_multiple: false,
        })
    }
    async fn stop(self) {
        self.sim.shutdown().await;
    }
}

#[tokio::test]
async fn secure_endpoint_conforms() {
    conformance::run(start).await;
}
