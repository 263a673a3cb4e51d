//! `agentctl report`: one document for people (HTML with inline SVG charts, Markdown) or
//! machines (JSON), computed from one listing pass of every selected provider.
//!
//! Contents: per provider total / active / stale / unknown / pending, a last-seen age
//! histogram per provider, the coverage matrix (how many machines share each presence pattern
//! across the providers, and every machine with a gap), duplicates, broken agents, protected
//! agents held back, and licences reclaimable (retired stale agents and planned duplicates per
//! provider, optionally × `licence_cost`).
//!
//! Every finding comes from the rules the other commands use — [`super::corroborate::stale_fate`]
//! (`stale`), [`super::gaps::find`] (`gaps`), [`super::duplicates::find`] and
//! [`super::duplicates::Duplicate::fate`] (`duplicates`) — so the report and the commands never
//! disagree. Memory: what [`super::Fleet`] keeps (compact agents) plus the findings; never
//! vendor JSON. The JSON is streamed to its writer, not built as one value.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io;

use agentctl_core::identity::MatchRule;
use agentctl_core::time::format_timestamp;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::corroborate::{SeenElsewhere, StaleFate, stale_fate};
use super::duplicates::{self, Duplicate, DuplicateFate};
use super::gaps::{self, Gap, Presence};
use super::identity::Machines;
use super::protect::Protection;
use super::{Agent, Fleet};

/// Last-seen age buckets (days, upper bound included, as `--days` counts: an agent exactly 30
/// days old is not stale at `--days 30`), in order; the last one is "no last-seen time".
pub const BUCKETS: [&str; 8] = [
    "≤ 1 d",
    "1–7 d",
    "7–30 d",
    "30–90 d",
    "90–180 d",
    "180–365 d",
    "> 365 d",
    "no last-seen time",
];
/// Upper bounds (inclusive, in days) of the first buckets; older goes to "> 365 d".
const BUCKET_UPPER_DAYS: [i64; 6] = [1, 7, 30, 90, 180, 365];
const NO_TIME: usize = BUCKETS.len() - 1;

/// At most this many rows per list in HTML and Markdown (the JSON has all of them).
pub const MAX_LISTED: usize = 200;

fn bucket(now: Timestamp, seen: Option<Timestamp>) -> usize {
    let Some(t) = seen else {
        return NO_TIME;
    };
    let age = now.as_second().saturating_sub(t.as_second());
    BUCKET_UPPER_DAYS
        .iter()
        .position(|&d| age <= d * 86_400)
        .unwrap_or(BUCKET_UPPER_DAYS.len())
}

/// One provider's counts.
#[derive(Debug, Clone, Default)]
pub struct ProviderStats {
    pub name: String,
    pub kind: String,
    pub total: u64,
    /// Seen since the cutoff.
    pub active: u64,
    /// Last seen before the cutoff.
    pub stale: u64,
    /// No last-seen time (every agent of a kind that reports none).
    pub unknown: u64,
    /// The console already shows an uninstall pending (counted in the above too).
    pub pending: u64,
    pub histogram: [u64; BUCKETS.len()],
    pub licence_cost: Option<f64>,
    /// Retired stale agents: stale, not alive elsewhere, not protected (`stale --corroborate`'s
    /// plan).
    pub reclaim_stale: u64,
    /// Planned duplicates not already counted as retired stale agents (`duplicates`' plan).
    pub reclaim_duplicates: u64,
}

impl ProviderStats {
    pub fn reclaimable(&self) -> u64 {
        self.reclaim_stale + self.reclaim_duplicates
    }

    pub fn reclaimable_cost(&self) -> Option<f64> {
        self.licence_cost.map(|c| c * self.reclaimable() as f64)
    }
}

/// A stale agent whose machine is alive in another console.
#[derive(Debug, Clone)]
pub struct Broken {
    pub agent: u32,
    pub seen: SeenElsewhere,
}

/// An agent a plan would have contained, held back by the protection list.
#[derive(Debug, Clone)]
pub struct Held {
    pub agent: u32,
    /// The plans it was kept out of: `stale`, `duplicates`, or both.
    pub plans: Vec<&'static str>,
    pub why: String,
}

/// A duplicate and what its plan does with it.
#[derive(Debug, Clone)]
pub struct DuplicateRow {
    pub dup: Duplicate,
    pub fate: DuplicateFate,
}

/// What the report needs besides the fleet.
pub struct Inputs<'a> {
    pub now: Timestamp,
    pub days: u32,
    pub cutoff: Timestamp,
    pub min_age_hours: u32,
    /// Provider indices every active machine is expected in (`gaps --expect`).
    pub expected: Vec<u16>,
    pub protection: &'a Protection,
    /// Per provider (fleet order).
    pub licence_costs: Vec<Option<f64>>,
}

pub struct Report<'f> {
    pub fleet: &'f Fleet,
    pub generated_at: Timestamp,
    pub days: u32,
    pub cutoff: Timestamp,
    pub min_age_hours: u32,
    pub providers: Vec<ProviderStats>,
    pub machines: usize,
    pub expected: Vec<u16>,
    /// Presence pattern (one entry per provider) → number of machines, most common first.
    pub patterns: Vec<(Vec<Presence>, u64)>,
    pub gaps: Vec<Gap>,
    /// Presence per provider of each gap machine (same order as `gaps`).
    pub gap_presence: Vec<Vec<Presence>>,
    pub duplicates: Vec<DuplicateRow>,
    pub broken: Vec<Broken>,
    pub held: Vec<Held>,
    /// The zone of the JSON report's times when `--tz` was given explicitly (RFC 3339 with
    /// that zone's offset); UTC otherwise.
    pub json_tz: Option<TimeZone>,
}

fn presence_code(p: Presence) -> u8 {
    match p {
        Presence::Active => 0,
        Presence::Present => 1,
        Presence::Stale => 2,
        Presence::Missing => 3,
    }
}

fn presence_from_code(c: u8) -> Presence {
    match c {
        0 => Presence::Active,
        1 => Presence::Present,
        2 => Presence::Stale,
        _ => Presence::Missing,
    }
}

