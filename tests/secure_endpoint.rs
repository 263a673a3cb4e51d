//! End-to-end: the `agentctl` binary against the Secure Endpoint simulator.

mod common;

use std::time::{Duration, Instant};

use common::{Env, csv_ids, sim_config, sorted, stale_plan, stderr, stdout};
use predicates::prelude::*;

#[test]
fn stale_is_exact_across_pages() {
    let env = Env::new(sim_config(1234));
    let out = env
        .cmd()
        .args(["stale", "--days", "30", "-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // SPEC's agent columns, then where else the machine was seen (empty: one provider).
    assert!(text.starts_with("provider,kind,agent_id,hostname,last_seen,days_since_seen,os,agent_version,ip_addresses,group,seen_elsewhere,seen_elsewhere_in,match\n"));
    let expected = env.expected_stale(30);
    assert!(!expected.is_empty() && expected.len() < 1234);
    assert_eq!(csv_ids(&text), expected);
    // 1234 computers at 500 per page: three pages.
    assert_eq!(env.sim().request_count("GET /v1/computers"), 3);
}

#[test]
fn list_reads_every_page_and_filters_hosts_case_insensitively() {
    let env = Env::new(sim_config(1001));
    let out = env.cmd().args(["list", "-o", "csv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(csv_ids(&stdout(&out)).len(), 1001);

    let computers = env.sim().computers();
    let host = computers
        .iter()
        .map(|c| c["hostname"].as_str().unwrap().to_string())
        .find(|h| !h.is_ascii())
        .expect("the fleet has non-ASCII host names");
    let exact = env
        .cmd()
        .args(["list", "-o", "json", "--host", &host.to_uppercase()])
        .output()
        .unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&exact.stdout).unwrap();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["hostname"].as_str().unwrap().to_lowercase() == host.to_lowercase())
    );
    assert!(
        rows[0]["raw"]["connector_guid"].is_string(),
        "json output carries the raw record"
    );

    let prefix: String = host.chars().take(3).collect();
    let globbed = env
        .cmd()
        .args(["list", "-o", "ndjson", "--host", &format!("{prefix}*")])
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = stdout(&globbed)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected = computers
        .iter()
        .filter(|c| {
            c["hostname"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .starts_with(&prefix.to_lowercase())
        })
        .count();
    assert_eq!(lines.len(), expected);
}

#[test]
fn include_unknown_adds_agents_never_seen() {
    let env = Env::new(sim_config(600));
    let unknown = env
        .sim()
        .computers()
        .iter()
        .filter(|c| c["last_seen"].is_null())
        .count();
    assert!(unknown > 0, "the fleet has agents with null last_seen");
    let without = env
        .cmd()
        .args(["stale", "--days", "30", "-o", "csv"])
        .output()
        .unwrap();
    let with = env
        .cmd()
        .args(["stale", "--days", "30", "--include-unknown", "-o", "csv"])
        .output()
        .unwrap();
    assert_eq!(
        csv_ids(&stdout(&with)).len(),
        csv_ids(&stdout(&without)).len() + unknown
    );
}

#[test]
fn uninstall_happy_path_then_stale_is_clean() {
    let env = Env::new(sim_config(500));
    let (path, ids) = stale_plan(&env, 60, "plan.csv");
    assert!(!ids.is_empty());
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sorted(env.sim().uninstall_requests()), ids);
    assert!(stderr(&out).contains(&format!("{} requested, 0 skipped, 0 failed", ids.len())));
    let journal_path = common::only_journal(env.dir.path());
    assert!(
        journal_path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-uninstall.jsonl"),
        "{journal_path:?}"
    );
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    assert_eq!(journal.lines().count(), ids.len());
    let first: serde_json::Value = serde_json::from_str(journal.lines().next().unwrap()).unwrap();
    for key in ["ts", "provider", "agent_id", "action", "outcome", "detail"] {
        assert!(first.get(key).is_some(), "journal line has {key}");
    }
    assert_eq!(first["outcome"], "requested");
    // The vendor's request id is kept for the audit trail.
    let rid = first["request_id"].as_str().expect("request_id recorded");
    assert!(first["detail"].as_str().unwrap().contains(rid));
    // Running it again sends nothing: the journal says they are done.
    env.cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .assert()
        .success();
    assert_eq!(env.sim().uninstall_requests().len(), ids.len());
    // The simulator removes uninstalled computers: nothing stale is left.
    let (_, after) = stale_plan(&env, 60, "after.csv");
    assert!(after.is_empty(), "{after:?}");
}

#[test]
fn dry_run_sends_no_change_and_shows_the_call() {
    let env = Env::new(sim_config(300));
    let (path, ids) = stale_plan(&env, 30, "plan.csv");
    let out = env
        .cmd()
        .args(["uninstall", "--dry-run", "-o", "csv", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), ids.len() + 1);
    let org = &env.cfg.organizations[0].1;
    assert!(text.contains(&format!(
        "PUT {}/v3/organizations/{org}/computers/{}/uninstall_request",
        env.sim().base_url(),
        ids[0]
    )));
    assert!(
        common::journals(env.dir.path()).is_empty(),
        "dry run writes no journal"
    );
}

#[test]
fn more_than_max_is_refused_before_anything_is_sent() {
    let env = Env::new(sim_config(300));
    let (path, ids) = stale_plan(&env, 10, "plan.csv");
    assert!(ids.len() > 5);
    env.cmd()
        .args(["uninstall", "--yes", "--max", "5", "--from"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{} agents selected, more than --max 5",
            ids.len()
        )));
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
    assert_eq!(env.sim().request_count("POST /v3/access_tokens"), 0);
}

