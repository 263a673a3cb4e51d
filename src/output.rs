//! Writing result rows as a table, CSV, a JSON array or NDJSON.
//!
//! Every command produces rows as JSON objects (`serde_json::Map`, key order preserved), or as
//! a [`Row`] that hands out each column's [`Cell`] (agent listings: CSV and tables are then
//! written straight from the record, with no object built per row; JSON, `--sort` and an
//! explicit `--tz` ask the row for its object). The [`RowWriter`] renders them in the chosen
//! [`Format`]:
//!
//! - **CSV**: a header row with the columns, then one line per row (LF line endings, quoting
//!   only where needed). Cells: strings as is, numbers as text, `null`/missing → empty, arrays
//!   joined with `;`, booleans `true`/`false`, objects as compact JSON. An optional UTF-8 BOM
//!   (`--bom`) goes first so Excel shows non-ASCII host names. Text cells a spreadsheet would
//!   evaluate (leading `=`, `+`, `-`, `@`, tab, CR, …) are neutralised with a leading `'`
//!   ([`crate::sanitize`]); the plan reader undoes exactly that.
//! - **JSON**: one top-level array of the full row objects (every key, including `raw`),
//!   streamed: each element is written as it arrives, one compact object per line.
//!   No rows → `[]`.
//! - **NDJSON**: one compact object per line; no rows → no output.
//! - **Table**: rows are buffered and printed by [`RowWriter::finish`] with a fixed layout
//!   (no terminal-width dependence, no colours), cells rendered like CSV cells with control
//!   characters shown as escapes. With no rows the table still prints its header.

use std::io::{self, Write};
use std::path::Path;

use agentctl_core::AgentRecord;
use agentctl_core::time::format_timestamp;
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Map, Value};

use crate::sanitize;

/// Output formats for `-o` / `--out`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
}

impl Format {
    /// The format implied by a file name: `.csv`, `.json`, `.ndjson` / `.jsonl`, `.txt` (table).
    /// Case-insensitive; anything else → `None`.
    pub fn from_extension(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            "txt" => Some(Format::Table),
            _ => None,
        }
    }

    /// `table`, `csv`, `json`, `ndjson` (also `jsonl`), case-insensitive.
    pub fn parse(s: &str) -> Option<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Some(Format::Table),
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            _ => None,
        }
    }

    /// Does this format show each agent's raw vendor record (`raw`)? Only JSON and NDJSON
    /// do; listings for the others need not keep it.
    pub fn shows_raw(self) -> bool {
        matches!(self, Format::Json | Format::Ndjson)
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Ndjson => "ndjson",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// SPEC's agent record columns, in order.
pub const AGENT_COLUMNS: [&str; 10] = [
    "provider",
    "kind",
    "agent_id",
    "hostname",
    "last_seen",
    "days_since_seen",
    "os",
    "agent_version",
    "ip_addresses",
    "group",
];

fn opt_string(v: &Option<String>) -> Value {
    v.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))
}

/// One agent as an output row: the [`AGENT_COLUMNS`] keys in order, then `raw`.
///
/// `last_seen` is RFC 3339 UTC or `null`; `days_since_seen` whole days (relative to `now`) or
/// `null`; `ip_addresses` a JSON array of strings; the other columns strings or `null`.
pub fn agent_row(rec: &AgentRecord, now: jiff::Timestamp) -> Map<String, Value> {
    let mut row = Map::new();
    row.insert("provider".into(), Value::String(rec.provider.clone()));
    row.insert("kind".into(), Value::String(rec.kind.clone()));
    row.insert("agent_id".into(), Value::String(rec.agent_id.clone()));
    row.insert("hostname".into(), Value::String(rec.hostname.clone()));
    row.insert(
        "last_seen".into(),
        rec.last_seen
            .map_or(Value::Null, |t| Value::String(format_timestamp(t))),
    );
    row.insert(
        "days_since_seen".into(),
        rec.days_since_seen(now).map_or(Value::Null, Value::from),
    );
    row.insert("os".into(), opt_string(&rec.os));
    row.insert("agent_version".into(), opt_string(&rec.agent_version));
    row.insert(
        "ip_addresses".into(),
        Value::Array(
            rec.ip_addresses
                .iter()
                .cloned()
                .map(Value::String)
                .collect(),
        ),
    );
    row.insert("group".into(), opt_string(&rec.group));
    row.insert("raw".into(), rec.raw.clone());
    row
}

/// How one value is shown in a CSV or table cell: strings as is, numbers as text, `null` or
/// missing → empty, arrays joined with `;` (each element rendered the same way), booleans
/// `true`/`false`, objects as compact JSON.
pub fn cell_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                // Nested containers keep their JSON form so the `;` join stays unambiguous.
                Value::Array(_) | Value::Object(_) => v.to_string(),
                other => cell_text(Some(other)),
            })
            .collect::<Vec<_>>()
            .join(";"),
        Some(v @ Value::Object(_)) => v.to_string(),
    }
}

