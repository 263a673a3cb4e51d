//! End-to-end: `remove`, `restore` and `relocate --to-group` per vendor kind, the binary
//! against each simulator (dry run, exactly-once removal, re-check, resume, soft delete and
//! restore, group moves).

mod common;

use std::time::Duration;

use common::harness::Harness;
use common::{Env, NOW, csv_ids, journal_lines, sim_config, sorted, stderr, stdout};
use jiff::Timestamp;

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

// ----- Secure Endpoint ------------------------------------------------------------------

fn se_guids(env: &Env) -> Vec<String> {
    sorted(
        env.sim()
            .computers()
            .iter()
            .map(|c| c["connector_guid"].as_str().unwrap().to_string())
            .collect(),
    )
}

#[test]
fn secure_endpoint_remove_from_a_plan_deletes_each_record_once_and_skips_one_that_came_back() {
    let env = Env::new(sim_config(150));
    let plan = env.path("plan.csv");
    env.cmd()
        .args(["stale", "--days", "60", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() > 10, "{}", ids.len());

    // Dry run: the DELETE per agent, nothing sent.
    let out = env
        .cmd()
        .args(["remove", "--dry-run", "-o", "csv", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "DELETE {}/v1/computers/{}",
            env.sim().base_url(),
            ids[0]
        )),
        "{text}"
    );
    assert_eq!(env.sim().request_count("DELETE /v1/computers/{guid}"), 0);

    // One agent checked in after the plan was written.
    let back = ids[3].clone();
    env.sim().set_last_seen(&back, Some(now()));
    let journal_path = env.path("remove.jsonl");
    let out = env
        .cmd()
        .args(["remove", "--yes", "-o", "csv", "--journal"])
        .arg(&journal_path)
        .arg("--from")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{} requested, 1 skipped, 0 failed", ids.len() - 1)),
        "{}",
        stderr(&out)
    );
    let left = se_guids(&env);
    for id in &ids {
        assert_eq!(left.contains(id), id == &back, "{id}");
    }
    assert_eq!(
        env.sim().request_count("DELETE /v1/computers/{guid}"),
        ids.len() as u64 - 1,
        "each record deleted exactly once"
    );
    assert!(
        env.sim().uninstall_requests().is_empty(),
        "remove is not uninstall"
    );
    let lines = journal_lines(&journal_path);
    let skipped: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["outcome"] == "skipped:seen-again")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["agent_id"], back.as_str());
    assert!(lines.iter().all(|l| l["action"] == "remove"));

    // The same plan again sends nothing new.
    let out = env
        .cmd()
        .args(["remove", "--yes", "--journal"])
        .arg(&journal_path)
        .arg("--from")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        env.sim().request_count("DELETE /v1/computers/{guid}"),
        ids.len() as u64 - 1
    );
}

#[test]
fn secure_endpoint_remove_resumes_after_an_interruption() {
    let env = Env::new(agentctl_secure_endpoint::sim::SimConfig {
        latency: Duration::from_millis(60),
        ..sim_config(120)
    });
    let plan = env.path("plan.csv");
    env.cmd()
        .args(["stale", "--days", "30", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() > 40, "{}", ids.len());
    let journal_path = env.path("remove.jsonl");
    let mut child = env
        .std_cmd()
        .args(["remove", "--yes", "--no-progress", "--journal"])
        .arg(&journal_path)
        .arg("--from")
        .arg(&plan)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once some, not all, agents are done.
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let done = std::fs::read_to_string(&journal_path)
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if done >= 5 || started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let first = journal_lines(&journal_path).len();
    assert!(first >= 5 && first < ids.len(), "{first} of {}", ids.len());

    let out = env
        .cmd()
        .args(["remove", "--yes", "--journal"])
        .arg(&journal_path)
        .arg("--from")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("done earlier"), "{}", stderr(&out));
    let left = se_guids(&env);
    assert!(ids.iter().all(|id| !left.contains(id)));
    // At most the requests in flight at the interruption were sent twice (concurrency 4).
    let deletes = env.sim().request_count("DELETE /v1/computers/{guid}");
    assert!(
        deletes >= ids.len() as u64 && deletes <= ids.len() as u64 + 4,
        "{deletes} DELETEs for {} agents",
        ids.len()
    );
}

// ----- Secure Access --------------------------------------------------------------------

type Sa = Harness<agentctl_secure_access::sim::RunningSim>;

fn sa(fleet: usize) -> Sa {
    common::harness::secure_access(
        agentctl_secure_access::sim::SimConfig {
            fleet_size: fleet,
            now: now(),
            quotas: agentctl_core::ratelimit::RateLimitSpec::off(),
            token_quotas: agentctl_core::ratelimit::RateLimitSpec::off(),
            ..agentctl_secure_access::sim::SimConfig::default()
        },
        "concurrency = 4",
    )
}