#[test]
fn no_terminal_and_no_yes_is_refused() {
    let env = Env::new(sim_config(200));
    let (path, _) = stale_plan(&env, 30, "plan.csv");
    env.cmd()
        .args(["uninstall", "--from"])
        .arg(&path)
        .write_stdin("yes\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "without confirmation: no terminal",
        ));
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
}

/// A bulk uninstall of N agents from an M-computer fleet re-checks from ONE listing pass per
/// run (⌈M/500⌉ pages), not one pass per few hundred agents nor one GET per agent: the whole
/// run costs N + ⌈M/500⌉ + a small constant (tokens, organization) requests.
#[test]
fn bulk_recheck_lists_the_fleet_once_per_run() {
    let fleet = 1200u64;
    let env = Env::new(sim_config(fleet as usize));
    let (path, ids) = stale_plan(&env, 1, "plan.csv");
    let n = ids.len() as u64;
    let max = n.to_string();
    let pages = fleet.div_ceil(500);
    // Several hundred-agent chunks' worth of agents, and more agents than listing pages.
    assert!(n > 1000, "plan of {n} agents");
    let list_before = env.sim().request_count("GET /v1/computers");
    let total_before = env.sim().total_requests();
    let out = env
        .cmd()
        .args([
            "uninstall",
            "--yes",
            "-v",
            "-o",
            "csv",
            "--max",
            &max,
            "--from",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sorted(env.sim().uninstall_requests()), ids);
    assert_eq!(
        env.sim().request_count("GET /v1/computers") - list_before,
        pages,
        "one listing pass"
    );
    assert_eq!(env.sim().request_count("GET /v1/computers/{guid}"), 0);
    let spent = env.sim().total_requests() - total_before;
    assert!(
        spent <= n + pages.min(n) + 5,
        "{spent} requests for {n} uninstalls from {fleet} computers"
    );
    // `-v` says which way the re-check went and what it cost.
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "re-check of {n} agents: one listing of {pages} pages plus 0 GET"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{pages} requests (one per agent: {n})")),
        "{err}"
    );
}

#[test]
fn recheck_skips_an_agent_that_came_back_and_one_that_is_gone() {
    let env = Env::new(sim_config(300));
    let (path, ids) = stale_plan(&env, 30, "plan.csv");
    let back = &ids[0];
    let gone = &ids[1];
    env.sim().set_last_seen(back, Some(common::now()));
    // Remove one record behind the plan's back (v1 DELETE).
    env.runtime.block_on(async {
        let status = agentctl_core::http::plain_client()
            .delete(format!("{}/v1/computers/{gone}", env.sim().base_url()))
            .basic_auth(&env.cfg.client_id, Some(&env.cfg.api_key))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status.is_success());
    });
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "-o", "csv", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let sent = env.sim().uninstall_requests();
    assert!(!sent.contains(back));
    assert!(!sent.contains(gone));
    assert_eq!(sent.len(), ids.len() - 2);
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.contains(back.as_str()) && l.contains("skipped:seen-again")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(gone.as_str()) && l.contains("skipped:gone")),
        "{text}"
    );
}

#[test]
fn faults_429_5xx_and_revoked_tokens_end_with_nothing_failed() {
    let mut cfg = sim_config(150);
    cfg.error_rate = 0.15;
    cfg.throttle_rate = 0.1;
    // Fewer faults per request than the client's attempts: the run must get through every
    // time (independent faults would fail an agent now and then, correctly).
    cfg.faults_per_path = Some(3);
    cfg.revoke_tokens_every = Some(25);
    cfg.se_token_ttl = Duration::from_secs(3);
    let env = Env::with_extra(cfg, "");
    let (path, ids) = stale_plan(&env, 30, "plan.csv");
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stderr(&out), stdout(&out));
    assert!(stderr(&out).contains(&format!("{} requested, 0 skipped, 0 failed", ids.len())));
    let sent = env.sim().uninstall_requests();
    let mut unique = sent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, ids);
    // The faults really happened.
    assert!(env.sim().request_count("503") > 0);
    assert!(env.sim().request_count("429") > 0);
    assert!(env.sim().request_count("401") > 0);
    assert!(
        env.sim().request_count("POST /v3/access_tokens") > 1,
        "the token was refreshed"
    );
}

