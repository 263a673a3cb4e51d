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

/// A simulator for the clients tests: every command is a new process with a new token, so
/// the token endpoint's quota (20/min per key) is scaled up like the others.
fn clients_config(fleet: usize) -> SimConfig {
    SimConfig {
        token_quotas: RateLimitSpec::parse("600/min").unwrap(),
        ..sim_config(fleet)
    }
}

/// Does `key:secret` get a token from the simulator?
fn token_status(sa: &Sa, key: &str, secret: &str) -> u16 {
    let url = format!("{}/auth/v2/token", sa.sim().base_url());
    sa.runtime.block_on(async {
        agentctl_core::http::plain_client()
            .post(url)
            .basic_auth(key, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

fn sim_secret(sa: &Sa, id: &str) -> String {
    sa.sim()
        .state()
        .api_keys
        .iter()
        .find(|k| k.id() == id)
        .map(|k| k.secret.clone())
        .unwrap()
}

fn list_keys(sa: &Sa) -> Vec<Value> {
    let out = sa
        .cmd()
        .args(["sa", "clients", "list", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn clients_every_subcommand_in_every_format() {
    let sa = Sa::new(clients_config(10), "50/s, 600/min, 20000/30min");
    let before = list_keys(&sa);
    // Three keys and the deployments key agentctl itself uses.
    assert_eq!(before.len(), 4);
    let own_key = sa.sim().config().api_key.clone();

    for format in ["table", "csv", "json", "ndjson"] {
        // list and get
        let out = sa
            .cmd()
            .args(["sa", "clients", "list", "-o", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        for name in ["SIEM export", "Terraform", "Zurich SOC"] {
            assert!(text(&out.stdout).contains(name), "{format}: {name}");
        }
        let id = before[1]["id"].as_str().unwrap();
        let out = sa
            .cmd()
            .args(["sa", "clients", "get", id, "-o", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains(id), "{format}");

        // create: the secret exactly once on stdout, never on stderr or in the -vvv log
        let name = format!("ci export {format}");
        let out = sa
            .cmd()
            .args([
                "sa",
                "clients",
                "create",
                &name,
                "--scope",
                "deployments.roamingcomputers:read",
                "-o",
                format,
                "-vvv",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let key = sa
            .sim()
            .state()
            .api_keys
            .into_iter()
            .find(|k| k.key["name"] == name.as_str())
            .unwrap();
        assert_eq!(
            text(&out.stdout).matches(&key.secret).count(),
            1,
            "{format}"
        );
        assert!(!text(&out.stderr).contains(&key.secret), "{format}");
        assert!(text(&out.stdout).contains(key.id()), "{format}");
        assert_eq!(token_status(&sa, key.client_id(), &key.secret), 200);

        // rotate: a new secret once on stdout; the old one stops working
        let out = sa
            .cmd()
            .args(["sa", "clients", "rotate", key.id(), "-o", format, "-vvv"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        let new_secret = sim_secret(&sa, key.id());
        assert_ne!(new_secret, key.secret);
        assert_eq!(
            text(&out.stdout).matches(&new_secret).count(),
            1,
            "{format}"
        );
        assert!(!text(&out.stderr).contains(&new_secret), "{format}");
        assert_eq!(token_status(&sa, key.client_id(), &key.secret), 401);
        assert_eq!(token_status(&sa, key.client_id(), &new_secret), 200);

        // delete-all --dry-run: lists, sends nothing
        let deletes = sa.sim().request_count("DELETE /admin/v2/apiKeys/{id}");
        let out = sa
            .cmd()
            .args(["sa", "clients", "delete-all", "--dry-run", "-o", format])
            .output()
            .unwrap();
        assert!(out.status.success(), "{format}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("would-delete"), "{format}");
        assert!(text(&out.stdout).contains("skipped:self"), "{format}");
        assert!(text(&out.stderr).contains("skipped:self"), "{format}");
        assert_eq!(
            sa.sim().request_count("DELETE /admin/v2/apiKeys/{id}"),
            deletes
        );

        // delete (with --yes)
        sa.cmd()
            .args(["sa", "clients", "delete", key.id(), "--yes", "-o", format])
            .assert()
            .success();
        assert!(sa.sim().state().api_keys.iter().all(|k| k.id() != key.id()));
    }

    // delete needs confirmation
    let id = before[1]["id"].as_str().unwrap();
    sa.cmd()
        .args(["sa", "clients", "delete", id])
        .assert()
        .code(2);
    // the credential agentctl uses is refused unless --force-self; nothing is sent
    let own_id = before
        .iter()
        .find(|k| k["client_id"] == own_key.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    sa.cmd()
        .args(["sa", "clients", "delete", &own_id, "--yes"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force-self"));
    assert_eq!(sa.sim().request_count("DELETE /admin/v2/apiKeys/{id}"), 4);

    // delete-all lists first and needs --yes
    sa.cmd()
        .args(["sa", "clients", "delete-all"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("SIEM export").and(predicate::str::contains("Terraform")));
    assert_eq!(list_keys(&sa).len(), 4);
    let out = sa
        .cmd()
        .args(["sa", "clients", "delete-all", "--yes", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows.iter().filter(|r| r["outcome"] == "deleted").count(), 3);
    let skipped: Vec<&Value> = rows
        .iter()
        .filter(|r| r["outcome"] == "skipped:self")
        .collect();
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0]["client_id"], own_key.as_str());
    // Only agentctl's own key is left, and agentctl still works.
    let left = list_keys(&sa);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["client_id"], own_key.as_str());
    sa.cmd()
        .args(["sa", "list", "-o", "csv"])
        .assert()
        .success();

    // --force-self does delete it (and the deployments key stops working).
    sa.cmd()
        .args(["sa", "clients", "delete", &own_id, "--yes", "--force-self"])
        .assert()
        .success();
    assert!(list_keys(&sa).is_empty());
    assert_eq!(
        token_status(&sa, &own_key, &sa.sim().config().api_secret.clone()),
        401
    );
}

#[test]
fn secrets_go_only_to_new_0600_files() {
    let sa = Sa::new(clients_config(3), "50/s, 600/min, 20000/30min");
    let create = |name: &str| {
        let mut c = sa.cmd();
        c.args([
            "sa",
            "clients",
            "create",
            name,
            "--scope",
            "deployments.roamingcomputers:read",
        ]);
        c
    };
    let secret_of = |name: &str| {
        sa.sim()
            .state()
            .api_keys
            .into_iter()
            .find(|k| k.key["name"] == name)
            .map(|k| k.secret)
    };
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };

    // --save: the exact secret in a 0600 file, stdout says where and carries no secret.
    let saved = sa.path("saved.json");
    let out = create("saved key")
        .arg("--save")
        .arg(&saved)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = secret_of("saved key").unwrap();
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(file["client_secret"].as_str(), Some(secret.as_str()));
    assert_eq!(mode(&saved), 0o600);
    assert!(!text(&out.stdout).contains(&secret));
    assert!(text(&out.stdout).contains(&saved.display().to_string()));

    // --out with a secret: a new 0600 file in the format of its extension.
    let out_file = sa.path("new-key.json");
    let out = create("out key")
        .arg("--out")
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = secret_of("out key").unwrap();
    assert_eq!(mode(&out_file), 0o600);
    let rows: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(rows[0]["client_secret"].as_str(), Some(secret.as_str()));
    assert!(!text(&out.stdout).contains(&secret) && !text(&out.stderr).contains(&secret));

    // An existing file, a symbolic link (dangling or not): exit 2, nothing sent, nothing
    // written through the link.
    let creates = sa.sim().request_count("POST /admin/v2/apiKeys");
    let refreshes = sa
        .sim()
        .request_count("POST /admin/v2/apiKeys/{id}/refresh");
    let existing = sa.path("existing.csv");
    std::fs::write(&existing, "keep me").unwrap();
    let target = sa.path("target.csv");
    let link = sa.path("link.csv");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let id = sa.sim().state().api_keys[1].id().to_string();
    for path in [&existing, &link] {
        for flag in ["--out", "--save"] {
            create("never").arg(flag).arg(path).assert().code(2);
            sa.cmd()
                .args(["sa", "clients", "rotate", &id, flag])
                .arg(path)
                .assert()
                .code(2)
                .stderr(predicate::str::contains("nothing was sent"));
        }
    }
    assert_eq!(sa.sim().request_count("POST /admin/v2/apiKeys"), creates);
    assert_eq!(
        sa.sim()
            .request_count("POST /admin/v2/apiKeys/{id}/refresh"),
        refreshes
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");
    assert!(!target.exists());
    assert!(secret_of("never").is_none());

    // A refused create leaves no empty file behind.
    let refused = sa.path("refused.json");
    create("saved key")
        .arg("--save")
        .arg(&refused)
        .assert()
        .code(1);
    assert!(!refused.exists());

    // --out for commands without a secret is unchanged: an existing file is replaced.
    sa.cmd()
        .args(["sa", "clients", "list", "--out"])
        .arg(&existing)
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(&existing)
            .unwrap()
            .contains("SIEM export")
    );
}

#[test]
fn a_secret_issued_with_an_unreadable_answer_is_still_delivered() {
    for answer in [
        sim::IssuedAnswer::ExtraEnvelope,
        sim::IssuedAnswer::MissingFields,
    ] {
        let sa = Sa::new(
            SimConfig {
                issued_answer: answer,
                ..clients_config(3)
            },
            "50/s, 600/min, 20000/30min",
        );
        let out = sa
            .cmd()
            .args([
                "sa",
                "clients",
                "create",
                "odd answer",
                "--scope",
                "deployments.roamingcomputers:read",
                "-o",
                "csv",
                "-vvv",
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{answer:?}: {}",
            text(&out.stderr)
        );
        let key = sa
            .sim()
            .state()
            .api_keys
            .into_iter()
            .find(|k| k.key["name"] == "odd answer")
            .unwrap();
        assert_eq!(
            text(&out.stdout).matches(&key.secret).count(),
            1,
            "{answer:?}"
        );
        let stderr = text(&out.stderr);
        assert!(!stderr.contains(&key.secret), "{answer:?}");
        assert!(
            stderr.contains("the new secret is valid and was delivered"),
            "{stderr}"
        );
        assert!(stderr.contains("not what Cisco documents"), "{stderr}");
        // rotate --save: the file has the exact secret, exit 1 all the same
        let saved = sa.path("rotated.json");
        let out = sa
            .cmd()
            .args(["sa", "clients", "rotate", key.id(), "--save"])
            .arg(&saved)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
        assert_eq!(
            file["client_secret"].as_str(),
            Some(sim_secret(&sa, key.id()).as_str())
        );
        assert_eq!(file["id"].as_str(), Some(key.id()));
    }
}

#[test]
fn clients_without_p_use_the_only_provider_that_manages_them() {
    let sa = Sa::new(clients_config(3), "50/s, 600/min, 20000/30min");
    // A second provider that has no clients: still unambiguous.
    let mut cfg = std::fs::read_to_string(&sa.config_path).unwrap();
    cfg.push_str(
        "\n[providers.apex]\nkind = \"apex-central\"\nurl = \"http://127.0.0.1:9\"\napplication_id = \"00000000-0000-0000-0000-000000000000\"\napi_key = \"unused\"\n",
    );
    std::fs::write(&sa.config_path, &cfg).unwrap();
    let out = sa
        .cmd()
        .args(["clients", "list", "-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("SIEM export"));
    // Two that do: -p is needed, and the error names them.
    cfg.push_str(
        &cfg.clone()
            .split("[providers.sa]")
            .nth(1)
            .map(|rest| {
                format!(
                    "\n[providers.sa2]{}",
                    rest.split("[providers.apex]").next().unwrap()
                )
            })
            .unwrap(),
    );
    std::fs::write(&sa.config_path, &cfg).unwrap();
    sa.cmd()
        .args(["clients", "list"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("sa, sa2").and(predicate::str::contains("-p")));
    sa.cmd()
        .args(["clients", "-p", "sa2", "list", "-o", "csv"])
        .assert()
        .success();
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
