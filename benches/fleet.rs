//! Fleet-scale speed of the real binary against the simulators with injected latency, side by
//! side in one run:
//!
//! - listing (`stale --days 30 -o csv`) of 100,000 Secure Endpoint computers one page at a
//!   time (concurrency 1: what the scripts agentctl replaces do) and at the default
//!   concurrency, and of 1,000,000 with `BENCH_1M=1`: wall time, peak RSS, requests, client
//!   CPU per agent, and the ratios to the network limit (⌈M / 500⌉ × latency ÷ concurrency)
//!   and to the one-page-at-a-time run;
//! - uninstall of 2,000 agents from a 20,000-agent fleet at the default settings (re-check
//!   on): wall, requests per agent, and the ratio to a sequential loop of one request per
//!   agent (measured on 200 agents and scaled, as the original script does it);
//! - Secure Access runs under a quota the simulator enforces: a long removal under a
//!   scaled-down quota of the published shape (zero 429s; wall against requests ÷ rate),
//!   and removing 5 devices under the published quota itself;
//! - the Taegis listing (cursor paging, one page at a time by nature) for reference;
//! - Taegis remove of 1,000 assets as bulk jobs next to one mutation per asset.
//!
//! `cargo bench --bench fleet`. Knobs: BENCH_LATENCY_MS (30), BENCH_FLEET (100000),
//! BENCH_1M (unset), BENCH_REPEAT (1: runs of the concurrent listing), BENCH_UNINSTALL
//! (2000), BENCH_UNINSTALL_FLEET (20000), BENCH_REMOVE (1000).
//! `BENCH_ONLY=listing,uninstall,quota,taegis` (any of them, comma-separated) runs only those
//! parts (with `BENCH_CALLGRIND`, `BENCH_ONLY=listing` counts `stale --days 30 -o csv` only).
//! `BENCH_AGENTCTL=path` measures another agentctl binary (before/after comparisons).
//! `BENCH_CALLGRIND=N` instead counts the client's instructions per agent over N computers
//! with valgrind's callgrind (see [`callgrind`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agentctl_core::ratelimit::RateLimitSpec;
use agentctl_secure_endpoint::sim::{self, SimConfig};

const NOW: &str = "2026-11-23T12:00:00Z";
/// Linux reports process CPU time in clock ticks of 1/100 s.
const CLOCK_TICK: Duration = Duration::from_millis(10);

/// Whether `BENCH_ONLY` (unset: everything) selects `part`.
fn wanted(part: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|p| p.trim() == part))
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The binary measured: this build's, or `BENCH_AGENTCTL` (e.g. an older build, for a
/// before/after comparison against the same simulators).
fn agentctl_bin() -> PathBuf {
    std::env::var_os("BENCH_AGENTCTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_agentctl")))
}

/// What one run of the binary cost.
struct Run {
    wall: Duration,
    /// Peak resident memory (VmHWM).
    rss_kib: u64,
    /// User + system CPU time of the agentctl process.
    cpu: Duration,
}

