//! What `--help`, `help environment`, the man pages and the completions show, added to the
//! derived command line in one place: 2–4 examples per command, namespace help that lists only
//! what that kind can do, the environment variables, and provider-name completion from the
//! config.

use clap::{CommandFactory, FromArgMatches};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use crate::cli::Cli;
use crate::providers::{self, KINDS};

/// Examples per command path (subcommand names joined by spaces; `""` is `agentctl` itself).
/// Kind namespaces (`se stale`) get their own entry where the kind needs different flags, else
/// the top-level examples without `-p`, rewritten to the namespace.
const EXAMPLES: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "# Try everything against built-in simulators, no account needed:",
            "agentctl --sandbox stale --days 180",
            "agentctl stale --days 30 --out stale.csv",
            "agentctl uninstall --from stale.csv",
            "agentctl apex relocate --host client01 --to-server ApexOne02 --folder '\\NewDomain\\NewFolder'",
        ],
    ),
    (
        "list",
        &[
            "agentctl --sandbox list --host 'client0*'",
            "agentctl list -p se-apjc -o json --out agents.json",
            "agentctl list --host 'KIOSK-*' -o csv",
        ],
    ),
    (
        "stale",
        &[
            "# The plan to review, then to give to `uninstall --from`:",
            "agentctl stale --days 30 --out stale.csv",
            "agentctl --sandbox stale --days 30 --corroborate --broken-out broken.csv",
            "agentctl stale --days 90 --include-unknown -o json",
        ],
    ),
    (
        "gaps",
        &[
            "# Machines active somewhere but missing or stale in another console:",
            "agentctl --sandbox gaps --days 30",
            "agentctl gaps --days 14 --expect secure-endpoint,taegis",
            "agentctl gaps --days 30 -o csv --out gaps.csv",
        ],
    ),
    (
        "duplicates",
        &[
            "# Older registrations of re-imaged machines, as a plan for `remove --from`:",
            "agentctl --sandbox duplicates",
            "agentctl duplicates --out dups.csv",
            "agentctl duplicates --min-age 72 -p taegis",
        ],
    ),
    (
        "report",
        &[
            "# One self-contained page with charts, for people (open it in a browser, print it):",
            "agentctl --sandbox report --days 30 --out report.html",
            "agentctl report --days 30 --tz Asia/Tokyo --out report.md",
            "agentctl report --days 30 --out report.json",
            "agentctl report --days 90 -o json | jq '.licences_reclaimable.total'",
        ],
    ),
    (
        "uninstall",
        &[
            "# Show the call per agent, send nothing:",
            "agentctl uninstall --from stale.csv --dry-run",
            "agentctl uninstall --from stale.csv --yes --max 2000",
            "agentctl uninstall --id 9cc16b53-7e2a-4b1c-9a43-0123456789ab -p se-apjc",
        ],
    ),
    (
        "remove",
        &[
            "# Delete the registrations from the console (the machine is not touched):",
            "agentctl remove --from stale.csv --dry-run",
            "agentctl remove -p taegis --host 'KIOSK-*' --yes",
            "agentctl remove --from stale.csv --yes --max 2000",
        ],
    ),
    (
        "restore",
        &[
            "# Bring back exactly what one remove run removed, from that run's journal:",
            "agentctl restore --from ~/.local/state/agentctl/journals/3f9c0e1a2b4d5e6f-remove.jsonl --dry-run",
            "agentctl restore -p taegis --id 0a1b2c3d-4e5f-6789-abcd-ef0123456789 --yes",
        ],
    ),
    (
        "apply",
        &[
            "# Each row's action column, written by `stale --action`, in one run:",
            "agentctl stale --days 30 --action auto --out plan.csv",
            "agentctl apply --from plan.csv --dry-run",
            "agentctl apply --from plan.csv --yes --summary run.json",
        ],
    ),
    (
        "runs",
        &[
            "agentctl runs",
            "agentctl runs -o json",
            "agentctl runs show 3f9c0e1a2b4d5e6f",
        ],
    ),
    (
        "runs show",
        &[
            "# By plan digest, run id or journal path:",
            "agentctl runs show 3f9c0e1a2b4d5e6f -o csv",
            "agentctl runs show 20261123T120000Z-4242 -o json",
        ],
    ),
    (
        "relocate",
        &[
            "agentctl apex relocate --host client01 --to-server ApexOne02 --folder '\\NewDomain\\NewFolder'",
            "agentctl se relocate --host 'LAB-*' --to-server Quarantine --dry-run",
            "agentctl relocate -p apex --from moves.csv --to-server ApexOne02 --folder '\\Branch' --yes",
        ],
    ),
    (
        "clients",
        &[
            "# Without -p: the only configured provider that manages credentials",
            "agentctl clients list",
            "agentctl sa clients create siem_export --scope reports.activity:read --save siem.json",
            "agentctl clients -p taegis rotate kO3mT7xQ2vW9yZ1aB4cD6eF8gH0jL5nP --save new.json",
        ],
    ),
    (
        "clients list",
        &[
            "agentctl taegis clients list",
            "agentctl clients -p sa list -o json",
        ],
    ),
    (
        "clients get",
        &[
            "agentctl taegis clients get kO3mT7xQ2vW9yZ1aB4cD6eF8gH0jL5nP",
            "agentctl clients -p sa get 1234567 -o json",
        ],
    ),
    (
        "clients create",
        &[
            "# The secret is printed once; --save writes it to a new 0600 file instead:",
            "agentctl sa clients create siem_export --scope reports.activity:read --save siem.json",
            "agentctl taegis clients create soar --role responder",
            "agentctl sa clients create temp --scope deployments.roamingcomputers:read --expire-at 2027-06-30T00:00:00Z",
        ],
    ),
    (
        "clients rotate",
        &[
            "agentctl taegis clients rotate kO3mT7xQ2vW9yZ1aB4cD6eF8gH0jL5nP --save new.json",
            "agentctl clients -p sa rotate 1234567",
        ],
    ),
    (
        "clients delete",
        &[
            "agentctl taegis clients delete kO3mT7xQ2vW9yZ1aB4cD6eF8gH0jL5nP",
            "agentctl clients -p sa delete 1234567 --yes",
            "# The credential agentctl itself runs on needs --force-self:",
            "agentctl clients -p sa delete 7654321 --yes --force-self",
        ],
    ),
    (
        "clients delete-all",
        &[
            "# Lists what it deletes first; agentctl's own credentials are skipped:self",
            "agentctl clients -p sa delete-all --dry-run",
            "agentctl taegis clients delete-all --yes",
            "agentctl clients -p sa delete-all --yes",
            "agentctl --sandbox clients -p sandbox-taegis delete-all --yes",
        ],
    ),
    (
        "doctor",
        &[
            "agentctl doctor",
            "agentctl doctor -p se-apjc -o json",
            "agentctl --sandbox doctor",
        ],
    ),
    (
        "completions",
        &[
            "mkdir -p ~/.local/share/bash-completion/completions && agentctl completions bash > ~/.local/share/bash-completion/completions/agentctl",
            "mkdir -p ~/.zfunc && agentctl completions zsh > ~/.zfunc/_agentctl   # with fpath+=(~/.zfunc) in ~/.zshrc",
            "mkdir -p ~/.config/fish/completions && agentctl completions fish > ~/.config/fish/completions/agentctl.fish",
        ],
    ),
    (
        "config",
        &[
            "agentctl config init",
            "agentctl config check",
            "agentctl config path",
        ],
    ),
    (
        "config init",
        &[
            "# Asks for the kind, region and credentials (as env:/file: references):",
            "agentctl config init",
            "agentctl config init --kind taegis --name taegis --set region=us1 --set client_id=kO3mT7xQ2vW9yZ1aB4cD6eF8gH0jL5nP --set client_secret=env:TAEGIS_CLIENT_SECRET --set tenant_id=50530",
            "agentctl --config ./team.toml config init --kind apex --set url=https://apex.example.internal --set application_id=00000000-0000-0000-0000-000000000000 --set api_key=file:/run/secrets/apex --no-doctor",
        ],
    ),
    (
        "config check",
        &[
            "agentctl config check",
            "agentctl --config ./team.toml config check",
        ],
    ),
    (
        "config path",
        &[
            "agentctl config path",
            "AGENTCTL_CONFIG=./team.toml agentctl config path",
        ],
    ),
    (
        "man",
        &[
            "mkdir -p ~/.local/share/man/man1 && agentctl man --dir ~/.local/share/man/man1",
            "agentctl man | man -l -",
        ],
    ),
    (
        "environment",
        &["agentctl help environment", "agentctl environment"],
    ),
    (
        "secure-endpoint",
        &[
            "agentctl se stale --days 60",
            "agentctl se orgs",
            "agentctl se relocate --host 'LAB-*' --to-server Quarantine --dry-run",
        ],
    ),
    (
        "secure-endpoint orgs",
        &["agentctl se orgs", "agentctl --sandbox se orgs -o json"],
    ),
    (
        "secure-endpoint relocate",
        &[
            "# Move to a group (name or GUID); groups have no folders:",
            "agentctl se relocate --host 'LAB-*' --to-server Quarantine --dry-run",
            "agentctl se relocate --from moves.csv --to-server 6e1c53a1-1b2f-4f7e-8a8e-5d5e3f8f1a2b --yes",
        ],
    ),
    (
        "secure-access",
        &[
            "agentctl sa stale --days 45 --out sa-stale.csv",
            "agentctl sa tunnels -o json",
            "agentctl sa clients list",
        ],
    ),
    (
        "secure-access tunnels",
        &[
            "agentctl sa tunnels",
            "agentctl --sandbox sa tunnels -o json",
        ],
    ),
    (
        "apex-central",
        &[
            "agentctl apex servers",
            "agentctl apex list --host 'KIOSK-*'",
            "agentctl apex relocate --host client01 --to-server ApexOne02 --folder '\\NewDomain\\NewFolder'",
        ],
    ),
    (
        "apex-central servers",
        &[
            "agentctl apex servers",
            "agentctl --sandbox apex servers -o json",
        ],
    ),
    (
        "apex-central relocate",
        &[
            "agentctl apex relocate --host client01 --to-server ApexOne02 --folder '\\NewDomain\\NewFolder'",
            "agentctl apex relocate --from moves.csv --to-server 3D3FE4CB-6B3E-4E5C-9F2D-1A2B3C4D5E6F --folder '\\Branch' --yes",
            "agentctl --sandbox apex relocate --host client01 --to-server ApexOne02 --folder '\\Moved' --dry-run",
        ],
    ),
    (
        "taegis",
        &[
            "agentctl taegis stale --days 30 --out tg-stale.csv",
            "agentctl taegis clients list",
            "agentctl taegis doctor",
        ],
    ),
];

