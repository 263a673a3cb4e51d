//! `agentctl config init | check | path`.
//!
//! - `init` adds one `[providers.NAME]` section, asking for the kind, its region and its
//!   credentials (as `env:NAME` / `file:PATH` references; a literal secret only when the user
//!   says so), writes the file with mode 0600 and runs `doctor` on the new provider. Without a
//!   terminal it takes `--kind` and `--set KEY=VALUE` instead of asking.
//! - `check` validates the whole file — syntax, every provider's keys, that every `env:` /
//!   `file:` secret can be read — without any network request.
//! - `path` prints the file agentctl uses, and why that one.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::app::App;
use crate::cli::{ConfigCommand, ConfigInitArgs, GlobalArgs};
use crate::config;
use crate::error::{CliError, CliResult, exit};
use crate::providers;

/// One key `init` knows for a kind.
#[derive(Debug)]
pub struct KeySpec {
    pub key: &'static str,
    pub prompt: &'static str,
    pub required: bool,
    pub secret: bool,
    /// Suggested answer (for secrets: the env: reference offered).
    pub default: Option<&'static str>,
    /// Allowed answers, when the key takes one of a few values.
    pub choices: &'static [&'static str],
}

const fn key(key: &'static str, prompt: &'static str) -> KeySpec {
    KeySpec {
        key,
        prompt,
        required: true,
        secret: false,
        default: None,
        choices: &[],
    }
}

const fn secret(key: &'static str, prompt: &'static str, env: &'static str) -> KeySpec {
    KeySpec {
        key,
        prompt,
        required: true,
        secret: true,
        default: Some(env),
        choices: &[],
    }
}

const fn optional(mut spec: KeySpec) -> KeySpec {
    spec.required = false;
    spec
}

/// The keys `init` asks for, per kind, in the order asked. Every other key of the kind can be
/// added with `--set` or by editing the file (config.example.toml lists them all).
pub fn keys_of(kind: &str) -> &'static [KeySpec] {
    const SE: &[KeySpec] = &[
        KeySpec {
            default: Some("nam"),
            choices: &["nam", "eu", "apjc"],
            ..key("region", "Region of the Secure Endpoint console")
        },
        key(
            "client_id",
            "v1 API client ID (Administration > Organization Settings > Configure API Credentials)",
        ),
        secret("api_key", "v1 API key", "env:SE_API_KEY"),
        optional(key(
            "xdr_client_id",
            "v3 (uninstall): Cisco XDR / Secure Client API client ID (empty: list and stale only)",
        )),
        optional(secret(
            "xdr_client_secret",
            "v3 API client password",
            "env:SE_XDR_SECRET",
        )),
    ];
    const SA: &[KeySpec] = &[
        key("api_key", "API key (Admin > API Keys)"),
        secret("api_secret", "API key secret", "env:SA_API_SECRET"),
        optional(key(
            "key_admin_key",
            "Key Admin API key, only for `clients` (empty: none)",
        )),
        optional(secret(
            "key_admin_secret",
            "Key Admin secret",
            "env:SA_KEY_ADMIN_SECRET",
        )),
        optional(key(
            "org_id",
            "Child organization id (empty: the key's own organization)",
        )),
    ];
    const APEX: &[KeySpec] = &[
        key(
            "url",
            "Apex Central URL, e.g. https://apex.example.internal",
        ),
        key(
            "application_id",
            "Application ID (Administration > Settings > Automation API Access Settings)",
        ),
        secret("api_key", "API key of that application", "env:APEX_API_KEY"),
        optional(key(
            "ca_file",
            "PEM file of a private CA (empty: system roots only)",
        )),
    ];
    const TAEGIS: &[KeySpec] = &[
        KeySpec {
            default: Some("us1"),
            choices: &[
                "us1", "us2", "us3", "eu1", "eu2", "apse2", "aps1", "apne1", "sae1", "cac1",
            ],
            ..key("region", "Region")
        },
        key(
            "client_id",
            "Client ID (Tenant Settings > Manage API Credentials)",
        ),
        secret("client_secret", "Client secret", "env:TAEGIS_CLIENT_SECRET"),
        key("tenant_id", "Tenant id (sent as X-Tenant-Context)"),
    ];
    match kind {
        agentctl_secure_endpoint::KIND => SE,
        agentctl_secure_access::KIND => SA,
        agentctl_apex_central::KIND => APEX,
        agentctl_taegis::KIND => TAEGIS,
        _ => &[],
    }
}

