//! Logs on stderr: warnings by default, `-v` info, `-vv` one line per HTTP exchange, `-vvv`
//! trace of agentctl's own crates. `RUST_LOG` overrides. Nothing logged carries a secret:
//! credentials live in sensitive header values and redacting types, never in log fields.

use tracing_subscriber::EnvFilter;

use crate::cli::GlobalArgs;

const CRATES: [&str; 3] = ["agentctl", "agentctl_core", "agentctl_secure_endpoint"];

pub fn init(global: &GlobalArgs) {
    let level = if global.quiet {
        "error"
    } else {
        match global.verbose {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        }
    };
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => {
            // Other crates (hyper, rustls) stay at warn: their traces are not ours to vouch for.
            let own: Vec<String> = CRATES.iter().map(|c| format!("{c}={level}")).collect();
            EnvFilter::new(format!("warn,{}", own.join(",")))
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
}
