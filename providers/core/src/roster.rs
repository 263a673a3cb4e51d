//! One organisation's machines, as every simulated console sees them (feature `sim`).
//!
//! The sandbox's consoles are not independent random fleets: the same machines carry agents of
//! several vendors, as in a real organisation. A simulator in "roster" mode takes its agents'
//! host names, last-seen times, MAC addresses and serial numbers from here, so the
//! cross-console commands (`stale --corroborate`, `gaps`, `duplicates`) have real
//! findings. Healthy machines are consistent everywhere (each console saw them within hours
//! of the others); every anomaly is one of the [`planted`] machines, so a test can expect
//! exactly those. Each console writes the values in its own wire format.

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The kinds the roster knows how each console names and reports a machine.
pub const SECURE_ENDPOINT: &str = "secure-endpoint";
pub const SECURE_ACCESS: &str = "secure-access";
pub const TAEGIS: &str = "taegis";
pub const APEX_CENTRAL: &str = "apex-central";

/// How one console sees one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seat {
    pub hostname: String,
    /// `None`: the console has no last-seen time for it (or the kind reports none).
    pub last_seen: Option<Timestamp>,
    /// Lower case, `:`-separated.
    pub mac: Option<String>,
    pub serial: Option<String>,
}

/// Short names up to 12 characters plus `-NNNN`, so no random name reaches the 15 characters
/// of a NetBIOS truncation; several are non-ASCII.
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
    "kraków-ws",
    "reception",
    "São-nb",
];

/// One organisation: every console draws its machines from the same seed.
pub const SEED: u64 = 0x0A6E_47C7;

