//! Secrets: values that never print, and the `env:` / `file:` references config files use.

use std::fmt;
use std::path::PathBuf;

pub use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// A configured secret before it is read: a literal, `env:NAME` or `file:PATH`.
///
/// `Debug` never shows a literal value.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub enum SecretRef {
    Literal(SecretString),
    Env(String),
    File(PathBuf),
}

impl From<String> for SecretRef {
    fn from(value: String) -> Self {
        if let Some(name) = value.strip_prefix("env:") {
            SecretRef::Env(name.trim().to_string())
        } else if let Some(path) = value.strip_prefix("file:") {
            SecretRef::File(expand_home(path.trim()))
        } else {
            SecretRef::Literal(SecretString::from(value))
        }
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Literal(_) => f.write_str("SecretRef::Literal([REDACTED])"),
            SecretRef::Env(name) => write!(f, "SecretRef::Env({name})"),
            SecretRef::File(path) => write!(f, "SecretRef::File({})", path.display()),
        }
    }
}

impl SecretRef {
    pub fn is_literal(&self) -> bool {
        matches!(self, SecretRef::Literal(_))
    }

    /// The config keys among `keys` that hold a literal secret (the binary warns about those
    /// when the config file is readable by others).
    pub fn literal_keys(keys: &[(&'static str, &Option<SecretRef>)]) -> Vec<&'static str> {
        keys.iter()
            .filter(|(_, value)| value.as_ref().is_some_and(SecretRef::is_literal))
            .map(|(key, _)| *key)
            .collect()
    }

    /// Read the secret. The error names where it looked, never the value.
    pub fn resolve(&self) -> Result<SecretString, String> {
        match self {
            SecretRef::Literal(s) => {
                if s.expose_secret().is_empty() {
                    Err("is empty".to_string())
                } else {
                    Ok(s.clone())
                }
            }
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
                Ok(_) => Err(format!("environment variable {name} is empty")),
                Err(_) => Err(format!("environment variable {name} is not set")),
            },
            SecretRef::File(path) => match regular_file(path).and_then(|()| {
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read file {}: {e}", path.display()))
            }) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
                Ok(_) => Err(format!("file {} is empty", path.display())),
                Err(e) => Err(e),
            },
        }
    }
}

/// The largest secret file read (a token or key is far smaller).
pub const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// `file:` secrets must be regular files of sensible size: a FIFO or device would block or
/// never end.
fn regular_file(path: &std::path::Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read file {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!(
            "file {} is not a regular file (a pipe, device or directory cannot hold a secret)",
            path.display()
        ));
    }
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(format!(
            "file {} is {} bytes, more than the {} KiB a secret file may have",
            path.display(),
            meta.len(),
            MAX_SECRET_FILE_BYTES / 1024
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_forms_and_never_debugs_a_literal() {
        let lit = SecretRef::from("hunter2-very-secret".to_string());
        assert!(lit.is_literal());
        assert!(!format!("{lit:?}").contains("hunter2"));
        assert_eq!(
            lit.resolve().unwrap().expose_secret(),
            "hunter2-very-secret"
        );
        assert!(matches!(SecretRef::from("env:X_Y".to_string()), SecretRef::Env(n) if n == "X_Y"));
        assert!(
            matches!(SecretRef::from("file:/a/b".to_string()), SecretRef::File(p) if p == std::path::Path::new("/a/b"))
        );
    }

    #[test]
    fn file_secret_is_trimmed_and_errors_name_the_source() {
        let dir = std::env::temp_dir().join(format!("agentctl-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("tok");
        std::fs::write(&f, "  abc123\n").unwrap();
        let r = SecretRef::File(f.clone());
        assert_eq!(r.resolve().unwrap().expose_secret(), "abc123");
        std::fs::write(&f, "\n").unwrap();
        assert!(r.resolve().unwrap_err().contains("is empty"));
        let missing = SecretRef::Env("AGENTCTL_TEST_SURELY_UNSET_VAR".into());
        assert!(
            missing
                .resolve()
                .unwrap_err()
                .contains("AGENTCTL_TEST_SURELY_UNSET_VAR is not set")
        );
        assert!(
            SecretRef::File(dir.clone())
                .resolve()
                .unwrap_err()
                .contains("not a regular file")
        );
        std::fs::write(&f, vec![b'a'; MAX_SECRET_FILE_BYTES as usize + 1]).unwrap();
        assert!(r.resolve().unwrap_err().contains("more than"));
        std::fs::remove_dir_all(dir).ok();
    }
}
