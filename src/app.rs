//! What every command needs: the loaded config (or the sandbox's), the selected providers,
//! the output destination, the clock, and progress reporting.

use std::io::IsTerminal;
use std::path::PathBuf;

use agentctl_core::{NotSupported, Operation};
use jiff::Timestamp;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::config::{self, ConfigFile};
use crate::error::{CliError, CliResult};
use crate::output::{Format, RowWriter};
use crate::providers::{self, Configured};

pub struct App {
    pub global: GlobalArgs,
    pub config: ConfigFile,
    pub readable_by_others: bool,
    /// Restrict to one kind (`agentctl se …`).
    pub kind_scope: Option<&'static str>,
    pub now: Timestamp,
}

/// `AGENTCTL_NOW` pins the clock (tests and reproducible reports).
pub fn now() -> CliResult<Timestamp> {
    match std::env::var("AGENTCTL_NOW") {
        Ok(v) if !v.is_empty() => v.parse().map_err(|e| {
            CliError::usage(
                "AGENTCTL_NOW",
                format!("'{v}' is not an RFC 3339 time: {e}"),
            )
        }),
        _ => Ok(Timestamp::now()),
    }
}

/// `$XDG_STATE_HOME/agentctl` (`~/.local/state/agentctl`).
pub fn state_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("agentctl");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".local/state/agentctl"))
        .unwrap_or_else(|| std::env::temp_dir().join("agentctl-state"))
}

impl App {
    pub fn new(
        global: GlobalArgs,
        config: ConfigFile,
        readable_by_others: bool,
    ) -> CliResult<Self> {
        Ok(Self {
            global,
            config,
            readable_by_others,
            kind_scope: None,
            now: now()?,
        })
    }

    pub fn load(global: GlobalArgs) -> CliResult<Self> {
        let loaded = config::load(global.config.as_deref())?;
        Self::new(global, loaded.file, loaded.readable_by_others)
    }

    pub fn progress_enabled(&self) -> bool {
        !self.global.no_progress && !self.global.quiet && std::io::stderr().is_terminal()
    }

