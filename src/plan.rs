//! Reading the input of bulk commands (`uninstall --from`, `relocate --from`).
//!
//! Accepted: what `list` / `stale` write (CSV, a JSON array, NDJSON), the original script's
//! `inactive_guids.csv` (a single `GUID` column) and Cisco's `stale_guids.csv`
//! (`Age in days,GUID,Hostname`). The whole file is validated before anything is returned:
//! every problem is collected with its file line number (header = line 1; for a JSON array,
//! the item's 1-based index) into one [`PlanError::Invalid`].
//!
//! Choices beyond the contract:
//! - CSV headers without any comma but with `;` or a tab are read with that delimiter (Excel
//!   in many locales saves "CSV" with `;`).
//! - Records whose fields are all empty (`,,,,` lines Excel leaves behind) are skipped.
//! - Field values are trimmed, except `hostname` and `group` in JSON / NDJSON (vendor data, read
//!   back exactly); empty `kind` / `hostname` / `last_seen` mean "not given".
//! - A CSV cell that agentctl neutralised for spreadsheets (a leading `'` before `=`, `+`,
//!   `-`, `@`, tab, CR, `'` or surrounding white space) is read back exactly, untrimmed; see
//!   [`crate::sanitize`] for the scheme.
//! - An empty `.ndjson` / `.jsonl` file is an empty plan (that is what `stale -o ndjson`
//!   writes when nothing is stale); an empty CSV / JSON / unknown file is [`PlanError::NoHeader`].
//! - UTF-16 files with a BOM (Excel's "Unicode text") are decoded; other non-UTF-8 input is
//!   unreadable.
//! - `Display` of [`PlanError::Invalid`] lists at most [`MAX_LISTED_PROBLEMS`] problems, then
//!   how many more there are (the `problems` vector always has all of them).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use agentctl_core::AgentRef;
use agentctl_core::time::parse_timestamp;
use jiff::Timestamp;
use serde_json::{Map, Value};

/// One agent to act on, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRow {
    /// 1-based file line of the record (header = line 1); for a JSON array, the item's 1-based
    /// index.
    pub line: usize,
    pub agent: AgentRef,
    /// The `kind` column when present and not empty.
    pub kind: Option<String>,
    /// The `group` column when present and not empty.
    pub group: Option<String>,
    /// The `action` column when present and not empty: one of [`PLAN_ACTIONS`].
    pub action: Option<String>,
}

/// What a plan's `action` column may say. `pending-uninstall` marks an agent whose vendor
/// already shows an uninstall pending: `apply` sends nothing for it.
pub const PLAN_ACTIONS: [&str; 4] = ["uninstall", "remove", "relocate", "pending-uninstall"];

/// The same agent listed more than once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub provider: String,
    pub agent_id: String,
    /// Every line it appears on, the kept (first) one included.
    pub lines: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    Csv,
    Json,
    Ndjson,
    /// The original script's `inactive_guids.csv`: a single `GUID` column.
    LegacyGuid,
    /// Cisco's `stale_guids.csv`: `Age in days,GUID,Hostname`.
    LegacyStaleGuids,
}

/// A validated bulk-command input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub path: PathBuf,
    /// Deduplicated (first occurrence kept), in file order.
    pub rows: Vec<PlanRow>,
    pub duplicates: Vec<Duplicate>,
    pub format: PlanFormat,
}

impl Plan {
    /// No agents: the caller treats this as "nothing to do".
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// `(provider, kind if given, agent_id)` → `Err(message)` when the row is not acceptable.
pub type Validate<'v> = dyn Fn(&str, Option<&str>, &str) -> Result<(), String> + 'v;

/// What the reader needs from the caller.
pub struct PlanContext<'a> {
    /// Provider name rows of the two legacy GUID formats belong to (the caller resolves it:
    /// `-p` names a secure-endpoint provider, or exactly one is configured); `None` makes
    /// legacy files an error saying so.
    pub legacy_provider: Option<&'a str>,
    /// Validate `(provider, kind if given, agent_id)`: `Err(message)` for an unknown provider,
    /// a kind that does not match the provider's kind, or an id malformed for its kind.
    pub validate: &'a Validate<'a>,
}

/// How many problems `Display` lists before summarising the rest.
pub const MAX_LISTED_PROBLEMS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read {}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error(
        "{}: the file is empty, not even a header row (expected e.g. `provider,kind,agent_id,hostname,last_seen`, as `stale --out` writes)",
        path.display()
    )]
    NoHeader { path: PathBuf },
    #[error("{}", invalid_message(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<(usize, String)>,
    },
}

fn invalid_message(path: &Path, problems: &[(usize, String)]) -> String {
    use fmt::Write;
    let mut s = format!("{}: {} problem(s)", path.display(), problems.len());
    for (line, message) in problems.iter().take(MAX_LISTED_PROBLEMS) {
        let _ = write!(s, "\n  line {line}: {message}");
    }
    if problems.len() > MAX_LISTED_PROBLEMS {
        let _ = write!(
            s,
            "\n  … and {} more problem(s)",
            problems.len() - MAX_LISTED_PROBLEMS
        );
    }
    s
}

