//! The provider contract's conformance suite against the Taegis simulator.

use std::time::Duration;

use agentctl_core::conformance::{self, Harness};
use agentctl_core::http::HttpOptions;
use agentctl_core::{Provider, RelocateTarget};
use agentctl_taegis::client::JobPolling;
use agentctl_taegis::{Config, Taegis};
use agentctl_taegis_sim::{self as sim, RunningSim, SimConfig};
use async_trait::async_trait;
use jiff::Timestamp;

struct Tg {
    sim: RunningSim,
    provider: Taegis,
    now: Timestamp,
}

async fn start() -> Tg {
    let now = Timestamp::now();
    let cfg = SimConfig {
        // More than one page of 500.
        fleet_size: 520,
        now,
        ..SimConfig::default()
    };
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let config: Config = toml::from_str(&format!(
        "api_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = '{}'\ntenant_id = \"{}\"\n",
        sim.base_url(),
        cfg.client_id,
        cfg.client_secret,
        cfg.tenant_id
    ))
    .unwrap();
    let mut o = HttpOptions::new("tg");
    o.min_backoff = Duration::from_millis(10);
    let provider = Taegis::new("tg", &config, o)
        .unwrap()
        .with_job_polling(JobPolling {
            first: Duration::from_millis(5),
            max: Duration::from_millis(20),
            timeout: Duration::from_secs(10),
        });
    Tg { sim, provider, now }
}

#[async_trait]
impl Harness for Tg {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }
    fn agent_ids(&self) -> Vec<String> {
        self.sim.assets().into_iter().map(|a| a.id).collect()
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
        Some(RelocateTarget {
            to: "Servers".into(),
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
async fn taegis_conforms() {
    conformance::run(start).await;
}
