//! Everyday use: help with examples, namespace help, `help environment`, man pages,
//! completions with provider names, `config init | check | path`, and doctor over several
//! providers. Runs the binary against the Secure Endpoint simulator.

mod common;

use std::process::Command;

use common::{Env, base_env, sim_config, stderr, stdout};

fn agentctl(dir: &std::path::Path) -> assert_cmd::Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agentctl"));
    base_env(&mut c, dir);
    let mut c = assert_cmd::Command::from_std(c);
    c.timeout(std::time::Duration::from_secs(60));
    c
}

#[test]
fn help_shows_examples_and_namespaces_show_only_what_the_kind_can_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentctl(dir.path())
        .args(["stale", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("Examples:\n  "), "{text}");
    assert!(text.contains("agentctl stale --days 30 --out stale.csv"));

    let apex = stdout(
        &agentctl(dir.path())
            .args(["apex", "--help"])
            .output()
            .unwrap(),
    );
    let commands: Vec<&str> = apex
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(commands.contains(&"relocate") && commands.contains(&"servers"));
    assert!(
        !commands.contains(&"stale"),
        "apex has no last-seen: {apex}"
    );
    assert!(!commands.contains(&"clients"), "{apex}");
    // A hidden command still parses and says why it cannot run.
    let out = agentctl(dir.path())
        .args(["--sandbox", "apex", "stale", "--days", "30"])
        .env("AGENTCTL_SANDBOX_DIR", dir.path().join("sb"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("last-seen"), "{}", stderr(&out));
}

#[test]
fn help_environment_lists_the_variables() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentctl(dir.path())
        .args(["help", "environment"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = stdout(&out);
    for var in [
        "AGENTCTL_CONFIG",
        "AGENTCTL_SANDBOX",
        "AGENTCTL_SANDBOX_DIR",
        "AGENTCTL_NOW",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "RUST_LOG",
        "HTTPS_PROXY",
        "NO_PROXY",
    ] {
        assert!(text.contains(var), "{var} missing:\n{text}");
    }
}

#[test]
fn man_writes_a_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentctl(dir.path()).arg("man").output().unwrap();
    assert!(out.status.success());
    assert!(stdout(&out).contains(".TH agentctl 1"));

    let man = dir.path().join("man/man1");
    agentctl(dir.path())
        .args(["man", "--dir"])
        .arg(&man)
        .assert()
        .success();
    for page in [
        "agentctl.1",
        "agentctl-stale.1",
        "agentctl-config-init.1",
        "agentctl-secure-endpoint-orgs.1",
        "agentctl-environment.1",
    ] {
        let text =
            std::fs::read_to_string(man.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page}");
    }
    let stale = std::fs::read_to_string(man.join("agentctl-stale.1")).unwrap();
    assert!(stale.contains("Examples"));
    // Namespace pages only for what the kind can do.
    assert!(!man.join("agentctl-apex-central-stale.1").exists());
}

#[test]
fn completions_complete_provider_names_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let script = stdout(
        &agentctl(dir.path())
            .args(["completions", "bash"])
            .output()
            .unwrap(),
    );
    assert!(
        script.contains("complete ") && script.contains("agentctl"),
        "{script}"
    );
    // What the script does when the user presses TAB after `-p `.
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[providers.se-apjc]\nkind = \"secure-endpoint\"\n[providers.taegis-us]\nkind = \"taegis\"\n",
    )
    .unwrap();
    let out = agentctl(dir.path())
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "3")
        .env("AGENTCTL_CONFIG", &config)
        .args(["--", "agentctl", "stale", "-p", ""])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let words: Vec<String> = stdout(&out).split('\n').map(str::to_string).collect();
    assert_eq!(words, vec!["se-apjc", "taegis-us"]);
    // Subcommands complete too, and a kind's namespace offers only what it can do.
    let out = agentctl(dir.path())
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .args(["--", "agentctl", "apex", ""])
        .output()
        .unwrap();
    let words = stdout(&out);
    assert!(
        words.contains("servers") && !words.contains("stale"),
        "{words}"
    );
}

#[test]
fn config_path_says_which_file_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentctl(dir.path())
        .args(["config", "path"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        dir.path()
            .join("xdg-config/agentctl/config.toml")
            .display()
            .to_string()
    );
    assert!(stderr(&out).contains("does not exist yet"));
    let out = agentctl(dir.path())
        .env("AGENTCTL_CONFIG", "/etc/agentctl.toml")
        .args(["config", "path"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out).trim(), "/etc/agentctl.toml");
    assert!(stderr(&out).contains("$AGENTCTL_CONFIG"));
}

