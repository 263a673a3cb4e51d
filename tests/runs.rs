//! End-to-end: runs you can repeat (plan identity, journals, locks, summaries) and the bulk
//! commands `remove`, `restore` and `apply`, against the Secure Endpoint simulator.

mod common;

use agentctl_secure_endpoint::sim::SimConfig;
use common::{Env, csv_ids, journal_lines, sim_config, stale_plan, stderr, stdout};
use predicates::prelude::*;

/// A host name the fleet has registered more than once (a re-imaged twin), with its ids.
fn twin(env: &Env) -> (String, Vec<String>) {
    let computers = env.sim().computers();
    let mut by_host: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for c in &computers {
        by_host
            .entry(c["hostname"].as_str().unwrap().to_string())
            .or_default()
            .push(c["connector_guid"].as_str().unwrap().to_string());
    }
    by_host
        .into_iter()
        .find(|(_, ids)| ids.len() > 1)
        .expect("the fleet has re-imaged twins")
}

#[test]
fn exact_host_matching_several_agents_is_refused_unless_allowed() {
    let env = Env::new(sim_config(300));
    let (host, ids) = twin(&env);
    for verb in ["uninstall", "relocate"] {
        let out = env
            .cmd()
            .args(["-p", "se", verb, "--host", &host, "--yes"])
            .args(if verb == "relocate" {
                &["--to-server", "Audit"][..]
            } else {
                &[][..]
            })
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{verb}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("duplicate registrations"), "{err}");
        for id in &ids {
            assert!(err.contains(id.as_str()), "{verb} lists {id}: {err}");
        }
        assert!(err.contains("--allow-multiple"), "{err}");
    }
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
    // The same name as a glob, or with --allow-multiple, selects every registration.
    for extra in [vec!["--allow-multiple"], vec![]] {
        let pattern = if extra.is_empty() {
            format!("{host}*")
        } else {
            host.clone()
        };
        let mut args = vec![
            "-p",
            "se",
            "uninstall",
            "--host",
            &pattern,
            "--dry-run",
            "-o",
            "csv",
        ];
        args.extend(extra.iter().copied());
        let out = env.cmd().args(&args).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        for id in &ids {
            assert!(text.contains(id.as_str()), "{text}");
        }
    }
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
}

#[test]
fn restore_where_the_vendor_cannot_says_so_in_one_line() {
    let env = Env::new(sim_config(100));
    let (path, ids) = stale_plan(&env, 30, "plan.csv");
    let out = env
        .cmd()
        .args(["restore", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("se") && err.contains("no restore"), "{err}");
    assert!(
        err.contains(&format!("{} agent(s) not sent", ids.len())),
        "{err}"
    );

    // From a remove run's journal: exactly the agents that run removed.
    let journal = env.path("remove.jsonl");
    let line = |id: &str, action: &str, outcome: &str| {
        format!(
            r#"{{"ts":"2026-11-20T10:00:00Z","provider":"se","agent_id":"{id}","action":"{action}","outcome":"{outcome}","detail":""}}"#
        )
    };
    std::fs::write(
        &journal,
        [
            line(&ids[0], "remove", "requested"),
            line(&ids[1], "remove", "failed:http-500"),
            line(&ids[2], "uninstall", "requested"),
            line(&ids[3], "remove", "requested"),
            line(&ids[0], "remove", "requested"),
        ]
        .join("\n"),
    )
    .unwrap();
    env.cmd()
        .args(["restore", "--yes", "--from"])
        .arg(&journal)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("(2 agent(s) not sent)"));
    assert_eq!(env.sim().request_count("PUT uninstall_request"), 0);
}

fn run_ok(env: &Env, args: &[&str], path: &std::path::Path) -> std::process::Output {
    let out = env.cmd().args(args).arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}\n{}",
        stderr(&out),
        stdout(&out)
    );
    out
}

