//! The Taegis answers agentctl reads, and how they become SPEC's records.

use std::net::IpAddr;

use agentctl_core::ApiClient;
use agentctl_core::time::parse_timestamp;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::unconfirmed;

/// A GraphQL response body.
#[derive(Debug, Deserialize)]
pub struct GraphQlResponse {
    #[serde(default)]
    pub data: Option<Value>,
    #[serde(default)]
    pub errors: Option<Vec<GraphQlError>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphQlError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub path: Option<Vec<Value>>,
    #[serde(default)]
    pub extensions: Option<Value>,
}

impl GraphQlError {
    pub fn code(&self) -> Option<&str> {
        self.extensions.as_ref()?.get("code")?.as_str()
    }
}

/// One `assetsV2` page (type `AssetsV2`: `totalCount`, `assets`, `pageInfo` of type
/// `PageInfoV2` with `endCursor` and `hasNextPage`; secureworks/taegis-sdk-python
/// `taegis_sdk_python/services/assets2/types.py`): the assets as JSON trees (`A` = `Value`,
/// when the vendor JSON is kept) or typed ([`Asset`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetsPage<A = Value> {
    #[serde(default)]
    pub total_count: Option<i64>,
    #[serde(default = "Vec::new")]
    pub assets: Vec<A>,
    #[serde(default)]
    pub page_info: Option<PageInfo>,
}

/// A GraphQL answer to the `assetsV2` query read straight into a typed page, without a JSON
/// tree of the page (and a copy of each asset) first: `{"data": {"assetsV2": {…}}}` with no
/// `errors`. Only a plain success reads this way; for anything else (errors, no data, data
/// not an object, a key twice, an asset that does not read as [`Asset`]) the caller reads
/// the answer generically, which says precisely what is wrong with it.
#[derive(Debug, Deserialize)]
pub struct AssetsAnswer {
    #[serde(default)]
    pub data: Option<AssetsData>,
    #[serde(default)]
    pub errors: Option<Vec<serde::de::IgnoredAny>>,
}

impl AssetsAnswer {
    /// The page, when the answer is a plain success.
    pub fn page(self) -> Option<AssetsPage<Asset>> {
        if self.errors.is_some_and(|e| !e.is_empty()) {
            return None;
        }
        self.data?.assets_v2
    }
}

/// `data` of [`AssetsAnswer`]: a JSON object whose `assetsV2` is the page (other fields
/// ignored, as the generic reading ignores them).
#[derive(Debug)]
pub struct AssetsData {
    pub assets_v2: Option<AssetsPage<Asset>>,
}

impl<'de> Deserialize<'de> for AssetsData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = AssetsData;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a data object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AssetsData, A::Error> {
                let mut page: Option<Option<AssetsPage<Asset>>> = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "assetsV2" {
                        if page.is_some() {
                            return Err(serde::de::Error::duplicate_field("assetsV2"));
                        }
                        page = Some(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(AssetsData {
                    assets_v2: page.flatten(),
                })
            }
        }
        // Only an object: a struct would also read from an array.
        d.deserialize_map(Visit)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    #[serde(default)]
    pub end_cursor: Option<String>,
    #[serde(default)]
    pub has_next_page: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    pub id: String,
    #[serde(default)]
    pub last_seen_at: Option<Value>,
    #[serde(default)]
    pub sensor_version: Option<String>,
    #[serde(default)]
    pub os_family: Option<String>,
    #[serde(default)]
    pub os_version: Option<String>,
    #[serde(default)]
    pub hostnames: Option<Vec<Hostname>>,
    #[serde(default)]
    pub ip_addresses: Option<Vec<IpAddress>>,
    #[serde(default)]
    pub endpoint_group: Option<EndpointGroup>,
    #[serde(default)]
    pub pending_uninstall: Option<bool>,
    #[serde(default)]
    pub ethernet_addresses: Option<Vec<EthernetAddress>>,
    #[serde(default)]
    pub bios_serial: Option<String>,
}

