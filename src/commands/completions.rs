//! `agentctl completions SHELL`.

use clap::CommandFactory;

use crate::cli::Cli;

pub fn run(shell: clap_complete::Shell) {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "agentctl",
        &mut std::io::stdout(),
    );
}
