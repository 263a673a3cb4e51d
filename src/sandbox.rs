//! `--sandbox`: built-in simulators of every vendor on loopback, one tenant each, with a
//! deterministic fleet. State (what was uninstalled) persists between runs under
//! `$AGENTCTL_SANDBOX_DIR` (default `$XDG_STATE_HOME/agentctl/sandbox`), so a user can walk
//! through stale → uninstall → stale. Delete that folder to start over.
//!
//! The four consoles share one organisation's machines (`agentctl_core::roster`): healthy
//! machines look the same everywhere, and planted ones are retired everywhere, broken in one
//! console, without an EDR agent, re-imaged, renamed (MAC match), NetBIOS-truncated or named
//! in FQDN / upper case / non-ASCII, so `stale --corroborate`, `gaps`, `duplicates` and
//! `report` have real findings. Two providers carry an illustrative `licence_cost` so the
//! report's "licences reclaimable" shows a cost.

use std::path::{Path, PathBuf};

use agentctl_apex_central::sim as apex_sim;
use agentctl_core::ratelimit::RateLimitSpec;
use agentctl_secure_access::sim as sa_sim;
use agentctl_secure_endpoint::sim as se_sim;
use agentctl_taegis_sim as tg_sim;

use crate::config::ConfigFile;
use crate::error::{CliError, CliResult};

pub const SE_PROVIDER: &str = "sandbox-se";
pub const APEX_PROVIDER: &str = "sandbox-apex";
pub const SA_PROVIDER: &str = "sandbox-sa";
pub const TAEGIS_PROVIDER: &str = "sandbox-taegis";

/// Secure Access quotas in the sandbox: the published shape (three windows per key), scaled
/// up so a walk-through does not wait minutes; the simulator enforces the same.
const SA_SANDBOX_QUOTA: &str = "50/s, 600/min, 20000/30min";

const SE_STATE: &str = "secure-endpoint.json";
const APEX_STATE: &str = "apex-central.json";
const SA_STATE: &str = "secure-access.json";
const TAEGIS_STATE: &str = "taegis.json";

