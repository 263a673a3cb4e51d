//! The unattended recipes in `examples/` and the `Dockerfile`, exercised without Docker,
//! systemd or Kubernetes: every agentctl command line in them parses with the real command
//! line, and the image's steps run as a plain binary with the image's environment (its paths
//! moved into a temporary directory) against `--sandbox`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The agentctl argument lists of every step in every recipe, by file.
fn recipes() -> Vec<(&'static str, Vec<Vec<String>>)> {
    let mut out = Vec::new();

    let service = read("examples/systemd/agentctl-cleanup.service");
    let steps = service
        .lines()
        .filter_map(|l| l.strip_prefix("ExecStart=/usr/local/bin/agentctl "))
        .map(|rest| rest.split_whitespace().map(str::to_string).collect())
        .collect();
    out.push(("systemd", steps));

    let cron = read("examples/cron/agentctl.cron");
    let line = cron
        .lines()
        .find(|l| !l.starts_with('#') && l.contains("agentctl "))
        .expect("a cron line");
    let inner = line
        .split_once('{')
        .and_then(|(_, r)| r.split_once(';'))
        .map(|(steps, _)| steps)
        .expect("{ …; } in the cron line");
    let steps = inner
        .split("&&")
        .map(|s| {
            s.split_whitespace()
                .skip(1) // agentctl
                .map(str::to_string)
                .collect()
        })
        .collect();
    out.push(("cron", steps));

    let k8s = read("examples/kubernetes/cronjob.yaml");
    let mut steps = Vec::new();
    let mut rest = k8s.as_str();
    while let Some(i) = rest.find("args: [") {
        let after = &rest[i + "args: ".len()..];
        let end = after.find(']').expect("closing ]");
        let list: Vec<String> = serde_json::from_str(&after[..=end]).expect("args as a JSON list");
        steps.push(list);
        rest = &after[end..];
    }
    out.push(("kubernetes", steps));
    out
}

#[test]
fn every_recipe_runs_stale_then_apply_then_report_and_parses() {
    for (name, steps) in recipes() {
        let commands: Vec<&str> = steps.iter().map(|s| s[0].as_str()).collect();
        assert_eq!(commands, ["stale", "apply", "report"], "{name}");
        assert!(steps[1].contains(&"--summary".to_string()), "{name}");
        for step in &steps {
            let argv = std::iter::once("agentctl".to_string()).chain(step.iter().cloned());
            if let Err(e) = agentctl::help::command().try_get_matches_from(argv) {
                panic!("{name}: `agentctl {}` does not parse:\n{e}", step.join(" "));
            }
        }
    }
}

/// `ENV` of the final stage, `ENTRYPOINT` and `CMD` of the Dockerfile.
fn image() -> (Vec<(String, String)>, String, Vec<String>) {
    let text = read("Dockerfile").replace("\\\n", " ");
    let last_stage = text.rsplit("\nFROM ").next().unwrap();
    let mut env = Vec::new();
    let (mut entrypoint, mut cmd) = (String::new(), Vec::new());
    for line in last_stage.lines() {
        if let Some(rest) = line.strip_prefix("ENV ") {
            for pair in rest.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("ENV k=v");
                env.push((k.to_string(), v.to_string()));
            }
        } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
            let v: Vec<String> = serde_json::from_str(rest).unwrap();
            entrypoint = v[0].clone();
        } else if let Some(rest) = line.strip_prefix("CMD ") {
            cmd = serde_json::from_str(rest).unwrap();
        }
    }
    (env, entrypoint, cmd)
}

fn run(
    dir: &Path,
    env: &[(String, String)],
    workdir: &Path,
    args: &[String],
) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentctl"));
    common::base_env(&mut c, dir);
    for (k, v) in env {
        c.env(k, v);
    }
    c.current_dir(workdir).args(args).output().unwrap()
}

#[test]
fn the_image_steps_run_as_a_plain_binary_against_the_sandbox() {
    let (env, entrypoint, cmd) = image();
    assert_eq!(entrypoint, "/usr/local/bin/agentctl");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("var/lib/agentctl");
    let config = dir.path().join("etc/agentctl");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&config).unwrap();
    // The image's environment with its paths moved under the temporary directory.
    let map = |v: &str| {
        v.replace("/var/lib/agentctl", &state.display().to_string())
            .replace("/etc/agentctl", &config.display().to_string())
    };
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.clone(), map(v))).collect();
    assert!(env.iter().any(|(k, _)| k == "AGENTCTL_CONFIG"));

    let out = run(dir.path(), &env, &state, &cmd);
    assert!(out.status.success(), "the image's default command");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: agentctl"));

    // The Kubernetes steps, with --sandbox, in the image's working directory.
    let (_, steps) = recipes()
        .into_iter()
        .find(|(n, _)| *n == "kubernetes")
        .unwrap();
    for step in steps {
        let mut args = vec!["--sandbox".to_string()];
        args.extend(step.iter().map(|a| map(a)));
        // The sandbox fleet's last-seen times span 240 days: 30 would select most of it (over
        // --max 500); 235 keeps the run small and still exercises every step (the report too).
        if let Some(i) = args.iter().position(|a| a == "--days") {
            args[i + 1] = "235".into();
        }
        let out = run(dir.path(), &env, &state, &args);
        assert!(
            out.status.success(),
            "agentctl {}: exit {:?}\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for file in ["plan.csv", "summary.json", "report.html"] {
        assert!(
            state.join(file).exists(),
            "{file} written to the state volume"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("summary.json")).unwrap())
            .unwrap();
    assert!(summary.is_object());
    // Journals went to the state volume too (XDG_STATE_HOME).
    assert!(state.join("agentctl").exists());
}
