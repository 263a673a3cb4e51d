//! The provider driven through the `Provider` trait against the simulator.
#![cfg(feature = "sim")]

use std::time::{Duration, Instant};

use agentctl_core::http::HttpOptions;
use agentctl_core::ratelimit::RateLimitSpec;
use agentctl_core::time::{is_stale, stale_cutoff};
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ErrorKind, ListQuery, NewClient, Operation,
    Provider, Recheck,
};
use agentctl_secure_access::sim::{self, ExpiredToken, RunningSim, SimConfig};
use agentctl_secure_access::{Config, SecureAccess};
use futures::{StreamExt, TryStreamExt};
use jiff::{SignedDuration, Timestamp};
use secrecy::ExposeSecret;

const ROAMING: &str = "GET /deployments/v2/roamingcomputers";
const TOKEN: &str = "POST /auth/v2/token";

fn now() -> Timestamp {
    Timestamp::now()
}

/// A simulator without quotas (the quota tests set their own).
fn cfg(fleet: usize) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        now: now(),
        quotas: RateLimitSpec::off(),
        token_quotas: RateLimitSpec::off(),
        ..SimConfig::default()
    }
}

struct Keys<'a> {
    key: &'a str,
    secret: &'a str,
    admin: Option<(&'a str, &'a str)>,
    org: Option<&'a str>,
}

fn provider_with(sim: &RunningSim, keys: Keys<'_>, rate_limit: &str) -> SecureAccess {
    let mut text = format!(
        "api_url = \"{}\"\napi_key = \"{}\"\napi_secret = '{}'\n",
        sim.base_url(),
        keys.key,
        keys.secret
    );
    if let Some((k, s)) = keys.admin {
        text.push_str(&format!(
            "key_admin_key = \"{k}\"\nkey_admin_secret = '{s}'\n"
        ));
    }
    if let Some(org) = keys.org {
        text.push_str(&format!("org_id = \"{org}\"\n"));
    }
    let config: Config = toml::from_str(&text).unwrap();
    let mut opts = HttpOptions::new("sa");
    opts.rate_limit = RateLimitSpec::parse(rate_limit).unwrap();
    opts.min_backoff = Duration::from_millis(50);
    SecureAccess::new("sa", &config, opts).unwrap()
}

fn provider(sim: &RunningSim) -> SecureAccess {
    let c = sim.config();
    provider_with(
        sim,
        Keys {
            key: &c.api_key,
            secret: &c.api_secret,
            admin: Some((&c.key_admin_key, &c.key_admin_secret)),
            org: None,
        },
        "off",
    )
}

async fn list(p: &SecureAccess, q: &ListQuery) -> Vec<AgentRecord> {
    p.list(q).try_collect().await.unwrap()
}

fn agent_ref(r: &AgentRecord) -> AgentRef {
    AgentRef {
        provider: r.provider.clone(),
        agent_id: r.agent_id.clone(),
        hostname: Some(r.hostname.clone()),
        last_seen: r.last_seen,
    }
}

