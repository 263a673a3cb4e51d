//! End-to-end: hostile data and real-world faults. Host names chosen by an attacker reach no
//! spreadsheet formula and no terminal control sequence; bad config, selection and files are
//! reported once with exit 2 and nothing sent.

mod common;

use agentctl_core::sim::{Hostile, hostile_names};
use common::harness::{Harness, Simulator};
use common::{Env, NOW, sim_config};
use predicates::prelude::*;
use serde_json::Value;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn se_hostile(fleet: usize, hostile: Hostile) -> agentctl_secure_endpoint::sim::SimConfig {
    agentctl_secure_endpoint::sim::SimConfig {
        hostile,
        ..sim_config(fleet)
    }
}

fn names_knob() -> Hostile {
    Hostile {
        names: true,
        ..Hostile::default()
    }
}

/// A character a terminal may act on (see `sanitize`).
fn is_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}' | '\u{80}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn assert_no_formula_cells(csv_text: &str) {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes());
    let mut rows = 0;
    for rec in rdr.records() {
        rows += 1;
        for cell in rec.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "a spreadsheet would evaluate {cell:?}"
            );
        }
    }
    assert!(rows > 0, "no rows in {csv_text}");
}

/// `list` as CSV, table and JSON: CSV neutralised, table escaped, JSON raw.
fn check_listing(cmd: impl Fn() -> assert_cmd::Command, host_key: &str) {
    let out = cmd().args(["list", "-o", "csv"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv_text = text(&out.stdout);
    assert_no_formula_cells(&csv_text);
    assert!(csv_text.contains("'=cmd|' /C calc'!A0"), "{csv_text}");

    let out = cmd().args(["list", "-o", "table"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        !table.chars().any(is_control),
        "raw control character in the table"
    );
    assert!(table.contains("osc52-\\x1b]52;c;aGFja2Vk\\x07"), "{table}");
    assert!(table.contains("bidi-\\u{202e}exe.txt"), "{table}");

    let out = cmd().args(["list", "-o", "json"]).output().unwrap();
    assert!(out.status.success());
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let hosts: Vec<&str> = rows.iter().filter_map(|r| r["hostname"].as_str()).collect();
    for name in hostile_names() {
        // Raw, apart from surrounding white space a provider may trim from a host name.
        assert!(
            hosts.iter().any(|h| h.trim() == name.trim()),
            "JSON keeps {name:?} raw ({host_key})"
        );
    }
}

#[test]
fn secure_endpoint_hostile_names() {
    let env = Env::new(se_hostile(20, names_knob()));
    check_listing(|| env.cmd(), "hostname");
}

#[test]
fn secure_access_hostile_names() {
    use agentctl_secure_access::sim::SimConfig;
    let cfg = SimConfig {
        fleet_size: 20,
        now: NOW.parse().unwrap(),
        hostile: names_knob(),
        ..SimConfig::default()
    };
    let h = common::harness::secure_access(cfg, "");
    check_listing(|| h.cmd(), "name");
}

#[test]
fn apex_central_hostile_names() {
    use agentctl_apex_central::sim::SimConfig;
    let cfg = SimConfig {
        fleet_size: 20,
        hostile: names_knob(),
        ..SimConfig::default()
    };
    let h = common::harness::apex_central(cfg, "");
    check_listing(|| h.cmd(), "host_name");
}

#[test]
fn taegis_hostile_names() {
    use agentctl_taegis_sim::SimConfig;
    let cfg = SimConfig {
        fleet_size: 20,
        now: NOW.parse().unwrap(),
        hostile: names_knob(),
        ..SimConfig::default()
    };
    let h = common::harness::taegis(cfg, "");
    check_listing(|| h.cmd(), "hostnames");
}

/// `stale --out p.csv` (with and without BOM) → `uninstall --from p.csv`: every hostile host
/// name and id comes back byte for byte, and the uninstall reaches exactly those agents.
#[test]
fn stale_plan_round_trips_hostile_names_into_uninstall() {
    let env = Env::new(se_hostile(30, names_knob()));
    let expected: std::collections::BTreeMap<String, String> = env
        .sim()
        .computers()
        .iter()
        .map(|c| {
            (
                c["connector_guid"].as_str().unwrap().to_string(),
                c["hostname"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for bom in [false, true] {
        let plan = env.path(if bom { "bom.csv" } else { "p.csv" });
        let mut cmd = env.cmd();
        cmd.args(["stale", "--days", "1", "--include-unknown", "--out"])
            .arg(&plan);
        if bom {
            cmd.arg("--bom");
        }
        cmd.assert().success();
        let written = std::fs::read_to_string(&plan).unwrap();
        assert_no_formula_cells(&written);
        let out = env
            .cmd()
            .args(["uninstall", "--dry-run", "-o", "json", "--from"])
            .arg(&plan)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert!(rows.len() >= hostile_names().len(), "{}", rows.len());
        for row in &rows {
            let id = row["agent_id"].as_str().unwrap();
            assert_eq!(row["hostname"].as_str(), Some(expected[id].as_str()));
        }
        let hosts: Vec<&str> = rows.iter().filter_map(|r| r["hostname"].as_str()).collect();
        for name in hostile_names() {
            assert!(hosts.contains(&name.as_str()), "{name:?} round-trips");
        }
    }
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
}

#[test]
fn unknown_provider_with_a_plan_is_named_once() {
    let env = Env::new(sim_config(5));
    let plan = env.path("p.csv");
    env.cmd()
        .args(["stale", "--days", "1", "--out"])
        .arg(&plan)
        .assert()
        .success();
    env.cmd()
        .args(["-p", "nosuch", "uninstall", "--yes", "--from"])
        .arg(&plan)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "no provider named 'nosuch' (configured: se)",
        ))
        .stderr(predicate::str::contains("problem").not());
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
}

#[test]
fn a_broken_provider_config_is_reported_once_naming_provider_and_key() {
    let env = Env::new(sim_config(5));
    let url = env.sim().base_url();
    let mut config = std::fs::read_to_string(&env.config_path).unwrap();
    config.push_str(&format!(
        "\n[providers.bad]\nkind = \"secure-endpoint\"\napi_url = \"{url}\"\ntoken_url = \"{url}\"\nclient_id = \"x\"\napi_key = \"env:AGENTCTL_TEST_SURELY_UNSET\"\naccess_token = \"t\"\n"
    ));
    std::fs::write(&env.config_path, config).unwrap();
    let plan = env.path("p.csv");
    let mut text_plan = String::from("provider,agent_id\n");
    for i in 0..5 {
        text_plan.push_str(&format!("bad,0f5e8a3c-1111-2222-3333-44445555666{i}\n"));
    }
    std::fs::write(&plan, text_plan).unwrap();
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("[bad]") && err.contains("api_key"), "{err}");
    assert_eq!(err.matches("api_key").count(), 1, "reported once: {err}");
    assert!(!err.contains("problem(s)"), "{err}");
}

#[test]
fn days_must_be_at_least_one() {
    let env = Env::new(sim_config(5));
    env.cmd()
        .args(["stale", "--days", "0"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--days"));
    assert_eq!(env.sim().request_count("GET /v1/computers"), 0);
}

#[test]
fn toml_errors_show_line_column_and_the_line() {
    let env = Env::new(sim_config(5));
    std::fs::write(
        &env.config_path,
        "[providers.se]\nkind = \"secure-endpoint\"\nregion = \"nam\n",
    )
    .unwrap();
    let out = env.cmd().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("line 3, column"), "{err}");
    assert!(err.contains("3 | region = \"nam"), "{err}");
}

#[cfg(unix)]
fn mkfifo(path: &std::path::Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[cfg(unix)]
#[test]
fn fifos_are_refused_as_plans_and_secret_files() {
    let env = Env::new(sim_config(5));
    let fifo = env.path("plan.csv");
    mkfifo(&fifo);
    env.cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&fifo)
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));

    // The XDR secret the config reads with file: becomes a FIFO.
    let secret = env.path("xdr-secret");
    std::fs::remove_file(&secret).unwrap();
    mkfifo(&secret);
    env.cmd()
        .args([
            "-p",
            "se",
            "uninstall",
            "--yes",
            "--id",
            "0f5e8a3c-1111-2222-3333-444455556666",
        ])
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a regular file"));
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
}

/// An interrupted `--out` leaves the previous file in place, not a truncated one.
#[test]
fn an_interrupted_out_never_truncates_the_final_file() {
    let cfg = se_hostile(
        5,
        Hostile {
            hang: Some("/v1/computers".into()),
            ..Hostile::default()
        },
    );
    let env = Env::new(cfg);
    let out = env.path("stale.csv");
    std::fs::write(&out, "previous complete plan\n").unwrap();
    let mut child = env
        .std_cmd()
        .args(["stale", "--days", "1", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while env.sim().hostile_requests() == 0 && started.elapsed().as_secs() < 20 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(env.sim().hostile_requests() > 0, "the listing started");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "previous complete plan\n"
    );
}

/// A plan of the first `n` computers of the simulator, written by hand (no request sent).
fn plan_of(env: &Env, n: usize) -> std::path::PathBuf {
    let mut text = String::from("provider,agent_id\n");
    for c in env.sim().computers().iter().take(n) {
        text.push_str(&format!("se,{}\n", c["connector_guid"].as_str().unwrap()));
    }
    let path = env.path("plan.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn outcomes(stdout: &[u8]) -> Vec<String> {
    let rows: Vec<Value> = serde_json::from_slice(stdout).unwrap();
    rows.iter()
        .map(|r| r["outcome"].as_str().unwrap().to_string())
        .collect()
}

/// One or two 500s or resets on the XDR token request, or on the /v3/access_tokens
/// exchange, cost retries, not the run.
#[test]
fn token_endpoint_faults_are_retried() {
    use agentctl_core::sim::{FailFirst, Fault};
    for (path, fault) in [
        ("/iroh/oauth2/token", Fault::Status500),
        ("/iroh/oauth2/token", Fault::Reset),
        ("/v3/access_tokens", Fault::Status500),
        ("/v3/access_tokens", Fault::Reset),
    ] {
        let env = Env::new(se_hostile(
            20,
            Hostile {
                fail_first: Some(FailFirst {
                    path: path.into(),
                    count: 2,
                    fault,
                }),
                ..Hostile::default()
            },
        ));
        let plan = plan_of(&env, 20);
        let out = env
            .cmd()
            .args(["uninstall", "--yes", "-o", "json", "--from"])
            .arg(&plan)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{path} {fault:?}: {}",
            text(&out.stderr)
        );
        assert!(outcomes(&out.stdout).iter().all(|o| o == "requested"));
        assert_eq!(env.sim().hostile_requests(), 2, "{path} {fault:?}");
        assert_eq!(env.sim().uninstall_requests().len(), 20);
    }
}

/// Concurrency of the runs below (each provider's `[defaults]`).
const CONCURRENCY: u64 = 4;

/// A run whose credential was revoked after `revoke_after` of the simulator's `total`
/// requests: some agents done, the rest `failed:auth` (exit 3), the run says the credential
/// was refused, and after the revocation the circuit breaker let through at most K refusals'
/// worth of requests plus the agents in flight — each request, its token refresh and retry
/// (K = `AUTH_BREAKER_THRESHOLD`, the documented constant).
fn assert_revocation_bounded(
    kind: &str,
    out: &std::process::Output,
    agents: usize,
    revoke_after: u64,
    total: u64,
) {
    use agentctl_core::http::AUTH_BREAKER_THRESHOLD;
    assert_eq!(out.status.code(), Some(3), "{kind}: {}", text(&out.stderr));
    let outcomes = outcomes(&out.stdout);
    let done = outcomes.iter().filter(|o| *o == "requested").count();
    let auth = outcomes.iter().filter(|o| *o == "failed:auth").count();
    assert!(done > 0 && auth > 0, "{kind}: {outcomes:?}");
    assert_eq!(done + auth, agents, "{kind}: {outcomes:?}");
    let after = total - revoke_after;
    eprintln!("{kind}: {done} done, {auth} failed:auth, {after} requests after revocation");
    let bound = u64::from(AUTH_BREAKER_THRESHOLD) * 3 + CONCURRENCY * 3;
    assert!(
        after <= bound,
        "{kind}: {after} requests after revocation (bound {bound})"
    );
    let err = text(&out.stderr);
    assert!(err.contains("refused"), "{kind}: {err}");
}

/// `verb --from` a hand-written plan of `ids` for `provider` (no request sent to write it)
/// against a simulator that revokes the credential after `revoke_after` requests, checked by
/// [`assert_revocation_bounded`].
fn revoked_run<S: Simulator>(
    kind: &str,
    h: &Harness<S>,
    provider: &str,
    verb: &str,
    ids: &[String],
    revoke_after: u64,
) {
    let mut text = String::from("provider,agent_id\n");
    for id in ids {
        text.push_str(&format!("{provider},{id}\n"));
    }
    let plan = h.path("revoked-plan.csv");
    std::fs::write(&plan, text).unwrap();
    let out = h
        .cmd()
        .args([verb, "--yes", "-o", "json", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_revocation_bounded(
        kind,
        &out,
        ids.len(),
        revoke_after,
        h.sim().total_requests(),
    );
}

/// Secure Endpoint: the v1 API key and the XDR client are revoked mid-run.
#[test]
fn revoked_credentials_mid_run_are_not_hammered() {
    let revoke_after = 30;
    let cfg = agentctl_secure_endpoint::sim::SimConfig {
        revoke_credentials_after: Some(revoke_after),
        ..sim_config(120)
    };
    let env = Env::new(cfg);
    let plan = plan_of(&env, 120);
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "-o", "json", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert_revocation_bounded(
        "secure-endpoint",
        &out,
        120,
        revoke_after,
        env.sim().total_requests(),
    );
}

/// Secure Access: the deployments key is revoked mid-run (token endpoint 401 `{"message"}`,
/// issued tokens 401).
#[test]
fn secure_access_revoked_key_mid_run_is_not_hammered() {
    let revoke_after = 30;
    let sa = common::harness::secure_access(
        agentctl_secure_access::sim::SimConfig {
            fleet_size: 80,
            now: common::now(),
            quotas: agentctl_core::ratelimit::RateLimitSpec::off(),
            token_quotas: agentctl_core::ratelimit::RateLimitSpec::off(),
            revoke_credentials_after: Some(revoke_after),
            ..agentctl_secure_access::sim::SimConfig::default()
        },
        &format!("concurrency = {CONCURRENCY}"),
    );
    let ids: Vec<String> = sa
        .sim()
        .roaming_computers()
        .iter()
        .filter_map(|c| c["deviceId"].as_str().map(str::to_string))
        .collect();
    revoked_run("secure-access", &sa, "sa", "remove", &ids, revoke_after);
}

/// Taegis: the API client is revoked mid-run (token endpoint `invalid_client`, issued tokens
/// 401).
#[test]
fn taegis_revoked_client_mid_run_is_not_hammered() {
    let revoke_after = 30;
    let tg = common::harness::taegis(
        agentctl_taegis_sim::SimConfig {
            fleet_size: 80,
            now: common::now(),
            revoke_credentials_after: Some(revoke_after),
            ..agentctl_taegis_sim::SimConfig::default()
        },
        &format!("concurrency = {CONCURRENCY}"),
    );
    // Assets already pending uninstall are skipped whatever the credential: leave them out.
    let ids: Vec<String> = tg
        .sim()
        .assets()
        .into_iter()
        .filter(|a| !a.pending_uninstall)
        .map(|a| a.id)
        .collect();
    revoked_run("taegis", &tg, "tg", "uninstall", &ids, revoke_after);
}

/// Apex Central: the application's access is removed mid-run (401, `result_code` -5).
#[test]
fn apex_central_revoked_application_mid_run_is_not_hammered() {
    let revoke_after = 30;
    let apex = common::harness::apex_central(
        agentctl_apex_central::sim::SimConfig {
            fleet_size: 80,
            revoke_credentials_after: Some(revoke_after),
            ..agentctl_apex_central::sim::SimConfig::default()
        },
        &format!("concurrency = {CONCURRENCY}"),
    );
    let ids: Vec<String> = apex
        .sim()
        .agents()
        .iter()
        // Agents that cannot uninstall fail whatever the credential: leave them out.
        .filter(|a| {
            a["capabilities"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "cmd_uninstall_agent"))
        })
        .filter_map(|a| a["entity_id"].as_str().map(str::to_string))
        .collect();
    revoked_run(
        "apex-central",
        &apex,
        "apex",
        "uninstall",
        &ids,
        revoke_after,
    );
}

#[test]
fn an_endless_body_fails_the_listing_with_the_limit_named() {
    let env = Env::with_extra(
        se_hostile(
            5,
            Hostile {
                endless_body: Some("/v1/computers".into()),
                ..Hostile::default()
            },
        ),
        "max_response_mb = 1\n",
    );
    let out = env.cmd().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("[se]") && err.contains("1 MiB limit"), "{err}");
    assert_eq!(env.sim().hostile_requests(), 1);
}

#[test]
fn a_hanging_endpoint_fails_the_listing_after_the_deadline() {
    let env = Env::with_extra(
        se_hostile(
            5,
            Hostile {
                hang: Some("/v1/computers".into()),
                ..Hostile::default()
            },
        ),
        "timeout_secs = 1\n",
    );
    let out = env.cmd().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("[se]") && err.contains("timed out"), "{err}");
    assert!(env.sim().hostile_requests() <= 4);
}
