//! Bulk jobs (remove = `deleteAssetsV2`, restore = `restoreAssetsV2`, relocate =
//! `assignBulkAssetsToGroup`) through the `Provider` trait against the simulator.

use std::time::Duration;

use agentctl_core::http::HttpOptions;
use agentctl_core::{
    Action, ActionOutcome, AgentRef, ErrorKind, ListQuery, Provider, Recheck, RelocateTarget,
};
use agentctl_taegis::client::JobPolling;
use agentctl_taegis::unconfirmed::BULK_JOB_BATCH_SIZE;
use agentctl_taegis::{Config, Taegis};
use agentctl_taegis_sim::{self as sim, RunningSim, SimConfig};
use futures::TryStreamExt;
use jiff::Timestamp;

const DELETE: &str = "graphql deleteAssetsV2";
const DELETE_STATUS: &str = "graphql deleteAssetsStatusV2";

fn cfg(fleet: usize) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        now: Timestamp::now(),
        ..SimConfig::default()
    }
}

fn fast() -> JobPolling {
    JobPolling {
        first: Duration::from_millis(5),
        max: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
    }
}

fn provider(sim: &RunningSim) -> Taegis {
    let c = sim.config();
    let config: Config = toml::from_str(&format!(
        "api_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = '{}'\ntenant_id = \"{}\"\n",
        sim.base_url(),
        c.client_id,
        c.client_secret,
        c.tenant_id
    ))
    .unwrap();
    let mut o = HttpOptions::new("tg");
    o.min_backoff = Duration::from_millis(10);
    o.max_backoff = Duration::from_millis(50);
    Taegis::new("tg", &config, o)
        .unwrap()
        .with_job_polling(fast())
}

fn refs(sim: &RunningSim, range: std::ops::Range<usize>) -> Vec<AgentRef> {
    sim.assets()[range]
        .iter()
        .map(|a| AgentRef {
            provider: "tg".into(),
            agent_id: a.id.clone(),
            hostname: a.hostnames.first().cloned(),
            last_seen: a.last_seen_at,
        })
        .collect()
}

async fn listed_ids(p: &Taegis) -> Vec<String> {
    p.list(&ListQuery::default())
        .map_ok(|r| r.agent_id)
        .try_collect()
        .await
        .unwrap()
}

