//! Every Taegis behaviour that no primary source confirms, in one place
//! (`shared/vendors/taegis.md` marks them UNCONFIRMED). Change a guess here and the client
//! follows; the simulator implements the same guess (with a knob where it matters on the
//! wire), and `docs/taegis.md` lists them.

/// `markForUninstall`'s `endpointID`: the sources do not say whether it takes the asset `id`,
/// `hostId` or `sensorId`. agentctl sends the asset `id` (the id every other asset call takes).
pub const UNINSTALL_ENDPOINT_ID_FIELD: &str = "id";

/// The largest `first` `assetsV2` accepts is not documented; pages of this size are asked for.
pub const ASSETS_PAGE_SIZE: i32 = 500;

/// Sub-fields of `AssetV2.endpointGroup`: the field exists (vendor file §4.1) but its type's
/// fields are not listed. `name` is the group's display name, `id` its identifier.
pub const ENDPOINT_GROUP_SELECTION: &str = "endpointGroup { id name }";

/// Wire format of the `Time` scalar: assumed RFC 3339 (`2026-10-01T12:00:00.123Z`), both in
/// answers and in filter values.
pub const TIME_IS_RFC3339: bool = true;

/// Whether the `hostname` / `hostname_contains` filters ignore case. Unknown, so agentctl
/// assumes they do not: it sends only a run of the host pattern that has no letters with
/// case (digits, `-`, `.`, …; at least [`HOSTNAME_HINT_MIN_LEN`] characters) as
/// `hostname_contains`, which can only return more assets than the case-insensitive
/// client-side match keeps. Set to `true` once confirmed, and the exact name (or the literal
/// prefix) is sent instead.
pub const HOSTNAME_FILTER_IGNORES_CASE: bool = false;

/// The shortest case-free run worth sending as `hostname_contains`.
pub const HOSTNAME_HINT_MIN_LEN: usize = 3;

/// Whether `lastSeenAt_lt` ever matches an asset whose `lastSeenAt` is null is not documented,
/// so the stale hint is only sent when assets without a last-seen time are not wanted.
pub const SEND_LAST_SEEN_FILTER_ONLY_WITHOUT_UNKNOWN: bool = true;

/// `clientsSearch` paging: `pageOffset` is assumed to count pages (0 = the first page of
/// `perPage` clients), like the deprecated `clients(page, perPage)`. The client also stops on a
/// page that brings no new client, so a server counting items instead cannot loop it.
pub const CLIENTS_PAGE_OFFSET_COUNTS_PAGES: bool = true;
pub const CLIENTS_FIRST_PAGE_OFFSET: i32 = 0;
pub const CLIENTS_PER_PAGE: i32 = 100;

/// How the service answers a GraphQL call without `X-Tenant-Context` (agentctl always sends
/// it; the simulator answers like this): HTTP 400 with a GraphQL error.
pub const MISSING_TENANT_STATUS: u16 = 400;

/// How the service answers a tenant the token is not valid for: HTTP 403 with a GraphQL error.
pub const FOREIGN_TENANT_STATUS: u16 = 403;

/// GraphQL `extensions.code` values (Apollo conventions; Taegis' own codes are unconfirmed).
pub const CODE_UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const CODE_FORBIDDEN: &str = "FORBIDDEN";
pub const CODE_NOT_FOUND: &str = "NOT_FOUND";
pub const CODE_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
pub const CODE_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
pub const CODE_BAD_USER_INPUT: &str = "BAD_USER_INPUT";

/// A document the gateway cannot validate is answered with HTTP 400 and `errors[]` (Apollo
/// gateway behaviour); the client reads `errors[]` from any status, so 200 works too.
pub const VALIDATION_ERROR_STATUS: u16 = 400;

/// `markForUninstall` sent again with the same `requestID` (a retry after a lost answer) is
/// assumed to come back `Success: false` with a `Reason` containing this word; agentctl then
/// reports the earlier request as accepted instead of failing the agent.
pub const DUPLICATE_REQUEST_REASON: &str = "duplicate";