fn rng_for(seed: u64, i: usize) -> StdRng {
    StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn mac_for(rng: &mut StdRng) -> String {
    // 00:1a:… keeps the multicast bit clear.
    let tail: Vec<String> = (0..4)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect();
    format!("00:1a:{}", tail.join(":"))
}

/// Random machine `i` of the roster as console `kind` sees it: the same name, MAC and serial
/// for every kind, last seen when the machine was last on (0–240 days ago).
pub fn seat(kind: &str, i: usize, now: Timestamp) -> Seat {
    let mut rng = rng_for(SEED, i);
    let stem = STEMS[rng.random_range(0..STEMS.len())];
    let short = format!("{stem}-{i:04}");
    let fqdn = rng.random_bool(0.4);
    let age = rng.random_range(0..240 * 86_400_i64);
    let mac = mac_for(&mut rng);
    let serial = format!("PF{:08X}", rng.random::<u32>());
    // Every console saw a healthy machine at the same second, so a cutoff never falls between
    // two consoles' sightings of it: only the planted machines disagree.
    let last_seen = (now - SignedDuration::from_secs(age)).max(Timestamp::UNIX_EPOCH);
    let hostname = match kind {
        SECURE_ENDPOINT if fqdn => format!("{short}.corp.example.com"),
        APEX_CENTRAL => short.to_uppercase(),
        _ => short,
    };
    Seat {
        hostname,
        last_seen: (kind != APEX_CENTRAL).then_some(last_seen),
        mac: Some(mac),
        serial: Some(serial),
    }
}

/// One planted machine: per console, the name it shows and how long ago it last saw it
/// (`None` = not registered there). Ages are in hours.
struct Planted {
    se: Option<(&'static str, i64)>,
    sa: Option<(&'static str, i64)>,
    taegis: Option<(&'static str, i64)>,
    apex: Option<&'static str>,
    mac: Option<&'static str>,
    serial: Option<&'static str>,
}

const D: i64 = 24;

/// The planted machines, each showing one thing the cross-console commands must find. The
/// README's sandbox walk-through and the end-to-end tests refer to them by name.
fn planted_machines() -> Vec<Planted> {
    vec![
        // Retired: stale in every console (clean it up).
        Planted {
            se: Some(("retired-0001.corp.example.com", 300 * D)),
            sa: Some(("retired-0001", 301 * D)),
            taegis: Some(("retired-0001", 299 * D)),
            apex: Some("RETIRED-0001"),
            mac: Some("00:1b:00:00:00:01"),
            serial: None,
        },
        // Broken Secure Endpoint connector: stale there, alive elsewhere (fix the agent).
        Planted {
            se: Some(("broken-se-01", 120 * D)),
            sa: Some(("broken-se-01", 5)),
            taegis: Some(("broken-se-01", 2)),
            apex: None,
            mac: Some("00:1b:00:00:00:02"),
            serial: None,
        },
        // Broken Taegis sensor.
        Planted {
            se: Some(("broken-tg-01.corp.example.com", 3)),
            sa: Some(("broken-tg-01", 7)),
            taegis: Some(("broken-tg-01", 95 * D)),
            apex: None,
            mac: Some("00:1b:00:00:00:03"),
            serial: None,
        },
        // No EDR agent at all: only the roaming client knows it.
        Planted {
            se: None,
            sa: Some(("no-edr-01", 6)),
            taegis: None,
            apex: None,
            mac: None,
            serial: None,
        },
        // FQDN in one console, short name in the others: one healthy machine.
        Planted {
            se: Some(("TKY-LT-0042.corp.example", 1)),
            sa: Some(("TKY-LT-0042", 2)),
            taegis: Some(("tky-lt-0042", 3)),
            apex: Some("TKY-LT-0042"),
            mac: None,
            serial: None,
        },
        // NetBIOS truncation in Apex Central; no roaming client (a gap matched by netbios).
        Planted {
            se: Some(("workstation-finance-01.corp.example.com", 4)),
            sa: None,
            taegis: Some(("workstation-finance-01", 2)),
            apex: Some("WORKSTATION-FIN"),
            mac: None,
            serial: None,
        },
        // Renamed in one console: only the MAC address says it is one machine, and the
        // Taegis sensor under the old name went quiet.
        Planted {
            se: Some(("DESKTOP-7H3K2Q", 8)),
            sa: Some(("DESKTOP-7H3K2Q", 9)),
            taegis: Some(("lab-scanner-03", 60 * D)),
            apex: None,
            mac: Some("00:1b:00:00:00:07"),
            serial: None,
        },
        // Non-ASCII name, upper case in one console, stale in Taegis.
        Planted {
            se: Some(("ZÜRICH-PC-01", 10)),
            sa: Some(("zürich-pc-01", 11)),
            taegis: Some(("zürich-pc-01", 50 * D)),
            apex: None,
            mac: None,
            serial: None,
        },
        // A domain controller offline for maintenance: stale everywhere, but must never be
        // touched (the README's [protect] example).
        Planted {
            se: Some(("dc-01.corp.example.com", 200 * D)),
            sa: Some(("dc-01", 200 * D)),
            taegis: Some(("dc-01", 200 * D)),
            apex: Some("DC-01"),
            mac: Some("00:1b:00:00:00:09"),
            serial: None,
        },
    ]
}

/// Re-imaged twins: one machine, two registrations in the same console (the older one is a
/// duplicate). Per kind: `(name, age hours)` of each registration, and the serial if shown.
fn twins(kind: &str) -> Vec<(&'static str, i64, Option<&'static str>)> {
    match kind {
        SECURE_ENDPOINT => vec![
            // Re-imaged 40 days ago: the old record is a duplicate to remove.
            ("reimaged-ws-07", 40 * D, None),
            ("reimaged-ws-07.corp.example.com", 2, None),
            // Re-imaged this morning: the old record was seen 10 hours ago, inside the
            // default --min-age of 24 hours, so it is not planned yet.
            ("fresh-twin-01", 10, None),
            ("fresh-twin-01", 1, None),
        ],
        // Taegis shows the BIOS serial: a re-imaged kiosk with a new name.
        TAEGIS => vec![
            ("kiosk-lobby-01", 30 * D, Some("PF1KI05K")),
            ("kiosk-lobby-02", 1, Some("PF1KI05K")),
        ],
        _ => Vec::new(),
    }
}

/// The planted registrations console `kind` shows (see the module docs).
pub fn planted(kind: &str, now: Timestamp) -> Vec<Seat> {
    let at = |hours: i64| Some(now - SignedDuration::from_hours(hours));
    let mut out = Vec::new();
    for p in planted_machines() {
        let seat = match kind {
            SECURE_ENDPOINT => p.se.map(|(n, h)| (n, at(h))),
            SECURE_ACCESS => p.sa.map(|(n, h)| (n, at(h))),
            TAEGIS => p.taegis.map(|(n, h)| (n, at(h))),
            APEX_CENTRAL => p.apex.map(|n| (n, None)),
            _ => None,
        };
        if let Some((name, last_seen)) = seat {
            out.push(Seat {
                hostname: name.to_string(),
                last_seen,
                mac: p.mac.map(str::to_string),
                serial: p.serial.map(str::to_string),
            });
        }
    }
    for (name, hours, serial) in twins(kind) {
        out.push(Seat {
            hostname: name.to_string(),
            last_seen: at(hours),
            mac: None,
            serial: serial.map(str::to_string),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_sees_the_same_machine() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        for i in [0, 7, 999] {
            let se = seat(SECURE_ENDPOINT, i, now);
            let tg = seat(TAEGIS, i, now);
            let apex = seat(APEX_CENTRAL, i, now);
            assert_eq!(
                crate::identity::short_name(&se.hostname),
                crate::identity::short_name(&tg.hostname)
            );
            assert_eq!(
                crate::identity::short_name(&apex.hostname),
                crate::identity::short_name(&tg.hostname)
            );
            assert_eq!(se.mac, tg.mac);
            assert!(apex.last_seen.is_none());
            assert_eq!(se.last_seen, tg.last_seen);
            assert!(crate::identity::short_name(&se.hostname).chars().count() < 15);
        }
        assert!(
            planted(TAEGIS, now)
                .iter()
                .any(|s| s.hostname == "lab-scanner-03")
        );
        assert!(
            planted(SECURE_ACCESS, now)
                .iter()
                .any(|s| s.hostname == "no-edr-01")
        );
    }
}
