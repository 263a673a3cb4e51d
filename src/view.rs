//! How rows are shown, whatever the command: `--columns`, `--sort`, `--no-headers`, `--tz`,
//! `--wide`, and fitting a table to the terminal's width.
//!
//! - **Columns.** `--columns a,b,c` picks and orders the columns in every format (JSON and
//!   NDJSON objects then carry only those keys). Without it, a table fitted to a terminal
//!   shows the columns that matter: for agent rows `provider, hostname, last_seen,
//!   days_since_seen, os, group` (plus any column a command adds after `group`, such as
//!   `action`); `--wide` shows all.
//! - **Sort.** `--sort FIELD[,FIELD]`, `-FIELD` for descending; numbers compare as numbers,
//!   text case-insensitively, empty cells last. Sorting holds the rows until the end.
//! - **Time zone.** Tables show times in `--tz` (default: the local zone) as
//!   `2026-10-01 21:00 JST`; CSV and JSON stay RFC 3339 UTC unless `--tz` is given, and then
//!   carry the offset (`2026-10-01T21:00:00+09:00`).
//! - **Fitting.** The width is `COLUMNS` when set, else the terminal's; cells too long for
//!   their share are cut with `…`. Not on a terminal (and no `COLUMNS`), tables are not fitted.

use std::cmp::Ordering;

use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::error::{CliError, CliResult};
use crate::output::AGENT_COLUMNS;

/// The agent columns a fitted table shows by default.
pub const AGENT_TABLE_COLUMNS: [&str; 6] = [
    "provider",
    "hostname",
    "last_seen",
    "days_since_seen",
    "os",
    "group",
];

/// One `--sort` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// The time zone for human output.
#[derive(Debug, Clone)]
pub struct Tz {
    pub zone: TimeZone,
    /// Given with `--tz` (then CSV and JSON use it too).
    pub explicit: bool,
}

/// What the user asked for about the shape of the output.
#[derive(Debug, Clone, Default)]
pub struct ViewOptions {
    pub columns: Option<Vec<String>>,
    pub sort: Vec<SortKey>,
    pub no_headers: bool,
    pub wide: bool,
    pub tz: Option<Tz>,
    /// Width to fit a table to (None: not fitted).
    pub width: Option<usize>,
}

/// Split a comma-separated list, trimming and dropping empty items.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

pub fn parse_sort(s: &str) -> Vec<SortKey> {
    split_list(s)
        .into_iter()
        .map(|f| match f.strip_prefix('-') {
            Some(rest) => SortKey {
                field: rest.to_string(),
                descending: true,
            },
            None => SortKey {
                field: f,
                descending: false,
            },
        })
        .collect()
}

/// `local`, `UTC` or an IANA name.
pub fn parse_tz(s: &str) -> CliResult<TimeZone> {
    match s {
        "local" => Ok(TimeZone::system()),
        "UTC" | "utc" | "Z" => Ok(TimeZone::UTC),
        name => TimeZone::get(name).map_err(|e| {
            CliError::usage("--tz", format!("unknown time zone '{name}': {e}"))
                .hint("use local, UTC or an IANA name such as Asia/Tokyo or Europe/Berlin")
        }),
    }
}

/// The width to fit tables to: `COLUMNS` when set to a number, else the terminal's (stdout).
pub fn terminal_width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
}

/// Is this column a point in time (converted by `--tz`)?
pub fn is_time_column(name: &str) -> bool {
    name == "ts" || name.ends_with("last_seen") || name.ends_with("_at")
}

