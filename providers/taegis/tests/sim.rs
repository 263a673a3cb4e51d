//! The provider driven through the `Provider` trait against the simulator.

use std::time::Duration;

use agentctl_core::http::{HttpOptions, HttpResponse};
use agentctl_core::time::stale_cutoff;
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ErrorKind, HostPattern, ListQuery, NewClient,
    Operation, Provider, Recheck,
};
use agentctl_taegis::client::UNINSTALL_REASON;
use agentctl_taegis::{Config, Taegis};
use agentctl_taegis_sim::{self as sim, RunningSim, SimConfig};
use base64::Engine;
use futures::TryStreamExt;
use jiff::{SignedDuration, Timestamp};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

const TOKEN: &str = "POST /auth/api/v2/auth/token";
const ASSETS: &str = "graphql assetsV2";

fn cfg(fleet: usize) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        now: Timestamp::now(),
        ..SimConfig::default()
    }
}

fn opts() -> HttpOptions {
    let mut o = HttpOptions::new("tg");
    o.min_backoff = Duration::from_millis(20);
    o.max_backoff = Duration::from_millis(200);
    o
}

fn provider_from(text: &str) -> Taegis {
    let config: Config = toml::from_str(text).unwrap();
    Taegis::new("tg", &config, opts()).unwrap()
}

fn provider(sim: &RunningSim) -> Taegis {
    let c = sim.config();
    provider_from(&format!(
        "api_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = '{}'\ntenant_id = \"{}\"\n",
        sim.base_url(),
        c.client_id,
        c.client_secret,
        c.tenant_id
    ))
}

