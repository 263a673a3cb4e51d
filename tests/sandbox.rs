//! `agentctl --sandbox`: the built-in simulators, with state kept between runs.

mod common;

use std::process::Command;

use common::{base_env, csv_ids};

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agentctl"));
        base_env(&mut c, self.dir.path());
        c.env("AGENTCTL_SANDBOX_DIR", self.dir.path().join("sandbox"));
        c.arg("--sandbox").args(args);
        c.output().unwrap()
    }
}

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn stale_then_uninstall_then_stale_shows_the_change() {
    let sb = Sandbox::new();
    let plan = sb.dir.path().join("plan.csv");
    ok(&sb.cmd(&[
        "se",
        "stale",
        "--days",
        "200",
        "--out",
        plan.to_str().unwrap(),
    ]));
    let ids = csv_ids(&std::fs::read_to_string(&plan).unwrap());
    assert!(ids.len() > 50, "{} stale", ids.len());
    let before = csv_ids(&ok(&sb.cmd(&["se", "list", "-o", "csv"]))).len();

    // The same fleet on the next run (state is kept, not regenerated).
    let again = ok(&sb.cmd(&["se", "stale", "--days", "200", "-o", "csv"]));
    assert_eq!(csv_ids(&again), ids);

    let out = sb.cmd(&["uninstall", "--yes", "--from", plan.to_str().unwrap()]);
    ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("{} requested, 0 skipped, 0 failed", ids.len())),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let after = ok(&sb.cmd(&["se", "stale", "--days", "200", "-o", "csv"]));
    assert!(csv_ids(&after).is_empty(), "{after}");
    // Agents seen recently are still there.
    let listed = ok(&sb.cmd(&["se", "list", "-o", "csv"]));
    assert_eq!(csv_ids(&listed).len(), before - ids.len());
}

#[test]
fn sandbox_output_is_deterministic() {
    let sb = Sandbox::new();
    let csv = ok(&sb.cmd(&["se", "stale", "--days", "238", "-o", "csv"]));
    insta::assert_snapshot!("sandbox_stale_238_days_csv", csv);
    let orgs = ok(&sb.cmd(&["se", "orgs", "-o", "csv"]));
    insta::assert_snapshot!("sandbox_orgs_csv", orgs);
}

#[test]
fn a_broken_sandbox_state_is_reported_with_the_way_out() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.dir.path().join("sandbox")).unwrap();
    std::fs::write(
        sb.dir.path().join("sandbox/secure-endpoint.json"),
        "{not json",
    )
    .unwrap();
    let out = sb.cmd(&["list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not sandbox state") && err.contains("delete"),
        "{err}"
    );
}