fn job_id(out: &ActionOutcome) -> String {
    match out {
        ActionOutcome::Requested {
            request_id: Some(id),
            ..
        } => id.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn remove_is_one_polled_job_per_batch_and_restore_brings_the_assets_back() {
    let sim = sim::start(cfg(30), None).await.unwrap();
    let p = provider(&sim);
    assert_eq!(p.batch_size(&Action::Remove), BULK_JOB_BATCH_SIZE);
    assert_eq!(p.batch_size(&Action::Restore), BULK_JOB_BATCH_SIZE);
    assert_eq!(p.batch_size(&Action::Uninstall), 1);
    let before = listed_ids(&p).await;
    let batch = refs(&sim, 3..10);
    let action = p.prepare(&Action::Remove).await.unwrap();
    let call = p.describe(&action, &batch[0]);
    assert!(
        call.contains("deleteAssetsV2") && call.contains(&batch[0].agent_id),
        "{call}"
    );
    let results = p.act_batch(&action, &batch).await;
    assert_eq!(results.len(), 7);
    let jobs: Vec<String> = results
        .iter()
        .map(|r| job_id(r.as_ref().unwrap()))
        .collect();
    assert!(jobs.iter().all(|j| j == &jobs[0]), "one job for the batch");
    assert_eq!(sim.request_count(DELETE), 1);
    assert!(
        sim.request_count(DELETE_STATUS) >= 2,
        "the job needed several polls"
    );
    let job = &sim.jobs()[0];
    assert_eq!(job.id, jobs[0]);
    assert_eq!(
        job.asset_ids.len(),
        7,
        "the filter selected exactly the batch"
    );
    // Soft-deleted: hidden from the listing, kept by the service.
    let after = listed_ids(&p).await;
    assert_eq!(after.len(), before.len() - 7);
    assert!(batch.iter().all(|a| !after.contains(&a.agent_id)));
    assert_eq!(sim.deleted_assets().len(), 7);
    assert_eq!(p.recheck(&batch[0].agent_id).await.unwrap(), Recheck::Gone);

    // A retry changes nothing and fails nothing.
    let again = p.act(&action, &batch[1]).await.unwrap();
    assert!(
        matches!(again, ActionOutcome::Skipped { ref why, .. } if why == "gone"),
        "{again:?}"
    );

    // Restore from the same refs (what a remove run's journal lists).
    let restore = p.prepare(&Action::Restore).await.unwrap();
    let results = p.act_batch(&restore, &batch).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(ActionOutcome::Requested { .. }))),
        "{results:?}"
    );
    assert_eq!(listed_ids(&p).await, before, "back, in their cursor order");
    assert!(sim.deleted_assets().is_empty());
    // Restoring what is not removed is skipped, not failed.
    let again = p.act(&restore, &batch[0]).await.unwrap();
    assert!(
        matches!(again, ActionOutcome::Skipped { ref why, .. } if why == "present"),
        "{again:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn batches_larger_than_a_job_are_split_and_results_keep_their_order() {
    let sim = sim::start(cfg(BULK_JOB_BATCH_SIZE * 2 + 30), None)
        .await
        .unwrap();
    let p = provider(&sim);
    let all = refs(&sim, 0..BULK_JOB_BATCH_SIZE * 2 + 30);
    let results = p.act_batch(&Action::Remove, &all).await;
    assert_eq!(results.len(), all.len());
    assert!(results.iter().all(|r| r.is_ok()));
    assert_eq!(sim.request_count(DELETE), 3);
    assert_eq!(sim.jobs().len(), 3);
    assert!(listed_ids(&p).await.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_job_that_fails_some_assets_fails_exactly_those() {
    let probe = sim::start(cfg(12), None).await.unwrap();
    let state = probe.state();
    let ids: Vec<String> = probe.assets().iter().map(|a| a.id.clone()).collect();
    probe.shutdown().await;
    let sim = sim::start(
        SimConfig {
            job_fail_assets: vec![ids[2].clone(), ids[5].clone()],
            ..cfg(12)
        },
        Some(state),
    )
    .await
    .unwrap();
    let p = provider(&sim);
    let batch = refs(&sim, 0..8);
    let results = p.act_batch(&Action::Remove, &batch).await;
    let job = sim.jobs()[0].id.clone();
    for (a, r) in batch.iter().zip(&results) {
        if a.agent_id == ids[2] || a.agent_id == ids[5] {
            let e = r.as_ref().unwrap_err();
            assert_eq!(e.request_id.as_deref(), Some(job.as_str()));
            assert!(e.reason().contains("still listed"), "{}", e.reason());
            assert!(e.reason().contains("2 failed"), "{}", e.reason());
        } else {
            assert_eq!(job_id(r.as_ref().unwrap()), job);
        }
    }
    let listed = listed_ids(&p).await;
    assert!(listed.contains(&ids[2]) && listed.contains(&ids[5]));
    assert_eq!(listed.len(), 12 - 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_job_that_stays_running_fails_the_batch_with_its_id() {
    let sim = sim::start(
        SimConfig {
            job_polls: u32::MAX,
            ..cfg(5)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim).with_job_polling(JobPolling {
        timeout: Duration::from_millis(150),
        ..fast()
    });
    let batch = refs(&sim, 0..2);
    let results = p.act_batch(&Action::Remove, &batch).await;
    let job = sim.jobs()[0].id.clone();
    for r in &results {
        let e = r.as_ref().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Api);
        assert_eq!(e.request_id.as_deref(), Some(job.as_str()));
        assert!(
            e.reason().contains("still TASK_STATE_IN_PROGRESS"),
            "{}",
            e.reason()
        );
    }
    assert!(sim.request_count(DELETE_STATUS) >= 3);
    assert_eq!(listed_ids(&p).await.len(), 5, "nothing changed yet");
    sim.shutdown().await;
}

#[tokio::test]
async fn relocate_resolves_the_group_by_name_or_id_and_moves_the_assets() {
    let sim = sim::start(
        SimConfig {
            extra_groups: vec![
                ("grp-dup-1".into(), "Quarantine".into()),
                ("grp-dup-2".into(), "quarantine".into()),
            ],
            ..cfg(20)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    let finance = sim
        .groups()
        .into_iter()
        .find(|g| g.name == "Finance")
        .unwrap();
    let target = |to: &str| {
        Action::Relocate(RelocateTarget {
            to: to.into(),
            resolved_id: None,
            folder: None,
            allow_multiple: false,
        })
    };
    let action = p.prepare(&target("finance")).await.unwrap();
    match &action {
        Action::Relocate(t) => {
            assert_eq!(t.resolved_id.as_deref(), Some(finance.id.as_str()));
            assert_eq!(t.to, "Finance");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.prepare(&target(&finance.id)).await.unwrap(), action);
    assert_eq!(sim.request_count("graphql allEndpointGroups"), 2);

    let unknown = p.prepare(&target("Nowhere")).await.unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::Input);
    assert!(
        unknown.reason().contains("Finance (") && unknown.reason().contains("Servers ("),
        "lists the groups: {}",
        unknown.reason()
    );
    let ambiguous = p.prepare(&target("QUARANTINE")).await.unwrap_err();
    assert_eq!(ambiguous.kind, ErrorKind::Input);
    assert!(
        ambiguous.reason().contains("grp-dup-1") && ambiguous.reason().contains("grp-dup-2"),
        "{}",
        ambiguous.reason()
    );
    let folder = Action::Relocate(RelocateTarget {
        folder: Some("\\x".into()),
        ..match target("Finance") {
            Action::Relocate(t) => t,
            _ => unreachable!(),
        }
    });
    assert_eq!(p.prepare(&folder).await.unwrap_err().kind, ErrorKind::Input);

    let batch = refs(&sim, 0..6);
    let results = p.act_batch(&action, &batch).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(sim.request_count("graphql assignBulkAssetsToGroup"), 1);
    for a in &sim.assets()[0..6] {
        assert_eq!(
            a.endpoint_group,
            Some((finance.id.clone(), "Finance".into()))
        );
    }
    match p.recheck(&batch[0].agent_id).await.unwrap() {
        Recheck::Present(r) => assert_eq!(r.group.as_deref(), Some("Finance")),
        Recheck::Gone => panic!("still registered"),
    }
    // Moving again is no change and no failure.
    assert!(p.act(&action, &batch[0]).await.is_ok());
    sim.shutdown().await;
}

#[tokio::test]
async fn pending_uninstall_reaches_the_record() {
    let sim = sim::start(cfg(10), None).await.unwrap();
    let p = provider(&sim);
    let id = sim.assets()[4].id.clone();
    sim.set_pending_uninstall(&id, true);
    let records: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    for r in &records {
        assert_eq!(
            r.pending_uninstall,
            r.agent_id == id
                || sim
                    .assets()
                    .iter()
                    .any(|a| a.id == r.agent_id && a.pending_uninstall)
        );
    }
    match p.recheck(&id).await.unwrap() {
        Recheck::Present(r) => assert!(r.pending_uninstall),
        Recheck::Gone => panic!("registered"),
    }
    sim.shutdown().await;
}
