//! `agentctl`: parse, run, map the outcome to an exit code.

fn main() {
    // A completion script asking for candidates (`COMPLETE=bash agentctl -- …`): answer, exit.
    clap_complete::CompleteEnv::with_factory(agentctl::help::command)
        .var(agentctl::commands::completions::VAR)
        .completer("agentctl")
        .complete();
    let cli = agentctl::help::parse();
    agentctl::logging::init(&cli.global);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = match runtime.block_on(agentctl::run(cli)) {
        Ok(()) => agentctl::error::exit::OK,
        Err(e) => {
            if e.code != agentctl::error::exit::OK {
                agentctl::error::eprint_line(&e.to_string());
            }
            e.code
        }
    };
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    std::process::exit(code);
}