/// Read and validate a plan file. See the module documentation.
pub fn read_plan(path: &Path, ctx: &PlanContext) -> Result<Plan, PlanError> {
    // A FIFO, device or directory would block or never end: only regular files are plans.
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(PlanError::Unreadable {
                path: path.to_path_buf(),
                reason:
                    "not a regular file (a plan must be a file, not a pipe, device or directory)"
                        .into(),
            });
        }
        _ => {}
    }
    let bytes = std::fs::read(path).map_err(|e| PlanError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let text = decode(&bytes).map_err(|reason| PlanError::Unreadable {
        path: path.to_path_buf(),
        reason,
    })?;
    parse_plan(&text, path, ctx)
}

fn decode(bytes: &[u8]) -> Result<String, String> {
    let utf16 = |rest: &[u8], from: fn([u8; 2]) -> u16| -> Result<String, String> {
        if !rest.len().is_multiple_of(2) {
            return Err("not valid UTF-16 text (odd length)".into());
        }
        let units: Vec<u16> = rest.chunks_exact(2).map(|c| from([c[0], c[1]])).collect();
        String::from_utf16(&units).map_err(|_| "not valid UTF-16 text".into())
    };
    match bytes {
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes),
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(e) => Err(format!(
                "not UTF-8 text (invalid byte at offset {}); save the file as UTF-8 CSV",
                e.valid_up_to()
            )),
        },
    }
}

/// Parse and validate plan text that came from `path` (the path decides the format by its
/// extension and names the file in errors).
pub fn parse_plan(text: &str, path: &Path, ctx: &PlanContext) -> Result<Plan, PlanError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match ext.as_deref() {
        Some("csv") => Syntax::Csv,
        Some("json") => Syntax::Json,
        Some("ndjson" | "jsonl") => Syntax::Ndjson,
        _ => match text.trim_start().chars().next() {
            Some('[') => Syntax::Json,
            Some('{') => Syntax::Ndjson,
            _ => Syntax::Csv,
        },
    };
    if text.trim().is_empty() {
        if format == Syntax::Ndjson {
            return Ok(Plan {
                path: path.to_path_buf(),
                rows: Vec::new(),
                duplicates: Vec::new(),
                format: PlanFormat::Ndjson,
            });
        }
        return Err(PlanError::NoHeader {
            path: path.to_path_buf(),
        });
    }
    let mut p = Parser {
        ctx,
        rows: Vec::new(),
        problems: Vec::new(),
    };
    let format = match format {
        Syntax::Csv => p.csv(text),
        Syntax::Json => p.json_array(text),
        Syntax::Ndjson => p.ndjson(text),
    };
    if !p.problems.is_empty() {
        p.problems.sort_by_key(|(line, _)| *line);
        return Err(PlanError::Invalid {
            path: path.to_path_buf(),
            problems: p.problems,
        });
    }
    let (rows, duplicates) = dedup(p.rows);
    Ok(Plan {
        path: path.to_path_buf(),
        rows,
        duplicates,
        format,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Csv,
    Json,
    Ndjson,
}

fn dedup(rows: Vec<PlanRow>) -> (Vec<PlanRow>, Vec<Duplicate>) {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    let mut kept = Vec::with_capacity(rows.len());
    let mut duplicates: Vec<Duplicate> = Vec::new();
    let mut dup_index: HashMap<usize, usize> = HashMap::new();
    for row in rows {
        let key = (row.agent.provider.clone(), row.agent.agent_id.clone());
        match seen.get(&key) {
            Some(&first) => {
                let d = *dup_index.entry(first).or_insert_with(|| {
                    let first_row: &PlanRow = &kept[first];
                    duplicates.push(Duplicate {
                        provider: key.0.clone(),
                        agent_id: key.1.clone(),
                        lines: vec![first_row.line],
                    });
                    duplicates.len() - 1
                });
                duplicates[d].lines.push(row.line);
            }
            None => {
                seen.insert(key, kept.len());
                kept.push(row);
            }
        }
    }
    (kept, duplicates)
}

/// The fields of one input record, before validation.
#[derive(Default)]
struct RawRow<'a> {
    provider: Option<&'a str>,
    kind: Option<&'a str>,
    agent_id: Option<&'a str>,
    hostname: Option<&'a str>,
    last_seen: Option<&'a str>,
    group: Option<&'a str>,
    action: Option<&'a str>,
}

/// Which column holds which field (CSV).
#[derive(Default)]
struct Columns {
    provider: Option<usize>,
    kind: Option<usize>,
    agent_id: Option<usize>,
    hostname: Option<usize>,
    last_seen: Option<usize>,
    group: Option<usize>,
    action: Option<usize>,
}

struct Parser<'c, 'a> {
    ctx: &'c PlanContext<'a>,
    rows: Vec<PlanRow>,
    problems: Vec<(usize, String)>,
}

/// A given, non-empty value (callers trim first where the format calls for it).
fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// One CSV field as a value: a cell agentctl neutralised for spreadsheets is taken back
/// exactly ([`crate::sanitize::csv_uncell`]); any other field is trimmed.
fn csv_value(field: &str) -> &str {
    crate::sanitize::csv_uncell(field).unwrap_or_else(|| field.trim())
}

