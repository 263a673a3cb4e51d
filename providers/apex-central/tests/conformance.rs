//! The provider contract's conformance suite against the Apex Central simulator.
#![cfg(feature = "sim")]

use std::time::Duration;

use agentctl_apex_central::sim::{self, RunningSim, SimConfig};
use agentctl_apex_central::{ApexCentral, Config};
use agentctl_core::conformance::{self, Harness};
use agentctl_core::http::HttpOptions;
use agentctl_core::secret::SecretRef;
use agentctl_core::{Action, Provider, RelocateTarget};
use async_trait::async_trait;
use jiff::Timestamp;

struct Apex {
    sim: RunningSim,
    provider: ApexCentral,
}

async fn start() -> Apex {
    let cfg = SimConfig::default();
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let config = Config {
        url: Some(sim.base_url()),
        application_id: Some(cfg.application_id.clone()),
        api_key: Some(SecretRef::from(cfg.api_key.clone())),
    };
    let o = HttpOptions {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        ..HttpOptions::new("apex")
    };
    let provider = ApexCentral::new("apex", &config, o).unwrap();
    Apex { sim, provider }
}

#[async_trait]
impl Harness for Apex {
    fn provider(&self) -> &dyn Provider {
        &self.provider
    }
    fn agent_ids(&self) -> Vec<String> {
        self.sim
            .agents()
            .iter()
            .map(|a| a["entity_id"].as_str().unwrap().to_string())
            .collect()
    }
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
    /// ProductAgents has no last-seen time.
    fn set_last_seen(&self, _agent_id: &str, _when: Option<Timestamp>) -> bool {
        false
    }
    fn forget(&self, agent_id: &str) {
        self.sim.forget(agent_id);
    }
    /// Each agent lists the commands it takes (`capabilities`).
    fn can_act(&self, agent_id: &str, action: &Action) -> bool {
        let needed = match action {
            Action::Uninstall => "cmd_uninstall_agent",
            Action::Relocate(_) => "cmd_relocate_agent",
            Action::Remove | Action::Restore => return true,
        };
        self.sim.agent(agent_id).is_some_and(|a| {
            a["capabilities"]
                .as_array()
                .is_some_and(|c| c.iter().any(|x| x == needed))
        })
    }
    fn relocate_target(&self) -> Option<RelocateTarget> {
        Some(RelocateTarget {
            to: "ApexOne02".into(),
            resolved_id: None,
            folder: Some(r"\Conformance\Moved".into()),
            allow_multiple: false,
        })
    }
    async fn stop(self) {
        self.sim.shutdown().await;
    }
}

#[tokio::test]
async fn apex_central_conforms() {
    conformance::run(start).await;
}