fn is_reference(value: &str) -> bool {
    value.starts_with("env:") || value.starts_with("file:")
}

/// Where answers come from: a terminal, or a script in tests.
pub trait Ask {
    /// Ask and read one line (trimmed).
    fn line(&mut self, prompt: &str) -> CliResult<String>;
    /// Ask without echoing the answer (secrets).
    fn hidden(&mut self, prompt: &str) -> CliResult<String>;
}

/// Questions on stderr, answers from stdin; hidden answers read from the terminal.
struct Terminal;

impl Ask for Terminal {
    fn line(&mut self, prompt: &str) -> CliResult<String> {
        crate::error::eprint_text(prompt);
        std::io::stderr().flush()?;
        let mut s = String::new();
        if std::io::stdin().lock().read_line(&mut s)? == 0 {
            return Err(CliError::usage(
                "config init",
                "input ended before the answers did",
            ));
        }
        Ok(s.trim().to_string())
    }

    fn hidden(&mut self, prompt: &str) -> CliResult<String> {
        let s = rpassword::prompt_password(prompt)
            .map_err(|e| CliError::usage("config init", format!("cannot read the answer: {e}")))?;
        Ok(s.trim().to_string())
    }
}

/// A provider `init` adds: its kind, name, and keys in the order written.
pub type NewProvider = (&'static str, String, Vec<(String, String)>);

/// The interview: kind, name, then each key of the kind. Returns (kind, name, keys in order).
pub fn interview(
    ask: &mut dyn Ask,
    existing: &config::ConfigFile,
    allow_literal: bool,
) -> CliResult<NewProvider> {
    let kinds: Vec<String> = providers::KINDS
        .iter()
        .map(|k| match k.aliases.first() {
            Some(a) => format!("{} ({a})", k.name),
            None => k.name.to_string(),
        })
        .collect();
    let kind = loop {
        let answer = ask.line(&format!("Provider kind [{}]: ", kinds.join(", ")))?;
        match providers::resolve_kind(&answer) {
            Some(k) => break k,
            None => crate::error::eprint_line(&format!(
                "'{answer}' is not a kind; type one of the names shown"
            )),
        }
    };
    let default_name = default_name(kind, existing);
    let name = loop {
        let answer = ask.line(&format!("Name of this provider [{default_name}]: "))?;
        let name = if answer.is_empty() {
            default_name.clone()
        } else {
            answer
        };
        if existing.providers.contains_key(&name) {
            crate::error::eprint_line(&format!(
                "'{name}' is already configured; choose another name"
            ));
        } else {
            break name;
        }
    };
    let mut values = Vec::new();
    let mut skip: Option<&str> = None;
    for spec in keys_of(kind) {
        if skip == Some(spec.key) {
            continue;
        }
        let mut prompt = spec.prompt.to_string();
        if !spec.choices.is_empty() {
            prompt.push_str(&format!(" ({})", spec.choices.join(" | ")));
        }
        if spec.secret {
            prompt.push_str(", as env:NAME or file:PATH");
        }
        if let Some(d) = spec.default {
            prompt.push_str(&format!(" [{d}]"));
        } else if !spec.required {
            prompt.push_str(" [skip]");
        }
        prompt.push_str(": ");
        let value = loop {
            let answer = if spec.secret {
                ask.hidden(&prompt)?
            } else {
                ask.line(&prompt)?
            };
            let answer = if answer.is_empty() {
                // An optional secret offers an env: name but is skipped on an empty answer.
                match spec.default {
                    Some(d) if spec.required || !spec.secret => d.to_string(),
                    _ => String::new(),
                }
            } else {
                answer
            };
            if answer.is_empty() {
                if spec.required {
                    crate::error::eprint_line(&format!("{} is required", spec.key));
                    continue;
                }
                break None;
            }
            if !spec.choices.is_empty() && !spec.choices.contains(&answer.as_str()) {
                crate::error::eprint_line(&format!("expected one of {}", spec.choices.join(", ")));
                continue;
            }
            if spec.secret && !is_reference(&answer) {
                let write = allow_literal
                    || ask
                        .line("That is a literal secret. Write it into the config file anyway? [y/N]: ")?
                        .eq_ignore_ascii_case("y");
                if !write {
                    crate::error::eprint_line(
                        "give env:NAME (a variable you set) or file:PATH (a file only you can read)",
                    );
                    continue;
                }
            }
            break Some(answer);
        };
        match value {
            Some(v) => values.push((spec.key.to_string(), v)),
            // An optional credential pair: no id or key, so its secret is not asked.
            None => {
                skip = match spec.key {
                    "xdr_client_id" => Some("xdr_client_secret"),
                    "key_admin_key" => Some("key_admin_secret"),
                    _ => skip,
                }
            }
        }
    }
    Ok((kind, name, values))
}

fn default_name(kind: &str, existing: &config::ConfigFile) -> String {
    let base = providers::KINDS
        .iter()
        .find(|k| k.name == kind)
        .and_then(|k| k.aliases.first().copied())
        .unwrap_or(kind)
        .to_string();
    if !existing.providers.contains_key(&base) {
        return base;
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !existing.providers.contains_key(n))
        .unwrap_or(base)
}

/// The values given with `--set`, checked against the kind's keys.
fn from_flags(kind: &'static str, args: &ConfigInitArgs) -> CliResult<Vec<(String, String)>> {
    let mut values: Vec<(String, String)> = Vec::new();
    for item in &args.set {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            CliError::usage("config init", format!("--set '{item}': expected KEY=VALUE"))
        })?;
        let (k, v) = (k.trim(), v.trim());
        if k == "kind" {
            return Err(CliError::usage(
                "config init",
                "give the kind with --kind, not --set",
            ));
        }
        if let Some(slot) = values.iter_mut().find(|(key, _)| key == k) {
            slot.1 = v.to_string();
        } else {
            values.push((k.to_string(), v.to_string()));
        }
    }
    for spec in keys_of(kind) {
        let given = values.iter().find(|(k, _)| k == spec.key);
        match given {
            None if spec.required && spec.default.is_some() && !spec.secret => {
                values.push((spec.key.to_string(), spec.default.unwrap_or("").to_string()))
            }
            None if spec.required => {
                // A ready bearer token replaces the client credentials (Taegis, Secure Endpoint).
                let has_token = values
                    .iter()
                    .any(|(k, _)| k == "token" || k == "access_token");
                let replaced = has_token
                    && matches!(
                        spec.key,
                        "client_id" | "client_secret" | "xdr_client_id" | "xdr_client_secret"
                    );
                if !replaced {
                    return Err(CliError::usage(
                        "config init",
                        format!("{kind} needs {}: {}", spec.key, spec.prompt),
                    )
                    .hint(format!("add --set {}=…", spec.key)));
                }
            }
            Some((_, v)) if spec.secret && !is_reference(v) && !args.allow_literal_secrets => {
                return Err(CliError::usage(
                    "config init",
                    format!(
                        "{} is a literal secret; it is not written into the file",
                        spec.key
                    ),
                )
                .hint(format!(
                    "use --set {}=env:NAME or file:PATH, or --allow-literal-secrets",
                    spec.key
                )));
            }
            _ => {}
        }
    }
    // Secrets `init` does not ask for (token, access_token) follow the same rule.
    for (k, v) in &values {
        let is_secret_key = matches!(k.as_str(), "token" | "access_token");
        if is_secret_key && !is_reference(v) && !args.allow_literal_secrets {
            return Err(CliError::usage(
                "config init",
                format!("{k} is a literal secret; it is not written into the file"),
            )
            .hint(format!(
                "use --set {k}=env:NAME or file:PATH, or --allow-literal-secrets"
            )));
        }
    }
    Ok(values)
}