pub fn presence_name(p: Presence) -> &'static str {
    match p {
        Presence::Active => "active",
        Presence::Present => "present",
        Presence::Stale => "stale",
        Presence::Missing => "missing",
    }
}

impl<'f> Report<'f> {
    pub fn build(fleet: &'f Fleet, machines: &Machines, input: Inputs<'_>) -> Self {
        let Inputs {
            now,
            days,
            cutoff,
            min_age_hours,
            expected,
            protection,
            licence_costs,
        } = input;
        let mut providers: Vec<ProviderStats> = fleet
            .providers
            .iter()
            .enumerate()
            .map(|(i, p)| ProviderStats {
                name: p.name.clone(),
                kind: p.kind.to_string(),
                licence_cost: licence_costs.get(i).copied().flatten(),
                ..ProviderStats::default()
            })
            .collect();
        let mut broken = Vec::new();
        let mut held: Vec<Held> = Vec::new();
        let mut held_at: HashMap<u32, usize> = HashMap::new();
        let mut retired = vec![false; fleet.agents.len()];
        for (i, a) in fleet.agents.iter().enumerate() {
            let s = &mut providers[a.provider as usize];
            s.total += 1;
            s.pending += u64::from(a.pending_uninstall);
            s.histogram[bucket(now, a.last_seen)] += 1;
            match a.last_seen {
                None => s.unknown += 1,
                Some(t) if t >= cutoff => s.active += 1,
                Some(_) => {
                    s.stale += 1;
                    let i = i as u32;
                    match stale_fate(fleet, machines, protection, i, cutoff) {
                        StaleFate::Protected(why) => {
                            held_at.insert(i, held.len());
                            held.push(Held {
                                agent: i,
                                plans: vec!["stale"],
                                why,
                            });
                        }
                        StaleFate::Broken(seen) => broken.push(Broken { agent: i, seen }),
                        StaleFate::Retired(_) => {
                            s.reclaim_stale += 1;
                            retired[i as usize] = true;
                        }
                    }
                }
            }
        }
        let min_seen = now - jiff::SignedDuration::from_hours(i64::from(min_age_hours));
        let found = duplicates::find(fleet, machines, min_seen);
        let mut dup_rows = Vec::with_capacity(found.duplicates.len());
        for d in found.duplicates {
            let fate = d.fate(fleet, protection);
            match &fate {
                DuplicateFate::TooRecent => {}
                DuplicateFate::Protected(why) => match held_at.get(&d.agent) {
                    Some(&k) => held[k].plans.push("duplicates"),
                    None => {
                        held_at.insert(d.agent, held.len());
                        held.push(Held {
                            agent: d.agent,
                            plans: vec!["duplicates"],
                            why: why.clone(),
                        });
                    }
                },
                DuplicateFate::Planned => {
                    if !retired[d.agent as usize] {
                        let p = fleet.agents[d.agent as usize].provider as usize;
                        providers[p].reclaim_duplicates += 1;
                    }
                }
            }
            dup_rows.push(DuplicateRow { dup: d, fate });
        }
        drop(retired);
        held.sort_by(|a, b| order_key(fleet, a.agent).cmp(&order_key(fleet, b.agent)));
        broken.sort_by(|a, b| order_key(fleet, a.agent).cmp(&order_key(fleet, b.agent)));

        let mut pattern_counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for m in 0..machines.len() as u32 {
            let row = gaps::presence(fleet, machines, m, cutoff);
            *pattern_counts
                .entry(row.into_iter().map(presence_code).collect())
                .or_default() += 1;
        }
        let mut patterns: Vec<(Vec<Presence>, u64)> = pattern_counts
            .into_iter()
            .map(|(k, n)| (k.into_iter().map(presence_from_code).collect(), n))
            .collect();
        // Most common first; equal counts keep the code order (active before missing).
        patterns.sort_by_key(|p| std::cmp::Reverse(p.1));
        let found_gaps = gaps::find(fleet, machines, &expected, cutoff);
        let gap_presence = found_gaps
            .iter()
            .map(|g| gaps::presence(fleet, machines, g.machine, cutoff))
            .collect();
        Self {
            fleet,
            generated_at: now,
            days,
            cutoff,
            min_age_hours,
            providers,
            machines: machines.len(),
            expected,
            patterns,
            gaps: found_gaps,
            gap_presence,
            duplicates: dup_rows,
            broken,
            held,
            json_tz: None,
        }
    }

    fn agent(&self, i: u32) -> &Agent {
        &self.fleet.agents[i as usize]
    }

    fn provider_name(&self, p: u16) -> &str {
        &self.fleet.providers[p as usize].name
    }

    /// Licences reclaimable over all providers, and their cost when any provider has one.
    pub fn total_reclaimable(&self) -> (u64, Option<f64>) {
        let n = self.providers.iter().map(ProviderStats::reclaimable).sum();
        let costs: Vec<f64> = self
            .providers
            .iter()
            .filter_map(ProviderStats::reclaimable_cost)
            .collect();
        (n, (!costs.is_empty()).then(|| costs.iter().sum()))
    }

    fn duplicate_status(&self, row: &DuplicateRow) -> (&'static str, String) {
        match &row.fate {
            DuplicateFate::TooRecent => ("too_recent", "too recent (--min-age)".into()),
            DuplicateFate::Protected(why) => ("protected", format!("protected ({why})")),
            DuplicateFate::Planned => {
                let a = self.agent(row.dup.agent);
                if self.fleet.provider_of(a).can_remove {
                    ("remove", "to remove".into())
                } else {
                    (
                        "planned",
                        "planned (this console cannot remove registrations)".into(),
                    )
                }
            }
        }
    }

    // ---------------------------------------------------------------- JSON

    /// The JSON report (RFC 3339 times, UTC unless [`Report::json_tz`]; vendor text as is),
    /// streamed to `w`.
    pub fn write_json(&self, w: impl io::Write) -> io::Result<()> {
        let mut ser = serde_json::Serializer::pretty(w);
        self.serialize(&mut ser).map_err(io::Error::other)
    }

    // ---------------------------------------------------------------- Markdown

