//! Every Apex Central behaviour that no primary source confirms, in one place
//! (`shared/vendors/apex-central.md` marks them UNCONFIRMED). Change a guess here and the
//! client, docs and simulator follow.

use std::time::Duration;

/// Canonical request headers (headers whose name starts with `API`) are part of the checksum,
/// but their format is undocumented and every sample hashes the empty string. agentctl never
/// sends such a header, so this part is always empty; a request that carries one is refused
/// before it is sent rather than signed with a guess.
pub const CANONICAL_HEADERS: &str = "";

/// Whether the server decodes the query string before hashing is unconfirmed. agentctl hashes
/// the path and query exactly as sent (percent-encoded, then lower-cased), which is what the
/// documented formula says and what the simulator checks.
pub const CHECKSUM_OVER_ENCODED_QUERY: bool = true;

/// How `host_name` matches on `GET ProductAgents` (exact? case?) is unconfirmed. agentctl sends
/// the selector only for a `--host` without wildcards, and always applies the same
/// case-insensitive filter on the client as well.
pub const SEND_HOST_NAME_SELECTOR: bool = true;

/// The agent list has no documented paging parameter: read as one unpaginated response.
pub const AGENT_LIST_IS_UNPAGINATED: bool = true;

/// An action whose selectors matched no agent the command applies to answers `result_code` 1
/// with an empty `result_content` (XSOAR reads this as "No agents were affected"). agentctl
/// reports it as a per-agent failure ("not relocatable by the API", "not uninstallable by the
/// API"), never as success. The simulator answers this way for agents lacking the capability.
pub const EMPTY_RESULT_MEANS_NOT_APPLICABLE: bool = true;

/// Extra parameters of `cmd_uninstall_agent`: no reference page is known. agentctl sends only
/// `act`, `allow_multiple_match: false` and `entity_id`.
pub const UNINSTALL_EXTRA_PARAMS: &[&str] = &[];

/// `allow_multiple_match` is documented as a "String" True/False, while the docs' examples and
/// XSOAR send JSON booleans. agentctl sends a JSON boolean; the simulator accepts both.
pub const ALLOW_MULTIPLE_MATCH_AS_BOOL: bool = true;

/// `entity_id` format: the only sample (`8a1a84550462-40bc9afc-3770-16ac-cd6c`) is 32 hex digits
/// in five hyphen-separated groups, but not in GUID order. agentctl accepts any five groups of
/// hex digits totalling 32.
pub const ENTITY_ID_HEX_DIGITS: usize = 32;

/// `relocate_to_folder_path` is required by the API; what an empty value does is unknown, so
/// agentctl requires `--folder` for relocate instead of guessing a default.
pub const RELOCATE_REQUIRES_FOLDER: bool = true;

/// Allowed communication time-out values are unconfirmed; the simulator defaults to this.
pub const SIM_COMMUNICATION_TIMEOUT: Duration = Duration::from_secs(60);

/// How far in the future an `iat` may be (clock skew) is unconfirmed; the simulator rejects
/// tokens issued more than this ahead of its clock.
pub const SIM_FUTURE_SKEW: Duration = Duration::from_secs(30);

/// HTTP status for each negative `result_code` beyond the documented 400/401/500 classes is
/// unconfirmed: the simulator answers authentication codes (-2..-9) with 401, -99 with 500 and
/// the rest with 400. The client keys on `result_code`, never on the status alone.
pub fn sim_http_status(result_code: i64) -> u16 {
    match result_code {
        -9..=-2 => 401,
        -99 => 500,
        _ => 400,
    }
}
