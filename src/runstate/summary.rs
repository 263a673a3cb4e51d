//! Run summaries: what one bulk run did, for `--summary FILE.json`, a SIEM or a cron
//! wrapper, and the run index behind `agentctl runs`.
//!
//! Every real run writes `<state_dir>/runs/<run id>.json` when it starts (`status: running`)
//! and again when it ends, so a run that was killed still shows up (as `running` with its lock
//! gone: `agentctl runs` reports it as `killed`).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Counts per outcome (`requested`, `skipped:gone`, `failed:http-500`, …; dry runs:
/// `would-send`, `skip:done`, …).
pub type Counts = BTreeMap<String, u64>;

/// One agent that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub provider: String,
    pub agent_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub action: String,
    pub outcome: String,
    pub reason: String,
}

/// Per provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderSummary {
    pub kind: String,
    pub counts: Counts,
    /// Seconds from the start of sending to this provider's last result.
    pub duration_secs: f64,
    /// How agents were re-checked: `bulk (N requests)`, `per agent (N requests)`, `off`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub recheck: String,
}

/// One run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// `<UTC start like 20261123T120000Z>-<pid>`.
    pub run: String,
    /// `uninstall`, `remove`, `restore`, `relocate` or `apply`.
    pub command: String,
    /// The plan's identity (see `runstate::digest`).
    pub digest: String,
    /// `running`, `finished`, `interrupted`, `output-closed`, `dry-run`, `nothing-to-do`.
    pub status: String,
    pub started: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<String>,
    pub duration_secs: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<PathBuf>,
    /// Agents in the plan (after merging duplicates).
    pub agents: u64,
    /// Agents an earlier run of the same plan had finished (not sent again).
    pub done_earlier: u64,
    /// Uninstall requests sent again because the first was older than the re-request window
    /// and the agent was still there, unseen.
    pub rerequested: u64,
    pub counts: Counts,
    pub providers: BTreeMap<String, ProviderSummary>,
    pub failures: Vec<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_file: Option<PathBuf>,
}

impl RunSummary {
    /// Count one outcome for `provider`.
    pub fn count(&mut self, provider: &str, kind: &str, outcome: &str) {
        *self.counts.entry(outcome.to_string()).or_default() += 1;
        let p = self.providers.entry(provider.to_string()).or_default();
        if p.kind.is_empty() {
            p.kind = kind.to_string();
        }
        *p.counts.entry(outcome.to_string()).or_default() += 1;
    }

    /// Outcomes whose text starts with `prefix` (`requested`, `skipped:`, `failed:`).
    pub fn total(counts: &Counts, prefix: &str) -> u64 {
        counts
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// `12 requested, 3 skipped, 1 failed` for a set of counts.
    pub fn line(counts: &Counts) -> String {
        format!(
            "{} requested, {} skipped, {} failed",
            Self::total(counts, "requested"),
            Self::total(counts, "skipped:"),
            Self::total(counts, "failed:")
        )
    }
}

/// `<state_dir>/runs`.
pub fn index_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("runs")
}

/// Write `summary` to `path` (pretty JSON), through a temporary file and a rename so a reader
/// never sees half of it.
pub fn write(path: &Path, summary: &RunSummary) -> io::Result<()> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut bytes = serde_json::to_vec_pretty(summary)?;
    bytes.push(b'\n');
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Every run in the index, oldest first. Unreadable files are skipped (and counted).
pub fn list(state_dir: &Path) -> io::Result<(Vec<RunSummary>, usize)> {
    let dir = index_dir(state_dir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut runs = Vec::new();
    let mut bad = 0;
    for entry in entries {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<RunSummary>(&b).ok())
        {
            Some(s) => runs.push(s),
            None => bad += 1,
        }
    }
    runs.sort_by(|a, b| (&a.started, &a.run).cmp(&(&b.started, &b.run)));
    Ok((runs, bad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_totals_and_index_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = RunSummary {
            run: "20261123T120000Z-7".into(),
            command: "uninstall".into(),
            digest: "0123456789abcdef".into(),
            status: "finished".into(),
            started: "2026-11-23T12:00:00Z".into(),
            ..RunSummary::default()
        };
        s.count("se", "secure-endpoint", "requested");
        s.count("se", "secure-endpoint", "requested");
        s.count("se", "secure-endpoint", "skipped:gone");
        s.count("tg", "taegis", "failed:http-500");
        assert_eq!(
            RunSummary::line(&s.counts),
            "2 requested, 1 skipped, 1 failed"
        );
        assert_eq!(
            RunSummary::line(&s.providers["tg"].counts),
            "0 requested, 0 skipped, 1 failed"
        );
        assert_eq!(s.providers["se"].kind, "secure-endpoint");
        let mut older = s.clone();
        older.run = "20261122T120000Z-9".into();
        older.started = "2026-11-22T12:00:00Z".into();
        let idx = index_dir(dir.path());
        write(&idx.join(format!("{}.json", s.run)), &s).unwrap();
        write(&idx.join(format!("{}.json", older.run)), &older).unwrap();
        std::fs::write(idx.join("junk.json"), "{").unwrap();
        let (runs, bad) = list(dir.path()).unwrap();
        assert_eq!(bad, 1);
        assert_eq!(runs, vec![older, s]);
        assert_eq!(list(&dir.path().join("none")).unwrap().0.len(), 0);
    }
}
