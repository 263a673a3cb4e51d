//! End-to-end: the `agentctl` binary against the Taegis GraphQL simulator (assets, stale,
//! uninstall through markForUninstall, API clients, bearer-token auth, tenant context).

mod common;

use agentctl_taegis_sim::{self as sim, RunningSim, SimConfig};
use common::harness::Harness;
use common::{NOW, csv_ids, sorted};
use predicates::prelude::*;
use serde_json::Value;

fn sim_config(fleet: usize) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        now: NOW.parse().unwrap(),
        ..SimConfig::default()
    }
}

/// How the provider authenticates in a test.
enum Auth<'a> {
    /// client_id + client_secret (from the environment).
    ClientCredentials,
    /// A bearer token in a file, as the original script kept it (`Bearer ` prefix and all).
    TokenFile(&'a str),
}

type Tg = Harness<RunningSim>;

impl Tg {
    fn new(cfg: SimConfig) -> Self {
        Self::with(cfg, Auth::ClientCredentials, true)
    }

    fn with(cfg: SimConfig, auth: Auth<'_>, tenant: bool) -> Self {
        let secret = cfg.client_secret.clone();
        Harness::start(sim::start(cfg.clone(), None), |sim, dir| {
            let credentials = match auth {
                Auth::ClientCredentials => format!(
                    "client_id = '{}'\nclient_secret = \"env:TEST_TAEGIS_SECRET\"\n",
                    cfg.client_id
                ),
                Auth::TokenFile(token) => {
                    let path = dir.join("bearer_token.txt");
                    std::fs::write(&path, format!("Bearer {token}\n")).unwrap();
                    format!("token = \"file:{}\"\n", path.display())
                }
            };
            let tenant = if tenant {
                format!("tenant_id = '{}'\n", cfg.tenant_id)
            } else {
                String::new()
            };
            format!(
                "[defaults]\nconcurrency = 8\n\n[providers.tg]\nkind = \"taegis\"\napi_url = \"{}\"\n{credentials}{tenant}",
                sim.base_url(),
            )
        })
        .env("TEST_TAEGIS_SECRET", secret)
    }

    /// Assets of `ids` the console already shows as pending uninstall (skipped by uninstall).
    fn pending(&self, ids: &[String]) -> Vec<String> {
        sorted(
            self.sim()
                .assets()
                .into_iter()
                .filter(|a| a.pending_uninstall && ids.contains(&a.id))
                .map(|a| a.id)
                .collect(),
        )
    }

