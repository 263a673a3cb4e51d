//! Apex Central wire objects (vendor file §4, §5).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{"result_code", "result_description", "result_content"}`: every Server / Security-Agent
/// API answers with it, errors included (`result_content` is then `""`).
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    pub result_code: i64,
    #[serde(default)]
    pub result_description: Option<String>,
    #[serde(default)]
    pub result_content: Value,
}

/// A successful `GET ProductAgents` answer read straight into typed agents, without building
/// a JSON tree of the whole (unpaginated) list first: `result_content` as a list of agents,
/// or empty when it is `null` or `""`. Anything else does not deserialize, and the caller
/// falls back to the generic envelope reading, which says precisely what is wrong.
#[derive(Debug, Deserialize)]
pub struct AgentsEnvelope {
    pub result_code: i64,
    #[serde(default)]
    pub result_content: AgentList,
}

/// `result_content` of `GET ProductAgents`: see [`AgentsEnvelope`].
#[derive(Debug, Default)]
pub struct AgentList(pub Vec<Agent>);

impl<'de> Deserialize<'de> for AgentList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = AgentList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of agents, null or \"\"")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<AgentList, A::Error> {
                let mut agents = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(a) = seq.next_element::<Agent>()? {
                    agents.push(a);
                }
                Ok(AgentList(agents))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<AgentList, E> {
                Ok(AgentList::default())
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<AgentList, E> {
                Ok(AgentList::default())
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<AgentList, E> {
                if v.is_empty() {
                    Ok(AgentList::default())
                } else {
                    Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
                }
            }
        }
        d.deserialize_any(Visit)
    }
}

/// One item of `GET ProductAgents` (and of an action's `result_content`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Agent {
    pub entity_id: String,
    pub product: Option<String>,
    pub managing_server_id: Option<String>,
    pub ad_domain: Option<String>,
    pub folder_path: Option<String>,
    /// Comma-separated.
    pub ip_address_list: Option<String>,
    /// Comma-separated, e.g. `00-0C-29-9B-AB-65`.
    pub mac_address_list: Option<String>,
    pub host_name: Option<String>,
    pub isolation_status: Option<String>,
    /// The `cmd_*` actions this agent supports.
    #[serde(deserialize_with = "null_as_empty")]
    pub capabilities: Vec<String>,
}

/// One item of `GET ProductServers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    pub entity_id: String,
    pub product: Option<String>,
    pub ad_domain: Option<String>,
    /// Comma-separated.
    pub ip_address_list: Option<String>,
    pub host_name: Option<String>,
    #[serde(deserialize_with = "null_as_empty")]
    pub capabilities: Vec<String>,
}

/// `null` reads as an empty list.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Split a comma-separated address list, dropping blanks.
pub fn split_list(list: Option<&str>) -> Vec<String> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Agent actions (`act`) of `POST ProductAgents`; also the capability names.
pub const ACT_UNINSTALL: &str = "cmd_uninstall_agent";
pub const ACT_RELOCATE: &str = "cmd_relocate_agent";
pub const ACT_ISOLATE: &str = "cmd_isolate_agent";
pub const ACT_RESTORE: &str = "cmd_restore_isolated_agent";

pub const AGENTS_PATH: &str = "/WebApp/API/AgentResource/ProductAgents";
pub const SERVERS_PATH: &str = "/WebApp/API/ServerResource/ProductServers";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_agent_item() {
        let a: Agent = serde_json::from_str(
            r#"{"entity_id":"8a1a84550462-40bc9afc-3770-16ac-cd6c","product":"SLF_PRODUCT_OFFICESCAN_CE",
               "managing_server_id":"B2C3","ad_domain":"","folder_path":"Workgroup",
               "ip_address_list":"10.1.2.3, 192.168.0.4","mac_address_list":"00-0C-29-9B-AB-65",
               "host_name":"CU-PRO1-8254-2","isolation_status":"normal",
               "capabilities":["cmd_restore_isolated_agent","cmd_isolate_agent","cmd_relocate_agent","cmd_uninstall_agent"]}"#,
        )
        .unwrap();
        assert_eq!(
            split_list(a.ip_address_list.as_deref()),
            ["10.1.2.3", "192.168.0.4"]
        );
        assert_eq!(a.capabilities.len(), 4);
        let sparse: Agent =
            serde_json::from_str(r#"{"entity_id":"x","capabilities":null}"#).unwrap();
        assert!(sparse.capabilities.is_empty());
        assert!(split_list(None).is_empty());
        assert!(split_list(Some(" , ")).is_empty());
    }
}