/// A CSV cell: [`cell_text`], neutralised for spreadsheets ([`sanitize::csv_cell`]) unless
/// the value is a JSON number, boolean or null (agentctl's own numbers, never a formula).
pub fn csv_cell_text(value: Option<&Value>) -> String {
    let text = cell_text(value);
    match value {
        Some(Value::Number(_) | Value::Bool(_) | Value::Null) | None => text,
        _ => match sanitize::csv_cell(&text) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(neutralised) => neutralised,
        },
    }
}

/// A table cell: [`cell_text`] with control characters shown as escapes
/// ([`sanitize::terminal_cell`]), since tables are read on terminals.
pub fn table_cell_text(value: Option<&Value>) -> String {
    let text = cell_text(value);
    match sanitize::terminal_cell(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(escaped) => escaped,
    }
}

/// One cell of a [`Row`]: the JSON value the row's object holds under that column, borrowed
/// from the row, so CSV and tables are written without building the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// `null` or no such key: an empty cell.
    Null,
    /// A JSON string.
    Text(&'a str),
    /// A point in time: the JSON string [`format_timestamp`] gives.
    Time(jiff::Timestamp),
    /// A JSON integer.
    Int(i64),
    /// A JSON array of strings.
    List(&'a [String]),
}

impl Cell<'_> {
    /// Append the text [`cell_text`] gives for the same JSON value.
    fn push_text(self, buf: &mut String) {
        use std::fmt::Write as _;
        match self {
            Cell::Null => {}
            Cell::Text(s) => buf.push_str(s),
            Cell::Time(t) => push_timestamp(buf, t),
            Cell::Int(n) => {
                let _ = write!(buf, "{n}");
            }
            Cell::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        buf.push(';');
                    }
                    buf.push_str(item);
                }
            }
        }
    }

    /// The same text as an owned string.
    fn text(self) -> String {
        match self {
            Cell::Text(s) => s.to_string(),
            other => {
                let mut buf = String::new();
                other.push_text(&mut buf);
                buf
            }
        }
    }

    /// Whether [`csv_cell_text`] neutralises this value's text when it must be (JSON numbers
    /// and null are agentctl's own, never a formula).
    fn is_text(self) -> bool {
        !matches!(self, Cell::Null | Cell::Int(_))
    }
}

/// Append [`format_timestamp`]'s text for `t`: whole seconds in years 1–9999 (what vendors
/// report) are written digit by digit; anything else through the formatter itself.
fn push_timestamp(buf: &mut String, t: jiff::Timestamp) {
    use std::fmt::Write as _;
    let secs = t.as_second();
    // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
    if t.subsec_nanosecond() != 0 || !(-62_135_596_800..=253_402_300_799).contains(&secs) {
        let _ = write!(buf, "{t}");
        return;
    }
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut out = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, rem / 3600);
    put(14, 2, rem % 3600 / 60);
    put(17, 2, rem % 60);
    buf.push_str(std::str::from_utf8(&out).unwrap_or_default());
}

/// A row that gives each column's [`Cell`] directly. CSV and tables are written from the
/// cells; JSON and NDJSON (which show every key, `raw` too), `--sort` and an explicit `--tz`
/// use [`Row::object`]. Both must describe the same row.
pub trait Row {
    /// The cell under `column` ([`Cell::Null`] for a column the row does not have).
    fn cell(&self, column: &str) -> Cell<'_>;
    /// The whole row as a JSON object, keys in output order.
    fn object(&self) -> Map<String, Value>;
}

/// The cell of an agent column ([`AGENT_COLUMNS`]) for `rec`; `None` for any other column.
pub fn agent_cell<'a>(
    rec: &'a AgentRecord,
    now: jiff::Timestamp,
    column: &str,
) -> Option<Cell<'a>> {
    let opt = |v: &'a Option<String>| v.as_deref().map_or(Cell::Null, Cell::Text);
    Some(match column {
        "provider" => Cell::Text(&rec.provider),
        "kind" => Cell::Text(&rec.kind),
        "agent_id" => Cell::Text(&rec.agent_id),
        "hostname" => Cell::Text(&rec.hostname),
        "last_seen" => rec.last_seen.map_or(Cell::Null, Cell::Time),
        "days_since_seen" => rec.days_since_seen(now).map_or(Cell::Null, Cell::Int),
        "os" => opt(&rec.os),
        "agent_version" => opt(&rec.agent_version),
        "ip_addresses" => Cell::List(&rec.ip_addresses),
        "group" => opt(&rec.group),
        _ => return None,
    })
}

/// One agent of a listing as a [`Row`]: [`AGENT_COLUMNS`], then `action` when the plan has
/// one. Its object is [`agent_row`] (with `raw`), then `action`.
pub struct AgentRow<'a> {
    pub record: &'a AgentRecord,
    pub now: jiff::Timestamp,
    /// The `action` cell, when the listing writes one.
    pub action: Option<&'static str>,
}

