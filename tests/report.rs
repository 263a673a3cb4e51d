//! `agentctl report` end to end: JSON, Markdown and HTML against the sandbox (whose consoles
//! share machines with planted findings), checked against what `stale`, `gaps` and
//! `duplicates` say of the same fleet; hostile host names escaped per format; and the HTML
//! rendered by a real browser (headless Chromium) with its charts.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use agentctl_core::sim::{Hostile, hostile_names};
use common::{Env, base_env, sim_config};
use serde_json::Value;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_agentctl"));
        base_env(&mut c, self.dir.path());
        c.env("AGENTCTL_SANDBOX_DIR", self.dir.path().join("sandbox"));
        c.arg("--sandbox").args(args);
        c.output().unwrap()
    }

    /// `report --days 30 --out NAME` plus `extra`; the file's text and stderr.
    fn report(&self, name: &str, extra: &[&str]) -> (String, String) {
        let path = self.path(name);
        let mut args = vec!["report", "--days", "30", "--out", path.to_str().unwrap()];
        args.extend(extra);
        let out = self.cmd(&args);
        let err = ok(&out).1;
        (std::fs::read_to_string(path).unwrap(), err)
    }
}

fn ok(out: &Output) -> (String, String) {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "exit {:?}\n{err}", out.status.code());
    (String::from_utf8(out.stdout.clone()).unwrap(), err)
}

fn csv_rows(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
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

fn strings<'a>(v: &'a Value, key: &str) -> BTreeSet<&'a str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r[key].as_str().unwrap())
        .collect()
}

fn provider<'a>(r: &'a Value, section: &str, name: &str) -> &'a Value {
    let list = match section {
        "providers" => &r["providers"],
        _ => &r["licences_reclaimable"]["providers"],
    };
    list.as_array()
        .unwrap()
        .iter()
        .find(|p| p["provider"] == name)
        .unwrap_or_else(|| panic!("no {name} in {section}"))
}

