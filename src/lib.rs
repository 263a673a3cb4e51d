//! The `agentctl` binary's library: commands, config, plans, journals, output and sandbox.
//! `main.rs` only parses arguments, runs, and maps errors to exit codes.
// A closed or full stderr/stdout must never panic: write through `error::eprint_line` and the
// output writers instead of the printing macros.
#![warn(clippy::print_stderr, clippy::print_stdout)]

pub mod app;
pub mod atomic;
pub mod bulk;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod fleet;
pub mod help;
pub mod logging;
pub mod output;
pub mod plan;
pub mod progress;
pub mod providers;
pub mod runstate;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod sanitize;
pub mod secret_file;
pub mod spill;
pub mod view;

use app::App;
use cli::{ApexCommand, Cli, Command, CommonCommand, SaCommand, SeCommand, TaegisCommand};
use error::CliResult;

async fn run_common(app: &App, command: &CommonCommand) -> CliResult {
    match command {
        CommonCommand::List(args) => commands::list::run(app, args).await,
        CommonCommand::Stale(args) => commands::stale::run(app, args).await,
        CommonCommand::Uninstall(args) => {
            commands::uninstall::run(app, args, agentctl_core::Action::Uninstall).await
        }
        CommonCommand::Remove(args) => {
            commands::uninstall::run(app, args, agentctl_core::Action::Remove).await
        }
        CommonCommand::Restore(args) => commands::restore::run(app, args).await,
        CommonCommand::Apply(args) => commands::apply::run(app, args).await,
        CommonCommand::Runs(args) => commands::runs::run(app, args).await,
        CommonCommand::Relocate(args) => commands::relocate::run(app, args).await,
        CommonCommand::Clients { command } => commands::clients::run(app, command).await,
    }
}

async fn dispatch(app: &mut App, command: &Command) -> CliResult {
    match command {
        Command::Common(c) => run_common(app, c).await,
        Command::Doctor => commands::doctor::run(app).await,
        Command::Gaps(args) => commands::gaps::run(app, args).await,
        Command::Duplicates(args) => commands::duplicates::run(app, args).await,
        Command::Report(args) => commands::report::run(app, args).await,
        Command::Completions { .. }
        | Command::Config { .. }
        | Command::Man { .. }
        | Command::Environment => unreachable!("handled before config is loaded"),
        Command::SecureEndpoint { command } => {
            app.kind_scope = Some(agentctl_secure_endpoint::KIND);
            match command {
                SeCommand::Common(c) => run_common(app, c).await,
                SeCommand::Doctor => commands::doctor::run(app).await,
                SeCommand::Orgs => commands::listing::run(app, "orgs").await,
            }
        }
        Command::SecureAccess { command } => {
            app.kind_scope = Some(agentctl_secure_access::KIND);
            match command {
                SaCommand::Common(c) => run_common(app, c).await,
                SaCommand::Doctor => commands::doctor::run(app).await,
                SaCommand::Tunnels => commands::listing::run(app, "tunnels").await,
            }
        }
        Command::ApexCentral { command } => {
            app.kind_scope = Some(agentctl_apex_central::KIND);
            match command {
                ApexCommand::Common(c) => run_common(app, c).await,
                ApexCommand::Doctor => commands::doctor::run(app).await,
                ApexCommand::Servers => commands::listing::run(app, "servers").await,
            }
        }
        Command::Taegis { command } => {
            app.kind_scope = Some(agentctl_taegis::KIND);
            match command {
                TaegisCommand::Common(c) => run_common(app, c).await,
                TaegisCommand::Doctor => commands::doctor::run(app).await,
            }
        }
    }
}

/// Run a parsed command line.
pub async fn run(cli: Cli) -> CliResult {
    // Commands that need no config (or make it).
    match &cli.command {
        Command::Completions { shell } => return commands::completions::run(*shell),
        Command::Config { command } => return commands::config::run(&cli.global, command).await,
        Command::Man { dir } => return commands::man::run(dir.as_deref(), cli.global.quiet),
        Command::Environment => {
            error::print_text(&help::environment_text())?;
            return Ok(());
        }
        _ => {}
    }
    if cli.global.sandbox {
        return run_sandbox(cli).await;
    }
    let mut app = App::load(cli.global.clone())?;
    dispatch(&mut app, &cli.command).await
}

#[cfg(feature = "sandbox")]
async fn run_sandbox(cli: Cli) -> CliResult {
    let now = app::now()?;
    // One run at a time per sandbox state dir: two runs would each save their own state and
    // undo the other's changes.
    let _lock = sandbox::lock(cli.global.wait, |held| {
        if !cli.global.quiet {
            error::eprint_line(&format!("waiting: {held} is using the sandbox state"));
        }
    })
    .await?;
    let (sandbox, config) = sandbox::Sandbox::start(now).await?;
    let mut app = App::new(cli.global.clone(), config, false)?;
    let result = dispatch(&mut app, &cli.command).await;
    let saved = sandbox.finish().await;
    result.and(saved)
}

#[cfg(not(feature = "sandbox"))]
async fn run_sandbox(_cli: Cli) -> CliResult {
    Err(error::CliError::usage(
        "--sandbox",
        "this build has no simulators (built without the `sandbox` feature)",
    ))
}
