//! Property-based tests (proptest, modest case counts so CI stays fast): the plan reader
//! (CSV / JSON / NDJSON / legacy GUID files, BOM, CRLF, quoting, the spreadsheet
//! neutralisation round trip), the config loader, the stale rule and the text sanitizers.
//! Whatever the input, nothing panics; what agentctl writes, it reads back exactly.

use std::path::Path;

use agentctl::output::{AGENT_COLUMNS, Format, RowWriter, agent_row};
use agentctl::plan::{Plan, PlanContext, parse_plan};
use agentctl::sanitize;
use agentctl_core::AgentRecord;
use agentctl_core::time::{is_stale, parse_timestamp, stale_cutoff};
use proptest::prelude::*;

fn accept_all(_provider: &str, _kind: Option<&str>, _id: &str) -> Result<(), String> {
    Ok(())
}

fn parse(text: &str, name: &str) -> Result<Plan, agentctl::plan::PlanError> {
    let ctx = PlanContext {
        legacy_provider: Some("se"),
        validate: &accept_all,
    };
    parse_plan(text, Path::new(name), &ctx)
}

/// Text with the characters that matter here: formula starters, quotes, separators, line
/// ends, white space, control characters and non-ASCII.
fn tricky_text(max: usize) -> impl Strategy<Value = String> {
    let chars = prop_oneof![
        Just('='),
        Just('+'),
        Just('-'),
        Just('@'),
        Just('\''),
        Just('"'),
        Just(','),
        Just(';'),
        Just('\t'),
        Just('\r'),
        Just('\n'),
        Just(' '),
        Just('\u{1b}'),
        Just('\u{9b}'),
        Just('\u{202e}'),
        Just('ü'),
        Just('東'),
        proptest::char::range('a', 'z'),
        proptest::char::range('0', '9'),
    ];
    proptest::collection::vec(chars, 0..max).prop_map(|v| v.into_iter().collect())
}

fn record(id: &str, host: &str) -> AgentRecord {
    AgentRecord {
        provider: "tg".into(),
        kind: "taegis".into(),
        agent_id: id.into(),
        hostname: host.into(),
        last_seen: Some("2026-10-01T12:00:00Z".parse().unwrap()),
        os: Some(host.into()),
        agent_version: None,
        ip_addresses: vec![],
        group: Some(id.into()),
        mac_addresses: Vec::new(),
        serial_number: None,
        pending_uninstall: false,
        raw: serde_json::Value::Null,
    }
}