impl Parser<'_, '_> {
    fn problem(&mut self, line: usize, message: impl Into<String>) {
        self.problems.push((line, message.into()));
    }

    /// Validate one record and keep it if it is good. `id_name` names the id field in messages.
    fn accept(&mut self, line: usize, raw: RawRow<'_>, id_name: &str) {
        let provider = non_empty(raw.provider);
        let agent_id = non_empty(raw.agent_id);
        let kind = non_empty(raw.kind);
        let hostname = non_empty(raw.hostname);
        let group = non_empty(raw.group);
        let action = non_empty(raw.action).map(str::to_ascii_lowercase);
        let mut ok = true;
        if let Some(a) = &action
            && !PLAN_ACTIONS.contains(&a.as_str())
        {
            self.problem(
                line,
                format!("action '{a}' is not one of {}", PLAN_ACTIONS.join(", ")),
            );
            ok = false;
        }
        if provider.is_none() {
            self.problem(line, "missing provider");
            ok = false;
        }
        if agent_id.is_none() {
            self.problem(line, format!("missing {id_name}"));
            ok = false;
        }
        let last_seen: Option<Timestamp> = match non_empty(raw.last_seen) {
            None => None,
            Some(text) => {
                match parse_timestamp(text) {
                    Some(ts) => Some(ts),
                    None => {
                        self.problem(
                        line,
                        format!("last_seen '{text}' is not an RFC 3339 time like 2026-10-01T12:00:00Z"),
                    );
                        ok = false;
                        None
                    }
                }
            }
        };
        if let (Some(provider), Some(agent_id)) = (provider, agent_id) {
            if let Err(message) = (self.ctx.validate)(provider, kind, agent_id) {
                self.problem(line, message);
                ok = false;
            }
            if ok {
                self.rows.push(PlanRow {
                    line,
                    agent: AgentRef {
                        provider: provider.to_string(),
                        agent_id: agent_id.to_string(),
                        hostname: hostname.map(str::to_string),
                        last_seen,
                    },
                    kind: kind.map(str::to_string),
                    group: group.map(str::to_string),
                    action,
                });
            }
        }
    }

    fn csv(&mut self, text: &str) -> PlanFormat {
        let delimiter = sniff_delimiter(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .from_reader(text.as_bytes());
        let lines = LineIndex::new(text);
        let mut records = reader.records();
        let header = match records.next() {
            Some(Ok(h)) => h,
            Some(Err(e)) => {
                self.problem(
                    lines.record_line(e.position()),
                    format!("unreadable CSV header: {e}"),
                );
                return PlanFormat::Csv;
            }
            // Only blank lines: the caller has already ruled this out.
            None => return PlanFormat::Csv,
        };
        let header_line = lines.record_line(header.position());
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let width = names.len();

        let mut legacy_provider = None;
        let (format, cols, id_name) = if names == ["guid"] {
            (PlanFormat::LegacyGuid, legacy_columns(0, None), "GUID")
        } else if names == ["age in days", "guid", "hostname"] {
            (
                PlanFormat::LegacyStaleGuids,
                legacy_columns(1, Some(2)),
                "GUID",
            )
        } else {
            match self.csv_columns(header_line, &names) {
                Some(cols) => (PlanFormat::Csv, cols, "agent_id"),
                None => return PlanFormat::Csv,
            }
        };
        if format != PlanFormat::Csv {
            let what = if format == PlanFormat::LegacyGuid {
                "the original script's inactive_guids.csv (a single GUID column)"
            } else {
                "Cisco's stale_guids.csv (Age in days,GUID,Hostname)"
            };
            match self.ctx.legacy_provider {
                Some(p) => legacy_provider = Some(p),
                None => {
                    self.problem(
                        header_line,
                        format!(
                            "this is {what}, which names no provider; name a secure-endpoint provider with -p"
                        ),
                    );
                    return format;
                }
            }
        }

        for result in records {
            let record = match result {
                Ok(r) => r,
                Err(e) => {
                    self.problem(
                        lines.record_line(e.position()),
                        format!("unreadable CSV: {e}"),
                    );
                    break;
                }
            };
            let line = lines.record_line(record.position());
            if record.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            if record.len() != width {
                self.problem(
                    line,
                    format!(
                        "expected {width} field(s) like the header, found {} (a value with a comma must be quoted)",
                        record.len()
                    ),
                );
                continue;
            }
            let field = |i: Option<usize>| i.and_then(|i| record.get(i)).map(csv_value);
            let raw = RawRow {
                provider: legacy_provider.or_else(|| field(cols.provider)),
                kind: field(cols.kind),
                agent_id: field(cols.agent_id),
                hostname: field(cols.hostname),
                last_seen: field(cols.last_seen),
                group: field(cols.group),
                action: field(cols.action),
            };
            self.accept(line, raw, id_name);
        }
        format
    }

    /// Map header names to fields; reports missing required and repeated known columns.
    fn csv_columns(&mut self, line: usize, names: &[String]) -> Option<Columns> {
        let mut cols = Columns::default();
        let mut repeated = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let slot = match name.as_str() {
                "provider" => &mut cols.provider,
                "kind" => &mut cols.kind,
                "agent_id" => &mut cols.agent_id,
                "hostname" => &mut cols.hostname,
                "last_seen" => &mut cols.last_seen,
                "group" => &mut cols.group,
                "action" => &mut cols.action,
                _ => continue,
            };
            if slot.is_some() {
                repeated.push(name.clone());
            } else {
                *slot = Some(i);
            }
        }
        let mut missing = Vec::new();
        if cols.provider.is_none() {
            missing.push("provider");
        }
        if cols.agent_id.is_none() {
            missing.push("agent_id");
        }
        if !missing.is_empty() {
            self.problem(
                line,
                format!(
                    "header lacks required column(s) {} (found: {}); expected a file written by `list`/`stale`, or a single GUID column",
                    missing.join(", "),
                    names.join(",")
                ),
            );
        }
        if !repeated.is_empty() {
            self.problem(
                line,
                format!("header repeats column(s) {}", repeated.join(", ")),
            );
        }
        (missing.is_empty() && repeated.is_empty()).then_some(cols)
    }

