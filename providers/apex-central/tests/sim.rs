//! The Apex Central provider driven through the `Provider` contract against the simulator.

use std::time::Duration;

use agentctl_apex_central::auth::{ApexAuth, now_unix};
use agentctl_apex_central::sim::{self, RunningSim, SimConfig, SimState};
use agentctl_apex_central::{ApexCentral, Config, client::STALE_REASON};
use agentctl_core::http::HttpOptions;
use agentctl_core::secret::SecretRef;
use agentctl_core::{
    Action, ActionOutcome, AgentRecord, AgentRef, ErrorKind, HostPattern, ListQuery, Operation,
    Provider, Recheck, RelocateTarget,
};
use futures::{StreamExt, TryStreamExt};
use secrecy::SecretString;
use serde_json::Value;

const AGENTS: &str = "/WebApp/API/AgentResource/ProductAgents";

fn opts() -> HttpOptions {
    HttpOptions {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        timeout: Duration::from_secs(10),
        ..HttpOptions::new("apex")
    }
}

fn provider_with(sim: &RunningSim, app_id: &str, key: &str) -> ApexCentral {
    let config = Config {
        url: Some(sim.base_url()),
        application_id: Some(app_id.to_string()),
        api_key: Some(SecretRef::from(key.to_string())),
    };
    ApexCentral::new("apex", &config, opts()).unwrap()
}

fn provider(sim: &RunningSim) -> ApexCentral {
    let cfg = sim.config().clone();
    provider_with(sim, &cfg.application_id, &cfg.api_key)
}

async fn start(cfg: SimConfig) -> RunningSim {
    sim::start(cfg, None).await.unwrap()
}

async fn list(p: &ApexCentral, host: Option<&str>) -> Vec<AgentRecord> {
    let query = ListQuery {
        host: host.map(HostPattern::new),
        ..ListQuery::default()
    };
    p.list(&query).try_collect().await.unwrap()
}

fn by_host(sim: &RunningSim, host: &str) -> Vec<Value> {
    sim.agents()
        .into_iter()
        .filter(|a| a["host_name"] == host)
        .collect()
}