#[test]
fn same_plan_resumes_a_new_plan_under_the_same_name_gets_a_fresh_journal() {
    let env = Env::new(sim_config(300));
    let (path, first) = stale_plan(&env, 120, "plan.csv");
    assert!(!first.is_empty());
    run_ok(&env, &["uninstall", "--yes", "--from"], &path);
    assert_eq!(common::sorted(env.sim().uninstall_requests()), first);
    // The same plan again: resumed, nothing sent.
    let again = run_ok(&env, &["uninstall", "--yes", "--from"], &path);
    assert!(
        stderr(&again).contains(&format!("resuming: {} agent(s) already done", first.len())),
        "{}",
        stderr(&again)
    );
    assert_eq!(env.sim().uninstall_requests().len(), first.len());
    // Re-saving the same plan as JSON (another format, other column order) is the same plan.
    let json_plan = env.path("plan.json");
    let csv_text = std::fs::read_to_string(&path).unwrap();
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let rows: Vec<serde_json::Value> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            serde_json::json!({"agent_id": &r[2], "provider": &r[0], "hostname": &r[3]})
        })
        .collect();
    std::fs::write(&json_plan, serde_json::to_string(&rows).unwrap()).unwrap();
    let as_json = run_ok(&env, &["uninstall", "--yes", "--from"], &json_plan);
    assert!(
        stderr(&as_json).contains("resuming:"),
        "{}",
        stderr(&as_json)
    );
    assert_eq!(common::journals(env.dir.path()).len(), 1);

    // Next night: more agents went stale; the plan is written to the same file name.
    let (_, second) = stale_plan(&env, 60, "plan.csv");
    assert!(!second.is_empty());
    assert!(
        second.iter().all(|id| !first.contains(id)),
        "first ones were uninstalled"
    );
    let out = run_ok(&env, &["uninstall", "--yes", "--from"], &path);
    assert!(!stderr(&out).contains("resuming"), "{}", stderr(&out));
    assert_eq!(
        common::sorted(env.sim().uninstall_requests()),
        common::sorted(first.iter().chain(&second).cloned().collect())
    );
    assert_eq!(common::journals(env.dir.path()).len(), 2, "a fresh journal");
}

#[test]
fn an_id_run_resumes_too() {
    let env = Env::new(sim_config(60));
    let id = env.expected_stale(30)[0].clone();
    for _ in 0..2 {
        env.cmd()
            .args(["uninstall", "--yes", "-p", "se", "--id", &id])
            .assert()
            .success();
    }
    assert_eq!(env.sim().uninstall_requests(), vec![id]);
    assert_eq!(common::journals(env.dir.path()).len(), 1);
}

#[test]
fn dry_run_reads_the_journal_and_claims_nothing_after_a_finished_run() {
    let env = Env::new(sim_config(200));
    let (path, mut ids) = stale_plan(&env, 60, "plan.csv");
    // One agent disappears behind the plan's back: the dry run's bulk re-check sees it.
    let gone = ids.remove(0);
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
    let before = run_ok(
        &env,
        &["uninstall", "--dry-run", "-o", "csv", "--from"],
        &path,
    );
    let text = stdout(&before);
    assert_eq!(
        text.lines().filter(|l| l.contains(",would-send,")).count(),
        ids.len(),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(gone.as_str()) && l.contains(",skip:gone,")),
        "{text}"
    );
    run_ok(&env, &["uninstall", "--yes", "--from"], &path);
    let sent = env.sim().uninstall_requests().len();
    let after = run_ok(
        &env,
        &["uninstall", "--dry-run", "-o", "csv", "--from"],
        &path,
    );
    let text = stdout(&after);
    assert_eq!(
        text.lines().filter(|l| l.contains(",skip:done,")).count(),
        ids.len() + 1,
        "{text}"
    );
    assert!(!text.contains("would-send"), "{text}");
    assert!(
        stderr(&after).contains("would uninstall 0 agent(s)"),
        "{}",
        stderr(&after)
    );
    assert_eq!(env.sim().uninstall_requests().len(), sent, "nothing sent");
}