/// The kind namespaces' command names and the kind they scope to.
fn namespaces() -> impl Iterator<Item = (&'static str, &'static providers::KindInfo)> {
    KINDS.iter().map(|k| (k.name, k))
}

/// Every environment variable agentctl reads, with what it does.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "AGENTCTL_CONFIG",
        "Config file, as --config [default: $XDG_CONFIG_HOME/agentctl/config.toml]",
    ),
    (
        "AGENTCTL_SANDBOX",
        "1, true, yes or on: run against the built-in simulators, as --sandbox",
    ),
    (
        "AGENTCTL_SANDBOX_DIR",
        "Where --sandbox keeps its state [default: $XDG_STATE_HOME/agentctl/sandbox]",
    ),
    (
        "AGENTCTL_NOW",
        "Pin the clock to an RFC 3339 time (reproducible stale output, tests)",
    ),
    (
        "AGENTCTL_SPILL_BUDGET",
        "Bytes of rows list and stale sort in memory before spilling sorted runs to temporary files [default: 12 MiB]",
    ),
    (
        "XDG_CONFIG_HOME",
        "Base of the default config path [default: ~/.config]",
    ),
    (
        "XDG_STATE_HOME",
        "Base of journals and sandbox state [default: ~/.local/state]",
    ),
    (
        "HOME",
        "Used for the two defaults above and for `~/` in file: secrets",
    ),
    (
        "TMPDIR",
        "Where large listings spill sorted runs (unnamed files, removed on exit); state directory of last resort when neither XDG_STATE_HOME nor HOME is set",
    ),
    (
        "TZ",
        "The local time zone tables use by default (--tz overrides)",
    ),
    (
        "COLUMNS",
        "Width tables are fitted to [default: the terminal's width]",
    ),
    (
        "RUST_LOG",
        "Log filter; overrides -v and -q (e.g. RUST_LOG=agentctl_core=debug)",
    ),
    (
        "NO_COLOR",
        "Set and not empty: no colour in logs, even on a terminal",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY",
        "Proxy for HTTPS / HTTP / all requests (lower-case names too)",
    ),
    (
        "NO_PROXY",
        "Hosts reached without the proxy, comma-separated (lower-case name too)",
    ),
    (
        "SSL_CERT_FILE, SSL_CERT_DIR",
        "Where the system's trusted root certificates are (a provider's ca_file adds to them)",
    ),
    (
        "COMPLETE",
        "Set by the scripts of `agentctl completions` when the shell asks for completions",
    ),
    (
        "env:NAME in the config",
        "Any secret written as env:NAME is read from the variable NAME",
    ),
];

