//! `--sandbox`: built-in simulators of every vendor on loopback, one tenant each, with a
//! deterministic fleet. State (what was uninstalled) persists between runs under
//! `$AGENTCTL_SANDBOX_DIR` (default `$XDG_STATE_HOME/agentctl/sandbox`), so a user can walk
//! through stale → uninstall → stale. Delete that folder to start over.

use std::path::{Path, PathBuf};

use agentctl_secure_endpoint::sim as se_sim;

use crate::config::ConfigFile;
use crate::error::{CliError, CliResult};

pub const SE_PROVIDER: &str = "sandbox-se";

pub struct Sandbox {
    dir: PathBuf,
    se: se_sim::RunningSim,
}

pub fn dir() -> PathBuf {
    match std::env::var_os("AGENTCTL_SANDBOX_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => crate::app::state_dir().join("sandbox"),
    }
}

fn load_state<T: serde::de::DeserializeOwned>(path: &Path) -> CliResult<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            CliError::usage(
                "sandbox",
                format!("{} is not sandbox state ({e})", path.display()),
            )
            .hint(format!(
                "delete {} to start the sandbox over",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::runtime(
            "sandbox",
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

fn save_state<T: serde::Serialize>(path: &Path, state: &T) -> CliResult {
    let tmp = path.with_extension("json.tmp");
    let bytes =
        serde_json::to_vec(state).map_err(|e| CliError::runtime("sandbox", e.to_string()))?;
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::runtime("sandbox", format!("cannot save {}: {e}", path.display())))
}

impl Sandbox {
    /// Start the simulators and return a config whose providers point at them.
    pub async fn start(now: jiff::Timestamp) -> CliResult<(Self, ConfigFile)> {
        let dir = dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            CliError::runtime("sandbox", format!("cannot create {}: {e}", dir.display()))
        })?;
        let se_path = dir.join("secure-endpoint.json");
        // A new sandbox generates its fleet relative to now; later runs load what was kept.
        let se_cfg = se_sim::SimConfig {
            now,
            ..se_sim::SimConfig::default()
        };
        let state: Option<se_sim::SimState> = load_state(&se_path)?;
        let se = se_sim::start(se_cfg.clone(), state).await.map_err(|e| {
            CliError::runtime(
                "sandbox",
                format!("cannot start the Secure Endpoint simulator: {e}"),
            )
        })?;
        let url = se.base_url();
        let text = format!(
            r#"
[providers.{SE_PROVIDER}]
kind = "secure-endpoint"
api_url = "{url}"
token_url = "{url}"
client_id = "{client_id}"
api_key = "{api_key}"
xdr_client_id = "{xdr_id}"
xdr_client_secret = "{xdr_secret}"
"#,
            client_id = se_cfg.client_id,
            api_key = se_cfg.api_key,
            xdr_id = se_cfg.xdr_client_id,
            xdr_secret = se_cfg.xdr_client_secret,
        );
        let config = crate::config::parse(&text).map_err(|e| CliError::runtime("sandbox", e))?;
        Ok((Self { dir, se }, config))
    }

    /// Persist what changed and stop the simulators.
    pub async fn finish(self) -> CliResult {
        save_state(&self.dir.join("secure-endpoint.json"), &self.se.state())?;
        self.se.shutdown().await;
        Ok(())
    }
}