/// `EthernetAddressV2` (only `mac` is asked for).
#[derive(Debug, Deserialize)]
pub struct EthernetAddress {
    #[serde(default)]
    pub mac: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Hostname {
    #[serde(default)]
    pub hostname: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct IpAddress {
    #[serde(default)]
    pub ip: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct EndpointGroup {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// The SPEC columns of one asset.
#[derive(Debug, Clone, PartialEq)]
pub struct AssetColumns {
    pub agent_id: String,
    pub hostname: String,
    pub last_seen: Option<Timestamp>,
    /// Set when `lastSeenAt` was present but unreadable.
    pub unreadable_last_seen: Option<String>,
    pub os: Option<String>,
    pub agent_version: Option<String>,
    pub ip_addresses: Vec<String>,
    pub group: Option<String>,
    /// Normalised MAC addresses (`aa:bb:…`), duplicates removed.
    pub mac_addresses: Vec<String>,
    pub serial_number: Option<String>,
    /// The endpoint group's id (relocate checks it).
    pub group_id: Option<String>,
    pub pending_uninstall: bool,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// `os`: the family and the version, without repeating the family when the version already
/// names it (`Windows` + `Windows 10 Pro` → `Windows 10 Pro`; `linux` + `22.04` →
/// `linux 22.04`).
pub fn os_text(family: Option<String>, version: Option<String>) -> Option<String> {
    match (non_empty(family), non_empty(version)) {
        (Some(f), Some(v)) if v.to_lowercase().starts_with(&f.to_lowercase()) => Some(v),
        (Some(f), Some(v)) => Some(format!("{f} {v}")),
        (f, v) => f.or(v),
    }
}

/// Is `ip` an internal address (private, loopback, link-local, unique-local)?
pub fn is_internal(ip: &str) -> bool {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        Ok(IpAddr::V6(v6)) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

/// SPEC's order: internal addresses first, then external, each in the vendor's order.
pub fn order_addresses(ips: Vec<String>) -> Vec<String> {
    let (mut internal, external): (Vec<String>, Vec<String>) =
        ips.into_iter().partition(|ip| is_internal(ip));
    internal.extend(external);
    internal
}

impl Asset {
    pub fn columns(self) -> AssetColumns {
        let (last_seen, unreadable_last_seen) = match self.last_seen_at {
            None | Some(Value::Null) => (None, None),
            Some(Value::String(text)) if text.trim().is_empty() => (None, None),
            Some(Value::String(text)) => match parse_timestamp(&text) {
                Some(t) => (Some(t), None),
                None => (None, Some(text)),
            },
            Some(other) => (None, Some(other.to_string())),
        };
        let hostname = self
            .hostnames
            .unwrap_or_default()
            .into_iter()
            .find_map(|h| non_empty(h.hostname))
            .unwrap_or_default();
        let ips = self
            .ip_addresses
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| non_empty(a.ip))
            .collect();
        let (group, group_id) = match self.endpoint_group {
            Some(g) => {
                let id = non_empty(g.id);
                (non_empty(g.name).or(id.clone()), id)
            }
            None => (None, None),
        };
        let mut mac_addresses: Vec<String> = Vec::new();
        for mac in self
            .ethernet_addresses
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| {
                e.mac
                    .as_deref()
                    .and_then(agentctl_core::identity::normalize_mac)
            })
        {
            if !mac_addresses.contains(&mac) {
                mac_addresses.push(mac);
            }
        }
        let serial_number = self
            .bios_serial
            .as_deref()
            .and_then(agentctl_core::identity::normalize_serial);
        AssetColumns {
            agent_id: self.id,
            hostname,
            last_seen,
            unreadable_last_seen,
            os: os_text(self.os_family, self.os_version),
            agent_version: non_empty(self.sensor_version),
            ip_addresses: order_addresses(ips),
            group,
            mac_addresses,
            serial_number,
            group_id,
            pending_uninstall: self.pending_uninstall.unwrap_or(false),
        }
    }
}

/// `BulkOpPayloadV2` / `TaskInfoPayload` (secureworks/taegis-sdk-python
/// `services/assets2/types.py`).
#[derive(Debug, Deserialize)]
pub struct TaskInfo {
    #[serde(default)]
    pub id: Option<String>,
    /// `BulkOpStatusV2`: `TASK_STATE_PENDING|FAILED|COMPLETED|IN_PROGRESS`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub metadata: Option<TaskMetadata>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskMetadata {
    #[serde(default)]
    pub num_endpoints: Option<i64>,
    #[serde(default)]
    pub num_succeeded: Option<i64>,
    #[serde(default)]
    pub num_failed: Option<i64>,
    #[serde(default)]
    pub sync_succeeded: Option<bool>,
}

pub const TASK_COMPLETED: &str = "TASK_STATE_COMPLETED";
pub const TASK_FAILED: &str = "TASK_STATE_FAILED";

/// One endpoint group (`allEndpointGroups`; SDK
/// `services/endpoint_management_service/types.py` `EndpointGroup { id name isDefault … }`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointGroupInfo {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_default: Option<bool>,
}

/// `markForUninstall`'s answer (capitalised field names, as the schema has them).
#[derive(Debug, Deserialize)]
pub struct CommandResult {
    #[serde(rename = "Success", default)]
    pub success: Option<bool>,
    #[serde(rename = "Reason", default)]
    pub reason: Option<String>,
    #[serde(rename = "requestID", default)]
    pub request_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSearchResults {
    #[serde(default)]
    pub total_count: Option<i64>,
    #[serde(default)]
    pub results: Option<Vec<Value>>,
}

#[derive(Debug, Deserialize)]
pub struct Client {
    pub id: String,
    #[serde(rename = "clientID", default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "createdAt", default)]
    pub created_at: Option<String>,
    #[serde(rename = "updatedAt", default)]
    pub updated_at: Option<String>,
    #[serde(rename = "roleAssignments", default)]
    pub role_assignments: Option<Vec<RoleAssignment>>,
}

#[derive(Debug, Deserialize)]
pub struct RoleAssignment {
    #[serde(rename = "roleID", default)]
    pub role_id: Option<String>,
    #[serde(rename = "roleName", default)]
    pub role_name: Option<String>,
}

/// The short name of a built-in role id.
pub fn role_name_of(id: &str) -> Option<&'static str> {
    unconfirmed::ROLE_IDS
        .iter()
        .find(|(_, rid)| rid.eq_ignore_ascii_case(id))
        .map(|(name, _)| *name)
}

/// Is `s` a UUID (8-4-4-4-12 hex digits)?
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Role names or ids as `createClient` takes them: a built-in role name (any case) becomes its
/// id, a UUID passes through.
pub fn role_ids(roles: &[String]) -> Result<Vec<String>, String> {
    roles
        .iter()
        .map(|r| {
            let r = r.trim();
            if let Some((_, id)) = unconfirmed::ROLE_IDS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(r))
            {
                Ok(id.to_string())
            } else if is_uuid(r) {
                Ok(r.to_lowercase())
            } else {
                let names: Vec<&str> = unconfirmed::ROLE_IDS.iter().map(|(n, _)| *n).collect();
                Err(format!(
                    "unknown role {r:?}; expected one of {} or a role id (UUID)",
                    names.join(", ")
                ))
            }
        })
        .collect()
}

impl Client {
    /// The `clients` row; `raw` is the client object as received.
    pub fn into_api_client(self, raw: Value) -> ApiClient {
        let roles = self
            .role_assignments
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| {
                non_empty(a.role_name).or_else(|| {
                    let id = non_empty(a.role_id)?;
                    Some(role_name_of(&id).map_or(id, str::to_string))
                })
            })
            .collect();
        ApiClient {
            client_id: non_empty(self.client_id).unwrap_or_else(|| self.id.clone()),
            id: self.id,
            name: self.name.unwrap_or_default(),
            created_at: self.created_at.as_deref().and_then(parse_timestamp),
            updated_at: self.updated_at.as_deref().and_then(parse_timestamp),
            roles,
            raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed(body: &str) -> Result<Option<Vec<String>>, String> {
        let answer: AssetsAnswer = serde_json::from_str(body).map_err(|e| e.to_string())?;
        Ok(answer
            .page()
            .map(|p| p.assets.into_iter().map(|a| a.id).collect()))
    }

    #[test]
    fn a_plain_assets_answer_reads_typed_and_anything_else_does_not() {
        let page = r#"{"totalCount":2,"assets":[{"id":"a","hostnames":[{"hostname":"x"}]},{"id":"b","extra":[1]}],"pageInfo":{"endCursor":"c","hasNextPage":false}}"#;
        assert_eq!(
            typed(&format!(r#"{{"data":{{"other":1,"assetsV2":{page}}}}}"#)),
            Ok(Some(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            typed(&format!(r#"{{"data":{{"assetsV2":{page}}},"errors":[]}}"#)),
            Ok(Some(vec!["a".into(), "b".into()]))
        );
        // Left to the generic reading, which says what is wrong: errors, no data, no page.
        for generic in [
            format!(r#"{{"data":{{"assetsV2":{page}}},"errors":[{{"message":"partial"}}]}}"#),
            r#"{"data":null,"errors":[{"message":"denied"}]}"#.to_string(),
            r#"{"data":{"assetsV2":null}}"#.to_string(),
            r#"{"data":{}}"#.to_string(),
            "{}".to_string(),
        ] {
            assert_eq!(typed(&generic), Ok(None), "{generic}");
        }
        for bad in [
            format!(r#"{{"data":[{page}]}}"#),
            format!(r#"{{"data":{{"assetsV2":{page},"assetsV2":{page}}}}}"#),
            r#"{"data":{"assetsV2":{"assets":[{"hostnames":[]}]}}}"#.to_string(),
            r#"{"data":{"assetsV2":{"assets":[{"id":"a","hostnames":"x"}]}}}"#.to_string(),
            r#"{"data":{"assetsV2":{"assets":{}}}}"#.to_string(),
        ] {
            assert!(typed(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn asset_columns_with_fractions_groups_and_address_order() {
        let raw = json!({
            "id": "a1b2", "hostId": "h", "lastSeenAt": "2026-10-01T12:00:00.123456Z",
            "sensorVersion": "2.14.1", "osFamily": "Windows", "osVersion": "Windows 11 Pro",
            "hostnames": [{"hostname": ""}, {"hostname": "büro-pc-7"}],
            "ipAddresses": [{"ip": "203.0.113.9"}, {"ip": "10.1.2.3"}, {"ip": "fe80::1"}],
            "endpointGroup": {"id": "g1", "name": "Kraków"}
        });
        let c = Asset::deserialize(&raw).unwrap().columns();
        assert_eq!(c.agent_id, "a1b2");
        assert_eq!(c.hostname, "büro-pc-7");
        assert_eq!(
            c.last_seen.unwrap().to_string(),
            "2026-10-01T12:00:00.123456Z"
        );
        assert_eq!(c.os.as_deref(), Some("Windows 11 Pro"));
        assert_eq!(c.agent_version.as_deref(), Some("2.14.1"));
        assert_eq!(c.ip_addresses, vec!["10.1.2.3", "fe80::1", "203.0.113.9"]);
        assert_eq!(c.group.as_deref(), Some("Kraków"));
    }

    #[test]
    fn null_and_missing_fields_are_empty() {
        let raw = json!({"id": "x", "lastSeenAt": null, "hostnames": null, "endpointGroup": {"id": "g9", "name": null}});
        let c = Asset::deserialize(&raw).unwrap().columns();
        assert_eq!(c.last_seen, None);
        assert_eq!(c.unreadable_last_seen, None);
        assert_eq!(c.hostname, "");
        assert!(c.ip_addresses.is_empty());
        assert_eq!(
            c.group.as_deref(),
            Some("g9"),
            "the group id when it has no name"
        );
        let c = Asset::deserialize(&json!({"id": "y", "lastSeenAt": "yesterday"}))
            .unwrap()
            .columns();
        assert_eq!(c.last_seen, None);
        assert_eq!(c.unreadable_last_seen.as_deref(), Some("yesterday"));
    }

    #[test]
    fn os_text_joins_family_and_version() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            os_text(s("linux"), s("22.04")).as_deref(),
            Some("linux 22.04")
        );
        assert_eq!(
            os_text(s("macOS"), s("macOS 14.5")).as_deref(),
            Some("macOS 14.5")
        );
        assert_eq!(os_text(s("windows"), None).as_deref(), Some("windows"));
        assert_eq!(os_text(None, s("10.0")).as_deref(), Some("10.0"));
        assert_eq!(os_text(s(" "), None), None);
    }

    #[test]
    fn internal_addresses() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "fd00::1",
            "fe80::2",
            "::1",
        ] {
            assert!(is_internal(ip), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:db8::1", "not-an-ip"] {
            assert!(!is_internal(ip), "{ip}");
        }
    }

    #[test]
    fn role_names_map_to_ids_and_uuids_pass_through() {
        let ids = role_ids(&[
            "Administrator".into(),
            "responder".into(),
            "A4903F9F-465B-478F-A24E-82FA2E129D2E".into(),
        ])
        .unwrap();
        assert_eq!(
            ids,
            vec![
                "ba0fdcbd-e87d-4bdd-ae7d-ca6118b25068",
                "a72dace7-4536-4dbc-947d-015a8eb65f4d",
                "a4903f9f-465b-478f-a24e-82fa2e129d2e"
            ]
        );
        let e = role_ids(&["superuser".into()]).unwrap_err();
        assert!(
            e.contains("administrator, analyst, responder, auditor"),
            "{e}"
        );
        assert!(!is_uuid("ba0fdcbd-e87d-4bdd-ae7d"));
        assert_eq!(
            role_name_of("ACE1CAE4-59FD-4FD1-9500-40077DC529A7"),
            Some("auditor")
        );
    }

    #[test]
    fn clients_map_role_names_or_ids() {
        let raw = json!({
            "id": "c-1", "clientID": "AbC123", "name": "agentctl", "createdAt": "2026-01-02T03:04:05Z",
            "updatedAt": null,
            "roleAssignments": [
                {"roleID": "ba0fdcbd-e87d-4bdd-ae7d-ca6118b25068", "roleName": "Tenant Administrator"},
                {"roleID": "a4903f9f-465b-478f-a24e-82fa2e129d2e", "roleName": null},
                {"roleID": "11111111-2222-3333-4444-555555555555"}
            ]
        });
        let c = Client::deserialize(&raw)
            .unwrap()
            .into_api_client(raw.clone());
        assert_eq!(c.id, "c-1");
        assert_eq!(c.client_id, "AbC123");
        assert_eq!(
            c.roles,
            vec![
                "Tenant Administrator",
                "analyst",
                "11111111-2222-3333-4444-555555555555"
            ]
        );
        assert_eq!(c.created_at.unwrap().to_string(), "2026-01-02T03:04:05Z");
        assert!(c.updated_at.is_none());
        assert_eq!(c.raw, raw);
    }
}
