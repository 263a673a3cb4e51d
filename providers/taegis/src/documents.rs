//! Every GraphQL document agentctl sends, in one place. Each asks only for current
//! (camelCase, non-deprecated) fields the vendor file lists, names the operation after its
//! field (as the official SDK does), and declares a variable non-null wherever a value is
//! always sent: a non-null variable is valid in a nullable argument position, so the document
//! validates whether the real argument is nullable or not (vendor file §5).

use std::sync::LazyLock;

use crate::unconfirmed;

/// The asset fields a record is made from. `biosSerial` and `ethernetAddresses { mac }` (for
/// matching a machine across consoles) are `AssetV2` / `EthernetAddressV2` fields in
/// secureworks/taegis-sdk-python `taegis_sdk_python/services/assets2/types.py`.
fn asset_fields() -> String {
    format!(
        "id hostId sensorId lastSeenAt sensorVersion osFamily osVersion osDistributor endpointType pendingUninstall biosSerial hostnames {{ hostname }} ipAddresses {{ ip }} ethernetAddresses {{ mac }} {}",
        unconfirmed::ENDPOINT_GROUP_SELECTION
    )
}

/// One page of assets (list, stale, and the single-asset re-check with `where: {id}`).
pub static ASSETS_PAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "query assetsV2($first: Int!, $after: String, $filter: AssetFilter) {{ assetsV2(first: $first, after: $after, filter: $filter) {{ totalCount assets {{ {} }} pageInfo {{ endCursor hasNextPage }} }} }}",
        asset_fields()
    )
});

/// The cheapest read (`doctor`).
pub const ASSETS_COUNT: &str =
    "query assetsV2($first: Int!) { assetsV2(first: $first) { totalCount } }";

/// Uninstall one endpoint (the endpoint command manager).
pub const MARK_FOR_UNINSTALL: &str = "mutation markForUninstall($input: CommandRequestInput!) { markForUninstall(input: $input) { Success Reason requestID } }";

/// The answer of every bulk-job mutation and status query (secureworks/taegis-sdk-python
/// `services/assets2/types.py`: `BulkOpPayloadV2 { id status }`, `TaskInfoPayload { id status
/// metadata: TaskInfoMetadata { numEndpoints numSucceeded numFailed syncSucceeded } }`,
/// `status: BulkOpStatusV2`).
const JOB_FIELDS: &str = "id status";
const TASK_FIELDS: &str =
    "id status metadata { numEndpoints numSucceeded numFailed syncSucceeded }";

/// Start a soft-delete job for the assets the filter selects (SDK `assets2/mutations.py`
/// `deleteAssetsV2(input: DeleteAssetsInputV2 { filter: AssetFilter })`).
pub static DELETE_ASSETS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "mutation deleteAssetsV2($input: DeleteAssetsInputV2!) {{ deleteAssetsV2(input: $input) {{ {JOB_FIELDS} }} }}"
    )
});

/// Start a restore job (SDK `restoreAssetsV2(input: RestoreAssetsInputV2 { filter })`).
pub static RESTORE_ASSETS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "mutation restoreAssetsV2($input: RestoreAssetsInputV2!) {{ restoreAssetsV2(input: $input) {{ {JOB_FIELDS} }} }}"
    )
});

/// Start a job moving the assets to an endpoint group (SDK `assets2/mutations.py`
/// `assignBulkAssetsToGroup(input: AssignBulkAssetsToGroupInput { groupId filter })`; the
/// endpoint-management service has an older per-id form on another gateway, not used).
pub static ASSIGN_GROUP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "mutation assignBulkAssetsToGroup($input: AssignBulkAssetsToGroupInput!) {{ assignBulkAssetsToGroup(input: $input) {{ {JOB_FIELDS} }} }}"
    )
});

/// The status query of a job (`deleteAssetsStatusV2`, `restoreAssetsStatusV2`,
/// `assignBulkAssetsToGroupStatus`, each `(id)` → `TaskInfoPayload`), with the job id as a
/// string literal ([`unconfirmed::STATUS_ID_AS_LITERAL`]).
pub fn job_status(field: &str, job_id: &str) -> String {
    // A JSON string is a valid GraphQL string literal (same escapes).
    let literal = serde_json::Value::String(job_id.to_string()).to_string();
    format!("query {field} {{ {field}(id: {literal}) {{ {TASK_FIELDS} }} }}")
}

/// Every endpoint group of the tenant (SDK `services/endpoint_management_service/queries.py`
/// `allEndpointGroups` → `[EndpointGroup]`), served on the endpoint-management gateway
/// [`ENDPOINT_GROUPS_PATH`], not `/graphql`.
pub const ALL_ENDPOINT_GROUPS: &str =
    "query allEndpointGroups { allEndpointGroups { id name isDefault } }";

/// The endpoint-management service's gateway (SDK
/// `services/endpoint_management_service/__init__.py`: `_gateway = "/agent-graphql"`).
pub const ENDPOINT_GROUPS_PATH: &str = "/agent-graphql";