    /// The Markdown report; human times in `tz`.
    pub fn to_markdown(&self, tz: &TimeZone) -> String {
        let t = |ts: Option<Timestamp>| ts.map(|ts| human(ts, tz)).unwrap_or_default();
        let mut o = String::new();
        let _ = writeln!(o, "# agentctl report\n");
        let _ = writeln!(o, "{}\n", self.summary_line(tz));
        let (n, cost) = self.total_reclaimable();
        let _ = writeln!(
            o,
            "**{}** machines · **{}** coverage gaps · **{}** broken agents · **{}** duplicates · **{}** protected held back · **{n}** licences reclaimable{}\n",
            self.machines,
            self.gaps.len(),
            self.broken.len(),
            self.duplicates.len(),
            self.held.len(),
            cost.map(|c| format!(" ({})", money(c))).unwrap_or_default()
        );
        let _ = writeln!(o, "## Providers\n");
        md_table(
            &mut o,
            &[
                ("provider", false),
                ("kind", false),
                ("total", true),
                ("active", true),
                ("stale", true),
                ("unknown", true),
                ("pending", true),
            ],
            self.providers.iter().map(|s| {
                vec![
                    md(&s.name),
                    md(&s.kind),
                    s.total.to_string(),
                    s.active.to_string(),
                    s.stale.to_string(),
                    s.unknown.to_string(),
                    s.pending.to_string(),
                ]
            }),
            self.providers.len(),
        );
        let _ = writeln!(o, "\n## Last seen (agents per age)\n");
        let mut head: Vec<(&str, bool)> = vec![("provider", false)];
        head.extend(BUCKETS.iter().map(|b| (*b, true)));
        md_table(
            &mut o,
            &head,
            self.providers.iter().map(|s| {
                std::iter::once(md(&s.name))
                    .chain(s.histogram.iter().map(u64::to_string))
                    .collect()
            }),
            self.providers.len(),
        );
        let _ = writeln!(o, "\n## Coverage\n");
        let _ = writeln!(
            o,
            "Expected in: {}. Machines per presence pattern (active = seen within {} days; present = registered without a last-seen time):\n",
            self.expected_names(md),
            self.days
        );
        let mut head: Vec<(String, bool)> = vec![("machines".into(), true)];
        head.extend(self.providers.iter().map(|s| (md(&s.name), false)));
        let head_ref: Vec<(&str, bool)> = head.iter().map(|(s, r)| (s.as_str(), *r)).collect();
        md_table(
            &mut o,
            &head_ref,
            self.patterns.iter().map(|(row, n)| {
                std::iter::once(n.to_string())
                    .chain(row.iter().map(|p| presence_name(*p).to_string()))
                    .collect()
            }),
            self.patterns.len(),
        );
        let _ = writeln!(o, "\n### Machines with gaps ({})\n", self.gaps.len());
        md_table(
            &mut o,
            &[
                ("host", false),
                ("match", false),
                ("seen in", false),
                ("newest last seen", false),
                ("missing in", false),
                ("stale in", false),
            ],
            self.gaps.iter().map(|g| {
                vec![
                    md(&g.host),
                    rule(g.rule).into(),
                    self.names(&g.seen_in, md),
                    t(g.newest_last_seen),
                    self.names(&g.missing_in, md),
                    self.names(&g.stale_in, md),
                ]
            }),
            self.gaps.len(),
        );
        let _ = writeln!(
            o,
            "\n## Duplicates ({})\n\nThe newest registration of each machine is kept; older ones are removed unless seen within {} h or protected.\n",
            self.duplicates.len(),
            self.min_age_hours
        );
        md_table(
            &mut o,
            &[
                ("provider", false),
                ("host", false),
                ("agent id", false),
                ("last seen", false),
                ("match", false),
                ("duplicate of", false),
                ("status", false),
            ],
            self.duplicates.iter().map(|d| {
                let a = self.agent(d.dup.agent);
                vec![
                    md(self.provider_name(a.provider)),
                    md(a.hostname()),
                    md(a.agent_id()),
                    t(a.last_seen),
                    rule(d.dup.rule).into(),
                    md(self.agent(d.dup.kept).agent_id()),
                    md(&self.duplicate_status(d).1),
                ]
            }),
            self.duplicates.len(),
        );
        let _ = writeln!(
            o,
            "\n## Broken agents ({})\n\nStale in one console, alive in another: fix the agent, keep the record.\n",
            self.broken.len()
        );
        md_table(
            &mut o,
            &[
                ("provider", false),
                ("host", false),
                ("agent id", false),
                ("last seen", false),
                ("seen elsewhere", false),
                ("in", false),
                ("match", false),
            ],
            self.broken.iter().map(|b| {
                let a = self.agent(b.agent);
                vec![
                    md(self.provider_name(a.provider)),
                    md(a.hostname()),
                    md(a.agent_id()),
                    t(a.last_seen),
                    t(Some(b.seen.last_seen)),
                    md(self.provider_name(b.seen.provider)),
                    rule(b.seen.rule).into(),
                ]
            }),
            self.broken.len(),
        );
        let _ = writeln!(
            o,
            "\n## Protected agents held back ({})\n\nOn the protection list (config `[protect]`, `--protect-file`): kept out of the `stale` and `duplicates` plans.\n",
            self.held.len()
        );
        md_table(
            &mut o,
            &[
                ("provider", false),
                ("host", false),
                ("agent id", false),
                ("last seen", false),
                ("plan", false),
                ("protected by", false),
            ],
            self.held.iter().map(|x| {
                let a = self.agent(x.agent);
                vec![
                    md(self.provider_name(a.provider)),
                    md(a.hostname()),
                    md(a.agent_id()),
                    t(a.last_seen),
                    x.plans.join(", "),
                    md(&x.why),
                ]
            }),
            self.held.len(),
        );
        let _ = writeln!(o, "\n## Licences reclaimable\n\n{}\n", self.reclaim_note());
        md_table(
            &mut o,
            &[
                ("provider", false),
                ("retired stale", true),
                ("duplicates", true),
                ("total", true),
                ("licence cost", true),
                ("reclaimable", true),
            ],
            self.providers
                .iter()
                .map(|s| {
                    vec![
                        md(&s.name),
                        s.reclaim_stale.to_string(),
                        s.reclaim_duplicates.to_string(),
                        s.reclaimable().to_string(),
                        s.licence_cost.map(money).unwrap_or_default(),
                        s.reclaimable_cost().map(money).unwrap_or_default(),
                    ]
                })
                .chain(std::iter::once(vec![
                    "**total**".into(),
                    String::new(),
                    String::new(),
                    format!("**{n}**"),
                    String::new(),
                    cost.map(|c| format!("**{}**", money(c)))
                        .unwrap_or_default(),
                ])),
            self.providers.len() + 1,
        );
        o
    }