    fn json_object(&mut self, line: usize, value: &Value) {
        let Value::Object(obj) = value else {
            self.problem(line, "expected a JSON object with provider and agent_id");
            return;
        };
        let mut ok = true;
        let mut get = |key: &str| -> Option<String> {
            match obj.get(key) {
                None | Some(Value::Null) => None,
                // Host and group names are vendor data and come back exactly as written;
                // identifiers and names the user may have typed are trimmed.
                Some(Value::String(s)) if matches!(key, "hostname" | "group") => Some(s.clone()),
                Some(Value::String(s)) => Some(s.trim().to_string()),
                Some(Value::Number(n)) if key == "agent_id" => Some(n.to_string()),
                Some(other) => {
                    self.problems.push((
                        line,
                        format!("{key} must be a string, found {}", json_type(other)),
                    ));
                    ok = false;
                    None
                }
            }
        };
        let provider = get("provider");
        let kind = get("kind");
        let agent_id = get("agent_id");
        let hostname = get("hostname");
        let last_seen = get("last_seen");
        let group = get("group");
        let action = get("action");
        if !ok {
            return;
        }
        self.accept(
            line,
            RawRow {
                provider: provider.as_deref(),
                kind: kind.as_deref(),
                agent_id: agent_id.as_deref(),
                hostname: hostname.as_deref(),
                last_seen: last_seen.as_deref(),
                group: group.as_deref(),
                action: action.as_deref(),
            },
            "agent_id",
        );
    }

    fn json_array(&mut self, text: &str) -> PlanFormat {
        match serde_json::from_str::<Vec<Value>>(text) {
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.json_object(i + 1, item);
                }
            }
            Err(e) => self.problem(
                e.line(),
                format!(
                    "not a JSON array of agent objects: {e} (line numbers here are file lines)"
                ),
            ),
        }
        PlanFormat::Json
    }

    fn ndjson(&mut self, text: &str) -> PlanFormat {
        for (i, line) in text.lines().enumerate() {
            let line_no = i + 1;
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            match serde_json::from_str::<Map<String, Value>>(line) {
                Ok(obj) => self.json_object(line_no, &Value::Object(obj)),
                Err(e) => self.problem(line_no, format!("not a JSON object: {e}")),
            }
        }
        PlanFormat::Ndjson
    }
}