fn server_id(sim: &RunningSim, host: &str) -> String {
    sim.servers()
        .iter()
        .find(|s| s["host_name"] == host)
        .unwrap()["entity_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn agent_ref(id: &str) -> AgentRef {
    AgentRef {
        provider: "apex".into(),
        agent_id: id.into(),
        hostname: None,
        last_seen: None,
    }
}

fn relocate(to: &str, folder: Option<&str>) -> Action {
    Action::Relocate(RelocateTarget {
        to: to.into(),
        resolved_id: None,
        folder: folder.map(str::to_string),
        allow_multiple: false,
    })
}

#[tokio::test]
async fn lists_every_agent_with_spec_columns() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let all = list(&p, None).await;
    assert_eq!(all.len(), sim.agents().len());
    let client = all
        .iter()
        .find(|r| r.hostname == sim::FIXED_CLIENT)
        .unwrap();
    let raw = sim.agent(&client.agent_id).unwrap();
    assert_eq!(client.raw, raw);
    assert_eq!(client.kind, "apex-central");
    assert_eq!(client.last_seen, None);
    assert_eq!(client.os, None);
    assert_eq!(
        client.group.as_deref(),
        Some(format!("ApexOne01: {}", raw["folder_path"].as_str().unwrap()).as_str())
    );
    // Internal addresses first even when the vendor lists a public one first.
    let mixed = all
        .iter()
        .find(|r| {
            r.raw["ip_address_list"]
                .as_str()
                .unwrap()
                .starts_with("203.0.113.")
        })
        .expect("some agent lists a public address first");
    assert!(mixed.ip_addresses[0].starts_with("10."));
    assert!(mixed.ip_addresses[1].starts_with("203.0.113."));
    // Servers are fetched once per run, agents once per listing.
    list(&p, None).await;
    assert_eq!(sim.request_count("GET ProductServers"), 1);
    assert_eq!(sim.request_count("GET ProductAgents"), 2);
    assert_eq!(sim.request_count("401"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn host_filter_exact_glob_case_and_non_ascii() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let exact = list(&p, Some("CLIENT01")).await;
    assert_eq!(exact.len(), 1);
    assert_eq!(exact[0].hostname, sim::FIXED_CLIENT);
    let twins = list(&p, Some(sim::FIXED_TWIN)).await;
    assert_eq!(twins.len(), by_host(&sim, sim::FIXED_TWIN).len());
    assert!(twins.len() >= 2);
    // A non-ASCII exact name travels percent-encoded in the signed query.
    let tokyo = list(&p, Some(sim::FIXED_NON_ASCII)).await;
    assert_eq!(tokyo.len(), by_host(&sim, sim::FIXED_NON_ASCII).len());
    assert!(!tokyo.is_empty());
    let glob = list(&p, Some("reimaged-*")).await;
    let expected = sim
        .agents()
        .iter()
        .filter(|a| a["host_name"].as_str().unwrap().starts_with("reimaged-"))
        .count();
    assert_eq!(glob.len(), expected);
    assert_eq!(sim.request_count("401"), 0);
    assert_eq!(sim.request_count("400"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn servers_listing() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let listing = p.listing("servers").await.unwrap();
    assert_eq!(
        listing.columns,
        [
            "provider",
            "entity_id",
            "host_name",
            "product",
            "ip_addresses",
            "ad_domain"
        ]
    );
    assert_eq!(listing.rows.len(), 5);
    let b = listing
        .rows
        .iter()
        .find(|r| r["ad_domain"] == "BRANCH-B")
        .unwrap();
    assert_eq!(b["host_name"], "apex-edge");
    assert_eq!(b["ip_addresses"], "10.30.0.5;198.51.100.30");
    assert_eq!(b["raw"]["ip_address_list"], "10.30.0.5,198.51.100.30");
    assert!(p.listing("tunnels").await.is_err());
    sim.shutdown().await;
}

#[tokio::test]
async fn relocate_by_server_id_and_by_server_name() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let target_id = server_id(&sim, "ApexOne02");
    let client = by_host(&sim, sim::FIXED_CLIENT).remove(0);
    let id = client["entity_id"].as_str().unwrap();

    // By entity_id (any case).
    let action = p
        .prepare(&relocate(
            &target_id.to_lowercase(),
            Some(r"\NewDomain\NewFolder"),
        ))
        .await
        .unwrap();
    let Action::Relocate(t) = &action else {
        panic!()
    };
    assert_eq!(t.resolved_id.as_deref(), Some(target_id.as_str()));
    let out = p.act(&action, &agent_ref(id)).await.unwrap();
    assert!(
        matches!(out, ActionOutcome::Requested { ref detail, .. } if detail.contains(&target_id))
    );
    let moved = sim.agent(id).unwrap();
    assert_eq!(moved["managing_server_id"], target_id.as_str());
    assert_eq!(moved["folder_path"], r"\NewDomain\NewFolder");
    let actions = sim.actions();
    assert_eq!(actions[0]["act"], "cmd_relocate_agent");
    assert_eq!(actions[0]["allow_multiple_match"], false);
    assert_eq!(actions[0]["entity_ids"][0], id);

    // By host name, case-insensitively, back to the first server.
    let action = p
        .prepare(&relocate("apexone01", Some("Workgroup")))
        .await
        .unwrap();
    p.act(&action, &agent_ref(id)).await.unwrap();
    let moved = sim.agent(id).unwrap();
    assert_eq!(
        moved["managing_server_id"],
        server_id(&sim, "ApexOne01").as_str()
    );
    assert_eq!(moved["folder_path"], "Workgroup");
    assert_eq!(sim.request_count("act cmd_relocate_agent"), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn relocate_with_allow_multiple_sends_true() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let twin = by_host(&sim, sim::FIXED_TWIN).remove(0);
    let action = Action::Relocate(RelocateTarget {
        to: "ApexOne02".into(),
        resolved_id: None,
        folder: Some("Workgroup".into()),
        allow_multiple: true,
    });
    let action = p.prepare(&action).await.unwrap();
    let described = p.describe(&action, &agent_ref(twin["entity_id"].as_str().unwrap()));
    assert!(
        described.contains(r#""allow_multiple_match":true"#),
        "{described}"
    );
    p.act(&action, &agent_ref(twin["entity_id"].as_str().unwrap()))
        .await
        .unwrap();
    assert_eq!(sim.actions()[0]["allow_multiple_match"], true);
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_or_ambiguous_server_is_an_input_error_listing_servers() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let e = p
        .prepare(&relocate("apex-edge", Some("Workgroup")))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    assert!(e.message.contains("ambiguous"), "{}", e.message);
    for s in sim
        .servers()
        .iter()
        .filter(|s| s["host_name"] == "apex-edge")
    {
        assert!(
            e.message.contains(s["entity_id"].as_str().unwrap()),
            "{}",
            e.message
        );
    }
    let e = p
        .prepare(&relocate("ApexOne99", Some("Workgroup")))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    for s in sim.servers() {
        let label = format!(
            "{} ({})",
            s["entity_id"].as_str().unwrap(),
            s["host_name"].as_str().unwrap()
        );
        assert!(e.message.contains(&label), "{} lacks {label}", e.message);
    }
    // The folder is required by the API: refused before anything is sent.
    let e = p.prepare(&relocate("ApexOne02", None)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    assert!(e.message.contains("--folder"));
    assert_eq!(sim.request_count("POST ProductAgents"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn agent_lacking_the_capability_is_not_relocatable() {
    let sim = start(SimConfig::default()).await;
    let kiosk = by_host(&sim, sim::FIXED_NOT_RELOCATABLE).remove(0);
    let id = kiosk["entity_id"].as_str().unwrap();

    // Not seen before: the request is sent, the server answers result_code 1 with an empty
    // result_content, which is a failure for this agent.
    let p = provider(&sim);
    let action = p
        .prepare(&relocate("ApexOne02", Some("Workgroup")))
        .await
        .unwrap();
    let e = p.act(&action, &agent_ref(id)).await.unwrap_err();
    assert!(
        e.message.starts_with("not relocatable by the API"),
        "{}",
        e.message
    );
    assert_eq!(sim.request_count("POST ProductAgents"), 1);
    // The servers read, the POST and the look-up that tells "still listed" (a failure) from
    // "already gone" (skipped) all answered result_code 1.
    assert_eq!(sim.request_count("result_code 1"), 3);
    assert!(sim.actions().is_empty());

    // Seen by the re-check: refused without a request, naming the capabilities.
    let Recheck::Present(rec) = p.recheck(id).await.unwrap() else {
        panic!("present")
    };
    assert_eq!(rec.hostname, sim::FIXED_NOT_RELOCATABLE);
    let e = p.act(&action, &agent_ref(id)).await.unwrap_err();
    assert!(
        e.message.contains("does not offer cmd_relocate_agent"),
        "{}",
        e.message
    );
    let e = p.act(&Action::Uninstall, &agent_ref(id)).await.unwrap_err();
    assert!(
        e.message.starts_with("not uninstallable by the API"),
        "{}",
        e.message
    );
    assert_eq!(sim.request_count("POST ProductAgents"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn uninstall_one_agent_by_entity_id_then_recheck_finds_it_gone() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let twins = by_host(&sim, sim::FIXED_TWIN);
    let id = twins[0]["entity_id"].as_str().unwrap();
    assert!(matches!(p.recheck(id).await.unwrap(), Recheck::Present(_)));
    let action = p.prepare(&Action::Uninstall).await.unwrap();
    let described = p.describe(&action, &agent_ref(id));
    assert_eq!(
        described,
        format!(
            r#"POST {}{AGENTS} {{"act":"cmd_uninstall_agent","allow_multiple_match":false,"entity_id":"{id}"}}"#,
            sim.base_url()
        )
    );
    assert_eq!(
        sim.request_count("POST ProductAgents"),
        0,
        "describe sends nothing"
    );
    let out = p.act(&action, &agent_ref(id)).await.unwrap();
    assert!(matches!(out, ActionOutcome::Requested { .. }));
    assert_eq!(p.recheck(id).await.unwrap(), Recheck::Gone);
    // Only that agent: its twin with the same host name is still there.
    assert_eq!(by_host(&sim, sim::FIXED_TWIN).len(), twins.len() - 1);
    let actions = sim.actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0]["act"], "cmd_uninstall_agent");
    assert_eq!(actions[0]["entity_ids"], serde_json::json!([id]));
    // Malformed ids never reach the server.
    assert!(p.validate_agent_id("not-an-id").is_err());
    assert!(p.act(&action, &agent_ref("not-an-id")).await.is_err());
    assert_eq!(sim.request_count("POST ProductAgents"), 1);

    // The state persists: a new simulator from it no longer lists the agent.
    let state: SimState =
        serde_json::from_str(&serde_json::to_string(&sim.state()).unwrap()).unwrap();
    let cfg = sim.config().clone();
    sim.shutdown().await;
    let again = sim::start(cfg, Some(state)).await.unwrap();
    let p = provider(&again);
    assert_eq!(p.recheck(id).await.unwrap(), Recheck::Gone);
    assert_eq!(again.actions().len(), 1);
    again.shutdown().await;
}

#[tokio::test]
async fn target_server_errors_are_mapped_from_result_codes() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let client = by_host(&sim, sim::FIXED_CLIENT).remove(0);
    let id = client["entity_id"].as_str().unwrap();
    let unknown = Action::Relocate(RelocateTarget {
        to: "gone".into(),
        resolved_id: Some("00000000-0000-0000-0000-000000000000".into()),
        folder: Some("Workgroup".into()),
        allow_multiple: false,
    });
    let e = p.act(&unknown, &agent_ref(id)).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Api);
    assert_eq!(e.status, Some(400));
    assert!(
        e.message
            .contains("target server not found (result_code -105"),
        "{}",
        e.message
    );
    let dsm = p
        .prepare(&relocate("dsm01", Some("Workgroup")))
        .await
        .unwrap();
    let e = p.act(&dsm, &agent_ref(id)).await.unwrap_err();
    assert!(
        e.message
            .contains("does not support the command (result_code -107"),
        "{}",
        e.message
    );
    assert!(sim.actions().is_empty());
    sim.shutdown().await;
}

fn signed_get(
    sim: &RunningSim,
    auth: &ApexAuth,
    path_and_query: &str,
    iat: u64,
) -> reqwest::Request {
    let mut req = agentctl_core::http::plain_client()
        .get(format!("{}{path_and_query}", sim.base_url()))
        .build()
        .unwrap();
    auth.sign_request(&mut req, iat).unwrap();
    req
}

async fn result_code(resp: reqwest::Response) -> (u16, i64) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (status, body["result_code"].as_i64().unwrap())
}

#[tokio::test]
async fn simulator_rejects_expired_future_forged_and_tampered_tokens() {
    let sim = start(SimConfig::default()).await;
    let cfg = sim.config().clone();
    let http = agentctl_core::http::plain_client();
    let good = ApexAuth::new(
        &cfg.application_id,
        &SecretString::from(cfg.api_key.clone()),
    );
    let now = now_unix();

    let ok = http
        .execute(signed_get(&sim, &good, AGENTS, now))
        .await
        .unwrap();
    assert_eq!(result_code(ok).await, (200, 1));

    // iat older than the communication time-out.
    let old = now - cfg.communication_timeout.as_secs() - 5;
    let resp = http
        .execute(signed_get(&sim, &good, AGENTS, old))
        .await
        .unwrap();
    assert_eq!(result_code(resp).await, (401, -6));
    // iat in the future beyond the tolerated skew.
    let ahead = now + cfg.future_skew.as_secs() + 60;
    let resp = http
        .execute(signed_get(&sim, &good, AGENTS, ahead))
        .await
        .unwrap();
    assert_eq!(result_code(resp).await, (401, -6));

    // Signed with another key.
    let forged = ApexAuth::new(
        &cfg.application_id,
        &SecretString::from("not-the-key".to_string()),
    );
    let resp = http
        .execute(signed_get(&sim, &forged, AGENTS, now))
        .await
        .unwrap();
    assert_eq!(result_code(resp).await, (401, -7));
    // Another application.
    let other = ApexAuth::new("SOMEONE-ELSE", &SecretString::from(cfg.api_key.clone()));
    let resp = http
        .execute(signed_get(&sim, &other, AGENTS, now))
        .await
        .unwrap();
    assert_eq!(result_code(resp).await, (401, -5));

    // Signed for one query, sent with another.
    let mut req = signed_get(&sim, &good, &format!("{AGENTS}?host_name=client01"), now);
    req.url_mut().set_query(Some("host_name=client02"));
    let resp = http.execute(req).await.unwrap();
    assert_eq!(result_code(resp).await, (401, -8));
    // Signed for one body, sent with another.
    let mut req = http
        .post(format!("{}{AGENTS}", sim.base_url()))
        .body(r#"{"act":"cmd_isolate_agent","allow_multiple_match":false,"entity_id":"a"}"#)
        .build()
        .unwrap();
    good.sign_request(&mut req, now).unwrap();
    *req.body_mut() = Some(
        r#"{"act":"cmd_uninstall_agent","allow_multiple_match":true,"host_name":"client01"}"#
            .into(),
    );
    let resp = http.execute(req).await.unwrap();
    assert_eq!(result_code(resp).await, (401, -8));

    // No token, and something that is not a JWT.
    let resp = http
        .get(format!("{}{AGENTS}", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(result_code(resp).await, (401, -2));
    let resp = http
        .get(format!("{}{AGENTS}", sim.base_url()))
        .bearer_auth("abc.def")
        .send()
        .await
        .unwrap();
    assert_eq!(result_code(resp).await, (401, -3));
    assert_eq!(sim.request_count("result_code -6"), 2);
    assert_eq!(sim.request_count("result_code -8"), 2);
    assert!(
        sim.agents().iter().any(|a| a["host_name"] == "client01"),
        "nothing was uninstalled"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn provider_reports_refused_credentials_as_auth_errors() {
    let sim = start(SimConfig::default()).await;
    let cfg = sim.config().clone();
    let p = provider_with(&sim, &cfg.application_id, "wrong-key");
    let query = ListQuery::default();
    let e = p.list(&query).try_collect::<Vec<_>>().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(e.status, Some(401));
    assert!(
        e.message
            .contains("invalid token signature (result_code -7)"),
        "{}",
        e.message
    );
    assert!(e.hint.as_deref().unwrap().contains("api_key"));
    // One attempt: a 401 is final (every attempt is signed afresh anyway).
    assert_eq!(sim.request_count("GET ProductAgents"), 1);
    let p = provider_with(&sim, "unknown-app", &cfg.api_key);
    let e = p.prepare(&Action::Uninstall).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(
        e.message.contains("invalid application ID"),
        "{}",
        e.message
    );
    let checks = p.doctor().await;
    assert!(
        checks
            .iter()
            .any(|c| !c.ok && c.detail.contains("result_code -5")),
        "{checks:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_beyond_the_communication_timeout_expires_every_token() {
    let sim = start(SimConfig {
        fleet_size: 10,
        latency: Duration::from_millis(1500),
        communication_timeout: Duration::from_secs(1),
        ..SimConfig::default()
    })
    .await;
    let p = provider(&sim);
    let e = p.listing("servers").await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert!(
        e.message.contains("token expired (result_code -6"),
        "{}",
        e.message
    );
    assert!(e.hint.as_deref().unwrap().contains("clock"));
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_for_reads() {
    let sim = start(SimConfig {
        fleet_size: 20,
        error_rate: 0.4,
        ..SimConfig::default()
    })
    .await;
    let p = provider(&sim);
    for _ in 0..5 {
        assert_eq!(list(&p, None).await.len(), 20);
    }
    assert!(
        sim.request_count("503") > 0,
        "some requests failed and were retried"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn stale_is_not_supported_and_doctor_passes() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let ns = p.supports(Operation::Stale).unwrap_err();
    assert_eq!(ns.reason, STALE_REASON);
    let checks = p.doctor().await;
    assert!(checks.iter().all(|c| c.ok), "{checks:?}");
    let details: Vec<&str> = checks.iter().map(|c| c.detail.as_str()).collect();
    assert!(
        details.iter().any(|d| d.ends_with(": 5 servers")),
        "{details:?}"
    );
    let agents = format!(": {} agents", sim.agents().len());
    assert!(details.iter().any(|d| d.ends_with(&agents)), "{details:?}");
    sim.shutdown().await;
}

async fn post(sim: &RunningSim, body: &str) -> (u16, i64, Value) {
    let cfg = sim.config().clone();
    let auth = ApexAuth::new(
        &cfg.application_id,
        &SecretString::from(cfg.api_key.clone()),
    );
    let mut req = agentctl_core::http::plain_client()
        .post(format!("{}{AGENTS}", sim.base_url()))
        .header("content-type", "application/json;charset=utf-8")
        .body(body.to_string())
        .build()
        .unwrap();
    auth.sign_request(&mut req, now_unix()).unwrap();
    let resp = agentctl_core::http::plain_client()
        .execute(req)
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap();
    (
        status,
        body["result_code"].as_i64().unwrap(),
        body["result_content"].clone(),
    )
}

#[tokio::test]
async fn simulator_actions_and_their_result_codes() {
    let sim = start(SimConfig::default()).await;
    let client = by_host(&sim, sim::FIXED_CLIENT).remove(0);
    let id = client["entity_id"].as_str().unwrap();

    // Isolate and restore, the sample's Python spacing and the string form of the flag.
    let (status, code, content) = post(
        &sim,
        &format!(r#"{{"act": "cmd_isolate_agent", "allow_multiple_match": "False", "entity_id": "{id}"}}"#),
    )
    .await;
    assert_eq!((status, code), (200, 1));
    assert_eq!(content[0]["entity_id"], id);
    assert_eq!(sim.agent(id).unwrap()["isolation_status"], "isolated");
    let (_, code, _) = post(
        &sim,
        &format!(r#"{{"act":"cmd_restore_isolated_agent","allow_multiple_match":false,"entity_id":"{id}"}}"#),
    )
    .await;
    assert_eq!(code, 1);
    assert_eq!(sim.agent(id).unwrap()["isolation_status"], "normal");

    // Several matches need allow_multiple_match.
    let twin = format!(
        r#"{{"act":"cmd_isolate_agent","allow_multiple_match":false,"host_name":"{}"}}"#,
        sim::FIXED_TWIN
    );
    assert_eq!(post(&sim, &twin).await.1, -102);
    let (_, code, content) = post(&sim, &twin.replace("false", "true")).await;
    assert_eq!(code, 1);
    assert_eq!(
        content.as_array().unwrap().len(),
        by_host(&sim, sim::FIXED_TWIN).len()
    );

    // Malformed requests.
    let bad = [
        (
            r#"{"act":"cmd_format_disk","allow_multiple_match":false,"entity_id":"x"}"#,
            -22,
        ),
        (r#"{"act":"cmd_isolate_agent","entity_id":"x"}"#, -21),
        (
            r#"{"act":"cmd_isolate_agent","allow_multiple_match":false}"#,
            -21,
        ),
        (
            r#"{"act":"cmd_isolate_agent","allow_multiple_match":false,"entity_id":"x","force":true}"#,
            -21,
        ),
        (
            r#"{"act":"cmd_relocate_agent","allow_multiple_match":false,"entity_id":"x"}"#,
            -21,
        ),
        (
            r#"{"act":"cmd_uninstall_agent","allow_multiple_match":false,"entity_id":"x","relocate_to_folder_path":"a"}"#,
            -21,
        ),
        ("not json", -21),
    ];
    for (body, expected) in bad {
        let (status, code, content) = post(&sim, body).await;
        assert_eq!((status, code), (400, expected), "{body}");
        assert_eq!(content, "", "{body}");
    }
    // A method the resource does not support.
    let cfg = sim.config().clone();
    let auth = ApexAuth::new(
        &cfg.application_id,
        &SecretString::from(cfg.api_key.clone()),
    );
    let mut req = agentctl_core::http::plain_client()
        .delete(format!("{}{AGENTS}", sim.base_url()))
        .build()
        .unwrap();
    auth.sign_request(&mut req, now_unix()).unwrap();
    let resp = agentctl_core::http::plain_client()
        .execute(req)
        .await
        .unwrap();
    assert_eq!(result_code(resp).await.1, -50);
    let actions: Vec<String> = sim
        .actions()
        .iter()
        .map(|a| a["act"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        [
            "cmd_isolate_agent",
            "cmd_restore_isolated_agent",
            "cmd_isolate_agent"
        ]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bulk_recheck_reads_one_listing() {
    let sim = start(SimConfig::default()).await;
    let p = provider(&sim);
    let all = list(&p, None).await;
    let mut plan: Vec<AgentRef> = all[..20].iter().map(AgentRecord::to_ref).collect();
    // Ids are matched ignoring case and answered as the plan spelled them.
    plan[1].agent_id = plan[1].agent_id.to_uppercase();
    let mut gone = plan[0].clone();
    gone.agent_id = "00000000-0000-0000-0000-000000000000".into();
    plan.push(gone.clone());
    let before = sim.request_count("GET ProductAgents");
    let map = p.recheck_bulk(&plan).await.unwrap().expect("bulk");
    assert_eq!(sim.request_count("GET ProductAgents") - before, 1);
    assert_eq!(map.len(), 20);
    assert!(matches!(map[&plan[1].agent_id], Recheck::Present(_)));
    assert!(!map.contains_key(&gone.agent_id), "absent = gone");
    assert!(p.recheck_bulk(&plan[..1]).await.unwrap().is_none());
    sim.shutdown().await;
}

/// Without the vendor JSON the list is read agent by agent as the records are taken: the
/// same records in the same order as the generic reading, the host filter applied, more
/// agents than the reader is ahead by, and the capabilities known to `act` afterwards.
#[tokio::test]
async fn a_listing_without_vendor_json_streams_the_same_records() {
    let sim = start(SimConfig {
        fleet_size: 3000,
        ..SimConfig::default()
    })
    .await;
    let p = provider(&sim);
    let lean = |host: Option<&str>| ListQuery {
        host: host.map(HostPattern::new),
        keep_raw: false,
        ..ListQuery::default()
    };
    let streamed: Vec<AgentRecord> = p.list(&lean(None)).try_collect().await.unwrap();
    let mut generic = list(&p, None).await;
    for r in &mut generic {
        r.raw = Value::Null;
    }
    assert_eq!(streamed.len(), sim.agents().len());
    assert!(streamed.len() >= 3000);
    assert_eq!(streamed, generic);

    let globbed: Vec<AgentRecord> = p.list(&lean(Some("WS-FIN-*"))).try_collect().await.unwrap();
    let expected: Vec<AgentRecord> = generic
        .iter()
        .filter(|r| HostPattern::new("WS-FIN-*").matches(&r.hostname))
        .cloned()
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(globbed, expected);

    // A reader that stops early stops the reading (no hang, nothing left behind).
    let first: Vec<_> = p.list(&lean(None)).take(5).collect().await;
    assert_eq!(first.len(), 5);

    // What the streamed listing saw is what `act` checks: refused without a request.
    let kiosk = by_host(&sim, sim::FIXED_NOT_RELOCATABLE).remove(0);
    let id = kiosk["entity_id"].as_str().unwrap();
    let p = provider(&sim);
    let _: Vec<AgentRecord> = p.list(&lean(None)).try_collect().await.unwrap();
    let action = p
        .prepare(&relocate("ApexOne02", Some("Workgroup")))
        .await
        .unwrap();
    let e = p.act(&action, &agent_ref(id)).await.unwrap_err();
    assert!(
        e.message.contains("does not offer cmd_relocate_agent"),
        "{}",
        e.message
    );
    assert_eq!(sim.request_count("POST ProductAgents"), 0);
    sim.shutdown().await;
}
