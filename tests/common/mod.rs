//! Test environment: a Secure Endpoint simulator on loopback, a config pointing at it, and a
//! deterministic process environment (fixed clock, private state/config dirs).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use agentctl_secure_endpoint::sim::{self, RunningSim, SimConfig};

pub mod harness;

/// The fixed "now" every test runs at.
pub const NOW: &str = "2026-11-23T12:00:00Z";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub sim: Option<RunningSim>,
    pub cfg: SimConfig,
    pub runtime: tokio::runtime::Runtime,
    pub config_path: PathBuf,
}

pub fn now() -> jiff::Timestamp {
    NOW.parse().unwrap()
}

pub fn sim_config(fleet: usize) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        now: now(),
        ..SimConfig::default()
    }
}

impl Env {
    pub fn new(cfg: SimConfig) -> Self {
        Self::with_extra(cfg, "")
    }

    /// `extra` is appended to the provider's config table.
    pub fn with_extra(cfg: SimConfig, extra: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime.block_on(sim::start(cfg.clone(), None)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        let url = sim.base_url();
        let text = format!(
            r#"[defaults]
concurrency = 4

[providers.se]
kind = "secure-endpoint"
api_url = "{url}"
token_url = "{url}"
client_id = "{}"
api_key = "env:TEST_SE_API_KEY"
xdr_client_id = "{}"
xdr_client_secret = "file:{}"
{extra}
"#,
            cfg.client_id,
            cfg.xdr_client_id,
            dir.path().join("xdr-secret").display(),
        );
        std::fs::write(
            dir.path().join("xdr-secret"),
            format!("{}\n", cfg.xdr_client_secret),
        )
        .unwrap();
        std::fs::write(&config_path, text).unwrap();
        Self {
            dir,
            sim: Some(sim),
            cfg,
            runtime,
            config_path,
        }
    }

    pub fn sim(&self) -> &RunningSim {
        self.sim.as_ref().unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `agentctl` with the test environment and `--config`.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = assert_cmd::Command::from_std(self.std_cmd());
        c.timeout(std::time::Duration::from_secs(120));
        c
    }

    pub fn std_cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agentctl"));
        base_env(&mut c, self.dir.path());
        c.env("TEST_SE_API_KEY", &self.cfg.api_key);
        c.arg("--config").arg(&self.config_path);
        c
    }

    /// GUIDs the rule says are stale at `NOW` for `days`.
    pub fn expected_stale(&self, days: i64) -> Vec<String> {
        let cutoff = now().as_second() - days * 86_400;
        let mut v: Vec<String> = self
            .sim()
            .computers()
            .iter()
            .filter(|c| {
                c["last_seen"]
                    .as_str()
                    .map(|s| s.parse::<jiff::Timestamp>().unwrap().as_second() < cutoff)
                    .unwrap_or(false)
            })
            .map(|c| c["connector_guid"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.runtime.block_on(sim.shutdown());
        }
    }
}

/// A clean environment: fixed clock, no inherited config, state or sandbox switch.
pub fn base_env(c: &mut Command, dir: &Path) {
    for var in [
        "AGENTCTL_CONFIG",
        "AGENTCTL_SANDBOX",
        "AGENTCTL_SANDBOX_DIR",
        "RUST_LOG",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "COLUMNS",
    ] {
        c.env_remove(var);
    }
    // Tables show times in the local zone: make it the same on every machine.
    c.env("TZ", "UTC");
    c.env("AGENTCTL_NOW", NOW)
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
        .env("XDG_STATE_HOME", dir.join("xdg-state"))
        .env("NO_COLOR", "1");
}

/// The journals bulk runs wrote under the test's state dir (`base_env`'s `XDG_STATE_HOME`),
/// sorted by name.
pub fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("xdg-state/agentctl/journals"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The one journal a test's runs wrote.
pub fn only_journal(dir: &Path) -> PathBuf {
    let all = journals(dir);
    assert_eq!(all.len(), 1, "one journal expected: {all:?}");
    all[0].clone()
}

/// Agent ids of a CSV written by `stale`/`list`, sorted.
pub fn csv_ids(csv_text: &str) -> Vec<String> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    let idx = headers
        .iter()
        .position(|h| h == "agent_id")
        .expect("agent_id column");
    let mut ids: Vec<String> = rdr.records().map(|r| r.unwrap()[idx].to_string()).collect();
    ids.sort();
    ids
}

/// A command's stdout as text.
pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's stderr as text.
pub fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A journal's lines as JSON objects.
pub fn journal_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Write a stale plan for `days` to `name` in the test's directory; its path and ids.
pub fn stale_plan(env: &Env, days: u32, name: &str) -> (PathBuf, Vec<String>) {
    let path = env.path(name);
    env.cmd()
        .args(["stale", "--days", &days.to_string(), "--out"])
        .arg(&path)
        .assert()
        .success();
    let ids = csv_ids(&std::fs::read_to_string(&path).unwrap());
    (path, ids)
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
