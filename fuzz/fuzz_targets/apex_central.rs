//! Apex Central answers on any bytes: the result envelope, agents, servers and error codes
//! give values or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    use agentctl_apex_central::{client, error, model};
    let resp = common::response(data);
    let body = &resp.body[..];
    let _ = serde_json::from_slice::<model::Envelope>(body);
    let _ = serde_json::from_slice::<Vec<model::Agent>>(body);
    let _ = serde_json::from_slice::<Vec<model::Server>>(body);
    // The listing's agent-by-agent reading, and a reader that stops it part-way.
    let _ = model::read_agents(body, |_| Ok(()));
    let mut left = 2;
    let _ = model::read_agents(body, |_| {
        left -= 1;
        if left == 0 {
            Err("stop".into())
        } else {
            Ok(())
        }
    });
    let _ = error::envelope(&resp);
    let _ = error::api_error("fuzz", &resp);
    if let Ok(content) = error::success("fuzz", &resp) {
        let _ = serde_json::from_value::<Vec<model::Agent>>(content);
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = model::split_list(Some(text));
        let _ = client::is_entity_id(text);
    }
});