impl Row for AgentRow<'_> {
    fn cell(&self, column: &str) -> Cell<'_> {
        match agent_cell(self.record, self.now, column) {
            Some(cell) => cell,
            None if column == "action" => self.action.map_or(Cell::Null, Cell::Text),
            None => Cell::Null,
        }
    }

    fn object(&self) -> Map<String, Value> {
        let mut row = agent_row(self.record, self.now);
        if let Some(a) = self.action {
            row.insert("action".into(), Value::String(a.into()));
        }
        row
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

enum Sink {
    Csv {
        /// The output until the header is written (BOM first), then the csv writer around it.
        pending: Option<Box<dyn Write + Send>>,
        writer: Option<Box<csv::Writer<Box<dyn Write + Send>>>>,
        bom: bool,
    },
    Json {
        out: Box<dyn Write + Send>,
        first: bool,
    },
    Ndjson {
        out: Box<dyn Write + Send>,
    },
    Table {
        out: Box<dyn Write + Send>,
        rows: Vec<Vec<String>>,
        /// Column widths, fixed once a first section was printed (see
        /// [`RowWriter::flush_section`]).
        widths: Option<Vec<usize>>,
    },
}

/// Streams rows to an output in one [`Format`]. Call [`RowWriter::finish`] at the end: it
/// writes the CSV header if no row came, closes the JSON array, prints the table and flushes.
pub struct RowWriter {
    columns: Vec<String>,
    sink: Sink,
    /// `--columns`, `--sort`, `--no-headers`, `--tz`, table fitting.
    view: crate::view::ViewOptions,
    /// Rows held for `--sort` until [`RowWriter::finish`].
    held: Option<Vec<Map<String, Value>>>,
    /// JSON / NDJSON objects keep only the `--columns` keys.
    only_columns: bool,
    /// Run after a successful finish (moves an `--out` file into place).
    on_finish: Option<crate::atomic::Commit>,
    /// CSV columns written exactly as they are, never neutralised (a new secret must be
    /// copied as issued).
    verbatim: Vec<String>,
    /// The command's columns before `--columns` chose among them.
    all_columns: Vec<String>,
    /// Reused for cells written from a [`Row`] that are not borrowed text.
    scratch: String,
}

impl RowWriter {
    /// `columns` are the CSV / table columns (JSON and NDJSON write every key of each row).
    /// `bom` writes a UTF-8 BOM before the CSV header; it is ignored for other formats.
    pub fn new(
        out: Box<dyn Write + Send>,
        format: Format,
        columns: Vec<String>,
        bom: bool,
    ) -> Self {
        let sink = match format {
            Format::Csv => Sink::Csv {
                pending: Some(out),
                writer: None,
                bom,
            },
            Format::Json => Sink::Json { out, first: true },
            Format::Ndjson => Sink::Ndjson { out },
            Format::Table => Sink::Table {
                out,
                rows: Vec::new(),
                widths: None,
            },
        };
        RowWriter {
            columns,
            sink,
            view: crate::view::ViewOptions::default(),
            held: None,
            only_columns: false,
            on_finish: None,
            verbatim: Vec::new(),
            all_columns: Vec::new(),
            scratch: String::new(),
        }
    }

    /// Write `column` exactly as it is in CSV (no spreadsheet neutralisation): for values
    /// that must be copied as they are, such as a newly issued secret.
    pub fn verbatim(mut self, column: &str) -> Self {
        self.verbatim.push(column.to_string());
        // A verbatim value (a secret shown once) is never dropped by --columns or a fitted
        // table's defaults.
        if self.all_columns.iter().any(|c| c == column) && !self.columns.iter().any(|c| c == column)
        {
            self.columns.push(column.to_string());
        }
        self
    }

    /// Apply the user's view options: the columns shown (checked against this output's
    /// columns), sorting, headers, time zone and table fitting.
    pub fn with_view(mut self, view: crate::view::ViewOptions) -> crate::error::CliResult<Self> {
        let table = matches!(self.sink, Sink::Table { .. });
        view.check_sort(&self.columns)?;
        self.all_columns = self.columns.clone();
        self.columns = view.select_columns(&self.columns, table)?;
        self.only_columns = view.columns.is_some();
        if !view.sort.is_empty() {
            self.held = Some(Vec::new());
        }
        self.view = view;
        Ok(self)
    }

    /// Complete `commit` once the output is fully written and flushed.
    pub fn with_commit(mut self, commit: crate::atomic::Commit) -> Self {
        self.on_finish = Some(commit);
        self
    }

    /// The csv writer, writing the BOM (when asked) and the header first if not done yet.
    fn csv_writer<'w>(
        pending: &mut Option<Box<dyn Write + Send>>,
        writer: &'w mut Option<Box<csv::Writer<Box<dyn Write + Send>>>>,
        columns: &[String],
        bom: bool,
        no_headers: bool,
    ) -> io::Result<&'w mut csv::Writer<Box<dyn Write + Send>>> {
        if let Some(mut out) = pending.take() {
            if bom {
                out.write_all(BOM)?;
            }
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(out);
            if !no_headers {
                w.write_record(columns)?;
            }
            *writer = Some(Box::new(w));
        }
        Ok(&mut **writer.as_mut().expect("csv writer created with the header"))
    }

    /// Write one [`Row`]: CSV and table cells straight from it, byte for byte what
    /// [`RowWriter::write_row`] writes for its object; JSON, NDJSON, `--sort` and an explicit
    /// `--tz` (which rewrites times in CSV) go through [`Row::object`].
    pub fn write(&mut self, row: &impl Row) -> io::Result<()> {
        let tz = self.view.tz.as_ref().is_some_and(|t| t.explicit);
        let held = self.held.is_some();
        let no_headers = self.view.no_headers;
        match &mut self.sink {
            Sink::Csv {
                pending,
                writer,
                bom,
            } if !held && !tz => {
                let writer = Self::csv_writer(pending, writer, &self.columns, *bom, no_headers)?;
                for c in &self.columns {
                    let cell = row.cell(c);
                    let verbatim = !cell.is_text() || self.verbatim.contains(c);
                    let text = match cell {
                        Cell::Text(s) => s,
                        other => {
                            self.scratch.clear();
                            other.push_text(&mut self.scratch);
                            &self.scratch
                        }
                    };
                    if verbatim {
                        writer.write_field(text)?;
                    } else {
                        writer.write_field(sanitize::csv_cell(text).as_bytes())?;
                    }
                }
                writer.write_record(None::<&[u8]>)?;
                Ok(())
            }
            Sink::Table { rows, .. } if !held => {
                rows.push(
                    self.columns
                        .iter()
                        .map(|c| {
                            let text = row.cell(c).text();
                            let text = match sanitize::terminal_cell(&text) {
                                std::borrow::Cow::Borrowed(_) => text,
                                std::borrow::Cow::Owned(escaped) => escaped,
                            };
                            self.view.human_cell(c, text)
                        })
                        .collect(),
                );
                Ok(())
            }
            _ => self.write_row(&row.object()),
        }
    }

    /// Write one row (CSV, JSON, NDJSON immediately; Table at [`RowWriter::finish`]).
    pub fn write_row(&mut self, row: &Map<String, Value>) -> io::Result<()> {
        if let Some(held) = &mut self.held {
            held.push(row.clone());
            return Ok(());
        }
        self.emit(row)
    }

    /// Write one row as the view asks (times, columns), without sorting.
    fn emit(&mut self, row: &Map<String, Value>) -> io::Result<()> {
        let machine = !matches!(self.sink, Sink::Table { .. });
        let converted;
        let mut row = row;
        if machine && self.view.tz.as_ref().is_some_and(|t| t.explicit) {
            let mut r = row.clone();
            self.view.machine_times(&mut r);
            converted = r;
            row = &converted;
        }
        let picked;
        if self.only_columns && matches!(self.sink, Sink::Json { .. } | Sink::Ndjson { .. }) {
            picked = self
                .columns
                .iter()
                .map(|c| (c.clone(), row.get(c).cloned().unwrap_or(Value::Null)))
                .collect::<Map<String, Value>>();
            row = &picked;
        }
        let no_headers = self.view.no_headers;
        match &mut self.sink {
            Sink::Csv {
                pending,
                writer,
                bom,
            } => {
                let writer = Self::csv_writer(pending, writer, &self.columns, *bom, no_headers)?;
                let verbatim = &self.verbatim;
                writer.write_record(self.columns.iter().map(|c| {
                    if verbatim.contains(c) {
                        cell_text(row.get(c))
                    } else {
                        csv_cell_text(row.get(c))
                    }
                }))?;
            }
            Sink::Json { out, first } => {
                out.write_all(if *first { b"[\n" } else { b",\n" })?;
                *first = false;
                serde_json::to_writer(&mut *out, row)?;
            }
            Sink::Ndjson { out } => {
                serde_json::to_writer(&mut *out, row)?;
                out.write_all(b"\n")?;
            }
            Sink::Table { rows, .. } => {
                rows.push(
                    self.columns
                        .iter()
                        .map(|c| self.view.human_cell(c, table_cell_text(row.get(c))))
                        .collect(),
                );
            }
        }
        Ok(())
    }

    /// Hand what was written so far to the output (a bulk run shows each result as it
    /// happens, and learns at once when stdout was closed). Tables print at the end.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::Csv {
                pending,
                writer,
                bom,
            } => Self::csv_writer(pending, writer, &self.columns, *bom, self.view.no_headers)?
                .flush(),
            Sink::Json { out, .. } | Sink::Ndjson { out } => out.flush(),
            Sink::Table { .. } => Ok(()),
        }
    }

    /// A fitted table on a terminal prints the rows it holds now (the first time with its
    /// header, fixing the column widths for the rest), so a listing shows each provider's
    /// agents as that provider finishes. Other formats stream anyway; a sorted or unfitted
    /// table waits for [`RowWriter::finish`].
    pub fn flush_section(&mut self) -> io::Result<()> {
        let fitted = self.held.is_none() && !self.view.wide;
        let Some(total) = self.view.width.filter(|_| fitted) else {
            return Ok(());
        };
        let Sink::Table { out, rows, widths } = &mut self.sink else {
            return Ok(());
        };
        if rows.is_empty() {
            return Ok(());
        }
        if widths.is_none() {
            let header: Vec<String> = self
                .columns
                .iter()
                .map(|c| crate::view::short_header(c).to_string())
                .collect();
            let mut fixed = crate::view::fit_rows(&self.columns, &header, rows, total);
            // Later sections may hold longer text: give text columns room the terminal has.
            crate::view::widen_for_later_rows(&self.columns, &mut fixed, total);
            writeln!(
                out,
                "{}",
                crate::view::table_border(&fixed, '┌', '┬', '┐', '─')
            )?;
            if !self.view.no_headers {
                writeln!(out, "{}", crate::view::table_line(&header, &fixed))?;
                writeln!(
                    out,
                    "{}",
                    crate::view::table_border(&fixed, '╞', '╪', '╡', '═')
                )?;
            }
            *widths = Some(fixed);
        }
        if let Some(w) = widths.as_ref() {
            for r in rows.drain(..) {
                writeln!(out, "{}", crate::view::table_line(&r, w))?;
            }
        }
        out.flush()
    }

    /// Finish the output: CSV header when there were no rows, `]` for JSON, the table, then
    /// flush; then move an `--out` file into place.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(mut held) = self.held.take() {
            crate::view::sort_rows(&mut held, &self.view.sort);
            for row in &held {
                self.emit(row)?;
            }
        }
        let commit = self.on_finish.take();
        self.finish_sink()?;
        match commit {
            Some(c) => c.commit(),
            None => Ok(()),
        }
    }

    fn finish_sink(self) -> io::Result<()> {
        match self.sink {
            Sink::Csv {
                mut pending,
                mut writer,
                bom,
            } => {
                Self::csv_writer(
                    &mut pending,
                    &mut writer,
                    &self.columns,
                    bom,
                    self.view.no_headers,
                )?;
                let writer = writer.expect("csv writer created with the header");
                let mut out = (*writer).into_inner().map_err(|e| e.into_error())?;
                out.flush()
            }
            Sink::Json { mut out, first } => {
                out.write_all(if first { b"[]\n" } else { b"\n]\n" })?;
                out.flush()
            }
            Sink::Ndjson { mut out } => out.flush(),
            Sink::Table {
                mut out,
                rows,
                widths: Some(widths),
            } => {
                // Sections were printed already: the rest, then the bottom border.
                for r in &rows {
                    writeln!(out, "{}", crate::view::table_line(r, &widths))?;
                }
                writeln!(
                    out,
                    "{}",
                    crate::view::table_border(&widths, '└', '┴', '┘', '─')
                )?;
                out.flush()
            }
            Sink::Table {
                mut out,
                rows,
                widths: None,
            } => {
                let table = render_table(&self.columns, rows, &self.view);
                writeln!(out, "{table}")?;
                out.flush()
            }
        }
    }
}

