//! The client's GraphQL documents against the simulator's schema (the simulator is a crate of
//! its own, so this check lives beside the other tests that run against it).

use agentctl_taegis::documents::{ALL_ENDPOINT_GROUPS, ASSETS_PAGE, all, status_examples};
use agentctl_taegis::unconfirmed;

/// The documents against the simulator's schema: the strongest check available here that
/// they ask only for fields and arguments that exist, with compatible variable types.
#[test]
fn every_document_validates_against_the_simulated_schema() {
    use serde_json::json;
    let sdl = agentctl_taegis_sim::schema_sdl();
    // The variables the provider sends with each document.
    let variables = |field: &str, text: &str| match field {
        "assetsV2" if text.contains("$filter") => json!({
            "first": unconfirmed::ASSETS_PAGE_SIZE,
            "after": "YXNzZXQ6NQ==",
            "filter": {"where": {"lastSeenAt_lt": "2026-10-01T12:00:00Z", "hostname_contains": "-0042", "id": "x"}}
        }),
        "assetsV2" => json!({"first": 1}),
        "markForUninstall" => {
            json!({"input": {"endpointID": "a", "reason": "r", "requestID": "q"}})
        }
        "clientsSearch" => {
            json!({"filters": {"pageOffset": 0, "perPage": unconfirmed::CLIENTS_PER_PAGE}})
        }
        "createClient" => {
            json!({"name": "n", "roles": ["ba0fdcbd-e87d-4bdd-ae7d-ca6118b25068"]})
        }
        "deleteAssetsV2" | "restoreAssetsV2" => {
            json!({"input": {"filter": {"where": {"or": [{"id": "a"}, {"id": "b"}]}}}})
        }
        "assignBulkAssetsToGroup" => {
            json!({"input": {"groupId": "g", "filter": {"where": {"or": [{"id": "a"}]}}}})
        }
        _ => json!({"id": "c-1"}),
    };
    for (field, text) in all() {
        let errors = agentctl_taegis_sim::validate_document(text, variables(field, text));
        assert!(errors.is_empty(), "{field}: {errors:?}\n{text}");
    }
    for (field, text) in status_examples() {
        let errors = agentctl_taegis_sim::validate_document(&text, json!({}));
        assert!(errors.is_empty(), "{field}: {errors:?}\n{text}");
    }
    let errors = agentctl_taegis_sim::validate_agent_document(ALL_ENDPOINT_GROUPS, json!({}));
    assert!(errors.is_empty(), "allEndpointGroups: {errors:?}");
    assert!(
        !agentctl_taegis_sim::validate_document(ALL_ENDPOINT_GROUPS, json!({})).is_empty(),
        "endpoint groups are not on the assets gateway"
    );
    // The schema carries the deprecated aliases the documents avoid.
    assert!(sdl.contains("client_id"), "{sdl}");
    let errors = agentctl_taegis_sim::validate_document(
        "query assetsV2($first: Int!) { assetsV2(first: $first) { assets { hostname } } }",
        json!({"first": 1}),
    );
    // A variable of the wrong type is rejected too.
    let wrong = agentctl_taegis_sim::validate_document(
        "query assetsV2($first: String!) { assetsV2(first: $first) { totalCount } }",
        json!({"first": "1"}),
    );
    assert!(!wrong.is_empty(), "String in an Int position");
    let bad_time = agentctl_taegis_sim::validate_document(
        ASSETS_PAGE.as_str(),
        json!({"first": 1, "filter": {"where": {"lastSeenAt_lt": "last tuesday"}}}),
    );
    assert!(
        bad_time.iter().any(|e| e.contains("RFC 3339")),
        "{bad_time:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("hostname")),
        "a wrong field is rejected: {errors:?}"
    );
}
