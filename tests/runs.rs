//! End-to-end: runs you can repeat (plan identity, journals, locks, summaries) and the bulk
//! commands `remove`, `restore` and `apply`, against the Secure Endpoint simulator.

mod common;

use common::{Env, csv_ids, sim_config};
use predicates::prelude::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Write a stale plan for `days` and return its path and ids.
fn plan(env: &Env, days: u32, name: &str) -> (std::path::PathBuf, Vec<String>) {
    let path = env.path(name);
    env.cmd()
        .args(["stale", "--days", &days.to_string(), "--out"])
        .arg(&path)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&path).unwrap());
    (path, ids)
}

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
    let (path, ids) = plan(&env, 30, "plan.csv");
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