/// A time in `tz` for people: `2026-10-01 21:00 JST`.
pub fn human_time(t: jiff::Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// A time in `tz` for machines: RFC 3339 with the zone's offset.
pub fn rfc3339_in(t: jiff::Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    z.strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
}

impl ViewOptions {
    /// The columns to write, given the command's columns: `--columns` (checked against what
    /// the command has), else on a fitted table the defaults that matter, else all.
    pub fn select_columns(&self, all: &[String], table: bool) -> CliResult<Vec<String>> {
        if let Some(asked) = &self.columns {
            for c in asked {
                if !all.contains(c) {
                    return Err(CliError::usage(
                        "--columns",
                        format!("no column '{c}' in this output"),
                    )
                    .hint(format!("columns: {}", all.join(","))));
                }
            }
            return Ok(asked.clone());
        }
        let is_agent_rows = AGENT_COLUMNS.iter().all(|c| all.iter().any(|a| a == c));
        if table && self.width.is_some() && !self.wide && is_agent_rows {
            let extra = all.iter().filter(|c| !AGENT_COLUMNS.contains(&c.as_str()));
            return Ok(AGENT_TABLE_COLUMNS
                .iter()
                .map(|c| c.to_string())
                .chain(extra.cloned())
                .collect());
        }
        Ok(all.to_vec())
    }

    /// Check the `--sort` fields against the command's columns.
    pub fn check_sort(&self, all: &[String]) -> CliResult {
        for k in &self.sort {
            if !all.contains(&k.field) {
                return Err(CliError::usage(
                    "--sort",
                    format!("no column '{}' to sort by", k.field),
                )
                .hint(format!(
                    "columns: {}; -NAME sorts descending",
                    all.join(",")
                )));
            }
        }
        Ok(())
    }

    /// Rewrite time columns in the zone asked for, for CSV / JSON (only with an explicit `--tz`).
    pub fn machine_times(&self, row: &mut Map<String, Value>) {
        let Some(tz) = self.tz.as_ref().filter(|t| t.explicit) else {
            return;
        };
        for (k, v) in row.iter_mut() {
            if is_time_column(k)
                && let Value::String(s) = v
                && let Ok(t) = s.parse::<jiff::Timestamp>()
            {
                *s = rfc3339_in(t, &tz.zone);
            }
        }
    }

    /// A table cell's text for a time column, in the human zone (other text unchanged).
    pub fn human_cell(&self, column: &str, text: String) -> String {
        match &self.tz {
            Some(tz) if is_time_column(column) => match text.parse::<jiff::Timestamp>() {
                Ok(t) => human_time(t, &tz.zone),
                Err(_) => text,
            },
            _ => text,
        }
    }
}

fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let empty = |v: Option<&Value>| match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    };
    match (empty(a), empty(b)) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => {
            let (x, y) = (crate::output::cell_text(a), crate::output::cell_text(b));
            x.to_lowercase().cmp(&y.to_lowercase()).then(x.cmp(&y))
        }
    }
}

