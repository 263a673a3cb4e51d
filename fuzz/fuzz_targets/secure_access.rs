//! Secure Access answers on any bytes: roaming computers, tunnel groups, Key Admin answers
//! and error bodies give values or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    use agentctl_secure_access::{client, error, model};
    let resp = common::response(data);
    let body = &resp.body[..];
    let _ = serde_json::from_slice::<Vec<model::RoamingComputer>>(body);
    let _ = serde_json::from_slice::<model::RoamingComputer>(body);
    let _ = serde_json::from_slice::<model::TunnelGroupPage>(body);
    let _ = serde_json::from_slice::<model::KeysResponseList>(body);
    let _ = serde_json::from_slice::<model::ApiKey>(body);
    let _ = serde_json::from_slice::<model::ErrorBody>(body);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let _ = model::id_text(&v);
    }
    let _ = error::vendor_message(&resp);
    let _ = error::is_expired_token_400(&resp);
    for scope in [
        error::Scope::RoamingRead,
        error::Scope::RoamingWrite,
        error::Scope::TunnelsRead,
        error::Scope::KeyAdmin,
    ] {
        let _ = error::api_error("fuzz", scope, &resp);
    }
    if let [a, b, c, d, ..] = body {
        let n = u32::from_le_bytes([*a, *b, *c, *d]);
        let _ = client::next_page(n, n.rotate_left(7), body.len());
        let _ = client::next_offset(u64::from(n), body.len(), u64::from(n.rotate_left(3)));
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = client::is_device_id(text);
        let _ = agentctl_secure_access::keyadmin::check_name(text);
        let _ = agentctl_core::time::parse_timestamp(text);
    }
});
