//! Taegis answers on any bytes: GraphQL envelopes and errors, asset pages, job status and
//! uninstall results give values or errors, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    use agentctl_taegis::{client, error, model};
    let resp = common::response(data);
    let body = &resp.body[..];
    if let Ok(gql) = serde_json::from_slice::<model::GraphQlResponse>(body) {
        let errors = gql.errors.unwrap_or_default();
        let _ = error::graphql_error("fuzz", resp.status.as_u16(), &errors, None);
    }
    if let Ok(page) = serde_json::from_slice::<model::AssetsPage>(body) {
        for raw in page.assets {
            if let Ok(asset) = serde_json::from_value::<model::Asset>(raw) {
                let _ = asset.columns();
            }
        }
    }
    // The listing's typed reading of a plain assetsV2 answer.
    if let Ok(answer) = serde_json::from_slice::<model::AssetsAnswer>(body)
        && let Some(page) = answer.page()
    {
        for asset in page.assets {
            let _ = asset.columns();
        }
    }
    let ids = vec!["a".to_string(), "b".to_string()];
    if let Ok(task) = serde_json::from_slice::<model::TaskInfo>(body) {
        let _ = client::job_fully_succeeded(&task, ids.len());
        for kind in [
            client::JobKind::Delete,
            client::JobKind::Restore,
            client::JobKind::Assign,
        ] {
            let _ = client::job_outcomes(kind, "job", &task, &ids, Some("g"), None);
        }
    }
    if let Ok(result) = serde_json::from_slice::<model::CommandResult>(body) {
        let _ = client::uninstall_outcome(result, "rid".into());
    }
    if let Ok(groups) = serde_json::from_slice::<Vec<model::EndpointGroupInfo>>(body) {
        let _ = client::resolve_group(&groups, "group");
    }
    if let Ok(found) = serde_json::from_slice::<model::ClientSearchResults>(body) {
        let _ = found;
    }
    let _ = error::http_error("fuzz", &resp, false);
    let _ = error::http_error("fuzz", &resp, true);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = model::is_internal(text);
        let _ = model::is_uuid(text);
        let _ = client::is_asset_id(text);
        let _ = agentctl_core::time::parse_timestamp(text);
    }
});
