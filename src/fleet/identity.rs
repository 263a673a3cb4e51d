//! Grouping agents into machines by the identity rule (`agentctl_core::identity`):
//! a shared MAC address, a shared serial number, the same first DNS label (case-insensitive,
//! Unicode), or a 15-character NetBIOS truncation of a longer name.
//!
//! Guards against false matches:
//! - a MAC or serial reported with more than [`MAX_NAMES_PER_HARDWARE_ID`] different host
//!   names identifies no machine (virtual adapters, VPN interfaces, cloned images) and is
//!   ignored;
//! - a 15-character name links to a longer name only when exactly one longer name has that
//!   prefix (otherwise it is ambiguous and links to nothing).

use std::collections::{HashMap, HashSet};

use agentctl_core::identity::{MatchRule, NETBIOS_MAX, netbios_prefix, short_name};

use super::{Agent, Fleet};

/// A MAC or serial seen with more host names than this is not an identity.
pub const MAX_NAMES_PER_HARDWARE_ID: usize = 3;

/// Agents grouped into machines.
pub struct Machines {
    /// Per agent (index into `Fleet::agents`): its machine.
    pub machine_of: Vec<u32>,
    /// Per machine: its agents, in fleet order.
    pub members: Vec<Vec<u32>>,
    /// Per machine: the weakest rule that was needed to link its agents (`None`: one agent).
    pub rule: Vec<Option<MatchRule>>,
    /// Every agent's folded first label, one after the other (see [`Machines::short`]).
    short_text: String,
    /// Per agent: where its folded first label ends in `short_text`.
    short_end: Vec<u32>,
    /// MACs and serials that identify a machine (the others are ignored).
    usable_macs: HashSet<Box<str>>,
    usable_serials: HashSet<Box<str>>,
}

struct UnionFind {
    parent: Vec<u32>,
    /// Weakest rule used inside each root's set.
    rule: Vec<Option<MatchRule>>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            rule: vec![None; n],
        }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    fn union(&mut self, a: u32, b: u32, rule: MatchRule) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        let weakest = [self.rule[ra as usize], self.rule[rb as usize], Some(rule)]
            .into_iter()
            .flatten()
            .max();
        self.parent[rb as usize] = ra;
        self.rule[ra as usize] = weakest;
    }
}

/// Values (MACs, serials) shared by too many host names are not identities: from every
/// (value, folded host name) pair, the values seen with at most
/// [`MAX_NAMES_PER_HARDWARE_ID`] different names. Sorting the pairs counts the names without
/// a set per value.
fn usable(mut pairs: Vec<(&str, &str)>) -> HashSet<Box<str>> {
    pairs.sort_unstable();
    pairs.dedup();
    let mut out = HashSet::new();
    for same in pairs.chunk_by(|a, b| a.0 == b.0) {
        if same.len() <= MAX_NAMES_PER_HARDWARE_ID {
            out.insert(Box::from(same[0].0));
        }
    }
    out
}

/// String `i` of strings stored one after the other in `text`, string `k` ending at
/// `ends[k]` ("" past the end).
fn packed_at<'t>(text: &'t str, ends: &[u32], i: usize) -> &'t str {
    let end = ends.get(i).copied().unwrap_or(0) as usize;
    let start = match i.checked_sub(1) {
        Some(p) => ends.get(p).copied().unwrap_or(0) as usize,
        None => 0,
    };
    text.get(start..end).unwrap_or_default()
}

/// Link every agent to the first agent (in fleet order) with the same key, by `rule`; the
/// first agent of each key.
fn link<'k>(
    uf: &mut UnionFind,
    capacity: usize,
    keys: impl Iterator<Item = (u32, &'k str)>,
    rule: MatchRule,
) -> HashMap<&'k str, u32> {
    let mut first: HashMap<&str, u32> = HashMap::with_capacity(capacity);
    for (i, key) in keys {
        match first.get(key) {
            Some(&j) => uf.union(j, i, rule),
            None => {
                first.insert(key, i);
            }
        }
    }
    first
}

