//! Run state: everything a bulk run keeps on disk, behind one small API.
//!
//! - [`digest`]: a plan's identity (agents and actions, not the file name or format);
//! - [`journal`]: the JSONL journal of every outcome, and what a resumed run may skip;
//! - [`lock`]: one run at a time per journal (and per sandbox state dir);
//! - [`summary`]: the run summary (`--summary FILE.json`) and the run index (`agentctl runs`).
//!
//! Commands never touch these files directly: the bulk flow opens a [`Run`] (or reads a
//! journal with [`Run::peek`] for a dry run), records outcomes through it, and finishes it.

pub mod digest;
pub mod journal;
pub mod lock;
pub mod summary;

use std::io;
use std::path::{Path, PathBuf};

use agentctl_core::time::format_timestamp;
use jiff::{Timestamp, Unit};

pub use digest::{DigestRow, plan_digest};
pub use journal::{FailedRow, JournalEntry, JournalState, Outcome, Resume};
pub use lock::Held;
pub use summary::RunSummary;

use journal::Journal;

/// What a run is about.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// `uninstall`, `remove`, `restore`, `relocate`, `apply`.
    pub command: String,
    /// The plan's digest (see [`plan_digest`]).
    pub digest: String,
    /// `--journal FILE`; default: `<state_dir>/journals/<digest>-<command>.jsonl`.
    pub journal: Option<PathBuf>,
    /// The plan file, when there is one.
    pub input: Option<PathBuf>,
    /// Agents in the plan.
    pub agents: u64,
}

impl RunSpec {
    pub fn journal_path(&self, state_dir: &Path) -> PathBuf {
        self.journal.clone().unwrap_or_else(|| {
            journal::default_journal_path(&self.digest, &self.command, state_dir)
        })
    }
}

/// Why a run could not start.
#[derive(Debug)]
pub enum BeginError {
    /// Another run holds the journal.
    Held {
        journal: PathBuf,
        holder: Held,
    },
    Io {
        path: PathBuf,
        error: io::Error,
    },
}

/// `<UTC time like 20261123T120000Z>-<pid>`.
pub fn new_run_id(now: Timestamp) -> String {
    format!("{}-{}", now.strftime("%Y%m%dT%H%M%SZ"), std::process::id())
}

fn stamp(now: Timestamp) -> String {
    format_timestamp(now.round(Unit::Millisecond).unwrap_or(now))
}

/// A run in progress: holds its journal's lock, appends outcomes, keeps the summary.
#[derive(Debug)]
pub struct Run {
    journal: Journal,
    _lock: lock::RunLock,
    summary: RunSummary,
    index_path: PathBuf,
    started: std::time::Instant,
}

impl Run {
    /// The journal a dry run reads (and a real run would use), and what it records.
    pub fn peek(spec: &RunSpec, state_dir: &Path) -> io::Result<(PathBuf, JournalState)> {
        let path = spec.journal_path(state_dir);
        let state = JournalState::load(&path)?;
        Ok((path, state))
    }

    /// Lock the journal (waiting for another run when `wait`, else refusing), read what
    /// earlier runs recorded, and enter the run in the index.
    pub async fn begin(
        spec: &RunSpec,
        state_dir: &Path,
        wait: bool,
        on_wait: impl FnOnce(&Held),
    ) -> Result<(Run, JournalState), BeginError> {
        let path = spec.journal_path(state_dir);
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let io_err = |error| BeginError::Io {
            path: lock_path.clone(),
            error,
        };
        let what = format!("agentctl {}", spec.command);
        let lock = if wait {
            lock::acquire_waiting(&lock_path, &what, on_wait)
                .await
                .map_err(io_err)?
        } else {
            match lock::try_acquire(&lock_path, &what).map_err(io_err)? {
                Ok(lock) => lock,
                Err(holder) => {
                    return Err(BeginError::Held {
                        journal: path,
                        holder,
                    });
                }
            }
        };
        let (journal, state) = Journal::open(&path).map_err(|error| BeginError::Io {
            path: path.clone(),
            error,
        })?;
        let now = Timestamp::now();
        let summary = RunSummary {
            run: new_run_id(now),
            command: spec.command.clone(),
            digest: spec.digest.clone(),
            status: "running".into(),
            started: stamp(now),
            journal: Some(path.clone()),
            input: spec.input.clone(),
            agents: spec.agents,
            ..RunSummary::default()
        };
        let index_path = summary::index_dir(state_dir).join(format!("{}.json", summary.run));
        // The index is an audit aid: a run is not refused because it cannot be written.
        if let Err(e) = summary::write(&index_path, &summary) {
            tracing::warn!(path = %index_path.display(), error = %e, "cannot write the run index");
        }
        Ok((
            Run {
                journal,
                _lock: lock,
                summary,
                index_path,
                started: std::time::Instant::now(),
            },
            state,
        ))
    }

    pub fn id(&self) -> &str {
        &self.summary.run
    }

    pub fn journal_path(&self) -> &Path {
        self.journal.path()
    }

    pub fn summary_mut(&mut self) -> &mut RunSummary {
        &mut self.summary
    }

    /// Append one outcome (stamped with this run) and count it; flushed before returning.
    pub fn record(&mut self, kind: &str, mut entry: JournalEntry) -> io::Result<()> {
        entry.run = Some(self.summary.run.clone());
        self.journal.append(&entry)?;
        self.summary.count(&entry.provider, kind, &entry.outcome);
        let elapsed = self.started.elapsed().as_secs_f64();
        if let Some(p) = self.summary.providers.get_mut(&entry.provider) {
            p.duration_secs = elapsed;
        }
        if entry.outcome.starts_with("failed:") {
            self.summary.failures.push(summary::Failure {
                provider: entry.provider,
                agent_id: entry.agent_id,
                hostname: entry.hostname,
                action: entry.action,
                outcome: entry.outcome,
                reason: entry.detail,
            });
        }
        Ok(())
    }

    /// End the run with `status` and update the index; returns the summary.
    pub fn finish(mut self, status: &str) -> RunSummary {
        let now = Timestamp::now();
        self.summary.status = status.to_string();
        self.summary.ended = Some(stamp(now));
        self.summary.duration_secs = self.started.elapsed().as_secs_f64();
        if let Err(e) = summary::write(&self.index_path, &self.summary) {
            tracing::warn!(path = %self.index_path.display(), error = %e, "cannot write the run index");
        }
        self.summary
    }
}
