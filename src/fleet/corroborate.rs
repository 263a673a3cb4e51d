//! `stale`'s corroboration: is the machine of a stale agent alive in another console?

use agentctl_core::identity::MatchRule;
use jiff::Timestamp;

use super::Fleet;
use super::identity::Machines;

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
