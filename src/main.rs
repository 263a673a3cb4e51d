//! `agentctl`: parse, run, map the outcome to an exit code.

use clap::Parser;

fn main() {
    let cli = agentctl::cli::Cli::parse();
    agentctl::logging::init(&cli.global);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(agentctl::run(cli)) {
        Ok(()) => agentctl::error::exit::OK,
        Err(e) => {
            if e.code != agentctl::error::exit::OK {
                eprintln!("{e}");
            }
            e.code
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
