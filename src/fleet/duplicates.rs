//! Duplicates: one machine registered under more than one agent id in the same provider
//! (re-imaged, cloned). The newest registration by last-seen time is kept; the others are
//! candidates for removal.

use std::collections::HashMap;

use agentctl_core::identity::MatchRule;
use jiff::Timestamp;

use super::Fleet;
use super::identity::Machines;
use super::protect::Protection;

#[derive(Debug, Clone)]
pub struct Duplicate {
    /// The registration to clean up (index into `Fleet::agents`).
    pub agent: u32,
    /// The registration kept: the newest by last-seen time.
    pub kept: u32,
    pub rule: Option<MatchRule>,
    /// Seen within `--min-age`: listed nowhere as a plan row, only counted.
    pub too_recent: bool,
}

/// What happens to a duplicate in a plan: the one rule `duplicates` and `report` share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DuplicateFate {
    /// Seen within `--min-age`: never planned.
    TooRecent,
    /// On the protection list: never planned (the reason).
    Protected(String),
    /// In the plan (removed where the kind can remove registrations).
    Planned,
}

impl Duplicate {
    pub fn fate(&self, fleet: &Fleet, protection: &Protection) -> DuplicateFate {
        if self.too_recent {
            return DuplicateFate::TooRecent;
        }
        let a = &fleet.agents[self.agent as usize];
        match protection.reason(a.agent_id(), Some(a.hostname()), fleet.group(a)) {
            Some(why) => DuplicateFate::Protected(why),
            None => DuplicateFate::Planned,
        }
    }
}

/// What [`find`] found.
#[derive(Debug, Default)]
pub struct Found {
    pub duplicates: Vec<Duplicate>,
    /// Per provider index: machines with several registrations that could not be ranked
    /// (the kind reports no last-seen time).
    pub unranked: HashMap<u16, usize>,
}

/// Duplicates per provider. An agent last seen after `min_seen` (now − `--min-age`) is marked
/// `too_recent`. Kinds without last-seen times cannot say which registration is newest: their
/// machines are counted in `unranked` and never planned.
pub fn find(fleet: &Fleet, machines: &Machines, min_seen: Timestamp) -> Found {
    let mut found = Found::default();
    for members in &machines.members {
        if members.len() < 2 {
            continue;
        }
        let mut by_provider: HashMap<u16, Vec<u32>> = HashMap::new();
        for &i in members {
            by_provider
                .entry(fleet.agents[i as usize].provider)
                .or_default()
                .push(i);
        }
        for (provider, agents) in by_provider {
            if agents.len() < 2 {
                continue;
            }
            if !fleet.providers[provider as usize].has_last_seen {
                *found.unranked.entry(provider).or_default() += 1;
                continue;
            }
            // Newest last seen wins; unknown counts as oldest; ties go to the smaller id.
            let Some(&kept) = agents.iter().max_by(|&&a, &&b| {
                let (x, y) = (&fleet.agents[a as usize], &fleet.agents[b as usize]);
                x.last_seen
                    .cmp(&y.last_seen)
                    .then_with(|| y.agent_id().cmp(x.agent_id()))
            }) else {
                continue;
            };
            for &i in agents.iter().filter(|&&i| i != kept) {
                let a = &fleet.agents[i as usize];
                found.duplicates.push(Duplicate {
                    agent: i,
                    kept,
                    rule: machines.pair_rule(fleet, i, kept),
                    too_recent: a.last_seen.is_some_and(|t| t > min_seen),
                });
            }
        }
    }
    found.duplicates.sort_by(|a, b| {
        let (x, y) = (
            &fleet.agents[a.agent as usize],
            &fleet.agents[b.agent as usize],
        );
        (
            x.provider,
            agentctl_core::identity::fold(x.hostname()),
            x.agent_id(),
        )
            .cmp(&(
                y.provider,
                agentctl_core::identity::fold(y.hostname()),
                y.agent_id(),
            ))
    });
    found
}
