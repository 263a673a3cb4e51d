//! Every Secure Access behaviour that no primary source confirms, in one place
//! (`shared/vendors/secure-access.md` marks them UNCONFIRMED). Change a guess here and the
//! client follows; the simulator has a knob for each one that matters on the wire, and
//! `docs/secure-access.md` lists them.

/// The child organization is selected with this header (Umbrella's multi-org behaviour).
pub const ORG_HEADER: &str = "X-Umbrella-OrgId";

/// Umbrella documents the org header on the token request; a Cisco KB describes it on API
/// requests made with the parent's token. Sending it on both is harmless when one is ignored.
pub const ORG_HEADER_ON_TOKEN_REQUEST: bool = true;
pub const ORG_HEADER_ON_API_REQUESTS: bool = true;

/// Umbrella answers an expired token with HTTP 400 `{"error":"invalid_request"}` instead of
/// 401. When a request gets exactly that, the token is refreshed and the request sent once
/// more (a 401 is refreshed by the shared plumbing anyway).
pub const EXPIRED_TOKEN_MAY_BE_400_INVALID_REQUEST: bool = true;

/// How a roaming computer that never synced appears: `lastSync` is "required" in the spec,
/// so such a device is assumed to carry `null` (or no field, or an unparseable value); all
/// three are read as "unknown last-seen time".
pub const NEVER_SYNCED_IS_NULL: bool = true;

/// Whether `lastSyncBefore` ever matches a device without a sync time is not documented, so
/// the server-side hint is only sent when unknown devices are not wanted.
pub const SEND_LAST_SYNC_BEFORE_ONLY_WITHOUT_UNKNOWN: bool = true;

/// `name` filter semantics (exact? substring? case?) are undocumented: `--host` is applied on
/// the client only.
pub const SEND_NAME_FILTER: bool = false;

/// `deviceId` is documented only as a hex string; every sample has 16 upper-case hex digits.
/// Validation accepts 1..=64 hex digits of either case.
pub const DEVICE_ID_MAX_LEN: usize = 64;

/// Network tunnel groups fall under the deployments quota on commercial (the 3000/min
/// exemption is only published for Government), so they share the deployments limiter.
pub const TUNNELS_SHARE_DEPLOYMENTS_QUOTA: bool = true;

/// Cisco's definition lists no 400 for `POST /admin/v2/apiKeys`; a body its request model
/// refuses (unknown field, bad name, wrong type) is assumed to be answered 400 in the Key
/// Admin error shape. (A non-JSON body is 415, which is published.)
pub const KEY_ADMIN_VALIDATION_STATUS: u16 = 400;

/// Whether the Key Admin list shows Key Admin keys themselves is not documented; the
/// simulator lists ordinary API keys only (agentctl never deletes its own keys either way).
pub const KEY_LIST_SHOWS_KEY_ADMIN_KEYS: bool = false;

/// Whether refreshing a key also ends the access tokens already issued with the old secret is
/// not documented; the simulator keeps them until they expire (only the old secret stops
/// working).
pub const REFRESH_REVOKES_TOKENS: bool = false;

/// `Retry-After` / `X-RateLimit-*` on a 429 are undocumented: the client never relies on them
/// (its own limiter keeps under the published quotas; the shared plumbing backs off anyway).
pub const RATE_LIMIT_HEADERS_DOCUMENTED: bool = false;