fn token_provider(sim: &RunningSim, token_file_text: &str, tag: &str) -> Taegis {
    let dir = std::env::temp_dir().join(format!("agentctl-taegis-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bearer_token.txt");
    std::fs::write(&file, token_file_text).unwrap();
    provider_from(&format!(
        "api_url = \"{}\"\ntoken = \"file:{}\"\ntenant_id = \"{}\"\n",
        sim.base_url(),
        file.display(),
        sim.config().tenant_id
    ))
}

async fn list(p: &Taegis, q: &ListQuery) -> Vec<AgentRecord> {
    p.list(q).try_collect().await.unwrap()
}

fn ids(records: &[AgentRecord]) -> Vec<String> {
    records.iter().map(|r| r.agent_id.clone()).collect()
}

/// A token from the simulator, fetched by hand.
async fn fetch_token(sim: &RunningSim) -> String {
    sim.fetch_token().await.unwrap()
}

/// POST a raw GraphQL request, returning the answer as the provider's plumbing sees it.
async fn raw_graphql(
    sim: &RunningSim,
    token: &str,
    tenant: Option<&str>,
    query: &str,
) -> HttpResponse {
    let mut b = agentctl_core::http::plain_client()
        .post(format!("{}/graphql", sim.base_url()))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": {"first": 1}}));
    if let Some(t) = tenant {
        b = b.header("X-Tenant-Context", t);
    }
    let resp = b.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    HttpResponse {
        status,
        headers,
        body: resp.bytes().await.unwrap(),
        request_id,
    }
}

#[tokio::test]
async fn listing_follows_cursors_across_pages_and_maps_the_spec_columns() {
    for (fleet, pages) in [(1203, 3), (500, 1), (0, 1), (501, 2)] {
        let sim = sim::start(cfg(fleet), None).await.unwrap();
        let p = provider(&sim);
        let records = list(&p, &ListQuery::default()).await;
        assert_eq!(sim.request_count(ASSETS), pages, "fleet {fleet}");
        let expected: Vec<String> = sim.assets().iter().map(|a| a.id.clone()).collect();
        assert_eq!(
            ids(&records),
            expected,
            "every asset once, in order (fleet {fleet})"
        );
        sim.shutdown().await;
    }
    let sim = sim::start(cfg(400), None).await.unwrap();
    let p = provider(&sim);
    let records = list(&p, &ListQuery::default()).await;
    assert!(
        records.iter().any(|r| !r.hostname.is_ascii()),
        "non-ASCII host names survive"
    );
    assert!(
        records.iter().any(|r| r.last_seen.is_none()),
        "some assets never seen"
    );
    let assets = sim.assets();
    for (r, a) in records.iter().zip(&assets) {
        assert_eq!(r.kind, "taegis");
        assert_eq!(r.agent_id, a.id);
        assert_eq!(r.hostname, a.hostnames[0]);
        assert_eq!(r.last_seen, a.last_seen_at, "fractions kept");
        assert_eq!(r.agent_version.as_deref(), Some(a.sensor_version.as_str()));
        assert_eq!(
            r.group,
            a.endpoint_group.as_ref().map(|(_, name)| name.clone())
        );
        let mut sorted = a.ip_addresses.clone();
        sorted.sort();
        let mut got = r.ip_addresses.clone();
        got.sort();
        assert_eq!(got, sorted);
        let first_external = r
            .ip_addresses
            .iter()
            .position(|ip| !agentctl_taegis::model::is_internal(ip));
        if let Some(i) = first_external {
            assert!(
                r.ip_addresses[i..]
                    .iter()
                    .all(|ip| !agentctl_taegis::model::is_internal(ip)),
                "internal first: {:?}",
                r.ip_addresses
            );
        }
        assert!(r.os.as_deref().is_some_and(|o| o.contains(&a.os_version)));
        assert_eq!(r.raw["id"], json!(a.id));
        assert!(p.validate_agent_id(&r.agent_id).is_ok());
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_stale_hint_equals_client_side_filtering() {
    let sim = sim::start(cfg(1500), None).await.unwrap();
    let p = provider(&sim);
    let cutoff = stale_cutoff(Timestamp::now(), 180);
    // Boundary cases: exactly at the cutoff (not stale), one microsecond before (stale).
    let assets = sim.assets();
    let with_seen: Vec<&str> = assets
        .iter()
        .filter(|a| a.last_seen_at.is_some())
        .map(|a| a.id.as_str())
        .take(2)
        .collect();
    sim.set_last_seen(with_seen[0], Some(cutoff));
    sim.set_last_seen(with_seen[1], Some(cutoff - SignedDuration::from_micros(1)));
    let (all, fetched, with_unknown) =
        agentctl_core::conformance::stale_hint_matches_the_client_side_rule(
            &p,
            cutoff,
            with_seen[0],
            with_seen[1],
            || sim.request_count(ASSETS),
        )
        .await;
    assert!(fetched.len() < all.len(), "the hint fetched less");
    assert!(with_unknown.iter().any(|r| r.last_seen.is_none()));
    sim.shutdown().await;
}

#[tokio::test]
async fn host_patterns_match_on_the_client_whatever_the_server_narrows() {
    let sim = sim::start(cfg(800), None).await.unwrap();
    let p = provider(&sim);
    let all = list(&p, &ListQuery::default()).await;
    let target = all
        .iter()
        .find(|r| !r.hostname.is_ascii())
        .unwrap()
        .hostname
        .clone();
    for pattern in [
        target.clone(),
        target.to_uppercase(),
        "*-004?".to_string(),
        "WKST-00*".to_string(),
        "nohost-*".to_string(),
    ] {
        let host = HostPattern::new(&pattern);
        let expected: Vec<String> = all
            .iter()
            .filter(|r| host.matches(&r.hostname))
            .map(|r| r.agent_id.clone())
            .collect();
        let q = ListQuery {
            host: Some(host),
            ..ListQuery::default()
        };
        assert_eq!(ids(&list(&p, &q).await), expected, "{pattern}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn uninstall_sends_a_unique_request_id_and_the_asset_goes_away() {
    let sim = sim::start(cfg(30), None).await.unwrap();
    let p = provider(&sim);
    for op in [
        Operation::Uninstall,
        Operation::Remove,
        Operation::Restore,
        Operation::Relocate,
    ] {
        assert!(p.supports(op).is_ok(), "{op:?}");
    }
    assert!(p.validate_agent_id("has space").is_err());
    assert!(p.validate_agent_id("").is_err());

    let records = list(&p, &ListQuery::default()).await;
    let targets: Vec<AgentRef> = records[..3].iter().map(AgentRecord::to_ref).collect();
    match p.recheck(&targets[0].agent_id).await.unwrap() {
        Recheck::Present(r) => assert_eq!(*r, records[0]),
        Recheck::Gone => panic!("present"),
    }
    let plan = p.describe(&Action::Uninstall, &targets[0]);
    assert!(
        plan.contains("markForUninstall") && plan.contains(&targets[0].agent_id),
        "{plan}"
    );
    assert!(plan.contains("X-Tenant-Context"));
    assert!(!plan.contains(&sim.config().client_secret));

    p.prepare(&Action::Uninstall).await.unwrap();
    let mut request_ids = Vec::new();
    for t in &targets {
        match p.act(&Action::Uninstall, t).await.unwrap() {
            ActionOutcome::Requested { detail, request_id } => {
                let rid = request_id.expect("a request id");
                assert!(detail.contains(&rid), "{detail}");
                request_ids.push(rid);
            }
            other => panic!("{other:?}"),
        }
    }
    let recorded = sim.uninstall_requests();
    assert_eq!(recorded.len(), 3);
    for ((req, t), rid) in recorded.iter().zip(&targets).zip(&request_ids) {
        assert_eq!(&req.endpoint_id, &t.agent_id);
        assert_eq!(&req.request_id, rid);
        assert_eq!(req.reason, UNINSTALL_REASON);
    }
    let mut unique = request_ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 3, "one request id per agent");

    assert_eq!(
        p.recheck(&targets[0].agent_id).await.unwrap(),
        Recheck::Gone
    );
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 27);
    // A second request for an asset that is gone is skipped as gone, with the server's reason.
    match p.act(&Action::Uninstall, &targets[0]).await.unwrap() {
        ActionOutcome::Skipped { why, detail } => {
            assert_eq!(why, "gone");
            assert!(detail.contains("not found"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_simulator_refuses_a_duplicate_request_id() {
    let sim = sim::start(cfg(3), None).await.unwrap();
    let token = fetch_token(&sim).await;
    let ids: Vec<String> = sim.assets().iter().map(|a| a.id.clone()).collect();
    let send = |endpoint: String| {
        let url = format!("{}/graphql", sim.base_url());
        let token = token.clone();
        let tenant = sim.config().tenant_id.clone();
        async move {
            let body: Value = agentctl_core::http::plain_client()
                .post(url)
                .bearer_auth(token)
                .header("X-Tenant-Context", tenant)
                .json(&json!({
                    "query": agentctl_taegis::documents::MARK_FOR_UNINSTALL,
                    "variables": {"input": {"endpointID": endpoint, "reason": "t", "requestID": "same-id"}}
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["data"]["markForUninstall"].clone()
        }
    };
    let first = send(ids[0].clone()).await;
    assert_eq!(first["Success"], true);
    let again = send(ids[1].clone()).await;
    assert_eq!(again["Success"], false);
    assert!(
        again["Reason"]
            .as_str()
            .unwrap()
            .contains(agentctl_taegis::unconfirmed::DUPLICATE_REQUEST_REASON)
    );
    assert_eq!(sim.uninstall_requests().len(), 1);
    assert_eq!(sim.assets().len(), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn clients_list_get_create_rotate_delete() {
    let sim = sim::start(cfg(1), None).await.unwrap();
    let p = provider(&sim);
    let seeded = p.list_clients().await.unwrap();
    // The two seeded clients and the one agentctl itself is configured with.
    assert_eq!(seeded.len(), 3);
    assert_eq!(p.own_client_ids(), vec![sim.config().client_id.clone()]);
    assert!(seeded.iter().any(|c| c.client_id == sim.config().client_id));
    assert_eq!(seeded[0].id, sim.clients()[0].id);
    assert_eq!(seeded[0].client_id, sim.clients()[0].client_id);
    assert_eq!(seeded[0].roles, vec!["Tenant Analyst"]);
    assert!(seeded[0].created_at.is_some());

    let got = p.get_client(&seeded[1].id).await.unwrap();
    assert_eq!(got.name, "SOAR responder");
    // `client(id:)` also takes the client_id.
    assert_eq!(
        p.get_client(&seeded[1].client_id).await.unwrap().id,
        seeded[1].id
    );
    let e = p.get_client("no-such-client").await.unwrap_err();
    assert!(e.message.contains("not found"), "{}", e.message);

    let created = p
        .create_client(&NewClient {
            name: "agentctl-test".into(),
            roles: vec!["Responder".into(), "auditor".into()],
            expire_at: None,
        })
        .await
        .unwrap();
    assert_eq!(
        created.client.roles,
        vec!["Tenant Responder", "Tenant Auditor"]
    );
    let stored = sim
        .clients()
        .into_iter()
        .find(|c| c.id == created.client.id)
        .unwrap();
    assert_eq!(created.client_secret.expose_secret(), stored.secret);
    assert!(
        !format!("{created:?}").contains(&stored.secret),
        "secret never in Debug"
    );
    assert!(created.client.raw.get("clientSecret").is_none());

    let default_role = p
        .create_client(&NewClient {
            name: "analyst-by-default".into(),
            ..NewClient::default()
        })
        .await
        .unwrap();
    assert_eq!(default_role.client.roles, vec!["Tenant Analyst"]);

    let before = sim.request_count("graphql createClient");
    let e = p
        .create_client(&NewClient {
            name: "x".into(),
            roles: vec!["superuser".into()],
            expire_at: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    assert!(
        e.message
            .contains("administrator, analyst, responder, auditor"),
        "{}",
        e.message
    );
    let e = p
        .create_client(&NewClient {
            name: "x".into(),
            roles: vec![],
            expire_at: Some(Timestamp::now() + SignedDuration::from_hours(24)),
        })
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    assert_eq!(
        sim.request_count("graphql createClient"),
        before,
        "nothing sent"
    );

    let rotated = p.rotate_client(&created.client.id).await.unwrap();
    assert_ne!(
        rotated.client_secret.expose_secret(),
        created.client_secret.expose_secret()
    );
    let stored = sim
        .clients()
        .into_iter()
        .find(|c| c.id == created.client.id)
        .unwrap();
    assert_eq!(rotated.client_secret.expose_secret(), stored.secret);
    assert!(rotated.problem.is_none());
    // The old secret no longer gets a token; the new one does.
    let token = |secret: String| {
        let url = format!("{}/auth/api/v2/auth/token", sim.base_url());
        let client_id = stored.client_id.clone();
        async move {
            agentctl_core::http::plain_client()
                .post(url)
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        token(created.client_secret.expose_secret().to_string()).await,
        401
    );
    assert_eq!(token(stored.secret.clone()).await, 200);

    p.delete_client(&created.client.id).await.unwrap();
    assert!(sim.clients().iter().all(|c| c.id != created.client.id));
    let e = p.delete_client(&created.client.id).await.unwrap_err();
    assert!(e.message.contains("not found"), "{}", e.message);
    let e = p.rotate_client(&created.client.id).await.unwrap_err();
    assert!(e.message.contains("not found"), "{}", e.message);
    assert_eq!(p.list_clients().await.unwrap().len(), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_issued_secret_is_handed_back_even_when_the_answer_is_not_as_documented() {
    for answer in [
        sim::IssuedAnswer::ExtraEnvelope,
        sim::IssuedAnswer::ClientDropped,
    ] {
        let sim = sim::start(
            SimConfig {
                issued_answer: answer,
                ..cfg(1)
            },
            None,
        )
        .await
        .unwrap();
        let p = provider(&sim);
        let new = NewClient {
            name: "odd answer".into(),
            ..NewClient::default()
        };
        let stored = || {
            sim.clients()
                .into_iter()
                .find(|c| c.name == "odd answer")
                .unwrap()
        };
        let (created, problem) =
            agentctl_core::conformance::issued_secret_survives_an_odd_answer(&p, &new, || {
                stored().secret
            })
            .await;
        let stored = stored();
        match answer {
            sim::IssuedAnswer::ExtraEnvelope => {
                assert!(
                    problem.contains("createClient.newClient.clientSecret"),
                    "{problem}"
                );
                assert_eq!(
                    created.client.id, stored.id,
                    "the client itself was readable"
                );
            }
            _ => {
                assert!(
                    problem.contains("client service did not answer"),
                    "{problem}"
                );
                assert!(problem.contains("no client"), "{problem}");
                assert_eq!(created.client.name, "odd answer");
            }
        }
        let rotated = p.rotate_client(&stored.id).await.unwrap();
        assert!(rotated.problem.is_some());
        assert_eq!(rotated.client.id, stored.id);
        let now_stored = sim
            .clients()
            .into_iter()
            .find(|c| c.id == stored.id)
            .unwrap();
        assert_eq!(rotated.client_secret.expose_secret(), now_stored.secret);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn clients_are_paged_until_the_total() {
    let sim = sim::start(cfg(1), None).await.unwrap();
    let p = provider(&sim);
    for i in 0..(agentctl_taegis::unconfirmed::CLIENTS_PER_PAGE as usize) {
        p.create_client(&NewClient {
            name: format!("bulk-{i:03}"),
            ..NewClient::default()
        })
        .await
        .unwrap();
    }
    let all = p.list_clients().await.unwrap();
    assert_eq!(all.len(), sim.clients().len());
    // 100 new, 2 seeded and the configured one.
    assert_eq!(all.len(), 103);
    assert_eq!(sim.request_count("graphql clientsSearch"), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_field_is_refused_with_the_servers_message() {
    let sim = sim::start(cfg(3), None).await.unwrap();
    let token = fetch_token(&sim).await;
    let tenant = sim.config().tenant_id.clone();
    let resp = raw_graphql(
        &sim,
        &token,
        Some(&tenant),
        "query assetsV2($first: Int!) { assetsV2(first: $first) { assets { hostname } } }",
    )
    .await;
    assert_eq!(resp.status.as_u16(), 400);
    let e = agentctl_taegis::error::http_error("list assets", &resp, false);
    assert_eq!(e.kind, ErrorKind::Protocol);
    assert!(
        e.message
            .contains("Unknown field \"hostname\" on type \"AssetV2\""),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("GRAPHQL_VALIDATION_FAILED"),
        "{}",
        e.message
    );
    // The same token and tenant with a valid document work.
    let ok = raw_graphql(
        &sim,
        &token,
        Some(&tenant),
        "query assetsV2($first: Int!) { assetsV2(first: $first) { totalCount } }",
    )
    .await;
    assert_eq!(ok.status.as_u16(), 200);
    let body: Value = serde_json::from_slice(&ok.body).unwrap();
    assert_eq!(body["data"]["assetsV2"]["totalCount"], 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_carry_exp_and_the_tenant_claim_and_are_refreshed() {
    // The token answer has only `access_token` (what the official SDK reads): no
    // `token_type`, no `expires_in`; the JWT's `exp` says when to refresh.
    let sim = sim::start(
        SimConfig {
            token_ttl: Duration::from_secs(3),
            send_expires_in: false,
            send_token_type: false,
            ..cfg(5)
        },
        None,
    )
    .await
    .unwrap();
    let token = fetch_token(&sim).await;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert!(claims["exp"].as_u64().is_some());
    assert_eq!(
        claims[sim::TENANT_IDS_CLAIM],
        json!([sim.config().tenant_id])
    );
    let fetched_by_hand = sim.request_count(TOKEN);

    let p = provider(&sim);
    list(&p, &ListQuery::default()).await;
    list(&p, &ListQuery::default()).await;
    assert_eq!(
        sim.request_count(TOKEN) - fetched_by_hand,
        1,
        "the token is reused"
    );
    // Past the JWT's exp (there is no expires_in): a new token before the next call, no 401.
    tokio::time::sleep(Duration::from_millis(3100)).await;
    list(&p, &ListQuery::default()).await;
    assert_eq!(sim.request_count(TOKEN) - fetched_by_hand, 2);
    assert_eq!(sim.request_count("401"), 0);
    // A revoked token: 401, one refresh, success.
    sim.revoke_tokens();
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 5);
    assert_eq!(sim.request_count("401"), 1);
    assert_eq!(sim.request_count(TOKEN) - fetched_by_hand, 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_client_credentials_are_an_auth_error() {
    let sim = sim::start(cfg(2), None).await.unwrap();
    let p = provider_from(&format!(
        "api_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = 'wrong'\ntenant_id = \"{}\"\n",
        sim.base_url(),
        sim.config().client_id,
        sim.config().tenant_id
    ));
    let e = p
        .list(&ListQuery::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(e.message.contains("invalid_client"), "{}", e.message);
    assert!(!e.to_string().contains("wrong"));
    // The documented header is base64(id:secret) with the parts as they are; form-encoding
    // them first (what the oauth2 crate would do) does not match a secret with `+/=&:`.
    let c = sim.config();
    let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    assert_ne!(encoded(&c.client_secret), c.client_secret);
    let status = agentctl_core::http::plain_client()
        .post(format!("{}/auth/api/v2/auth/token", sim.base_url()))
        .basic_auth(encoded(&c.client_id), Some(encoded(&c.client_secret)))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 401);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_ready_bearer_token_works_and_a_refused_one_is_an_auth_error() {
    let sim = sim::start(cfg(4), None).await.unwrap();
    let good = format!("Bearer {}\n", sim.config().static_tokens[0]);
    let p = token_provider(&sim, &good, "good");
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 4);
    assert_eq!(
        sim.request_count(TOKEN),
        0,
        "no token endpoint with a ready token"
    );
    let checks = p.doctor().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(
        checks
            .iter()
            .any(|c| c.detail.contains("expiry is unknown")),
        "{checks:?}"
    );

    let p = token_provider(&sim, "not-the-token", "bad");
    let e = p
        .list(&ListQuery::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(
        e.message.contains("bearer token was refused"),
        "{}",
        e.message
    );
    assert!(!e.to_string().contains("not-the-token"));
    assert_eq!(sim.request_count("401"), 1, "a ready token is not retried");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_or_foreign_tenant_is_a_clear_error() {
    let sim = sim::start(cfg(2), None).await.unwrap();
    let c = sim.config();
    let p = provider_from(&format!(
        "api_url = \"{}\"\nclient_id = \"{}\"\nclient_secret = '{}'\ntenant_id = \"99999\"\n",
        sim.base_url(),
        c.client_id,
        c.client_secret
    ));
    let e = p
        .list(&ListQuery::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.status), (ErrorKind::Auth, Some(403)));
    assert!(
        e.message.contains("tenant 99999 is not accessible"),
        "{}",
        e.message
    );
    assert!(e.hint.as_deref().unwrap().contains("tenant_id"));

    let token = fetch_token(&sim).await;
    let resp = raw_graphql(
        &sim,
        &token,
        None,
        "query assetsV2($first: Int!) { assetsV2(first: $first) { totalCount } }",
    )
    .await;
    assert_eq!(resp.status.as_u16(), 400);
    let e = agentctl_taegis::error::http_error("list assets", &resp, false);
    assert!(
        e.message.contains("missing tenant context"),
        "{}",
        e.message
    );
    assert!(e.hint.as_deref().unwrap().contains("tenant_id"));
    sim.shutdown().await;
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_to_success() {
    // Every request is faulty until two faults per operation were injected: deterministic.
    let sim = sim::start(
        SimConfig {
            error_rate: 0.5,
            throttle_rate: 0.5,
            faults_per_path: Some(2),
            retry_after_secs: 1,
            ..cfg(700)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 700);
    assert_eq!(sim.request_count("429") + sim.request_count("503"), 2);
    let clients = p.list_clients().await.unwrap();
    assert_eq!(clients.len(), 3);
    assert_eq!(sim.request_count("429") + sim.request_count("503"), 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn doctor_reports_token_and_tenant() {
    let sim = sim::start(cfg(12), None).await.unwrap();
    let checks = provider(&sim).doctor().await;
    assert_eq!(checks.len(), 3, "{checks:?}");
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    assert!(checks[1].latency_ms.is_some());
    assert!(checks[2].detail.contains("12 assets"), "{checks:?}");
    assert!(checks[2].detail.contains(&sim.config().tenant_id));
    sim.shutdown().await;
}

#[tokio::test]
async fn state_persists_through_serde() {
    let sim = sim::start(cfg(10), None).await.unwrap();
    let p = provider(&sim);
    let first = list(&p, &ListQuery::default()).await[0].to_ref();
    p.act(&Action::Uninstall, &first).await.unwrap();
    let created = p
        .create_client(&NewClient {
            name: "kept".into(),
            ..NewClient::default()
        })
        .await
        .unwrap();
    let saved = serde_json::to_string(&sim.state()).unwrap();
    sim.shutdown().await;

    let state: sim::SimState = serde_json::from_str(&saved).unwrap();
    let sim = sim::start(cfg(10), Some(state)).await.unwrap();
    let p = provider(&sim);
    assert_eq!(list(&p, &ListQuery::default()).await.len(), 9);
    assert_eq!(p.recheck(&first.agent_id).await.unwrap(), Recheck::Gone);
    assert_eq!(sim.uninstall_requests().len(), 1);
    assert_eq!(p.get_client(&created.client.id).await.unwrap().name, "kept");
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_recheck_queries_ids_in_batches() {
    let sim = sim::start(cfg(250), None).await.unwrap();
    let p = provider(&sim);
    let records = list(&p, &ListQuery::default()).await;
    let mut targets: Vec<AgentRef> = records[..230].iter().map(AgentRecord::to_ref).collect();
    let mut gone = targets[0].clone();
    gone.agent_id = "0c7e4f5a-no-such-asset".into();
    targets.push(gone.clone());
    let before = sim.request_count(ASSETS);
    let map = p.recheck_bulk(&targets).await.unwrap().expect("bulk");
    // 231 ids in batches of 100: three queries instead of 231.
    assert_eq!(sim.request_count(ASSETS) - before, 3);
    assert_eq!(map.len(), 230);
    for r in &records[..230] {
        match &map[&r.agent_id] {
            Recheck::Present(found) => {
                assert_eq!(found.last_seen, r.last_seen);
                assert_eq!(found.hostname, r.hostname);
            }
            Recheck::Gone => panic!("{} is present", r.agent_id),
        }
    }
    assert!(!map.contains_key(&gone.agent_id), "absent = gone");
    // A single agent: the per-agent query costs the same, so the caller uses it.
    assert!(p.recheck_bulk(&targets[..1]).await.unwrap().is_none());
    sim.shutdown().await;
}

/// Without the vendor JSON, pages are read straight into typed assets: the same records, in
/// the same order, as the generic reading over several pages, hostile names included.
#[tokio::test]
async fn a_listing_without_vendor_json_reads_the_same_records() {
    let sim = sim::start(
        SimConfig {
            hostile: agentctl_core::sim::Hostile {
                names: true,
                ..Default::default()
            },
            ..cfg(1200)
        },
        None,
    )
    .await
    .unwrap();
    let p = provider(&sim);
    let lean = ListQuery {
        keep_raw: false,
        ..ListQuery::default()
    };
    let typed: Vec<AgentRecord> = p.list(&lean).try_collect().await.unwrap();
    let mut generic: Vec<AgentRecord> = p.list(&ListQuery::default()).try_collect().await.unwrap();
    assert!(generic.iter().all(|r| r.raw.is_object()));
    for r in &mut generic {
        r.raw = Value::Null;
    }
    assert_eq!(typed.len(), sim.assets().len());
    assert!(typed.len() > 1000);
    assert_eq!(typed, generic);
    sim.shutdown().await;
}