    fn summary_line(&self, tz: &TimeZone) -> String {
        format!(
            "Generated {} · stale = not seen for {} days (before {}) · {} machines, {} agents, {} providers",
            human(self.generated_at, tz),
            self.days,
            human(self.cutoff, tz),
            self.machines,
            self.fleet.agents.len(),
            self.providers.len()
        )
    }

    fn reclaim_note(&self) -> String {
        format!(
            "Retired stale agents (stale, not seen in another console within {} days, not protected) and duplicate registrations older than {} h that are not protected; an agent counts once. Cost = count × the provider's `licence_cost` from the config.",
            self.days, self.min_age_hours
        )
    }

    fn names(&self, ids: &[u16], esc: fn(&str) -> String) -> String {
        ids.iter()
            .map(|&p| esc(self.provider_name(p)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn expected_names(&self, esc: fn(&str) -> String) -> String {
        self.names(&self.expected, esc)
    }

    // ---------------------------------------------------------------- HTML

    /// The HTML report: one self-contained page (inline CSS and SVG, no scripts, no external
    /// resources) with a print style sheet; human times in `tz`.
    pub fn to_html(&self, tz: &TimeZone) -> String {
        let t = |ts: Option<Timestamp>| ts.map(|ts| human(ts, tz)).unwrap_or_default();
        let mut o = String::new();
        let _ = write!(
            o,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>agentctl report {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
            h(&human(self.generated_at, tz)),
        );
        let _ = writeln!(
            o,
            "<h1>agentctl report</h1>\n<p class=\"meta\">{}</p>",
            h(&self.summary_line(tz))
        );
        let (n, cost) = self.total_reclaimable();
        let _ = writeln!(
            o,
            "<div class=\"cards\"><div class=\"card\"><b>{}</b>machines</div><div class=\"card\"><b>{}</b>coverage gaps</div><div class=\"card\"><b>{}</b>broken agents</div><div class=\"card\"><b>{}</b>duplicates</div><div class=\"card\"><b>{}</b>protected held back</div><div class=\"card\"><b>{}</b>licences reclaimable{}</div></div>",
            self.machines,
            self.gaps.len(),
            self.broken.len(),
            self.duplicates.len(),
            self.held.len(),
            n,
            cost.map(|c| format!(" ({})", money(c))).unwrap_or_default()
        );
        // Providers.
        let _ = writeln!(
            o,
            "<h2>Providers</h2>\n<figure class=\"chart\">{}<figcaption>Agents per provider: active, stale (not seen for {} days), unknown (no last-seen time).</figcaption></figure>",
            charts::status(&self.providers),
            self.days
        );
        html_table(
            &mut o,
            "",
            &[
                ("provider", false),
                ("kind", false),
                ("total", true),
                ("active", true),
                ("stale", true),
                ("unknown", true),
                ("pending", true),
            ],
            self.providers.iter().map(|s| {
                vec![
                    h(&s.name),
                    h(&s.kind),
                    s.total.to_string(),
                    s.active.to_string(),
                    s.stale.to_string(),
                    s.unknown.to_string(),
                    s.pending.to_string(),
                ]
            }),
            self.providers.len(),
        );
        // Histograms.
        o.push_str("<h2>Last seen</h2>\n<div class=\"grid\">\n");
        for s in &self.providers {
            let _ = writeln!(
                o,
                "<figure class=\"chart\">{}<figcaption>{}: agents by days since last seen.</figcaption></figure>",
                charts::histogram(s),
                h(&s.name)
            );
        }
        o.push_str("</div>\n");
        // Coverage.
        let _ = writeln!(
            o,
            "<h2>Coverage</h2>\n<p>Expected in: {}. Machines per presence pattern (<span class=\"active\">active</span> = seen within {} days, <span class=\"stale\">stale</span>, <span class=\"present\">present</span> = registered without a last-seen time, <span class=\"missing\">missing</span> = not registered):</p>",
            self.expected_names(h),
            self.days
        );
        let mut head: Vec<(String, bool)> = vec![("machines".into(), true)];
        head.extend(self.providers.iter().map(|s| (h(&s.name), false)));
        html_presence_table(
            &mut o,
            &head,
            self.patterns
                .iter()
                .map(|(row, n)| (vec![n.to_string()], row.as_slice())),
            self.patterns.len(),
        );
        let _ = writeln!(o, "<h3>Machines with gaps ({})</h3>", self.gaps.len());
        let mut head: Vec<(String, bool)> = vec![
            ("host".into(), false),
            ("match".into(), false),
            ("newest last seen".into(), false),
        ];
        head.extend(self.providers.iter().map(|s| (h(&s.name), false)));
        html_presence_table(
            &mut o,
            &head,
            self.gaps.iter().zip(&self.gap_presence).map(|(g, row)| {
                (
                    vec![
                        h(&g.host),
                        rule(g.rule).to_string(),
                        h(&t(g.newest_last_seen)),
                    ],
                    row.as_slice(),
                )
            }),
            self.gaps.len(),
        );
        // Duplicates.
        let _ = writeln!(
            o,
            "<h2>Duplicates ({})</h2>\n<p>The newest registration of each machine is kept; older ones are removed unless seen within {} h or protected.</p>",
            self.duplicates.len(),
            self.min_age_hours
        );
        html_table(
            &mut o,
            "",
            &[
                ("provider", false),
                ("host", false),
                ("agent id", false),
                ("last seen", false),
                ("match", false),
                ("duplicate of", false),
                ("status", false),
            ],
            self.duplicates.iter().map(|d| {
                let a = self.agent(d.dup.agent);
                vec![
                    h(self.provider_name(a.provider)),
                    h(a.hostname()),
                    h(a.agent_id()),
                    h(&t(a.last_seen)),
                    rule(d.dup.rule).to_string(),
                    h(self.agent(d.dup.kept).agent_id()),
                    h(&self.duplicate_status(d).1),
                ]
            }),
            self.duplicates.len(),
        );
        let _ = writeln!(
            o,
            "<h2>Broken agents ({})</h2>\n<p>Stale in one console, alive in another: fix the agent, keep the record.</p>",
            self.broken.len()
        );
        html_table(
            &mut o,
            "",
            &[
                ("provider", false),
                ("host", false),
                ("agent id", false),
                ("last seen", false),
                ("seen elsewhere", false),
                ("in", false),
                ("match", false),
            ],
            self.broken.iter().map(|b| {
                let a = self.agent(b.agent);
                vec![
                    h(self.provider_name(a.provider)),
                    h(a.hostname()),
                    h(a.agent_id()),
                    h(&t(a.last_seen)),
                    h(&t(Some(b.seen.last_seen))),
                    h(self.provider_name(b.seen.provider)),
                    rule(b.seen.rule).to_string(),
                ]
            }),
            self.broken.len(),
        );
        let _ = writeln!(
            o,
            "<h2>Protected agents held back ({})</h2>\n<p>On the protection list (config <code>[protect]</code>, <code>--protect-file</code>): kept out of the <code>stale</code> and <code>duplicates</code> plans.</p>",
            self.held.len()
        );
        html_table(
            &mut o,
            "",
            &[
                ("provider", false),
                ("host", false),
                ("agent id", false),
                ("last seen", false),
                ("plan", false),
                ("protected by", false),
            ],
            self.held.iter().map(|x| {
                let a = self.agent(x.agent);
                vec![
                    h(self.provider_name(a.provider)),
                    h(a.hostname()),
                    h(a.agent_id()),
                    h(&t(a.last_seen)),
                    x.plans.join(", "),
                    h(&x.why),
                ]
            }),
            self.held.len(),
        );
        let _ = writeln!(
            o,
            "<h2>Licences reclaimable</h2>\n<p>{}</p>",
            h(&self.reclaim_note())
        );
        html_table(
            &mut o,
            "reclaim",
            &[
                ("provider", false),
                ("retired stale", true),
                ("duplicates", true),
                ("total", true),
                ("licence cost", true),
                ("reclaimable", true),
            ],
            self.providers
                .iter()
                .map(|s| {
                    vec![
                        h(&s.name),
                        s.reclaim_stale.to_string(),
                        s.reclaim_duplicates.to_string(),
                        s.reclaimable().to_string(),
                        s.licence_cost.map(money).unwrap_or_default(),
                        s.reclaimable_cost().map(money).unwrap_or_default(),
                    ]
                })
                .chain(std::iter::once(vec![
                    "total".into(),
                    String::new(),
                    String::new(),
                    n.to_string(),
                    String::new(),
                    cost.map(money).unwrap_or_default(),
                ])),
            self.providers.len() + 1,
        );
        o.push_str("</body>\n</html>\n");
        o
    }
}

/// Providers, then host name (case-insensitively), then agent id: the order of every listing.
fn order_key(fleet: &Fleet, i: u32) -> (u16, String, &str) {
    let a = &fleet.agents[i as usize];
    (
        a.provider,
        agentctl_core::identity::fold(a.hostname()),
        a.agent_id(),
    )
}

fn rule(r: Option<MatchRule>) -> &'static str {
    r.map_or("", |r| r.name())
}

fn human(t: Timestamp, tz: &TimeZone) -> String {
    crate::view::human_time(t, tz)
}

fn money(v: f64) -> String {
    format!("{v:.2}")
}

/// Vendor text for HTML: control characters made visible, then HTML-escaped.
pub fn h(text: &str) -> String {
    let shown = crate::sanitize::terminal_cell(text);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Vendor text for a Markdown table cell: control characters (line breaks included) made
/// visible; `|`, `\`, backticks, `<`, `>`, `&` and the emphasis / link characters escaped so
/// a name can neither break the table nor inject markup.
pub fn md(text: &str) -> String {
    let shown = crate::sanitize::terminal_cell(text);
    let mut out = String::with_capacity(shown.len());
    for c in shown.chars() {
        if matches!(
            c,
            '|' | '\\' | '`' | '*' | '_' | '<' | '>' | '[' | ']' | '#' | '&' | '~' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Markdown table of at most [`MAX_LISTED`] rows (cells already escaped); "None." when
/// empty.
fn md_table(
    o: &mut String,
    head: &[(&str, bool)],
    rows: impl Iterator<Item = Vec<String>>,
    total: usize,
) {
    if total == 0 {
        o.push_str("None.\n");
        return;
    }
    o.push('|');
    for (name, _) in head {
        let _ = write!(o, " {name} |");
    }
    o.push_str("\n|");
    for (_, right) in head {
        o.push_str(if *right { "---:|" } else { "---|" });
    }
    o.push('\n');
    for row in rows.take(MAX_LISTED) {
        o.push('|');
        for cell in row {
            let _ = write!(o, " {cell} |");
        }
        o.push('\n');
    }
    if total > MAX_LISTED {
        let _ = writeln!(
            o,
            "\n… and {} more (the JSON report lists all of them).",
            total - MAX_LISTED
        );
    }
}

/// An HTML table of at most [`MAX_LISTED`] rows (cells already escaped); "None." when empty.
fn html_table(
    o: &mut String,
    class: &str,
    head: &[(&str, bool)],
    rows: impl Iterator<Item = Vec<String>>,
    total: usize,
) {
    if total == 0 {
        o.push_str("<p>None.</p>\n");
        return;
    }
    if class.is_empty() {
        o.push_str("<table><thead><tr>");
    } else {
        let _ = write!(o, "<table class=\"{class}\"><thead><tr>");
    }
    for (name, right) in head {
        let _ = write!(
            o,
            "<th{}>{name}</th>",
            if *right { " class=\"n\"" } else { "" }
        );
    }
    o.push_str("</tr></thead><tbody>\n");
    for row in rows.take(MAX_LISTED) {
        o.push_str("<tr>");
        for (cell, (_, right)) in row.iter().zip(head) {
            let _ = write!(
                o,
                "<td{}>{cell}</td>",
                if *right { " class=\"n\"" } else { "" }
            );
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
    html_more(o, total);
}

/// Leading cells (escaped), then one coloured presence cell per provider.
fn html_presence_table<'r>(
    o: &mut String,
    head: &[(String, bool)],
    rows: impl Iterator<Item = (Vec<String>, &'r [Presence])>,
    total: usize,
) {
    if total == 0 {
        o.push_str("<p>None.</p>\n");
        return;
    }
    o.push_str("<table class=\"matrix\"><thead><tr>");
    for (name, right) in head {
        let _ = write!(
            o,
            "<th{}>{name}</th>",
            if *right { " class=\"n\"" } else { "" }
        );
    }
    o.push_str("</tr></thead><tbody>\n");
    for (lead, presence) in rows.take(MAX_LISTED) {
        o.push_str("<tr>");
        for (cell, (_, right)) in lead.iter().zip(head) {
            let _ = write!(
                o,
                "<td{}>{cell}</td>",
                if *right { " class=\"n\"" } else { "" }
            );
        }
        for p in presence {
            let name = presence_name(*p);
            let _ = write!(o, "<td class=\"{name}\">{name}</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table>\n");
    html_more(o, total);
}

fn html_more(o: &mut String, total: usize) {
    if total > MAX_LISTED {
        let _ = writeln!(
            o,
            "<p class=\"more\">… and {} more (the JSON report lists all of them).</p>",
            total - MAX_LISTED
        );
    }
}

const CSS: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1100px;color:#1d2430;padding:0 1em}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:2px solid #dde3ea;padding-bottom:.2em}
.meta{color:#556}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #d5dbe3;padding:.25em .6em;text-align:left;vertical-align:top;max-width:28em;overflow-wrap:anywhere}
th{background:#f0f3f7}td.n,th.n{text-align:right}
table.reclaim tr:last-child td{font-weight:bold}
td.active,span.active{background:#dff3e4}td.stale,span.stale{background:#fbe0dc}
td.present,span.present{background:#e6ecf5}td.missing,span.missing{background:#fff4d6}
.cards{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}
.card{border:1px solid #d5dbe3;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.6em}
.grid{display:flex;flex-wrap:wrap;gap:1em}
figure.chart{margin:0}figure.chart svg{display:block;max-width:100%;height:auto}
figcaption{color:#556;font-size:.85em}
.more{color:#556;font-style:italic}
@media print{body{margin:0;max-width:none;font-size:10pt;color:#000}h2,h3{break-after:avoid}
table,figure,.card{break-inside:avoid}tr{break-inside:avoid}thead{display:table-header-group}
td.active,td.stale,td.present,td.missing,span.active,span.stale,span.present,span.missing,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
";

// ---------------------------------------------------------------- JSON shape

/// Serializes the items an iterator-making closure yields, without collecting them.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: Iterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// Provider name → presence, in fleet order.
struct PresenceMap<'a>(&'a Report<'a>, &'a [Presence]);

impl Serialize for PresenceMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.1.len()))?;
        for (p, pr) in self.1.iter().enumerate() {
            m.serialize_entry(self.0.provider_name(p as u16), presence_name(*pr))?;
        }
        m.end()
    }
}

#[derive(Serialize)]
struct ProviderJson<'a> {
    provider: &'a str,
    kind: &'a str,
    total: u64,
    active: u64,
    stale: u64,
    unknown: u64,
    pending: u64,
    last_seen_histogram: Vec<BucketJson>,
}

#[derive(Serialize)]
struct BucketJson {
    age: &'static str,
    agents: u64,
}

#[derive(Serialize)]
struct GapJson<'a> {
    host: &'a str,
    #[serde(rename = "match")]
    rule: Option<&'static str>,
    seen_in: Vec<&'a str>,
    newest_last_seen: Option<String>,
    missing_in: Vec<&'a str>,
    stale_in: Vec<&'a str>,
    presence: PresenceMap<'a>,
}

#[derive(Serialize)]
struct AgentJson<'a> {
    provider: &'a str,
    agent_id: &'a str,
    hostname: &'a str,
    last_seen: Option<String>,
}

#[derive(Serialize)]
struct DuplicateJson<'a> {
    #[serde(flatten)]
    agent: AgentJson<'a>,
    #[serde(rename = "match")]
    rule: Option<&'static str>,
    duplicate_of: &'a str,
    status: &'static str,
    protected_by: Option<&'a str>,
}

#[derive(Serialize)]
struct BrokenJson<'a> {
    #[serde(flatten)]
    agent: AgentJson<'a>,
    seen_elsewhere: String,
    seen_elsewhere_in: &'a str,
    #[serde(rename = "match")]
    rule: Option<&'static str>,
}

#[derive(Serialize)]
struct HeldJson<'a> {
    #[serde(flatten)]
    agent: AgentJson<'a>,
    plans: &'a [&'static str],
    protected_by: &'a str,
}

#[derive(Serialize)]
struct PatternJson<'a> {
    presence: PresenceMap<'a>,
    machines: u64,
}

#[derive(Serialize)]
struct ReclaimTotalJson<P: Serialize> {
    providers: P,
    total: u64,
    cost: Option<f64>,
}

#[derive(Serialize)]
struct ReclaimJson<'a> {
    provider: &'a str,
    retired_stale: u64,
    duplicates: u64,
    total: u64,
    licence_cost: Option<f64>,
    cost: Option<f64>,
}

impl Report<'_> {
    /// A time of the JSON report: RFC 3339 UTC, or with the offset of an explicit `--tz`.
    fn stamp(&self, t: Timestamp) -> String {
        match &self.json_tz {
            Some(tz) => crate::view::rfc3339_in(t, tz),
            None => format_timestamp(t),
        }
    }

    fn agent_json(&self, i: u32) -> AgentJson<'_> {
        let a = self.agent(i);
        AgentJson {
            provider: self.provider_name(a.provider),
            agent_id: a.agent_id(),
            hostname: a.hostname(),
            last_seen: a.last_seen.map(|t| self.stamp(t)),
        }
    }

    fn name_list(&self, ids: &[u16]) -> Vec<&str> {
        ids.iter().map(|&p| self.provider_name(p)).collect()
    }
}

impl Serialize for Report<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (total, cost) = self.total_reclaimable();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("generated_at", &self.stamp(self.generated_at))?;
        m.serialize_entry("days", &self.days)?;
        m.serialize_entry("stale_before", &self.stamp(self.cutoff))?;
        m.serialize_entry("min_age_hours", &self.min_age_hours)?;
        m.serialize_entry("machines", &self.machines)?;
        m.serialize_entry("agents", &self.fleet.agents.len())?;
        m.serialize_entry(
            "providers",
            &Seq(|| {
                self.providers.iter().map(|p| ProviderJson {
                    provider: &p.name,
                    kind: &p.kind,
                    total: p.total,
                    active: p.active,
                    stale: p.stale,
                    unknown: p.unknown,
                    pending: p.pending,
                    last_seen_histogram: BUCKETS
                        .iter()
                        .zip(p.histogram)
                        .map(|(age, agents)| BucketJson { age, agents })
                        .collect(),
                })
            }),
        )?;
        m.serialize_entry("coverage", &Coverage(self))?;
        m.serialize_entry(
            "duplicates",
            &Seq(|| {
                self.duplicates.iter().map(|d| DuplicateJson {
                    agent: self.agent_json(d.dup.agent),
                    rule: d.dup.rule.map(|r| r.name()),
                    duplicate_of: self.agent(d.dup.kept).agent_id(),
                    status: self.duplicate_status(d).0,
                    protected_by: match &d.fate {
                        DuplicateFate::Protected(why) => Some(why.as_str()),
                        _ => None,
                    },
                })
            }),
        )?;
        m.serialize_entry(
            "broken_agents",
            &Seq(|| {
                self.broken.iter().map(|b| BrokenJson {
                    agent: self.agent_json(b.agent),
                    seen_elsewhere: self.stamp(b.seen.last_seen),
                    seen_elsewhere_in: self.provider_name(b.seen.provider),
                    rule: b.seen.rule.map(|r| r.name()),
                })
            }),
        )?;
        m.serialize_entry(
            "protected_held_back",
            &Seq(|| {
                self.held.iter().map(|x| HeldJson {
                    agent: self.agent_json(x.agent),
                    plans: &x.plans,
                    protected_by: &x.why,
                })
            }),
        )?;
        m.serialize_entry(
            "licences_reclaimable",
            &ReclaimTotalJson {
                providers: Seq(|| {
                    self.providers.iter().map(|p| ReclaimJson {
                        provider: &p.name,
                        retired_stale: p.reclaim_stale,
                        duplicates: p.reclaim_duplicates,
                        total: p.reclaimable(),
                        licence_cost: p.licence_cost,
                        cost: p.reclaimable_cost(),
                    })
                }),
                total,
                cost,
            },
        )?;
        m.end()
    }
}

struct Coverage<'a>(&'a Report<'a>);

impl Serialize for Coverage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("expected", &r.name_list(&r.expected))?;
        m.serialize_entry(
            "patterns",
            &Seq(|| {
                r.patterns.iter().map(|(row, n)| PatternJson {
                    presence: PresenceMap(r, row),
                    machines: *n,
                })
            }),
        )?;
        m.serialize_entry(
            "gaps",
            &Seq(|| {
                r.gaps.iter().zip(&r.gap_presence).map(|(g, row)| GapJson {
                    host: &g.host,
                    rule: g.rule.map(|x| x.name()),
                    seen_in: r.name_list(&g.seen_in),
                    newest_last_seen: g.newest_last_seen.map(|t| r.stamp(t)),
                    missing_in: r.name_list(&g.missing_in),
                    stale_in: r.name_list(&g.stale_in),
                    presence: PresenceMap(r, row),
                })
            }),
        )?;
        m.end()
    }
}