fn legacy_columns(guid: usize, hostname: Option<usize>) -> Columns {
    Columns {
        agent_id: Some(guid),
        hostname,
        ..Columns::default()
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// File line numbers from the byte offsets of the csv reader's record positions.
///
/// The csv crate's own `Position::line` lags by one after a CRLF line end (the `\n` of the
/// previous record is consumed as part of the next one), so the line is derived from the byte
/// offset instead, skipping the line ends (and blank lines) in front of the record.
struct LineIndex<'t> {
    text: &'t [u8],
    /// Byte offsets of every `\n`.
    newlines: Vec<usize>,
}

impl<'t> LineIndex<'t> {
    fn new(text: &'t str) -> Self {
        let text = text.as_bytes();
        let newlines = text
            .iter()
            .enumerate()
            .filter_map(|(i, b)| (*b == b'\n').then_some(i))
            .collect();
        LineIndex { text, newlines }
    }

    /// 1-based line of the first byte of the record that starts at `pos`.
    fn record_line(&self, pos: Option<&csv::Position>) -> usize {
        let Some(pos) = pos else { return 0 };
        let mut start = usize::try_from(pos.byte())
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        // Lines before `start` = newlines strictly before it.
        self.newlines.partition_point(|&nl| nl < start) + 1
    }
}

/// `,` unless the header line has none but has `;` or a tab.
fn sniff_delimiter(text: &str) -> u8 {
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    if header.contains(',') {
        b','
    } else if header.contains(';') {
        b';'
    } else if header.contains('\t') {
        b'\t'
    } else {
        b','
    }
}

impl fmt::Display for PlanFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlanFormat::Csv => "CSV",
            PlanFormat::Json => "JSON",
            PlanFormat::Ndjson => "NDJSON",
            PlanFormat::LegacyGuid => "inactive_guids.csv (GUID)",
            PlanFormat::LegacyStaleGuids => "stale_guids.csv (Age in days,GUID,Hostname)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::{AGENT_COLUMNS, Format, RowWriter, agent_row};
    use agentctl_core::AgentRecord;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    const GUID_A: &str = "0f5e8a3c-1111-2222-3333-444455556666";
    const GUID_B: &str = "1a2b3c4d-aaaa-bbbb-cccc-ddddeeeeffff";

    /// Providers: `se` (secure-endpoint, lowercase GUID ids) and `tg` (taegis, any id without
    /// spaces).
    fn validate(provider: &str, kind: Option<&str>, id: &str) -> Result<(), String> {
        let real_kind = match provider {
            "se" => "secure-endpoint",
            "tg" => "taegis",
            other => return Err(format!("unknown provider '{other}'")),
        };
        if let Some(k) = kind
            && k != real_kind
        {
            return Err(format!(
                "kind '{k}' does not match provider '{provider}' ({real_kind})"
            ));
        }
        let ok = match provider {
            "se" => id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
            _ => !id.contains(' '),
        };
        if ok {
            Ok(())
        } else {
            Err(format!("'{id}' is not a valid {real_kind} id"))
        }
    }

    fn ctx(legacy: Option<&'static str>) -> PlanContext<'static> {
        PlanContext {
            legacy_provider: legacy,
            validate: &validate,
        }
    }

    fn parse(text: &str, name: &str) -> Result<Plan, PlanError> {
        parse_plan(text, Path::new(name), &ctx(Some("se")))
    }

    fn ids(plan: &Plan) -> Vec<(&str, &str, usize)> {
        plan.rows
            .iter()
            .map(|r| (r.agent.provider.as_str(), r.agent.agent_id.as_str(), r.line))
            .collect()
    }

    fn problems(err: PlanError) -> Vec<(usize, String)> {
        match err {
            PlanError::Invalid { problems, .. } => problems,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn csv_with_bom_crlf_quotes_other_order_and_extra_columns() {
        let text = format!(
            "\u{feff}Agent_ID , os,Provider,hostname,last_seen,KIND,error\r\n\
             {GUID_A},\"Windows, 11\",se,\"two\r\nline host\",2026-10-01T12:00:00Z,secure-endpoint,\r\n\
             host-1,Linux,tg,\"a,b\",,taegis,\"x\"\"y\"\r\n\
             \r\n\r\n"
        );
        let plan = parse(&text, "plan.csv").unwrap();
        assert_eq!(plan.format, PlanFormat::Csv);
        assert_eq!(ids(&plan), vec![("se", GUID_A, 2), ("tg", "host-1", 4)]);
        let a = &plan.rows[0];
        assert_eq!(a.agent.hostname.as_deref(), Some("two\r\nline host"));
        assert_eq!(a.agent.last_seen, Some(ts("2026-10-01T12:00:00Z")));
        assert_eq!(a.kind.as_deref(), Some("secure-endpoint"));
        let b = &plan.rows[1];
        assert_eq!(b.agent.hostname.as_deref(), Some("a,b"));
        assert_eq!(b.agent.last_seen, None);
        assert!(plan.duplicates.is_empty());
        assert!(!plan.is_empty());
    }

    #[test]
    fn csv_minimal_columns_lf() {
        let plan = parse(
            "provider,agent_id\nse,0F5E8A3C-1111-2222-3333-444455556666\n",
            "x.csv",
        )
        .unwrap();
        assert_eq!(plan.rows.len(), 1);
        assert_eq!(plan.rows[0].kind, None);
        assert_eq!(plan.rows[0].agent.hostname, None);

        // Blank lines in between, mixed line ends: still the file's line numbers.
        let plan = parse(
            &format!("\r\nprovider,agent_id\n\nse,{GUID_A}\r\n\r\n  \ntg,x\n"),
            "x.csv",
        )
        .unwrap();
        assert_eq!(ids(&plan), vec![("se", GUID_A, 4), ("tg", "x", 7)]);
        let p = problems(parse("\n\nprovider,agent_id\r\n\r\nzz,1\r\n", "x.csv").unwrap_err());
        assert_eq!(p[0].0, 5);
    }

    #[test]
    fn semicolon_csv_from_excel() {
        let text =
            format!("provider;kind;agent_id;hostname\r\nse;secure-endpoint;{GUID_A};pc1\r\n");
        let plan = parse(&text, "x.csv").unwrap();
        assert_eq!(ids(&plan), vec![("se", GUID_A, 2)]);
    }

    #[test]
    fn legacy_guid_file() {
        let text = format!("GUID\n{GUID_A}\n{GUID_B}\n\n");
        let plan = parse(&text, "inactive_guids.csv").unwrap();
        assert_eq!(plan.format, PlanFormat::LegacyGuid);
        assert_eq!(ids(&plan), vec![("se", GUID_A, 2), ("se", GUID_B, 3)]);
        assert_eq!(plan.rows[0].kind, None);

        let err = parse_plan(&text, Path::new("inactive_guids.csv"), &ctx(None)).unwrap_err();
        let p = problems(err);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 1);
        assert!(p[0].1.contains("-p"), "{}", p[0].1);

        // Ids are still validated against the legacy provider's kind.
        let p = problems(parse("GUID\nnot-a-guid\n", "g.csv").unwrap_err());
        assert_eq!(
            p,
            vec![(
                2,
                "'not-a-guid' is not a valid secure-endpoint id".to_string()
            )]
        );
    }

    #[test]
    fn legacy_stale_guids_file() {
        let text = format!("Age in days,GUID,Hostname\r\n45,{GUID_A},PC-01\r\n120,{GUID_B},\r\n");
        let plan = parse(&text, "stale_guids.csv").unwrap();
        assert_eq!(plan.format, PlanFormat::LegacyStaleGuids);
        assert_eq!(ids(&plan), vec![("se", GUID_A, 2), ("se", GUID_B, 3)]);
        assert_eq!(plan.rows[0].agent.hostname.as_deref(), Some("PC-01"));
        assert_eq!(plan.rows[1].agent.hostname, None);
        assert_eq!(plan.rows[0].agent.last_seen, None);

        let err = parse_plan(&text, Path::new("stale_guids.csv"), &ctx(None)).unwrap_err();
        assert!(err.to_string().contains("stale_guids.csv"), "{err}");
    }

    #[test]
    fn header_only_is_empty_plan_and_empty_file_is_no_header() {
        for text in [
            "provider,kind,agent_id\n",
            "provider,kind,agent_id",
            "\u{feff}provider,agent_id\r\n\r\n",
            "GUID\n",
        ] {
            let plan = parse(text, "p.csv").unwrap();
            assert!(plan.is_empty(), "{text:?}");
        }
        assert_eq!(parse("[]", "p.json").unwrap().format, PlanFormat::Json);
        assert!(parse(" [ ]\n", "p").unwrap().is_empty());
        for text in ["", "\n\n  \r\n", "\u{feff}"] {
            assert!(
                matches!(parse(text, "p.csv"), Err(PlanError::NoHeader { .. })),
                "{text:?}"
            );
            assert!(matches!(
                parse(text, "p.json"),
                Err(PlanError::NoHeader { .. })
            ));
            assert!(matches!(parse(text, "p"), Err(PlanError::NoHeader { .. })));
        }
        // What `stale -o ndjson` writes when nothing is stale.
        assert!(parse("", "p.ndjson").unwrap().is_empty());
    }

    #[test]
    fn every_problem_reported_with_file_lines() {
        let text = format!(
            "provider,kind,agent_id,hostname,last_seen\n\
             se,secure-endpoint,{GUID_A},\"multi\nline\",\n\
             nope,secure-endpoint,{GUID_B},h,\n\
             se,secure-endpoint,,h,\n\
             se,taegis,{GUID_B},h,\n\
             se,,bad id,h,\n\
             tg,taegis,host-9,h,yesterday\n\
             tg,taegis,host-10\n\
             ,,,,\n\
             ,taegis,   ,h,\n\
             tg,taegis,fine,h,2026-10-01T12:00:00.25Z\n"
        );
        let err = parse(&text, "plan.csv").unwrap_err();
        let shown = err.to_string();
        let p = problems(err);
        let lines: Vec<usize> = p.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![4, 5, 6, 7, 8, 9, 11, 11], "{p:#?}");
        assert_eq!(p[0].1, "unknown provider 'nope'");
        assert_eq!(p[1].1, "missing agent_id");
        assert!(p[2].1.contains("kind 'taegis'"));
        assert!(p[3].1.contains("'bad id'"));
        assert!(p[4].1.contains("last_seen 'yesterday'"));
        assert!(p[5].1.contains("expected 5 field(s)"));
        assert_eq!(p[6].1, "missing provider");
        assert_eq!(p[7].1, "missing agent_id");
        assert!(shown.starts_with("plan.csv: 8 problem(s)\n  line 4: unknown provider 'nope'\n  line 5: missing agent_id\n"), "{shown}");
    }

    #[test]
    fn missing_required_columns() {
        let p = problems(parse("hostname,kind\nh,k\n", "x.csv").unwrap_err());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 1);
        assert!(p[0].1.contains("provider, agent_id"), "{}", p[0].1);
        let p = problems(parse("provider,agent_id,Agent_ID\nse,a,b\n", "x.csv").unwrap_err());
        assert!(p[0].1.contains("repeats"), "{p:?}");
    }

    #[test]
    fn display_is_capped() {
        let mut text = String::from("provider,agent_id\n");
        for i in 0..150 {
            text.push_str(&format!("zz,id{i}\n"));
        }
        let err = parse(&text, "big.csv").unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("big.csv: 150 problem(s)\n"));
        assert_eq!(shown.lines().count(), 1 + MAX_LISTED_PROBLEMS + 1);
        assert!(shown.ends_with("… and 50 more problem(s)"));
        assert_eq!(problems(err).len(), 150);
    }

    #[test]
    fn duplicates_merged_and_reported() {
        let text = format!(
            "provider,agent_id,hostname\nse,{GUID_A},first\ntg,x,\nse,{GUID_A},second\ntg,y,\nse,{GUID_A},third\ntg,x,\n"
        );
        let plan = parse(&text, "d.csv").unwrap();
        assert_eq!(
            ids(&plan),
            vec![("se", GUID_A, 2), ("tg", "x", 3), ("tg", "y", 5)]
        );
        assert_eq!(plan.rows[0].agent.hostname.as_deref(), Some("first"));
        assert_eq!(
            plan.duplicates,
            vec![
                Duplicate {
                    provider: "se".into(),
                    agent_id: GUID_A.into(),
                    lines: vec![2, 4, 6]
                },
                Duplicate {
                    provider: "tg".into(),
                    agent_id: "x".into(),
                    lines: vec![3, 7]
                },
            ]
        );
        // Same id under different providers is not a duplicate.
        let plan = parse("provider,agent_id\ntg,x\nse2,x\n", "d.csv");
        assert!(plan.is_err()); // se2 unknown
        let plan = parse(
            &format!("provider,agent_id\ntg,{GUID_A}\nse,{GUID_A}\n"),
            "d.csv",
        )
        .unwrap();
        assert_eq!(plan.rows.len(), 2);
        assert!(plan.duplicates.is_empty());
    }

    #[test]
    fn json_array() {
        let text = format!(
            r#"[
  {{"provider":"se","kind":"secure-endpoint","agent_id":"{GUID_A}","hostname":"pc","last_seen":"2026-10-01T12:00:00Z","days_since_seen":3,"raw":{{"a":1}}}},
  {{"provider":"tg","agent_id":"h1","last_seen":null,"hostname":null}},
  {{"provider":"tg","agent_id":"h1"}}
]"#
        );
        let plan = parse(&text, "p.json").unwrap();
        assert_eq!(plan.format, PlanFormat::Json);
        assert_eq!(ids(&plan), vec![("se", GUID_A, 1), ("tg", "h1", 2)]);
        assert_eq!(
            plan.rows[0].agent.last_seen,
            Some(ts("2026-10-01T12:00:00Z"))
        );
        assert_eq!(plan.duplicates[0].lines, vec![2, 3]);
        // Sniffed without an extension.
        assert_eq!(parse(&text, "plan").unwrap().format, PlanFormat::Json);

        let bad = r#"[{"provider":"se"}, 5, {"provider":"tg","agent_id":"a","last_seen":7}, {"provider":"tg","agent_id":"b","last_seen":"x"}]"#;
        let p = problems(parse(bad, "p.json").unwrap_err());
        let lines: Vec<usize> = p.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 2, 3, 4], "{p:?}");
        assert!(p[2].1.contains("last_seen must be a string"));

        let p = problems(parse("[{\"provider\":\n}", "p.json").unwrap_err());
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].0, 2);
    }

    #[test]
    fn ndjson() {
        let text = format!(
            "{{\"provider\":\"se\",\"kind\":\"secure-endpoint\",\"agent_id\":\"{GUID_A}\",\"raw\":{{}}}}\r\n\
             \n\
             {{\"provider\":\"tg\",\"agent_id\":\"h1\",\"hostname\":\"ü\"}}\n"
        );
        for name in ["p.ndjson", "p.jsonl", "p"] {
            let plan = parse(&text, name).unwrap();
            assert_eq!(plan.format, PlanFormat::Ndjson);
            assert_eq!(ids(&plan), vec![("se", GUID_A, 1), ("tg", "h1", 3)]);
            assert_eq!(plan.rows[1].agent.hostname.as_deref(), Some("ü"));
        }
        let p = problems(
            parse(
                "{\"provider\":\"tg\",\"agent_id\":\"a\"}\n{torn\n[1]\n",
                "p.ndjson",
            )
            .unwrap_err(),
        );
        let lines: Vec<usize> = p.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3]);
    }

    #[test]
    fn read_plan_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.csv");
        std::fs::write(&path, format!("provider,agent_id\nse,{GUID_A}\n")).unwrap();
        let plan = read_plan(&path, &ctx(None)).unwrap();
        assert_eq!(plan.path, path);
        assert_eq!(plan.rows.len(), 1);

        // UTF-16 LE with BOM (Excel "Unicode text"), tab separated.
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(
                format!("provider\tagent_id\r\nse\t{GUID_A}\r\n")
                    .encode_utf16()
                    .flat_map(u16::to_le_bytes),
            )
            .collect();
        std::fs::write(&path, utf16).unwrap();
        assert_eq!(read_plan(&path, &ctx(None)).unwrap().rows.len(), 1);

        std::fs::write(&path, b"provider,agent_id\nse,\xff\n").unwrap();
        let err = read_plan(&path, &ctx(None)).unwrap_err();
        assert!(matches!(err, PlanError::Unreadable { .. }), "{err:?}");

        let err = read_plan(&dir.path().join("missing.csv"), &ctx(None)).unwrap_err();
        assert!(matches!(err, PlanError::Unreadable { .. }));
        assert!(err.to_string().starts_with("cannot read "), "{err}");
    }

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn written(format: Format, bom: bool, records: &[AgentRecord], now: Timestamp) -> String {
        let sink = Shared::default();
        let columns = AGENT_COLUMNS.iter().map(|c| c.to_string()).collect();
        let mut w = RowWriter::new(Box::new(sink.clone()), format, columns, bom);
        for r in records {
            w.write_row(&agent_row(r, now)).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn what_the_writer_writes_reads_back() {
        let now = ts("2026-11-23T04:06:07Z");
        let records = vec![
            AgentRecord {
                provider: "se".into(),
                kind: "secure-endpoint".into(),
                agent_id: GUID_A.into(),
                hostname: "Müller-PC, \"Büro\"\nzwei".into(),
                last_seen: Some(ts("2026-10-01T12:00:00.123456Z")),
                os: Some("Windows, 11".into()),
                agent_version: Some("8.4".into()),
                ip_addresses: vec!["10.0.0.1".into(), "198.51.100.7".into()],
                group: Some("Grp;1".into()),
                mac_addresses: Vec::new(),
                serial_number: None,
                pending_uninstall: false,
                raw: serde_json::json!({"x": [1, 2]}),
            },
            AgentRecord {
                provider: "tg".into(),
                kind: "taegis".into(),
                agent_id: "asset-1".into(),
                hostname: String::new(),
                last_seen: None,
                os: None,
                agent_version: None,
                ip_addresses: vec![],
                group: None,
                mac_addresses: Vec::new(),
                serial_number: None,
                pending_uninstall: false,
                raw: Value::Null,
            },
        ];
        for (format, name, bom) in [
            (Format::Csv, "stale.csv", true),
            (Format::Csv, "stale.csv", false),
            (Format::Json, "stale.json", false),
            (Format::Ndjson, "stale.ndjson", false),
        ] {
            let text = written(format, bom, &records, now);
            let plan = parse_plan(&text, Path::new(name), &ctx(None)).unwrap();
            assert_eq!(plan.rows.len(), 2, "{format:?}");
            for (row, rec) in plan.rows.iter().zip(&records) {
                assert_eq!(row.agent.provider, rec.provider);
                assert_eq!(row.agent.agent_id, rec.agent_id);
                assert_eq!(row.kind.as_deref(), Some(rec.kind.as_str()));
                assert_eq!(row.agent.last_seen, rec.last_seen, "{format:?}");
                let host = (!rec.hostname.is_empty()).then(|| rec.hostname.clone());
                assert_eq!(row.agent.hostname, host);
            }
            // With no rows: still a valid, empty plan.
            let empty = written(format, bom, &[], now);
            assert!(
                parse_plan(&empty, Path::new(name), &ctx(None))
                    .unwrap()
                    .is_empty()
            );
        }
    }

    /// Host names a spreadsheet would evaluate, and ids starting with formula characters,
    /// round-trip through `stale --out p.csv` → `--from p.csv` byte for byte, while the CSV
    /// itself carries no cell a spreadsheet evaluates.
    #[test]
    fn neutralised_cells_round_trip_byte_for_byte() {
        let now = ts("2026-11-23T04:06:07Z");
        let hostile = [
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@x",
            "\tTAB",
            "\rCR",
            "'quoted",
            " padded ",
            "ok-host",
            "\u{1b}]52;c;aGk=\u{7}",
        ];
        let records: Vec<AgentRecord> = hostile
            .iter()
            .enumerate()
            .map(|(i, h)| AgentRecord {
                provider: "tg".into(),
                kind: "taegis".into(),
                agent_id: format!("{}{i}", ["-", "=", "+", "@", "'"][i % 5]),
                hostname: h.to_string(),
                last_seen: Some(ts("2026-10-01T12:00:00Z")),
                os: Some("=1+1".into()),
                agent_version: None,
                ip_addresses: vec![],
                group: Some("@grp".into()),
                mac_addresses: Vec::new(),
                serial_number: None,
                pending_uninstall: false,
                raw: Value::Null,
            })
            .collect();
        for bom in [true, false] {
            let text = written(Format::Csv, bom, &records, now);
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
            for rec in reader.records() {
                for cell in rec.unwrap().iter() {
                    assert!(
                        !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                        "spreadsheet would evaluate {cell:?}"
                    );
                }
            }
            let plan = parse_plan(&text, Path::new("p.csv"), &ctx(None)).unwrap();
            assert_eq!(plan.rows.len(), records.len());
            for (row, rec) in plan.rows.iter().zip(&records) {
                assert_eq!(row.agent.agent_id, rec.agent_id);
                assert_eq!(row.agent.hostname.as_deref(), Some(rec.hostname.as_str()));
            }
        }
        // A hand-typed apostrophe the writer never produces is kept.
        let plan = parse_plan(
            "provider,agent_id,hostname\ntg,'abc,'host\n",
            Path::new("p.csv"),
            &ctx(None),
        )
        .unwrap();
        assert_eq!(plan.rows[0].agent.agent_id, "'abc");
        assert_eq!(plan.rows[0].agent.hostname.as_deref(), Some("'host"));
    }
}
