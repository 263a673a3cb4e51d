//! The binary's error: one line `error: <what> [<provider>]: <why>`, an optional hint, and
//! the exit code it maps to.

use std::fmt;

use agentctl_core::{ErrorKind, ProviderError};

pub mod exit {
    pub const OK: i32 = 0;
    /// Network, API or auth failure.
    pub const RUNTIME: i32 = 1;
    /// Usage, config or input error; nothing was sent.
    pub const USAGE: i32 = 2;
    /// A bulk command finished with some agents failed.
    pub const PARTIAL: i32 = 3;
    /// Interrupted (Ctrl-C); the journal is intact.
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub what: String,
    pub provider: Option<String>,
    pub why: String,
    pub hint: Option<String>,
}

impl CliError {
    pub fn usage(what: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            code: exit::USAGE,
            what: what.into(),
            provider: None,
            why: why.into(),
            hint: None,
        }
    }

    pub fn runtime(what: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            code: exit::RUNTIME,
            ..Self::usage(what, why)
        }
    }

    /// A finished run whose exit code is not 0 but whose details were already printed.
    pub fn exit_with(code: i32, what: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            code,
            ..Self::usage(what, why)
        }
    }

    pub fn provider(mut self, name: impl Into<String>) -> Self {
        self.provider = Some(name.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Map a provider error met while doing `what`.
    pub fn from_provider(what: impl Into<String>, e: ProviderError) -> Self {
        let code = match e.kind {
            ErrorKind::Config | ErrorKind::Input | ErrorKind::NotSupported => exit::USAGE,
            ErrorKind::Auth | ErrorKind::Api | ErrorKind::Network | ErrorKind::Protocol => {
                exit::RUNTIME
            }
        };
        // Where the vendor layer gave no hint, point at the next step for the error class.
        let doctor = match &e.provider {
            Some(p) => format!("agentctl doctor -p {p}"),
            None => "agentctl doctor".to_string(),
        };
        let hint = e.hint.clone().or_else(|| match e.kind {
            ErrorKind::Network => Some(format!(
                "check the URL and any proxy (HTTPS_PROXY, NO_PROXY); `{doctor}` tests the connection"
            )),
            ErrorKind::Auth => Some(format!("`{doctor}` checks the credentials")),
            ErrorKind::Config => Some("`agentctl config check` validates the whole file".into()),
            _ => None,
        });
        Self {
            code,
            what: what.into(),
            provider: e.provider.clone(),
            why: e.reason(),
            hint,
        }
    }
}

/// Errors carry vendor and plan text: control characters are shown as escapes.
impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::sanitize::terminal_text as safe;
        write!(f, "error: {}", safe(&self.what))?;
        if let Some(p) = &self.provider {
            write!(f, " [{}]", safe(p))?;
        }
        write!(f, ": {}", safe(&self.why))?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {}", safe(h))?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// A closed stdout (`agentctl list | head`), also when the CSV or JSON writer wrapped it.
pub fn is_broken_pipe(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    if e.kind() == BrokenPipe {
        return true;
    }
    let Some(inner) = e.get_ref() else {
        return false;
    };
    if let Some(csv_err) = inner.downcast_ref::<csv::Error>()
        && let csv::ErrorKind::Io(io) = csv_err.kind()
    {
        return io.kind() == BrokenPipe;
    }
    inner
        .downcast_ref::<serde_json::Error>()
        .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if is_broken_pipe(&e) {
            return Self::exit_with(exit::OK, "output", "broken pipe");
        }
        Self::runtime("i/o", e.to_string())
    }
}

pub type CliResult<T = ()> = Result<T, CliError>;

/// Write one line to stderr, ignoring failures: a closed or full stderr (`2>/dev/full`) must
/// never turn a finished run into a panic, as `eprintln!` would.
pub fn eprint_line(message: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{message}");
}

/// [`eprint_line`] without the line end (a prompt).
pub fn eprint_text(text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// Write `text` to stdout as is. A closed stdout ends the command quietly (exit 0, as for
/// `| head`); other failures are errors, never panics.
pub fn print_text(text: &str) -> CliResult {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
