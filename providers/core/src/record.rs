//! The agent record every provider produces: SPEC's CSV columns plus the vendor's raw JSON.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One registered endpoint agent as seen by one provider. (`Default` is the empty record:
/// no text, nothing seen, `raw` null.)
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Configured provider name (`[providers.<name>]`).
    pub provider: String,
    /// Provider kind (`secure-endpoint`, …).
    pub kind: String,
    /// The id the vendor's own per-agent calls take.
    pub agent_id: String,
    pub hostname: String,
    /// Last time the vendor saw the agent, if it reports one.
    pub last_seen: Option<Timestamp>,
    pub os: Option<String>,
    pub agent_version: Option<String>,
    /// Internal addresses first, then external.
    pub ip_addresses: Vec<String>,
    /// Group name where the vendor has one, else its id.
    pub group: Option<String>,
    /// MAC addresses where the vendor reports them (lower case, `:`-separated), for matching
    /// the same machine across providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mac_addresses: Vec<String>,
    /// Hardware serial number where the vendor reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The vendor already shows an uninstall pending for this agent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_uninstall: bool,
    /// The vendor's own record, for `-o json` (`null` when the listing was asked not to
    /// keep it, see [`crate::ListQuery::keep_raw`]).
    #[serde(default)]
    pub raw: serde_json::Value,
}

impl AgentRecord {
    /// Whole days between `last_seen` and `now`, if the last-seen time is known.
    pub fn days_since_seen(&self, now: Timestamp) -> Option<i64> {
        self.last_seen
            .map(|seen| crate::time::whole_days_between(seen, now))
    }

    /// The identity a bulk command acts on, with the last-seen time to re-check against.
    pub fn to_ref(&self) -> AgentRef {
        AgentRef {
            provider: self.provider.clone(),
            agent_id: self.agent_id.clone(),
            hostname: Some(self.hostname.clone()).filter(|h| !h.is_empty()),
            last_seen: self.last_seen,
        }
    }
}

/// The identity of one agent a bulk command acts on, as read from a plan file or `--id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRef {
    pub provider: String,
    pub agent_id: String,
    pub hostname: Option<String>,
    /// The last-seen time recorded in the plan; the re-check compares against it.
    pub last_seen: Option<Timestamp>,
}
