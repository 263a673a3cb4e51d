//! Every vendor's wire types and timestamp parsing on any bytes: an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    use agentctl_apex_central::model as apex;
    use agentctl_secure_access::model as sa;
    use agentctl_secure_endpoint::model as se;
    use agentctl_taegis::model as tg;
    let _ = serde_json::from_slice::<se::V1List<se::Computer>>(data);
    let _ = serde_json::from_slice::<se::AccessToken>(data);
    let _ = serde_json::from_slice::<se::V3Organizations>(data);
    let _ = serde_json::from_slice::<Vec<sa::RoamingComputer>>(data);
    let _ = serde_json::from_slice::<sa::ErrorBody>(data);
    let _ = serde_json::from_slice::<apex::Envelope>(data);
    let _ = serde_json::from_slice::<Vec<apex::Agent>>(data);
    let _ = serde_json::from_slice::<tg::GraphQlResponse>(data);
    let _ = serde_json::from_slice::<tg::AssetsPage>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = agentctl_core::time::parse_timestamp(text);
        let _ = apex::split_list(Some(text));
        let _ = tg::is_internal(text);
    }
});
