//! Listing and bulk re-check through the `Provider` trait against the simulator: pages
//! fetched concurrently come out in the server's order, and the request counts are what the
//! paging rules allow.
#![cfg(feature = "sim")]

use std::time::Duration;

use agentctl_core::http::HttpOptions;
use agentctl_core::{ListQuery, Provider};
use agentctl_secure_endpoint::sim::{self, RunningSim, SimConfig};
use agentctl_secure_endpoint::{Config, SecureEndpoint};
use futures::TryStreamExt;
use serde_json::json;

const LIST: &str = "GET /v1/computers";

fn cfg(fleet: usize, latency_ms: u64) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        latency: Duration::from_millis(latency_ms),
        now: "2026-11-23T12:00:00Z".parse().unwrap(),
        ..SimConfig::default()
    }
}

fn provider(sim: &RunningSim, cfg: &SimConfig, concurrency: usize) -> SecureEndpoint {
    let config: Config = serde_json::from_value(json!({
        "api_url": sim.base_url(),
        "token_url": sim.base_url(),
        "client_id": cfg.client_id,
        "api_key": cfg.api_key,
        "xdr_client_id": cfg.xdr_client_id,
        "xdr_client_secret": cfg.xdr_client_secret,
    }))
    .unwrap();
    let mut opts = HttpOptions::new("se");
    opts.concurrency = concurrency;
    SecureEndpoint::new("se", &config, opts).unwrap()
}

