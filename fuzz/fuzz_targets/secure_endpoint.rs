//! Secure Endpoint answers on any bytes: its wire types, error bodies and timestamps give
//! values or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    use agentctl_secure_endpoint::{error, model};
    let resp = common::response(data);
    let body = &resp.body[..];
    if let Ok(list) = serde_json::from_slice::<model::V1List<model::Computer>>(body) {
        for c in &list.data {
            let _ = c.mac_addresses();
        }
    }
    if let Ok(item) = serde_json::from_slice::<model::V1Item<model::Computer>>(body) {
        let _ = item.data.mac_addresses();
    }
    let _ = serde_json::from_slice::<model::V1List<model::Group>>(body);
    let _ = serde_json::from_slice::<model::DeleteAnswer>(body);
    let _ = serde_json::from_slice::<model::AccessToken>(body);
    let _ = serde_json::from_slice::<model::V3Organizations>(body);
    let _ = serde_json::from_slice::<model::ErrorEnvelope>(body);
    let _ = error::vendor_message(&resp);
    let _ = error::api_error("fuzz", &resp);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = agentctl_core::time::parse_timestamp(text);
        let _ = agentctl_secure_endpoint::client::is_connector_guid(text);
    }
});
