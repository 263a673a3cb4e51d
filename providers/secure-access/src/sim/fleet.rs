//! The simulated organization's data: a deterministic fleet of roaming computers, network
//! tunnel groups and Key Admin API keys.

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::SimConfig;

/// Everything the simulator persists.
#[derive(Clone, Serialize, Deserialize)]
pub struct SimState {
    /// Roaming computers in listing order (by `originId`), as the API shows them.
    pub roaming_computers: Vec<Value>,
    pub tunnel_groups: Vec<Value>,
    /// API keys visible to the Key Admin API, with their current secrets.
    pub api_keys: Vec<SimApiKey>,
    /// `deviceId`s removed by an accepted DELETE, in arrival order.
    pub deleted: Vec<String>,
    /// Seed for ids and secrets of keys created later (advances with each one).
    pub next_key_seed: u64,
}

/// A Key Admin API key and its secret (the secret is sim data, but still never printed).
#[derive(Clone, Serialize, Deserialize)]
pub struct SimApiKey {
    /// The key object as `GET /admin/v2/apiKeys/{id}` shows it.
    pub key: Value,
    pub secret: String,
}

impl SimApiKey {
    pub fn id(&self) -> &str {
        self.key["id"].as_str().unwrap_or_default()
    }

    pub fn client_id(&self) -> &str {
        self.key["clientId"].as_str().unwrap_or_default()
    }

    pub fn scopes(&self) -> Vec<String> {
        self.key["scopes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for SimApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimApiKey")
            .field("key", &self.key)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("roaming_computers", &self.roaming_computers.len())
            .field("tunnel_groups", &self.tunnel_groups.len())
            .field("api_keys", &self.api_keys)
            .field("deleted", &self.deleted.len())
            .finish()
    }
}

/// Host name stems; several are non-ASCII, as real fleets are.
const STEMS: &[&str] = &[
    "wkst",
    "lt-sales",
    "büro-pc",
    "東京-lt",
    "josé-mbp",
    "øst-srv",
    "kraków-ws",
    "São-Paulo-nb",
    "reception",
    "ws-fin",
];

const OSES: &[(&str, &str)] = &[
    ("Windows 10", "Microsoft Windows NT 10.0.19045.0"),
    ("Windows 11", "Microsoft Windows NT 10.0.22631.0"),
    ("macOS 14", "Darwin 23.4.0"),
    ("macOS 13", "Darwin 22.6.0"),
];

const VERSIONS: &[&str] = &["5.1.2.42", "5.1.4.74", "5.2.3", "5.1.6.103"];

/// DNS-layer statuses (the `status` / `lastSyncStatus` enum).
pub(crate) const DNS_STATUSES: &[&str] = &[
    "Off",
    "Open",
    "Transparent",
    "Encrypted",
    "VA",
    "Network",
    "Disabled",
    "Uninstalled",
    "TrustedCustomerNetwork",
    "CiscoTrustedNetwork",
    "DisabledDueToACVpnFullTunnel",
];

/// SWG statuses (`lastSyncSwgStatus`; `swgStatus` also allows `Off`).
pub(crate) const SWG_STATUSES: &[&str] = &[
    "NA",
    "Protected",
    "Unprotected",
    "Disabled",
    "DisabledDueToVPN",
    "DisabledDueToTrustedNetwork",
    "ConfigError",
    "CloudServiceUnavailable",
];

const CITIES: &[&str] = &[
    "New York",
    "Zürich",
    "Kraków",
    "São Paulo",
    "東京",
    "Malmö",
    "Bogotá",
    "Lyon",
];
const REGIONS: &[&str] = &["us-east-1", "us-west-2", "eu-central-1", "ap-northeast-1"];
const DEVICE_TYPES: &[&str] = &[
    "ASA",
    "FTD",
    "ISR",
    "Meraki MX",
    "Viptela cEdge",
    "Viptela vEdge",
    "other",
];

/// `2024-09-19T10:34:30.000Z`, the API's shape.
pub(crate) fn wire_time(ts: Timestamp) -> String {
    format!(
        "{}.{:03}Z",
        ts.strftime("%Y-%m-%dT%H:%M:%S"),
        ts.subsec_millisecond()
    )
}