/// The TOML text of one provider section, `kind` first, then the keys in the order given.
pub fn section(name: &str, kind: &str, values: &[(String, String)]) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let header = if bare {
        name.to_string()
    } else {
        toml::Value::String(name.to_string()).to_string()
    };
    let mut text = format!("[providers.{header}]\nkind = {}\n", toml::Value::from(kind));
    for (k, v) in values {
        text.push_str(&format!("{k} = {}\n", toml::Value::from(v.as_str())));
    }
    text
}

/// The config file this invocation uses, and why.
fn resolve_path(global: &GlobalArgs) -> CliResult<(PathBuf, &'static str)> {
    if let Some(p) = &global.config {
        let from_env = std::env::var_os("AGENTCTL_CONFIG").is_some_and(|v| v == p.as_os_str());
        return Ok((
            p.clone(),
            if from_env {
                "$AGENTCTL_CONFIG"
            } else {
                "--config"
            },
        ));
    }
    let why = if std::env::var_os("XDG_CONFIG_HOME").is_some_and(|v| !v.is_empty()) {
        "$XDG_CONFIG_HOME/agentctl/config.toml"
    } else {
        "~/.config/agentctl/config.toml (XDG_CONFIG_HOME is not set)"
    };
    config::default_path().map(|p| (p, why)).ok_or_else(|| {
        CliError::usage(
            "config",
            "no --config given and neither XDG_CONFIG_HOME nor HOME is set",
        )
        .hint("pass --config PATH or set AGENTCTL_CONFIG")
    })
}

