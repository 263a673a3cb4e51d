//! The simulated server's data: servers, a deterministic fleet of agents, accepted actions.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SimConfig;
use crate::model::{ACT_ISOLATE, ACT_RELOCATE, ACT_RESTORE, ACT_UNINSTALL};

/// Everything the simulator persists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimState {
    /// `GET ProductServers` items.
    pub servers: Vec<Value>,
    /// `GET ProductAgents` items keyed by entity_id (the listing order).
    pub agents: BTreeMap<String, Value>,
    /// Accepted actions in arrival order: `{"act", "entity_ids": [...], "allow_multiple_match",
    /// "relocate_to_server_id"?, "relocate_to_folder_path"?}`.
    pub actions: Vec<Value>,
}

/// Product of the servers that manage Security Agents (Apex One / OfficeScan).
pub const AGENT_SERVER_PRODUCT: &str = "SLF_PRODUCT_OFFICESCAN_CE";

/// Host names of the fixed agents every fleet has (tests rely on them).
pub const FIXED_CLIENT: &str = "client01";
pub const FIXED_TWIN: &str = "reimaged-pc";
pub const FIXED_NOT_RELOCATABLE: &str = "kiosk-legacy";
pub const FIXED_NON_ASCII: &str = "東京-lt-0001";

const STEMS: &[&str] = &[
    "ws-fin",
    "ws-hr",
    "lt-sales",
    "srv-db",
    "büro-pc",
    "東京-lt",
    "josé-mbp",
    "øst-srv",
    "kraków-ws",
    "reception",
];

const FOLDERS: &[&str] = &[
    "Workgroup",
    r"\CORP\Finance",
    r"\CORP\Servers",
    r"\CORP\Laptops",
    r"\Branch\Kiosks",
];

fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

/// An agent entity_id in the sample's shape (12-8-4-4-4 hex).
fn agent_id(rng: &mut StdRng) -> String {
    [12, 8, 4, 4, 4]
        .iter()
        .map(|n| hex(rng, *n))
        .collect::<Vec<_>>()
        .join("-")
}

/// A server GUID (8-4-4-4-12, upper case).
fn server_id(rng: &mut StdRng) -> String {
    [8, 4, 4, 4, 12]
        .iter()
        .map(|n| hex(rng, *n).to_uppercase())
        .collect::<Vec<_>>()
        .join("-")
}

fn all_caps() -> Vec<&'static str> {
    vec![ACT_RESTORE, ACT_ISOLATE, ACT_RELOCATE, ACT_UNINSTALL]
}

