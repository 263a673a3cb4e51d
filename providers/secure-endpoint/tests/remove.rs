//! `remove` (`DELETE /v1/computers/{guid}`) through the `Provider` trait against the simulator.
#![cfg(feature = "sim")]

use std::time::Duration;

use agentctl_core::http::HttpOptions;
use agentctl_core::{Action, ActionOutcome, AgentRef, Operation, Provider, Recheck};
use agentctl_secure_endpoint::sim::{self, RunningSim, SimConfig};
use agentctl_secure_endpoint::{Config, SecureEndpoint};
use serde_json::json;

fn provider(sim: &RunningSim) -> SecureEndpoint {
    let c = SimConfig::default();
    let config: Config = serde_json::from_value(json!({
        "api_url": sim.base_url(),
        "token_url": sim.base_url(),
        "client_id": c.client_id,
        "api_key": c.api_key,
        "xdr_client_id": c.xdr_client_id,
        "xdr_client_secret": c.xdr_client_secret,
    }))
    .unwrap();
    let mut o = HttpOptions::new("se");
    o.min_backoff = Duration::from_millis(10);
    o.max_backoff = Duration::from_millis(50);
    SecureEndpoint::new("se", &config, o).unwrap()
}

fn agent(guid: &str) -> AgentRef {
    AgentRef {
        provider: "se".into(),
        agent_id: guid.into(),
        hostname: None,
        last_seen: None,
    }
}

fn guid_of(sim: &RunningSim, i: usize) -> String {
    sim.computers()[i]["connector_guid"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn remove_deletes_the_record_once_and_a_retry_is_skipped_as_gone() {
    let sim = sim::start(
        SimConfig {
            fleet_size: 5,
            ..SimConfig::default()
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    assert!(p.supports(Operation::Remove).is_ok());
    let guid = guid_of(&sim, 2);
    let action = p.prepare(&Action::Remove).await.unwrap();
    assert_eq!(
        p.describe(&action, &agent(&guid)),
        format!("DELETE {}/v1/computers/{guid}", sim.base_url())
    );
    let out = p.act(&action, &agent(&guid)).await.unwrap();
    match out {
        ActionOutcome::Requested { detail, request_id } => {
            assert!(detail.contains("deleted"), "{detail}");
            assert!(request_id.is_some(), "the simulator sends x-request-id");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.computers().len(), 4, "gone from the listing");
    assert!(matches!(p.recheck(&guid).await.unwrap(), Recheck::Gone));
    // A retry (e.g. after a lost answer) is idempotent: 404 means already gone.
    let again = p.act(&action, &agent(&guid)).await.unwrap();
    assert!(
        matches!(again, ActionOutcome::Skipped { ref why, .. } if why == "gone"),
        "{again:?}"
    );
    assert!(
        sim.uninstall_requests().is_empty(),
        "remove is not an uninstall"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_delete_answered_deleted_false_fails_that_agent() {
    let base = SimConfig {
        fleet_size: 3,
        ..SimConfig::default()
    };
    let probe = sim::start(base.clone(), None).await.unwrap();
    let guid = guid_of(&probe, 1);
    let state = probe.state();
    probe.shutdown().await;
    let sim = sim::start(
        SimConfig {
            refuse_delete: vec![guid.clone()],
            ..base
        },
        Some(state),
    )
    .await
    .unwrap();
    let p = provider(&sim);
    let err = p.act(&Action::Remove, &agent(&guid)).await.unwrap_err();
    assert!(err.reason().contains("deleted: false"), "{}", err.reason());
    assert_eq!(err.provider.as_deref(), Some("se"));
    assert_eq!(sim.computers().len(), 3, "still registered");
    assert!(p.supports(Operation::Restore).is_err());
    sim.shutdown().await;
}
