//! Speed and memory of the real binary against the Secure Endpoint and Taegis simulators with
//! injected latency: listing a large fleet, and bulk uninstall at several concurrency levels
//! (1 is the sequential behaviour of the scripts agentctl replaces).
//!
//! Also Taegis remove of 1,000 assets as bulk jobs next to one mutation per asset.
//!
//! `cargo bench --bench fleet` (env: BENCH_FLEET, BENCH_LATENCY_MS, BENCH_UNINSTALL,
//! BENCH_REMOVE).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentctl_secure_endpoint::sim::{self, SimConfig};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Run the binary; return wall time and the child's peak resident memory (VmHWM, KiB).
fn measure(mut cmd: Command) -> (Duration, u64, bool) {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn agentctl");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path)
            && let Some(kb) = text
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (started.elapsed(), peak, status.success());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn write_config(dir: &Path, url: &str, cfg: &SimConfig, concurrency: usize) -> std::path::PathBuf {
    let path = dir.join(format!("config-{concurrency}.toml"));
    std::fs::write(
        &path,
        format!(
            "[defaults]\nconcurrency = {concurrency}\n\n[providers.se]\nkind = \"secure-endpoint\"\napi_url = \"{url}\"\ntoken_url = \"{url}\"\nclient_id = \"{}\"\napi_key = \"{}\"\nxdr_client_id = \"{}\"\nxdr_client_secret = \"{}\"\n",
            cfg.client_id, cfg.api_key, cfg.xdr_client_id, cfg.xdr_client_secret
        ),
    )
    .unwrap();
    path
}

fn agentctl(dir: &Path, config: &Path) -> Command {
    // The configs hold literal (simulator) secrets: keep them private, as a user would.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentctl"));
    c.env("AGENTCTL_NOW", "2026-11-23T12:00:00Z")
        .env("XDG_STATE_HOME", dir.join("state"))
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(config)
        .arg("--no-progress");
    c
}

/// Print one result line: wall time, peak memory and agents per second.
fn report(label: &str, wall: Duration, rss_kib: u64, agents: usize) {
    println!(
        "{:<44} {:>10.2} {:>9} MiB {:>9.1} ag/s",
        label,
        wall.as_secs_f64(),
        rss_kib / 1024,
        agents as f64 / wall.as_secs_f64()
    );
}

/// Run `args` against `config` and report it over `agents` agents.
fn run_listing(dir: &Path, config: &Path, label: &str, args: &[&str], agents: usize) {
    let mut cmd = agentctl(dir, config);
    cmd.args(args);
    let (wall, rss, ok) = measure(cmd);
    assert!(ok, "{label} failed");
    report(label, wall, rss, agents);
}

/// Write the first `n` agents of the whole fleet to a plan and time `uninstall --from` it.
fn run_uninstall(dir: &Path, config: &Path, plan_name: &str, n: usize) -> (Duration, u64) {
    let plan = dir.join(plan_name);
    let mut all = agentctl(dir, config);
    all.args(["list", "-o", "csv", "--out"]).arg(&plan);
    assert!(all.status().unwrap().success());
    let text = std::fs::read_to_string(&plan).unwrap();
    let head: Vec<&str> = text.lines().take(n + 1).collect();
    std::fs::write(&plan, head.join("\n") + "\n").unwrap();
    let mut cmd = agentctl(dir, config);
    cmd.args(["uninstall", "--yes", "--max", "100000", "--from"])
        .arg(&plan);
    let (wall, rss, ok) = measure(cmd);
    assert!(ok, "uninstall from {plan_name} failed");
    (wall, rss)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the bench list; this bench is not a test.
    }
    let fleet = env_num("BENCH_FLEET", 20_000) as usize;
    let latency = Duration::from_millis(env_num("BENCH_LATENCY_MS", 20));
    let uninstall_n = env_num("BENCH_UNINSTALL", 400) as usize;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();

    println!(
        "agentctl benchmark: fleet {fleet}, simulator latency {} ms per request",
        latency.as_millis()
    );
    println!(
        "{:<44} {:>10} {:>12} {:>14}",
        "scenario", "wall (s)", "peak RSS", "throughput"
    );

    let cfg = SimConfig {
        fleet_size: fleet,
        latency,
        now: "2026-11-23T12:00:00Z".parse().unwrap(),
        ..SimConfig::default()
    };
    let running = runtime.block_on(sim::start(cfg.clone(), None)).unwrap();
    let config = write_config(dir.path(), &running.base_url(), &cfg, 8);
    for (label, args) in [
        ("list (all pages, csv)", &["list", "-o", "csv"][..]),
        (
            "stale --days 30 (csv)",
            &["stale", "--days", "30", "-o", "csv"],
        ),
        ("list -o json (with raw records)", &["list", "-o", "json"]),
    ] {
        run_listing(dir.path(), &config, label, args, fleet);
    }

    // Bulk uninstall of the same number of agents at several concurrency levels, each
    // against a fresh simulator so every run does the same work (re-check + PUT per agent).
    for concurrency in [1usize, 8, 32] {
        let cfg = SimConfig {
            fleet_size: uninstall_n * 3,
            latency,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            ..SimConfig::default()
        };
        let running = runtime.block_on(sim::start(cfg.clone(), None)).unwrap();
        let config = write_config(dir.path(), &running.base_url(), &cfg, concurrency);
        let (wall, rss) = run_uninstall(
            dir.path(),
            &config,
            &format!("plan-{concurrency}.csv"),
            uninstall_n,
        );
        assert_eq!(running.uninstall_requests().len(), uninstall_n);
        report(
            &format!("uninstall {uninstall_n} (re-check on), concurrency {concurrency}"),
            wall,
            rss,
            uninstall_n,
        );
        runtime.block_on(running.shutdown());
    }
    runtime.block_on(running.shutdown());
    taegis(&runtime, dir.path(), fleet, latency, uninstall_n);
    taegis_remove(&runtime, latency);
}