    /// The provider names a command was asked for: `-p` (deduplicated, in order), else every
    /// configured provider in scope.
    pub fn requested_names(&self) -> Vec<String> {
        if self.global.providers.is_empty() {
            return self.names_in_scope();
        }
        let mut names: Vec<String> = Vec::new();
        for n in &self.global.providers {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
        names
    }

    /// Configured provider names in scope (kind namespace), in config order.
    fn names_in_scope(&self) -> Vec<String> {
        self.config
            .providers
            .keys()
            .filter(|n| match self.kind_scope {
                Some(kind) => providers::kind_of(&self.config, n).as_deref() == Some(kind),
                None => true,
            })
            .cloned()
            .collect()
    }

    /// Build one named provider, checking the kind scope.
    pub fn provider(&self, name: &str) -> CliResult<Configured> {
        if !self.config.providers.contains_key(name) {
            return Err(providers::unknown_provider(&self.config, name));
        }
        if let Some(kind) = self.kind_scope {
            let actual = providers::kind_of(&self.config, name).unwrap_or_default();
            if actual != kind {
                let ns = providers::KINDS
                    .iter()
                    .find(|k| k.name == actual)
                    .and_then(|k| k.aliases.first().copied())
                    .unwrap_or(actual.as_str());
                return Err(CliError::usage(
                    "provider",
                    format!("'{name}' is a {actual} provider, not {kind}"),
                )
                .hint(format!(
                    "run it in its own namespace (agentctl {ns} …) or without a namespace"
                )));
            }
        }
        providers::build(&self.config, name, self.readable_by_others)
    }

    /// The one provider a command addresses (`--id`, `--host`, `clients`): the single `-p`,
    /// or under a kind namespace (`agentctl apex …`) the only provider of that kind.
    pub fn single(&self, op: Operation, what: &str) -> CliResult<Configured> {
        let names = if self.global.providers.is_empty() && self.kind_scope.is_none() {
            Vec::new()
        } else {
            self.requested_names()
        };
        let name = match names.as_slice() {
            [one] => one.clone(),
            _ => {
                let able: Vec<String> = self
                    .names_in_scope()
                    .into_iter()
                    .filter(|n| {
                        providers::kind_of(&self.config, n)
                            .and_then(|k| providers::KINDS.iter().find(|i| i.name == k))
                            .is_some_and(|i| i.operations.contains(&op))
                    })
                    .map(|n| format!("-p {n}"))
                    .collect();
                let err = CliError::usage(
                    op.name(),
                    format!("{what} needs exactly one -p/--provider naming the provider"),
                );
                return Err(if able.is_empty() {
                    err
                } else {
                    err.hint(format!("add one of: {}", able.join(", ")))
                });
            }
        };
        let c = self.provider(&name)?;
        c.provider
            .supports(op)
            .map_err(|ns| CliError::usage(op.name(), ns.reason).provider(&name))?;
        Ok(c)
    }

    /// The providers a command runs on: `-p` names, else every provider in scope. Those that
    /// cannot do `op` are skipped with one line saying why; none left is a usage error.
    pub fn select(&self, op: Operation) -> CliResult<Vec<Configured>> {
        let names = self.requested_names();
        if names.is_empty() {
            let why = match self.kind_scope {
                Some(kind) => format!("no {kind} provider is configured"),
                None => "no provider is configured".to_string(),
            };
            return Err(CliError::usage(op.name(), why).hint(
                "agentctl config init adds a provider (or see config.example.toml); or try --sandbox",
            ));
        }
        let mut selected = Vec::new();
        let mut refused: Vec<NotSupported> = Vec::new();
        for name in &names {
            let p = self.provider(name)?;
            match p.provider.supports(op) {
                Ok(()) => selected.push(p),
                Err(ns) => refused.push(ns),
            }
        }
        if selected.is_empty() {
            let first = refused.remove(0);
            let mut err = CliError::usage(op.name(), first.reason.clone()).provider(first.provider);
            if !refused.is_empty() {
                let others: Vec<String> = refused
                    .iter()
                    .map(|r| format!("{}: {}", r.provider, r.reason))
                    .collect();
                err = err.hint(others.join("; "));
            }
            return Err(err);
        }
        for ns in refused {
            if !self.global.quiet {
                crate::error::eprint_line(&format!(
                    "note: skipping {}",
                    crate::sanitize::terminal_text(&ns.to_string())
                ));
            }
        }
        Ok(selected)
    }

    /// The output format: `-o`, else `--out`'s extension, else table on a terminal, else CSV.
    pub fn format(&self) -> Format {
        match self.global.output {
            Some(OutputFormat::Table) => Format::Table,
            Some(OutputFormat::Csv) => Format::Csv,
            Some(OutputFormat::Json) => Format::Json,
            Some(OutputFormat::Ndjson) => Format::Ndjson,
            None => match &self.global.out {
                Some(path) => Format::from_extension(path).unwrap_or(Format::Csv),
                None if std::io::stdout().is_terminal() => Format::Table,
                None => Format::Csv,
            },
        }
    }

    /// A writer to `--out` (through a temporary file renamed into place when the output is
    /// complete) or stdout (control characters escaped when stdout is a terminal).
    /// What `--columns`, `--sort`, `--no-headers`, `--tz` and `--wide` ask for; tables on
    /// stdout are fitted to `COLUMNS` or the terminal's width.
    pub fn view(&self) -> CliResult<crate::view::ViewOptions> {
        let g = &self.global;
        let tz = match &g.tz {
            Some(name) => Some(crate::view::Tz {
                zone: crate::view::parse_tz(name)?,
                explicit: true,
            }),
            None => Some(crate::view::Tz {
                zone: jiff::tz::TimeZone::system(),
                explicit: false,
            }),
        };
        Ok(crate::view::ViewOptions {
            columns: (!g.columns.is_empty()).then(|| {
                g.columns
                    .iter()
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            }),
            sort: g
                .sort
                .as_deref()
                .map(crate::view::parse_sort)
                .unwrap_or_default(),
            no_headers: g.no_headers,
            wide: g.wide,
            tz,
            width: if g.out.is_none() {
                crate::view::terminal_width()
            } else {
                None
            },
        })
    }

    pub fn writer(&self, columns: &[&str]) -> CliResult<RowWriter> {
        let view = self.view()?;
        let mut commit = None;
        let out: Box<dyn std::io::Write + Send> = match &self.global.out {
            Some(path) => {
                let created = crate::atomic::create(path).map_err(|e| {
                    CliError::usage("output", format!("cannot create {}: {e}", path.display()))
                })?;
                commit = Some(created.commit);
                Box::new(std::io::BufWriter::new(created.file))
            }
            None if std::io::stdout().is_terminal() => Box::new(std::io::BufWriter::new(
                crate::sanitize::TerminalWriter::new(std::io::stdout()),
            )),
            None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        };
        let writer = RowWriter::new(
            out,
            self.format(),
            columns.iter().map(|c| c.to_string()).collect(),
            self.global.bom,
        );
        let writer = match commit {
            Some(c) => writer.with_commit(c),
            None => writer,
        };
        writer.with_view(view)
    }

    /// A message on stderr (unless `--quiet`), control characters escaped: messages carry
    /// vendor and plan text.
    pub fn info(&self, message: impl AsRef<str>) {
        if !self.global.quiet {
            crate::error::eprint_line(&crate::sanitize::terminal_text(message.as_ref()));
        }
    }
}
