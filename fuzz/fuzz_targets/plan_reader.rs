//! The plan reader on any bytes, under every name that picks a format: never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fn accept(_provider: &str, _kind: Option<&str>, _id: &str) -> Result<(), String> {
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let ctx = agentctl::plan::PlanContext {
        legacy_provider: Some("se"),
        validate: &accept,
    };
    for name in ["p.csv", "p.json", "p.ndjson", "p"] {
        let _ = agentctl::plan::parse_plan(text, Path::new(name), &ctx);
    }
    let _ = agentctl::sanitize::csv_uncell(text);
    let _ = agentctl::sanitize::terminal_text(text);
});