fn path(global: &GlobalArgs) -> CliResult {
    let (path, why) = resolve_path(global)?;
    crate::error::print_text(&format!("{}\n", path.display()))?;
    if !global.quiet {
        if path.exists() {
            crate::error::eprint_line(&format!("from {why}"));
        } else {
            crate::error::eprint_line(&format!(
                "from {why}; the file does not exist yet (agentctl config init creates it)"
            ));
        }
    }
    Ok(())
}

async fn check(global: &GlobalArgs) -> CliResult {
    let (path, _) = resolve_path(global)?;
    let loaded = config::load(Some(&path)).map_err(|e| {
        if path.exists() {
            e
        } else {
            e.hint("agentctl config init creates it")
        }
    })?;
    if loaded.file.providers.is_empty() {
        return Err(CliError::usage(
            "config check",
            format!("{} configures no provider", path.display()),
        )
        .hint("agentctl config init adds one"));
    }
    let app = App::new(global.clone(), loaded.file, loaded.readable_by_others)?;
    let mut writer = app.writer(&["provider", "kind", "ok", "detail"])?;
    let mut bad = 0;
    for name in app.config.providers.keys() {
        let kind = providers::kind_of(&app.config, name).unwrap_or_default();
        // Building reads every env:/file: secret and parses every URL; nothing is sent.
        let (ok, detail) = match providers::build(&app.config, name, app.readable_by_others) {
            Ok(c) if c.insecure => (true, "valid; TLS verification OFF".to_string()),
            Ok(_) => (true, "valid".to_string()),
            Err(e) => {
                bad += 1;
                (false, e.why)
            }
        };
        let mut row = serde_json::Map::new();
        row.insert("provider".into(), json!(name));
        row.insert("kind".into(), json!(kind));
        row.insert("ok".into(), json!(ok));
        row.insert("detail".into(), json!(detail));
        writer.write_row(&row)?;
    }
    writer.finish()?;
    if bad == 0 {
        app.info(format!(
            "{} is valid ({} providers; no request was sent — `agentctl doctor` checks the credentials)",
            path.display(),
            app.config.providers.len()
        ));
        Ok(())
    } else {
        Err(CliError::exit_with(
            exit::USAGE,
            "config check",
            format!("{bad} provider(s) not valid (see above)"),
        ))
    }
}