/// `markForUninstall` for an asset the tenant no longer has is assumed to come back
/// `Success: false` with a `Reason` containing this text; agentctl reports the agent as gone
/// (a retry after the asset left), not failed.
pub const NOT_FOUND_REASON: &str = "not found";

/// `Client.roleAssignments { roleID roleName }`: `roleName` is assumed to be a display name;
/// the ids of the four built-in roles come from taegis-magic (vendor file §5.3).
pub const ROLE_IDS: &[(&str, &str)] = &[
    ("administrator", "ba0fdcbd-e87d-4bdd-ae7d-ca6118b25068"),
    ("analyst", "a4903f9f-465b-478f-a24e-82fa2e129d2e"),
    ("responder", "a72dace7-4536-4dbc-947d-015a8eb65f4d"),
    ("auditor", "ace1cae4-59fd-4fd1-9500-40077dc529a7"),
];

/// Roles each command needs (docs only; inferred or guessed): list/stale work with the
/// default Tenant Analyst role; uninstall is assumed to need Tenant Responder or
/// Administrator; API-client management Tenant Administrator.
pub const ROLE_FOR_UNINSTALL: &str = "responder";
pub const ROLE_FOR_CLIENTS: &str = "administrator";

/// Token lifetime: not documented. agentctl reads the JWT's `exp` (as the official SDK does)
/// and falls back to `expires_in`; the simulator issues tokens for this long by default.
pub const SIM_TOKEN_LIFETIME_SECS: u64 = 3600;

/// HTTP 429 numbers are not published; the simulator answers with `Retry-After` (the SDK
/// honours it) after this many seconds.
pub const SIM_RETRY_AFTER_SECS: u64 = 1;

/// Agents per bulk re-check query (`where: {or: [{id: …}, …]}`). The service's limits on
/// the size of an `or` list or of a query document are not published; 100 ids keep a query
/// under ~6 KB.
pub const RECHECK_BATCH: usize = 100;
/// Assets per bulk job (`deleteAssetsV2`, `restoreAssetsV2`, `assignBulkAssetsToGroup`). The
/// service publishes no limit on a job's filter; each job selects its assets with
/// `filter: {where: {or: [{id: …}, …]}}`, and this many `or` branches keep one document small.
/// 1,000 assets are 10 jobs.
pub const BULK_JOB_BATCH_SIZE: usize = 100;

/// Jobs one `act_batch` call keeps running at once when it is given more than one batch
/// (agentctl's choice; the service publishes no limit on concurrent jobs).
pub const JOBS_IN_FLIGHT: usize = 4;

/// How a job's status is polled: first wait, the longest wait between polls (the wait
/// doubles), and how long a job may stay pending or in progress before agentctl gives up on
/// it (the agents fail with the job id, so the job can be checked in the console later).
/// The service documents no timing; these are agentctl's choices.
pub const JOB_POLL_FIRST_MS: u64 = 250;
pub const JOB_POLL_MAX_MS: u64 = 5_000;
pub const JOB_TIMEOUT_SECS: u64 = 600;

/// The status queries (`deleteAssetsStatusV2(id)`, …) take the job id in an argument whose
/// GraphQL type (`ID` or `String`) is not published (the SDK fills it in from introspection).
/// A variable declared with the wrong one of the two is refused by validation, a string
/// literal is valid for both, so agentctl writes the id into the document as a literal.
pub const STATUS_ID_AS_LITERAL: bool = true;

/// `assignBulkAssetsToGroup`'s `groupId` is assumed to take the endpoint group's `id` (the
/// field `AssetV2.endpointGroup { id }` shows), not `EndpointGroup.groupId`.
pub const GROUP_ID_FIELD: &str = "id";

/// Soft-deleted assets are assumed absent from `assetsV2` (the list shows registered assets
/// only) and present again after `restoreAssetsV2`; `deletedAt` is not used.
pub const DELETED_ASSETS_HIDDEN_FROM_LIST: bool = true;