/// Sort rows by the keys, stably (rows equal on every key keep their order). Empty cells go
/// last in both directions.
pub fn sort_rows(rows: &mut [Map<String, Value>], keys: &[SortKey]) {
    rows.sort_by(|a, b| {
        for k in keys {
            let (x, y) = (a.get(&k.field), b.get(&k.field));
            let mut ord = compare_values(x, y);
            let one_empty =
                matches!(x, None | Some(Value::Null)) != matches!(y, None | Some(Value::Null));
            if k.descending && !one_empty {
                ord = ord.reverse();
            }
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

/// Cut `text` to at most `width` display columns, ending in `…` when cut.
pub fn truncate(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// How a column takes part in fitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Times and numbers: cut, they mean nothing; kept whole while anything else can give.
    Whole,
    /// Text, sharing what is left; the weight is its share (the host name gets two).
    Share(usize),
}

/// How `column` is fitted.
pub fn fit_of(column: &str) -> Fit {
    if is_time_column(column) || column.starts_with("days") || column.ends_with("_ms") {
        Fit::Whole
    } else if column == "hostname" || column == "host" {
        Fit::Share(2)
    } else {
        Fit::Share(1)
    }
}

/// Column widths that fit `total` display columns, for a table whose borders and padding
/// take 3 per column plus 1. Everything fits: natural widths. Otherwise `Whole` columns keep
/// their width (when the others can still get 1 each) and the `Share` columns divide the rest
/// by weight, narrow ones keeping their natural width (water-filling).
pub fn fit_widths(natural: &[usize], fits: &[Fit], total: usize) -> Vec<usize> {
    let n = natural.len();
    let overhead = 3 * n + 1;
    if natural.iter().sum::<usize>() + overhead <= total {
        return natural.to_vec();
    }
    let mut budget = total.saturating_sub(overhead);
    let mut widths = vec![0; n];
    let shared: Vec<usize> = (0..n)
        .filter(|&i| matches!(fits.get(i), Some(Fit::Share(_))))
        .collect();
    let whole: usize = (0..n)
        .filter(|i| !shared.contains(i))
        .map(|i| natural[i])
        .sum();
    let keep_whole = whole + shared.len() <= budget;
    for i in 0..n {
        if !shared.contains(&i) {
            widths[i] = if keep_whole {
                natural[i]
            } else {
                (budget / n).max(1).min(natural[i])
            };
            budget = budget.saturating_sub(widths[i]);
        }
    }
    let weight = |i: usize| match fits.get(i) {
        Some(Fit::Share(w)) => (*w).max(1),
        _ => 1,
    };
    let mut order = shared.clone();
    order.sort_by(|&a, &b| (natural[a] * weight(b)).cmp(&(natural[b] * weight(a))));
    let mut weights_left: usize = order.iter().map(|&i| weight(i)).sum();
    for &i in &order {
        let share = (budget * weight(i) / weights_left.max(1)).max(1);
        let w = natural[i].min(share).max(1);
        widths[i] = w;
        budget = budget.saturating_sub(w);
        weights_left -= weight(i);
    }
    widths
}

/// The widths of a fitted table: natural widths of `header` and `rows`, fitted to `total`.
pub fn fit_rows(
    columns: &[String],
    header: &[String],
    rows: &[Vec<String>],
    total: usize,
) -> Vec<usize> {
    let natural: Vec<usize> = (0..columns.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.width()))
                .chain([header.get(i).map_or(0, |h| h.width())])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let fits: Vec<Fit> = columns.iter().map(|c| fit_of(c)).collect();
    fit_widths(&natural, &fits, total)
}

/// Widths fixed from a first section: share the width the terminal still has among text
/// columns, each up to 32 display columns (rows that come later are cut to these widths).
pub fn widen_for_later_rows(columns: &[String], widths: &mut [usize], total: usize) {
    let overhead = 3 * widths.len() + 1;
    let mut left = total.saturating_sub(widths.iter().sum::<usize>() + overhead);
    loop {
        let growable: Vec<usize> = (0..widths.len())
            .filter(|&i| {
                matches!(
                    fit_of(columns.get(i).map_or("", String::as_str)),
                    Fit::Share(_)
                ) && widths[i] < 32
            })
            .collect();
        if left == 0 || growable.is_empty() {
            return;
        }
        let each = (left / growable.len()).max(1);
        for i in growable {
            let add = each.min(32 - widths[i]).min(left);
            widths[i] += add;
            left -= add;
        }
    }
}

/// A border line of a table drawn in the same style as the unsectioned table.
pub fn table_border(widths: &[usize], left: char, mid: char, right: char, fill: char) -> String {
    let parts: Vec<String> = widths
        .iter()
        .map(|w| std::iter::repeat_n(fill, w + 2).collect())
        .collect();
    format!("{left}{}{right}", parts.join(&mid.to_string()))
}

/// One row of a sectioned table: each cell cut to its width and padded.
pub fn table_line(cells: &[String], widths: &[usize]) -> String {
    let parts: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let cell = truncate(cells.get(i).map_or("", String::as_str), *w);
            let pad = w.saturating_sub(cell.width());
            format!("{cell}{}", " ".repeat(pad))
        })
        .collect();
    format!("│ {} │", parts.join(" ┆ "))
}

/// The header a fitted table shows for a column (shorter where the name is long).
pub fn short_header(column: &str) -> &str {
    match column {
        "days_since_seen" => "days",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn sort_keys_numbers_text_and_empties() {
        let mut rows = vec![
            obj(json!({"h": "b", "d": 10})),
            obj(json!({"h": "A", "d": 2})),
            obj(json!({"h": "c", "d": null})),
            obj(json!({"h": "a", "d": 2})),
        ];
        sort_rows(&mut rows, &parse_sort("d"));
        let hs: Vec<&str> = rows.iter().map(|r| r["h"].as_str().unwrap()).collect();
        assert_eq!(hs, ["A", "a", "b", "c"], "numeric, stable, empty last");
        sort_rows(&mut rows, &parse_sort("-d,h"));
        let hs: Vec<&str> = rows.iter().map(|r| r["h"].as_str().unwrap()).collect();
        assert_eq!(hs, ["b", "A", "a", "c"], "descending keeps empty last");
    }

    #[test]
    fn truncation_counts_display_width() {
        assert_eq!(truncate("hostname", 20), "hostname");
        assert_eq!(truncate("hostname", 5), "host…");
        assert_eq!(truncate("東京-PC-01", 5), "東京…");
        assert_eq!(truncate("abc", 1), "…");
    }

    #[test]
    fn widths_fit_by_giving_narrow_columns_their_due() {
        let share = [Fit::Share(1); 3];
        assert_eq!(fit_widths(&[5, 10], &share[..2], 40), vec![5, 10]);
        // 3 columns: overhead 10; budget 30: 4 fits, the two wide share 26.
        assert_eq!(fit_widths(&[4, 50, 40], &share, 40), vec![4, 13, 13]);
        // A time column stays whole; the host name gets twice the share.
        let fits = [Fit::Share(1), Fit::Share(2), Fit::Whole, Fit::Share(1)];
        let w = fit_widths(&[8, 44, 20, 30], &fits, 70);
        assert_eq!(w[2], 20);
        assert!(w[1] > w[3], "{w:?}");
        assert!(w.iter().sum::<usize>() + 13 <= 70, "{w:?}");
        // Too narrow for anything: still at most the width, at least 1 each.
        let w = fit_widths(&[8, 44, 20, 30], &fits, 20);
        assert!(w.iter().all(|&x| x >= 1), "{w:?}");
    }

    #[test]
    fn times_in_a_zone() {
        let t: jiff::Timestamp = "2026-10-01T12:00:00Z".parse().unwrap();
        let tokyo = parse_tz("Asia/Tokyo").unwrap();
        assert_eq!(human_time(t, &tokyo), "2026-10-01 21:00 JST");
        assert_eq!(rfc3339_in(t, &tokyo), "2026-10-01T21:00:00+09:00");
        assert_eq!(human_time(t, &TimeZone::UTC), "2026-10-01 12:00 UTC");
        assert!(parse_tz("Mars/Olympus").is_err());
    }

    #[test]
    fn default_table_columns_only_when_fitted() {
        let all: Vec<String> = AGENT_COLUMNS
            .iter()
            .map(|c| c.to_string())
            .chain(["action".to_string()])
            .collect();
        let mut v = ViewOptions {
            width: Some(80),
            ..ViewOptions::default()
        };
        let cols = v.select_columns(&all, true).unwrap();
        assert_eq!(
            cols,
            [
                "provider",
                "hostname",
                "last_seen",
                "days_since_seen",
                "os",
                "group",
                "action"
            ]
        );
        assert_eq!(v.select_columns(&all, false).unwrap(), all);
        v.wide = true;
        assert_eq!(v.select_columns(&all, true).unwrap(), all);
        v.columns = Some(vec!["hostname".into(), "nope".into()]);
        assert!(v.select_columns(&all, true).is_err());
    }

    /// Render agent rows through the real writer with `view` (the table fitted to `width`).
    fn table(view: ViewOptions, format: crate::output::Format) -> String {
        use std::io::Write;
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let now: jiff::Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let sink = Sink::default();
        let columns = AGENT_COLUMNS.iter().map(|c| c.to_string()).collect();
        let mut w = crate::output::RowWriter::new(Box::new(sink.clone()), format, columns, false)
            .with_view(view)
            .unwrap();
        let agents = [
            (
                "se-apjc",
                "secure-endpoint",
                "TKY-LT-0042.corp.example",
                Some("2026-06-01T03:04:05Z"),
                "Windows 11 Enterprise 23H2",
                "Tokyo Laptops (Finance)",
            ),
            (
                "taegis",
                "taegis",
                "osaka-db-primary-01",
                Some("2026-11-20T23:30:00Z"),
                "Ubuntu 22.04.4 LTS",
                "Servers / Production / Databases",
            ),
            (
                "sa",
                "secure-access",
                "東京-会議室-PC",
                Some("2026-09-15T12:00:00Z"),
                "macOS 14.5",
                "Roaming",
            ),
            (
                "apex",
                "apex-central",
                "KIOSK-7",
                None,
                "Windows 10 IoT Enterprise LTSC",
                "ApexOne02 \\Branch\\Kiosks",
            ),
            (
                "se-apjc",
                "secure-endpoint",
                "lab-build-agent-with-a-rather-long-name-0001",
                Some("2026-01-02T00:00:00Z"),
                "Windows Server 2022 Datacenter",
                "Build",
            ),
        ];
        for (i, (provider, kind, host, seen, os, group)) in agents.iter().enumerate() {
            let rec = agentctl_core::AgentRecord {
                provider: provider.to_string(),
                kind: kind.to_string(),
                agent_id: format!("0f5e8a3c-1111-2222-3333-44445555666{i}"),
                hostname: host.to_string(),
                last_seen: seen.map(|s| s.parse().unwrap()),
                os: Some(os.to_string()),
                agent_version: Some("8.4.1.30307".into()),
                ip_addresses: vec![format!("10.0.0.{i}"), "203.0.113.9".into()],
                group: Some(group.to_string()),
                mac_addresses: Vec::new(),
                serial_number: None,
                pending_uninstall: false,
                raw: serde_json::Value::Null,
            };
            w.write_row(&crate::output::agent_row(&rec, now)).unwrap();
        }
        w.finish().unwrap();
        String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
    }

    fn utc_table(width: Option<usize>) -> ViewOptions {
        ViewOptions {
            width,
            tz: Some(Tz {
                zone: TimeZone::UTC,
                explicit: false,
            }),
            ..ViewOptions::default()
        }
    }

    fn max_line_width(text: &str) -> usize {
        text.lines().map(|l| l.width()).max().unwrap_or(0)
    }

    #[test]
    fn snapshot_fitted_table_80_and_120_columns() {
        use crate::output::Format;
        let t80 = table(utc_table(Some(80)), Format::Table);
        assert!(max_line_width(&t80) <= 80, "{t80}");
        insta::assert_snapshot!("table_80", t80);
        let t120 = table(utc_table(Some(120)), Format::Table);
        assert!(max_line_width(&t120) <= 120, "{t120}");
        insta::assert_snapshot!("table_120", t120);
        // --wide: every column, uncut.
        let wide = table(
            ViewOptions {
                wide: true,
                ..utc_table(Some(80))
            },
            Format::Table,
        );
        assert!(wide.contains("lab-build-agent-with-a-rather-long-name-0001"));
        assert!(wide.contains("agent_version"));
    }

    #[test]
    fn snapshot_columns_sort_no_headers_and_tokyo_time() {
        use crate::output::Format;
        let cols = ViewOptions {
            columns: Some(vec![
                "hostname".into(),
                "days_since_seen".into(),
                "provider".into(),
            ]),
            ..utc_table(Some(120))
        };
        insta::assert_snapshot!("table_columns", table(cols.clone(), Format::Table));
        insta::assert_snapshot!("csv_columns", table(cols.clone(), Format::Csv));
        insta::assert_snapshot!("ndjson_columns", table(cols, Format::Ndjson));

        let sorted = ViewOptions {
            columns: Some(vec![
                "hostname".into(),
                "days_since_seen".into(),
                "provider".into(),
            ]),
            sort: parse_sort("-days_since_seen,hostname"),
            ..utc_table(Some(120))
        };
        insta::assert_snapshot!("table_sort", table(sorted, Format::Table));

        let bare = ViewOptions {
            no_headers: true,
            columns: Some(vec!["provider".into(), "hostname".into()]),
            sort: parse_sort("provider,hostname"),
            ..utc_table(None)
        };
        insta::assert_snapshot!("table_no_headers", table(bare.clone(), Format::Table));
        insta::assert_snapshot!("csv_no_headers", table(bare, Format::Csv));

        let tokyo = |explicit| ViewOptions {
            columns: Some(vec!["hostname".into(), "last_seen".into()]),
            tz: Some(Tz {
                zone: parse_tz("Asia/Tokyo").unwrap(),
                explicit,
            }),
            ..utc_table(Some(120))
        };
        insta::assert_snapshot!("table_tz_tokyo", table(tokyo(true), Format::Table));
        insta::assert_snapshot!("csv_tz_tokyo", table(tokyo(true), Format::Csv));
        // CSV stays UTC unless --tz was given.
        let csv = table(tokyo(false), Format::Csv);
        assert!(csv.contains("2026-06-01T03:04:05Z"), "{csv}");
    }

    #[test]
    fn sections_print_as_they_come_in_the_same_style() {
        use std::io::Write;
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let text = |s: &Sink| String::from_utf8(s.0.lock().unwrap().clone()).unwrap();
        let row = |p: &str, h: &str| obj(json!({"provider": p, "hostname": h}));
        let columns = vec!["provider".to_string(), "hostname".to_string()];
        let writer = |sink: &Sink| {
            crate::output::RowWriter::new(
                Box::new(sink.clone()),
                crate::output::Format::Table,
                columns.clone(),
                false,
            )
            .with_view(utc_table(Some(40)))
            .unwrap()
        };
        let sink = Sink::default();
        let mut w = writer(&sink);
        w.write_row(&row("se", "a-host")).unwrap();
        w.flush_section().unwrap();
        // The first provider's rows are out before the listing ends.
        assert!(text(&sink).contains("a-host"), "{}", text(&sink));
        w.write_row(&row("taegis", "a-much-longer-host-name-than-before"))
            .unwrap();
        w.finish().unwrap();
        let out = text(&sink);
        insta::assert_snapshot!("table_sections", out);
        // Same widths throughout; later cells are cut to them.
        let widths: Vec<usize> = out.lines().map(|l| l.width()).collect();
        assert!(widths.windows(2).all(|p| p[0] == p[1]), "{out}");
        // Within the terminal's width, in the same style as a table printed at the end.
        assert!(out.lines().all(|l| l.width() <= 40), "{out}");
        let b = Sink::default();
        let mut whole = writer(&b);
        whole.write_row(&row("se", "a-host")).unwrap();
        whole.finish().unwrap();
        let firsts =
            |t: String| -> Vec<char> { t.lines().filter_map(|l| l.chars().next()).collect() };
        assert_eq!(firsts(out.clone())[..4], firsts(text(&b))[..4]);
    }
}
