//! The simulated tenant's data: a deterministic fleet of computers and groups.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SimConfig;

/// Everything the simulator persists: computers keyed by connector GUID (the listing order),
/// groups, and every uninstall request it accepted, in arrival order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SimState {
    pub computers: BTreeMap<String, Value>,
    pub groups: Vec<Value>,
    pub uninstall_requests: Vec<String>,
}

/// Host name stems; several are non-ASCII, as real fleets are.
const STEMS: &[&str] = &[
    "ws-fin",
    "ws-hr",
    "lt-sales",
    "srv-db",
    "srv-web",
    "büro-pc",
    "東京-lt",
    "josé-mbp",
    "øst-srv",
    "mü-kiosk",
    "kraków-ws",
    "reception",
];

const OSES: &[(&str, &str)] = &[
    ("Windows 10", "10.0.19045.4291"),
    ("Windows 11", "10.0.22631.3527"),
    ("Windows Server 2019", "10.0.17763.5696"),
    ("Windows Server 2022", "10.0.20348.2402"),
    ("macOS 14.4", "14.4.1"),
    ("Ubuntu 22.04", "22.04.4"),
];

const VERSIONS: &[&str] = &["7.5.3.20938", "8.2.1.21650", "8.4.0.30201", "1.24.0.1012"];

const GROUPS: &[&str] = &[
    "Workstations",
    "Servers",
    "Laptops – Tokyo",
    "Audit",
    "Quarantine",
];