pub struct Sandbox {
    dir: PathBuf,
    se: se_sim::RunningSim,
    apex: apex_sim::RunningSim,
    sa: sa_sim::RunningSim,
    taegis: tg_sim::RunningSim,
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

/// Lock the sandbox state dir for this process (see `runstate::lock`): a second run exits 2
/// naming the holder, unless `wait`.
pub async fn lock(
    wait: bool,
    on_wait: impl FnOnce(&crate::runstate::Held),
) -> CliResult<crate::runstate::lock::RunLock> {
    let dir = dir();
    let path = dir.join(".lock");
    let io = |e: std::io::Error| {
        CliError::runtime("sandbox", format!("cannot lock {}: {e}", path.display()))
    };
    let what = "agentctl --sandbox";
    if wait {
        return crate::runstate::lock::acquire_waiting(&path, what, on_wait)
            .await
            .map_err(io);
    }
    match crate::runstate::lock::try_acquire(&path, what).map_err(io)? {
        Ok(lock) => Ok(lock),
        Err(held) => Err(CliError::usage(
            "sandbox",
            format!("the sandbox state in {} is in use by {held}", dir.display()),
        )
        .hint("wait for that run to finish, or pass --wait")),
    }
}

impl Sandbox {
    /// Start the simulators and return a config whose providers point at them.
    pub async fn start(now: jiff::Timestamp) -> CliResult<(Self, ConfigFile)> {
        let dir = dir();
        std::fs::create_dir_all(&dir).map_err(|e| {
            CliError::runtime("sandbox", format!("cannot create {}: {e}", dir.display()))
        })?;
        // A new sandbox generates its fleets relative to now; later runs load what was kept.
        let se_cfg = se_sim::SimConfig {
            now,
            roster: true,
            ..se_sim::SimConfig::default()
        };
        let se_state: Option<se_sim::SimState> = load_state(&dir.join(SE_STATE))?;
        let se = se_sim::start(se_cfg.clone(), se_state).await.map_err(|e| {
            CliError::runtime(
                "sandbox",
                format!("cannot start the Secure Endpoint simulator: {e}"),
            )
        })?;
        let apex_cfg = apex_sim::SimConfig {
            roster: true,
            ..apex_sim::SimConfig::default()
        };
        let apex_state: Option<apex_sim::SimState> = load_state(&dir.join(APEX_STATE))?;
        let apex = apex_sim::start(apex_cfg.clone(), apex_state)
            .await
            .map_err(|e| {
                CliError::runtime(
                    "sandbox",
                    format!("cannot start the Apex Central simulator: {e}"),
                )
            })?;
        let sa_cfg = sa_sim::SimConfig {
            now,
            roster: true,
            // One organisation: the roaming client is on the same machines as the EDR agents.
            fleet_size: 1200,
            quotas: RateLimitSpec::parse(SA_SANDBOX_QUOTA).expect("valid quota"),
            ..sa_sim::SimConfig::default()
        };
        let sa_state: Option<sa_sim::SimState> = load_state(&dir.join(SA_STATE))?;
        let sa = sa_sim::start(sa_cfg.clone(), sa_state).await.map_err(|e| {
            CliError::runtime(
                "sandbox",
                format!("cannot start the Secure Access simulator: {e}"),
            )
        })?;
        let tg_cfg = tg_sim::SimConfig {
            now,
            roster: true,
            ..tg_sim::SimConfig::default()
        };
        let tg_state: Option<tg_sim::SimState> = load_state(&dir.join(TAEGIS_STATE))?;
        let taegis = tg_sim::start(tg_cfg.clone(), tg_state).await.map_err(|e| {
            CliError::runtime("sandbox", format!("cannot start the Taegis simulator: {e}"))
        })?;
        let text = format!(
            r#"
# Apex Central (on-prem AV) covers only some machines: gaps expects the other three.
[coverage]
expect = ["secure-endpoint", "secure-access", "taegis"]

[providers.{SE_PROVIDER}]
kind = "secure-endpoint"
api_url = "{se_url}"
token_url = "{se_url}"
client_id = "{client_id}"
api_key = "{api_key}"
xdr_client_id = "{xdr_id}"
xdr_client_secret = "{xdr_secret}"
licence_cost = 36

[providers.{SA_PROVIDER}]
kind = "secure-access"
api_url = "{sa_url}"
api_key = '{sa_key}'
api_secret = '{sa_secret}'
key_admin_key = '{sa_admin_key}'
key_admin_secret = '{sa_admin_secret}'
rate_limit = "{SA_SANDBOX_QUOTA}"

[providers.{APEX_PROVIDER}]
kind = "apex-central"
url = "{apex_url}"
application_id = "{apex_app}"
api_key = "{apex_key}"

[providers.{TAEGIS_PROVIDER}]
kind = "taegis"
api_url = "{tg_url}"
client_id = '{tg_id}'
client_secret = '{tg_secret}'
tenant_id = '{tg_tenant}'
licence_cost = 24.5
"#,
            se_url = se.base_url(),
            client_id = se_cfg.client_id,
            api_key = se_cfg.api_key,
            xdr_id = se_cfg.xdr_client_id,
            xdr_secret = se_cfg.xdr_client_secret,
            apex_url = apex.base_url(),
            apex_app = apex_cfg.application_id,
            apex_key = apex_cfg.api_key,
            sa_url = sa.base_url(),
            sa_key = sa_cfg.api_key,
            sa_secret = sa_cfg.api_secret,
            sa_admin_key = sa_cfg.key_admin_key,
            sa_admin_secret = sa_cfg.key_admin_secret,
            tg_url = taegis.base_url(),
            tg_id = tg_cfg.client_id,
            tg_secret = tg_cfg.client_secret,
            tg_tenant = tg_cfg.tenant_id,
        );
        let config = crate::config::parse(&text).map_err(|e| CliError::runtime("sandbox", e))?;
        Ok((
            Self {
                dir,
                se,
                apex,
                sa,
                taegis,
            },
            config,
        ))
    }

    /// Persist what changed and stop the simulators.
    pub async fn finish(self) -> CliResult {
        save_state(&self.dir.join(SE_STATE), &self.se.state())?;
        save_state(&self.dir.join(APEX_STATE), &self.apex.state())?;
        save_state(&self.dir.join(SA_STATE), &self.sa.state())?;
        save_state(&self.dir.join(TAEGIS_STATE), &self.taegis.state())?;
        self.se.shutdown().await;
        self.apex.shutdown().await;
        self.sa.shutdown().await;
        self.taegis.shutdown().await;
        Ok(())
    }
}
