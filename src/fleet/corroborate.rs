//! `stale`'s corroboration: is the machine of a stale agent alive in another console?

use agentctl_core::identity::MatchRule;
use jiff::Timestamp;

use super::Fleet;
use super::identity::Machines;
use super::protect::Protection;

/// The newest sighting of an agent's machine in any *other* provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenElsewhere {
    pub last_seen: Timestamp,
    /// Index into `Fleet::providers`.
    pub provider: u16,
    /// How the two registrations were matched.
    pub rule: Option<MatchRule>,
}

/// For agent `i`: the newest last-seen time of the same machine in another provider (same
/// kind or not), if any provider other than its own reports one.
pub fn seen_elsewhere(fleet: &Fleet, machines: &Machines, i: u32) -> Option<SeenElsewhere> {
    let me = &fleet.agents[i as usize];
    let machine = machines.machine_of[i as usize];
    machines.members[machine as usize]
        .iter()
        .filter(|&&j| fleet.agents[j as usize].provider != me.provider)
        .filter_map(|&j| {
            let other = &fleet.agents[j as usize];
            other.last_seen.map(|t| (t, j, other.provider))
        })
        .max_by_key(|(t, j, _)| (*t, std::cmp::Reverse(*j)))
        .map(|(t, j, provider)| SeenElsewhere {
            last_seen: t,
            provider,
            rule: machines.pair_rule(fleet, i, j),
        })
}

/// What happens to a stale agent in a plan: the one rule `stale` and `report` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StaleFate {
    /// On the protection list: never planned (the reason, e.g. `host dc-*`).
    Protected(String),
    /// Its machine was seen in another console since the cutoff: a broken agent, not a
    /// retired machine (`--corroborate` drops it from the plan).
    Broken(SeenElsewhere),
    /// Retired as far as every selected console can tell (with where else it was last seen,
    /// before the cutoff, if anywhere).
    Retired(Option<SeenElsewhere>),
}

/// The fate of stale agent `i` (protection first, then corroboration against `cutoff`).
pub fn stale_fate(
    fleet: &Fleet,
    machines: &Machines,
    protection: &Protection,
    i: u32,
    cutoff: Timestamp,
) -> StaleFate {
    let a = &fleet.agents[i as usize];
    if let Some(why) = protection.reason(a.agent_id(), Some(a.hostname()), fleet.group(a)) {
        return StaleFate::Protected(why);
    }
    match seen_elsewhere(fleet, machines, i) {
        Some(s) if s.last_seen >= cutoff => StaleFate::Broken(s),
        other => StaleFate::Retired(other),
    }
}
