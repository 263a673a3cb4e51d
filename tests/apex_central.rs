//! End-to-end: the `agentctl` binary against the Apex Central simulator (signed requests,
//! servers, relocate, uninstall).

mod common;

use agentctl_apex_central::sim::{FIXED_CLIENT, FIXED_NOT_RELOCATABLE, RunningSim, SimConfig};
use common::harness::Harness;
use common::{csv_ids, sorted};
use predicates::prelude::*;
use serde_json::Value;

type Apex = Harness<RunningSim>;

impl Apex {
    fn new() -> Self {
        common::harness::apex_central(SimConfig::default(), "")
    }

    fn server_id(&self, host: &str) -> String {
        self.sim()
            .servers()
            .into_iter()
            .find(|s| s["host_name"] == host)
            .map(|s| s["entity_id"].as_str().unwrap().to_string())
            .unwrap()
    }

    fn ids_of(&self, host: &str) -> Vec<String> {
        sorted(
            self.sim()
                .agents()
                .iter()
                .filter(|a| a["host_name"] == host)
                .map(|a| a["entity_id"].as_str().unwrap().to_string())
                .collect(),
        )
    }

    fn relocations(&self) -> Vec<Value> {
        self.sim()
            .actions()
            .into_iter()
            .filter(|a| a["act"] == "cmd_relocate_agent")
            .collect()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn relocate_by_host_to_a_server_named_by_host_name() {
    let apex = Apex::new();
    let target = apex.server_id("ApexOne02");
    let out = apex
        .cmd()
        .args([
            "apex",
            "relocate",
            "--host",
            FIXED_CLIENT,
            "--to-server",
            "ApexOne02",
            "--folder",
            "\\NewDomain\\NewFolder",
            "--yes",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 requested, 0 skipped, 0 failed"));
    let moves = apex.relocations();
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0]["relocate_to_server_id"], target.as_str());
    assert_eq!(
        moves[0]["relocate_to_folder_path"],
        "\\NewDomain\\NewFolder"
    );
    assert_eq!(moves[0]["allow_multiple_match"], false);
    assert_eq!(
        moves[0]["entity_ids"][0],
        apex.ids_of(FIXED_CLIENT)[0].as_str()
    );
}

#[test]
fn dry_run_sends_no_post_and_shows_the_body() {
    let apex = Apex::new();
    let out = apex
        .cmd()
        .args([
            "apex",
            "relocate",
            "--host",
            "ws-*",
            "--to-server",
            "ApexOne01",
            "--folder",
            "\\Moved",
            "--dry-run",
            "-o",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("POST ") && stdout.contains("cmd_relocate_agent"),
        "{stdout}"
    );
    assert_eq!(apex.sim().request_count("POST ProductAgents"), 0);
}

#[test]
fn unknown_or_ambiguous_servers_are_refused_with_the_list() {
    let apex = Apex::new();
    let edges: Vec<String> = apex
        .sim()
        .servers()
        .iter()
        .filter(|s| s["host_name"] == "apex-edge")
        .map(|s| s["entity_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(edges.len(), 2);
    let relocate_to = |server: &str| {
        apex.cmd()
            .args([
                "apex",
                "relocate",
                "--host",
                FIXED_CLIENT,
                "--to-server",
                server,
                "--folder",
                "\\X",
                "--yes",
            ])
            .assert()
    };
    relocate_to("apex-edge").code(2).stderr(
        predicate::str::contains("ambiguous")
            .and(predicate::str::contains(edges[0].as_str()))
            .and(predicate::str::contains(edges[1].as_str())),
    );
    relocate_to("NoSuchServer")
        .code(2)
        .stderr(predicate::str::contains("ApexOne01").and(predicate::str::contains("ApexOne02")));
    assert_eq!(apex.sim().request_count("POST ProductAgents"), 0);
    // The ambiguous name works by id, and `relocate -p` works like the namespace.
    apex.cmd()
        .args([
            "relocate",
            "-p",
            "apex",
            "--id",
            &apex.ids_of(FIXED_CLIENT)[0],
            "--to-server",
            &edges[1],
            "--folder",
            "\\X",
            "--yes",
        ])
        .assert()
        .success();
    assert_eq!(
        apex.relocations()[0]["relocate_to_server_id"],
        edges[1].as_str()
    );
}

#[test]
fn relocate_and_uninstall_from_a_plan_file() {
    let apex = Apex::new();
    let plan = apex.path("hr.csv");
    apex.cmd()
        .args(["apex", "list", "--host", "ws-hr*", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() >= 3, "{ids:?}");
    let out = apex
        .cmd()
        .args([
            "relocate",
            "--to-server",
            "ApexOne02",
            "--folder",
            "\\HR",
            "--yes",
            "--from",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    // Agents lacking the relocate capability fail (exit 3); the rest move.
    let moved: Vec<String> = apex
        .relocations()
        .iter()
        .map(|m| m["entity_ids"][0].as_str().unwrap().to_string())
        .collect();
    let failed = ids.len() - moved.len();
    assert_eq!(
        out.status.code(),
        Some(if failed == 0 { 0 } else { 3 }),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stderr).contains(&format!(
        "{} requested, 0 skipped, {failed} failed",
        moved.len()
    )));

    let out = apex
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    let removed: Vec<String> = apex
        .sim()
        .actions()
        .iter()
        .filter(|a| a["act"] == "cmd_uninstall_agent")
        .map(|a| a["entity_ids"][0].as_str().unwrap().to_string())
        .collect();
    assert!(!removed.is_empty());
    let failed = ids.len() - removed.len();
    assert!(
        text(&out.stderr).contains(&format!(
            "{} requested, 0 skipped, {failed} failed",
            removed.len()
        )),
        "{}",
        text(&out.stderr)
    );
    for id in &removed {
        assert!(ids.contains(id));
        assert!(apex.sim().agent(id).is_none(), "{id} uninstalled and gone");
    }
}

#[test]
fn an_agent_the_api_cannot_relocate_is_a_failure_not_a_success() {
    let apex = Apex::new();
    let out = apex
        .cmd()
        .args([
            "apex",
            "relocate",
            "--host",
            FIXED_NOT_RELOCATABLE,
            "--to-server",
            "ApexOne02",
            "--folder",
            "\\X",
            "--yes",
            "-o",
            "csv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("failed:"),
        "{}",
        text(&out.stdout)
    );
    assert!(apex.relocations().is_empty());
}

#[test]
fn stale_is_refused_in_one_line_when_apex_is_the_only_provider() {
    let apex = Apex::new();
    apex.cmd()
        .args(["stale", "--days", "30"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "Apex Central reports no last-seen time, so stale detection is not possible",
        ));
}

#[test]
fn servers_listing_and_wrong_key() {
    let apex = Apex::new();
    let out = apex
        .cmd()
        .args(["apex", "servers", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), apex.sim().servers().len());
    assert!(rows.iter().all(|r| r["raw"].is_object()));
    apex.cmd()
        .env("TEST_APEX_KEY", "not-the-key")
        .args(["apex", "list"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("401"));
}