/// Tunnel-group timestamps have no fraction (`2024-06-12T18:04:23Z`).
pub(crate) fn wire_time_s(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub(crate) fn hex(rng: &mut StdRng, digits: usize, upper: bool) -> String {
    let s: String = (0..digits)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect();
    if upper { s.to_ascii_uppercase() } else { s }
}

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

/// Roster mode: roaming computer `i` becomes roster machine `i` (Secure Access shows the short
/// name and no MAC); the planted registrations are added as copies of the first one.
fn apply_roster(roaming: &mut Vec<Value>, cfg: &SimConfig, rng: &mut StdRng) {
    use agentctl_core::roster;
    for (i, c) in roaming.iter_mut().enumerate() {
        let seat = roster::seat(roster::SECURE_ACCESS, i, cfg.now);
        c["name"] = json!(seat.hostname);
        if !c["lastSync"].is_null() {
            c["lastSync"] = json!(seat.last_seen.map(wire_time));
        }
    }
    let Some(template) = roaming.first().cloned() else {
        return;
    };
    let mut origin = roaming
        .iter()
        .filter_map(|c| c["originId"].as_u64())
        .max()
        .unwrap_or(618_400_000);
    for seat in roster::planted(roster::SECURE_ACCESS, cfg.now) {
        origin += 1;
        let mut c = template.clone();
        c["originId"] = json!(origin);
        c["deviceId"] = json!(hex(rng, 16, true));
        c["name"] = json!(seat.hostname);
        c["lastSync"] = json!(seat.last_seen.map(wire_time));
        roaming.push(c);
    }
}

/// A new key object and secret from `seed` (ids and secrets are deterministic per seed).
pub(crate) fn new_api_key(
    seed: u64,
    name: &str,
    scopes: &[String],
    expire_at: &str,
    description: &str,
    now: Timestamp,
) -> SimApiKey {
    let mut rng = StdRng::seed_from_u64(seed);
    let id = format!(
        "{}-{}-{}",
        hex(&mut rng, 8, false),
        hex(&mut rng, 4, false),
        hex(&mut rng, 12, false)
    );
    let client_id = hex(&mut rng, 32, false);
    let secret = hex(&mut rng, 32, false);
    let at = wire_time_s(now);
    // KeyAdminKey (secureaccess/models/key_admin_key.py): every required field, ISO 8601
    // times, `expireAt` ISO 8601 or "".
    SimApiKey {
        key: json!({
            "id": id,
            "name": name,
            "description": description,
            "scopes": scopes,
            "expireAt": expire_at,
            "allowedIPs": [],
            "clientId": client_id,
            "creatorKeyId": "",
            "creatorEmail": "admin@example.com",
            "creatorName": "Sandbox Admin",
            "createdAt": at,
            "modifiedAt": at,
            "lastRefreshedAt": at,
            "lastUsedAt": at,
        }),
        secret,
    }
}

/// The `KeyForList` view of a key (no `allowedIPs`).
pub(crate) fn key_for_list(key: &Value) -> Value {
    let mut k = key.clone();
    if let Some(o) = k.as_object_mut() {
        o.remove("allowedIPs");
    }
    k
}

/// The deployments key agentctl is configured with, as the Key Admin list shows it.
pub(crate) fn configured_key(cfg: &SimConfig) -> SimApiKey {
    let mut key = new_api_key(
        cfg.seed ^ 0xa9e7,
        "agentctl",
        &cfg.api_scopes,
        "",
        "used by agentctl",
        cfg.now - SignedDuration::from_secs(86_400 * 60),
    );
    key.key["clientId"] = json!(cfg.api_key);
    key.secret = cfg.api_secret.clone();
    key
}

impl SimState {
    /// A fleet of `cfg.fleet_size` roaming computers, the same for the same seed and `now`:
    /// `lastSync` spread over 0–240 days before `now`, about 3 % never synced (`null`); plus
    /// `cfg.tunnel_groups` tunnel groups and `cfg.api_keys` existing API keys.
    pub fn generate(cfg: &SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut roaming = Vec::with_capacity(cfg.fleet_size);
        let mut seen = std::collections::HashSet::new();
        let mut origin: u64 = 618_400_000;
        for i in 0..cfg.fleet_size {
            origin += rng.random_range(1..9);
            let device_id = loop {
                let d = hex(&mut rng, 16, true);
                if seen.insert(d.clone()) {
                    break d;
                }
            };
            let stem = pick(&mut rng, STEMS);
            let name = format!("{stem}-{i:05}");
            let last_sync = if rng.random_bool(0.03) {
                Value::Null
            } else {
                let age_ms = rng.random_range(0..240 * 86_400_000_i64);
                json!(wire_time(cfg.now - SignedDuration::from_millis(age_ms)))
            };
            let (os_name, os_version) = OSES[rng.random_range(0..OSES.len())];
            let status = if rng.random_bool(0.6) {
                "Encrypted"
            } else {
                pick(&mut rng, DNS_STATUSES)
            };
            let swg = if rng.random_bool(0.6) {
                "Protected"
            } else {
                pick(&mut rng, SWG_STATUSES)
            };
            let mut c = json!({
                "originId": origin,
                "deviceId": device_id,
                "type": "anyconnect",
                "status": status,
                "swgStatus": swg,
                "lastSyncStatus": status,
                "lastSyncSwgStatus": swg,
                "lastSync": last_sync,
                "version": pick(&mut rng, VERSIONS),
                "name": name,
                "hasIpBlocking": rng.random_bool(0.1),
                "appliedBundle": rng.random_range(1..6),
                "osVersion": os_version,
                "osVersionName": os_name,
            });
            if rng.random_bool(0.9) {
                c["anyconnectDeviceId"] = json!(hex(&mut rng, 40, false));
            }
            roaming.push(c);
        }
        if cfg.roster {
            apply_roster(&mut roaming, cfg, &mut rng);
        }
        let mut tunnels = Vec::with_capacity(cfg.tunnel_groups);
        let mut tunnel_id: u64 = 4_561_237_000;
        for i in 0..cfg.tunnel_groups {
            tunnel_id += rng.random_range(1..50);
            let city = pick(&mut rng, CITIES);
            let region = pick(&mut rng, REGIONS);
            let hubs: Vec<Value> = (0..rng.random_range(1..=2))
                .map(|h| {
                    let up = rng.random_bool(0.8);
                    json!({
                        "id": 987_654_000 + (i as u64) * 2 + h,
                        "isPrimary": h == 0,
                        "datacenter": {"name": if h == 0 { region } else { pick(&mut rng, REGIONS) }},
                        "authId": format!("branch{i}@8012345-{}.sse.cisco.com", 987_654_000 + (i as u64) * 2 + h),
                        "status": {"status": if up { "UP" } else { "DOWN" }, "time": wire_time_s(cfg.now)},
                        "tunnelsCount": if up { rng.random_range(1..6) } else { 0 },
                    })
                })
                .collect();
            let all_up = hubs.iter().all(|h| h["status"]["status"] == "UP");
            let none_up = hubs.iter().all(|h| h["status"]["status"] == "DOWN");
            let status = match (all_up, none_up) {
                (true, _) => "connected",
                (_, true) => "disconnected",
                _ => "warning",
            };
            let routing = match rng.random_range(0..3) {
                0 => {
                    json!({"type": "static", "data": {"networkCIDRs": [format!("10.{}.0.0/16", i % 250)]}})
                }
                1 => json!({"type": "bgp", "data": {"asNumber": format!("{}", 64_512 + i % 1000)}}),
                _ => json!({"type": "nat", "data": null}),
            };
            let created =
                cfg.now - SignedDuration::from_secs(rng.random_range(86_400..400 * 86_400));
            tunnels.push(json!({
                "id": tunnel_id,
                "name": format!("{city} Branch Tunnels {i:03}"),
                "organizationId": 8_012_345,
                "deviceType": pick(&mut rng, DEVICE_TYPES),
                "region": region,
                "status": status,
                "hubs": hubs,
                "routing": routing,
                "createdAt": wire_time_s(created),
                "modifiedAt": wire_time_s(created + SignedDuration::from_secs(3600)),
            }));
        }
        let preset: &[(&str, &[&str])] = &[
            ("SIEM export", &["reports.activity:read"]),
            (
                "Terraform",
                &[
                    "deployments.networktunnelgroups:write",
                    "deployments.roamingcomputers:read",
                ],
            ),
            ("Zurich SOC", &["deployments.roamingcomputers:write"]),
        ];
        let mut next_key_seed = cfg.seed.wrapping_mul(31).wrapping_add(7);
        let api_keys = (0..cfg.api_keys).map(|i| {
            let (name, scopes) = preset[i % preset.len()];
            let name = if i < preset.len() {
                name.to_string()
            } else {
                format!("{name} {i}")
            };
            let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            next_key_seed = next_key_seed.wrapping_add(1);
            new_api_key(
                next_key_seed,
                &name,
                &scopes,
                "",
                "",
                cfg.now - SignedDuration::from_secs(86_400 * 30),
            )
        });
        let api_keys = std::iter::once(configured_key(cfg))
            .chain(api_keys)
            .collect();
        Self {
            roaming_computers: roaming,
            tunnel_groups: tunnels,
            api_keys,
            deleted: Vec::new(),
            next_key_seed,
        }
    }
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
        assert_eq!(a.roaming_computers, b.roaming_computers);
        assert_eq!(a.roaming_computers.len(), 2000);
        let never = a
            .roaming_computers
            .iter()
            .filter(|c| c["lastSync"].is_null())
            .count();
        assert!((20..120).contains(&never), "{never} never synced");
        assert!(
            a.roaming_computers
                .iter()
                .any(|c| !c["name"].as_str().unwrap().is_ascii())
        );
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let mut ages = Vec::new();
        for c in &a.roaming_computers {
            assert!(c["name"].as_str().unwrap().chars().count() <= 50);
            let id = c["deviceId"].as_str().unwrap();
            assert!(
                id.len() == 16
                    && id
                        .chars()
                        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
            );
            if let Some(s) = c["lastSync"].as_str() {
                assert_eq!(s.len(), 24, "{s}");
                let ts: Timestamp = s.parse().unwrap();
                ages.push((now.as_second() - ts.as_second()) / 86_400);
            }
        }
        assert!(
            ages.iter().any(|d| *d < 7) && ages.iter().any(|d| *d > 180),
            "spread over months"
        );
        let origins: Vec<u64> = a
            .roaming_computers
            .iter()
            .map(|c| c["originId"].as_u64().unwrap())
            .collect();
        assert!(origins.windows(2).all(|w| w[0] < w[1]));
        // Debug shows no secret.
        assert!(!format!("{a:?}").contains(&a.api_keys[0].secret));
    }
}