#[tokio::test]
async fn paging_handles_exact_multiples_short_pages_and_an_empty_fleet() {
    for (fleet, requests) in [(300, 4), (250, 3), (0, 1), (100, 2), (1, 1)] {
        let sim = sim::start(cfg(fleet), None).await.unwrap();
        let p = provider(&sim);
        let records = list(&p, &ListQuery::default()).await;
        assert_eq!(records.len(), fleet, "fleet {fleet}");
        // Up to SPECULATIVE_PAGES − 1 pages past the last one were already asked for.
        let sent = sim.request_count(ROAMING);
        let speculative = agentctl_secure_access::client::SPECULATIVE_PAGES as u64;
        assert!(
            (requests..requests + speculative).contains(&sent),
            "fleet {fleet}: {sent} requests"
        );
        let expected: Vec<String> = sim
            .roaming_computers()
            .iter()
            .map(|c| c["deviceId"].as_str().unwrap().to_string())
            .collect();
        let got: Vec<String> = records.iter().map(|r| r.agent_id.clone()).collect();
        assert_eq!(got, expected, "every device once, in order");
        for r in &records {
            assert_eq!(r.kind, "secure-access");
            assert!(p.validate_agent_id(&r.agent_id).is_ok());
            assert!(r.os.is_some() && r.agent_version.is_some());
            assert!(r.raw["status"].is_string() && r.raw["swgStatus"].is_string());
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn records_map_the_spec_columns() {
    let sim = sim::start(cfg(400), None).await.unwrap();
    let p = provider(&sim);
    let records = list(&p, &ListQuery::default()).await;
    assert!(
        records.iter().any(|r| !r.hostname.is_ascii()),
        "non-ASCII host names survive"
    );
    let never = records.iter().filter(|r| r.last_seen.is_none()).count();
    assert!(never > 0, "some devices never synced");
    let raw = &sim.roaming_computers()[0];
    let r = &records[0];
    assert_eq!(r.agent_id, raw["deviceId"]);
    assert_eq!(r.hostname, raw["name"]);
    assert_eq!(r.os.as_deref(), raw["osVersionName"].as_str());
    assert_eq!(r.agent_version.as_deref(), raw["version"].as_str());
    assert_eq!(&r.raw, raw);
    sim.shutdown().await;
}

#[tokio::test]
async fn last_sync_before_hint_equals_client_side_filtering() {
    let sim = sim::start(cfg(1000), None).await.unwrap();
    let p = provider(&sim);
    // The API's times carry milliseconds; a cutoff on a whole millisecond makes "exactly at
    // the cutoff" expressible on the wire.
    let cutoff = stale_cutoff(
        Timestamp::from_millisecond(now().as_millisecond()).unwrap(),
        30,
    );
    // Boundary cases: exactly at the cutoff (not stale), one millisecond before (stale).
    let ids: Vec<String> = sim.roaming_computers()[..2]
        .iter()
        .map(|c| c["deviceId"].as_str().unwrap().to_string())
        .collect();
    sim.set_last_sync(&ids[0], Some(cutoff));
    sim.set_last_sync(&ids[1], Some(cutoff - SignedDuration::from_millis(1)));
    agentctl_core::conformance::stale_hint_matches_the_client_side_rule(
        &p,
        cutoff,
        &ids[0],
        &ids[1],
        || sim.request_count(ROAMING),
    )
    .await;
    sim.shutdown().await;
}

#[tokio::test]
async fn remove_deletes_and_a_missing_device_is_skipped_as_gone() {
    let sim = sim::start(cfg(20), None).await.unwrap();
    let p = provider(&sim);
    assert!(p.supports(Operation::Remove).is_ok());
    // `uninstall` is the documented alias: it performs (and is reported as) remove.
    assert!(p.supports(Operation::Uninstall).is_ok());
    assert_eq!(p.effective_action(&Action::Uninstall), Action::Remove);
    assert_eq!(p.prepare(&Action::Uninstall).await.unwrap(), Action::Remove);
    let ns = p.supports(Operation::Restore).unwrap_err();
    assert!(ns.reason.contains("no restore"), "{}", ns.reason);
    let ns = p.supports(Operation::Relocate).unwrap_err();
    assert!(ns.reason.contains("no move or relocate"), "{}", ns.reason);
    assert!(p.validate_agent_id("not/a/device").is_err());

    let records = list(&p, &ListQuery::default()).await;
    let target = agent_ref(&records[3]);
    let action = p.prepare(&Action::Remove).await.unwrap();
    assert_eq!(
        p.describe(&action, &target),
        format!(
            "DELETE {}/deployments/v2/roamingcomputers/{}",
            sim.base_url(),
            target.agent_id
        )
    );
    match p.recheck(&target.agent_id).await.unwrap() {
        Recheck::Present(r) => assert_eq!(r.agent_id, target.agent_id),
        Recheck::Gone => panic!("still registered"),
    }
    match p.act(&action, &target).await.unwrap() {
        ActionOutcome::Requested { detail, .. } => {
            assert!(detail.contains("record deleted (HTTP 204)"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.deleted(), vec![target.agent_id.clone()]);
    assert_eq!(p.recheck(&target.agent_id).await.unwrap(), Recheck::Gone);
    match p.act(&action, &target).await.unwrap() {
        ActionOutcome::Skipped { why, detail } => {
            assert_eq!(why, "gone");
            assert!(
                detail.contains("404") && detail.contains("not found"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 19);
    let relocate = Action::Relocate(agentctl_core::RelocateTarget {
        to: "x".into(),
        resolved_id: None,
        folder: None,
        allow_multiple: false,
    });
    let e = p.act(&relocate, &target).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotSupported);
    sim.shutdown().await;
}

#[tokio::test]
async fn tunnels_listing_reads_every_page() {
    let sim = sim::start(
        SimConfig {
            tunnel_groups: 450,
            ..cfg(1)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    assert_eq!(p.listings(), &["tunnels"]);
    let listing = p.listing("tunnels").await.unwrap();
    assert_eq!(listing.rows.len(), 450);
    assert_eq!(
        sim.request_count("GET /deployments/v2/networktunnelgroups"),
        3
    );
    let mut ids: Vec<&str> = listing
        .rows
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 450, "no duplicates across pages");
    for row in &listing.rows {
        for col in &listing.columns {
            assert!(row.contains_key(*col), "{col}");
        }
        assert!(
            ["connected", "disconnected", "warning"].contains(&row["status"].as_str().unwrap())
        );
        let hubs = row["hubs"].as_str().unwrap();
        assert!(
            hubs.contains(" primary UP") || hubs.contains(" primary DOWN"),
            "{hubs}"
        );
        assert!(row["raw"]["hubs"].is_array());
    }
    assert_eq!(
        p.listing("orgs").await.unwrap_err().kind,
        ErrorKind::NotSupported
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn clients_list_get_create_rotate_delete() {
    let sim = sim::start(cfg(5), None).await.unwrap();
    let p = provider(&sim);
    let before = p.list_clients().await.unwrap();
    // The three preset keys and the deployments key agentctl itself uses.
    assert_eq!(before.len(), 4);
    assert!(before.iter().any(|c| c.name == "Zurich SOC"));
    assert!(before.iter().any(|c| c.client_id == sim.config().api_key));
    assert_eq!(
        p.own_client_ids(),
        vec![
            sim.config().api_key.clone(),
            sim.config().key_admin_key.clone()
        ]
    );

    // Input problems are found before anything is sent.
    let sent = sim.request_count("POST /admin/v2/apiKeys");
    for bad in [
        NewClient {
            name: "x".into(),
            roles: vec!["deployments".into()],
            expire_at: None,
        },
        NewClient {
            name: " ".into(),
            roles: vec!["a:read".into()],
            expire_at: None,
        },
        // Outside Cisco's name pattern, and too long.
        NewClient {
            name: "ci-deploy".into(),
            roles: vec!["a:read".into()],
            expire_at: None,
        },
        NewClient {
            name: "x".repeat(257),
            roles: vec!["a:read".into()],
            expire_at: None,
        },
        NewClient {
            name: "x".into(),
            roles: vec![],
            expire_at: None,
        },
        NewClient {
            name: "x".into(),
            roles: vec!["a:read".into()],
            expire_at: Some(now() - SignedDuration::from_hours(1)),
        },
    ] {
        assert_eq!(
            p.create_client(&bad).await.unwrap_err().kind,
            ErrorKind::Input
        );
    }
    assert_eq!(sim.request_count("POST /admin/v2/apiKeys"), sent);

    let created = p
        .create_client(&NewClient {
            name: "agentctl stale cleanup".into(),
            roles: vec!["deployments.roamingcomputers:write".into()],
            expire_at: Some(now() + SignedDuration::from_hours(24 * 90)),
        })
        .await
        .unwrap();
    let id = created.client.id.clone();
    assert_eq!(
        created.client.roles,
        vec!["deployments.roamingcomputers:write"]
    );
    assert!(created.client.created_at.is_some());
    assert!(
        created.client.raw.get("clientSecret").is_none(),
        "no secret kept in raw"
    );
    let first_secret = created.client_secret.expose_secret().to_string();
    assert!(
        !format!("{created:?}").contains(&first_secret),
        "Debug hides the secret"
    );

    // The new key works for the token endpoint and its scope.
    let as_new = |secret: &str| {
        provider_with(
            &sim,
            Keys {
                key: &created.client.client_id,
                secret,
                admin: None,
                org: None,
            },
            "off",
        )
    };
    let p_new = as_new(&first_secret);
    assert_eq!(list(&p_new, &ListQuery::default()).await.len(), 5);
    // It lacks the tunnel-groups scope: 403 with a hint naming the scope.
    let e = p_new.listing("tunnels").await.unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(403)));
    assert!(e.hint.unwrap().contains("networktunnelgroups:read"));
    // Without the Key Admin credential, clients commands name the keys to set.
    let e = p_new.list_clients().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains("key_admin_key") && e.message.contains("key_admin_secret"));

    let got = p.get_client(&id).await.unwrap();
    assert_eq!(got.name, "agentctl stale cleanup");
    assert_eq!(got.client_id, created.client.client_id);
    assert!(created.problem.is_none());
    assert_eq!(p.list_clients().await.unwrap().len(), 5);

    let rotated = p.rotate_client(&id).await.unwrap();
    let second_secret = rotated.client_secret.expose_secret().to_string();
    assert_ne!(second_secret, first_secret);
    let e = as_new(&first_secret).doctor().await;
    assert!(
        !e[0].ok,
        "the old secret no longer gets a token: {:?}",
        e[0]
    );
    let stale = as_new(&first_secret);
    let err = stale
        .list(&ListQuery::default())
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((err.kind, err.status), (ErrorKind::Auth, Some(401)));
    assert_eq!(
        list(&as_new(&second_secret), &ListQuery::default())
            .await
            .len(),
        5
    );

    p.delete_client(&id).await.unwrap();
    assert_eq!(p.list_clients().await.unwrap().len(), 4);
    let e = p.get_client(&id).await.unwrap_err();
    assert_eq!(e.status, Some(404));
    let e = p.delete_client(&id).await.unwrap_err();
    assert_eq!(e.status, Some(404));
    assert_eq!(
        p.get_client("../x").await.unwrap_err().kind,
        ErrorKind::Input
    );
    // The deleted key's tokens stop working; the next token request is refused.
    let device = sim.roaming_computers()[0]["deviceId"].clone();
    let err = p_new.recheck(device.as_str().unwrap()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth);
    sim.shutdown().await;
}

#[tokio::test]
async fn token_answers_without_token_type_or_expires_in_work() {
    // A server that answers only `access_token` (no JWT either): the token is used for the
    // documented default lifetime and refreshed after a 401.
    let sim = sim::start(
        SimConfig {
            send_token_type: false,
            send_expires_in: false,
            ..cfg(20)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 20);
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 20);
    assert_eq!(
        p.list_clients().await.unwrap().len(),
        sim.state().api_keys.len()
    );
    assert_eq!(sim.request_count(TOKEN), 2, "one token per key, reused");
    sim.revoke_tokens();
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 20);
    assert_eq!(sim.request_count(TOKEN), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_are_reused_refreshed_before_expiry_and_after_a_401() {
    let sim = sim::start(
        SimConfig {
            token_ttl: Duration::from_secs(2),
            ..cfg(150)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    list(&p, &ListQuery::default()).await;
    list(&p, &ListQuery::default()).await;
    assert_eq!(sim.request_count(TOKEN), 1, "one token for several calls");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    list(&p, &ListQuery::default()).await;
    assert_eq!(
        sim.request_count(TOKEN),
        2,
        "refreshed before use after expiry"
    );
    assert_eq!(sim.request_count("401"), 0);
    // A token revoked server-side: one 401 per page in flight (the listing reads ahead),
    // one shared refresh, success.
    sim.revoke_tokens();
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 150);
    let speculative = agentctl_secure_access::client::SPECULATIVE_PAGES as u64;
    assert!((1..=speculative).contains(&sim.request_count("401")));
    assert_eq!(sim.request_count(TOKEN), 3);
    sim.shutdown().await;

    // Umbrella's answer to an expired token (400 invalid_request) also refreshes once.
    let sim = sim::start(
        SimConfig {
            expired_token: ExpiredToken::InvalidRequest400,
            ..cfg(10)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    list(&p, &ListQuery::default()).await;
    sim.revoke_tokens();
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 10);
    assert_eq!(sim.request_count("400"), 1);
    assert_eq!(sim.request_count(TOKEN), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_and_child_orgs() {
    let sim = sim::start(cfg(10), None).await.unwrap();
    let c = sim.config().clone();
    let wrong = provider_with(
        &sim,
        Keys {
            key: &c.api_key,
            secret: "not-the-secret",
            admin: None,
            org: None,
        },
        "off",
    );
    let e = wrong
        .list(&ListQuery::default())
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(401)));
    assert!(
        e.to_string()
            .starts_with("sa: HTTP 401: token for api_key refused"),
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-secret"));
    assert_eq!(
        wrong.prepare(&Action::Uninstall).await.unwrap_err().kind,
        ErrorKind::Auth
    );
    let checks = wrong.doctor().await;
    assert!(!checks[0].ok);

    let child = provider_with(
        &sim,
        Keys {
            key: &c.api_key,
            secret: &c.api_secret,
            admin: None,
            org: Some("8012345"),
        },
        "off",
    );
    assert_eq!(list(&child, &ListQuery::default()).await.len(), 10);
    let other = provider_with(
        &sim,
        Keys {
            key: &c.api_key,
            secret: &c.api_secret,
            admin: None,
            org: Some("999"),
        },
        "off",
    );
    let e = other
        .list(&ListQuery::default())
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(403)));

    let checks = provider(&sim).doctor().await;
    assert_eq!(checks.len(), 4);
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried() {
    let sim = sim::start(
        SimConfig {
            error_rate: 0.25,
            latency: Duration::from_millis(2),
            ..cfg(700)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 700);
    assert!(sim.request_count("503") > 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_enforces_quotas_and_the_plumbing_backs_off() {
    let sim = sim::start(
        SimConfig {
            quotas: RateLimitSpec::parse("3/200ms, 6/s").unwrap(),
            rate_limit_headers: true,
            ..cfg(30)
        },
        None,
    )
    .await
    .unwrap();
    // No client-side limiter: the server's windows push back with 429s, which are retried.
    let p = provider(&sim);
    let ids: Vec<String> = sim
        .roaming_computers()
        .iter()
        .take(10)
        .map(|c| c["deviceId"].as_str().unwrap().to_string())
        .collect();
    for id in &ids {
        assert!(matches!(p.recheck(id).await.unwrap(), Recheck::Present(_)));
    }
    assert!(
        sim.request_count("429") > 0,
        "over the quota the server answers 429"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_long_bulk_run_stays_inside_every_quota_window() {
    // The published 5/s, 14/min, 350/30min scaled down so the run takes seconds; the client
    // gets the same quotas, as the binary passes DEFAULT_RATE_LIMIT for the real service.
    let quotas = "5/250ms, 14/s, 100/10s";
    let sim = sim::start(
        SimConfig {
            quotas: RateLimitSpec::parse(quotas).unwrap(),
            token_quotas: RateLimitSpec::parse("20/min").unwrap(),
            ..cfg(150)
        },
        None,
    )
    .await
    .unwrap();
    let c = sim.config().clone();
    let p = provider_with(
        &sim,
        Keys {
            key: &c.api_key,
            secret: &c.api_secret,
            admin: None,
            org: None,
        },
        quotas,
    );
    let started = Instant::now();
    let cutoff = stale_cutoff(now(), 14);
    let stale: Vec<AgentRef> = list(
        &p,
        &ListQuery {
            last_seen_before: Some(cutoff),
            ..ListQuery::default()
        },
    )
    .await
    .iter()
    .filter(|r| is_stale(r.last_seen, cutoff))
    .take(60)
    .map(agent_ref)
    .collect();
    assert_eq!(stale.len(), 60);
    let action = p.prepare(&Action::Uninstall).await.unwrap();
    let outcomes: Vec<_> = futures::stream::iter(stale.iter())
        .map(|a| {
            let p = &p;
            let action = &action;
            async move {
                match p.recheck(&a.agent_id).await? {
                    Recheck::Gone => Ok(None),
                    Recheck::Present(_) => p.act(action, a).await.map(Some),
                }
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    for o in &outcomes {
        assert!(
            matches!(o, Ok(Some(ActionOutcome::Requested { .. }))),
            "{o:?}"
        );
    }
    assert_eq!(sim.deleted().len(), 60);
    assert_eq!(
        sim.request_count("429"),
        0,
        "the limiter kept inside all windows"
    );
    assert_eq!(sim.request_count("503"), 0);
    // 120 + list requests through a 100/10s window cannot finish in under 10 s.
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn state_persists_through_serde() {
    let sim = sim::start(cfg(12), None).await.unwrap();
    let p = provider(&sim);
    let first = list(&p, &ListQuery::default()).await;
    let action = p.prepare(&Action::Uninstall).await.unwrap();
    p.act(&action, &agent_ref(&first[0])).await.unwrap();
    let created = p
        .create_client(&NewClient {
            name: "kept".into(),
            roles: vec!["deployments.roamingcomputers:read".into()],
            expire_at: None,
        })
        .await
        .unwrap();
    let saved = serde_json::to_vec(&sim.state()).unwrap();
    sim.shutdown().await;

    let state: sim::SimState = serde_json::from_slice(&saved).unwrap();
    let sim = sim::start(cfg(12), Some(state)).await.unwrap();
    let p = provider(&sim);
    let again = list(&p, &ListQuery::default()).await;
    assert_eq!(again.len(), 11);
    assert!(again.iter().all(|r| r.agent_id != first[0].agent_id));
    assert_eq!(sim.deleted(), vec![first[0].agent_id.clone()]);
    // The created key and its secret survive a restart.
    let kept = provider_with(
        &sim,
        Keys {
            key: &created.client.client_id,
            secret: created.client_secret.expose_secret(),
            admin: None,
            org: None,
        },
        "off",
    );
    assert_eq!(list(&kept, &ListQuery::default()).await.len(), 11);
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_recheck_reads_a_last_sync_filtered_listing() {
    let sim = sim::start(cfg(1000), None).await.unwrap();
    let p = provider(&sim);
    let cutoff = stale_cutoff(now(), 60);
    let stale: Vec<AgentRecord> = list(&p, &ListQuery::default())
        .await
        .into_iter()
        .filter(|r| is_stale(r.last_seen, cutoff))
        .collect();
    assert!(stale.len() > 200, "{}", stale.len());
    let plan: Vec<AgentRef> = stale.iter().map(agent_ref).collect();
    // One device is deleted meanwhile, another syncs again.
    p.act(&Action::Uninstall, &plan[0]).await.unwrap();
    sim.set_last_sync(&plan[1].agent_id, Some(now()));
    let (lists, gets) = (
        sim.request_count(ROAMING),
        sim.request_count("GET /deployments/v2/roamingcomputers/{deviceId}"),
    );
    let map = p.recheck_bulk(&plan).await.unwrap().expect("bulk");
    assert_eq!(map.len(), plan.len());
    assert_eq!(map[&plan[0].agent_id], Recheck::Gone);
    match &map[&plan[1].agent_id] {
        Recheck::Present(r) => assert!(r.last_seen > plan[1].last_seen),
        Recheck::Gone => panic!("synced again, not gone"),
    }
    for (a, r) in plan[2..].iter().zip(&stale[2..]) {
        match &map[&a.agent_id] {
            Recheck::Present(found) => assert_eq!(found.last_seen, r.last_seen),
            Recheck::Gone => panic!("{} is present", a.agent_id),
        }
    }
    // The filtered listing is a few pages (plus at most the speculative window), and only
    // the two devices it did not show were fetched one by one.
    let pages = sim.request_count(ROAMING) - lists;
    let stale_pages = (stale.len() as u64).div_ceil(100);
    assert!(
        (stale_pages..stale_pages + 4).contains(&pages),
        "{pages} pages for {} stale devices",
        stale.len()
    );
    assert_eq!(
        sim.request_count("GET /deployments/v2/roamingcomputers/{deviceId}") - gets,
        2
    );
    // Fewer devices than the listing has pages: declined after a budget of N − 1 pages.
    let before = sim.request_count(ROAMING);
    let few: Vec<AgentRef> = plan[2..5].to_vec();
    assert!(p.recheck_bulk(&few).await.unwrap().is_none());
    assert!(sim.request_count(ROAMING) - before <= 2 + 3);
    sim.shutdown().await;
}

/// A token for `key:secret` straight from the token endpoint.
async fn raw_token(sim: &RunningSim, key: &str, secret: &str) -> String {
    let v: serde_json::Value = agentctl_core::http::plain_client()
        .post(format!("{}/auth/v2/token", sim.base_url()))
        .basic_auth(key, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn key_admin_answers_in_ciscos_published_shapes() {
    use serde_json::{Value, json};
    let sim = sim::start(cfg(3), None).await.unwrap();
    let c = sim.config().clone();
    let admin = raw_token(&sim, &c.key_admin_key, &c.key_admin_secret).await;
    let deploy = raw_token(&sim, &c.api_key, &c.api_secret).await;
    let http = agentctl_core::http::plain_client();
    let url = |p: &str| format!("{}{p}", sim.base_url());
    let send = |req: reqwest::RequestBuilder| async move {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body = resp.bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status, v, body.len())
    };
    let iso = |v: &Value| v.as_str().unwrap().parse::<Timestamp>().is_ok();

    // list: KeysResponseList, limit 0 = everything; KeyForList has no allowedIPs.
    let (status, list, _) = send(http.get(url("/admin/v2/apiKeys")).bearer_auth(&admin)).await;
    assert_eq!(status, 200);
    assert_eq!(list["message"], "success");
    assert_eq!(
        (list["offset"].as_u64(), list["limit"].as_u64()),
        (Some(0), Some(0))
    );
    let keys = list["keys"].as_array().unwrap();
    assert_eq!(list["total"].as_u64(), Some(keys.len() as u64));
    for k in keys {
        for field in ["createdAt", "modifiedAt", "lastRefreshedAt", "lastUsedAt"] {
            assert!(iso(&k[field]), "{field}: {k}");
        }
        assert!(k["id"].is_string() && k["scopes"].is_array() && k["expireAt"].is_string());
        assert!(k["creatorEmail"].is_string() && k["creatorName"].is_string());
        assert!(k.get("allowedIPs").is_none() && k.get("clientSecret").is_none());
    }
    let (_, page, _) = send(
        http.get(url("/admin/v2/apiKeys?offset=1&limit=2"))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(page["keys"].as_array().unwrap().len(), 2);
    assert_eq!(page["keys"][0]["id"], keys[1]["id"]);

    // get: KeyResponse {key: KeyAdminKey, message}.
    let id = keys[1]["id"].as_str().unwrap();
    let (status, got, _) = send(
        http.get(url(&format!("/admin/v2/apiKeys/{id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        (got["key"]["id"].as_str(), got["message"].as_str()),
        (Some(id), Some("success"))
    );
    assert!(got["key"]["allowedIPs"].is_array());

    // create: 201 {key: KeyWithSecret, message}; 409 for a taken name.
    let body = json!({"name": "ci export", "scopes": ["deployments.roamingcomputers:read"],
                      "expireAt": "", "description": "nightly", "allowedIPs": ["192.0.2.0/24"]});
    let (status, created, _) = send(
        http.post(url("/admin/v2/apiKeys"))
            .bearer_auth(&admin)
            .json(&body),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = &created["key"];
    assert_eq!(created["message"], "success");
    assert!(key["clientSecret"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(key["expireAt"], "");
    assert_eq!(key["allowedIPs"], json!(["192.0.2.0/24"]));
    assert!(iso(&key["createdAt"]) && iso(&key["lastUsedAt"]));
    let (status, conflict, _) = send(
        http.post(url("/admin/v2/apiKeys"))
            .bearer_auth(&admin)
            .json(&body),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(conflict["message"], "error");
    assert!(conflict["description"].as_str().unwrap().contains("exists"));

    // The request model's refusals.
    for (bad, why) in [
        (
            json!({"name": "x", "scopes": ["a:read"], "owner": "me"}),
            "unknown field",
        ),
        (
            json!({"name": "ci-deploy", "scopes": ["a:read"]}),
            "pattern",
        ),
        (
            json!({"name": "x".repeat(257), "scopes": ["a:read"]}),
            "257",
        ),
        (json!({"name": 5, "scopes": ["a:read"]}), "name"),
        (json!({"name": "x"}), "scopes"),
        (
            json!({"name": "x", "scopes": ["a:read"], "expireAt": "tomorrow"}),
            "ISO 8601",
        ),
    ] {
        let (status, e, _) = send(
            http.post(url("/admin/v2/apiKeys"))
                .bearer_auth(&admin)
                .json(&bad),
        )
        .await;
        assert_eq!(status, 400, "{bad}");
        assert!(e["description"].as_str().unwrap().contains(why), "{e}");
    }
    let (status, e, _) = send(
        http.post(url("/admin/v2/apiKeys"))
            .bearer_auth(&admin)
            .header("content-type", "text/plain")
            .body(body.to_string()),
    )
    .await;
    assert_eq!((status, e["message"].as_str()), (415, Some("error")));

    // refresh: 200 {key: KeyRefreshSecret, message}; the old secret no longer gets a token.
    let new_id = key["id"].as_str().unwrap();
    let client_id = key["clientId"].as_str().unwrap();
    let old_secret = key["clientSecret"].as_str().unwrap();
    let (status, refreshed, _) = send(
        http.post(url(&format!("/admin/v2/apiKeys/{new_id}/refresh")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!(status, 200);
    let new_secret = refreshed["key"]["clientSecret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);
    assert!(refreshed["key"].get("allowedIPs").is_none());
    let token_status = |secret: String| {
        let http = http.clone();
        let u = url("/auth/v2/token");
        let client_id = client_id.to_string();
        async move {
            http.post(u)
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(token_status(old_secret.to_string()).await, 401);
    assert_eq!(token_status(new_secret.to_string()).await, 200);

    // delete: 204 without a body; then 404 NotFoundError.
    let (status, _, len) = send(
        http.delete(url(&format!("/admin/v2/apiKeys/{new_id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!((status, len), (204, 0));
    let (status, e, _) = send(
        http.delete(url(&format!("/admin/v2/apiKeys/{new_id}")))
            .bearer_auth(&admin),
    )
    .await;
    assert_eq!((status, e["message"].as_str()), (404, Some("error")));

    // A deployments token on /admin/v2/apiKeys*, a Key Admin token on deployments paths: 403.
    for path in ["/admin/v2/apiKeys", &format!("/admin/v2/apiKeys/{id}")] {
        let (status, e, _) = send(http.get(url(path)).bearer_auth(&deploy)).await;
        assert_eq!(
            (status, e["message"].as_str()),
            (403, Some("error")),
            "{path}"
        );
    }
    let (status, _, _) = send(
        http.post(url(&format!("/admin/v2/apiKeys/{id}/refresh")))
            .bearer_auth(&deploy),
    )
    .await;
    assert_eq!(status, 403);
    for path in [
        "/deployments/v2/roamingcomputers",
        "/deployments/v2/networktunnelgroups",
    ] {
        let (status, _, _) = send(http.get(url(path)).bearer_auth(&admin)).await;
        assert_eq!(status, 403, "{path}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_issued_secret_is_handed_back_even_when_the_answer_is_not_as_documented() {
    for answer in [
        sim::IssuedAnswer::ExtraEnvelope,
        sim::IssuedAnswer::MissingFields,
    ] {
        let sim = sim::start(
            SimConfig {
                issued_answer: answer,
                ..cfg(2)
            },
            None,
        )
        .await
        .unwrap();
        let p = provider(&sim);
        let new = NewClient {
            name: "odd answer".into(),
            roles: vec!["deployments.roamingcomputers:read".into()],
            expire_at: None,
        };
        let (created, problem) =
            agentctl_core::conformance::issued_secret_survives_an_odd_answer(&p, &new, || {
                sim.state()
                    .api_keys
                    .iter()
                    .find(|k| k.key["name"] == "odd answer")
                    .map(|k| k.secret.clone())
                    .unwrap()
            })
            .await;
        let secret = created.client_secret.expose_secret().to_string();
        match answer {
            sim::IssuedAnswer::ExtraEnvelope => {
                assert!(problem.contains("data.key.clientSecret"), "{problem}");
                assert!(!created.client.id.is_empty(), "the key itself was readable");
            }
            _ => {
                assert!(problem.contains("key.id is missing"), "{problem}");
                assert!(problem.contains("key.createdAt is missing"), "{problem}");
                assert_eq!(created.client.name, "odd answer");
            }
        }
        // Rotate: the id asked for stands in for a missing one.
        let id = sim
            .state()
            .api_keys
            .iter()
            .find(|k| k.key["name"] == "odd answer")
            .map(|k| k.id().to_string())
            .unwrap();
        let rotated = p.rotate_client(&id).await.unwrap();
        assert!(rotated.problem.is_some());
        assert_eq!(rotated.client.id, id);
        assert_ne!(rotated.client_secret.expose_secret(), secret);
        sim.shutdown().await;
    }
}