/// The SVG charts (plotters, SVG backend only; it escapes the text it writes).
mod charts {
    use plotters::coord::ranged1d::SegmentValue;
    use plotters::prelude::*;

    use super::{BUCKETS, NO_TIME, ProviderStats, h};

    const ACTIVE: RGBColor = RGBColor(46, 139, 87);
    const STALE: RGBColor = RGBColor(205, 92, 72);
    const UNKNOWN: RGBColor = RGBColor(140, 150, 165);
    const BAR: RGBColor = RGBColor(52, 101, 164);

    /// The SVG for inline use in HTML (where the SVG namespace is implied, so the page names
    /// no URL), labelled for screen readers; a chart error is not fatal: the report then
    /// shows a note instead of the chart.
    fn or_note(draw: impl FnOnce() -> Result<String, String>, title: &str) -> String {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(draw))
            .unwrap_or_else(|_| Err("the plotting library failed".into()));
        match result {
            Ok(svg) => {
                let svg = svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1);
                match svg.strip_prefix("<svg") {
                    Some(rest) => format!("<svg role=\"img\" aria-label=\"{}\"{rest}", h(title)),
                    None => svg,
                }
            }
            Err(e) => format!("<p class=\"more\">chart not drawn: {}</p>", h(&e)),
        }
    }

    /// A provider name for a chart label: control characters made visible, at most 24
    /// characters (plotters escapes the markup characters).
    fn label(name: &str) -> String {
        let shown = crate::sanitize::terminal_cell(name);
        crate::view::truncate(&shown, 24)
    }

    fn err(e: impl std::fmt::Display) -> String {
        e.to_string()
    }

    /// Agents per provider, stacked active / stale / unknown.
    pub fn status(providers: &[ProviderStats]) -> String {
        or_note(|| draw_status(providers), "Agents per provider")
    }

    fn draw_status(providers: &[ProviderStats]) -> Result<String, String> {
        let mut svg = String::new();
        let n = providers.len().max(1) as u32;
        let max = providers.iter().map(|s| s.total).max().unwrap_or(0).max(1);
        let names: Vec<String> = providers.iter().map(|s| label(&s.name)).collect();
        {
            let width = (170 * n + 160).clamp(480, 1000);
            let root = SVGBackend::with_string(&mut svg, (width, 320)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption("Agents per provider", ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(64)
                .build_cartesian_2d(
                    (0u32..n - 1).into_segmented(),
                    0u64..(max + max * 2 / 5 + 1),
                )
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(TRANSPARENT)
                .y_desc("agents")
                .x_labels(n as usize)
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) => {
                        names.get(*i as usize).cloned().unwrap_or_default()
                    }
                    _ => String::new(),
                })
                .draw()
                .map_err(err)?;
            type Part = fn(&ProviderStats) -> (u64, u64);
            let parts: [(&str, RGBColor, Part); 3] = [
                ("active", ACTIVE, |s| (0, s.active)),
                ("stale", STALE, |s| (s.active, s.active + s.stale)),
                ("unknown", UNKNOWN, |s| {
                    (s.active + s.stale, s.active + s.stale + s.unknown)
                }),
            ];
            for (name, color, part) in parts {
                let bars: Vec<Rectangle<(SegmentValue<u32>, u64)>> = providers
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (i as u32, part(s)))
                    .filter(|(_, (lo, hi))| hi > lo)
                    .map(|(i, (lo, hi))| {
                        let mut r = Rectangle::new(
                            [
                                (SegmentValue::Exact(i), hi),
                                (SegmentValue::Exact(i + 1), lo),
                            ],
                            color.filled(),
                        );
                        r.set_margin(0, 0, 24, 24);
                        r
                    })
                    .collect();
                chart
                    .draw_series(bars)
                    .map_err(err)?
                    .label(name)
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(err)?;
            root.present().map_err(err)?;
        }
        Ok(svg)
    }

    /// One provider's last-seen age histogram.
    pub fn histogram(s: &ProviderStats) -> String {
        or_note(
            || draw_histogram(s),
            &format!("{}: agents by last seen", label(&s.name)),
        )
    }

    fn draw_histogram(s: &ProviderStats) -> Result<String, String> {
        let mut svg = String::new();
        let max = s.histogram.iter().copied().max().unwrap_or(0).max(1);
        let n = BUCKETS.len() as u32;
        {
            let root = SVGBackend::with_string(&mut svg, (540, 280)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(
                    format!("{}: agents by last seen", label(&s.name)),
                    ("sans-serif", 15),
                )
                .margin(10)
                .x_label_area_size(34)
                .y_label_area_size(56)
                .build_cartesian_2d((0u32..n - 1).into_segmented(), 0u64..(max + max / 5 + 1))
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .light_line_style(TRANSPARENT)
                .x_labels(BUCKETS.len())
                .x_label_style(("sans-serif", 10))
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) if *i as usize == NO_TIME => "no time".to_string(),
                    SegmentValue::CenterOf(i) => BUCKETS
                        .get(*i as usize)
                        .map(|b| b.to_string())
                        .unwrap_or_default(),
                    _ => String::new(),
                })
                .draw()
                .map_err(err)?;
            chart
                .draw_series(s.histogram.iter().enumerate().filter(|(_, n)| **n > 0).map(
                    |(i, n)| {
                        let color = if i == NO_TIME { UNKNOWN } else { BAR };
                        let i = i as u32;
                        let mut r = Rectangle::new(
                            [
                                (SegmentValue::Exact(i), *n),
                                (SegmentValue::Exact(i + 1), 0),
                            ],
                            color.filled(),
                        );
                        r.set_margin(0, 0, 5, 5);
                        r
                    },
                ))
                .map_err(err)?;
            root.present().map_err(err)?;
        }
        Ok(svg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_include_their_upper_bound_like_the_stale_rule() {
        let now: Timestamp = "2026-11-23T12:00:00Z".parse().unwrap();
        let ago = |h: i64| Some(now - jiff::SignedDuration::from_hours(h));
        assert_eq!(bucket(now, ago(0)), 0);
        assert_eq!(bucket(now, ago(24)), 0);
        assert_eq!(bucket(now, ago(25)), 1);
        assert_eq!(
            bucket(now, ago(24 * 30)),
            2,
            "30 days old: not stale at --days 30"
        );
        assert_eq!(bucket(now, ago(24 * 30 + 1)), 3);
        assert_eq!(bucket(now, ago(24 * 400)), 6);
        assert_eq!(bucket(now, ago(-5)), 0, "a clock ahead counts as just seen");
        assert_eq!(bucket(now, None), NO_TIME);
    }

    #[test]
    fn vendor_text_cannot_inject_markup() {
        assert_eq!(h("<script>&\"'"), "&lt;script&gt;&amp;&quot;&#39;");
        assert_eq!(md("a|b*c_<d>`e`"), "a\\|b\\*c\\_\\<d\\>\\`e\\`");
        assert_eq!(md("two\nlines"), "two\\\\nlines");
        assert!(!h("x\u{1b}]52;c;AAAA\u{7}").contains('\u{1b}'));
        assert!(!md("x\r\ny").contains(['\r', '\n']));
    }

    #[test]
    fn charts_are_svg_and_escape_names() {
        let s = ProviderStats {
            name: "<b>x</b>".into(),
            kind: "taegis".into(),
            total: 3,
            active: 1,
            stale: 1,
            unknown: 1,
            histogram: [1, 0, 0, 1, 0, 0, 0, 1],
            ..ProviderStats::default()
        };
        for svg in [
            charts::status(std::slice::from_ref(&s)),
            charts::histogram(&s),
        ] {
            assert!(svg.starts_with("<svg role=\"img\""), "{svg}");
            assert!(!svg.contains("http"), "{svg}");
            assert!(svg.contains("<rect"), "{svg}");
            assert!(!svg.contains("<b>"), "{svg}");
            assert!(svg.contains("&lt;b&gt;"), "{svg}");
        }
    }
}