impl Machines {
    pub fn build(fleet: &Fleet) -> Self {
        let agents = &fleet.agents;
        let mut short_text = String::new();
        let mut short_end = Vec::with_capacity(agents.len());
        for a in agents {
            short_text.push_str(&short_name(a.hostname()));
            short_end.push(u32::try_from(short_text.len()).unwrap_or(u32::MAX));
        }
        let short_at = |i: usize| packed_at(&short_text, &short_end, i);
        let mut mac_names: Vec<(&str, &str)> = Vec::new();
        let mut serial_names: Vec<(&str, &str)> = Vec::new();
        for (i, a) in agents.iter().enumerate() {
            let s = short_at(i);
            for m in a.macs() {
                mac_names.push((m, s));
            }
            if let Some(serial) = a.serial() {
                serial_names.push((serial, s));
            }
        }
        let usable_macs = usable(mac_names);
        let usable_serials = usable(serial_names);

        // One map per rule, each sized once and dropped when its rule is done: the largest
        // holds one entry per distinct value, not every value of every rule at once.
        let mut uf = UnionFind::new(agents.len());
        link(
            &mut uf,
            usable_macs.len(),
            agents.iter().enumerate().flat_map(|(i, a)| {
                a.macs()
                    .filter(|m| usable_macs.contains(*m))
                    .map(move |m| (i as u32, m))
            }),
            MatchRule::Mac,
        );
        link(
            &mut uf,
            usable_serials.len(),
            agents.iter().enumerate().filter_map(|(i, a)| {
                a.serial()
                    .filter(|s| usable_serials.contains(*s))
                    .map(|s| (i as u32, s))
            }),
            MatchRule::Serial,
        );
        let first = link(
            &mut uf,
            0,
            (0..agents.len())
                .map(|i| (i as u32, short_at(i)))
                .filter(|(_, s)| !s.is_empty()),
            MatchRule::Hostname,
        );
        // NetBIOS: a 15-character name links to the one longer name it prefixes (sorting the
        // (prefix, name) pairs finds the prefixes of exactly one longer name).
        let mut longer: Vec<(&str, &str)> = (0..agents.len())
            .map(short_at)
            .filter(|s| s.chars().count() > NETBIOS_MAX)
            .filter_map(|s| netbios_prefix(s).map(|p| (p, s)))
            .collect();
        longer.sort_unstable();
        longer.dedup();
        let only: HashMap<&str, &str> = longer
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|same| same.len() == 1)
            .map(|same| same[0])
            .collect();
        drop(longer);
        for i in 0..agents.len() {
            let s = short_at(i);
            if s.chars().count() != NETBIOS_MAX {
                continue;
            }
            if let Some(name) = only.get(s)
                && let Some(&j) = first.get(*name)
            {
                uf.union(j, i as u32, MatchRule::Netbios);
            }
        }
        drop(only);
        drop(first);

