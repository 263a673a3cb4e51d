//! Logs on stderr: warnings by default, `-v` info, `-vv` one line per HTTP exchange, `-vvv`
//! trace of agentctl's own crates. `RUST_LOG` overrides. Nothing logged carries a secret:
//! credentials live in sensitive header values and redacting types, never in log fields.
//! Colour only when stderr is a terminal and `NO_COLOR` is unset; control characters in
//! logged text are shown as escapes.

use tracing_subscriber::EnvFilter;

use crate::cli::GlobalArgs;

const CRATES: [&str; 6] = [
    "agentctl",
    "agentctl_core",
    "agentctl_secure_endpoint",
    "agentctl_secure_access",
    "agentctl_apex_central",
    "agentctl_taegis",
];

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
            // The certificate verifier logs each refusal as an error of its own; agentctl's
            // error for the request already says why, once.
            let own: Vec<String> = CRATES.iter().map(|c| format!("{c}={level}")).collect();
            EnvFilter::new(format!(
                "warn,rustls_platform_verifier=off,{}",
                own.join(",")
            ))
        }
    };
    let colour = colour_on_stderr();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || SafeStderr { colour })
        .with_ansi(colour)
        .with_target(false)
        .without_time()
        .init();
}

/// Colour only on a terminal, and never when `NO_COLOR` is set (to anything non-empty).
pub fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// stderr for log lines, which may quote vendor text: control characters are shown as
/// escapes, except the plain colour sequences the formatter itself writes when colour is on.
struct SafeStderr {
    colour: bool,
}

impl std::io::Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter writes each event as one buffer of UTF-8.
        let text = String::from_utf8_lossy(buf);
        let safe = crate::sanitize::terminal_log(&text, self.colour);
        std::io::stderr().lock().write_all(safe.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