/// The environment table as help / man text.
pub fn environment_text() -> String {
    let mut text = String::from("Environment variables agentctl reads:\n\n");
    for (name, what) in ENVIRONMENT {
        text.push_str(&format!("  {name}\n      {what}\n"));
    }
    text.push_str(
        "\nCommand-line options win over the environment, the environment over the config file.\n",
    );
    text
}

fn examples_for(path: &str) -> Option<Vec<String>> {
    if let Some((_, ex)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        return Some(ex.iter().map(|s| s.to_string()).collect());
    }
    // `<kind> <command…>`: the top-level examples without -p, in the namespace.
    let (ns, rest) = path.split_once(' ')?;
    let kind = KINDS.iter().find(|k| k.name == ns)?;
    let short = kind.aliases.first().copied().unwrap_or(kind.name);
    let (_, top) = EXAMPLES.iter().find(|(p, _)| *p == rest)?;
    let first = rest.split(' ').next().unwrap_or(rest);
    let namespace_words: Vec<&str> = KINDS
        .iter()
        .flat_map(|k| std::iter::once(k.name).chain(k.aliases.iter().copied()))
        .collect();
    let mut rewritten: Vec<String> = Vec::new();
    for e in top.iter().filter(|e| !e.starts_with('#')) {
        // Drop another namespace and `-p NAME` (one provider of the kind needs neither).
        let Some(after) = e.strip_prefix("agentctl ") else {
            continue;
        };
        let mut words: Vec<&str> = after.split(' ').collect();
        let sandbox = words.first() == Some(&"--sandbox");
        if sandbox {
            words.remove(0);
        }
        if words.first().is_some_and(|w| namespace_words.contains(w)) {
            words.remove(0);
        }
        if let Some(i) = words.iter().position(|w| *w == "-p") {
            words.drain(i..(i + 2).min(words.len()));
        }
        if words.first() != Some(&first) {
            continue;
        }
        let line = format!(
            "agentctl {}{short} {}",
            if sandbox { "--sandbox " } else { "" },
            words.join(" ")
        );
        if !rewritten.contains(&line) {
            rewritten.push(line);
        }
    }
    (!rewritten.is_empty()).then_some(rewritten)
}

