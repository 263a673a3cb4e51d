//! End-to-end: the `agentctl` binary against the Secure Access simulator (roaming computers,
//! stale, remove, tunnel groups, API keys, quotas).

mod common;

use agentctl_core::ratelimit::RateLimitSpec;
use agentctl_secure_access::sim::{self, RunningSim, SimConfig};
use common::harness::Harness;
use common::{NOW, csv_ids, sorted};
use predicates::prelude::*;
use serde_json::Value;

fn sim_config(fleet: usize) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        now: NOW.parse().unwrap(),
        // The published shape, faster windows: tests stay short, the limiter still matters.
        quotas: RateLimitSpec::parse("50/s, 600/min, 20000/30min").unwrap(),
        ..SimConfig::default()
    }
}

type Sa = Harness<RunningSim>;

impl Sa {
    fn new(cfg: SimConfig, rate_limit: &str) -> Self {
        let secret = cfg.api_secret.clone();
        Harness::start(sim::start(cfg.clone(), None), |sim, dir| {
            std::fs::write(dir.join("admin-secret"), &cfg.key_admin_secret).unwrap();
            format!(
                "[defaults]\nconcurrency = 8\n\n[providers.sa]\nkind = \"secure-access\"\napi_url = \"{}\"\napi_key = \"{}\"\napi_secret = \"env:TEST_SA_SECRET\"\nkey_admin_key = \"{}\"\nkey_admin_secret = \"file:{}\"\nrate_limit = \"{rate_limit}\"\n",
                sim.base_url(),
                cfg.api_key,
                cfg.key_admin_key,
                dir.join("admin-secret").display(),
            )
        })
        .env("TEST_SA_SECRET", secret)
    }

