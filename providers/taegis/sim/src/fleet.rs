//! The simulated tenant's data: a deterministic fleet of endpoint assets and a few API clients.

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::SimConfig;
use agentctl_taegis::unconfirmed::ROLE_IDS;

/// Everything the simulator persists.
#[derive(Clone, Serialize, Deserialize)]
pub struct SimState {
    /// Assets still registered, in cursor order (by `seq`).
    pub assets: Vec<SimAsset>,
    pub clients: Vec<SimClient>,
    /// Accepted `markForUninstall` requests, in arrival order.
    pub uninstall_requests: Vec<UninstallRequest>,
    /// Seed for ids and secrets of clients created or rotated later (advances with each one).
    pub next_client_seed: u64,
    /// Endpoint groups (`allEndpointGroups`).
    #[serde(default)]
    pub groups: Vec<SimGroup>,
    /// Soft-deleted assets (`deleteAssetsV2`): hidden from `assetsV2` until restored.
    #[serde(default)]
    pub deleted: Vec<SimAsset>,
    /// Bulk jobs, oldest first.
    #[serde(default)]
    pub jobs: Vec<SimJob>,
}

/// One endpoint group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimGroup {
    pub id: String,
    pub name: String,
}

/// One bulk job (`deleteAssetsV2`, `restoreAssetsV2`, `assignBulkAssetsToGroup`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimJob {
    pub id: String,
    /// `delete`, `restore` or `assign`.
    pub kind: String,
    /// The assets its filter selected when it started.
    pub asset_ids: Vec<String>,
    pub group_id: Option<String>,
    /// Status polls answered so far.
    pub polls: u32,
    /// `(succeeded, failed)` once finished.
    pub result: Option<(u32, u32)>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("assets", &self.assets.len())
            .field("clients", &self.clients)
            .field("uninstall_requests", &self.uninstall_requests.len())
            .field("groups", &self.groups.len())
            .field("deleted", &self.deleted.len())
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

/// One endpoint asset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimAsset {
    /// Position in cursor order (never reused).
    pub seq: u64,
    pub id: String,
    pub host_id: String,
    pub sensor_id: String,
    pub tenant_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_seen_at: Option<Timestamp>,
    pub sensor_version: String,
    pub endpoint_type: String,
    pub os_family: String,
    pub os_version: String,
    pub os_distributor: String,
    pub architecture: String,
    pub pending_uninstall: bool,
    pub hostnames: Vec<String>,
    pub ip_addresses: Vec<String>,
    /// `(id, name)`.
    pub endpoint_group: Option<(String, String)>,
    /// `ethernetAddresses { mac }` (state saved before they existed has none).
    #[serde(default)]
    pub macs: Vec<String>,
    /// `biosSerial`.
    #[serde(default)]
    pub bios_serial: Option<String>,
}

/// An API client and its current secret (sim data, but still never printed).
#[derive(Clone, Serialize, Deserialize)]
pub struct SimClient {
    pub id: String,
    pub client_id: String,
    pub name: String,
    pub tenant_id: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: String,
    /// Role ids.
    pub roles: Vec<String>,
    pub secret: String,
}

impl std::fmt::Debug for SimClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimClient")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("secret", &"[REDACTED]")
            .finish()
    }
}

/// One accepted `markForUninstall`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UninstallRequest {
    pub endpoint_id: String,
    pub request_id: String,
    pub reason: String,
    /// The asset's first host name when the request arrived.
    pub hostname: String,
    pub at: Timestamp,
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
    "web",
    "db-prod",
];

/// `(osFamily, osVersion, osDistributor, endpointType)`.
const OSES: &[(&str, &str, &str, &str)] = &[
    (
        "Windows",
        "Windows 10 Enterprise 22H2",
        "Microsoft",
        "ENDPOINT_TAEGIS",
    ),
    (
        "Windows",
        "Windows 11 Pro 23H2",
        "Microsoft",
        "ENDPOINT_TAEGIS",
    ),
    (
        "Windows",
        "Windows Server 2022",
        "Microsoft",
        "ENDPOINT_REDCLOAK",
    ),
    ("macOS", "macOS 14.5", "Apple", "ENDPOINT_TAEGIS"),
    ("Linux", "22.04", "Ubuntu", "ENDPOINT_TAEGIS"),
    ("Linux", "9.4", "Red Hat", "ENDPOINT_CROWD_STRIKE"),
];

const VERSIONS: &[&str] = &["2.14.1", "2.15.0", "2.16.3", "1.9.24"];

const GROUPS: &[&str] = &[
    "Default",
    "Servers",
    "Kraków office",
    "東京 laptops",
    "Finance",
];

pub(crate) fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap())
        .collect()
}