fn examples_block(examples: &[String]) -> String {
    let mut s = String::from("Examples:\n");
    for e in examples {
        s.push_str("  ");
        s.push_str(e);
        s.push('\n');
    }
    s.trim_end().to_string()
}

/// The operation a command name stands for, where a provider may not support it.
fn operation_of(command: &str) -> Option<agentctl_core::Operation> {
    use agentctl_core::Operation;
    Some(match command {
        "list" => Operation::List,
        "stale" => Operation::Stale,
        "uninstall" => Operation::Uninstall,
        "remove" => Operation::Remove,
        "restore" => Operation::Restore,
        "relocate" => Operation::Relocate,
        "clients" => Operation::Clients,
        _ => return None,
    })
}

fn add_examples(cmd: clap::Command, path: &str) -> clap::Command {
    let cmd = match examples_for(path) {
        Some(ex) => cmd.after_help(examples_block(&ex)),
        None => cmd,
    };
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    names.iter().fold(cmd, |cmd, name| {
        let sub_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path} {name}")
        };
        cmd.mut_subcommand(name, |c| add_examples(c, &sub_path))
    })
}

/// Provider names from the config (for completion): `AGENTCTL_CONFIG` or the default path.
/// A config that cannot be read or parsed completes nothing.
fn provider_candidates() -> Vec<CompletionCandidate> {
    let path = std::env::var_os("AGENTCTL_CONFIG")
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(crate::config::default_path);
    let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return Vec::new();
    };
    let Ok(file) = crate::config::parse(&text) else {
        return Vec::new();
    };
    file.providers
        .iter()
        .map(|(name, table)| {
            let kind = table.get("kind").and_then(|k| k.as_str()).unwrap_or("");
            CompletionCandidate::new(name).help(Some(kind.to_string().into()))
        })
        .collect()
}

