//! `agentctl`: parse, run, map the outcome to an exit code.

fn main() {
    // A completion script asking for candidates (`COMPLETE=bash agentctl -- …`): answer, exit.
    clap_complete::CompleteEnv::with_factory(agentctl::help::command)
        .var(agentctl::commands::completions::VAR)
        .completer("agentctl")
        .complete();
    let cli = agentctl::help::parse();
    agentctl::logging::init(&cli.global);
    // One thread: agentctl waits on the network far more than it computes, and a listing's
    // pages are parsed where they are consumed. Measured against the multi-threaded runtime
    // (100,000 Secure Endpoint agents at 30 ms), the same wall time for about a tenth less
    // client CPU: no wake-ups across threads, and records are freed where they were built.
    // Blocking work (file locks, Apex Central's parser) still goes to tokio's blocking pool.
    let runtime = tokio::runtime::Builder::new_current_thread()
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