#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_rows(format: Format, bom: bool, records: &[AgentRecord]) -> String {
    let sink = Sink::default();
    let columns = AGENT_COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut w = RowWriter::new(Box::new(sink.clone()), format, columns, bom);
    let now = "2026-11-23T00:00:00Z".parse().unwrap();
    for r in records {
        w.write_row(&agent_row(r, now)).unwrap();
    }
    w.finish().unwrap();
    String::from_utf8(sink.0.lock().unwrap().clone()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Any text under any name: an error or a plan, never a panic.
    #[test]
    fn any_plan_text_never_panics(
        text in prop_oneof![any::<String>(), tricky_text(200)],
        name in prop::sample::select(vec!["p.csv", "p.json", "p.ndjson", "p.jsonl", "p.txt", "p"]),
        bom in any::<bool>(),
    ) {
        let text = if bom { format!("\u{feff}{text}") } else { text };
        let _ = parse(&text, name);
    }

    /// Plan-like text: a real header, then rows of tricky fields.
    #[test]
    fn csv_with_a_header_and_tricky_rows_never_panics(rows in proptest::collection::vec(tricky_text(40), 0..10)) {
        let text = format!("provider,kind,agent_id,hostname,last_seen\n{}", rows.join("\n"));
        let _ = parse(&text, "p.csv");
        let _ = parse(&text.replace('\n', "\r\n"), "p.csv");
    }

    /// What `list` / `stale` write as CSV (with or without BOM) reads back byte for byte,
    /// and no cell of it is a spreadsheet formula.
    #[test]
    fn csv_neutralisation_round_trips(
        items in proptest::collection::btree_map(tricky_text(16).prop_filter("id", |s| !s.is_empty()), tricky_text(16), 1..12),
        bom in any::<bool>(),
    ) {
        let records: Vec<AgentRecord> = items.iter().map(|(id, host)| record(id, host)).collect();
        let text = write_rows(Format::Csv, bom, &records);
        let mut reader = csv::ReaderBuilder::new().from_reader(text.trim_start_matches('\u{feff}').as_bytes());
        for rec in reader.records() {
            for cell in rec.unwrap().iter() {
                prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
            }
        }
        let plan = parse(&text, "p.csv").unwrap();
        prop_assert_eq!(plan.rows.len(), records.len());
        for (row, rec) in plan.rows.iter().zip(&records) {
            prop_assert_eq!(&row.agent.agent_id, &rec.agent_id);
            let host = (!rec.hostname.is_empty()).then(|| rec.hostname.clone());
            prop_assert_eq!(&row.agent.hostname, &host);
        }
    }

    /// A CSV someone else wrote with CRLF line ends and quoting, in another column order,
    /// through the same neutralisation: read back exactly.
    #[test]
    fn crlf_csv_in_any_column_order_round_trips(
        items in proptest::collection::btree_map(tricky_text(16).prop_filter("id", |s| !s.is_empty()), tricky_text(16), 1..12),
        reversed in any::<bool>(),
    ) {
        let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
        let header = if reversed { ["hostname", "agent_id", "provider"] } else { ["provider", "agent_id", "hostname"] };
        w.write_record(header).unwrap();
        for (id, host) in &items {
            let cells = [sanitize::csv_cell("tg").into_owned(), sanitize::csv_cell(id).into_owned(), sanitize::csv_cell(host).into_owned()];
            if reversed {
                w.write_record([&cells[2], &cells[1], &cells[0]]).unwrap();
            } else {
                w.write_record(&cells).unwrap();
            }
        }
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let plan = parse(&text, "p.csv").unwrap();
        prop_assert_eq!(plan.rows.len(), items.len());
        for (row, (id, host)) in plan.rows.iter().zip(&items) {
            prop_assert_eq!(&row.agent.agent_id, id);
            prop_assert_eq!(row.agent.hostname.clone().unwrap_or_default(), host.clone());
        }
    }

    /// JSON and NDJSON stay raw; the reader gives back every id and every host name byte for
    /// byte.
    #[test]
    fn json_and_ndjson_round_trip(
        items in proptest::collection::btree_map(tricky_text(16).prop_filter("id", |s| !s.trim().is_empty()), tricky_text(16), 1..12),
    ) {
        let unique: std::collections::BTreeMap<String, String> =
            items.iter().map(|(id, h)| (id.trim().to_string(), h.clone())).collect();
        let records: Vec<AgentRecord> = unique.iter().map(|(id, host)| record(id, host)).collect();
        for (format, name) in [(Format::Json, "p.json"), (Format::Ndjson, "p.ndjson")] {
            let text = write_rows(format, false, &records);
            let plan = parse(&text, name).unwrap();
            prop_assert_eq!(plan.rows.len(), records.len());
            for (row, rec) in plan.rows.iter().zip(&records) {
                prop_assert_eq!(&row.agent.agent_id, &rec.agent_id);
                prop_assert_eq!(row.agent.hostname.clone().unwrap_or_default(), rec.hostname.clone());
            }
        }
    }

    /// The original script's single-GUID-column file, with or without BOM, LF or CRLF.
    #[test]
    fn legacy_guid_files_read_every_guid(
        guids in proptest::collection::btree_set("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", 0..20),
        bom in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from(if bom { "\u{feff}GUID" } else { "GUID" });
        for g in &guids {
            text.push_str(eol);
            text.push_str(g);
        }
        text.push_str(eol);
        let plan = parse(&text, "inactive_guids.csv").unwrap();
        let got: Vec<&str> = plan.rows.iter().map(|r| r.agent.agent_id.as_str()).collect();
        let want: Vec<&str> = guids.iter().map(String::as_str).collect();
        prop_assert_eq!(got, want);
        prop_assert!(plan.rows.iter().all(|r| r.agent.provider == "se"));
    }

    /// The neutralisation pair is an exact inverse, and the writer's output is never a
    /// formula.
    #[test]
    fn csv_cell_pair_is_exact(value in prop_oneof![any::<String>(), tricky_text(30)]) {
        let cell = sanitize::csv_cell(&value);
        prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']));
        let back = sanitize::csv_uncell(&cell).map(str::to_string).unwrap_or_else(|| cell.trim().to_string());
        prop_assert_eq!(back, value);
    }

    /// Terminal text never carries a control character a terminal acts on (line feed and
    /// tab aside), and plain text passes through unchanged.
    #[test]
    fn terminal_text_has_no_controls(value in prop_oneof![any::<String>(), tricky_text(40)]) {
        let safe = sanitize::terminal_text(&value);
        let bidi = |c: char| ('\u{202a}'..='\u{202e}').contains(&c);
        prop_assert!(!safe.chars().any(|c| (c.is_control() && c != '\n' && c != '\t') || bidi(c)), "{:?}", safe);
        let cell = sanitize::terminal_cell(&value);
        prop_assert!(!cell.chars().any(char::is_control));
        if !value.chars().any(|c| c.is_control() || ('\u{2000}'..='\u{206f}').contains(&c) || c == '\u{61c}') {
            prop_assert_eq!(safe.as_ref(), value.as_str());
        }
    }

    /// Any config text: a config or an error, never a panic; a syntax error names a line.
    #[test]
    fn config_loader_never_panics(text in prop_oneof![any::<String>(), tricky_text(120), config_like()]) {
        match agentctl::config::parse(&text) {
            Err(e) => prop_assert!(!e.is_empty()),
            Ok(file) => {
                // The keys every provider shares: checked, never a panic.
                for (name, table) in &file.providers {
                    let mut table = table.clone();
                    let _ = agentctl::config::split_common(name, &mut table, &file.defaults);
                }
            }
        }
    }

    /// The stale rule: stale exactly when last seen strictly before now − days × 24 h;
    /// unknown is never stale; more days never make an agent stale that was not.
    #[test]
    fn stale_rule(
        now_secs in 0i64..4_000_000_000,
        age_secs in -10_000_000i64..400_000_000,
        days in 1u32..5000,
        huge in any::<u32>(),
    ) {
        let now = jiff::Timestamp::from_second(now_secs).unwrap();
        let seen = jiff::Timestamp::from_second(now_secs - age_secs).unwrap();
        let cutoff = stale_cutoff(now, days);
        prop_assert_eq!(is_stale(Some(seen), cutoff), age_secs > i64::from(days) * 86_400);
        prop_assert!(!is_stale(None, cutoff));
        if is_stale(Some(seen), stale_cutoff(now, days + 1)) {
            prop_assert!(is_stale(Some(seen), cutoff));
        }
        // Any --days value is a cutoff, never a panic.
        let _ = stale_cutoff(now, huge);
    }

    /// Vendor timestamps: any text parses or not, never panics.
    #[test]
    fn timestamps_never_panic(text in any::<String>()) {
        let _ = parse_timestamp(&text);
    }
}

/// Text shaped like a config: sections and keys with values of every TOML type.
fn config_like() -> impl Strategy<Value = String> {
    let key = prop::sample::select(vec![
        "kind",
        "concurrency",
        "timeout_secs",
        "rate_limit",
        "max_response_mb",
        "ca_file",
        "insecure_skip_tls_verify",
        "api_url",
        "unknown",
    ]);
    let value = prop_oneof![
        Just("\"secure-endpoint\"".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("99999999999".to_string()),
        Just("true".to_string()),
        Just("[1, \"a\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        Just("\"5/s, 14/min\"".to_string()),
        Just("\"".to_string()),
        tricky_text(10).prop_map(|t| format!("{t:?}")),
    ];
    let section = prop::sample::select(vec![
        "[defaults]",
        "[providers.a]",
        "[providers.\"b c\"]",
        "[x]",
        "",
    ]);
    proptest::collection::vec((section, key, value), 0..8).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(s, k, v)| format!("{s}\n{k} = {v}\n"))
            .collect()
    })
}
