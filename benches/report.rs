//! `report` across four consoles of `BENCH_REPORT_FLEET` agents each (default 100,000), the
//! simulators in roster mode (the same machines in every console, with the planted findings):
//! wall time and peak RSS of the real binary's one listing pass, identity grouping, findings
//! and rendering, per format. The target is a peak under 256 MiB: memory follows the number
//! of machines, not the vendors' JSON.
//!
//! `cargo bench --bench report`. Knobs: BENCH_REPORT_FLEET (100000), BENCH_REPORT_FORMATS
//! (`html,json,md`), BENCH_REPORT_PER_PROVIDER (unset; set: also one console at a time),
//! BENCH_REPORT_ONLY (a comma-separated list of runs: `report`, `gaps`, `se`, `sa`, `tg`,
//! `apex`, `paged`, `list-se`, `list-sa`, `list-tg`, `list-apex`; default: every run the other knobs ask for), BENCH_REPORT_WRAP
//! (a command put in front of the binary, e.g. `heaptrack -o /tmp/report`; its peak RSS is
//! then the profiler's too).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentctl_apex_central::sim as apex;
use agentctl_core::ratelimit::RateLimitSpec;
use agentctl_secure_access::sim as sa;
use agentctl_secure_endpoint::sim as se;
use agentctl_taegis_sim as tg;