/// Connector GUIDs in the order the server lists them.
fn server_order(sim: &RunningSim) -> Vec<String> {
    sim.computers()
        .iter()
        .map(|c| c["connector_guid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn concurrent_pages_come_out_in_server_order() {
    let cfg = cfg(2_345, 20);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 4);
    let records: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    let ids: Vec<String> = records.iter().map(|r| r.agent_id.clone()).collect();
    assert_eq!(ids, server_order(&sim));
    // Five pages of 500, the last four in flight together after the first gave the total.
    assert_eq!(sim.request_count(LIST), 5);
    assert_eq!(sim.peak_in_flight(), 4);
    assert!(records[0].raw["connector_guid"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_slow_page_does_not_hold_back_the_requests_after_it() {
    // The page at offset 500 takes 2 s more than the others. Requests are capped at 4 on
    // the network, not at 4 pages waiting for their turn in the output: while the slow page
    // is out, the pages after it keep being requested (up to twice the concurrency held).
    // (At 400 ms a heavily loaded 2-core machine once had not yet sent the last of them.)
    let mut cfg = cfg(6_000, 5);
    cfg.slow_page_at = Some((500, Duration::from_secs(2)));
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 4);
    let query = ListQuery::default();
    let mut listing = p.list(&query);
    let mut ids = Vec::new();
    let mut requested_before_slow_page = None;
    while let Some(r) = listing.try_next().await.unwrap() {
        if ids.len() == 500 {
            requested_before_slow_page = Some(sim.request_count(LIST));
        }
        ids.push(r.agent_id);
    }
    drop(listing);
    assert_eq!(ids, server_order(&sim));
    // The first page alone, then the slow one and the 7 after it (2 × 4 held).
    assert_eq!(requested_before_slow_page, Some(9));
    assert_eq!(sim.request_count(LIST), 12);
    assert_eq!(sim.peak_in_flight(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_listing_shows_computers_as_they_are_now() {
    // The simulator keeps each computer's rendered JSON between pages: a change to a
    // computer, or its removal, shows in the next listing.
    let cfg = cfg(1_200, 0);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 4);
    let before: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    let (changed, gone) = (before[3].agent_id.clone(), before[700].agent_id.clone());
    let when: jiff::Timestamp = "2026-11-20T08:00:00Z".parse().unwrap();
    sim.set_last_seen(&changed, Some(when));
    sim.forget(&gone);
    let after: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    assert_eq!(after.len(), before.len() - 1);
    assert!(after.iter().all(|r| r.agent_id != gone));
    let r = after.iter().find(|r| r.agent_id == changed).unwrap();
    assert_eq!(r.last_seen, Some(when));
    assert_eq!(r.raw["last_seen"], "2026-11-20T08:00:00Z");
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrency_one_is_the_sequential_walk() {
    let cfg = cfg(1_200, 5);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 1);
    let records: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    let ids: Vec<String> = records.iter().map(|r| r.agent_id.clone()).collect();
    assert_eq!(ids, server_order(&sim));
    assert_eq!(sim.request_count(LIST), 3);
    assert_eq!(sim.peak_in_flight(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn records_without_raw_have_the_same_columns() {
    let cfg = cfg(700, 0);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 8);
    let with: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    let query = ListQuery {
        keep_raw: false,
        ..ListQuery::default()
    };
    let without: Vec<_> = p.list(&query).try_collect().await.unwrap();
    assert_eq!(with.len(), 700);
    assert_eq!(with.len(), without.len());
    for (a, b) in with.iter().zip(&without) {
        assert!(a.raw.is_object());
        assert!(b.raw.is_null());
        let mut a = a.clone();
        a.raw = serde_json::Value::Null;
        assert_eq!(&a, b);
    }
    sim.shutdown().await;
}

/// `identity_hints` decides whether records carry MAC addresses, with or without raw JSON:
/// without the hints the columns are the same and no MAC is normalised.
#[tokio::test]
async fn identity_hints_decide_the_macs_whether_or_not_raw_is_kept() {
    let cfg = cfg(600, 0);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 4);
    for keep_raw in [true, false] {
        let query = |identity_hints| ListQuery {
            keep_raw,
            identity_hints,
            ..ListQuery::default()
        };
        let hinted: Vec<_> = p.list(&query(true)).try_collect().await.unwrap();
        let plain: Vec<_> = p.list(&query(false)).try_collect().await.unwrap();
        assert_eq!(hinted.len(), 600);
        assert!(
            hinted.iter().any(|r| !r.mac_addresses.is_empty()),
            "keep_raw {keep_raw}: the simulated fleet reports MACs"
        );
        assert_eq!(hinted.len(), plain.len());
        for (h, p) in hinted.iter().zip(&plain) {
            assert!(p.mac_addresses.is_empty(), "keep_raw {keep_raw}: {p:?}");
            assert_eq!(p.raw.is_object(), keep_raw);
            let mut h = h.clone();
            h.mac_addresses.clear();
            assert_eq!(&h, p, "keep_raw {keep_raw}: only the MACs differ");
        }
    }
    sim.shutdown().await;
}

/// With the stale hint, computers the query does not want become no record, whether or not
/// raw JSON is kept: the result is what filtering every record afterwards gives, agents with
/// no last-seen time are kept exactly when `include_unknown` asks for them, and the tally
/// still counts every computer the pages held (so it agrees with the reported total).
#[tokio::test]
async fn the_stale_hint_drops_unwanted_computers_yet_counts_them() {
    use agentctl_core::time::{is_stale, stale_cutoff};
    let cfg = cfg(1_234, 0);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 4);
    let cutoff = stale_cutoff(cfg.now, 30);
    let ids = server_order(&sim);
    // One agent with no last-seen time, one fresh and one stale, on different pages.
    let (unknown, fresh, stale) = (&ids[3], &ids[600], &ids[1_100]);
    sim.set_last_seen(unknown, None);
    sim.set_last_seen(fresh, Some(cfg.now));
    sim.set_last_seen(stale, Some(cutoff - jiff::SignedDuration::from_secs(1)));
    let everything: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    assert_eq!(everything.len(), 1_234);
    for keep_raw in [true, false] {
        for include_unknown in [false, true] {
            let query = ListQuery {
                last_seen_before: Some(cutoff),
                include_unknown,
                keep_raw,
                ..ListQuery::default()
            };
            let want: Vec<&str> = everything
                .iter()
                .filter(|r| {
                    is_stale(r.last_seen, cutoff) || (include_unknown && r.last_seen.is_none())
                })
                .map(|r| r.agent_id.as_str())
                .collect();
            let tally = agentctl_core::ListTally::default();
            let got: Vec<_> = p
                .list_tallied(&query, tally.clone())
                .try_collect()
                .await
                .unwrap();
            let got: Vec<&str> = got.iter().map(|r| r.agent_id.as_str()).collect();
            let what = format!("keep_raw {keep_raw}, include_unknown {include_unknown}");
            assert_eq!(got, want, "{what}");
            assert!(got.len() < 1_234, "{what}: the fresh agent is dropped");
            assert!(!got.contains(&fresh.as_str()), "{what}");
            assert!(got.contains(&stale.as_str()), "{what}");
            assert_eq!(got.contains(&unknown.as_str()), include_unknown, "{what}");
            assert_eq!(tally.received(), 1_234, "{what}: every computer counted");
            assert_eq!(tally.disagreement(), None, "{what}");
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_fleet_on_exactly_one_page_costs_one_request() {
    let cfg = cfg(500, 0);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 8);
    let records: Vec<_> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    assert_eq!(records.len(), 500);
    assert_eq!(sim.request_count(LIST), 1);
    sim.shutdown().await;
}

fn refs(ids: &[String]) -> Vec<agentctl_core::AgentRef> {
    ids.iter()
        .map(|id| agentctl_core::AgentRef {
            provider: "se".into(),
            agent_id: id.clone(),
            hostname: None,
            last_seen: None,
        })
        .collect()
}

#[tokio::test]
async fn bulk_recheck_reads_the_listing_when_it_has_fewer_pages_than_agents() {
    use agentctl_core::Recheck;
    let cfg = cfg(1_200, 0);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 8);
    let order = server_order(&sim);
    // Nine agents spread over the three pages, and one the console no longer has.
    let mut ids: Vec<String> = order.iter().step_by(130).take(9).cloned().collect();
    let gone = "00000000-0000-4000-8000-000000000000".to_string();
    ids.push(gone.clone());
    let map = p.recheck_bulk(&refs(&ids)).await.unwrap().expect("bulk");
    assert_eq!(map.len(), 10);
    for id in &ids[..9] {
        match &map[id] {
            Recheck::Present(r) => assert_eq!(&r.agent_id, id),
            Recheck::Gone => panic!("{id} is listed"),
        }
    }
    assert_eq!(map[&gone], Recheck::Gone);
    // Three pages, plus one GET to confirm the agent the listing did not show.
    assert_eq!(sim.request_count(LIST), 3);
    assert_eq!(sim.request_count("GET /v1/computers/{guid}"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_recheck_declines_when_one_get_per_agent_is_cheaper() {
    let cfg = cfg(1_200, 0);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 8);
    let order = server_order(&sim);
    // One agent: nothing to save.
    assert!(p.recheck_bulk(&refs(&order[..1])).await.unwrap().is_none());
    assert_eq!(sim.request_count(LIST), 0);
    // Three agents, three pages: the listing is no cheaper; only the first page was read.
    assert!(p.recheck_bulk(&refs(&order[..3])).await.unwrap().is_none());
    assert_eq!(sim.request_count(LIST), 1);
    sim.shutdown().await;
}

/// Acting on agents while the re-check still reads the listing (the caller uninstalls each
/// agent as soon as it is reported, and the console drops it from the listing) must not
/// make the listing skip any other agent: no agent is missed, no confirming GET is spent.
#[tokio::test]
async fn bulk_recheck_reported_page_by_page_misses_nothing_while_agents_are_removed() {
    use agentctl_core::Recheck;
    let cfg = cfg(2_600, 5);
    let sim = sim::start(cfg.clone(), None).await.unwrap();
    let p = provider(&sim, &cfg, 2);
    let order = server_order(&sim);
    // Most of the fleet, on every page.
    let ids: Vec<String> = order.iter().step_by(2).cloned().collect();
    let mut reported: Vec<String> = Vec::new();
    let used = p
        .recheck_bulk_each(&refs(&ids), &mut |id, answer| {
            assert!(matches!(answer, Recheck::Present(_)), "{id} is listed");
            // What an uninstall does to the console's listing, at once.
            sim.forget(&id);
            reported.push(id);
        })
        .await
        .unwrap();
    assert!(used);
    // The first page's agents come last: removing them earlier would move every later page.
    let first_page: std::collections::HashSet<&String> = order[..500].iter().collect();
    let on_first = reported.iter().filter(|id| first_page.contains(id)).count();
    assert_eq!(on_first, 250);
    assert!(
        reported[reported.len() - on_first..]
            .iter()
            .all(|id| first_page.contains(id)),
        "the first page's agents were reported before later pages"
    );
    reported.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(reported, want, "every agent reported once");
    assert_eq!(sim.request_count(LIST), 6);
    assert_eq!(sim.request_count("GET /v1/computers/{guid}"), 0);
    sim.shutdown().await;
}