/// The full command line: the derived one plus examples, namespace help, the environment
/// list and provider-name completion.
pub fn command() -> clap::Command {
    let mut cmd = Cli::command()
        .after_long_help(format!(
            "{}\n\nEnvironment variables: agentctl help environment",
            examples_block(&examples_for("").unwrap_or_default())
        ))
        .mut_arg("providers", |a| {
            a.add(ArgValueCandidates::new(provider_candidates))
        })
        .mut_subcommand("environment", |c| {
            c.after_long_help(format!(
                "{}\n\n{}",
                environment_text().trim_end(),
                examples_block(&examples_for("environment").unwrap_or_default())
            ))
        });
    // Namespace help lists only what that kind can do; the rest still parses (and says why it
    // cannot run) but is hidden from help and completion.
    for (ns, kind) in namespaces() {
        cmd = cmd.mut_subcommand(ns, |ns_cmd| {
            let names: Vec<String> = ns_cmd
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            names
                .iter()
                .fold(ns_cmd, |c, name| match operation_of(name) {
                    Some(op) if !kind.operations.contains(&op) => {
                        c.mut_subcommand(name, |s| s.hide(true))
                    }
                    _ => c,
                })
        });
    }
    add_examples(cmd, "")
}

/// Parse the process's arguments with [`command`] (exits with clap's message on an error).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Every command path, for tests and the man pages: `["", "list", "clients list", …]`.
pub fn command_paths(cmd: &clap::Command) -> Vec<String> {
    fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        out.push(path.to_string());
        for sub in cmd.get_subcommands() {
            let p = if path.is_empty() {
                sub.get_name().to_string()
            } else {
                format!("{path} {}", sub.get_name())
            };
            walk(sub, &p, out);
        }
    }
    let mut out = Vec::new();
    walk(cmd, "", &mut out);
    out
}