    fn expected_stale(&self, days: i64) -> Vec<String> {
        let cutoff: jiff::Timestamp =
            NOW.parse::<jiff::Timestamp>().unwrap() - jiff::SignedDuration::from_hours(24 * days);
        sorted(
            self.sim()
                .roaming_computers()
                .iter()
                .filter(|c| {
                    c["lastSync"]
                        .as_str()
                        .is_some_and(|s| s.parse::<jiff::Timestamp>().unwrap() < cutoff)
                })
                .map(|c| c["deviceId"].as_str().unwrap().to_string())
                .collect(),
        )
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn stale_then_remove_with_one_already_gone() {
    let sa = Sa::new(sim_config(300), "50/s, 600/min, 20000/30min");
    let plan = sa.path("stale.csv");
    sa.cmd()
        .args(["sa", "stale", "--days", "60", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert_eq!(ids, sa.expected_stale(60));
    assert!(ids.len() > 100);
    // One is removed behind the plan's back; without re-check the DELETE answers 404.
    sa.cmd()
        .args(["uninstall", "-p", "sa", "--yes", "--id", &ids[0]])
        .assert()
        .success();
    let out = sa
        .cmd()
        .args([
            "uninstall",
            "--yes",
            "--max",
            "1000",
            "--no-recheck",
            "-o",
            "csv",
            "--from",
        ])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout)
            .lines()
            .any(|l| l.contains(&ids[0]) && l.contains("skipped:gone")),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains(&format!("{} requested, 1 skipped, 0 failed", ids.len() - 1))
    );
    assert_eq!(sorted(sa.sim().deleted()), ids);
    let after = sa
        .cmd()
        .args(["sa", "stale", "--days", "60", "-o", "csv"])
        .output()
        .unwrap();
    assert!(csv_ids(&text(&after.stdout)).is_empty());
}

#[test]
fn tunnels_in_every_format_across_pages() {
    let mut cfg = sim_config(10);
    cfg.tunnel_groups = 450;
    let sa = Sa::new(cfg, "50/s, 600/min, 20000/30min");
    let csv = sa
        .cmd()
        .args(["sa", "tunnels", "-o", "csv"])
        .output()
        .unwrap();
    assert!(csv.status.success(), "{}", text(&csv.stderr));
    assert_eq!(text(&csv.stdout).lines().count(), 451);
    assert!(text(&csv.stdout).starts_with("provider,id,name,status"));
    let json = sa
        .cmd()
        .args(["sa", "tunnels", "-o", "json"])
        .output()
        .unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows.len(), 450);
    assert!(rows[0]["raw"]["hubs"].is_array());
    let nd = sa
        .cmd()
        .args(["sa", "tunnels", "-o", "ndjson"])
        .output()
        .unwrap();
    assert_eq!(text(&nd.stdout).lines().count(), 450);
    let table = sa
        .cmd()
        .args(["sa", "tunnels", "-o", "table"])
        .output()
        .unwrap();
    assert!(text(&table.stdout).lines().count() >= 450);
    assert_eq!(
        sa.sim()
            .request_count("GET /deployments/v2/networktunnelgroups"),
        4 * 3
    );
}

#[test]
fn clients_every_subcommand() {
    let sa = Sa::new(sim_config(10), "50/s, 600/min, 20000/30min");
    let list = |sa: &Sa| -> Vec<Value> {
        let out = sa
            .cmd()
            .args(["sa", "clients", "list", "-o", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let before = list(&sa);
    assert_eq!(before.len(), 3);

    // create, secret on stdout exactly once
    let out = sa
        .cmd()
        .args([
            "sa",
            "clients",
            "create",
            "ci-export",
            "--scope",
            "deployments.roamingcomputers:read",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let id = created[0]["id"].as_str().unwrap().to_string();
    let secret = created[0]["client_secret"].as_str().unwrap().to_string();
    assert!(!secret.is_empty());
    assert!(!text(&out.stderr).contains(&secret));

    // get
    let got = sa
        .cmd()
        .args(["sa", "clients", "get", &id, "-o", "csv"])
        .output()
        .unwrap();
    assert!(text(&got.stdout).contains("ci-export"));
    assert!(
        !text(&got.stdout).contains(&secret),
        "get never shows a secret"
    );

    // rotate --save: a new 0600 file, nothing secret on stdout
    let saved = sa.path("rotated.json");
    let out = sa
        .cmd()
        .args(["sa", "clients", "rotate", &id, "--save"])
        .arg(&saved)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let new_secret = file["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert!(!text(&out.stdout).contains(new_secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // an existing --save file is refused before anything is sent
    let refreshes = sa
        .sim()
        .request_count("POST /admin/v2/apiKeys/{id}/refresh");
    sa.cmd()
        .args(["sa", "clients", "rotate", &id, "--save"])
        .arg(&saved)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(
        sa.sim()
            .request_count("POST /admin/v2/apiKeys/{id}/refresh"),
        refreshes
    );

    // delete needs confirmation
    sa.cmd()
        .args(["sa", "clients", "delete", &id])
        .assert()
        .code(2);
    sa.cmd()
        .args(["sa", "clients", "delete", &id, "--yes"])
        .assert()
        .success();
    assert_eq!(list(&sa).len(), 3);

    // delete-all lists first and needs --yes
    sa.cmd()
        .args(["sa", "clients", "delete-all"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SIEM export").or(predicate::str::contains("Terraform")));
    assert_eq!(list(&sa).len(), 3);
    sa.cmd()
        .args(["sa", "clients", "delete-all", "--yes"])
        .assert()
        .success();
    assert!(list(&sa).is_empty());
}

#[test]
fn a_long_bulk_run_stays_inside_every_quota() {
    // Scaled-down quotas, the same three-window shape, enforced by the simulator and by
    // agentctl's limiter: the run slows down instead of collecting 429s.
    let quota = "5/250ms, 14/s, 60/6s";
    let mut cfg = sim_config(150);
    cfg.quotas = RateLimitSpec::parse(quota).unwrap();
    let sa = Sa::new(cfg, quota);
    let plan = sa.path("plan.csv");
    sa.cmd()
        .args(["sa", "stale", "--days", "200", "--out"])
        .arg(&plan)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() >= 10, "{}", ids.len());
    let out = sa
        .cmd()
        .args(["uninstall", "--yes", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(&format!("{} requested, 0 skipped, 0 failed", ids.len())));
    assert_eq!(sa.sim().request_count("429"), 0, "no request over quota");
    assert_eq!(sorted(sa.sim().deleted()), ids);
}

#[test]
fn clients_need_the_key_admin_credential() {
    let sa = Sa::new(sim_config(10), "50/s, 600/min, 20000/30min");
    let text_cfg = std::fs::read_to_string(&sa.config_path).unwrap();
    let trimmed: String = text_cfg
        .lines()
        .filter(|l| !l.starts_with("key_admin"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&sa.config_path, trimmed).unwrap();
    sa.cmd()
        .args(["sa", "clients", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("key_admin_key"));
    // Everything else still works.
    sa.cmd()
        .args(["sa", "list", "-o", "csv"])
        .assert()
        .success();
}