#[test]
fn json_report_has_the_planted_findings_and_agrees_with_the_commands() {
    let sb = Sandbox::new();
    let protect = sb.path("protect.txt");
    // The older registration of the re-imaged machine: stale and a duplicate.
    std::fs::write(&protect, "reimaged-ws-*\n").unwrap();
    let p = protect.to_str().unwrap();
    let (text, err) = sb.report("report.json", &["--protect-file", p]);
    let r: Value = serde_json::from_str(&text).unwrap();
    assert!(err.contains("4 broken agents"), "{err}");
    assert_eq!(r["generated_at"], "2026-11-23T12:00:00Z", "JSON stays UTC");
    assert_eq!(r["stale_before"], "2026-10-24T12:00:00Z");
    assert_eq!(r["days"], 30);
    assert_eq!(r["machines"], 1216);
    assert_eq!(r["agents"], 3874);

    // Per provider: the sandbox's fleets.
    let counts = |name: &str| {
        let p = provider(&r, "providers", name);
        ["total", "active", "stale", "unknown", "pending"].map(|k| p[k].as_u64().unwrap())
    };
    assert_eq!(
        counts("sandbox-apex"),
        [244, 0, 0, 244, 0],
        "Apex has no last-seen time"
    );
    assert_eq!(counts("sandbox-sa"), [1208, 143, 1039, 26, 0]);
    assert_eq!(counts("sandbox-se"), [1212, 149, 1043, 20, 0]);
    assert_eq!(counts("sandbox-taegis"), [1210, 141, 1001, 68, 34]);
    for p in r["providers"].as_array().unwrap() {
        let hist: Vec<u64> = p["last_seen_histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["agents"].as_u64().unwrap())
            .collect();
        assert_eq!(hist.len(), 8);
        assert_eq!(
            hist.iter().sum::<u64>(),
            p["total"].as_u64().unwrap(),
            "{p}"
        );
        // Seen within 30 days: the first three buckets; no time: the last.
        assert_eq!(hist[..3].iter().sum::<u64>(), p["active"].as_u64().unwrap());
        assert_eq!(hist[7], p["unknown"].as_u64().unwrap());
    }
    assert_eq!(
        provider(&r, "providers", "sandbox-se")["last_seen_histogram"][0],
        serde_json::json!({"age": "≤ 1 d", "agents": 12})
    );

    // Coverage: every machine in one pattern; the gaps are `gaps`' rows.
    let patterns: u64 = r["coverage"]["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["machines"].as_u64().unwrap())
        .sum();
    assert_eq!(patterns, 1216);
    assert_eq!(
        r["coverage"]["expected"],
        serde_json::json!(["sandbox-sa", "sandbox-se", "sandbox-taegis"]),
        "the sandbox's coverage.expect"
    );
    let gaps = ok(&sb.cmd(&["gaps", "--days", "30", "-o", "csv"])).0;
    let gap_rows = csv_rows(&gaps);
    let gap_hosts: BTreeSet<&str> = gap_rows.iter().map(|g| g["host"].as_str()).collect();
    assert_eq!(strings(&r["coverage"]["gaps"], "host"), gap_hosts);
    assert_eq!(gap_hosts.len(), 9);
    let desktop = r["coverage"]["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["host"] == "DESKTOP-7H3K2Q")
        .unwrap();
    assert_eq!(desktop["match"], "mac");
    assert_eq!(desktop["stale_in"], serde_json::json!(["sandbox-taegis"]));
    assert_eq!(desktop["presence"]["sandbox-taegis"], "stale");
    assert_eq!(desktop["presence"]["sandbox-se"], "active");

    // Broken agents: what `stale --corroborate` drops into --broken-out.
    let broken_csv = sb.path("broken.csv");
    let (plan, stale_err) = ok(&sb.cmd(&[
        "stale",
        "--days",
        "30",
        "--corroborate",
        "-o",
        "csv",
        "--protect-file",
        p,
        "--broken-out",
        broken_csv.to_str().unwrap(),
    ]));
    let broken_rows = csv_rows(&std::fs::read_to_string(&broken_csv).unwrap());
    assert_eq!(
        strings(&r["broken_agents"], "agent_id"),
        broken_rows.iter().map(|b| b["agent_id"].as_str()).collect()
    );
    assert_eq!(
        strings(&r["broken_agents"], "hostname"),
        BTreeSet::from([
            "broken-se-01",
            "broken-tg-01",
            "lab-scanner-03",
            "zürich-pc-01"
        ])
    );
    let b = &r["broken_agents"][0];
    assert_eq!(b["hostname"], "broken-se-01");
    assert_eq!(b["seen_elsewhere_in"], "sandbox-taegis");
    assert_eq!(b["match"], "mac");

    // Protected: held back once, from both plans; `stale` counts the same.
    let held = r["protected_held_back"].as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["hostname"], "reimaged-ws-07");
    assert_eq!(held[0]["plans"], serde_json::json!(["stale", "duplicates"]));
    assert_eq!(held[0]["protected_by"], "host reimaged-ws-*");
    assert!(
        stale_err.contains("1 protected agents held back"),
        "{stale_err}"
    );

    // Duplicates: `duplicates`' plan is what the report marks for removal.
    let dups = r["duplicates"].as_array().unwrap();
    let status: BTreeMap<&str, &str> = dups
        .iter()
        .map(|d| {
            (
                d["hostname"].as_str().unwrap(),
                d["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        status,
        BTreeMap::from([
            ("fresh-twin-01", "too_recent"),
            ("kiosk-lobby-01", "remove"),
            ("reimaged-ws-07", "protected"),
        ])
    );
    let dup_plan = ok(&sb.cmd(&["duplicates", "-o", "csv", "--protect-file", p])).0;
    let planned: BTreeSet<String> = csv_rows(&dup_plan)
        .into_iter()
        .map(|d| d["agent_id"].clone())
        .collect();
    let removed: BTreeSet<String> = dups
        .iter()
        .filter(|d| d["status"] == "remove")
        .map(|d| d["agent_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(planned, removed);

    // Licences: per provider, the `stale --corroborate` plan plus the planned duplicates that
    // are not stale themselves; × licence_cost where the config has one.
    let plan_rows = csv_rows(&plan);
    let per_provider = |name: &str| plan_rows.iter().filter(|r| r["provider"] == name).count();
    for name in ["sandbox-apex", "sandbox-sa", "sandbox-se", "sandbox-taegis"] {
        let l = provider(&r, "licences", name);
        assert_eq!(
            l["retired_stale"].as_u64().unwrap() as usize,
            per_provider(name),
            "{name}"
        );
    }
    let se = provider(&r, "licences", "sandbox-se");
    assert_eq!(
        se["retired_stale"], 1041,
        "1043 stale − broken-se-01 − protected"
    );
    assert_eq!(se["duplicates"], 0);
    assert_eq!(se["licence_cost"], 36.0);
    assert_eq!(se["cost"], 1041.0 * 36.0);
    let tg = provider(&r, "licences", "sandbox-taegis");
    assert_eq!(tg["retired_stale"], 998, "1001 stale − 3 broken");
    assert_eq!(tg["duplicates"], 1, "kiosk-lobby-01's older registration");
    assert_eq!(tg["cost"], 999.0 * 24.5);
    let sa = provider(&r, "licences", "sandbox-sa");
    assert_eq!(sa["total"], 1039);
    assert_eq!(sa["cost"], Value::Null, "no licence_cost: no cost");
    assert_eq!(r["licences_reclaimable"]["total"], 1041 + 999 + 1039);
    assert_eq!(
        r["licences_reclaimable"]["cost"],
        1041.0 * 36.0 + 999.0 * 24.5
    );
}

#[test]
fn markdown_report_in_a_time_zone_and_json_on_stdout() {
    let sb = Sandbox::new();
    let (md, _) = sb.report("report.md", &["--tz", "Asia/Tokyo"]);
    for needle in [
        "# agentctl report\n",
        "Generated 2026-11-23 21:00 JST · stale = not seen for 30 days (before 2026-10-24 21:00 JST) · 1216 machines, 3874 agents, 4 providers",
        "## Providers\n",
        "| sandbox-se | secure-endpoint | 1212 | 149 | 1043 | 20 | 0 |",
        "| sandbox-se | 12 | 27 | 110 | 316 | 435 | 292 | 0 | 20 |",
        "### Machines with gaps (9)",
        "| DESKTOP-7H3K2Q | mac | sandbox-sa, sandbox-se | 2026-11-23 13:00 JST |  | sandbox-taegis |",
        "## Duplicates (3)",
        "## Broken agents (4)",
        "| sandbox-se | broken-se-01 | bccbff9e-9d14-2b44-f6af-3ebbe26363ae | 2026-07-26 21:00 JST | 2026-11-23 19:00 JST | sandbox-taegis | mac |",
        "## Protected agents held back (0)\n",
        "| sandbox-taegis | 998 | 1 | 999 | 24.50 | 24475.50 |",
        "| **total** |  |  | **3080** |  | **61987.50** |",
    ] {
        assert!(md.contains(needle), "Markdown lacks {needle:?}:\n{md}");
    }
    // Without --tz: the local zone (UTC here).
    let (md_utc, _) = sb.report("utc.md", &[]);
    assert!(md_utc.contains("Generated 2026-11-23 12:00 UTC"));

    // -o json: JSON on stdout, RFC 3339 UTC; with an explicit --tz, with that zone's offset
    // (as list and stale JSON do).
    let (stdout, _) = ok(&sb.cmd(&["report", "--days", "30", "-o", "json"]));
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(r["generated_at"], "2026-11-23T12:00:00Z");
    assert_eq!(r["licences_reclaimable"]["total"], 3080);
    let (stdout, _) = ok(&sb.cmd(&["report", "--days", "30", "-o", "json", "--tz", "Asia/Tokyo"]));
    let tokyo: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(tokyo["generated_at"], "2026-11-23T21:00:00+09:00");
    assert_eq!(tokyo["stale_before"], "2026-10-24T21:00:00+09:00");
    assert!(
        tokyo["broken_agents"][0]["seen_elsewhere"]
            .as_str()
            .is_some_and(|t| t.ends_with("+09:00")),
        "{}",
        tokyo["broken_agents"]
    );
    assert_eq!(tokyo["licences_reclaimable"], r["licences_reclaimable"]);

    // What is not a report is a usage error (exit 2) saying what to do.
    for (args, says) in [
        (vec!["report", "--days", "30"], "--out FILE is required"),
        (
            vec!["report", "--days", "30", "--out", "r.txt"],
            "use .html, .md or .json",
        ),
        (
            vec!["report", "--days", "30", "-o", "csv", "--out", "r.csv"],
            "not a report format",
        ),
        (
            vec![
                "report",
                "--days",
                "30",
                "--columns",
                "host",
                "--out",
                "r.md",
            ],
            "a report has fixed sections",
        ),
    ] {
        let out = sb.cmd(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn html_report_is_self_contained_with_charts_and_a_print_style() {
    let sb = Sandbox::new();
    let (html, _) = sb.report("report.html", &["--tz", "Asia/Tokyo"]);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        html.matches("<svg role=\"img\"").count(),
        5,
        "the status chart and one histogram per provider"
    );
    assert!(html.contains("aria-label=\"sandbox-taegis: agents by last seen\""));
    for forbidden in [
        "<script", "<link", "<img", "<iframe", "<object", "@import", "url(", "http:", "https:",
        "src=", "href=",
    ] {
        assert!(
            !html.contains(forbidden),
            "external or active content: {forbidden}"
        );
    }
    assert!(html.contains("@media print"));
    assert!(
        html.contains("<td>2026-07-26 21:00 JST</td>"),
        "times in --tz"
    );
    assert!(html.contains("<td>zürich-pc-01</td>"), "non-ASCII kept");
    assert!(html.contains("<td class=\"n\">3080</td>"), "licences total");
    assert!(
        html.contains("<td class=\"stale\">stale</td>"),
        "coverage matrix cells"
    );
}

/// A Secure Endpoint fleet with the hostile host names, all protected (so every stale one is
/// listed as held back): nothing a name says may become markup or break a table.
#[test]
fn hostile_names_are_escaped_per_format() {
    let cfg = agentctl_secure_endpoint::sim::SimConfig {
        hostile: Hostile {
            names: true,
            ..Hostile::default()
        },
        ..sim_config(24)
    };
    let env = Env::new(cfg);
    let protect = env.path("protect.txt");
    std::fs::write(&protect, "*\n").unwrap();
    let run = |name: &str| {
        let out = env.path(name);
        let o = env
            .cmd()
            .args(["report", "--days", "1", "--protect-file"])
            .arg(&protect)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        ok(&o);
        std::fs::read_to_string(out).unwrap()
    };
    let r: Value = serde_json::from_str(&run("r.json")).unwrap();
    let held: BTreeSet<&str> = strings(&r["protected_held_back"], "hostname");
    // JSON is raw: the names as the console has them.
    let markup = [
        "<img src=x onerror=alert(1)>",
        "</td><script>alert('x')</script>",
        "md|pipe`tick`[click](javascript:alert(1))\nnext-line",
    ];
    for name in markup {
        assert!(held.contains(name), "{name:?} not listed: {held:?}");
    }
    let listed: Vec<String> = hostile_names()
        .into_iter()
        .filter(|n| held.contains(n.as_str()))
        .collect();
    assert!(listed.len() >= 10, "{listed:?}");

    let html = run("r.html");
    for raw in [
        "<img",
        "<script",
        "</td><script",
        "\u{1b}",
        "\u{202e}",
        "\u{9b}",
    ] {
        assert!(!html.contains(raw), "HTML carries {raw:?}");
    }
    assert!(html.contains("<td>&lt;img src=x onerror=alert(1)&gt;</td>"));
    assert!(html.contains("<td>&lt;/td&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</td>"));
    assert!(html.contains("<td>osc52-\\x1b]52;c;aGFja2Vk\\x07</td>"));

    let md = run("r.md");
    for raw in ["\u{1b}", "\u{202e}", "\u{9b}", "\r"] {
        assert!(!md.contains(raw), "Markdown carries {raw:?}");
    }
    // Every `<` is escaped (`\<`): no HTML element reaches a Markdown renderer.
    assert!(
        md.match_indices('<').all(|(i, _)| md[..i].ends_with('\\')),
        "an unescaped < in the Markdown"
    );
    assert!(md.contains("\\<img src=x onerror=alert(1)\\>"));
    assert!(
        md.contains("md\\|pipe\\`tick\\`\\[click\\](javascript:alert(1))\\\\nnext-line"),
        "{md}"
    );
    // Every row of the held-back table has the header's number of cell separators.
    let section = md
        .split("## Protected agents held back")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let bars = |line: &str| {
        let mut n = 0;
        let mut escaped = false;
        for c in line.chars() {
            match c {
                '\\' if !escaped => escaped = true,
                '|' if !escaped => n += 1,
                _ => escaped = false,
            }
            if c != '\\' {
                escaped = false;
            }
        }
        n
    };
    let rows: Vec<&str> = section.lines().filter(|l| l.starts_with('|')).collect();
    assert!(rows.len() > listed.len(), "{section}");
    for row in &rows {
        assert_eq!(bars(row), 7, "a name broke the table: {row}");
    }
}

#[test]
fn licence_cost_from_the_config_prices_what_is_reclaimable() {
    let env = Env::with_extra(sim_config(50), "licence_cost = 12.5");
    let out = env.path("r.json");
    let run = || {
        env.cmd()
            .args(["report", "--days", "30", "--out"])
            .arg(&out)
            .output()
            .unwrap()
    };
    ok(&run());
    let r: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let stale = env.expected_stale(30).len() as u64;
    assert!(stale > 0);
    let p = &r["licences_reclaimable"]["providers"][0];
    assert_eq!(p["licence_cost"], 12.5);
    assert_eq!(
        p["retired_stale"], stale,
        "one console: every stale agent is retired"
    );
    assert_eq!(p["cost"].as_f64().unwrap(), stale as f64 * 12.5);
    assert_eq!(
        r["licences_reclaimable"]["cost"].as_f64().unwrap(),
        stale as f64 * 12.5
    );
    // A malformed licence_cost is a config error naming the key.
    for bad in ["\"cheap\"", "-3"] {
        let text = std::fs::read_to_string(&env.config_path).unwrap();
        let text = text
            .lines()
            .map(|l| {
                if l.starts_with("licence_cost") {
                    format!("licence_cost = {bad}")
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&env.config_path, text).unwrap();
        let o = run();
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("licence_cost"), "{bad}: {err}");
    }
}

/// The browser: `AGENTCTL_TEST_CHROMIUM`, else `chromium` (or `chromium-browser`) on PATH.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("AGENTCTL_TEST_CHROMIUM").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "this test renders the HTML report in headless Chromium, and no chromium is installed: \
         on Debian/Ubuntu run `apt-get install -y chromium` (.ci/run does), or set \
         AGENTCTL_TEST_CHROMIUM to a Chromium binary"
    );
}

fn headless(bin: &Path, args: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .unwrap()
}

/// What the browser made of `page` (`--dump-dom`).
fn dom(bin: &Path, page: &Path) -> String {
    let out = headless(
        bin,
        &["--dump-dom".into(), format!("file://{}", page.display())],
    );
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        dom.contains("</html>"),
        "no DOM from chromium (exit {:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    dom
}

/// A screenshot of `page` at a fixed window size: the PNG's bytes.
fn screenshot(bin: &Path, page: &Path, shot: &Path) -> Vec<u8> {
    let out = headless(
        bin,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600".into(),
            "--hide-scrollbars".into(),
            format!("file://{}", page.display()),
        ],
    );
    let png = std::fs::read(shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}); exit {:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    png
}

#[test]
fn html_report_renders_in_headless_chromium_with_visible_charts() {
    let bin = chromium();
    let sb = Sandbox::new();
    let (html, _) = sb.report("report.html", &[]);

    // The page as it is: parsed, charts and tables in the DOM.
    let dom_text = dom(&bin, &sb.path("report.html"));
    assert_eq!(dom_text.matches("<svg").count(), 5, "charts in the DOM");
    assert!(dom_text.contains("Agents per provider"));
    assert!(dom_text.contains("sandbox-se: agents by last seen"));
    assert!(dom_text.contains("broken-se-01"));
    assert!(dom_text.contains("zürich-pc-01"), "non-ASCII names survive");

    // A copy with a measuring script (the report itself has none): every chart is laid out
    // with a non-zero size.
    let probe = sb.path("probe.html");
    std::fs::write(
        &probe,
        html.replace(
            "</body>",
            "<script>document.body.setAttribute('data-svg-sizes', Array.from(document.querySelectorAll('svg')).map(function (s) { var r = s.getBoundingClientRect(); return Math.round(r.width) + 'x' + Math.round(r.height); }).join(' '));</script></body>",
        ),
    )
    .unwrap();
    let probed = dom(&bin, &probe);
    let sizes = probed
        .split("data-svg-sizes=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("the probe did not run:\n{probed}"));
    let sizes: Vec<(u32, u32)> = sizes
        .split(' ')
        .map(|wh| {
            let (w, h) = wh.split_once('x').unwrap();
            (w.parse().unwrap(), h.parse().unwrap())
        })
        .collect();
    assert_eq!(sizes.len(), 5, "{sizes:?}");
    for (w, h) in &sizes {
        assert!(
            *w >= 200 && *h >= 100,
            "a chart is laid out too small: {sizes:?}"
        );
    }

    // A screenshot that is not blank: a blank page of the same size compresses to almost
    // nothing; charts, tables and text do not.
    let blank = sb.path("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let blank_png = screenshot(&bin, &blank, &sb.path("blank.png"));
    let png = screenshot(&bin, &sb.path("report.html"), &sb.path("report.png"));
    assert!(
        png.len() > 8 * blank_png.len() && png.len() > 50_000,
        "the screenshot is {} bytes, a blank page {}: nothing painted?",
        png.len(),
        blank_png.len()
    );

    // Hostile names stay text in the browser's DOM too.
    let cfg = agentctl_secure_endpoint::sim::SimConfig {
        hostile: Hostile {
            names: true,
            ..Hostile::default()
        },
        ..sim_config(24)
    };
    let env = Env::new(cfg);
    let protect = env.path("protect.txt");
    std::fs::write(&protect, "*\n").unwrap();
    let page = env.path("hostile.html");
    let o = env
        .cmd()
        .args(["report", "--days", "1", "--protect-file"])
        .arg(&protect)
        .arg("--out")
        .arg(&page)
        .output()
        .unwrap();
    ok(&o);
    let d = dom(&bin, &page);
    assert!(!d.contains("<img"), "an <img> element from a host name");
    assert!(
        !d.contains("<script"),
        "a <script> element from a host name"
    );
    assert!(d.contains("&lt;img src=x onerror=alert(1)&gt;"));
}
