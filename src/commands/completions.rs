//! `agentctl completions SHELL`: a script that asks agentctl itself for completions, so
//! subcommands, options and the provider names in the config (`-p <TAB>`) are always current.
//! The script calls `agentctl` with `COMPLETE=<shell>`; `main` answers those calls.

use std::io::Write;

use clap_complete::env::Shells;

use crate::error::{CliError, CliResult};

/// The variable the completion scripts set when they call agentctl back.
pub const VAR: &str = "COMPLETE";

pub fn run(shell: clap_complete::Shell) -> CliResult {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells.completer(&name).ok_or_else(|| {
        CliError::usage("completions", format!("no completion script for {name}")).hint(format!(
            "supported shells: {}",
            shells.names().collect::<Vec<_>>().join(", ")
        ))
    })?;
    let mut buf = Vec::new();
    completer.write_registration(VAR, "agentctl", "agentctl", "agentctl", &mut buf)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}
