//! Serde types of the Secure Endpoint wire format (v1 envelope, computers, v3 organizations).

use agentctl_core::wire::Text;
use serde::Deserialize;

/// v1 list envelope: `version`, `metadata`, `data`.
#[derive(Debug, Deserialize)]
pub struct V1List<T> {
    #[serde(default)]
    pub metadata: V1Metadata,
    pub data: Vec<T>,
}

/// v1 single-object envelope.
#[derive(Debug, Deserialize)]
pub struct V1Item<T> {
    pub data: T,
}

#[derive(Debug, Default, Deserialize)]
pub struct V1Metadata {
    #[serde(default)]
    pub links: V1Links,
    pub results: Option<V1Results>,
}

#[derive(Debug, Default, Deserialize)]
pub struct V1Links {
    pub next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct V1Results {
    pub total: Option<u64>,
    pub index: Option<u64>,
    pub items_per_page: Option<u64>,
}

/// `data` of `DELETE /v1/computers/{guid}`: `{"deleted": true, "connector_guid": "…"}`
/// (Cisco's amp-01-basics `02h_delete_computer.py`; the failure shape with `deleted: false`
/// is XSOAR's `computer_delete_fail_response.json`).
#[derive(Debug, Deserialize)]
pub struct DeleteAnswer {
    #[serde(default)]
    pub deleted: Option<bool>,
    #[serde(default)]
    pub connector_guid: Option<String>,
}

/// The fields of a computer object agentctl reads (the whole object is kept as `raw` only
/// when the output shows it). Text agentctl keeps is owned; text it only reads on the way
/// (the last-seen time, group ids, MAC addresses) is borrowed from the response body when it
/// has no escapes ([`Text`]; a plain `Cow` inside an `Option` would always be copied), so
/// parsing a page allocates little beyond the agent records themselves.
#[derive(Debug, Deserialize)]
pub struct Computer<'a> {
    pub connector_guid: String,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default, borrow)]
    pub last_seen: Option<Text<'a>>,
    #[serde(default)]
    pub operating_system: Option<String>,
    #[serde(default)]
    pub connector_version: Option<String>,
    #[serde(default)]
    pub internal_ips: Vec<String>,
    #[serde(default)]
    pub external_ip: Option<String>,
    #[serde(default, borrow)]
    pub group_guid: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub groups: Vec<GroupRef<'a>>,
    /// `[{mac, ip}]` (vendor file §4, computer object; XSOAR `computer_list_response.json`).
    #[serde(default, borrow)]
    pub network_addresses: Option<Vec<NetworkAddress<'a>>>,
}

#[derive(Debug, Deserialize)]
pub struct NetworkAddress<'a> {
    #[serde(default, borrow)]
    pub mac: Option<Text<'a>>,
}

impl Computer<'_> {
    /// The MAC addresses of `network_addresses`, normalised, without repeats.
    pub fn mac_addresses(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for mac in self.network_addresses.iter().flatten().filter_map(|a| {
            a.mac
                .as_deref()
                .and_then(agentctl_core::identity::normalize_mac)
        }) {
            if !out.contains(&mac) {
                out.push(mac);
            }
        }
        out
    }
}

#[derive(Debug, Deserialize)]
pub struct GroupRef<'a> {
    #[serde(default, borrow)]
    pub guid: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub name: Option<Text<'a>>,
}

/// A group from `GET /v1/groups` (name ↔ GUID, for moving computers).
#[derive(Debug, Clone, Deserialize)]
pub struct Group {
    pub guid: String,
    #[serde(default)]
    pub name: String,
}

/// v1 / v3 error envelope entry: `{"error_code", "description", "details": [..]}`.
#[derive(Debug, Deserialize)]
pub struct V1Error {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub details: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

/// `POST /v3/access_tokens` response.
#[derive(Debug, Deserialize)]
pub struct AccessToken {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
}

/// `GET /v3/organizations` envelope.
#[derive(Debug, Deserialize)]
pub struct V3Organizations {
    pub data: Vec<Organization>,
    #[serde(default)]
    pub meta: Option<V3Meta>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Organization {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "organizationIdentifier")]
    pub organization_identifier: String,
}

#[derive(Debug, Deserialize)]
pub struct V3Meta {
    pub total: Option<u64>,
}