        let mut root_to_machine: HashMap<u32, u32> = HashMap::new();
        let mut machine_of = Vec::with_capacity(agents.len());
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut rule = Vec::new();
        for i in 0..agents.len() as u32 {
            let r = uf.find(i);
            let m = *root_to_machine.entry(r).or_insert_with(|| {
                members.push(Vec::new());
                rule.push(uf.rule[r as usize]);
                (members.len() - 1) as u32
            });
            members[m as usize].push(i);
            machine_of.push(m);
        }
        Self {
            machine_of,
            members,
            rule,
            short_text,
            short_end,
            usable_macs,
            usable_serials,
        }
    }

    /// Agent `i`'s folded first label.
    pub fn short(&self, i: u32) -> &str {
        packed_at(&self.short_text, &self.short_end, i as usize)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The rule that makes agents `a` and `b` (of one machine) the same machine: the strongest
    /// direct match between them, else the machine's weakest link (they are linked through
    /// other agents).
    pub fn pair_rule(&self, fleet: &Fleet, a: u32, b: u32) -> Option<MatchRule> {
        let (x, y): (&Agent, &Agent) = (&fleet.agents[a as usize], &fleet.agents[b as usize]);
        if x.macs()
            .any(|m| self.usable_macs.contains(m) && y.macs().any(|n| n == m))
        {
            return Some(MatchRule::Mac);
        }
        if let (Some(s1), Some(s2)) = (x.serial(), y.serial())
            && s1 == s2
            && self.usable_serials.contains(s1)
        {
            return Some(MatchRule::Serial);
        }
        if let Some(r) = agentctl_core::identity::short_names_match(self.short(a), self.short(b)) {
            return Some(r);
        }
        if self.machine_of[a as usize] == self.machine_of[b as usize] {
            return self.rule[self.machine_of[a as usize] as usize];
        }
        None
    }

    /// The name a machine is shown by: the longest host name among its agents (an FQDN or
    /// the untruncated name says most), ties broken by byte order (upper case first), never
    /// by which console answered first: the same fleet always shows the same name.
    pub fn display_name<'f>(&self, fleet: &'f Fleet, machine: u32) -> &'f str {
        self.members[machine as usize]
            .iter()
            .map(|&i| fleet.agents[i as usize].hostname())
            .filter(|h| !h.is_empty())
            .min_by_key(|h| (std::cmp::Reverse(h.chars().count()), *h))
            .unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::{Fleet, ProviderInfo};
    use agentctl_core::AgentRecord;

    /// `(provider, agent id, host name, MACs, serial)`.
    type Row<'a> = (u16, &'a str, &'a str, &'a [&'a str], Option<&'a str>);

    fn fleet(rows: &[Row]) -> Fleet {
        let p = |name: &str| ProviderInfo {
            name: name.into(),
            kind: "secure-endpoint",
            has_last_seen: true,
            can_remove: true,
        };
        let mut f = Fleet::new(vec![p("a"), p("b"), p("c")]);
        for (prov, id, host, macs, serial) in rows {
            f.push(
                *prov,
                &AgentRecord {
                    provider: String::new(),
                    kind: String::new(),
                    agent_id: (*id).into(),
                    hostname: (*host).into(),
                    last_seen: None,
                    os: None,
                    agent_version: None,
                    ip_addresses: vec![],
                    group: None,
                    mac_addresses: macs.iter().map(|m| m.to_string()).collect(),
                    serial_number: serial.map(str::to_string),
                    pending_uninstall: false,
                    raw: serde_json::Value::Null,
                },
            );
        }
        f
    }

    #[test]
    fn machines_by_every_rule_and_no_false_links() {
        let f = fleet(&[
            (0, "1", "TKY-LT-0042.corp.example", &[], None),
            (1, "2", "tky-lt-0042", &[], None),
            (0, "3", "workstation-finance-01", &[], None),
            (2, "4", "WORKSTATION-FIN", &[], None),
            (0, "5", "DESKTOP-7H3K2Q", &["00-1B-00-00-00-07"], None),
            (1, "6", "lab-scanner-03", &["00:1b:00:00:00:07"], None),
            (1, "7", "kiosk-lobby-01", &[], Some("pf1ki05k")),
            (1, "8", "kiosk-lobby-02", &[], Some("PF1KI05K")),
            (0, "9", "ZÜRICH-PC-01", &[], None),
            (1, "10", "zürich-pc-01", &[], None),
            // Two long names sharing 15 characters and a truncated one: ambiguous.
            (0, "11", "accounting-desk-01", &[], None),
            (0, "12", "accounting-desk-02", &[], None),
            (2, "13", "ACCOUNTING-DESK", &[], None),
            // A MAC shared by many names identifies nothing.
            (0, "14", "vpn-a", &["02:00:4c:4f:4f:50"], None),
            (0, "15", "vpn-b", &["02:00:4c:4f:4f:50"], None),
            (0, "16", "vpn-c", &["02:00:4c:4f:4f:50"], None),
            (0, "17", "vpn-d", &["02:00:4c:4f:4f:50"], None),
        ]);
        let m = Machines::build(&f);
        let same = |a: u32, b: u32| m.machine_of[a as usize] == m.machine_of[b as usize];
        assert!(same(0, 1));
        assert_eq!(m.pair_rule(&f, 0, 1), Some(MatchRule::Hostname));
        assert!(same(2, 3));
        assert_eq!(m.pair_rule(&f, 2, 3), Some(MatchRule::Netbios));
        assert!(same(4, 5));
        assert_eq!(m.pair_rule(&f, 4, 5), Some(MatchRule::Mac));
        assert!(same(6, 7));
        assert_eq!(m.pair_rule(&f, 6, 7), Some(MatchRule::Serial));
        assert!(same(8, 9));
        assert!(!same(10, 11) && !same(10, 12) && !same(11, 12));
        assert!(!same(13, 14) && !same(15, 16));
        assert_eq!(m.rule[m.machine_of[2] as usize], Some(MatchRule::Netbios));
        assert_eq!(m.rule[m.machine_of[13] as usize], None);
        assert_eq!(
            m.display_name(&f, m.machine_of[1]),
            "TKY-LT-0042.corp.example"
        );
    }

    /// Two names of the same length for one machine: the one shown does not depend on which
    /// console's agents arrived first.
    #[test]
    fn a_tie_for_the_name_shown_is_broken_by_byte_order() {
        let desktop: Row = (0, "5", "DESKTOP-7H3K2Q", &["00:1b:00:00:00:07"], None);
        let scanner: Row = (1, "6", "lab-scanner-03", &["00:1b:00:00:00:07"], None);
        let other: Row = (0, "2", "desktop-7h3k2q", &["00:1b:00:00:00:07"], None);
        for rows in [
            vec![desktop, scanner, other],
            vec![scanner, other, desktop],
            vec![scanner, desktop, other],
        ] {
            let f = fleet(&rows);
            let m = Machines::build(&f);
            assert_eq!(m.display_name(&f, m.machine_of[0]), "DESKTOP-7H3K2Q");
        }
    }
}