pub(crate) fn uuid(rng: &mut StdRng) -> String {
    format!(
        "{}-{}-4{}-{}{}-{}",
        hex(rng, 8),
        hex(rng, 4),
        hex(rng, 3),
        ["8", "9", "a", "b"][rng.random_range(0..4)],
        hex(rng, 3),
        hex(rng, 12)
    )
}

/// A client id / secret in the alphabet real ones use.
pub(crate) fn token_text(rng: &mut StdRng, n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn address(rng: &mut StdRng, internal: bool) -> String {
    if internal {
        match rng.random_range(0..3) {
            0 => format!(
                "10.{}.{}.{}",
                rng.random_range(0..255),
                rng.random_range(0..255),
                rng.random_range(1..255)
            ),
            1 => format!(
                "192.168.{}.{}",
                rng.random_range(0..255),
                rng.random_range(1..255)
            ),
            _ => format!("fd00::{:x}", rng.random_range(1..0xffffu32)),
        }
    } else {
        format!("198.51.100.{}", rng.random_range(1..255))
    }
}

/// Roster mode: asset `i` becomes roster machine `i` (one host name, its MAC and BIOS serial);
/// the planted registrations are added after them as copies of the first asset.
fn apply_roster(assets: &mut Vec<SimAsset>, cfg: &SimConfig) {
    use agentctl_core::roster;
    for (i, a) in assets.iter_mut().enumerate() {
        let seat = roster::seat(roster::TAEGIS, i, cfg.now);
        a.hostnames = vec![seat.hostname];
        if a.last_seen_at.is_some() {
            a.last_seen_at = seat.last_seen;
            a.updated_at = seat.last_seen.unwrap_or(a.updated_at);
        }
        a.macs = seat.mac.into_iter().collect();
        a.bios_serial = seat.serial;
    }
    let Some(template) = assets.first().cloned() else {
        return;
    };
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed);
    let mut seq = assets.iter().map(|a| a.seq).max().unwrap_or(0);
    for seat in roster::planted(roster::TAEGIS, cfg.now) {
        seq += 1;
        let mut a = template.clone();
        a.seq = seq;
        a.id = uuid(&mut rng);
        a.host_id = uuid(&mut rng);
        a.sensor_id = hex(&mut rng, 24);
        a.hostnames = vec![seat.hostname];
        a.last_seen_at = seat.last_seen;
        a.created_at = seat.last_seen.unwrap_or(cfg.now) - SignedDuration::from_hours(24 * 400);
        a.updated_at = seat.last_seen.unwrap_or(a.created_at);
        a.pending_uninstall = false;
        a.macs = seat.mac.into_iter().collect();
        a.bios_serial = seat.serial;
        assets.push(a);
    }
}

/// A new client as `createClient` makes it.
pub(crate) fn new_client(
    seed: u64,
    name: &str,
    roles: Vec<String>,
    tenant: &str,
    by: &str,
    now: Timestamp,
) -> SimClient {
    let mut rng = StdRng::seed_from_u64(seed);
    SimClient {
        id: uuid(&mut rng),
        client_id: token_text(&mut rng, 32),
        name: name.to_string(),
        tenant_id: tenant.to_string(),
        created_at: now,
        updated_at: now,
        created_by: by.to_string(),
        roles,
        secret: token_text(&mut rng, 64),
    }
}

/// The client agentctl is configured with, as the tenant lists it.
pub(crate) fn configured_client(cfg: &SimConfig) -> SimClient {
    let mut c = new_client(
        cfg.seed ^ 0xa9e7,
        "agentctl",
        vec![ROLE_IDS[0].1.to_string()],
        &cfg.tenant_id,
        "admin@example.com",
        cfg.now - SignedDuration::from_hours(24 * 60),
    );
    c.client_id = cfg.client_id.clone();
    c.secret = cfg.client_secret.clone();
    c
}

