//! The README's commands, run as written: every ```sh block preceded by a
//! `<!-- readme-test: NAME -->` line runs in bash, in order, in one temporary home, with
//! `agentctl` on PATH (the binary under test) and the sandbox's state in that home.
//!
//! Build steps are what produced the binary under test, so lines starting with `cargo build`,
//! `cargo install` or `cargo test` are not run, and `cargo run --release -- ARGS` runs
//! `agentctl ARGS`.

mod common;

use std::path::Path;
use std::process::Command;

/// (name, script) of each marked block, in README order.
fn marked_blocks(readme: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix("<!-- readme-test:")
            .and_then(|r| r.strip_suffix("-->"))
        else {
            continue;
        };
        let fence = lines.next().unwrap_or_default();
        assert_eq!(
            fence.trim(),
            "```sh",
            "readme-test {name}: expected a ```sh block"
        );
        let mut script = String::new();
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            script.push_str(&translate(l));
            script.push('\n');
        }
        blocks.push((name.trim().to_string(), script));
    }
    blocks
}

fn translate(line: &str) -> String {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix("cargo run --release -- ") {
        return format!("agentctl {rest}");
    }
    if ["cargo build", "cargo install", "cargo test"]
        .iter()
        .any(|p| t.starts_with(p))
    {
        return format!("# (built by the test harness) {t}");
    }
    line.to_string()
}

fn run_block(home: &Path, bin_dir: &Path, name: &str, script: &str) {
    let mut c = Command::new("bash");
    common::base_env(&mut c, home);
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path)
        // The examples' env: references (a real run reads them from the environment).
        .env("TAEGIS_CLIENT_SECRET", "example-secret")
        .current_dir(home)
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    // What a person types at the blocks' prompts (`read -rsp … TAEGIS_CLIENT_SECRET`).
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(b"example-secret\n");
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "README block `{name}` failed (exit {:?}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn readme_commands_run_as_written() {
    let home = run_file(
        "README.md",
        &[
            "quick-start",
            "walk-through",
            "install",
            "config",
            "clients",
            "report",
        ],
    );
    for file in [
        "report.html",
        "report.md",
        "report.json",
        "report-stdout.json",
    ] {
        assert!(
            home.path().join(file).exists(),
            "README report block wrote {file}"
        );
    }
    let md = std::fs::read_to_string(home.path().join("report.md")).unwrap();
    assert!(md.contains(" JST"), "--tz Asia/Tokyo");
    let key: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.path().join("readme-key.json")).unwrap(),
    )
    .unwrap();
    assert!(key["client_secret"].as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn japanese_quick_start_commands_run_as_written() {
    let home = run_file(
        "docs/ja/README.md",
        &["install", "walk-through", "report", "config"],
    );
    assert!(home.path().join("report.html").exists());
}

/// Run `rel`'s marked blocks in a new home and check what they all promise; the home is
/// returned for file-specific checks.
fn run_file(rel: &str, expected: &[&str]) -> tempfile::TempDir {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap();
    let blocks = marked_blocks(&readme);
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    for expected in expected {
        assert!(names.contains(expected), "{rel} lost block {expected}");
    }
    let home = tempfile::tempdir().unwrap();
    let bin_dir = home.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_agentctl"), bin_dir.join("agentctl")).unwrap();
    for (name, script) in &blocks {
        run_block(home.path(), &bin_dir, &format!("{rel}: {name}"), script);
    }
    // What the blocks promise, checked.
    let h = home.path();
    assert!(h.join("stale.csv").exists());
    assert!(h.join(".local/share/man/man1/agentctl-stale.1").exists());
    assert!(
        h.join(".local/share/bash-completion/completions/agentctl")
            .exists()
    );
    assert!(h.join(".local/share/man/man1/agentctl.1").exists());
    let config = std::fs::read_to_string(h.join("xdg-config/agentctl/config.toml")).unwrap();
    assert!(config.contains("client_secret = \"env:TAEGIS_CLIENT_SECRET\""));
    home
}