pub(crate) fn guid(rng: &mut StdRng) -> String {
    let b: [u8; 16] = rng.random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn wire_time(ts: Timestamp) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ`, no fractional seconds, as every captured sample.
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl SimState {
    /// A fleet of `cfg.fleet_size` computers, the same for the same seed and `now`: last seen
    /// spread over 0–240 days before `now`, about 2 % never seen (null), about 3 % re-imaged
    /// twins (an old record sharing its host name with a newer one).
    pub fn generate(cfg: &SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let groups: Vec<Value> = GROUPS
            .iter()
            .map(|name| {
                json!({
                    "name": name,
                    "description": format!("{name} (simulated)"),
                    "guid": guid(&mut rng),
                    "source": null,
                })
            })
            .collect();
        let policies: Vec<Value> = ["Protect", "Audit", "Server Protect"]
            .iter()
            .map(|name| json!({"guid": guid(&mut rng), "name": name}))
            .collect();
        let mut hostnames: Vec<String> = Vec::with_capacity(cfg.fleet_size);
        let mut computers = BTreeMap::new();
        for i in 0..cfg.fleet_size {
            let hostname = if i > 10 && rng.random_bool(0.03) {
                hostnames[rng.random_range(0..hostnames.len())].clone()
            } else {
                let stem = STEMS[rng.random_range(0..STEMS.len())];
                if rng.random_bool(0.4) {
                    format!("{stem}-{i:04}.corp.example.com")
                } else {
                    format!("{stem}-{i:04}")
                }
            };
            hostnames.push(hostname.clone());
            let last_seen = if rng.random_bool(0.02) {
                None
            } else {
                let age = rng.random_range(0..240 * 86_400_i64);
                Some(cfg.now - SignedDuration::from_secs(age))
            };
            let installed = last_seen.unwrap_or(cfg.now)
                - SignedDuration::from_secs(rng.random_range(86_400..900 * 86_400_i64));
            let (os, os_version) = OSES[rng.random_range(0..OSES.len())];
            let group = &groups[rng.random_range(0..groups.len())];
            let ip = format!(
                "10.{}.{}.{}",
                rng.random_range(0..32),
                rng.random_range(0..255),
                rng.random_range(1..255)
            );
            let mac: Vec<String> = (0..6)
                .map(|_| format!("{:02x}", rng.random::<u8>()))
                .collect();
            let id = guid(&mut rng);
            let c = json!({
                "connector_guid": id,
                "hostname": hostname,
                "windows_processor_id": format!("{:015x}", rng.random::<u64>() >> 4),
                "active": true,
                "connector_version": VERSIONS[rng.random_range(0..VERSIONS.len())],
                "operating_system": os,
                "os_version": os_version,
                "internal_ips": [ip.clone()],
                "external_ip": format!("203.0.113.{}", rng.random_range(1..255)),
                "group_guid": group["guid"],
                "install_date": wire_time(installed),
                "is_compromised": rng.random_bool(0.01),
                "network_addresses": [{"mac": mac.join(":"), "ip": ip}],
                "policy": policies[rng.random_range(0..policies.len())],
                "groups": [{"guid": group["guid"], "name": group["name"]}],
                "last_seen": last_seen.map(wire_time),
                "faults": [],
                "isolation": {"available": true, "status": "not_isolated"},
                "orbital": {"status": "not_enabled"},
            });
            computers.insert(id, c);
        }
        if cfg.roster {
            apply_roster(&mut computers, cfg);
        }
        Self {
            computers,
            groups,
            uninstall_requests: Vec::new(),
        }
    }
}

/// Roster mode: computer `i` (in listing order) becomes roster machine `i`; the planted
/// registrations are added as copies of the first computer with their own GUID, name, last
/// seen and MAC.
fn apply_roster(computers: &mut BTreeMap<String, Value>, cfg: &SimConfig) {
    use agentctl_core::roster;
    for (i, c) in computers.values_mut().enumerate() {
        let seat = roster::seat(roster::SECURE_ENDPOINT, i, cfg.now);
        c["hostname"] = json!(seat.hostname);
        if !c["last_seen"].is_null() {
            c["last_seen"] = json!(seat.last_seen.map(wire_time));
        }
        if let Some(mac) = seat.mac {
            c["network_addresses"][0]["mac"] = json!(mac);
        }
    }
    let Some(template) = computers.values().next().cloned() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed);
    for seat in roster::planted(roster::SECURE_ENDPOINT, cfg.now) {
        let id = guid(&mut rng);
        let mut c = template.clone();
        c["connector_guid"] = json!(id);
        c["hostname"] = json!(seat.hostname);
        c["last_seen"] = json!(seat.last_seen.map(wire_time));
        let mac = seat.mac.unwrap_or_else(|| {
            let b: [u8; 5] = rng.random();
            format!(
                "00:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                b[0], b[1], b[2], b[3], b[4]
            )
        });
        c["network_addresses"][0]["mac"] = json!(mac);
        computers.insert(id, c);
    }
}

/// A computer as the API shows it: the stored object plus its absolute `links`.
pub(crate) fn render(base: &str, c: &Value) -> Value {
    let mut c = c.clone();
    let id = c["connector_guid"].as_str().unwrap_or_default().to_string();
    let group = c["group_guid"].as_str().unwrap_or_default().to_string();
    if let Some(obj) = c.as_object_mut() {
        obj.insert(
            "links".into(),
            json!({
                "computer": format!("{base}/v1/computers/{id}"),
                "trajectory": format!("{base}/v1/computers/{id}/trajectory"),
                "group": format!("{base}/v1/groups/{group}"),
            }),
        );
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(n: usize) -> SimConfig {
        SimConfig {
            fleet_size: n,
            now: "2026-11-23T12:00:00Z".parse().unwrap(),
            ..SimConfig::default()
        }
    }

    #[test]
    fn fleet_is_deterministic_and_realistic() {
        let a = SimState::generate(&cfg(2000));
        let b = SimState::generate(&cfg(2000));
        assert_eq!(a.computers, b.computers);
        assert_eq!(a.computers.len(), 2000);
        let values: Vec<&Value> = a.computers.values().collect();
        let nulls = values.iter().filter(|c| c["last_seen"].is_null()).count();
        assert!((10..100).contains(&nulls), "{nulls} never seen");
        assert!(
            values
                .iter()
                .any(|c| !c["hostname"].as_str().unwrap().is_ascii())
        );
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        for c in values.iter().filter_map(|c| c["last_seen"].as_str()) {
            assert_eq!(c.len(), 20, "{c}");
            let ts: Timestamp = c.parse().unwrap();
            assert!(ts <= now && now.as_second() - ts.as_second() < 240 * 86_400);
        }
        let mut hosts: Vec<&str> = values
            .iter()
            .map(|c| c["hostname"].as_str().unwrap())
            .collect();
        hosts.sort();
        hosts.dedup();
        assert!(
            hosts.len() < 2000,
            "some host names are shared by re-imaged machines"
        );
    }
}