#[test]
fn killed_mid_run_then_resumed_sends_every_agent_once() {
    let mut cfg = sim_config(400);
    cfg.latency = Duration::from_millis(40);
    let env = Env::new(cfg);
    let (path, ids) = stale_plan(&env, 20, "plan.csv");
    assert!(ids.len() > 60, "{}", ids.len());
    let mut child = env
        .std_cmd()
        .args(["uninstall", "--yes", "-q", "--from"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while env.sim().uninstall_requests().len() < 30 {
        assert!(Instant::now() < deadline, "uninstall never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before_resume = env.sim().uninstall_requests().len();
    assert!(before_resume < ids.len(), "killed too late to test resume");
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("resuming:"), "{}", stderr(&out));
    let sent = env.sim().uninstall_requests();
    let mut unique = sent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique, ids, "every agent requested");
    // At most the requests in flight at the kill (concurrency 4) are sent twice.
    assert!(
        sent.len() - ids.len() <= 4,
        "{} duplicates",
        sent.len() - ids.len()
    );
}

#[test]
fn secrets_never_reach_output_even_at_trace() {
    let env = Env::new(sim_config(120));
    let (path, _) = stale_plan(&env, 30, "plan.csv");
    let mut all = String::new();
    for args in [
        vec!["-vvv", "stale", "--days", "30", "-o", "json"],
        vec!["-vvv", "doctor"],
        vec!["-vvv", "se", "orgs"],
        vec![
            "-vvv",
            "uninstall",
            "--yes",
            "--from",
            path.to_str().unwrap(),
        ],
    ] {
        let out = env.cmd().args(&args).output().unwrap();
        all.push_str(&stdout(&out));
        all.push_str(&stderr(&out));
    }
    assert!(
        all.contains("GET /v1/computers"),
        "-vvv logs HTTP exchanges"
    );
    for secret in [&env.cfg.api_key, &env.cfg.xdr_client_secret] {
        assert!(!all.contains(secret.as_str()), "secret leaked");
    }
    assert!(!all.contains("Basic "), "an Authorization header leaked");
    assert!(!all.contains("Bearer "), "an Authorization header leaked");
    assert!(!all.to_lowercase().contains("authorization:"));
}

#[test]
fn legacy_inactive_guids_csv_is_accepted() {
    let env = Env::new(sim_config(200));
    let ids: Vec<String> = env.expected_stale(30).into_iter().take(3).collect();
    let path = env.path("inactive_guids.csv");
    std::fs::write(&path, format!("GUID\r\n{}\r\n", ids.join("\r\n"))).unwrap();
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sorted(env.sim().uninstall_requests()), ids);
}

#[test]
fn bad_rows_are_all_reported_and_nothing_is_sent() {
    let env = Env::new(sim_config(100));
    let good = env.expected_stale(30)[0].clone();
    let path = env.path("bad.csv");
    std::fs::write(
        &path,
        format!("provider,agent_id\nse,{good}\nnope,{good}\nse,not-a-guid\nse,\n"),
    )
    .unwrap();
    env.cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("line 3")
                .and(predicate::str::contains("line 4"))
                .and(predicate::str::contains("line 5")),
        );
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
    assert_eq!(env.sim().request_count("POST /iroh/oauth2/token"), 0);
}

#[test]
fn header_only_plan_is_nothing_to_do() {
    let env = Env::new(sim_config(50));
    let (path, ids) = stale_plan(&env, 100_000, "empty.csv");
    assert!(ids.is_empty());
    env.cmd()
        .args(["uninstall", "--from"])
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing to do"));
    let empty = env.path("really-empty.csv");
    std::fs::write(&empty, "").unwrap();
    env.cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&empty)
        .assert()
        .code(2);
}

#[test]
fn single_id_needs_one_provider() {
    let env = Env::new(sim_config(50));
    let id = env.expected_stale(30)[0].clone();
    env.cmd()
        .args(["uninstall", "--yes", "--id", &id])
        .assert()
        .code(2);
    env.cmd()
        .args(["uninstall", "--yes", "-p", "se", "--id", &id])
        .assert()
        .success();
    assert_eq!(env.sim().uninstall_requests(), vec![id]);
}

