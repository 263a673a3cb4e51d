//! Serde types of the Secure Access wire format (only the fields agentctl reads; whole objects
//! are kept as `raw`).

use serde::Deserialize;
use serde_json::Value;

/// `POST /auth/v2/token` is read by the oauth2 crate; nothing here.
///
/// A roaming computer (`GET /deployments/v2/roamingcomputers`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoamingComputer {
    pub device_id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Read leniently: `null`, absent or unparseable means unknown.
    #[serde(default)]
    pub last_sync: Option<Value>,
    #[serde(default)]
    pub os_version_name: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
}

/// `GET /deployments/v2/networktunnelgroups` envelope.
#[derive(Debug, Deserialize)]
pub struct TunnelGroupPage {
    pub data: Vec<Value>,
    #[serde(default)]
    pub offset: Option<u64>,
    #[serde(default)]
    pub limit: Option<u64>,
    pub total: u64,
}

/// The fields of a network tunnel group the `tunnels` listing shows.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelGroup {
    pub id: Value,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub device_type: Option<String>,
    #[serde(default)]
    pub hubs: Vec<Hub>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hub {
    #[serde(default)]
    pub is_primary: Option<bool>,
    #[serde(default)]
    pub datacenter: Option<Datacenter>,
    #[serde(default)]
    pub status: Option<HubStatus>,
    #[serde(default)]
    pub tunnels_count: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub struct Datacenter {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct HubStatus {
    #[serde(default)]
    pub status: Option<String>,
}

/// A Key Admin API key as `KeyForList` / `KeyAdminKey` / `KeyWithSecret` / `KeyRefreshSecret`
/// define it (Cisco's unified Secure Access OpenAPI definition, as generated into the official
/// Python SDK: `secureaccess/models/key_admin_key.py` and siblings). Only the fields agentctl
/// shows are read here; the whole object is kept as `raw` (without the secret).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// Required, a string.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Required: `"scope:permission"` strings.
    pub scopes: Vec<String>,
    /// Optional in `KeyAdminKey` / `KeyForList`, required in the secret-bearing models.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Required ISO 8601 date-times.
    pub created_at: String,
    pub modified_at: String,
}

/// `GET /admin/v2/apiKeys` (`KeysResponseList`): `{keys, offset, limit, total, message}`, all
/// optional in the model; `limit` 0 means no limit.
#[derive(Debug, Deserialize)]
pub struct KeysResponseList {
    pub keys: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub total: Option<i64>,
}

/// Error bodies: roaming computers `{statusCode, error, message}`, network tunnel groups
/// `{error, requestId, validationErrors}`, token endpoint `{message}`, Umbrella's expired
/// token `{"error":"invalid_request"}`, Key Admin `{description, message}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// Key Admin errors (`UnauthorizedError`, `NotFoundError`, …): `{description, message}`
    /// where `message` is only `"error"`.
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub validation_errors: Option<serde_json::Map<String, Value>>,
}

/// A JSON id (number or string) as text.
pub fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