/// Create the file 0600 (and its directory 0700), or append to it and tighten it to 0600.
fn write_section(path: &Path, text: &str) -> CliResult<bool> {
    let err = |e: std::io::Error| {
        CliError::usage(
            "config init",
            format!("cannot write {}: {e}", path.display()),
        )
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(err)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let existed = path.exists();
    let mut file = opts.open(path).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    let sep = if existed { "\n" } else { "" };
    file.write_all(format!("{sep}{text}").as_bytes())
        .and_then(|()| file.flush())
        .map_err(err)?;
    Ok(existed)
}

fn already(path: &Path, name: &str) -> CliError {
    CliError::usage(
        "config init",
        format!(
            "{} already configures a provider named '{name}'",
            path.display()
        ),
    )
    .hint("choose another --name, or edit the file")
}

async fn init(global: &GlobalArgs, args: &ConfigInitArgs) -> CliResult {
    let (path, _) = resolve_path(global)?;
    let existing = if path.exists() {
        config::load(Some(&path))?.file
    } else {
        config::ConfigFile::default()
    };
    let (kind, name, values) = match &args.kind {
        Some(k) => {
            let kind = providers::resolve_kind(k).ok_or_else(|| {
                CliError::usage("config init", format!("--kind: unknown kind '{k}'")).hint(format!(
                    "expected one of {}",
                    providers::kind_names().join(", ")
                ))
            })?;
            let name = args
                .name
                .clone()
                .unwrap_or_else(|| default_name(kind, &existing));
            if existing.providers.contains_key(&name) {
                return Err(already(&path, &name));
            }
            (kind, name, from_flags(kind, args)?)
        }
        None => {
            if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
                return Err(CliError::usage(
                    "config init",
                    "asking for the provider's keys needs a terminal",
                )
                .hint(
                    "without a terminal give them as flags: agentctl config init --kind KIND --set KEY=VALUE …",
                ));
            }
            let (kind, name, values) =
                interview(&mut Terminal, &existing, args.allow_literal_secrets)?;
            (kind, args.name.clone().unwrap_or(name), values)
        }
    };
    if existing.providers.contains_key(&name) {
        return Err(CliError::usage(
            "config init",
            format!(
                "{} already configures a provider named '{name}'",
                path.display()
            ),
        )
        .hint("choose another --name, or edit the file"));
    }
    // Check the new section exactly as a run will read it, before writing anything.
    let text = section(&name, kind, &values);
    let mut candidate = existing.clone();
    let parsed = config::parse(&text).map_err(|why| CliError::usage("config init", why))?;
    candidate.providers.extend(parsed.providers);
    providers::check_keys(&candidate, &name)?;

    let appended = write_section(&path, &text)?;
    if !global.quiet {
        crate::error::eprint_line(&format!(
            "{} [providers.{name}] to {} (mode 0600)",
            if appended { "added" } else { "wrote" },
            path.display()
        ));
    }
    if args.no_doctor {
        return Ok(());
    }
    let loaded = config::load(Some(&path))?;
    let mut global = global.clone();
    global.providers = vec![name.clone()];
    let app = App::new(global, loaded.file, loaded.readable_by_others)?;
    super::doctor::run(&app).await.map_err(|e| {
        if e.code == exit::OK {
            e
        } else {
            e.hint(format!(
                "the file is written; fix the failing check, then run: agentctl doctor -p {name}"
            ))
        }
    })
}