#[test]
fn several_orgs_need_organization_id() {
    let mut cfg = sim_config(50);
    cfg.organizations = vec![
        ("Acme EMEA".into(), "orgemeaaaaaaaaaaaaaaaaaa".into()),
        ("Acme APJC".into(), "orgapjcaaaaaaaaaaaaaaaaaa".into()),
    ];
    let env = Env::new(cfg);
    let (path, _) = stale_plan(&env, 30, "plan.csv");
    env.cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("set organization_id to one of")
                .and(predicate::str::contains("orgemeaaaaaaaaaaaaaaaaaa")),
        );
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
    let orgs = env
        .cmd()
        .args(["se", "orgs", "-o", "csv"])
        .output()
        .unwrap();
    assert!(stdout(&orgs).contains("orgapjcaaaaaaaaaaaaaaaaaa"));
}

#[test]
fn wrong_credentials_fail_with_exit_1_and_the_vendor_message() {
    let env = Env::new(sim_config(10));
    env.cmd()
        .env("TEST_SE_API_KEY", "wrong-key")
        .args(["list"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("HTTP 401")
                .and(predicate::str::contains("Unknown API key or Client ID")),
        );
}

#[test]
fn config_errors_name_provider_and_key() {
    let env = Env::new(sim_config(10));
    std::fs::write(&env.config_path, "[providers.se]\nkind = \"secure-endpoint\"\nregion = \"nam\"\nclient_id = \"x\"\napi_key = \"env:TEST_SE_API_KEY\"\napi_kye = \"typo\"\n").unwrap();
    let out = env.cmd().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("[se]") && err.contains("api_kye"), "{err}");
    env.cmd()
        .args(["-p", "nope", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no provider named 'nope'"));
}

#[test]
fn doctor_reports_each_check() {
    let env = Env::new(sim_config(42));
    let out = env.cmd().args(["doctor", "-o", "csv"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("42 computers"), "{text}");
    assert!(text.contains("v3 API"), "{text}");
}

#[test]
fn relocate_by_host_moves_computers_to_a_named_group() {
    let env = Env::new(sim_config(300));
    let computers = env.sim().computers();
    let host = computers[5]["hostname"].as_str().unwrap().to_string();
    let ids: Vec<String> = sorted(
        computers
            .iter()
            .filter(|c| c["hostname"].as_str().unwrap().eq_ignore_ascii_case(&host))
            .map(|c| c["connector_guid"].as_str().unwrap().to_string())
            .collect(),
    );
    let dry = env
        .cmd()
        .args([
            "-p",
            "se",
            "relocate",
            "--host",
            &host,
            "--to-server",
            "quarantine",
            "--allow-multiple",
            "--dry-run",
            "-o",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stdout(&dry).contains("PATCH "), "{}", stdout(&dry));
    assert_eq!(env.sim().request_count("PATCH /v1/computers/{guid}"), 0);

    let out = env
        .cmd()
        .args([
            "se",
            "relocate",
            "--host",
            &host,
            "--to-server",
            "Quarantine",
            "--allow-multiple",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("{} requested, 0 skipped, 0 failed", ids.len())));
    for c in env.sim().computers() {
        let id = c["connector_guid"].as_str().unwrap();
        if ids.iter().any(|i| i == id) {
            assert_eq!(c["groups"][0]["name"], "Quarantine", "{id} moved");
        }
    }
}

#[test]
fn relocate_to_an_unknown_group_lists_the_groups_and_sends_nothing() {
    let env = Env::new(sim_config(50));
    let id = env.sim().computers()[0]["connector_guid"]
        .as_str()
        .unwrap()
        .to_string();
    env.cmd()
        .args([
            "relocate",
            "-p",
            "se",
            "--id",
            &id,
            "--to-server",
            "Nowhere",
            "--yes",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no group is named 'Nowhere'")
                .and(predicate::str::contains("Workstations")),
        );
    env.cmd()
        .args([
            "relocate",
            "-p",
            "se",
            "--id",
            &id,
            "--to-server",
            "Audit",
            "--folder",
            "x",
            "--yes",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no folders"));
    env.cmd()
        .args([
            "se",
            "relocate",
            "--host",
            "no-such-host",
            "--to-server",
            "Audit",
            "--yes",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no agent of se matches"));
    assert_eq!(env.sim().request_count("PATCH /v1/computers/{guid}"), 0);
}

#[test]
fn relocate_from_a_plan_skips_nothing_that_checked_in_again() {
    let env = Env::new(sim_config(200));
    let plan = env.path("hr.csv");
    env.cmd()
        .args(["list", "--host", "ws-hr*", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() > 3);
    // An agent that checks in between listing and moving is still moved.
    env.sim()
        .set_last_seen(&ids[0], Some(jiff::Timestamp::now()));
    let out = env
        .cmd()
        .args(["relocate", "--to-server", "Audit", "--yes", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.sim().request_count("PATCH /v1/computers/{guid}") as usize,
        ids.len()
    );
}