#[test]
fn a_second_concurrent_run_exits_2_naming_the_holder_and_nothing_is_sent_twice() {
    let mut cfg = sim_config(300);
    cfg.latency = std::time::Duration::from_millis(30);
    let env = Env::new(cfg);
    let (path, ids) = stale_plan(&env, 30, "plan.csv");
    let mut first = env
        .std_cmd()
        .args(["uninstall", "--yes", "-q", "--from"])
        .arg(&path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while env.sim().uninstall_requests().is_empty() {
        assert!(std::time::Instant::now() < deadline, "never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let second = env
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains(&format!("pid {}", first.id())),
        "{}",
        stderr(&second)
    );
    assert!(first.wait().unwrap().success());
    let sent = env.sim().uninstall_requests();
    assert_eq!(common::sorted(sent.clone()), ids, "each agent exactly once");
    // With --wait the second run queues behind the first, then finds everything done.
    env.cmd()
        .args(["uninstall", "--yes", "--wait", "--from"])
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains("nothing left to do"));
}

#[test]
fn failed_file_is_current_and_gone_after_a_clean_rerun() {
    // A tenant that revokes every v3 token: every uninstall request fails with 401.
    let mut broken = sim_config(120);
    broken.revoke_tokens_every = Some(1);
    let org = broken.organizations[0].1.clone();
    let extra = format!("organization_id = \"{org}\"");
    let env = Env::with_extra(broken, &extra);
    let (path, ids) = stale_plan(&env, 200, "plan.csv");
    assert!(!ids.is_empty());
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let failed = env.path("plan.csv.failed.csv");
    let text = std::fs::read_to_string(&failed).unwrap();
    assert!(text.starts_with("provider,kind,agent_id,hostname,last_seen,action,error,run\n"));
    assert_eq!(csv_ids(&text), ids);
    let journal = common::only_journal(env.dir.path());
    let run = journal_lines(&journal)[0]["run"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(text.lines().skip(1).all(|l| l.ends_with(&run)), "{text}");

    // The same tenant, healthy again (same fleet), same state dir: the retry succeeds and
    // the failed file disappears.
    let healthy = Env::with_extra(sim_config(120), &extra);
    let out = healthy
        .cmd()
        .env("XDG_STATE_HOME", env.dir.path().join("xdg-state"))
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!failed.exists(), "{}", stderr(&out));
    assert!(stderr(&out).contains("removed"), "{}", stderr(&out));
    assert_eq!(common::sorted(healthy.sim().uninstall_requests()), ids);
}

#[test]
fn a_closed_stdout_stops_the_run_with_a_complete_journal() {
    let mut cfg = sim_config(400);
    cfg.latency = std::time::Duration::from_millis(15);
    let env = Env::new(cfg);
    let (path, ids) = stale_plan(&env, 20, "plan.csv");
    assert!(ids.len() > 40, "{}", ids.len());
    let mut child = env
        .std_cmd()
        .args(["uninstall", "--yes", "-o", "csv", "--from"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -n 3`: read the header and two rows, then close the pipe.
    {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        for _ in 0..3 {
            lines.next().unwrap().unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("broken pipe"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let sent = common::sorted(env.sim().uninstall_requests());
    assert!(sent.len() < ids.len(), "stopped early: {}", sent.len());
    let journaled: Vec<String> = common::sorted(
        journal_lines(&common::only_journal(env.dir.path()))
            .iter()
            .filter(|e| e["outcome"] == "requested")
            .map(|e| e["agent_id"].as_str().unwrap().to_string())
            .collect(),
    );
    assert_eq!(journaled, sent, "every request sent is journaled");
    // Resuming finishes the rest, once each.
    run_ok(&env, &["uninstall", "--yes", "--from"], &path);
    assert_eq!(common::sorted(env.sim().uninstall_requests()), ids);
}

#[test]
fn an_unwritable_stderr_never_panics_and_overflowing_inputs_are_handled() {
    let env = Env::new(sim_config(50));
    let (path, _) = stale_plan(&env, 30, "plan.csv");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    for args in [
        vec!["stale", "--days", "4294967295"],
        vec!["list", "-v"],
        vec!["uninstall", "--yes", "--from", path.to_str().unwrap()],
        vec!["uninstall", "--from", path.to_str().unwrap()],
        vec!["-p", "nope", "list"],
        vec!["runs"],
    ] {
        let out = env
            .std_cmd()
            .args(&args)
            .stderr(full.try_clone().unwrap())
            .output()
            .unwrap();
        assert_ne!(out.status.code(), Some(101), "{args:?} panicked");
        assert!(out.status.code().is_some(), "{args:?} killed by a signal");
    }
    let out = env
        .cmd()
        .args(["stale", "--days", "4294967295", "-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "nothing is that stale");
    // Settings too large to honour are config errors naming the key, not panics or hangs.
    for (extra, key) in [
        ("concurrency = 5000", "concurrency"),
        ("rate_limit = \"2/4000000d\"", "rate_limit"),
    ] {
        let bad = Env::with_extra(sim_config(5), extra);
        let out = bad.cmd().args(["list"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{extra}: {}", stderr(&out));
        assert!(stderr(&out).contains(key), "{}", stderr(&out));
    }
}

#[test]
fn rerequest_after_the_window_when_still_present_and_unseen() {
    let mut cfg = sim_config(150);
    cfg.uninstall_removes_computer = false;
    let env = Env::new(cfg);
    let (path, ids) = stale_plan(&env, 60, "plan.csv");
    assert!(ids.len() >= 3);
    run_ok(&env, &["uninstall", "--yes", "--from"], &path);
    let journal = common::only_journal(env.dir.path());
    // Pretend the requests were sent eight days before the pinned now; one agent checked
    // in after its request (it got the request, nothing to re-send).
    let text = std::fs::read_to_string(&journal).unwrap();
    let old = "2026-11-15T12:00:00Z";
    let rewritten: Vec<String> = text
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["ts"] = serde_json::json!(old);
            v.to_string()
        })
        .collect();
    std::fs::write(&journal, rewritten.join("\n") + "\n").unwrap();
    env.sim()
        .set_last_seen(&ids[0], Some("2026-11-16T00:00:00Z".parse().unwrap()));
    // Inside the window (10 days): nothing sent again.
    let out = run_ok(
        &env,
        &["uninstall", "--yes", "--rerequest-after", "10", "--from"],
        &path,
    );
    assert!(
        stderr(&out).contains("nothing left to do"),
        "{}",
        stderr(&out)
    );
    assert_eq!(env.sim().uninstall_requests().len(), ids.len());
    // The default window (7 days) has passed: every agent still there and unseen is asked
    // again; the one that checked in is not.
    let summary = env.path("s.json");
    let out = run_ok(
        &env,
        &[
            "uninstall",
            "--yes",
            "--summary",
            summary.to_str().unwrap(),
            "-o",
            "csv",
            "--from",
        ],
        &path,
    );
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{} re-requested", ids.len() - 1)),
        "{err}"
    );
    let sent = env.sim().uninstall_requests();
    assert_eq!(sent.len(), ids.len() * 2 - 1);
    assert_eq!(sent.iter().filter(|s| *s == &ids[0]).count(), 1);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["rerequested"], ids.len() - 1);
    assert!(
        stdout(&out)
            .lines()
            .any(|l| l.contains(&ids[0]) && l.contains("skipped:seen-again"))
    );
}

#[test]
fn list_and_stale_order_is_stable_and_byte_identical() {
    let env = Env::new(sim_config(700));
    let run = |args: &[&str]| {
        let out = env.cmd().args(args).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        out.stdout
    };
    for args in [
        &["list", "-o", "csv"][..],
        &["stale", "--days", "30", "-o", "csv"][..],
        &["list", "-o", "json"][..],
    ] {
        let a = run(args);
        let b = run(args);
        assert_eq!(a, b, "{args:?}");
        // Sorting in runs spilled to temporary files (a large fleet) gives the same bytes.
        let out = env
            .cmd()
            .env("AGENTCTL_SPILL_BUDGET", "20000")
            .arg("-v")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stderr(&out).contains("runs spilled to temporary files"));
        assert_eq!(a, out.stdout, "{args:?} sorted through spill files");
    }
    let text = String::from_utf8(run(&["list", "-o", "csv"])).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let keys: Vec<(String, String, String)> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[3].to_lowercase(), r[2].to_string())
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "provider, then hostname, then agent id");
}

#[test]
fn runs_runs_show_and_summary() {
    let env = Env::new(sim_config(150));
    let (path, ids) = stale_plan(&env, 60, "plan.csv");
    let summary = env.path("summary.json");
    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--summary"])
        .arg(&summary)
        .arg("--from")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["command"], "uninstall");
    assert_eq!(s["status"], "finished");
    assert_eq!(s["agents"], ids.len());
    assert_eq!(s["counts"]["requested"], ids.len());
    assert_eq!(s["providers"]["se"]["kind"], "secure-endpoint");
    assert_eq!(s["providers"]["se"]["counts"]["requested"], ids.len());
    // Secure Endpoint re-checks a plan this size from one listing, not one request per agent.
    assert_eq!(
        s["providers"]["se"]["recheck"],
        format!("bulk (1 call(s) for {} agents)", ids.len())
    );
    assert!(s["duration_secs"].as_f64().unwrap() >= 0.0);
    assert_eq!(s["failures"], serde_json::json!([]));
    let digest = s["digest"].as_str().unwrap().to_string();
    let journal = common::only_journal(env.dir.path());
    assert_eq!(s["journal"], journal.to_str().unwrap());
    assert!(journal.to_str().unwrap().contains(&digest));
    // A second, resumed run.
    env.cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&path)
        .assert()
        .success();

    let out = env.cmd().args(["runs", "-o", "json"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["digest"], digest.as_str());
    assert_eq!(runs[0]["requested"], ids.len());
    assert_eq!(runs[0]["status"], "finished");
    assert_eq!(runs[1]["requested"], 0);
    assert_eq!(runs[1]["done_earlier"], ids.len());
    assert_eq!(runs[1]["journal"], journal.to_str().unwrap());
    let csv_runs = env.cmd().args(["runs", "-o", "csv"]).output().unwrap();
    assert!(stdout(&csv_runs).starts_with("run,command,digest,status,started,ended,duration_secs,agents,requested,skipped,failed,done_earlier,journal\n"));

    for what in [
        digest.clone(),
        journal.to_str().unwrap().to_string(),
        s["run"].as_str().unwrap().to_string(),
    ] {
        let out = env
            .cmd()
            .args(["runs", "show", &what, "-o", "csv"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with(
                "ts,run,provider,agent_id,hostname,action,outcome,detail,request_id\n"
            ),
            "{text}"
        );
        assert_eq!(text.lines().count(), ids.len() + 1, "{what}: {text}");
        assert_eq!(csv_ids(&text), ids);
    }
    let nd = env
        .cmd()
        .args(["runs", "show", &digest, "-o", "ndjson"])
        .output()
        .unwrap();
    let first: serde_json::Value =
        serde_json::from_str(stdout(&nd).lines().next().unwrap()).unwrap();
    assert_eq!(first["outcome"], "requested");
    env.cmd()
        .args(["runs", "show", "0000000000000000"])
        .assert()
        .code(2);
}

#[test]
fn min_agents_refuses_a_listing_that_looks_truncated() {
    let env = Env::new(sim_config(40));
    let out_path = env.path("plan.csv");
    let out = env
        .cmd()
        .args(["stale", "--days", "30", "--min-agents", "41", "--out"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("se listed 40 agent(s), fewer than the minimum 41"),
        "{}",
        stderr(&out)
    );
    assert!(!out_path.exists(), "no plan written");
    env.cmd()
        .args(["stale", "--days", "30", "--min-agents", "40", "--out"])
        .arg(&out_path)
        .assert()
        .success();
    assert!(out_path.exists());
    // The same from the provider's config.
    let cfg_env = Env::with_extra(sim_config(40), "min_agents = 1000");
    cfg_env
        .cmd()
        .args(["stale", "--days", "30"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("fewer than the minimum 1000"));
}

#[test]
fn a_listing_short_of_the_vendors_own_total_is_not_a_plan() {
    // The second page (offset 500) comes back one computer short while the envelope's
    // total still counts it: the rows disagree with the vendor's own total.
    let env = Env::new(SimConfig {
        short_page_at: Some(500),
        ..sim_config(1200)
    });
    let out_path = env.path("plan.csv");
    let out = env
        .cmd()
        .args(["stale", "--days", "30", "--out"])
        .arg(&out_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("se reports 1200 agent(s) but its pages held 1199"),
        "{}",
        stderr(&out)
    );
    assert!(!out_path.exists(), "no plan written");
    // `list` checks it when a minimum is configured (it streams otherwise).
    let cfg_env = Env::with_extra(
        SimConfig {
            short_page_at: Some(500),
            ..sim_config(1200)
        },
        "min_agents = 1",
    );
    cfg_env
        .cmd()
        .args(["list", "-o", "csv"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "reports 1200 agent(s) but its pages held 1199",
        ));
    // A whole listing passes.
    let whole = Env::new(sim_config(1200));
    whole
        .cmd()
        .args(["stale", "--days", "30", "--out"])
        .arg(whole.path("plan.csv"))
        .assert()
        .success();
}

#[test]
fn action_auto_picks_uninstall_within_the_window_and_remove_beyond() {
    let env = Env::new(sim_config(60));
    let now = common::now();
    let ids: Vec<String> = env
        .sim()
        .computers()
        .iter()
        .take(3)
        .map(|c| c["connector_guid"].as_str().unwrap().to_string())
        .collect();
    let day = jiff::SignedDuration::from_hours(24);
    // Exactly 90 days: within the window. One second more: beyond. 100 days: beyond.
    env.sim().set_last_seen(&ids[0], Some(now - day * 90));
    env.sim().set_last_seen(
        &ids[1],
        Some(now - day * 90 - jiff::SignedDuration::from_secs(1)),
    );
    env.sim().set_last_seen(&ids[2], Some(now - day * 100));
    let out = env
        .cmd()
        .args(["stale", "--days", "30", "--action", "auto", "-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // stale's cross-console columns come after group, the plan's action last.
    assert!(text.starts_with("provider,kind,agent_id,hostname,last_seen,days_since_seen,os,agent_version,ip_addresses,group,seen_elsewhere,seen_elsewhere_in,match,action\n"));
    let action_of = |id: &str| {
        text.lines()
            .find(|l| l.contains(id))
            .and_then(|l| l.rsplit(',').next())
            .unwrap()
            .to_string()
    };
    assert_eq!(action_of(&ids[0]), "uninstall");
    assert_eq!(action_of(&ids[1]), "remove");
    assert_eq!(action_of(&ids[2]), "remove");
    let narrow = env
        .cmd()
        .args([
            "stale",
            "--days",
            "30",
            "--action",
            "auto",
            "--uninstall-within",
            "100",
            "-o",
            "csv",
        ])
        .output()
        .unwrap();
    let text = stdout(&narrow);
    assert!(
        text.lines()
            .any(|l| l.contains(&ids[2]) && l.ends_with(",uninstall"))
    );
    // Without --action there is no action column.
    let plain = env
        .cmd()
        .args(["stale", "--days", "30", "-o", "csv"])
        .output()
        .unwrap();
    assert!(
        stdout(&plain)
            .lines()
            .next()
            .unwrap()
            .ends_with(",group,seen_elsewhere,seen_elsewhere_in,match")
    );
}

#[test]
fn apply_runs_each_rows_action_in_one_run_one_journal_one_summary() {
    let mut cfg = sim_config(200);
    cfg.uninstall_removes_computer = false;
    let env = Env::new(cfg);
    let (path, ids) = stale_plan(&env, 30, "plan.csv");
    assert!(ids.len() >= 6);
    // Mark half the rows relocate, half uninstall (an edited, reviewed plan).
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut mixed = format!("{header},action\n");
    let (mut moved, mut uninstalled) = (Vec::new(), Vec::new());
    for (i, l) in lines.enumerate() {
        let id = l.split(',').nth(2).unwrap().to_string();
        let action = if i % 2 == 0 {
            moved.push(id);
            "relocate"
        } else {
            uninstalled.push(id);
            "uninstall"
        };
        mixed.push_str(&format!("{l},{action}\n"));
    }
    let mixed_path = env.path("mixed.csv");
    std::fs::write(&mixed_path, mixed).unwrap();
    // Relocate rows need a destination; nothing is sent without one.
    env.cmd()
        .args(["apply", "--yes", "--from"])
        .arg(&mixed_path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--to-server"));
    let dry = env
        .cmd()
        .args([
            "apply",
            "--dry-run",
            "--to-group",
            "Audit",
            "-o",
            "csv",
            "--from",
        ])
        .arg(&mixed_path)
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert_eq!(
        stdout(&dry)
            .lines()
            .filter(|l| l.contains(",relocate,would-send,PATCH "))
            .count(),
        moved.len()
    );
    assert_eq!(
        stdout(&dry)
            .lines()
            .filter(|l| l.contains(",uninstall,would-send,PUT "))
            .count(),
        uninstalled.len()
    );
    let summary = env.path("s.json");
    let out = env
        .cmd()
        .args(["apply", "--yes", "--to-group", "Audit", "--summary"])
        .arg(&summary)
        .arg("--from")
        .arg(&mixed_path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        common::sorted(env.sim().uninstall_requests()),
        common::sorted(uninstalled.clone())
    );
    assert_eq!(
        env.sim().request_count("PATCH /v1/computers/{guid}") as usize,
        moved.len()
    );
    let journal = common::only_journal(env.dir.path());
    assert!(journal.to_str().unwrap().ends_with("-apply.jsonl"));
    let entries = journal_lines(&journal);
    assert_eq!(entries.len(), ids.len());
    assert_eq!(
        entries.iter().filter(|e| e["action"] == "relocate").count(),
        moved.len()
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["command"], "apply");
    assert_eq!(s["counts"]["requested"], ids.len());
    // `uninstall --from` the same plan overrides the column: every row is an uninstall.
    let dry = env
        .cmd()
        .args(["uninstall", "--dry-run", "-o", "csv", "--from"])
        .arg(&mixed_path)
        .output()
        .unwrap();
    assert!(!stdout(&dry).contains(",relocate,"));
}