/// The same measurements against the Taegis GraphQL simulator (cursor paging, 500 per page;
/// uninstall = re-check query + markForUninstall per agent).
fn taegis(
    runtime: &tokio::runtime::Runtime,
    dir: &Path,
    fleet: usize,
    latency: Duration,
    uninstall_n: usize,
) {
    use agentctl_taegis::sim as tg;
    let cfg = tg::SimConfig {
        fleet_size: fleet,
        latency,
        now: "2026-11-23T12:00:00Z".parse().unwrap(),
        ..tg::SimConfig::default()
    };
    let running = runtime.block_on(tg::start(cfg.clone(), None)).unwrap();
    let config = dir.join("config-taegis.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\nconcurrency = 8\n\n[providers.tg]\nkind = \"taegis\"\napi_url = \"{}\"\nclient_id = '{}'\nclient_secret = '{}'\ntenant_id = '{}'\n",
            running.base_url(),
            cfg.client_id,
            cfg.client_secret,
            cfg.tenant_id
        ),
    )
    .unwrap();
    for (label, args) in [
        ("taegis list (all pages, csv)", &["list", "-o", "csv"][..]),
        (
            "taegis stale --days 30 (csv)",
            &["stale", "--days", "30", "-o", "csv"],
        ),
    ] {
        run_listing(dir, &config, label, args, fleet);
    }
    let (wall, rss) = run_uninstall(dir, &config, "plan-taegis.csv", uninstall_n);
    assert_eq!(running.uninstall_requests().len(), uninstall_n);
    report(
        &format!("taegis uninstall {uninstall_n} (re-check on), conc. 8"),
        wall,
        rss,
        uninstall_n,
    );
    runtime.block_on(running.shutdown());
}

/// Taegis remove of `BENCH_REMOVE` (default 1,000) assets through the provider's bulk path
/// (`deleteAssetsV2` jobs of 100, polled to the end), next to the per-asset alternative
/// (`markForUninstall` once per asset, 8 in flight): requests sent and wall time.
fn taegis_remove(runtime: &tokio::runtime::Runtime, latency: Duration) {
    use agentctl_core::{Action, AgentRef, Provider};
    use agentctl_taegis::sim as tg;
    use futures::StreamExt;
    let n = env_num("BENCH_REMOVE", 1000) as usize;
    let start = |fleet: usize| {
        let cfg = tg::SimConfig {
            fleet_size: fleet,
            latency,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            ..tg::SimConfig::default()
        };
        let running = runtime.block_on(tg::start(cfg.clone(), None)).unwrap();
        let config: agentctl_taegis::Config = toml::from_str(&format!(
            "api_url = \"{}\"\nclient_id = '{}'\nclient_secret = '{}'\ntenant_id = '{}'\n",
            running.base_url(),
            cfg.client_id,
            cfg.client_secret,
            cfg.tenant_id
        ))
        .unwrap();
        let provider = agentctl_taegis::Taegis::new(
            "tg",
            &config,
            agentctl_core::http::HttpOptions::new("tg"),
        )
        .unwrap();
        let refs: Vec<AgentRef> = running.assets()[..n]
            .iter()
            .map(|a| AgentRef {
                provider: "tg".into(),
                agent_id: a.id.clone(),
                hostname: None,
                last_seen: None,
            })
            .collect();
        (running, provider, refs)
    };
    let graphql = |s: &tg::RunningSim| s.request_count("POST /graphql");

    // Bulk: batches of the provider's batch size, 8 batches in flight (as `concurrency = 8`).
    let (running, provider, refs) = start(n + 200);
    let batch = provider.batch_size(&Action::Remove);
    let before = graphql(&running);
    let started = Instant::now();
    let results: Vec<_> = runtime.block_on(
        futures::stream::iter(refs.chunks(batch))
            .map(|c| provider.act_batch(&Action::Remove, c))
            .buffer_unordered(8)
            .collect::<Vec<_>>(),
    );
    let wall = started.elapsed();
    let ok = results.iter().flatten().filter(|r| r.is_ok()).count();
    assert_eq!(ok, n, "every asset removed");
    println!(
        "{:<44} {:>10.2} {:>9} req {:>9} jobs",
        format!("taegis remove {n} (deleteAssetsV2, {batch}/job)"),
        wall.as_secs_f64(),
        graphql(&running) - before,
        running.request_count("graphql deleteAssetsV2"),
    );
    runtime.block_on(running.shutdown());

    // Per asset: one markForUninstall each, 8 in flight.
    let (running, provider, refs) = start(n + 200);
    let before = graphql(&running);
    let started = Instant::now();
    let results: Vec<_> = runtime.block_on(
        futures::stream::iter(&refs)
            .map(|a| provider.act(&Action::Uninstall, a))
            .buffer_unordered(8)
            .collect::<Vec<_>>(),
    );
    let wall = started.elapsed();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), n);
    println!(
        "{:<44} {:>10.2} {:>9} req",
        format!("taegis markForUninstall x {n} (per asset)"),
        wall.as_secs_f64(),
        graphql(&running) - before,
    );
    runtime.block_on(running.shutdown());
}
