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

/// Read a `GET ProductAgents` answer agent by agent, without holding the list: the whole
/// (unpaginated) list as a JSON tree or a `Vec` would cost far more than the agents it
/// yields. The body is the documented envelope `{"result_code", "result_description",
/// "result_content": [agent, …]}` (vendor file §4.2 and §5, Trend Micro's "List
/// ProductAgents" in the Apex Central 2019 Automation API guide); an empty list may come as
/// `null` or `""`, as error envelopes render `result_content`.
///
/// `each` gets every agent in order; an `Err` from it stops the reading with that message.
/// Returns the envelope's `result_code`. A body that is not such an envelope (not an object,
/// malformed JSON, trailing bytes, `result_code` missing, twice or not an integer,
/// `result_content` twice or neither a list nor empty, an agent that does not read as
/// [`Agent`]) is an `Err`: the caller then reads the body generically, which says precisely
/// what is wrong with it.
pub fn read_agents(
    body: &[u8],
    each: impl FnMut(Agent) -> Result<(), String>,
) -> Result<i64, serde_json::Error> {
    use serde::de::DeserializeSeed;
    // Only a JSON object is an envelope.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(serde::de::Error::custom("the answer is not a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let code = AgentsEnvelope(each).deserialize(&mut de)?;
    de.end()?;
    Ok(code)
}

/// The envelope around [`AgentList`]: yields `result_code`.
struct AgentsEnvelope<F>(F);

impl<'de, F: FnMut(Agent) -> Result<(), String>> serde::de::DeserializeSeed<'de>
    for AgentsEnvelope<F>
{
    type Value = i64;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(Agent) -> Result<(), String>> serde::de::Visitor<'de> for AgentsEnvelope<F> {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a result envelope")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(mut self, mut map: A) -> Result<i64, A::Error> {
        use serde::de::Error;
        let mut code = None;
        let mut content = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "result_code" if code.is_some() => {
                    return Err(A::Error::duplicate_field("result_code"));
                }
                "result_code" => code = Some(map.next_value::<i64>()?),
                "result_content" if content => {
                    return Err(A::Error::duplicate_field("result_content"));
                }
                "result_content" => {
                    content = true;
                    map.next_value_seed(AgentList(&mut self.0))?;
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        code.ok_or_else(|| A::Error::missing_field("result_code"))
    }
}

/// `result_content` of `GET ProductAgents`: each agent handed to the function, or nothing
/// when it is `null` or `""`.
struct AgentList<'f, F>(&'f mut F);

impl<'de, F: FnMut(Agent) -> Result<(), String>> serde::de::DeserializeSeed<'de>
    for AgentList<'_, F>
{
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Agent) -> Result<(), String>> serde::de::Visitor<'de> for AgentList<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of agents, null or \"\"")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(a) = seq.next_element::<Agent>()? {
            (self.0)(a).map_err(serde::de::Error::custom)?;
        }
        Ok(())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<(), E> {
        if v.is_empty() {
            Ok(())
        } else {
            Err(E::invalid_value(serde::de::Unexpected::Str(v), &self))
        }
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

    fn ids(body: &str) -> Result<(i64, Vec<String>), String> {
        let mut ids = Vec::new();
        let code = read_agents(body.as_bytes(), |a| {
            ids.push(a.entity_id);
            Ok(())
        })
        .map_err(|e| e.to_string())?;
        Ok((code, ids))
    }

    #[test]
    fn agents_are_read_one_by_one_in_order_whatever_the_key_order() {
        assert_eq!(
            ids(
                r#"{"result_code":1,"result_description":"Operation successful","result_content":[{"entity_id":"a","capabilities":null},{"entity_id":"b","extra":{"x":[1]}}]}"#
            ),
            Ok((1, vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            ids(r#" {"result_content":[{"entity_id":"a"}],"result_code":1} "#),
            Ok((1, vec!["a".into()]))
        );
        for empty in ["null", r#""""#, "[]"] {
            assert_eq!(
                ids(&format!(r#"{{"result_code":1,"result_content":{empty}}}"#)),
                Ok((1, vec![]))
            );
        }
        assert_eq!(ids(r#"{"result_code":1}"#), Ok((1, vec![])));
        assert_eq!(
            ids(r#"{"result_code":-6,"result_description":"Token expired","result_content":""}"#),
            Ok((-6, vec![]))
        );
    }

    #[test]
    fn anything_but_the_documented_envelope_is_refused() {
        for bad in [
            r#"[{"result_code":1}]"#,
            r#"{"result_code":1,"result_content":[]} trailing"#,
            r#"{"result_code":1,"result_code":1,"result_content":[]}"#,
            r#"{"result_code":1,"result_content":[],"result_content":[]}"#,
            r#"{"result_content":[]}"#,
            r#"{"result_code":"1","result_content":[]}"#,
            r#"{"result_code":1.5,"result_content":[]}"#,
            r#"{"result_code":1,"result_content":{"entity_id":"a"}}"#,
            r#"{"result_code":1,"result_content":"no agents"}"#,
            r#"{"result_code":1,"result_content":[{"entity_id":7}]}"#,
            r#"{"result_code":1,"result_content":[{"entity_id":"a","capabilities":"all"}]}"#,
            r#"{"result_code":1,"result_content":[{"entity_id":"a"},"#,
            "<html>login</html>",
            "",
        ] {
            assert!(ids(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_reader_can_stop_the_reading() {
        let mut seen = 0;
        let e = read_agents(
            br#"{"result_code":1,"result_content":[{"entity_id":"a"},{"entity_id":""},{"entity_id":"c"}]}"#,
            |a| {
                seen += 1;
                if a.entity_id.is_empty() {
                    Err("agent object without entity_id".into())
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(seen, 2);
        assert!(
            e.to_string().contains("agent object without entity_id"),
            "{e}"
        );
    }
}