/// Run the binary, sampling its peak memory and CPU time from /proc until it exits.
fn measure(mut cmd: Command) -> Run {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn agentctl");
    let (status_path, stat_path) = (
        format!("/proc/{}/status", child.id()),
        format!("/proc/{}/stat", child.id()),
    );
    let (mut rss_kib, mut ticks) = (0u64, 0u64);
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
        if let Ok(text) = std::fs::read_to_string(&stat_path)
            && let Some(rest) = text.rsplit_once(") ").map(|(_, r)| r)
        {
            // Fields after the command name: state is 3rd overall, utime 14th, stime 15th.
            let f: Vec<&str> = rest.split_whitespace().collect();
            if let (Some(u), Some(s)) = (f.get(11), f.get(12))
                && let (Ok(u), Ok(s)) = (u.parse::<u64>(), s.parse::<u64>())
            {
                ticks = ticks.max(u + s);
            }
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            assert!(status.success(), "agentctl failed: {err}");
            return Run {
                wall: started.elapsed(),
                rss_kib,
                cpu: CLOCK_TICK * ticks as u32,
            };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A scratch directory per scenario: its own config and state (journals, quota memory).
struct Scenario {
    dir: PathBuf,
    config: PathBuf,
}

impl Scenario {
    fn new(root: &Path, name: &str, config: String) -> Self {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("config.toml");
        std::fs::write(&path, config).unwrap();
        // The configs hold literal (simulator) secrets: keep them private, as a user would.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        Self { dir, config: path }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(agentctl_bin());
        c.env("AGENTCTL_NOW", NOW)
            .env("XDG_STATE_HOME", self.dir.join("state"))
            .env_remove("RUST_LOG")
            .arg("--config")
            .arg(&self.config)
            .arg("--no-progress")
            .args(args);
        c
    }

    /// Write the first `n` rows of `list` to a plan.
    fn plan(&self, n: usize) -> PathBuf {
        let plan = self.dir.join("plan.csv");
        let mut all = self.cmd(&["list", "-o", "csv", "--out"]);
        all.stderr(Stdio::null());
        all.arg(&plan);
        assert!(all.status().unwrap().success());
        let text = std::fs::read_to_string(&plan).unwrap();
        let head: Vec<&str> = text.lines().take(n + 1).collect();
        assert_eq!(head.len(), n + 1, "the fleet has {n} agents");
        std::fs::write(&plan, head.join("\n") + "\n").unwrap();
        plan
    }
}

fn se_config(url: &str, cfg: &SimConfig, concurrency: usize) -> String {
    format!(
        "[defaults]\nconcurrency = {concurrency}\n\n[providers.se]\nkind = \"secure-endpoint\"\napi_url = \"{url}\"\ntoken_url = \"{url}\"\nclient_id = \"{}\"\napi_key = \"{}\"\nxdr_client_id = \"{}\"\nxdr_client_secret = \"{}\"\n",
        cfg.client_id, cfg.api_key, cfg.xdr_client_id, cfg.xdr_client_secret
    )
}

fn se_sim(fleet: usize, latency: Duration) -> SimConfig {
    SimConfig {
        fleet_size: fleet,
        latency,
        now: NOW.parse().unwrap(),
        // Budget for the whole bench, as a console with a raised limit; its headers still
        // come with every answer.
        rate_limit: 1_000_000,
        ..SimConfig::default()
    }
}

/// Every request a Secure Endpoint simulator answered.
fn se_requests(running: &sim::RunningSim) -> u64 {
    [
        "GET /v1/computers",
        "GET /v1/computers/{guid}",
        "PUT uninstall_request",
        "POST /v3/access_tokens",
        "GET /v3/organizations",
        "POST /iroh/oauth2/token",
    ]
    .iter()
    .map(|k| running.request_count(k))
    .sum()
}

fn header() {
    println!(
        "| scenario | wall (s) | peak RSS (MiB) | requests | client CPU per agent (µs) | vs network limit | vs baseline |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
}

#[allow(clippy::too_many_arguments)]
fn row(
    label: &str,
    run: &Run,
    requests: u64,
    agents: usize,
    limit: Option<Duration>,
    baseline: Option<(Duration, &str)>,
) {
    let cpu = run.cpu.as_secs_f64() * 1e6 / agents.max(1) as f64;
    let vs_limit = limit.map_or("–".to_string(), |l| {
        format!("{:.2}×", run.wall.as_secs_f64() / l.as_secs_f64())
    });
    let vs_base = baseline.map_or("–".to_string(), |(b, note)| {
        format!(
            "{:.1}× faster{note}",
            b.as_secs_f64() / run.wall.as_secs_f64()
        )
    });
    println!(
        "| {label} | {:.2} | {} | {requests} | {cpu:.1} | {vs_limit} | {vs_base} |",
        run.wall.as_secs_f64(),
        run.rss_kib / 1024,
    );
}

/// Median and range of wall time and client CPU per agent over repeated runs.
fn spread(runs: &[Run], agents: usize) {
    let stats = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let (w0, wm, w1) = stats(runs.iter().map(|r| r.wall.as_secs_f64()).collect());
    let (c0, cm, c1) = stats(
        runs.iter()
            .map(|r| r.cpu.as_secs_f64() * 1e6 / agents.max(1) as f64)
            .collect(),
    );
    println!(
        "| over {} runs: wall median {wm:.2} s ({w0:.2}–{w1:.2}); client CPU per agent median {cm:.1} µs ({c0:.1}–{c1:.1}) | | | | | | |",
        runs.len()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for the bench list; this bench is not a test.
    }
    let latency = Duration::from_millis(env_num("BENCH_LATENCY_MS", 30));
    let fleet = env_num("BENCH_FLEET", 100_000) as usize;
    if let Some(n) = std::env::var("BENCH_CALLGRIND")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        callgrind(n);
        return;
    }
    let uninstall_n = env_num("BENCH_UNINSTALL", 2_000) as usize;
    let uninstall_fleet = env_num("BENCH_UNINSTALL_FLEET", 20_000) as usize;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let root = root.path();

    println!(
        "agentctl fleet benchmark: simulator latency {} ms per request, default concurrency 8",
        latency.as_millis()
    );
    println!();
    header();

    // 1. Listing: one page at a time, then at the default concurrency.
    let mut sizes = if wanted("listing") {
        vec![fleet]
    } else {
        Vec::new()
    };
    if wanted("listing") && std::env::var_os("BENCH_1M").is_some() {
        sizes.push(1_000_000);
    }
    let mut per_page = None;
    for &m in &sizes {
        let cfg = se_sim(m, latency);
        let running = runtime.block_on(sim::start(cfg.clone(), None)).unwrap();
        let pages = m.div_ceil(500) as u32;
        let stale = ["stale", "--days", "30", "-o", "csv"];
        // The simulator renders each computer's JSON once and keeps it (a console's own work
        // per page is not the client's): one untimed listing first, so every timed run
        // meets the same warm server.
        let warm = Scenario::new(
            root,
            &format!("warm-{m}"),
            se_config(&running.base_url(), &cfg, 8),
        );
        measure(warm.cmd(&stale));
        // One measured `stale` run as a table row: the requests it cost, against `limit`.
        let stale_row = |s: &Scenario, label: &str, limit, baseline| {
            let before = se_requests(&running);
            let run = measure(s.cmd(&stale));
            let requests = se_requests(&running) - before;
            row(label, &run, requests, m, limit, baseline);
            run
        };
        let baseline = if m == fleet {
            let s = Scenario::new(
                root,
                &format!("list-{m}-seq"),
                se_config(&running.base_url(), &cfg, 1),
            );
            let label = format!("SE stale, {m} agents, one page at a time");
            let run = stale_row(&s, &label, Some(latency * pages), None);
            per_page = Some(run.wall / pages);
            Some((run.wall, ""))
        } else {
            // One page at a time would take pages × the per-page time measured above.
            per_page.map(|p| (p * pages, " (est.)"))
        };
        let s = Scenario::new(
            root,
            &format!("list-{m}"),
            se_config(&running.base_url(), &cfg, 8),
        );
        // `BENCH_REPEAT=n`: n runs, each its own row, then their spread (CPU time on a
        // shared machine varies from run to run).
        let repeat = env_num("BENCH_REPEAT", 1).max(1);
        let mut runs = Vec::new();
        for _ in 0..repeat {
            let label = format!("SE stale, {m} agents, concurrency 8");
            runs.push(stale_row(&s, &label, Some(latency * pages / 8), baseline));
        }
        if runs.len() > 1 {
            spread(&runs, m);
        }
        runtime.block_on(running.shutdown());
    }
    if wanted("uninstall") {
        uninstall(&runtime, root, latency, uninstall_n, uninstall_fleet);
    }

    // 3. Under quotas the simulator enforces.
    if wanted("quota") {
        secure_access(&runtime, root, latency);
    }

    // 4. Taegis: cursor paging; remove as bulk jobs next to one mutation per asset.
    if wanted("taegis") {
        taegis(&runtime, root, fleet, latency);
        println!();
        taegis_remove(&runtime, latency);
    }
}

/// Bulk uninstall at the default settings against a sequential loop.
fn uninstall(
    runtime: &tokio::runtime::Runtime,
    root: &Path,
    latency: Duration,
    uninstall_n: usize,
    uninstall_fleet: usize,
) {
    let cfg = se_sim(uninstall_fleet, latency);
    let seq_n = uninstall_n.min(200);
    let sequential = {
        let running = runtime.block_on(sim::start(cfg.clone(), None)).unwrap();
        let s = Scenario::new(
            root,
            "uninstall-seq",
            se_config(&running.base_url(), &cfg, 1),
        );
        let plan = s.plan(seq_n);
        let before = se_requests(&running);
        let mut cmd = s.cmd(&["uninstall", "--yes", "--no-recheck", "--max", "100000"]);
        cmd.arg("--from").arg(&plan);
        let run = measure(cmd);
        assert_eq!(running.uninstall_requests().len(), seq_n);
        let requests = se_requests(&running) - before;
        row(
            &format!("SE uninstall {seq_n}, sequential loop (no re-check)"),
            &run,
            requests,
            seq_n,
            None,
            None,
        );
        runtime.block_on(running.shutdown());
        run.wall * uninstall_n as u32 / seq_n as u32
    };
    {
        let running = runtime.block_on(sim::start(cfg.clone(), None)).unwrap();
        let s = Scenario::new(root, "uninstall", se_config(&running.base_url(), &cfg, 8));
        let plan = s.plan(uninstall_n);
        let before = se_requests(&running);
        let mut cmd = s.cmd(&["uninstall", "--yes", "--max", "100000"]);
        cmd.arg("--from").arg(&plan);
        let run = measure(cmd);
        assert_eq!(running.uninstall_requests().len(), uninstall_n);
        let requests = se_requests(&running) - before;
        row(
            &format!(
                "SE uninstall {uninstall_n} of {uninstall_fleet}, defaults (re-check on); {:.2} requests per agent",
                requests as f64 / uninstall_n as f64
            ),
            &run,
            requests,
            uninstall_n,
            None,
            Some((
                sequential,
                &*format!(" than a sequential loop (scaled from {seq_n})"),
            )),
        );
        runtime.block_on(running.shutdown());
    }
}

/// `BENCH_CALLGRIND=N`: client instructions per agent of `stale --days 30` over N Secure
/// Endpoint computers (no latency), counted by `valgrind --tool=callgrind` (reproducible on
/// a busy machine, unlike CPU time), once per output format that matters.
fn callgrind(n: usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let cfg = se_sim(n, Duration::ZERO);
    let running = runtime.block_on(sim::start(cfg.clone(), None)).unwrap();
    let s = Scenario::new(
        root.path(),
        "callgrind",
        se_config(&running.base_url(), &cfg, 8),
    );
    println!("| command ({n} agents) | instructions | per agent |");
    println!("|---|---:|---:|");
    let only_csv = std::env::var_os("BENCH_ONLY").is_some() && wanted("listing");
    for (label, args) in [
        (
            "stale --days 30 -o csv",
            &["stale", "--days", "30", "-o", "csv"][..],
        ),
        ("list -o csv", &["list", "-o", "csv"][..]),
        (
            "stale --days 30 -o ndjson",
            &["stale", "--days", "30", "-o", "ndjson"][..],
        ),
    ]
    .into_iter()
    .take(if only_csv { 1 } else { 3 })
    {
        // BENCH_CALLGRIND_OUT=dir keeps the profiles for `callgrind_annotate`.
        let out = std::env::var_os("BENCH_CALLGRIND_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.path().to_path_buf())
            .join(format!("callgrind.{}.out", label.replace([' ', '-'], "")));
        let inner = s.cmd(args);
        let mut cmd = Command::new("valgrind");
        cmd.arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(inner.get_program())
            .args(inner.get_args())
            .envs(inner.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let status = cmd.status().expect("run valgrind (is it installed?)");
        assert!(status.success(), "valgrind {label} failed");
        let text = std::fs::read_to_string(&out).unwrap();
        let total: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("totals: ")
                    .or_else(|| l.strip_prefix("summary: "))
            })
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("callgrind totals");
        println!("| {label} | {total} | {} |", total / n.max(1) as u64);
    }
    runtime.block_on(running.shutdown());
}

/// Secure Access: a long removal under a scaled-down quota of the published shape, and 5
/// devices under the published quota.
fn secure_access(runtime: &tokio::runtime::Runtime, root: &Path, latency: Duration) {
    use agentctl_secure_access::sim as sa;
    let config = |running: &sa::RunningSim, cfg: &sa::SimConfig, quota: &str| {
        format!(
            "[defaults]\nconcurrency = 8\n\n[providers.sa]\nkind = \"secure-access\"\napi_url = \"{}\"\napi_key = \"{}\"\napi_secret = \"{}\"\nrate_limit = \"{quota}\"\n",
            running.base_url(),
            cfg.api_key,
            cfg.api_secret
        )
    };
    let all_requests = |running: &sa::RunningSim| {
        [
            "GET /deployments/v2/roamingcomputers",
            "GET /deployments/v2/roamingcomputers/{deviceId}",
            "DELETE /deployments/v2/roamingcomputers/{deviceId}",
        ]
        .iter()
        .map(|k| running.request_count(k))
        .sum::<u64>()
    };
    for (label, quota, rate, fleet, n) in [
        // Same shape as the published quota, 10× the rate of its 30-minute window.
        (
            "SA remove 120 under a server-enforced 5/250ms, 50/5s",
            "5/250ms, 50/5s",
            10.0,
            600usize,
            120usize,
        ),
        (
            "SA remove 5 under the published 5/s, 14/min, 350/30min",
            agentctl_secure_access::DEFAULT_RATE_LIMIT,
            5.0,
            50,
            5,
        ),
    ] {
        let cfg = sa::SimConfig {
            fleet_size: fleet,
            latency,
            now: NOW.parse().unwrap(),
            quotas: RateLimitSpec::parse(quota).unwrap(),
            ..sa::SimConfig::default()
        };
        let running = runtime.block_on(sa::start(cfg.clone(), None)).unwrap();
        let s = Scenario::new(root, &format!("sa-{n}"), config(&running, &cfg, quota));
        let plan = s.plan(n);
        // A fresh quota memory: the plan listing above is not part of the measured run.
        let _ = std::fs::remove_dir_all(s.dir.join("state"));
        std::thread::sleep(Duration::from_secs(if n > 5 { 5 } else { 1 }));
        let before = all_requests(&running);
        let throttled = running.request_count("429");
        let mut cmd = s.cmd(&["remove", "--yes", "--max", "100000"]);
        cmd.arg("--from").arg(&plan);
        let run = measure(cmd);
        assert_eq!(running.deleted().len(), n);
        let requests = all_requests(&running) - before;
        let over = running.request_count("429") - throttled;
        let floor = Duration::from_secs_f64(requests as f64 / rate);
        row(
            &format!(
                "{label}: {over} × 429; requests ÷ rate = {:.1} s",
                floor.as_secs_f64()
            ),
            &run,
            requests,
            n,
            Some(floor),
            None,
        );
        runtime.block_on(running.shutdown());
    }
}

/// Taegis: assets are cursor-paged (500 per page), so the listing is one page at a time.
fn taegis(runtime: &tokio::runtime::Runtime, root: &Path, fleet: usize, latency: Duration) {
    use agentctl_taegis_sim as tg;
    let cfg = tg::SimConfig {
        fleet_size: fleet,
        latency,
        now: NOW.parse().unwrap(),
        ..tg::SimConfig::default()
    };
    let running = runtime.block_on(tg::start(cfg.clone(), None)).unwrap();
    let s = Scenario::new(
        root,
        "taegis",
        format!(
            "[defaults]\nconcurrency = 8\n\n[providers.tg]\nkind = \"taegis\"\napi_url = \"{}\"\nclient_id = '{}'\nclient_secret = '{}'\ntenant_id = '{}'\n",
            running.base_url(),
            cfg.client_id,
            cfg.client_secret,
            cfg.tenant_id
        ),
    );
    let before = running.request_count("graphql assetsV2");
    let run = measure(s.cmd(&["stale", "--days", "30", "-o", "csv"]));
    let requests = running.request_count("graphql assetsV2") - before;
    row(
        &format!("Taegis stale, {fleet} assets (cursor paging)"),
        &run,
        requests,
        fleet,
        Some(latency * requests as u32),
        None,
    );
    taegis_windows(runtime, &running, &cfg, fleet);
    runtime.block_on(running.shutdown());
}

/// Would splitting the Taegis listing into independent `lastSeenAt` windows pay? The same
/// `assetsV2` documents agentctl sends, at the protocol level: one cursor walk over every
/// asset, against 8 windows walked concurrently (plus one for assets without a last-seen
/// time). The window bounds are the fleet's own octiles, the best case a client could
/// reach (a real one would first have to probe for them).
fn taegis_windows(
    runtime: &tokio::runtime::Runtime,
    running: &agentctl_taegis_sim::RunningSim,
    cfg: &agentctl_taegis_sim::SimConfig,
    fleet: usize,
) {
    use serde_json::{Value, json};
    let base = running.base_url();
    let http = agentctl_core::http::plain_client();
    let token: String = runtime.block_on(running.fetch_token()).unwrap();
    // One cursor walk under `filter`: (assets, requests).
    let walk = |filter: Option<Value>| {
        let (http, base, token, tenant) = (
            http.clone(),
            base.clone(),
            token.clone(),
            cfg.tenant_id.clone(),
        );
        async move {
            let (mut assets, mut requests, mut after) = (0usize, 0u64, None::<String>);
            loop {
                let body = json!({
                    "query": agentctl_taegis::documents::ASSETS_PAGE.as_str(),
                    "variables": {"first": 500, "after": after, "filter": filter},
                });
                let answer: Value = http
                    .post(format!("{base}/graphql"))
                    .bearer_auth(&token)
                    .header("X-Tenant-Context", &tenant)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                requests += 1;
                let page = &answer["data"]["assetsV2"];
                assets += page["assets"].as_array().map_or(0, Vec::len);
                match (
                    page["pageInfo"]["hasNextPage"].as_bool(),
                    page["pageInfo"]["endCursor"].as_str(),
                ) {
                    (Some(true), Some(c)) => after = Some(c.to_string()),
                    _ => return (assets, requests),
                }
            }
        }
    };
    let started = Instant::now();
    let (all, seq_requests) = runtime.block_on(walk(None));
    let sequential = started.elapsed();
    assert_eq!(all, fleet);
    let mut seen: Vec<jiff::Timestamp> = running
        .assets()
        .iter()
        .filter_map(|a| a.last_seen_at)
        .collect();
    seen.sort();
    let cuts: Vec<String> = (1..8)
        .map(|k| seen[seen.len() * k / 8].to_string())
        .collect();
    let mut filters: Vec<Value> = Vec::new();
    for k in 0..8 {
        let mut w = serde_json::Map::new();
        if k > 0 {
            w.insert("lastSeenAt_gte".into(), json!(cuts[k - 1]));
        }
        if k < 7 {
            w.insert("lastSeenAt_lt".into(), json!(cuts[k]));
        } else {
            w.insert("lastSeenAt_lt".into(), json!("9999-01-01T00:00:00Z"));
        }
        filters.push(json!({"where": w}));
    }
    // Assets without a last-seen time match no comparison.
    filters.push(json!({"where": {"not": {"lastSeenAt_lt": "9999-01-01T00:00:00Z"}}}));
    let started = Instant::now();
    let parts = runtime.block_on(futures::future::join_all(
        filters.into_iter().map(|f| walk(Some(f))),
    ));
    let windowed = started.elapsed();
    let (assets, requests) = parts
        .iter()
        .fold((0, 0), |(a, r), (pa, pr)| (a + pa, r + pr));
    assert_eq!(assets, fleet, "the windows cover the fleet exactly once");
    println!(
        "| Taegis listing {fleet} assets, protocol level: one cursor walk {:.2} s / {seq_requests} requests; 8 lastSeenAt windows + 1 null window at once {:.2} s / {requests} requests ({:.1}× faster) | | | | | | |",
        sequential.as_secs_f64(),
        windowed.as_secs_f64(),
        sequential.as_secs_f64() / windowed.as_secs_f64()
    );
}

/// Taegis remove of `BENCH_REMOVE` (default 1,000) assets through the provider's bulk path
/// (`deleteAssetsV2` jobs of 100, polled to the end), next to the per-asset alternative
/// (`markForUninstall` once per asset, 8 in flight): requests sent and wall time.
fn taegis_remove(runtime: &tokio::runtime::Runtime, latency: Duration) {
    use agentctl_core::{Action, AgentRef, Provider};
    use agentctl_taegis_sim as tg;
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