const NOW: &str = "2026-11-23T12:00:00Z";
const TARGET_MIB: u64 = 256;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// Run to completion, sampling the peak RSS (`VmHWM`) from /proc.
fn measure(mut cmd: Command) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agentctl");
    let status_path = format!("/proc/{}/status", child.id());
    let mut rss_kib = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            rss_kib = rss_kib.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "agentctl report failed: {err}");
            return (started.elapsed(), rss_kib);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the bench list; this bench is not a test.
    }
    let n = env_num("BENCH_REPORT_FLEET", 100_000) as usize;
    let formats = std::env::var("BENCH_REPORT_FORMATS").unwrap_or_else(|_| "html,json,md".into());
    let now: jiff::Timestamp = NOW.parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();

    let se_cfg = se::SimConfig {
        fleet_size: n,
        now,
        roster: true,
        rate_limit: 1_000_000,
        ..se::SimConfig::default()
    };
    let sa_cfg = sa::SimConfig {
        fleet_size: n,
        now,
        roster: true,
        quotas: RateLimitSpec::off(),
        ..sa::SimConfig::default()
    };
    let tg_cfg = tg::SimConfig {
        fleet_size: n,
        now,
        roster: true,
        ..tg::SimConfig::default()
    };
    let apex_cfg = apex::SimConfig {
        fleet_size: n,
        roster: true,
        ..apex::SimConfig::default()
    };
    let started = Instant::now();
    let se_sim = runtime.block_on(se::start(se_cfg.clone(), None)).unwrap();
    let sa_sim = runtime.block_on(sa::start(sa_cfg.clone(), None)).unwrap();
    let tg_sim = runtime.block_on(tg::start(tg_cfg.clone(), None)).unwrap();
    let apex_sim = runtime
        .block_on(apex::start(apex_cfg.clone(), None))
        .unwrap();
    println!(
        "agentctl report benchmark: 4 consoles x {n} agents (roster mode), simulators ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let config = dir.join("config.toml");
    let se_url = se_sim.base_url();
    std::fs::write(
        &config,
        format!(
            "[defaults]\nconcurrency = 8\n\n\
             [providers.se]\nkind = \"secure-endpoint\"\napi_url = \"{se_url}\"\ntoken_url = \"{se_url}\"\nclient_id = \"{}\"\napi_key = \"{}\"\nxdr_client_id = \"{}\"\nxdr_client_secret = \"{}\"\nlicence_cost = 36\n\n\
             [providers.sa]\nkind = \"secure-access\"\napi_url = \"{}\"\napi_key = '{}'\napi_secret = '{}'\nrate_limit = \"off\"\n\n\
             [providers.tg]\nkind = \"taegis\"\napi_url = \"{}\"\nclient_id = '{}'\nclient_secret = '{}'\ntenant_id = '{}'\n\n\
             [providers.apex]\nkind = \"apex-central\"\nurl = \"{}\"\napplication_id = \"{}\"\napi_key = \"{}\"\nmax_response_mb = 512\n",
            se_cfg.client_id,
            se_cfg.api_key,
            se_cfg.xdr_client_id,
            se_cfg.xdr_client_secret,
            sa_sim.base_url(),
            sa_cfg.api_key,
            sa_cfg.api_secret,
            tg_sim.base_url(),
            tg_cfg.client_id,
            tg_cfg.client_secret,
            tg_cfg.tenant_id,
            apex_sim.base_url(),
            apex_cfg.application_id,
            apex_cfg.api_key,
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    println!();
    println!(
        "{:<40} {:>9} {:>14} {:>12} {:>12}",
        "scenario", "wall", "peak RSS", "agents", "out size"
    );
    // A profiler in front of the binary (e.g. `heaptrack -o /tmp/report`): where the memory goes.
    let wrap: Vec<String> = std::env::var("BENCH_REPORT_WRAP")
        .map(|w| w.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let run = |label: String, args: &[&str], out: &Path, agents: usize| {
        let mut cmd = match wrap.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(env!("CARGO_BIN_EXE_agentctl"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_agentctl")),
        };
        cmd.env("AGENTCTL_NOW", NOW)
            .env("XDG_STATE_HOME", dir.join("state"))
            .env_remove("RUST_LOG")
            .arg("--config")
            .arg(&config)
            .arg("--no-progress")
            .args(args)
            .arg("--out")
            .arg(out);
        let (wall, rss_kib) = measure(cmd);
        let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        println!(
            "{label:<40} {:>8.1}s {:>10.1} MiB {:>12} {:>8} KiB{}",
            wall.as_secs_f64(),
            rss_kib as f64 / 1024.0,
            agents,
            size.div_ceil(1024),
            if rss_kib > TARGET_MIB * 1024 {
                format!("  ! above the {TARGET_MIB} MiB target")
            } else {
                String::new()
            }
        );
    };
    let only: Option<Vec<String>> = std::env::var("BENCH_REPORT_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let per_provider = std::env::var_os("BENCH_REPORT_PER_PROVIDER").is_some();
    let wanted = |key: &str, by_default: bool| {
        only.as_ref()
            .map_or(by_default, |o| o.iter().any(|k| k == key))
    };
    for ext in formats
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && wanted("report", true))
    {
        let out = dir.join(format!("report.{ext}"));
        run(
            format!("report --out report.{ext}"),
            &["report", "--days", "30"],
            &out,
            4 * n,
        );
        summary(&out);
    }
    // The same listing pass and machine grouping without the report: what the report adds.
    if wanted("gaps", true) {
        run(
            "gaps (same listing, no report)".into(),
            &["gaps", "--days", "30", "-o", "csv"],
            &dir.join("gaps.csv"),
            4 * n,
        );
    }
    // One console at a time: where the peak comes from.
    for p in ["se", "sa", "tg", "apex"] {
        if wanted(p, per_provider) {
            run(
                format!("report -p {p} --out report.json"),
                &["-p", p, "report", "--days", "30"],
                &dir.join(format!("report-{p}.json")),
                n,
            );
        }
    }
    // One console listed without a fleet (`list` keeps no per-agent entry): the listing's own
    // memory, apart from the cross-console pass.
    for p in ["se", "sa", "tg", "apex"] {
        if wanted(&format!("list-{p}"), false) {
            run(
                format!("list -p {p} -o csv"),
                &["-p", p, "list", "-o", "csv"],
                &dir.join(format!("list-{p}.csv")),
                n,
            );
        }
    }
    if wanted("paged", per_provider) {
        run(
            "report -p se -p sa -p tg --out report.json".into(),
            &["-p", "se", "-p", "sa", "-p", "tg", "report", "--days", "30"],
            &dir.join("report-paged.json"),
            3 * n,
        );
    }
    runtime.block_on(se_sim.shutdown());
    runtime.block_on(sa_sim.shutdown());
    runtime.block_on(tg_sim.shutdown());
    runtime.block_on(apex_sim.shutdown());
}

/// The JSON report's headline numbers (a check that the run found what the roster plants).
fn summary(out: &Path) {
    if out.extension().and_then(|e| e.to_str()) != Some("json") {
        return;
    }
    let Ok(text) = std::fs::read_to_string(out) else {
        return;
    };
    let Ok(r) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    let len = |v: &serde_json::Value| v.as_array().map_or(0, Vec::len);
    println!(
        "  {} machines; {} gaps, {} duplicates, {} broken agents, {} licences reclaimable",
        r["machines"],
        len(&r["coverage"]["gaps"]),
        len(&r["duplicates"]),
        len(&r["broken_agents"]),
        r["licences_reclaimable"]["total"]
    );
}
