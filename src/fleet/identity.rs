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
    /// Per agent: its folded first label.
    pub short: Vec<Box<str>>,
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

/// Values shared by too many host names are not identities.
fn usable(values: HashMap<&str, HashSet<&str>>) -> HashSet<Box<str>> {
    values
        .into_iter()
        .filter(|(_, names)| names.len() <= MAX_NAMES_PER_HARDWARE_ID)
        .map(|(v, _)| Box::from(v))
        .collect()
}

impl Machines {
    pub fn build(fleet: &Fleet) -> Self {
        let agents = &fleet.agents;
        let short: Vec<Box<str>> = agents
            .iter()
            .map(|a| short_name(&a.hostname).into_boxed_str())
            .collect();
        let mut mac_names: HashMap<&str, HashSet<&str>> = HashMap::new();
        let mut serial_names: HashMap<&str, HashSet<&str>> = HashMap::new();
        for (a, s) in agents.iter().zip(&short) {
            for m in a.macs.iter() {
                mac_names.entry(m).or_default().insert(s);
            }
            if let Some(serial) = &a.serial {
                serial_names.entry(serial).or_default().insert(s);
            }
        }
        let usable_macs = usable(mac_names);
        let usable_serials = usable(serial_names);

        let mut uf = UnionFind::new(agents.len());
        let mut first: HashMap<(u8, &str), u32> = HashMap::new();
        for (i, a) in agents.iter().enumerate() {
            let i = i as u32;
            for m in a.macs.iter() {
                if usable_macs.contains(m) {
                    match first.get(&(0, m.as_ref())) {
                        Some(&j) => uf.union(j, i, MatchRule::Mac),
                        None => {
                            first.insert((0, m.as_ref()), i);
                        }
                    }
                }
            }
        }
        for (i, a) in agents.iter().enumerate() {
            let i = i as u32;
            if let Some(s) = a.serial.as_deref().filter(|s| usable_serials.contains(*s)) {
                match first.get(&(1, s)) {
                    Some(&j) => uf.union(j, i, MatchRule::Serial),
                    None => {
                        first.insert((1, s), i);
                    }
                }
            }
        }
        for (i, s) in short.iter().enumerate() {
            let i = i as u32;
            if s.is_empty() {
                continue;
            }
            match first.get(&(2, s.as_ref())) {
                Some(&j) => uf.union(j, i, MatchRule::Hostname),
                None => {
                    first.insert((2, s.as_ref()), i);
                }
            }
        }
        // NetBIOS: a 15-character name links to the one longer name it prefixes.
        let mut longer: HashMap<&str, HashSet<&str>> = HashMap::new();
        for s in &short {
            if s.chars().count() > NETBIOS_MAX
                && let Some(p) = netbios_prefix(s)
            {
                longer.entry(p).or_default().insert(s);
            }
        }
        for (i, s) in short.iter().enumerate() {
            if s.chars().count() != NETBIOS_MAX {
                continue;
            }
            if let Some(names) = longer.get(s.as_ref())
                && names.len() == 1
                && let Some(name) = names.iter().next()
                && let Some(&j) = first.get(&(2, *name))
            {
                uf.union(j, i as u32, MatchRule::Netbios);
            }
        }

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
            short,
            usable_macs,
            usable_serials,
        }
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
        if x.macs
            .iter()
            .any(|m| self.usable_macs.contains(m) && y.macs.contains(m))
        {
            return Some(MatchRule::Mac);
        }
        if let (Some(s1), Some(s2)) = (&x.serial, &y.serial)
            && s1 == s2
            && self.usable_serials.contains(s1)
        {
            return Some(MatchRule::Serial);
        }
        if let Some(r) = agentctl_core::identity::short_names_match(
            &self.short[a as usize],
            &self.short[b as usize],
        ) {
            return Some(r);
        }
        if self.machine_of[a as usize] == self.machine_of[b as usize] {
            return self.rule[self.machine_of[a as usize] as usize];
        }
        None
    }

    /// The name a machine is shown by: the longest host name among its agents (an FQDN or
    /// the untruncated name says most), ties broken by the first seen.
    pub fn display_name<'f>(&self, fleet: &'f Fleet, machine: u32) -> &'f str {
        self.members[machine as usize]
            .iter()
            .map(|&i| fleet.agents[i as usize].hostname.as_ref())
            .filter(|h| !h.is_empty())
            .fold("", |best, h| {
                if h.chars().count() > best.chars().count() {
                    h
                } else {
                    best
                }
            })
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
}
