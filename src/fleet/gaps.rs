//! Coverage gaps: machines active in at least one console but missing from, or stale in,
//! another console they are expected in.

use agentctl_core::identity::MatchRule;
use jiff::Timestamp;

use super::Fleet;
use super::identity::Machines;

/// How one machine stands in one provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// No agent of the machine is registered there.
    Missing,
    /// Registered; the newest last-seen time is older than the cutoff.
    Stale,
    /// Registered and seen since the cutoff.
    Active,
    /// Registered without a last-seen time (Apex Central, or a never-seen agent).
    Present,
}

/// One machine's row of the coverage matrix: its presence per provider (fleet order).
pub fn presence(
    fleet: &Fleet,
    machines: &Machines,
    machine: u32,
    cutoff: Timestamp,
) -> Vec<Presence> {
    let mut out = vec![Presence::Missing; fleet.providers.len()];
    let mut newest: Vec<Option<Timestamp>> = vec![None; fleet.providers.len()];
    for &i in &machines.members[machine as usize] {
        let a = &fleet.agents[i as usize];
        let p = a.provider as usize;
        if out[p] == Presence::Missing {
            out[p] = Presence::Present;
        }
        if let Some(t) = a.last_seen {
            newest[p] = newest[p].max(Some(t));
        }
    }
    for (p, slot) in out.iter_mut().enumerate() {
        if *slot == Presence::Missing {
            continue;
        }
        *slot = match newest[p] {
            Some(t) if t >= cutoff => Presence::Active,
            Some(_) => Presence::Stale,
            None => Presence::Present,
        };
    }
    out
}

/// One gap.
#[derive(Debug, Clone)]
pub struct Gap {
    pub machine: u32,
    pub host: String,
    pub rule: Option<MatchRule>,
    /// Providers where the machine is registered and not stale (active, or present without a
    /// last-seen time).
    pub seen_in: Vec<u16>,
    pub newest_last_seen: Option<Timestamp>,
    pub missing_in: Vec<u16>,
    pub stale_in: Vec<u16>,
}

/// How sure the gap is: for registrations stale in an expected provider, the weakest of their
/// best links to an active registration elsewhere (is the stale agent really this machine?);
/// otherwise how the machine's registrations were linked (`None` for a single one).
fn gap_rule(
    fleet: &Fleet,
    machines: &Machines,
    m: u32,
    stale_in: &[u16],
    cutoff: Timestamp,
) -> Option<MatchRule> {
    let members = &machines.members[m as usize];
    let active: Vec<u32> = members
        .iter()
        .copied()
        .filter(|&i| {
            fleet.agents[i as usize]
                .last_seen
                .is_some_and(|t| t >= cutoff)
        })
        .collect();
    let mut weakest: Option<MatchRule> = None;
    for &i in members {
        let a = &fleet.agents[i as usize];
        if !stale_in.contains(&a.provider) {
            continue;
        }
        let best = active
            .iter()
            .filter(|&&j| fleet.agents[j as usize].provider != a.provider)
            .filter_map(|&j| machines.pair_rule(fleet, i, j))
            .min();
        weakest = weakest.max(best);
    }
    weakest.or(machines.rule[m as usize])
}

/// Machines active (seen since `cutoff`) in at least one provider and missing from, or stale
/// in, at least one of `expected` (provider indices). Sorted by host name.
pub fn find(fleet: &Fleet, machines: &Machines, expected: &[u16], cutoff: Timestamp) -> Vec<Gap> {
    let mut gaps = Vec::new();
    for m in 0..machines.len() as u32 {
        let row = presence(fleet, machines, m, cutoff);
        if !row.contains(&Presence::Active) {
            continue;
        }
        let missing_in: Vec<u16> = expected
            .iter()
            .copied()
            .filter(|&p| row[p as usize] == Presence::Missing)
            .collect();
        let stale_in: Vec<u16> = expected
            .iter()
            .copied()
            .filter(|&p| row[p as usize] == Presence::Stale)
            .collect();
        if missing_in.is_empty() && stale_in.is_empty() {
            continue;
        }
        let seen_in = (0..row.len() as u16)
            .filter(|&p| matches!(row[p as usize], Presence::Active | Presence::Present))
            .collect();
        let newest_last_seen = machines.members[m as usize]
            .iter()
            .filter_map(|&i| fleet.agents[i as usize].last_seen)
            .max();
        gaps.push(Gap {
            machine: m,
            host: machines.display_name(fleet, m).to_string(),
            rule: gap_rule(fleet, machines, m, &stale_in, cutoff),
            seen_in,
            newest_last_seen,
            missing_in,
            stale_in,
        });
    }
    gaps.sort_by(|a, b| {
        agentctl_core::identity::fold(&a.host)
            .cmp(&agentctl_core::identity::fold(&b.host))
            .then(a.machine.cmp(&b.machine))
    });
    gaps
}