#[test]
fn config_init_without_a_terminal_needs_flags_and_refuses_literal_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let out = agentctl(dir.path())
        .args(["config", "init"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs a terminal"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("hint: "));

    let out = agentctl(dir.path())
        .args([
            "config",
            "init",
            "--kind",
            "apex",
            "--set",
            "url=https://apex.example.internal",
            "--set",
            "application_id=app",
            "--set",
            "api_key=s3cr3t-literal",
            "--no-doctor",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("literal secret"), "{}", stderr(&out));
    assert!(!dir.path().join("xdg-config/agentctl/config.toml").exists());
    assert!(!stderr(&out).contains("s3cr3t-literal"));
}

#[test]
fn config_init_writes_0600_runs_doctor_and_check_validates_offline() {
    let env = Env::new(sim_config(30));
    let url = env.sim().base_url();
    let config = env.path("new/config.toml");
    let secret_file = env.path("xdr-secret");
    let cmd = || {
        let mut c = agentctl(env.dir.path());
        c.env("TEST_SE_API_KEY", &env.cfg.api_key);
        c
    };
    let out = cmd()
        .args(["--config"])
        .arg(&config)
        .args(["config", "init", "--kind", "se", "--name", "se-lab"])
        .args(["--set", &format!("api_url={url}")])
        .args(["--set", &format!("token_url={url}")])
        .args(["--set", &format!("client_id={}", env.cfg.client_id)])
        .args(["--set", "api_key=env:TEST_SE_API_KEY"])
        .args(["--set", &format!("xdr_client_id={}", env.cfg.xdr_client_id)])
        .args([
            "--set",
            &format!("xdr_client_secret=file:{}", secret_file.display()),
        ])
        .args(["-o", "csv"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // Doctor ran on the new provider.
    let doctor = stdout(&out);
    assert!(
        doctor.starts_with("provider,kind,check,ok,detail,latency_ms\n"),
        "{doctor}"
    );
    assert!(
        doctor.lines().skip(1).all(|l| l.starts_with("se-lab,")),
        "{doctor}"
    );
    assert!(!doctor.contains(",false,"), "{doctor}");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.starts_with("[providers.se-lab]\nkind = \"secure-endpoint\"\n"),
        "{text}"
    );
    assert!(!text.contains(&env.cfg.api_key) && !text.contains(&env.cfg.xdr_client_secret));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&config).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A second provider is appended; the same name is refused.
    let again = cmd()
        .arg("--config")
        .arg(&config)
        .args([
            "config",
            "init",
            "--kind",
            "se",
            "--name",
            "se-lab",
            "--no-doctor",
        ])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already configures"),
        "{}",
        stderr(&again)
    );
    cmd()
        .arg("--config")
        .arg(&config)
        .args([
            "config",
            "init",
            "--kind",
            "taegis",
            "--no-doctor",
            "--set",
            "client_id=c",
            "--set",
            "client_secret=env:TAEGIS_SECRET_UNSET",
            "--set",
            "tenant_id=1",
        ])
        .assert()
        .success();

    // check: the SE provider is valid; the Taegis one names its missing variable; exit 2.
    let out = cmd()
        .arg("--config")
        .arg(&config)
        .args(["config", "check", "-o", "csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let rows = stdout(&out);
    assert!(rows.contains("se-lab,secure-endpoint,true,valid"), "{rows}");
    assert!(rows.contains("taegis,taegis,false,"), "{rows}");
    assert!(rows.contains("TAEGIS_SECRET_UNSET"), "{rows}");
    // No request reached the simulator from `check`.
    let requests = || -> u64 {
        [
            "GET /v1/computers",
            "POST /iroh/oauth2/token",
            "POST /v3/access_tokens",
            "GET /v3/organizations",
        ]
        .iter()
        .map(|k| env.sim().request_count(k))
        .sum()
    };
    let before = requests();
    cmd()
        .arg("--config")
        .arg(&config)
        .args(["config", "check", "-p", "se-lab"])
        .env("TAEGIS_SECRET_UNSET", "x")
        .assert()
        .success();
    assert_eq!(requests(), before);
}

#[test]
fn doctor_checks_every_provider_and_keeps_config_order() {
    let env = Env::new(sim_config(20));
    let text = std::fs::read_to_string(&env.config_path).unwrap();
    // A second provider with the same credentials, and one that cannot connect.
    let second = text.split("[providers.se]").nth(1).unwrap().to_string();
    let extra = format!(
        "\n[providers.se2]{second}\n[providers.down]\nkind = \"secure-endpoint\"\napi_url = \"http://127.0.0.1:9\"\ntoken_url = \"http://127.0.0.1:9\"\nclient_id = \"c\"\napi_key = \"env:TEST_SE_API_KEY\"\ntimeout_secs = 2\n"
    );
    std::fs::write(&env.config_path, format!("{text}{extra}")).unwrap();
    let out = env.cmd().args(["doctor", "-o", "csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let providers: Vec<String> = stdout(&out)
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    let mut order = providers.clone();
    order.dedup();
    assert_eq!(order, vec!["down", "se", "se2"], "{}", stdout(&out));
    assert!(stdout(&out).contains("se,secure-endpoint,config,true"));
    // The unreachable provider fails its connection check with a hint-worthy reason.
    assert!(stdout(&out).contains("down,secure-endpoint,"));
}

#[test]
fn errors_carry_a_hint_where_a_next_step_exists() {
    let env = Env::new(sim_config(5));
    let out = env.cmd().args(["list", "-p", "SE"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("hint: did you mean -p se?"),
        "{}",
        stderr(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let out = agentctl(dir.path()).args(["list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("hint: agentctl config init"),
        "{}",
        stderr(&out)
    );
}