#[test]
fn secure_access_remove_from_a_plan_deletes_the_records_and_resumes() {
    let sa = sa(60);
    let plan = sa.path("plan.csv");
    sa.cmd()
        .args(["stale", "--days", "60", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() > 5);
    let out = sa
        .cmd()
        .args(["remove", "--dry-run", "-o", "csv", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("DELETE "), "{}", stdout(&out));
    assert!(sa.sim().deleted().is_empty());

    let back = ids[1].clone();
    sa.sim().set_last_sync(&back, Some(now()));
    let journal_path = sa.path("remove.jsonl");
    let run = || {
        sa.cmd()
            .args(["remove", "--yes", "--journal"])
            .arg(&journal_path)
            .arg("--from")
            .arg(&plan)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut removed = sa.sim().deleted();
    removed.sort();
    let expected: Vec<String> = ids.iter().filter(|i| **i != back).cloned().collect();
    assert_eq!(removed, expected);
    // Again: nothing is sent twice.
    assert!(run().status.success());
    assert_eq!(sa.sim().deleted().len(), expected.len());
    assert!(
        journal_lines(&journal_path)
            .iter()
            .any(|l| l["agent_id"] == back.as_str() && l["outcome"] == "skipped:seen-again")
    );
}

// ----- Taegis -----------------------------------------------------------------------------

type Tg = Harness<agentctl_taegis_sim::RunningSim>;

fn tg(cfg: agentctl_taegis_sim::SimConfig) -> Tg {
    common::harness::taegis(cfg, "concurrency = 8")
}

fn tg_cfg(fleet: usize) -> agentctl_taegis_sim::SimConfig {
    agentctl_taegis_sim::SimConfig {
        fleet_size: fleet,
        now: now(),
        ..agentctl_taegis_sim::SimConfig::default()
    }
}

#[test]
fn taegis_remove_soft_deletes_the_plan_and_restore_from_its_journal_brings_it_back() {
    let tg = tg(tg_cfg(80));
    let before: Vec<String> = tg.sim().assets().into_iter().map(|a| a.id).collect();
    let plan = tg.path("plan.csv");
    tg.cmd()
        .args(["taegis", "stale", "--days", "60", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() > 10, "{}", ids.len());

    let out = tg
        .cmd()
        .args(["remove", "--dry-run", "-o", "csv", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("deleteAssetsV2"), "{}", stdout(&out));
    assert_eq!(tg.sim().request_count("graphql deleteAssetsV2"), 0);

    let back = ids[2].clone();
    tg.sim().set_last_seen(&back, Some(now()));
    let journal_path = tg.path("remove.jsonl");
    let out = tg
        .cmd()
        .args(["remove", "--yes", "--journal"])
        .arg(&journal_path)
        .arg("--from")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let deleted: Vec<String> = sorted(
        tg.sim()
            .deleted_assets()
            .into_iter()
            .map(|a| a.id)
            .collect(),
    );
    let expected: Vec<String> = ids.iter().filter(|i| **i != back).cloned().collect();
    assert_eq!(
        deleted, expected,
        "exactly the plan, minus the one that came back"
    );
    let lines = journal_lines(&journal_path);
    let jobs: Vec<String> = tg.sim().jobs().into_iter().map(|j| j.id).collect();
    for l in lines.iter().filter(|l| l["outcome"] == "requested") {
        let rid = l["request_id"].as_str().expect("the job id is journaled");
        assert!(jobs.iter().any(|j| j == rid), "{rid}");
    }

    // Restore what that run removed, from its journal.
    let out = tg
        .cmd()
        .args(["restore", "--yes", "--journal"])
        .arg(tg.path("restore.jsonl"))
        .arg("--from")
        .arg(&journal_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{} requested, 0 skipped, 0 failed",
            expected.len()
        )),
        "{}",
        stderr(&out)
    );
    assert!(tg.sim().deleted_assets().is_empty());
    let after: Vec<String> = tg.sim().assets().into_iter().map(|a| a.id).collect();
    assert_eq!(after, before, "every asset back, in its place");
    assert!(tg.sim().request_count("graphql restoreAssetsV2") >= 1);
}

// ----- Apex Central -----------------------------------------------------------------------

#[test]
fn apex_central_remove_says_why_not_in_one_line_and_sends_nothing() {
    let apex = common::harness::apex_central(agentctl_apex_central::sim::SimConfig::default(), "");
    let id = apex.sim().agents()[0]["entity_id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = apex
        .cmd()
        .args(["apex", "remove", "--id", &id, "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("no call that deletes an agent's registration"),
        "{err}"
    );
    assert_eq!(apex.sim().request_count("POST ProductAgents"), 0);
}