/// The client fields an `ApiClient` is made from.
const CLIENT_FIELDS: &str =
    "id clientID name tenantID createdAt updatedAt roleAssignments { roleID roleName }";

pub static CLIENTS_SEARCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "query clientsSearch($filters: ClientsSearchInput!) {{ clientsSearch(filters: $filters) {{ totalCount results {{ {CLIENT_FIELDS} }} }} }}"
    )
});

pub static CLIENT: LazyLock<String> =
    LazyLock::new(|| format!("query client($id: ID!) {{ client(id: $id) {{ {CLIENT_FIELDS} }} }}"));

pub static CREATE_CLIENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "mutation createClient($name: String!, $roles: [String!]) {{ createClient(name: $name, roles: $roles) {{ clientSecret client {{ {CLIENT_FIELDS} }} }} }}"
    )
});

pub static ROTATE_CLIENT_SECRET: LazyLock<String> = LazyLock::new(|| {
    format!(
        "mutation rotateClientSecret($id: ID!) {{ rotateClientSecret(id: $id) {{ clientSecret client {{ {CLIENT_FIELDS} }} }} }}"
    )
});

pub static DELETE_CLIENT: LazyLock<String> = LazyLock::new(|| {
    format!("mutation deleteClient($id: ID!) {{ deleteClient(id: $id) {{ {CLIENT_FIELDS} }} }}")
});

/// Every document with the top-level field its answer is read from.
pub fn all() -> Vec<(&'static str, &'static str)> {
    vec![
        ("assetsV2", ASSETS_PAGE.as_str()),
        ("assetsV2", ASSETS_COUNT),
        ("markForUninstall", MARK_FOR_UNINSTALL),
        ("clientsSearch", CLIENTS_SEARCH.as_str()),
        ("client", CLIENT.as_str()),
        ("createClient", CREATE_CLIENT.as_str()),
        ("rotateClientSecret", ROTATE_CLIENT_SECRET.as_str()),
        ("deleteClient", DELETE_CLIENT.as_str()),
        ("deleteAssetsV2", DELETE_ASSETS.as_str()),
        ("restoreAssetsV2", RESTORE_ASSETS.as_str()),
        ("assignBulkAssetsToGroup", ASSIGN_GROUP.as_str()),
    ]
}

/// The status documents for one sample job id (for the tests).
pub fn status_examples() -> Vec<(&'static str, String)> {
    [
        "deleteAssetsStatusV2",
        "restoreAssetsStatusV2",
        "assignBulkAssetsToGroupStatus",
    ]
    .into_iter()
    .map(|f| (f, job_status(f, "job-\"1\"")))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};

    fn top_level_field(doc: &ExecutableDocument) -> (OperationType, String, String) {
        let (name, op) = doc.operations.iter().next().expect("one operation");
        let op = &op.node;
        let field = match &op.selection_set.node.items[0].node {
            Selection::Field(f) => f.node.name.node.to_string(),
            other => panic!("{other:?}"),
        };
        (
            op.ty,
            name.map(|n| n.to_string()).unwrap_or_default(),
            field,
        )
    }

    #[test]
    fn every_document_parses_and_is_named_after_its_field() {
        for (field, text) in all() {
            let doc = parse_query(text).unwrap_or_else(|e| panic!("{field}: {e}\n{text}"));
            assert_eq!(doc.operations.iter().count(), 1, "{field}");
            let (ty, name, top) = top_level_field(&doc);
            assert_eq!(top, field);
            assert_eq!(name, field, "operation name equals the field name");
            let mutation = matches!(
                field,
                "markForUninstall"
                    | "createClient"
                    | "rotateClientSecret"
                    | "deleteClient"
                    | "deleteAssetsV2"
                    | "restoreAssetsV2"
                    | "assignBulkAssetsToGroup"
            );
            assert_eq!(ty == OperationType::Mutation, mutation, "{field}");
        }
    }

    #[test]
    fn no_deprecated_or_snake_case_fields() {
        for (field, text) in all() {
            for banned in [
                "connectionStatus",
                " status ",
                "client_id",
                "client_secret",
                "tenant_id",
                "created_at",
                "updated_at",
                "role_assignments",
            ] {
                // `status` is deprecated on assets only; jobs report theirs in `status`.
                let job = field.ends_with("AssetsV2") || field == "assignBulkAssetsToGroup";
                if banned == " status " && job {
                    continue;
                }
                assert!(!text.contains(banned), "{field} asks for {banned}");
            }
        }
        assert!(ASSETS_PAGE.contains(unconfirmed::ENDPOINT_GROUP_SELECTION));
    }

    #[test]
    fn job_status_examples_parse_and_ask_for_their_field() {
        for (field, text) in status_examples() {
            let doc = parse_query(&text).unwrap_or_else(|e| panic!("{field}: {e}\n{text}"));
            assert_eq!(top_level_field(&doc).2, field);
        }
    }
}