    /// What filtering the simulator's whole fleet on the client gives.
    fn expected_stale(&self, days: i64) -> Vec<String> {
        let cutoff: jiff::Timestamp =
            NOW.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_hours(24 * days);
        sorted(
            self.sim()
                .assets()
                .iter()
                .filter(|a| a.last_seen_at.is_some_and(|t| t < cutoff))
                .map(|a| a.id.clone())
                .collect(),
        )
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn stale_across_pages_then_uninstall_records_a_request_id_per_agent() {
    let tg = Tg::new(sim_config(1500));
    let plan = tg.path("stale.csv");
    tg.cmd()
        .args(["taegis", "stale", "--days", "30", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = sorted(csv_ids(&std::fs::read_to_string(&plan).unwrap()));
    let expected = tg.expected_stale(30);
    assert!(
        expected.len() > 500,
        "more than one page: {}",
        expected.len()
    );
    assert_eq!(ids, expected);
    assert!(tg.sim().request_count("graphql assetsV2") >= 2);

    // dry run: the mutation per agent, nothing sent
    let out = tg
        .cmd()
        .args([
            "uninstall",
            "--dry-run",
            "--max",
            "2000",
            "-o",
            "csv",
            "--from",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("markForUninstall"));
    assert_eq!(tg.sim().request_count("graphql markForUninstall"), 0);

    let pending = tg.pending(&ids);
    let out = tg
        .cmd()
        .args(["uninstall", "--yes", "--max", "2000", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "{} requested, {} skipped, 0 failed",
            ids.len() - pending.len(),
            pending.len()
        )),
        "{}",
        text(&out.stderr)
    );
    let sent = tg.sim().uninstall_requests();
    let ids: Vec<String> = ids.into_iter().filter(|i| !pending.contains(i)).collect();
    assert_eq!(
        sorted(sent.iter().map(|r| r.endpoint_id.clone()).collect()),
        ids
    );
    // Every agent had its own requestID, and the journal keeps it.
    let mut request_ids: Vec<&str> = sent.iter().map(|r| r.request_id.as_str()).collect();
    request_ids.sort();
    request_ids.dedup();
    assert_eq!(request_ids.len(), ids.len());
    let journal = std::fs::read_to_string(common::only_journal(tg.dir.path())).unwrap();
    for line in journal.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        if entry["outcome"] == "skipped:pending-uninstall" {
            continue;
        }
        let rid = entry["request_id"].as_str().unwrap();
        let agent = entry["agent_id"].as_str().unwrap();
        assert!(
            sent.iter()
                .any(|r| r.request_id == rid && r.endpoint_id == agent),
            "journal requestID {rid} is the one sent for {agent}"
        );
    }
    // Uninstalled agents are no longer stale; those already pending still are.
    let out = tg
        .cmd()
        .args(["taegis", "stale", "--days", "30", "-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(csv_ids(&text(&out.stdout)), pending);
}

#[test]
fn recheck_skips_an_asset_seen_again() {
    let tg = Tg::new(sim_config(200));
    let plan = tg.path("plan.csv");
    tg.cmd()
        .args(["taegis", "stale", "--days", "60", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() > 3);
    let back = &ids[0];
    tg.sim()
        .set_last_seen(back, Some(NOW.parse::<jiff::Timestamp>().unwrap()));
    let out = tg
        .cmd()
        .args(["uninstall", "--yes", "-o", "csv", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.contains(back.as_str()) && l.contains("skipped:seen-again")),
        "{}",
        text(&out.stdout)
    );
    let sent = tg.sim().uninstall_requests();
    assert!(!sent.iter().any(|r| &r.endpoint_id == back));
    let pending = tg.pending(&ids).into_iter().filter(|p| p != back).count();
    assert_eq!(sent.len(), ids.len() - 1 - pending);
}

#[test]
fn clients_every_subcommand_in_both_spellings() {
    let tg = Tg::new(sim_config(10));
    let list = |tg: &Tg| -> Vec<Value> {
        let out = tg
            .cmd()
            .args(["taegis", "clients", "list", "-o", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = list(&tg);
    assert_eq!(before.len(), tg.sim().clients().len());
    for c in &before {
        assert!(c.get("client_secret").is_none(), "list never shows secrets");
    }

    // create through the generic spelling, secret on stdout exactly once
    let out = tg
        .cmd()
        .args([
            "clients",
            "-p",
            "tg",
            "create",
            "ci-export",
            "--role",
            "responder",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let id = created[0]["id"].as_str().unwrap().to_string();
    let secret = created[0]["client_secret"].as_str().unwrap().to_string();
    assert_eq!(text(&out.stdout).matches(&secret).count(), 1);
    assert!(!text(&out.stderr).contains(&secret));
    let stored = tg.sim().clients();
    let new = stored.iter().find(|c| c.id == id).unwrap();
    assert_eq!(new.secret, secret);
    assert_eq!(new.name, "ci-export");

    // an unknown role name is an input error, nothing sent
    let creates = tg.sim().request_count("graphql createClient");
    tg.cmd()
        .args(["taegis", "clients", "create", "x", "--role", "superuser"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("administrator"));
    assert_eq!(tg.sim().request_count("graphql createClient"), creates);

    // get, in every format, never with a secret
    for format in ["table", "csv", "json", "ndjson"] {
        let out = tg
            .cmd()
            .args(["taegis", "clients", "get", &id, "-o", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("ci-export"), "{format}");
        assert!(!text(&out.stdout).contains(&secret), "{format}");
    }

    // rotate --save: a new 0600 file, nothing secret on stdout
    let saved = tg.path("rotated.json");
    let out = tg
        .cmd()
        .args(["taegis", "clients", "rotate", &id, "--save"])
        .arg(&saved)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let new_secret = file["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(!text(&out.stdout).contains(new_secret));
    assert!(text(&out.stdout).contains(&saved.display().to_string()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // an existing --save file is refused before anything is sent
    let rotations = tg.sim().request_count("graphql rotateClientSecret");
    tg.cmd()
        .args(["taegis", "clients", "rotate", &id, "--save"])
        .arg(&saved)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    tg.cmd()
        .args(["taegis", "clients", "create", "again", "--save"])
        .arg(&saved)
        .assert()
        .code(2);
    assert_eq!(
        tg.sim().request_count("graphql rotateClientSecret"),
        rotations
    );
    assert_eq!(tg.sim().request_count("graphql createClient"), creates);

    // delete needs confirmation; an unknown id is a clear error
    tg.cmd()
        .args(["taegis", "clients", "delete", &id])
        .assert()
        .code(2);
    assert_eq!(list(&tg).len(), before.len() + 1);
    tg.cmd()
        .args(["taegis", "clients", "delete", &id, "--yes"])
        .assert()
        .success();
    assert_eq!(list(&tg).len(), before.len());
    tg.cmd()
        .args(["taegis", "clients", "get", &id])
        .assert()
        .failure()
        .stderr(predicate::str::contains("[tg]"));

    // delete-all lists first and needs --yes
    let first_name = before[0]["name"].as_str().unwrap().to_string();
    tg.cmd()
        .args(["taegis", "clients", "delete-all"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(first_name));
    assert_eq!(list(&tg).len(), before.len());
    let out = tg
        .cmd()
        .args(["taegis", "clients", "delete-all", "--yes", "-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Everything but the client agentctl runs on, which is listed as skipped:self.
    let own = tg.sim().config().client_id.clone();
    let left = list(&tg);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["client_id"], own.as_str());
    assert!(text(&out.stdout).contains(&format!(",{own},agentctl,skipped:self")));
    assert_eq!(
        text(&out.stdout).matches(",deleted").count(),
        before.len() - 1
    );
}

#[test]
fn a_secret_issued_with_an_unreadable_answer_is_still_delivered() {
    let tg = Tg::new(SimConfig {
        issued_answer: sim::IssuedAnswer::ClientDropped,
        ..sim_config(3)
    });
    let out = tg
        .cmd()
        .args(["taegis", "clients", "create", "odd", "-o", "json", "-vvv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stored = tg.sim().clients();
    let secret = &stored.iter().find(|c| c.name == "odd").unwrap().secret;
    assert_eq!(text(&out.stdout).matches(secret.as_str()).count(), 1);
    let stderr = text(&out.stderr);
    assert!(
        !stderr.contains(secret.as_str()),
        "never on stderr or in the log"
    );
    assert!(
        stderr.contains("the new secret is valid and was delivered"),
        "{stderr}"
    );
    assert!(stderr.contains("client service did not answer"), "{stderr}");
    // --save: the file gets the secret, exit 1 all the same.
    let id = stored.iter().find(|c| c.name == "odd").unwrap().id.clone();
    let saved = tg.path("odd.json");
    let out = tg
        .cmd()
        .args(["taegis", "clients", "rotate", &id, "--save"])
        .arg(&saved)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let now = tg.sim().clients();
    let secret = &now.iter().find(|c| c.id == id).unwrap().secret;
    assert_eq!(file["client_secret"].as_str(), Some(secret.as_str()));
    assert_eq!(file["id"].as_str(), Some(id.as_str()));
}

#[test]
fn a_ready_bearer_token_from_a_file_works_and_a_wrong_one_is_refused() {
    let cfg = sim_config(50);
    let token = cfg.static_tokens[0].clone();
    let tg = Tg::with(cfg, Auth::TokenFile(&token), true);
    let out = tg
        .cmd()
        .args(["taegis", "list", "-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(csv_ids(&text(&out.stdout)).len(), 50);
    assert_eq!(tg.sim().request_count("POST /auth/api/v2/auth/token"), 0);

    let wrong = Tg::with(
        sim_config(5),
        Auth::TokenFile("not-a-token-anyone-issued"),
        true,
    );
    let out = wrong.cmd().args(["taegis", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("error:") && err.contains("[tg]"), "{err}");
    assert!(err.contains("401"), "{err}");
    assert!(!err.contains("not-a-token-anyone-issued"), "{err}");
}

#[test]
fn a_missing_tenant_is_a_config_error_naming_the_key() {
    let tg = Tg::with(sim_config(5), Auth::ClientCredentials, false);
    tg.cmd()
        .args(["taegis", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("tenant_id"));
    assert_eq!(tg.sim().request_count("POST /graphql"), 0);
}

#[test]
fn a_foreign_tenant_is_refused_with_the_servers_message() {
    let tg = Tg::new(sim_config(5));
    let cfg = std::fs::read_to_string(&tg.config_path).unwrap();
    let tenant = &tg.sim().config().tenant_id;
    std::fs::write(
        &tg.config_path,
        cfg.replace(&format!("tenant_id = '{tenant}'"), "tenant_id = '999999'"),
    )
    .unwrap();
    let out = tg.cmd().args(["taegis", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("[tg]") && err.contains("999999"), "{err}");
}

#[test]
fn throttling_and_server_errors_are_retried_to_success() {
    let mut cfg = sim_config(700);
    cfg.error_rate = 0.15;
    cfg.throttle_rate = 0.1;
    cfg.retry_after_secs = 0;
    // Fewer faults per operation than the client's attempts: the run must always get through.
    cfg.faults_per_path = Some(3);
    let tg = Tg::new(cfg);
    let plan = tg.path("plan.csv");
    let out = tg
        .cmd()
        .args(["taegis", "stale", "--days", "200", "--out"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ids = sorted(csv_ids(&std::fs::read_to_string(&plan).unwrap()));
    assert_eq!(ids, tg.expected_stale(200));
    assert!(ids.len() > 20, "{}", ids.len());
    let pending = tg.pending(&ids).len();
    let out = tg
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&format!(
            "{} requested, {pending} skipped, 0 failed",
            ids.len() - pending
        )),
        "{}",
        text(&out.stderr)
    );
    // The faults really happened (each request draws its fault at random, so assert on the
    // pair: a run of this size without either is vanishingly unlikely, one without a 429 is not).
    assert!(tg.sim().request_count("503") + tg.sim().request_count("429") > 0);
}

#[test]
fn relocate_to_an_endpoint_group_by_name_runs_an_assign_job() {
    let tg = Tg::new(sim_config(8));
    let asset = tg.sim().assets()[3].id.clone();
    let finance = tg
        .sim()
        .groups()
        .into_iter()
        .find(|g| g.name == "Finance")
        .unwrap();
    let out = tg
        .cmd()
        .args([
            "taegis",
            "relocate",
            "--id",
            &asset,
            "--to-group",
            "finance",
            "--yes",
            "-o",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("requested"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(tg.sim().request_count("graphql assignBulkAssetsToGroup"), 1);
    let job = tg.sim().jobs()[0].clone();
    assert_eq!(job.asset_ids, vec![asset.clone()]);
    assert_eq!(job.group_id.as_deref(), Some(finance.id.as_str()));
    let moved = tg
        .sim()
        .assets()
        .into_iter()
        .find(|a| a.id == asset)
        .unwrap();
    assert_eq!(moved.endpoint_group, Some((finance.id, "Finance".into())));
}

#[test]
fn relocate_to_an_unknown_group_lists_the_groups_and_sends_nothing() {
    let tg = Tg::new(sim_config(5));
    let asset = tg.sim().assets()[0].id.clone();
    tg.cmd()
        .args([
            "taegis",
            "relocate",
            "--id",
            &asset,
            "--to-group",
            "Nowhere",
            "--yes",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("Nowhere").and(predicate::str::contains("Finance (")));
    assert_eq!(tg.sim().request_count("graphql assignBulkAssetsToGroup"), 0);
}