impl SimState {
    /// State saved before endpoint groups were kept: the groups its assets name.
    pub fn with_groups_of_assets(mut self) -> Self {
        if self.groups.is_empty() {
            for a in self.assets.iter().chain(&self.deleted) {
                if let Some((id, name)) = &a.endpoint_group
                    && !self.groups.iter().any(|g| &g.id == id)
                {
                    self.groups.push(SimGroup {
                        id: id.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
        self
    }

    /// A new tenant for `cfg`: the fleet's last-seen times spread over eight months before
    /// `cfg.now`, some never seen, a few already pending uninstall.
    pub fn generate(cfg: &SimConfig) -> Self {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let groups: Vec<(String, String)> = GROUPS
            .iter()
            .map(|g| (uuid(&mut rng), g.to_string()))
            .collect();
        let mut assets: Vec<SimAsset> = (0..cfg.fleet_size)
            .map(|i| {
                let (family, version, distributor, endpoint_type) =
                    OSES[rng.random_range(0..OSES.len())];
                let stem = STEMS[rng.random_range(0..STEMS.len())];
                let created =
                    cfg.now - SignedDuration::from_hours(rng.random_range(24 * 240..24 * 720));
                let last_seen = if rng.random_bool(0.06) {
                    None
                } else {
                    // Up to 240 days ago, with microseconds as the service keeps them.
                    let micros = rng.random_range(0..240i64 * 86_400 * 1_000_000);
                    Some(cfg.now - SignedDuration::from_micros(micros))
                };
                let mut hostnames = vec![format!("{stem}-{:04}", i + 1)];
                if rng.random_bool(0.1) {
                    hostnames.push(format!("{stem}-{:04}.corp.example", i + 1));
                }
                let n_ips = rng.random_range(1..=3);
                let ip_addresses = (0..n_ips)
                    .map(|k| {
                        let internal = k == 0 || rng.random_bool(0.5);
                        address(&mut rng, internal)
                    })
                    .collect::<Vec<_>>();
                // Vendors list addresses in their own order: put an external one first now and then.
                let mut ip_addresses = ip_addresses;
                if ip_addresses.len() > 1 && rng.random_bool(0.3) {
                    ip_addresses.rotate_left(1);
                }
                SimAsset {
                    seq: i as u64 + 1,
                    id: uuid(&mut rng),
                    host_id: uuid(&mut rng),
                    sensor_id: hex(&mut rng, 24),
                    tenant_id: cfg.tenant_id.clone(),
                    created_at: created,
                    updated_at: last_seen.unwrap_or(created),
                    last_seen_at: last_seen,
                    sensor_version: VERSIONS[rng.random_range(0..VERSIONS.len())].to_string(),
                    endpoint_type: endpoint_type.to_string(),
                    os_family: family.to_string(),
                    os_version: version.to_string(),
                    os_distributor: distributor.to_string(),
                    architecture: if rng.random_bool(0.8) {
                        "x86_64"
                    } else {
                        "arm64"
                    }
                    .to_string(),
                    pending_uninstall: rng.random_bool(0.03),
                    hostnames,
                    ip_addresses,
                    endpoint_group: rng
                        .random_bool(0.9)
                        .then(|| groups[rng.random_range(0..groups.len())].clone()),
                    macs: Vec::new(),
                    bios_serial: None,
                }
            })
            .collect();
        if cfg.roster {
            apply_roster(&mut assets, cfg);
        }
        let seeded = [
            ("SIEM export", vec![ROLE_IDS[1].1.to_string()]),
            ("SOAR responder", vec![ROLE_IDS[2].1.to_string()]),
        ];
        let clients = seeded
            .iter()
            .take(cfg.clients)
            .enumerate()
            .map(|(i, (name, roles))| {
                new_client(
                    cfg.seed ^ (0xc11e_0000 + i as u64),
                    name,
                    roles.clone(),
                    &cfg.tenant_id,
                    "admin@example.com",
                    cfg.now - SignedDuration::from_hours(24 * (30 + i as i64)),
                )
            })
            .collect();
        let mut groups: Vec<SimGroup> = groups
            .into_iter()
            .map(|(id, name)| SimGroup { id, name })
            .collect();
        groups.extend(cfg.extra_groups.iter().map(|(id, name)| SimGroup {
            id: id.clone(),
            name: name.clone(),
        }));
        Self {
            assets,
            clients,
            uninstall_requests: Vec::new(),
            next_client_seed: cfg.seed ^ 0xc11e_1000,
            groups,
            deleted: Vec::new(),
            jobs: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_is_deterministic_and_varied() {
        let cfg = SimConfig {
            fleet_size: 400,
            ..SimConfig::default()
        };
        let a = SimState::generate(&cfg);
        let b = SimState::generate(&cfg);
        assert_eq!(a.assets, b.assets);
        assert_eq!(a.assets.len(), 400);
        assert!(a.assets.iter().any(|x| x.last_seen_at.is_none()));
        assert!(a.assets.iter().any(|x| x.pending_uninstall));
        assert!(a.assets.iter().any(|x| !x.hostnames[0].is_ascii()));
        assert!(a.assets.iter().any(|x| x.ip_addresses.len() > 1));
        assert!(
            a.assets
                .iter()
                .all(|x| x.last_seen_at.is_none_or(|t| t <= cfg.now))
        );
        let days: Vec<i64> = a
            .assets
            .iter()
            .filter_map(|x| x.last_seen_at)
            .map(|t| t.duration_until(cfg.now).as_hours() / 24)
            .collect();
        assert!(
            days.iter().any(|d| *d < 7) && days.iter().any(|d| *d > 180),
            "spread over months"
        );
        assert_eq!(a.clients.len(), 2);
        assert!(!format!("{:?}", a.clients).contains(&a.clients[0].secret));
    }
}