#[test]
fn apex_relocation_persists_between_runs() {
    let sb = Sandbox::new();
    let out = sb.cmd(&[
        "apex",
        "relocate",
        "--host",
        "client01",
        "--to-server",
        "ApexOne02",
        "--folder",
        "\\Moved",
        "--yes",
    ]);
    ok(&out);
    let listed = ok(&sb.cmd(&["apex", "list", "--host", "client01", "-o", "json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&listed).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["group"], "ApexOne02: \\Moved");
}

#[test]
fn secure_access_keys_and_removals_persist_between_runs() {
    let sb = Sandbox::new();
    let before = ok(&sb.cmd(&["sa", "clients", "list", "-o", "csv"]));
    ok(&sb.cmd(&[
        "sa",
        "clients",
        "create",
        "sandbox_key",
        "--scope",
        "deployments.roamingcomputers:read",
        "-o",
        "json",
    ]));
    let after = ok(&sb.cmd(&["sa", "clients", "list", "-o", "csv"]));
    assert_eq!(after.lines().count(), before.lines().count() + 1);
    assert!(after.contains("sandbox_key"));

    let stale = ok(&sb.cmd(&["sa", "stale", "--days", "235", "-o", "csv"]));
    let ids = csv_ids(&stale);
    assert!(!ids.is_empty());
    ok(&sb.cmd(&[
        "sa",
        "uninstall",
        "--yes",
        "-p",
        "sandbox-sa",
        "--id",
        &ids[0],
    ]));
    let again = csv_ids(&ok(&sb.cmd(&["sa", "stale", "--days", "235", "-o", "csv"])));
    assert_eq!(again.len(), ids.len() - 1);
    assert!(!again.contains(&ids[0]));
}

#[test]
fn taegis_clients_and_uninstalls_persist_between_runs() {
    let sb = Sandbox::new();
    let before = ok(&sb.cmd(&["taegis", "clients", "list", "-o", "csv"]));
    ok(&sb.cmd(&[
        "taegis",
        "clients",
        "create",
        "sandbox-client",
        "--role",
        "analyst",
        "-o",
        "json",
    ]));
    let after = ok(&sb.cmd(&["taegis", "clients", "list", "-o", "csv"]));
    assert_eq!(after.lines().count(), before.lines().count() + 1);
    assert!(after.contains("sandbox-client"));

    let stale = ok(&sb.cmd(&["taegis", "stale", "--days", "200", "-o", "csv"]));
    let ids = csv_ids(&stale);
    assert!(!ids.is_empty());
    ok(&sb.cmd(&["taegis", "uninstall", "--yes", "--id", &ids[0]]));
    let again = csv_ids(&ok(
        &sb.cmd(&["taegis", "stale", "--days", "200", "-o", "csv"])
    ));
    assert_eq!(again.len(), ids.len() - 1);
    assert!(!again.contains(&ids[0]));
}

#[test]
fn no_secret_of_any_vendor_reaches_trace_output() {
    let sb = Sandbox::new();
    let mut all = String::new();
    for args in [
        &["-vvv", "list", "-o", "json"][..],
        &["-vvv", "doctor"],
        &["-vvv", "sa", "tunnels"],
        &["-vvv", "sa", "clients", "list"],
        &["-vvv", "apex", "servers"],
        &["-vvv", "taegis", "clients", "list"],
        &["-vvv", "taegis", "stale", "--days", "200"],
        &[
            "-vvv",
            "apex",
            "relocate",
            "--host",
            "client01",
            "--to-server",
            "ApexOne02",
            "--folder",
            "\\X",
            "--yes",
        ],
    ] {
        let out = sb.cmd(args);
        all.push_str(&ok(&out));
        all.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    assert!(all.contains("/WebApp/API/"), "-vvv logs the HTTP exchanges");
    let se = agentctl_secure_endpoint::sim::SimConfig::default();
    let sa = agentctl_secure_access::sim::SimConfig::default();
    let apex = agentctl_apex_central::sim::SimConfig::default();
    let tg = agentctl_taegis_sim::SimConfig::default();
    assert!(all.contains("/graphql"), "-vvv logs the Taegis exchanges");
    for secret in [
        &tg.client_secret,
        &tg.jwt_key,
        &se.api_key,
        &se.xdr_client_secret,
        &sa.api_secret,
        &sa.key_admin_secret,
        &apex.api_key,
    ] {
        assert!(!all.contains(secret.as_str()), "a secret leaked");
    }
    assert!(
        !all.contains("Bearer ") && !all.contains("Basic "),
        "an Authorization header leaked"
    );
    assert!(!all.contains("eyJ"), "a token leaked");
}

#[test]
fn a_new_client_secret_is_on_stdout_once_and_never_in_the_trace() {
    let sb = Sandbox::new();
    for args in [
        &[
            "-vvv",
            "taegis",
            "clients",
            "create",
            "leak-check",
            "-o",
            "json",
        ][..],
        &[
            "-vvv",
            "sa",
            "clients",
            "create",
            "leak_check",
            "--scope",
            "deployments.roamingcomputers:read",
            "-o",
            "json",
        ],
    ] {
        let out = sb.cmd(args);
        let stdout = ok(&out);
        let created: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let secret = created[0]["client_secret"].as_str().unwrap();
        assert!(secret.len() >= 16, "{args:?}");
        assert_eq!(stdout.matches(secret).count(), 1, "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains(secret),
            "{args:?}: the secret reached the log"
        );
        assert!(!stderr.is_empty(), "-vvv logs something");
    }
}

/// Run agentctl with stderr on a pseudo-terminal (util-linux `script`), as a person would,
/// and give back what the terminal received.
fn on_a_terminal(sb: &Sandbox, args: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_agentctl");
    let mut c = Command::new("script");
    base_env(&mut c, sb.dir.path());
    c.env("AGENTCTL_SANDBOX_DIR", sb.dir.path().join("sandbox"))
        .env("TERM", "xterm")
        .args([
            "-qec",
            &format!("{bin} --sandbox {args} -o csv >/dev/null"),
            "/dev/null",
        ]);
    let out = c
        .output()
        .expect("util-linux `script` runs a command on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cross_console_listings_show_agents_read_per_provider_on_a_terminal() {
    let sb = Sandbox::new();
    let shown = on_a_terminal(&sb, "gaps --days 30");
    assert!(
        shown.contains("agents read: sandbox-apex"),
        "no per-provider progress on the terminal:\n{shown:?}"
    );
    assert!(shown.contains("sandbox-taegis"), "{shown:?}");
    // Silent with --no-progress (and -q, or a stderr that is not a terminal).
    let quiet = on_a_terminal(&sb, "gaps --days 30 --no-progress");
    assert!(!quiet.contains("agents read"), "{quiet:?}");
}
