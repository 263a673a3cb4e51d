//! The JSONL journal of a bulk run, and resuming from it.
//!
//! Every outcome is one JSON object per line, appended with a single `write` and flushed to the
//! OS before [`Journal::append`] returns, so a killed process loses nothing already appended
//! (there is no `fsync`: a power cut may still lose the last lines, a crash or Ctrl-C does not).
//! Reopening the same journal reads what earlier runs recorded; [`JournalState::decide`] tells
//! a resumed run which agents must not be sent again, and which requests are old enough to be
//! sent again. A line cut short by a crash is tolerated
//! and counted, and the next append starts on a fresh line.
//!
//! Failed agents are also written to `<input>.failed.csv`, a plan that `--from` reads back.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use agentctl_core::time::format_timestamp;
use jiff::{Timestamp, Unit};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One journal line.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct JournalEntry {
    /// RFC 3339 UTC.
    pub ts: String,
    pub provider: String,
    pub agent_id: String,
    pub action: String,
    /// `requested`, `skipped:<why>` or `failed:<why>` (see [`Outcome`]).
    pub outcome: String,
    pub detail: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The run that wrote the line (`<UTC start>-<pid>`, see `agentctl runs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Vendor extras (e.g. a Taegis `requestID`). Keys must not repeat the fields above.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl JournalEntry {
    /// An entry stamped now (UTC, millisecond precision).
    pub fn new(
        provider: impl Into<String>,
        agent_id: impl Into<String>,
        action: impl Into<String>,
        outcome: Outcome,
        detail: impl Into<String>,
    ) -> Self {
        let now = Timestamp::now();
        let now = now.round(Unit::Millisecond).unwrap_or(now);
        JournalEntry {
            ts: format_timestamp(now),
            provider: provider.into(),
            agent_id: agent_id.into(),
            action: action.into(),
            outcome: outcome.to_string(),
            detail: detail.into(),
            hostname: None,
            request_id: None,
            run: None,
            extra: Map::new(),
        }
    }

    /// The outcome parsed back from its text (`None` for text no run writes).
    pub fn outcome(&self) -> Option<Outcome> {
        Outcome::parse(&self.outcome)
    }
}

/// What happened to one agent. `<why>` is a short slug such as `gone`, `seen-again`, `http-404`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Requested,
    Skipped(String),
    Failed(String),
}

impl Outcome {
    /// `requested`, `skipped:<why>`, `failed:<why>`.
    pub fn parse(text: &str) -> Option<Outcome> {
        if text == "requested" {
            Some(Outcome::Requested)
        } else if let Some(why) = text.strip_prefix("skipped:") {
            Some(Outcome::Skipped(why.to_string()))
        } else {
            text.strip_prefix("failed:")
                .map(|why| Outcome::Failed(why.to_string()))
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Requested => f.write_str("requested"),
            Outcome::Skipped(why) => write!(f, "skipped:{why}"),
            Outcome::Failed(why) => write!(f, "failed:{why}"),
        }
    }
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    /// The file did not end with a newline when opened (a torn last line).
    needs_newline: bool,
}

type Key = (String, String, String);

fn key(provider: &str, agent_id: &str, action: &str) -> Key {
    (
        provider.to_string(),
        agent_id.to_string(),
        action.to_string(),
    )
}

/// What earlier runs recorded in a journal.
#[derive(Debug, Default, Clone)]
pub struct JournalState {
    last: HashMap<Key, JournalEntry>,
    /// The latest `requested` time per agent and action.
    requested: HashMap<Key, Timestamp>,
    gone: HashSet<Key>,
    entries: usize,
    skipped_lines: usize,
}

/// What a run does with one agent, given the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// Never finished: send it.
    Send,
    /// Finished earlier (`requested`, or found gone): do not send again.
    Done { outcome: String, ts: String },
    /// An uninstall requested at `since`, longer ago than the re-request window: send again if
    /// the agent is still there and has not been seen since.
    Rerequest { since: Timestamp },
}

impl JournalState {
    /// Read journal text: one entry per line; blank lines are ignored, unparsable ones counted.
    fn read(bytes: &[u8]) -> JournalState {
        let mut state = JournalState::default();
        for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<JournalEntry>(line) {
                Ok(entry) => state.record(entry),
                Err(e) => {
                    tracing::warn!(line = i + 1, error = %e, "ignoring unreadable journal line");
                    state.skipped_lines += 1;
                }
            }
        }
        state
    }

    /// Take one entry into account (as if read from the file).
    pub fn record(&mut self, entry: JournalEntry) {
        let k = key(&entry.provider, &entry.agent_id, &entry.action);
        if entry.outcome == "requested" {
            // An unreadable time still counts as requested, just never as old.
            let ts = entry.ts.parse().unwrap_or(Timestamp::MAX);
            let latest = self.requested.entry(k.clone()).or_insert(ts);
            if ts > *latest || *latest == Timestamp::MAX {
                *latest = ts;
            }
        } else if entry.outcome == "skipped:gone" {
            self.gone.insert(k.clone());
        }
        self.entries += 1;
        self.last.insert(k, entry);
    }

    /// What to do with this agent now. Final: `requested` (for `uninstall` only until
    /// `rerequest_after` has passed since the latest request) and `skipped:gone`. Everything
    /// else (`failed:`, `skipped:seen-again`, …) is tried again.
    pub fn decide(
        &self,
        provider: &str,
        agent_id: &str,
        action: &str,
        now: Timestamp,
        rerequest_after: Option<jiff::SignedDuration>,
    ) -> Resume {
        let k = key(provider, agent_id, action);
        let done = |outcome: &str| {
            let ts = self.last.get(&k).map(|e| e.ts.clone()).unwrap_or_default();
            Resume::Done {
                outcome: outcome.to_string(),
                ts,
            }
        };
        if let Some(&since) = self.requested.get(&k) {
            if action == "uninstall"
                && let Some(window) = rerequest_after
                && since != Timestamp::MAX
                && now.duration_since(since) >= window
            {
                return Resume::Rerequest { since };
            }
            return done("requested");
        }
        if self.gone.contains(&k) {
            return done("skipped:gone");
        }
        Resume::Send
    }

    /// True when an earlier run finished this agent and action (see [`JournalState::decide`]
    /// without a re-request window).
    pub fn is_done(&self, provider: &str, agent_id: &str, action: &str) -> bool {
        matches!(
            self.decide(provider, agent_id, action, Timestamp::MAX, None),
            Resume::Done { .. }
        )
    }

    /// The last entry recorded for this agent and action.
    pub fn previous(&self, provider: &str, agent_id: &str, action: &str) -> Option<&JournalEntry> {
        self.last.get(&key(provider, agent_id, action))
    }

    /// Entries read (unparsable lines not included).
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Unparsable lines tolerated (e.g. a line cut short by a crash).
    pub fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }

    /// Read a journal without opening it for writing (a dry run); a missing file is empty.
    pub fn load(path: &Path) -> io::Result<JournalState> {
        match std::fs::read(path) {
            Ok(bytes) => Ok(JournalState::read(&bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(JournalState::default()),
            Err(e) => Err(e),
        }
    }
}

impl Journal {
    /// Open (creating parent directories and the file if needed) for appending, and read what
    /// earlier runs recorded.
    pub fn open(path: &Path) -> io::Result<(Journal, JournalState)> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let state = JournalState::read(&bytes);
        let needs_newline = bytes.last().is_some_and(|b| *b != b'\n');
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                needs_newline,
            },
            state,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one line and hand it to the OS before returning (one `write` call per line).
    pub fn append(&mut self, entry: &JournalEntry) -> io::Result<()> {
        let mut line = Vec::with_capacity(256);
        if self.needs_newline {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, entry)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()?;
        self.needs_newline = false;
        Ok(())
    }
}

/// True when `path` holds a journal (its first entry has `ts`, `action` and `outcome`) rather
/// than a plan. Unreadable files are "not a journal" (the plan reader reports them).
pub fn looks_like_journal(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Some(first) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return false;
    };
    serde_json::from_str::<Map<String, Value>>(first).is_ok_and(|obj| {
        ["ts", "action", "outcome", "provider", "agent_id"]
            .iter()
            .all(|k| obj.contains_key(*k))
    })
}

/// Every readable entry of a journal file with its 1-based line number.
pub fn read_entries(path: &Path) -> io::Result<Vec<(usize, JournalEntry)>> {
    let text = std::fs::read(path)?;
    Ok(text
        .split(|b| *b == b'\n')
        .enumerate()
        .filter_map(|(i, line)| {
            serde_json::from_slice::<JournalEntry>(line)
                .ok()
                .map(|e| (i + 1, e))
        })
        .collect())
}

/// Where a run journals by default: `<state_dir>/journals/<digest>-<command>.jsonl`, so the
/// same plan (same agents, same actions) resumes its journal whatever its file is called, and
/// a different plan saved under the same name starts a fresh one.
pub fn default_journal_path(digest: &str, command: &str, state_dir: &Path) -> PathBuf {
    state_dir
        .join("journals")
        .join(format!("{digest}-{command}.jsonl"))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `plan.csv` → `plan.csv.failed.csv`.
pub fn failed_csv_path(from: &Path) -> PathBuf {
    with_suffix(from, ".failed.csv")
}

/// One agent that failed, for `<input>.failed.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRow {
    pub provider: String,
    pub kind: String,
    pub agent_id: String,
    pub hostname: Option<String>,
    /// The last-seen time from the input, kept so a retry re-checks against it.
    pub last_seen: Option<Timestamp>,
    /// The action that failed (so `apply --from <failed file>` retries the same change).
    pub action: String,
    pub error: String,
}

/// The columns of a failed-agents file. `run` names the run that wrote it (`agentctl runs`).
pub const FAILED_COLUMNS: [&str; 8] = [
    "provider",
    "kind",
    "agent_id",
    "hostname",
    "last_seen",
    "action",
    "error",
    "run",
];

/// Write (create or truncate) a failed-agents CSV that `--from` reads back as a plan.
pub fn write_failed_csv(path: &Path, rows: &[FailedRow], run: &str) -> io::Result<()> {
    let file = File::create(path)?;
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(io::BufWriter::new(file));
    w.write_record(FAILED_COLUMNS)?;
    for r in rows {
        let last_seen = r.last_seen.map(format_timestamp).unwrap_or_default();
        // Spreadsheet-safe like every CSV agentctl writes; the plan reader undoes it.
        w.write_record(
            [
                r.provider.as_str(),
                r.kind.as_str(),
                r.agent_id.as_str(),
                r.hostname.as_deref().unwrap_or(""),
                last_seen.as_str(),
                r.action.as_str(),
                r.error.as_str(),
                run,
            ]
            .map(crate::sanitize::csv_cell)
            .iter()
            .map(|c| c.as_bytes()),
        )?;
    }
    w.flush()?;
    let mut inner = w.into_inner().map_err(|e| e.into_error())?;
    inner.flush()
}

/// Make `<input>.failed.csv` current: written when `rows` is not empty, else removed.
/// Returns whether a file is there afterwards.
pub fn sync_failed_csv(path: &Path, rows: &[FailedRow], run: &str) -> io::Result<bool> {
    if rows.is_empty() {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    } else {
        write_failed_csv(path, rows, run).map(|()| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanContext, parse_plan, read_plan};

    fn entry(provider: &str, id: &str, outcome: Outcome) -> JournalEntry {
        JournalEntry::new(provider, id, "uninstall", outcome, "detail")
    }

    #[test]
    fn outcome_text() {
        assert_eq!(Outcome::Requested.to_string(), "requested");
        assert_eq!(Outcome::Skipped("gone".into()).to_string(), "skipped:gone");
        assert_eq!(
            Outcome::Failed("http-404".into()).to_string(),
            "failed:http-404"
        );
        for o in [
            Outcome::Requested,
            Outcome::Skipped("seen-again".into()),
            Outcome::Failed("x".into()),
        ] {
            assert_eq!(Outcome::parse(&o.to_string()), Some(o));
        }
        assert_eq!(Outcome::parse("weird"), None);
    }

    #[test]
    fn entry_shape() {
        let mut e = JournalEntry::new(
            "se",
            "id-1",
            "uninstall",
            Outcome::Requested,
            String::from("ok"),
        );
        assert!(e.ts.ends_with('Z'));
        assert!(e.ts.parse::<Timestamp>().is_ok());
        let line = serde_json::to_string(&e).unwrap();
        assert!(
            !line.contains("hostname") && !line.contains("request_id"),
            "{line}"
        );
        assert!(line.starts_with(r#"{"ts":"#));

        e.hostname = Some("pc".into());
        e.request_id = Some("r-1".into());
        e.extra
            .insert("requestID".into(), Value::String("tg-9".into()));
        let line = serde_json::to_string(&e).unwrap();
        let back: JournalEntry = serde_json::from_str(&line).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.extra["requestID"], "tg-9");
        assert_eq!(back.outcome(), Some(Outcome::Requested));
    }

    #[test]
    fn append_reopen_resume() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/er/plan.csv.journal.jsonl");
        let (mut j, state) = Journal::open(&path).unwrap();
        assert!(state.is_empty());
        assert_eq!(j.path(), path);
        j.append(&entry("se", "a", Outcome::Requested)).unwrap();
        j.append(&entry("se", "b", Outcome::Skipped("gone".into())))
            .unwrap();
        j.append(&entry("se", "c", Outcome::Skipped("seen-again".into())))
            .unwrap();
        j.append(&entry("se", "d", Outcome::Failed("http-500".into())))
            .unwrap();
        // Visible to a reader before the journal is dropped.
        let (_, state) = Journal::open(&path).unwrap();
        assert_eq!(state.len(), 4);
        drop(j);

        let (mut j, state) = Journal::open(&path).unwrap();
        assert_eq!(state.len(), 4);
        assert_eq!(state.skipped_lines(), 0);
        assert!(state.is_done("se", "a", "uninstall"));
        assert!(state.is_done("se", "b", "uninstall"));
        assert!(!state.is_done("se", "c", "uninstall"));
        assert!(
            !state.is_done("se", "d", "uninstall"),
            "failed entries are retried"
        );
        assert!(!state.is_done("se", "a", "relocate"), "per action");
        assert!(!state.is_done("other", "a", "uninstall"), "per provider");
        assert!(!state.is_done("se", "zz", "uninstall"));
        assert_eq!(
            state.previous("se", "d", "uninstall").unwrap().outcome,
            "failed:http-500"
        );
        assert!(state.previous("se", "zz", "uninstall").is_none());

        // The retry succeeds; later entries win for `previous`.
        j.append(&entry("se", "d", Outcome::Requested)).unwrap();
        let (_, state) = Journal::open(&path).unwrap();
        assert_eq!(state.len(), 5);
        assert!(state.is_done("se", "d", "uninstall"));
        assert_eq!(
            state.previous("se", "d", "uninstall").unwrap().outcome,
            "requested"
        );

        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 5);
        for line in text.lines() {
            let v: Map<String, Value> = serde_json::from_str(line).unwrap();
            for k in ["ts", "provider", "agent_id", "action", "outcome", "detail"] {
                assert!(v.contains_key(k), "{line}");
            }
        }
    }

    #[test]
    fn requested_stays_done_whatever_follows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let (mut j, _) = Journal::open(&path).unwrap();
        j.append(&entry("se", "a", Outcome::Requested)).unwrap();
        j.append(&entry("se", "a", Outcome::Failed("http-500".into())))
            .unwrap();
        let (_, state) = Journal::open(&path).unwrap();
        assert!(state.is_done("se", "a", "uninstall"));
        assert_eq!(
            state.previous("se", "a", "uninstall").unwrap().outcome,
            "failed:http-500"
        );
    }

    #[test]
    fn torn_last_line_tolerated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.jsonl");
        let good = serde_json::to_string(&entry("se", "a", Outcome::Requested)).unwrap();
        let torn = serde_json::to_string(&entry("se", "b", Outcome::Requested)).unwrap();
        let torn = &torn[..torn.len() / 2];
        std::fs::write(&path, format!("{good}\r\n\n{torn}")).unwrap();

        let (mut j, state) = Journal::open(&path).unwrap();
        assert_eq!(state.len(), 1);
        assert_eq!(state.skipped_lines(), 1);
        assert!(state.is_done("se", "a", "uninstall"));
        assert!(!state.is_done("se", "b", "uninstall"));

        j.append(&entry("se", "b", Outcome::Requested)).unwrap();
        j.append(&entry("se", "c", Outcome::Requested)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[3].len(), lines[3].trim().len());
        for line in &lines[3..] {
            serde_json::from_str::<JournalEntry>(line).unwrap();
        }

        let (_, state) = Journal::open(&path).unwrap();
        assert_eq!(state.len(), 3);
        assert_eq!(state.skipped_lines(), 1);
        assert!(state.is_done("se", "b", "uninstall"));
    }

    #[test]
    fn default_paths() {
        let state = Path::new("/home/u/.local/state/agentctl");
        assert_eq!(
            default_journal_path("0123456789abcdef", "uninstall", state),
            PathBuf::from(
                "/home/u/.local/state/agentctl/journals/0123456789abcdef-uninstall.jsonl"
            )
        );
        assert_eq!(
            failed_csv_path(Path::new("a/plan.csv")),
            PathBuf::from("a/plan.csv.failed.csv")
        );
    }

    #[test]
    fn resume_decisions() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let week = Some(jiff::SignedDuration::from_hours(7 * 24));
        let mut state = JournalState::default();
        let at = |ts: &str, id: &str, action: &str, outcome: Outcome| {
            let mut e = JournalEntry::new("se", id, action, outcome, "");
            e.ts = ts.to_string();
            e
        };
        state.record(at(
            "2026-11-10T00:00:00Z",
            "old",
            "uninstall",
            Outcome::Requested,
        ));
        state.record(at(
            "2026-11-20T00:00:00Z",
            "new",
            "uninstall",
            Outcome::Requested,
        ));
        state.record(at(
            "2026-11-10T00:00:00Z",
            "rm",
            "remove",
            Outcome::Requested,
        ));
        state.record(at(
            "2026-11-10T00:00:00Z",
            "gone",
            "uninstall",
            Outcome::Skipped("gone".into()),
        ));
        state.record(at(
            "2026-11-10T00:00:00Z",
            "back",
            "uninstall",
            Outcome::Skipped("seen-again".into()),
        ));
        state.record(at(
            "2026-11-10T00:00:00Z",
            "bad",
            "uninstall",
            Outcome::Failed("http-500".into()),
        ));
        // Requested twice: the latest request counts for the window.
        state.record(at(
            "2026-11-01T00:00:00Z",
            "twice",
            "uninstall",
            Outcome::Requested,
        ));
        state.record(at(
            "2026-11-21T00:00:00Z",
            "twice",
            "uninstall",
            Outcome::Requested,
        ));
        let d = |id: &str, action: &str| state.decide("se", id, action, now, week);
        assert_eq!(
            d("old", "uninstall"),
            Resume::Rerequest {
                since: "2026-11-10T00:00:00Z".parse().unwrap()
            }
        );
        assert!(matches!(d("new", "uninstall"), Resume::Done { .. }));
        assert!(matches!(d("twice", "uninstall"), Resume::Done { .. }));
        assert!(
            matches!(d("rm", "remove"), Resume::Done { .. }),
            "remove is final"
        );
        assert!(
            matches!(d("gone", "uninstall"), Resume::Done { ref outcome, .. } if outcome == "skipped:gone")
        );
        assert_eq!(d("back", "uninstall"), Resume::Send);
        assert_eq!(d("bad", "uninstall"), Resume::Send);
        assert_eq!(d("old", "relocate"), Resume::Send, "per action");
        assert_eq!(d("nobody", "uninstall"), Resume::Send);
        assert!(matches!(
            state.decide("se", "old", "uninstall", now, None),
            Resume::Done { .. }
        ));
    }

    fn validate(provider: &str, kind: Option<&str>, _id: &str) -> Result<(), String> {
        match (provider, kind) {
            ("se", None | Some("secure-endpoint")) | ("tg", None | Some("taegis")) => Ok(()),
            _ => Err(format!("unknown provider '{provider}'")),
        }
    }

    #[test]
    fn failed_csv_reads_back_as_plan() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("plan.csv");
        let path = failed_csv_path(&from);
        let seen: Timestamp = "2026-10-01T12:00:00.5Z".parse().unwrap();
        let rows = vec![
            FailedRow {
                provider: "se".into(),
                kind: "secure-endpoint".into(),
                agent_id: "guid-1".into(),
                hostname: Some("Müller, PC".into()),
                last_seen: Some(seen),
                action: "uninstall".into(),
                error: "failed:http-500: server said \"no\"\nretry later".into(),
            },
            FailedRow {
                provider: "tg".into(),
                kind: "taegis".into(),
                agent_id: "asset-2".into(),
                hostname: None,
                last_seen: None,
                action: "uninstall".into(),
                error: "failed:network: timeout".into(),
            },
        ];
        write_failed_csv(&path, &rows, "20261123T120000Z-42").unwrap();
        let ctx = PlanContext {
            legacy_provider: None,
            validate: &validate,
        };
        let plan = read_plan(&path, &ctx).unwrap();
        assert_eq!(plan.rows.len(), 2);
        assert_eq!(plan.rows[0].agent.agent_id, "guid-1");
        assert_eq!(plan.rows[0].agent.hostname.as_deref(), Some("Müller, PC"));
        assert_eq!(plan.rows[0].agent.last_seen, Some(seen));
        assert_eq!(plan.rows[0].kind.as_deref(), Some("secure-endpoint"));
        assert_eq!(plan.rows[1].line, 4, "the error cell spans two lines");
        assert_eq!(plan.rows[1].agent.hostname, None);

        // No failures: a header-only file, which reads back as nothing to do.
        write_failed_csv(&path, &[], "r").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "provider,kind,agent_id,hostname,last_seen,action,error,run\n"
        );
        assert!(parse_plan(&text, &path, &ctx).unwrap().is_empty());
        // Made current: removed when nothing failed.
        assert!(sync_failed_csv(&path, &rows, "r2").unwrap());
        assert!(std::fs::read_to_string(&path).unwrap().contains(",r2\n"));
        assert!(!sync_failed_csv(&path, &[], "r3").unwrap());
        assert!(!path.exists());
        assert!(!sync_failed_csv(&path, &[], "r4").unwrap());
    }
}
