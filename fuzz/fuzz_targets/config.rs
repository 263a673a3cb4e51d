//! The config loader (and its shared-key checks) on any text: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(file) = agentctl::config::parse(text) {
        for (name, table) in &file.providers {
            let mut table = table.clone();
            let _ = agentctl::config::split_common(name, &mut table, &file.defaults);
        }
    }
});
