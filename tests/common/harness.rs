//! A vendor simulator on loopback, a config pointing at it and `agentctl` commands run in a
//! clean environment — what every vendor's end-to-end tests need, written once.

use std::future::Future;
use std::path::{Path, PathBuf};

use super::base_env;

/// What the harness needs of a simulator.
pub trait Simulator: Sized {
    fn base_url(&self) -> String;
    /// Requests seen in all (every route, every answer).
    fn total_requests(&self) -> u64;
    fn stop(self) -> impl Future<Output = ()>;
}

macro_rules! simulator {
    ($($sim:ty),*) => {$(
        impl Simulator for $sim {
            fn base_url(&self) -> String {
                <$sim>::base_url(self)
            }
            fn total_requests(&self) -> u64 {
                <$sim>::total_requests(self)
            }
            async fn stop(self) {
                self.shutdown().await
            }
        }
    )*};
}

simulator!(
    agentctl_secure_endpoint::sim::RunningSim,
    agentctl_secure_access::sim::RunningSim,
    agentctl_apex_central::sim::RunningSim,
    agentctl_taegis_sim::RunningSim
);

pub struct Harness<S: Simulator> {
    pub dir: tempfile::TempDir,
    sim: Option<S>,
    pub runtime: tokio::runtime::Runtime,
    pub config_path: PathBuf,
    env: Vec<(&'static str, String)>,
    timeout: std::time::Duration,
}

impl<S: Simulator> Harness<S> {
    /// Run `start` (a simulator's start future) and write the config `config` returns for it;
    /// `config` gets the temporary directory for any files it wants to reference.
    pub fn start(
        start: impl Future<Output = std::io::Result<S>>,
        config: impl FnOnce(&S, &Path) -> String,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let sim = runtime.block_on(start).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config(&sim, dir.path())).unwrap();
        Self {
            dir,
            sim: Some(sim),
            runtime,
            config_path,
            env: Vec::new(),
            timeout: std::time::Duration::from_secs(300),
        }
    }

    /// Set `key` in every command's environment (secrets referenced as `env:KEY`).
    pub fn env(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.env.push((key, value.into()));
        self
    }

    pub fn sim(&self) -> &S {
        self.sim.as_ref().unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `agentctl --config <the config>` in a clean environment.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_agentctl"));
        base_env(&mut c, self.dir.path());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.arg("--config").arg(&self.config_path);
        let mut c = assert_cmd::Command::from_std(c);
        c.timeout(self.timeout);
        c
    }
}

impl<S: Simulator> Drop for Harness<S> {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.runtime.block_on(sim.stop());
        }
    }
}

/// A `[defaults]` table with `lines` in it, or nothing when `lines` is empty.
fn defaults_table(lines: &str) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("[defaults]\n{lines}\n\n")
    }
}

/// A Secure Access simulator and `[providers.sa]` pointing at it (client-side quotas off; the
/// secret from the environment); `defaults` are lines for the `[defaults]` table.
pub fn secure_access(
    cfg: agentctl_secure_access::sim::SimConfig,
    defaults: &str,
) -> Harness<agentctl_secure_access::sim::RunningSim> {
    let secret = cfg.api_secret.clone();
    Harness::start(
        agentctl_secure_access::sim::start(cfg.clone(), None),
        |sim, _| {
            format!(
                "{}[providers.sa]\nkind = \"secure-access\"\napi_url = \"{}\"\napi_key = \"{}\"\napi_secret = \"env:TEST_SA_SECRET\"\nrate_limit = \"off\"\n",
                defaults_table(defaults),
                sim.base_url(),
                cfg.api_key,
            )
        },
    )
    .env("TEST_SA_SECRET", secret)
}

/// A Taegis simulator and `[providers.tg]` pointing at it (client credentials, the secret
/// from the environment); `defaults` are lines for the `[defaults]` table.
pub fn taegis(
    cfg: agentctl_taegis_sim::SimConfig,
    defaults: &str,
) -> Harness<agentctl_taegis_sim::RunningSim> {
    let secret = cfg.client_secret.clone();
    Harness::start(agentctl_taegis_sim::start(cfg.clone(), None), |sim, _| {
        format!(
            "{}[providers.tg]\nkind = \"taegis\"\napi_url = \"{}\"\nclient_id = '{}'\nclient_secret = \"env:TEST_TAEGIS_SECRET\"\ntenant_id = '{}'\n",
            defaults_table(defaults),
            sim.base_url(),
            cfg.client_id,
            cfg.tenant_id
        )
    })
    .env("TEST_TAEGIS_SECRET", secret)
}

/// An Apex Central simulator and `[providers.apex]` pointing at it (the API key from the
/// environment); `defaults` are lines for the `[defaults]` table.
pub fn apex_central(
    cfg: agentctl_apex_central::sim::SimConfig,
    defaults: &str,
) -> Harness<agentctl_apex_central::sim::RunningSim> {
    let key = cfg.api_key.clone();
    Harness::start(
        agentctl_apex_central::sim::start(cfg.clone(), None),
        |sim, _| {
            format!(
                "{}[providers.apex]\nkind = \"apex-central\"\nurl = \"{}\"\napplication_id = \"{}\"\napi_key = \"env:TEST_APEX_KEY\"\n",
                defaults_table(defaults),
                sim.base_url(),
                cfg.application_id
            )
        },
    )
    .env("TEST_APEX_KEY", key)
}
