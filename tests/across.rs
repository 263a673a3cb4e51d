//! Across consoles, end to end against the sandbox's simulators (which share one
//! organisation's machines, with planted anomalies): `stale` corroboration, `gaps`,
//! `duplicates`, the protection list and `--host` by the machine-identity rule.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Output};

use common::{Env, base_env, sim_config, stderr};

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agentctl"));
        base_env(&mut c, self.dir.path());
        c.env("AGENTCTL_SANDBOX_DIR", self.dir.path().join("sandbox"));
        c.arg("--sandbox").args(args);
        c.output().unwrap()
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// CSV rows as column → value maps.
fn rows(csv_text: &str) -> Vec<BTreeMap<String, String>> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn header(csv_text: &str) -> String {
    csv_text.lines().next().unwrap_or_default().to_string()
}

fn col<'a>(rows: &'a [BTreeMap<String, String>], key: &str) -> BTreeSet<&'a str> {
    rows.iter().map(|r| r[key].as_str()).collect()
}

fn by_host<'a>(rows: &'a [BTreeMap<String, String>], host: &str) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|r| r.get("host").or(r.get("hostname")).map(String::as_str) == Some(host))
        .unwrap_or_else(|| panic!("no row for {host}"))
}

#[test]
fn gaps_finds_the_planted_machines_and_nothing_else() {
    let sb = Sandbox::new();
    let out = sb.cmd(&["gaps", "--days", "30", "-o", "csv"]);
    let text = ok(&out);
    assert_eq!(
        header(&text),
        "host,match,seen_in,newest_last_seen,missing_in,stale_in"
    );
    let r = rows(&text);
    let hosts: BTreeSet<&str> = col(&r, "host");
    let expected: BTreeSet<&str> = [
        "broken-se-01",
        "broken-tg-01.corp.example.com",
        "DESKTOP-7H3K2Q",
        "fresh-twin-01",
        "kiosk-lobby-01",
        "no-edr-01",
        "reimaged-ws-07.corp.example.com",
        "workstation-finance-01.corp.example.com",
        "ZÜRICH-PC-01",
    ]
    .into_iter()
    .collect();
    assert_eq!(hosts, expected, "{text}");

    let desktop = by_host(&r, "DESKTOP-7H3K2Q");
    assert_eq!(
        desktop["match"], "mac",
        "renamed in Taegis: only the MAC links it"
    );
    assert_eq!(desktop["stale_in"], "sandbox-taegis");
    assert_eq!(desktop["missing_in"], "");
    assert_eq!(desktop["seen_in"], "sandbox-sa;sandbox-se");
    let wf = by_host(&r, "workstation-finance-01.corp.example.com");
    assert_eq!(wf["match"], "netbios");
    assert_eq!(wf["missing_in"], "sandbox-sa");
    assert!(
        wf["seen_in"].contains("sandbox-apex"),
        "Apex counts as present"
    );
    assert_eq!(by_host(&r, "kiosk-lobby-01")["match"], "serial");
    let zurich = by_host(&r, "ZÜRICH-PC-01");
    assert_eq!(zurich["match"], "hostname");
    assert_eq!(zurich["stale_in"], "sandbox-taegis");
    let no_edr = by_host(&r, "no-edr-01");
    assert_eq!(no_edr["match"], "");
    assert_eq!(no_edr["missing_in"], "sandbox-se;sandbox-taegis");
    assert_eq!(no_edr["newest_last_seen"], "2026-11-23T06:00:00Z");
    assert!(stderr(&out).contains("9 machines with a coverage gap"));

    // --expect narrows what must be present; kinds and their aliases both work.
    let text = ok(&sb.cmd(&["gaps", "--days", "30", "--expect", "taegis", "-o", "csv"]));
    let hosts: BTreeSet<String> = col(&rows(&text), "host")
        .into_iter()
        .map(str::to_string)
        .collect();
    let expected: BTreeSet<String> = [
        "broken-tg-01.corp.example.com",
        "DESKTOP-7H3K2Q",
        "fresh-twin-01",
        "no-edr-01",
        "reimaged-ws-07.corp.example.com",
        "ZÜRICH-PC-01",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(hosts, expected, "{text}");
    let text = ok(&sb.cmd(&["gaps", "--days", "30", "--expect", "se,sa", "-o", "json"]));
    let json: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(
        json.iter()
            .all(|g| g["stale_in"] != serde_json::json!(["sandbox-taegis"]))
    );
    assert!(json.iter().any(|g| g["host"] == "broken-se-01"));

    let bad = sb.cmd(&["gaps", "--days", "30", "--expect", "nosuch"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("'nosuch' names no selected provider"));
}

#[test]
fn stale_corroborate_keeps_retired_machines_and_writes_broken_agents() {
    let sb = Sandbox::new();
    // Without --corroborate every stale agent is listed, with where else it was seen.
    let text = ok(&sb.cmd(&["stale", "--days", "30", "-o", "csv"]));
    assert_eq!(
        header(&text),
        "provider,kind,agent_id,hostname,last_seen,days_since_seen,os,agent_version,ip_addresses,group,seen_elsewhere,seen_elsewhere_in,match"
    );
    let all = rows(&text);
    let broken_se = by_host(&all, "broken-se-01");
    assert_eq!(broken_se["provider"], "sandbox-se");
    assert_eq!(broken_se["seen_elsewhere"], "2026-11-23T10:00:00Z");
    assert_eq!(broken_se["seen_elsewhere_in"], "sandbox-taegis");
    assert_eq!(broken_se["match"], "mac");
    let retired: Vec<_> = all
        .iter()
        .filter(|r| r["hostname"].starts_with("retired-0001"))
        .collect();
    assert_eq!(
        retired.len(),
        3,
        "stale in all three consoles with last-seen times"
    );
    let se_retired = retired
        .iter()
        .find(|r| r["provider"] == "sandbox-se")
        .unwrap();
    assert_eq!(se_retired["seen_elsewhere_in"], "sandbox-taegis");
    let taegis_seen = common::now() - jiff::SignedDuration::from_hours(299 * 24);
    assert_eq!(
        se_retired["seen_elsewhere"],
        agentctl_core::time::format_timestamp(taegis_seen)
    );

    let broken_path = sb.path("broken.csv");
    let out = sb.cmd(&[
        "stale",
        "--days",
        "30",
        "--corroborate",
        "--broken-out",
        broken_path.to_str().unwrap(),
        "-o",
        "csv",
    ]);
    let kept = rows(&ok(&out));
    let broken_text = std::fs::read_to_string(&broken_path).unwrap();
    assert_eq!(header(&broken_text), header(&text), "same columns");
    let broken = rows(&broken_text);
    let broken_hosts: BTreeSet<&str> = col(&broken, "hostname");
    assert_eq!(
        broken_hosts,
        [
            "broken-se-01",
            "broken-tg-01",
            "lab-scanner-03",
            "zürich-pc-01"
        ]
        .into_iter()
        .collect()
    );
    assert!(
        stderr(&out).contains(
            "4 agents stale here but alive elsewhere: broken agents, not retired machines"
        ),
        "{}",
        stderr(&out)
    );
    assert_eq!(kept.len() + broken.len(), all.len());
    let kept_hosts = col(&kept, "hostname");
    assert!(kept_hosts.contains("retired-0001"));
    assert!(kept_hosts.contains("dc-01.corp.example.com"));
    assert!(!kept_hosts.contains("broken-se-01"));
    // A JSON --broken-out shows the vendor's record although the main output is CSV.
    let broken_json = sb.path("broken.json");
    let out = sb.cmd(&[
        "stale",
        "--days",
        "30",
        "--corroborate",
        "--broken-out",
        broken_json.to_str().unwrap(),
        "-o",
        "csv",
    ]);
    ok(&out);
    let objects: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&broken_json).unwrap()).unwrap();
    assert_eq!(objects.len(), broken.len());
    assert!(objects.iter().all(|o| o["raw"].is_object()), "{objects:?}");
    // Every kept agent's machine is stale elsewhere too (or not registered elsewhere).
    let cutoff: jiff::Timestamp = "2026-10-24T12:00:00Z".parse().unwrap();
    for r in &kept {
        if let Ok(t) = r["seen_elsewhere"].parse::<jiff::Timestamp>() {
            assert!(t < cutoff, "{r:?}");
        }
    }
}