impl SimState {
    /// Five servers (two share the host name `apex-edge`; `dsm01` manages no agents) and
    /// `cfg.fleet_size` agents, the same for the same seed: a few fixed ones ([`FIXED_CLIENT`],
    /// two [`FIXED_TWIN`]s, [`FIXED_NOT_RELOCATABLE`], [`FIXED_NON_ASCII`]), then random ones
    /// with about 3 % shared host names, 8 % lacking `cmd_relocate_agent` and 3 % lacking
    /// `cmd_uninstall_agent`.
    pub fn generate(cfg: &SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let servers: Vec<Value> = [
            ("ApexOne01", AGENT_SERVER_PRODUCT, "10.0.0.11", "CORP"),
            ("ApexOne02", AGENT_SERVER_PRODUCT, "10.0.1.12", "CORP"),
            ("apex-edge", AGENT_SERVER_PRODUCT, "10.20.0.5", "BRANCH-A"),
            (
                "apex-edge",
                AGENT_SERVER_PRODUCT,
                "10.30.0.5,198.51.100.30",
                "BRANCH-B",
            ),
            ("dsm01", "SLF_PRODUCT_HEADLESS_DSM", "10.0.2.20", ""),
        ]
        .iter()
        .map(|(host, product, ips, domain)| {
            let caps: Vec<&str> = if *product == AGENT_SERVER_PRODUCT {
                vec!["cmd_deploy_update_sources"]
            } else {
                Vec::new()
            };
            json!({
                "entity_id": server_id(&mut rng),
                "product": product,
                "ad_domain": domain,
                "ip_address_list": ips,
                "host_name": host,
                "capabilities": caps,
            })
        })
        .collect();
        let managers: Vec<String> = servers
            .iter()
            .filter(|s| s["product"] == AGENT_SERVER_PRODUCT)
            .map(|s| s["entity_id"].as_str().unwrap().to_string())
            .collect();

        let mut agents = BTreeMap::new();
        let mut hostnames: Vec<String> = Vec::new();
        let mut add = |rng: &mut StdRng,
                       hostnames: &mut Vec<String>,
                       host: String,
                       caps: Vec<&str>,
                       server: usize| {
            let id = agent_id(rng);
            let ip = format!(
                "10.{}.{}.{}",
                rng.random_range(0..32),
                rng.random_range(0..255),
                rng.random_range(1..255)
            );
            // Some agents report a public address first: the client orders internal first.
            let ips = if rng.random_bool(0.15) {
                format!("203.0.113.{},{ip}", rng.random_range(1..255))
            } else {
                ip
            };
            let mac: Vec<String> = (0..3)
                .map(|_| format!("{:02X}", rng.random::<u8>()))
                .collect();
            let folder = FOLDERS[rng.random_range(0..FOLDERS.len())];
            let isolation = if rng.random_bool(0.02) {
                "endpoint_isolation_pending"
            } else {
                "normal"
            };
            hostnames.push(host.clone());
            agents.insert(
                id.clone(),
                json!({
                    "entity_id": id,
                    "product": AGENT_SERVER_PRODUCT,
                    "managing_server_id": managers[server % managers.len()],
                    "ad_domain": if folder.starts_with(r"\CORP") { "CORP" } else { "" },
                    "folder_path": folder,
                    "ip_address_list": ips,
                    "mac_address_list": format!("00-0C-29-{}", mac.join("-")),
                    "host_name": host,
                    "isolation_status": isolation,
                    "capabilities": caps,
                }),
            );
        };
        add(&mut rng, &mut hostnames, FIXED_CLIENT.into(), all_caps(), 0);
        add(&mut rng, &mut hostnames, FIXED_TWIN.into(), all_caps(), 0);
        add(&mut rng, &mut hostnames, FIXED_TWIN.into(), all_caps(), 1);
        add(
            &mut rng,
            &mut hostnames,
            FIXED_NOT_RELOCATABLE.into(),
            vec![ACT_ISOLATE, ACT_RESTORE],
            2,
        );
        add(
            &mut rng,
            &mut hostnames,
            FIXED_NON_ASCII.into(),
            all_caps(),
            1,
        );
        let fixed = hostnames.len();
        for i in fixed..cfg.fleet_size.max(fixed) {
            let host = if rng.random_bool(0.03) {
                hostnames[rng.random_range(0..hostnames.len())].clone()
            } else {
                format!("{}-{i:04}", STEMS[rng.random_range(0..STEMS.len())])
            };
            let mut caps = all_caps();
            if rng.random_bool(0.08) {
                caps.retain(|c| *c != ACT_RELOCATE);
            }
            if rng.random_bool(0.03) {
                caps.retain(|c| *c != ACT_UNINSTALL);
            }
            let server = rng.random_range(0..managers.len());
            add(&mut rng, &mut hostnames, host, caps, server);
        }
        if cfg.roster {
            // Random agents become roster machines (Apex shows upper-case short names and
            // MACs, no last-seen time); the fixed ones keep their names.
            let fixed_ids: Vec<String> = agents
                .iter()
                .filter(|(_, a)| {
                    hostnames[..fixed]
                        .iter()
                        .any(|h| a["host_name"].as_str() == Some(h.as_str()))
                })
                .map(|(id, _)| id.clone())
                .collect();
            let mut i = 0;
            for (id, a) in agents.iter_mut() {
                if fixed_ids.contains(id) {
                    continue;
                }
                let seat = agentctl_core::roster::seat(
                    agentctl_core::roster::APEX_CENTRAL,
                    i,
                    jiff::Timestamp::UNIX_EPOCH,
                );
                i += 1;
                a["host_name"] = json!(seat.hostname);
                if let Some(mac) = seat.mac {
                    a["mac_address_list"] = json!(mac.replace(':', "-").to_uppercase());
                }
            }
            let template = agents.values().next().cloned();
            for seat in agentctl_core::roster::planted(
                agentctl_core::roster::APEX_CENTRAL,
                jiff::Timestamp::UNIX_EPOCH,
            ) {
                let Some(mut a) = template.clone() else {
                    break;
                };
                let id = agent_id(&mut rng);
                a["entity_id"] = json!(id);
                a["host_name"] = json!(seat.hostname);
                a["capabilities"] = json!(all_caps());
                a["mac_address_list"] = match seat.mac {
                    Some(mac) => json!(mac.replace(':', "-").to_uppercase()),
                    None => {
                        let b: [u8; 3] = rng.random();
                        json!(format!("00-0C-29-{:02X}-{:02X}-{:02X}", b[0], b[1], b[2]))
                    }
                };
                agents.insert(id, a);
            }
        }
        Self {
            servers,
            agents,
            actions: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_is_deterministic_and_has_the_awkward_cases() {
        let cfg = SimConfig {
            fleet_size: 400,
            ..SimConfig::default()
        };
        let a = SimState::generate(&cfg);
        assert_eq!(a, SimState::generate(&cfg));
        assert_eq!(a.agents.len(), 400);
        let round: SimState = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(round, a);
        for (id, agent) in &a.agents {
            assert!(crate::client::is_entity_id(id), "{id}");
            assert_eq!(agent["entity_id"], id.as_str());
        }
        for s in &a.servers {
            assert!(crate::client::is_entity_id(
                s["entity_id"].as_str().unwrap()
            ));
        }
        let hosts: Vec<&str> = a
            .agents
            .values()
            .map(|v| v["host_name"].as_str().unwrap())
            .collect();
        let twins = hosts.iter().filter(|h| **h == FIXED_TWIN).count();
        assert!(twins >= 2);
        assert!(hosts.iter().any(|h| !h.is_ascii()));
        let no_relocate = a
            .agents
            .values()
            .filter(|v| {
                !v["capabilities"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c == ACT_RELOCATE)
            })
            .count();
        assert!((5..80).contains(&no_relocate), "{no_relocate}");
        let edge = a
            .servers
            .iter()
            .filter(|s| s["host_name"] == "apex-edge")
            .count();
        assert_eq!(edge, 2);
    }
}