pub async fn run(global: &GlobalArgs, command: &ConfigCommand) -> CliResult {
    match command {
        ConfigCommand::Init(args) => init(global, args).await,
        ConfigCommand::Check => check(global).await,
        ConfigCommand::Path => path(global),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Script(std::collections::VecDeque<&'static str>, Vec<String>);

    impl Ask for Script {
        fn line(&mut self, prompt: &str) -> CliResult<String> {
            self.1.push(prompt.to_string());
            self.0
                .pop_front()
                .map(str::to_string)
                .ok_or_else(|| CliError::usage("test", format!("no answer for {prompt}")))
        }
        fn hidden(&mut self, prompt: &str) -> CliResult<String> {
            self.line(&format!("(hidden) {prompt}"))
        }
    }

    fn script(answers: &[&'static str]) -> Script {
        Script(answers.iter().copied().collect(), Vec::new())
    }

    #[test]
    fn interview_takes_references_and_refuses_a_literal_unless_confirmed() {
        let existing = config::ConfigFile::default();
        // kind, name (default), region (bad then default), client id, literal secret refused,
        // then a reference; xdr id skipped (so its secret is not asked).
        let mut s = script(&["se", "", "mars", "", "abc123", "hunter2", "n", "", ""]);
        let (kind, name, values) = interview(&mut s, &existing, false).unwrap();
        assert_eq!(kind, "secure-endpoint");
        assert_eq!(name, "se");
        assert_eq!(
            values,
            vec![
                ("region".to_string(), "nam".to_string()),
                ("client_id".to_string(), "abc123".to_string()),
                ("api_key".to_string(), "env:SE_API_KEY".to_string()),
            ]
        );
        assert!(s.1.iter().any(|p| p.starts_with("(hidden) v1 API key")));
        assert!(!s.1.iter().any(|p| p.contains("v3 API client password")));
        let text = section(&name, kind, &values);
        let parsed = config::parse(&text).unwrap();
        providers::check_keys(&parsed, "se").unwrap();
        assert!(!text.contains("hunter2"));

        // Confirmed literal: written.
        let mut s = script(&[
            "apex",
            "apex-lab",
            "https://apex.example.internal",
            "app",
            "lit",
            "y",
            "",
        ]);
        let (_, name, values) = interview(&mut s, &existing, false).unwrap();
        assert_eq!(name, "apex-lab");
        assert!(values.contains(&("api_key".to_string(), "lit".to_string())));
    }

    #[test]
    fn flags_need_every_required_key_and_references_for_secrets() {
        let args = |set: &[&str], literal: bool| ConfigInitArgs {
            kind: Some("taegis".into()),
            name: None,
            set: set.iter().map(|s| s.to_string()).collect(),
            allow_literal_secrets: literal,
            no_doctor: true,
        };
        let e = from_flags("taegis", &args(&["client_id=a"], false)).unwrap_err();
        assert!(e.why.contains("client_secret"), "{}", e.why);
        let full = ["client_id=a", "client_secret=s3cret", "tenant_id=1"];
        let e = from_flags("taegis", &args(&full, false)).unwrap_err();
        assert!(e.why.contains("literal secret"), "{}", e.why);
        assert!(from_flags("taegis", &args(&full, true)).is_ok());
        let v = from_flags(
            "taegis",
            &args(
                &["client_id=a", "client_secret=env:X", "tenant_id=1"],
                false,
            ),
        )
        .unwrap();
        assert!(v.contains(&("region".to_string(), "us1".to_string())));
        // A ready token replaces the client credentials.
        assert!(from_flags("taegis", &args(&["token=file:/t", "tenant_id=1"], false)).is_ok());
        assert!(from_flags("taegis", &args(&["token=abc", "tenant_id=1"], false)).is_err());
    }

    #[test]
    fn section_quotes_what_toml_needs() {
        let text = section("a b", "taegis", &[("client_id".into(), "x\"y".into())]);
        let parsed = config::parse(&text).unwrap();
        assert_eq!(parsed.providers["a b"]["client_id"].as_str(), Some("x\"y"));
        assert!(text.starts_with("[providers.\"a b\"]\nkind = \"taegis\"\n"));
    }
}
