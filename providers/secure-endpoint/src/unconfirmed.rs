//! Every Secure Endpoint behaviour that no primary source confirms, in one place
//! (`shared/vendors/secure-endpoint.md` marks them UNCONFIRMED). Change a guess here and the
//! client, docs and simulator knobs follow.

use std::time::Duration;

/// Lifetime of a `/v3/access_tokens` token when the response does not say (`expires_in`
/// absent). Assumed no longer than the XDR token it was exchanged from; a 401 refreshes it
/// earlier anyway.
pub const V3_TOKEN_ASSUMED_LIFETIME: Duration = Duration::from_secs(600);

/// Page size for `GET /v3/organizations` (`size` is required; the name of the paging
/// parameter is unconfirmed, so only one page is read and a larger total is reported).
pub const V3_ORGANIZATIONS_PAGE_SIZE: u32 = 100;

/// `GET /v1/computers` accepts `last_seen_over`, but its unit (seconds?) is unconfirmed. A
/// wrong unit would silently drop agents, so stale detection does not send it and filters
/// the full listing on the client instead.
pub const SEND_LAST_SEEN_OVER: bool = false;

/// `hostname[]` matching (exact, prefix, case) is unconfirmed, so `--host` is applied on
/// the client; the server filter is not sent.
pub const SEND_HOSTNAME_FILTER: bool = false;

/// An uninstall request for a GUID the server does not know answers 404 (assumed, no
/// reference page): reported as `skipped:gone`, not as a failure.
pub const UNINSTALL_404_MEANS_GONE: bool = true;