/// A deterministic table: fixed UTF-8 borders, no wrapping, no colours. With a width to fit
/// (`COLUMNS` or the terminal's), cells too long for their column's share end in `…`.
fn render_table(
    columns: &[String],
    mut rows: Vec<Vec<String>>,
    view: &crate::view::ViewOptions,
) -> Table {
    let mut header = columns.to_vec();
    if let Some(total) = view.width.filter(|_| !view.wide) {
        for h in header.iter_mut() {
            *h = crate::view::short_header(h).to_string();
        }
        let widths = crate::view::fit_rows(columns, &header, &rows, total);
        for (i, w) in widths.iter().enumerate() {
            header[i] = crate::view::truncate(&header[i], *w);
            for r in rows.iter_mut() {
                if let Some(cell) = r.get_mut(i) {
                    *cell = crate::view::truncate(cell, *w);
                }
            }
        }
    }
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled)
        .force_no_tty();
    if !view.no_headers {
        table.set_header(header);
    }
    for row in rows {
        table.add_row(row);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    /// A `Write` whose bytes the test can read after the writer is gone.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().clone()
        }
        fn text(&self) -> String {
            String::from_utf8(self.bytes()).unwrap()
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn cols(c: &[&str]) -> Vec<String> {
        c.iter().map(|s| s.to_string()).collect()
    }

    fn render(format: Format, columns: &[&str], rows: &[Map<String, Value>], bom: bool) -> Shared {
        let sink = Shared::default();
        let mut w = RowWriter::new(Box::new(sink.clone()), format, cols(columns), bom);
        for r in rows {
            w.write_row(r).unwrap();
        }
        w.finish().unwrap();
        sink
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    fn record() -> AgentRecord {
        AgentRecord {
            provider: "se-prod".into(),
            kind: "secure-endpoint".into(),
            agent_id: "0f5e8a3c-1111-2222-3333-444455556666".into(),
            hostname: "Müller-PC, Büro".into(),
            last_seen: Some(ts("2026-10-01T12:00:00.5Z")),
            os: Some("Windows 11".into()),
            agent_version: None,
            ip_addresses: vec!["10.0.0.5".into(), "203.0.113.9".into()],
            group: Some("Servers \"prod\"".into()),
            mac_addresses: Vec::new(),
            serial_number: None,
            pending_uninstall: false,
            raw: json!({"connector_guid": "0f5e8a3c-1111-2222-3333-444455556666", "n": 1}),
        }
    }

    #[test]
    fn verbatim_columns_are_never_neutralised_in_csv() {
        let sink = Shared::default();
        let mut w = RowWriter::new(
            Box::new(sink.clone()),
            Format::Csv,
            cols(&["name", "client_secret"]),
            false,
        )
        .verbatim("client_secret");
        w.write_row(&obj(json!({"name": "=cmd", "client_secret": "+s3/=cr-et"})))
            .unwrap();
        w.finish().unwrap();
        assert_eq!(sink.text(), "name,client_secret\n'=cmd,+s3/=cr-et\n");
    }

    #[test]
    fn formats_from_names_and_extensions() {
        assert_eq!(
            Format::from_extension(Path::new("a/b.CSV")),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_extension(Path::new("x.json")),
            Some(Format::Json)
        );
        assert_eq!(
            Format::from_extension(Path::new("x.ndjson")),
            Some(Format::Ndjson)
        );
        assert_eq!(
            Format::from_extension(Path::new("x.jsonl")),
            Some(Format::Ndjson)
        );
        assert_eq!(
            Format::from_extension(Path::new("x.txt")),
            Some(Format::Table)
        );
        assert_eq!(Format::from_extension(Path::new("x.xlsx")), None);
        assert_eq!(Format::from_extension(Path::new("noext")), None);
        assert_eq!(Format::parse("NDJSON"), Some(Format::Ndjson));
        assert_eq!(Format::parse("table"), Some(Format::Table));
        assert_eq!(Format::parse("xml"), None);
    }

    #[test]
    fn agent_row_has_columns_in_order_then_raw() {
        let row = agent_row(&record(), ts("2026-10-31T12:00:00Z"));
        let keys: Vec<&str> = row.keys().map(String::as_str).collect();
        let mut expected = AGENT_COLUMNS.to_vec();
        expected.push("raw");
        assert_eq!(keys, expected);
        assert_eq!(row["last_seen"], json!("2026-10-01T12:00:00.5Z"));
        assert_eq!(row["days_since_seen"], json!(30));
        assert_eq!(row["agent_version"], Value::Null);
        assert_eq!(row["ip_addresses"], json!(["10.0.0.5", "203.0.113.9"]));
        assert_eq!(row["raw"]["n"], json!(1));

        let mut unknown = record();
        unknown.last_seen = None;
        let row = agent_row(&unknown, ts("2026-10-31T12:00:00Z"));
        assert_eq!(row["last_seen"], Value::Null);
        assert_eq!(row["days_since_seen"], Value::Null);
    }

    #[test]
    fn csv_cells() {
        assert_eq!(cell_text(None), "");
        assert_eq!(cell_text(Some(&Value::Null)), "");
        assert_eq!(cell_text(Some(&json!("a b"))), "a b");
        assert_eq!(cell_text(Some(&json!(42))), "42");
        assert_eq!(cell_text(Some(&json!(-1.5))), "-1.5");
        assert_eq!(cell_text(Some(&json!(true))), "true");
        assert_eq!(cell_text(Some(&json!(["a", 1, null, false]))), "a;1;;false");
        assert_eq!(cell_text(Some(&json!([]))), "");
        assert_eq!(
            cell_text(Some(&json!({"b": 1, "a": [2]}))),
            r#"{"b":1,"a":[2]}"#
        );

        let row = obj(json!({
            "a": "x,y", "b": "say \"hi\"", "c": "two\nlines", "d": 7, "e": null,
            "f": ["1.1.1.1", "2.2.2.2"], "g": true, "h": {"k": "v"}, "i": "Zürich 東京"
        }));
        let out = render(
            Format::Csv,
            &["a", "b", "c", "d", "e", "f", "g", "h", "i", "missing"],
            &[row],
            false,
        );
        assert_eq!(
            out.text(),
            "a,b,c,d,e,f,g,h,i,missing\n\
             \"x,y\",\"say \"\"hi\"\"\",\"two\nlines\",7,,1.1.1.1;2.2.2.2,true,\"{\"\"k\"\":\"\"v\"\"}\",Zürich 東京,\n"
        );
    }

    #[test]
    fn csv_bom_only_when_asked() {
        let row = obj(json!({"a": "é"}));
        let with = render(Format::Csv, &["a"], std::slice::from_ref(&row), true).bytes();
        assert_eq!(with, "\u{feff}a\né\n".as_bytes());
        let without = render(Format::Csv, &["a"], std::slice::from_ref(&row), false).bytes();
        assert_eq!(without, "a\né\n".as_bytes());
        // No rows: still the header (and the BOM when asked).
        assert_eq!(
            render(Format::Csv, &["a", "b"], &[], true).bytes(),
            "\u{feff}a,b\n".as_bytes()
        );
        assert_eq!(render(Format::Csv, &["a", "b"], &[], false).text(), "a,b\n");
        // The BOM is CSV only.
        assert_eq!(
            render(Format::Json, &["a"], std::slice::from_ref(&row), true).bytes()[0],
            b'['
        );
        assert_eq!(
            render(Format::Ndjson, &["a"], std::slice::from_ref(&row), true).bytes()[0],
            b'{'
        );
        assert!(
            !render(Format::Table, &["a"], &[row], true)
                .text()
                .starts_with('\u{feff}')
        );
    }

    #[test]
    fn json_array_streams_and_parses_back() {
        assert_eq!(render(Format::Json, &["a"], &[], false).text(), "[]\n");
        let rows: Vec<_> = (0..3)
            .map(|i| obj(json!({"a": i, "raw": {"nested": [i]}, "extra": "ü"})))
            .collect();

        // Streamed: the first element is out before finish().
        let sink = Shared::default();
        let mut w = RowWriter::new(Box::new(sink.clone()), Format::Json, cols(&["a"]), false);
        w.write_row(&rows[0]).unwrap();
        assert!(sink.text().contains("\"nested\""));
        for r in &rows[1..] {
            w.write_row(r).unwrap();
        }
        w.finish().unwrap();
        let parsed: Vec<Map<String, Value>> = serde_json::from_str(&sink.text()).unwrap();
        assert_eq!(parsed, rows);
        // Key order preserved.
        assert!(
            sink.text()
                .contains(r#"{"a":0,"raw":{"nested":[0]},"extra":"ü"}"#)
        );

        let one = render(Format::Json, &["a"], &rows[..1], false).text();
        let parsed: Vec<Map<String, Value>> = serde_json::from_str(&one).unwrap();
        assert_eq!(parsed.len(), 1);
    }

    #[test]
    fn ndjson_one_object_per_line() {
        assert_eq!(render(Format::Ndjson, &["a"], &[], false).text(), "");
        let rows = vec![
            obj(json!({"a": 1, "b": "x\ny"})),
            obj(json!({"a": 2, "raw": null})),
        ];
        let text = render(Format::Ndjson, &["a"], &rows, false).text();
        assert!(text.ends_with('\n'));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        for (line, row) in lines.iter().zip(&rows) {
            assert_eq!(
                &serde_json::from_str::<Map<String, Value>>(line).unwrap(),
                row
            );
        }
    }

    #[test]
    fn table_is_deterministic() {
        let rows = vec![
            obj(
                json!({"provider": "se", "hostname": "Müller-PC", "ips": ["10.0.0.1", "10.0.0.2"]}),
            ),
            obj(json!({"provider": "taegis-long-name", "hostname": null, "ips": []})),
        ];
        let a = render(
            Format::Table,
            &["provider", "hostname", "ips"],
            &rows,
            false,
        )
        .text();
        let b = render(
            Format::Table,
            &["provider", "hostname", "ips"],
            &rows,
            false,
        )
        .text();
        assert_eq!(a, b);
        let expected = "\
┌──────────────────┬───────────┬───────────────────┐
│ provider         ┆ hostname  ┆ ips               │
╞══════════════════╪═══════════╪═══════════════════╡
│ se               ┆ Müller-PC ┆ 10.0.0.1;10.0.0.2 │
│ taegis-long-name ┆           ┆                   │
└──────────────────┴───────────┴───────────────────┘
";
        assert_eq!(a, expected);
        assert!(!a.contains('\u{1b}'), "no colour codes");

        // A very wide cell is not wrapped or truncated.
        let wide = "x".repeat(300);
        let text = render(Format::Table, &["a"], &[obj(json!({"a": wide}))], false).text();
        assert!(text.contains(&wide));

        // No rows: the header alone.
        let empty = render(Format::Table, &["provider", "hostname"], &[], false).text();
        assert_eq!(
            empty,
            "┌──────────┬──────────┐\n│ provider ┆ hostname │\n╞══════════╪══════════╡\n└──────────┴──────────┘\n"
        );
    }

    /// Every way a row can be written from its cells gives the bytes its object gives.
    #[test]
    fn rows_written_from_cells_match_their_objects() {
        let now = ts("2026-10-31T12:00:00Z");
        let mut hostile = record();
        hostile.hostname = "=HYPERLINK(\"x\") \u{1b}]0;t\u{7}".into();
        hostile.os = Some("-cmd".into());
        hostile.agent_version = Some(" padded ".into());
        hostile.group = Some("@group\nline".into());
        hostile.ip_addresses = vec!["+1".into(), "::1".into()];
        let mut future = record();
        future.last_seen = Some(ts("2027-01-01T00:00:00.123456789Z"));
        let mut unknown = record();
        unknown.last_seen = None;
        unknown.os = None;
        unknown.ip_addresses = Vec::new();
        unknown.hostname = String::new();
        let records = [record(), hostile, future, unknown];
        let mut columns: Vec<&str> = AGENT_COLUMNS.to_vec();
        columns.push("action");
        for format in [Format::Csv, Format::Table, Format::Json, Format::Ndjson] {
            for view in [
                crate::view::ViewOptions::default(),
                crate::view::ViewOptions {
                    tz: Some(crate::view::Tz {
                        zone: jiff::tz::TimeZone::fixed(jiff::tz::offset(9)),
                        explicit: true,
                    }),
                    no_headers: true,
                    ..Default::default()
                },
                crate::view::ViewOptions {
                    sort: crate::view::parse_sort("-hostname"),
                    columns: Some(cols(&["hostname", "ip_addresses", "action"])),
                    ..Default::default()
                },
            ] {
                let write = |direct: bool| {
                    let sink = Shared::default();
                    let mut w =
                        RowWriter::new(Box::new(sink.clone()), format, cols(&columns), false)
                            .with_view(view.clone())
                            .unwrap();
                    for (i, r) in records.iter().enumerate() {
                        let row = AgentRow {
                            record: r,
                            now,
                            action: (i % 2 == 0).then_some("uninstall"),
                        };
                        if direct {
                            w.write(&row).unwrap();
                        } else {
                            w.write_row(&row.object()).unwrap();
                        }
                    }
                    w.finish().unwrap();
                    sink.text()
                };
                assert_eq!(write(true), write(false), "{format} {view:?}");
            }
        }
        let sink = Shared::default();
        let mut w = RowWriter::new(Box::new(sink.clone()), Format::Csv, cols(&columns), false);
        w.write(&AgentRow {
            record: &records[1],
            now,
            action: None,
        })
        .unwrap();
        w.finish().unwrap();
        assert!(sink.text().contains(",\"'=HYPERLINK("), "{}", sink.text());
        assert!(sink.text().contains(",'+1;::1,"), "{}", sink.text());
    }

    proptest::proptest! {
        #[test]
        fn time_cells_are_format_timestamp_anywhere(
            secs in jiff::Timestamp::MIN.as_second()..=jiff::Timestamp::MAX.as_second(),
            near in -2_000_000_000i64..=2_000_000_000,
            nanos in proptest::prop_oneof![proptest::strategy::Just(0i32), 0i32..1_000_000_000],
        ) {
            for s in [secs, near, near * 60] {
                if let Ok(t) = jiff::Timestamp::new(s, if s < 0 { 0 } else { nanos }) {
                    proptest::prop_assert_eq!(Cell::Time(t).text(), format_timestamp(t));
                }
            }
        }
    }

    #[test]
    fn time_cells_are_format_timestamp() {
        for t in [
            "0001-01-01T00:00:00Z",
            "9999-12-30T22:00:00Z",
            "2000-02-29T23:59:59Z",
            "1969-12-31T23:59:59Z",
            "2026-10-01T12:00:00Z",
            "2026-10-01T12:00:00.5Z",
            "1970-01-01T00:00:00.000000001Z",
        ] {
            assert_eq!(Cell::Time(ts(t)).text(), format_timestamp(ts(t)));
        }
    }

    #[test]
    fn agent_rows_as_csv() {
        let row = agent_row(&record(), ts("2026-10-31T12:00:00Z"));
        let text = render(Format::Csv, &AGENT_COLUMNS, &[row], false).text();
        assert_eq!(
            text,
            "provider,kind,agent_id,hostname,last_seen,days_since_seen,os,agent_version,ip_addresses,group\n\
             se-prod,secure-endpoint,0f5e8a3c-1111-2222-3333-444455556666,\"Müller-PC, Büro\",\
             2026-10-01T12:00:00.5Z,30,Windows 11,,10.0.0.5;203.0.113.9,\"Servers \"\"prod\"\"\"\n"
        );
    }
}