#[test]
fn corroborate_fails_rather_than_guess_when_a_provider_cannot_be_listed() {
    let env = Env::new(sim_config(20));
    // A second tenant whose credentials are refused.
    let url = env.sim().base_url();
    let mut text = std::fs::read_to_string(&env.config_path).unwrap();
    text.push_str(&format!(
        "\n[providers.down]\nkind = \"secure-endpoint\"\napi_url = \"{url}\"\ntoken_url = \"{url}\"\nclient_id = \"{}\"\napi_key = \"wrong\"\n",
        env.cfg.client_id
    ));
    std::fs::write(&env.config_path, text).unwrap();
    let out = env
        .cmd()
        .args(["stale", "--days", "1", "--corroborate", "-o", "csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "no plan is written");
    assert!(stderr(&out).contains("down"), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not guess"), "{}", stderr(&out));
}

#[test]
fn duplicates_keep_the_newest_and_respect_min_age() {
    let sb = Sandbox::new();
    let out = sb.cmd(&["duplicates", "-o", "csv"]);
    let text = ok(&out);
    assert_eq!(
        header(&text),
        "provider,kind,agent_id,hostname,last_seen,days_since_seen,os,agent_version,ip_addresses,group,match,duplicate_of,action"
    );
    let r = rows(&text);
    assert_eq!(
        col(&r, "hostname"),
        ["kiosk-lobby-01", "reimaged-ws-07"].into_iter().collect()
    );
    let se = by_host(&r, "reimaged-ws-07");
    assert_eq!(se["provider"], "sandbox-se");
    assert_eq!(se["match"], "hostname");
    assert_eq!(se["days_since_seen"], "40");
    let kiosk = by_host(&r, "kiosk-lobby-01");
    assert_eq!(kiosk["match"], "serial");
    let err = stderr(&out);
    assert!(
        err.contains("1 duplicates seen within the last 24 h not planned"),
        "{err}"
    );
    assert!(
        err.contains("sandbox-apex"),
        "Apex twins cannot be ranked: {err}"
    );

    // The kept registration is the newest: it is the one `duplicate_of` names, and it is
    // not in the plan itself.
    let listed = rows(&ok(&sb.cmd(&[
        "list",
        "--host",
        "reimaged-ws-07",
        "-o",
        "csv",
    ])));
    let se_listed: Vec<_> = listed
        .iter()
        .filter(|r| r["provider"] == "sandbox-se")
        .collect();
    assert_eq!(se_listed.len(), 2);
    let newest = se_listed
        .iter()
        .max_by_key(|r| r["last_seen"].clone())
        .unwrap();
    assert_eq!(se["duplicate_of"], newest["agent_id"]);
    assert_ne!(se["agent_id"], newest["agent_id"]);

    // --min-age 1: the twin re-imaged this morning (old record seen 10 h ago) is planned too.
    let r = rows(&ok(&sb.cmd(&["duplicates", "--min-age", "1", "-o", "csv"])));
    assert_eq!(
        col(&r, "hostname"),
        ["fresh-twin-01", "kiosk-lobby-01", "reimaged-ws-07"]
            .into_iter()
            .collect()
    );
    // --min-age 1000 (41 days): every duplicate was seen more recently.
    let r = rows(&ok(&sb.cmd(&[
        "duplicates",
        "--min-age",
        "1000",
        "-o",
        "csv",
    ])));
    assert!(r.is_empty());
}

#[test]
fn protected_agents_never_enter_a_plan() {
    let sb = Sandbox::new();
    let protect = sb.path("protect.txt");
    std::fs::write(
        &protect,
        "# keep the domain controller\nDC-*\nreimaged-ws-07\n",
    )
    .unwrap();
    let out = sb.cmd(&[
        "--protect-file",
        protect.to_str().unwrap(),
        "stale",
        "--days",
        "30",
        "-o",
        "csv",
    ]);
    let r = rows(&ok(&out));
    assert!(
        !r.iter()
            .any(|r| r["hostname"].to_lowercase().starts_with("dc-01"))
    );
    assert!(r.iter().any(|r| r["hostname"] == "retired-0001"));
    assert!(
        // dc-01 in three consoles, and the old reimaged-ws-07 registration (40 days).
        stderr(&out).contains("4 protected agents held back"),
        "{}",
        stderr(&out)
    );
    let out = sb.cmd(&[
        "duplicates",
        "--protect-file",
        protect.to_str().unwrap(),
        "-o",
        "csv",
    ]);
    let r = rows(&ok(&out));
    assert_eq!(
        col(&r, "hostname"),
        ["kiosk-lobby-01"].into_iter().collect()
    );
    assert!(stderr(&out).contains("1 protected agents held back"));
    let missing = sb.cmd(&["--protect-file", "/nonexistent/protect.txt", "duplicates"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn protect_table_in_the_config_holds_back_hosts_groups_and_ids() {
    let env = Env::with_extra(sim_config(60), "");
    let all = rows(
        &String::from_utf8(
            env.cmd()
                .args(["stale", "--days", "1", "-o", "csv"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap(),
    );
    assert!(all.len() > 20);
    let host = all[0]["hostname"].clone();
    let id = all[1]["agent_id"].clone();
    let group = all.iter().find(|r| !r["group"].is_empty()).unwrap()["group"].to_uppercase();
    let mut text = std::fs::read_to_string(&env.config_path).unwrap();
    text.push_str(&format!(
        "\n[protect]\nhosts = [\"{}\"]\ngroups = [\"{group}\"]\nagent_ids = [\"{}\"]\n",
        host.to_uppercase(),
        id.to_uppercase()
    ));
    std::fs::write(&env.config_path, text).unwrap();
    let out = env
        .cmd()
        .args(["stale", "--days", "1", "-o", "csv"])
        .output()
        .unwrap();
    let kept = rows(&String::from_utf8(out.stdout.clone()).unwrap());
    let expected: Vec<_> = all
        .iter()
        .filter(|r| {
            !agentctl_core::HostPattern::new(&host).matches(&r["hostname"])
                && r["agent_id"] != id
                && r["group"].to_uppercase() != group
        })
        .collect();
    assert_eq!(kept.len(), expected.len(), "{}", stderr(&out));
    assert!(kept.len() < all.len());
    assert!(stderr(&out).contains(&format!(
        "{} protected agents held back",
        all.len() - kept.len()
    )));
}

#[test]
fn host_finds_the_same_machine_by_short_name_netbios_and_glob() {
    let sb = Sandbox::new();
    let r = rows(&ok(&sb.cmd(&[
        "list",
        "--host",
        "tky-lt-0042",
        "-o",
        "csv",
    ])));
    assert_eq!(
        col(&r, "hostname"),
        ["TKY-LT-0042", "TKY-LT-0042.corp.example", "tky-lt-0042"]
            .into_iter()
            .collect()
    );
    assert_eq!(r.len(), 4, "one agent per console");
    let r = rows(&ok(&sb.cmd(&[
        "list",
        "--host",
        "WORKSTATION-FIN",
        "-o",
        "csv",
    ])));
    assert_eq!(r.len(), 3, "the NetBIOS name finds the full name: {r:?}");
    let r = rows(&ok(&sb.cmd(&[
        "list",
        "--host",
        "zürich-PC-0?",
        "-o",
        "csv",
    ])));
    assert_eq!(
        r.len(),
        3,
        "a glob on the first label, Unicode case-insensitive"
    );
    let r = rows(&ok(&sb.cmd(&[
        "list",
        "--host",
        "*.corp.example",
        "-o",
        "csv",
    ])));
    assert_eq!(
        col(&r, "hostname"),
        ["TKY-LT-0042.corp.example"].into_iter().collect()
    );
}

#[test]
fn bulk_commands_skip_protected_plan_rows_before_anything_is_sent() {
    let env = Env::new(sim_config(40));
    let plan = env.path("plan.csv");
    let out = env
        .cmd()
        .args(["stale", "--days", "1", "--out"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let planned = rows(&std::fs::read_to_string(&plan).unwrap());
    assert!(planned.len() > 10);
    // Protect one host (matched from the plan) and one group (only the live record, read on
    // re-check, carries it), after the plan was written.
    let host = planned[0]["hostname"].clone();
    let group = planned
        .iter()
        .find(|r| !r["group"].is_empty() && r["hostname"] != host)
        .unwrap()["group"]
        .clone();
    let mut text = std::fs::read_to_string(&env.config_path).unwrap();
    text.push_str(&format!(
        "\n[protect]\nhosts = [\"{}\"]\ngroups = [\"{}\"]\n",
        host.to_uppercase(),
        group.to_lowercase()
    ));
    std::fs::write(&env.config_path, text).unwrap();
    let is_protected = |r: &BTreeMap<String, String>| {
        agentctl_core::HostPattern::new(&host).matches(&r["hostname"]) || r["group"] == group
    };
    let expected_protected: BTreeSet<&str> = planned
        .iter()
        .filter(|r| is_protected(r))
        .map(|r| r["agent_id"].as_str())
        .collect();
    assert!(expected_protected.len() >= 2);

    let out = env
        .cmd()
        .args(["uninstall", "--yes", "--max", "1000", "-o", "csv", "--from"])
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let results = rows(&String::from_utf8(out.stdout.clone()).unwrap());
    let skipped: BTreeSet<&str> = results
        .iter()
        .filter(|r| r["outcome"] == "skipped:protected")
        .map(|r| r["agent_id"].as_str())
        .collect();
    assert_eq!(skipped, expected_protected, "{}", stderr(&out));
    let sent: BTreeSet<String> = env.sim().uninstall_requests().into_iter().collect();
    assert_eq!(sent.len(), planned.len() - expected_protected.len());
    for id in &expected_protected {
        assert!(
            !sent.contains(*id),
            "a protected agent reached a request: {id}"
        );
    }
}
