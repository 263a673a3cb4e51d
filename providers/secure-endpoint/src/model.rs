//! Serde types of the Secure Endpoint wire format (v1 envelope, computers, v3 organizations).

use std::fmt;

use agentctl_core::wire::{Each, Text};
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error, IgnoredAny, MapAccess, Visitor};

/// v1 list envelope: `version`, `metadata`, `data`.
#[derive(Debug, Deserialize)]
pub struct V1List<T> {
    #[serde(default)]
    pub metadata: V1Metadata,
    pub data: Vec<T>,
}

/// The v1 list envelope read with each `data` element handed on as soon as it is parsed
/// ([`Each`]), instead of a [`V1List`] that collects a page of objects first: the value is
/// the page's metadata and how many elements `data` held.
pub struct V1ListEach<T, F>(pub Each<T, F>);

impl<'de, T: Deserialize<'de>, F: FnMut(T)> DeserializeSeed<'de> for V1ListEach<T, F> {
    type Value = (V1Metadata, u64);

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, T: Deserialize<'de>, F: FnMut(T)> Visitor<'de> for V1ListEach<T, F> {
    type Value = (V1Metadata, u64);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a v1 list envelope")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Metadata,
            Data,
            #[serde(other)]
            Other,
        }
        let (mut metadata, mut count, mut each) = (None, None, Some(self.0));
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Metadata if metadata.is_none() => metadata = Some(map.next_value()?),
                Field::Data => match each.take() {
                    Some(each) => count = Some(map.next_value_seed(each)?),
                    None => return Err(A::Error::duplicate_field("data")),
                },
                Field::Metadata => return Err(A::Error::duplicate_field("metadata")),
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let count = count.ok_or_else(|| A::Error::missing_field("data"))?;
        Ok((metadata.unwrap_or_default(), count))
    }
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
    pub groups: FirstGroup<'a>,
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

/// Of a computer's `groups`, the first that has a name (or else a guid), read without
/// collecting the array.
#[derive(Debug, Default)]
pub struct FirstGroup<'a>(pub Option<Text<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FirstGroup<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut first = None;
        Each::new(|g: GroupRef<'de>| {
            if first.is_none() {
                first = g.name.or(g.guid);
            }
        })
        .deserialize(deserializer)?;
        Ok(FirstGroup(first))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope read element by element: what each computer was, how many there were,
    /// and the metadata, wherever `data` sits among the other fields.
    fn read(body: &str) -> serde_json::Result<(Vec<String>, V1Metadata, u64)> {
        let mut guids = Vec::new();
        let mut de = serde_json::Deserializer::from_str(body);
        let (metadata, count) = V1ListEach(Each::new(|c: Computer<'_>| {
            guids.push(format!("{}:{:?}", c.connector_guid, c.groups.0.as_deref()))
        }))
        .deserialize(&mut de)?;
        de.end()?;
        Ok((guids, metadata, count))
    }

    #[test]
    fn the_list_envelope_hands_on_each_computer_with_its_first_named_group() {
        let body = r#"{"data": [
                {"connector_guid": "a", "groups": [{"guid": "g1"}, {"name": "n2", "guid": "g2"}]},
                {"connector_guid": "b", "groups": [{"name": "n1"}, {"name": "n2"}]},
                {"connector_guid": "c"}
            ],
            "version": "v1.2.0",
            "metadata": {"results": {"total": 3}, "links": {"next": null}}}"#;
        let (guids, metadata, count) = read(body).unwrap();
        assert_eq!(guids, ["a:Some(\"g1\")", "b:Some(\"n1\")", "c:None"]);
        assert_eq!(count, 3);
        assert_eq!(metadata.results.and_then(|r| r.total), Some(3));
    }

    #[test]
    fn the_list_envelope_needs_one_data_array_and_no_metadata() {
        let (guids, metadata, count) = read(r#"{"data": []}"#).unwrap();
        assert!(guids.is_empty() && metadata.results.is_none());
        assert_eq!(count, 0);
        for bad in [
            r#"{"metadata": {}}"#,
            r#"{"data": [], "data": []}"#,
            r#"{"data": {}}"#,
            r#"{"data": [{"hostname": "no guid"}]}"#,
            r#"{"data": [], "metadata": {}, "metadata": {}}"#,
            r#"[]"#,
            r#"{"data": []} trailing"#,
        ] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