/// Split an example line like a POSIX shell would for simple cases (single and double quotes,
/// backslashes outside single quotes kept literally), stopping at `|`, `>`, `&&` or `#`.
pub fn split_example(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    cur.push(q);
                }
            }
            '"' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '"' {
                        break;
                    }
                    cur.push(q);
                }
            }
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '|' | '>' | '#' if !in_word => break,
            '&' if !in_word && chars.peek() == Some(&'&') => break,
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(cmd: &'a clap::Command, path: &str) -> &'a clap::Command {
        path.split(' ')
            .filter(|p| !p.is_empty())
            .fold(cmd, |c, name| {
                c.find_subcommand(name)
                    .unwrap_or_else(|| panic!("no subcommand {path}"))
            })
    }

    #[test]
    fn every_visible_command_has_two_to_four_examples_that_parse() {
        let mut cmd = command();
        cmd.build();
        for path in command_paths(&cmd) {
            let sub = find(&cmd, &path);
            let mut hidden = false;
            let mut at = &cmd;
            for word in path.split(' ').filter(|w| !w.is_empty()) {
                at = find(at, word);
                hidden |= at.is_hide_set() || word == "help";
            }
            if hidden {
                continue;
            }
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            let examples: Vec<&str> = help
                .lines()
                .skip_while(|l| !l.starts_with("Examples:"))
                .skip(1)
                .map(str::trim)
                .filter(|l| !l.starts_with('#'))
                .collect();
            assert!(
                (2..=4).contains(&examples.len()),
                "`agentctl {path}` needs 2–4 examples in src/help.rs EXAMPLES, has {}",
                examples.len()
            );
            for line in examples {
                // Each `agentctl …` segment of the line parses with the real command line.
                let start = line
                    .find("agentctl ")
                    .unwrap_or_else(|| panic!("`{path}` example runs no agentctl: {line}"));
                let words = split_example(&line[start..]);
                if let Err(e) = command().try_get_matches_from(&words)
                    && e.kind() != clap::error::ErrorKind::DisplayHelp
                {
                    panic!("example of `{path}` does not parse: {line}\n{e}");
                }
            }
        }
    }

    #[test]
    fn namespace_help_hides_what_the_kind_cannot_do() {
        let cmd = command();
        let apex = find(&cmd, "apex-central");
        assert!(find(apex, "stale").is_hide_set(), "apex has no last-seen");
        assert!(find(apex, "clients").is_hide_set());
        assert!(!find(apex, "relocate").is_hide_set());
        assert!(!find(apex, "servers").is_hide_set());
        assert!(find(&cmd, "secure-endpoint clients").is_hide_set());
        assert!(!find(&cmd, "taegis clients").is_hide_set());
        assert!(find(&cmd, "secure-access relocate").is_hide_set());
        // The top level shows every command.
        assert!(!find(&cmd, "stale").is_hide_set());
    }

    #[test]
    fn example_lines_split_like_a_shell() {
        assert_eq!(
            split_example("agentctl relocate --folder '\\New Folder' -p \"a b\" > x"),
            vec![
                "agentctl",
                "relocate",
                "--folder",
                "\\New Folder",
                "-p",
                "a b"
            ]
        );
        assert_eq!(
            split_example("agentctl man && mkdir x"),
            vec!["agentctl", "man"]
        );
        assert_eq!(
            split_example("agentctl doctor   # comment"),
            vec!["agentctl", "doctor"]
        );
    }

    #[test]
    fn environment_lists_every_variable_the_code_reads() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs = vec![root.join("src")];
        for entry in std::fs::read_dir(root.join("providers")).unwrap() {
            dirs.push(entry.unwrap().path().join("src"));
        }
        let text = environment_text();
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    // Simulators are test infrastructure, not the binary's environment.
                    if path.file_name().is_some_and(|n| n != "sim") {
                        dirs.push(path);
                    }
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut found = 0;
        for file in files {
            let src = std::fs::read_to_string(&file).unwrap();
            for pat in ["var(\"", "var_os(\"", "env = \""] {
                for (i, _) in src.match_indices(pat) {
                    let rest = &src[i + pat.len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit())
                        .collect();
                    if name.is_empty() || !rest[name.len()..].starts_with('"') {
                        continue;
                    }
                    found += 1;
                    assert!(
                        text.contains(&name),
                        "{} reads ${name}; add it to ENVIRONMENT in src/help.rs",
                        file.display()
                    );
                }
            }
        }
        assert!(found >= 8, "the scan found only {found} reads");
    }
}
