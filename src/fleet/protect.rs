//! The protection list: agents no plan may contain and no bulk change may touch.
//!
//! Sources: config `[protect]` (`hosts`, `groups`, `agent_ids`) and `--protect-file FILE`
//! (one host glob per line; blank lines and lines starting with `#` are ignored). Host and
//! group globs are case-insensitive (`*`, `?`) and match the full name or its first DNS
//! label; a host entry without a wildcard follows the machine-identity rule (so `dc-01`
//! also protects `DC-01.corp.example`). Agent ids match ignoring case.

use std::path::Path;

use agentctl_core::HostPattern;
use agentctl_core::identity::short_name;

use crate::config::ProtectConfig;
use crate::error::{CliError, CliResult};

#[derive(Debug, Default)]
pub struct Protection {
    hosts: Vec<HostPattern>,
    groups: Vec<wildmatch::WildMatch>,
    agent_ids: Vec<String>,
}

impl Protection {
    /// From the config's `[protect]` and an optional `--protect-file`.
    pub fn load(config: &ProtectConfig, file: Option<&Path>) -> CliResult<Self> {
        let mut hosts: Vec<String> = config.hosts.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(
                    "--protect-file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            hosts.extend(
                text.lines()
                    .map(|l| l.trim_start_matches('\u{feff}').trim())
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_string),
            );
        }
        Ok(Self {
            hosts: hosts
                .iter()
                .filter(|h| !h.trim().is_empty())
                .map(|h| HostPattern::new(h.trim()))
                .collect(),
            groups: config
                .groups
                .iter()
                .filter(|g| !g.trim().is_empty())
                .map(|g| wildmatch::WildMatch::new_case_insensitive(g.trim()))
                .collect(),
            agent_ids: config
                .agent_ids
                .iter()
                .map(|id| id.trim().to_lowercase())
                .filter(|id| !id.is_empty())
                .collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.groups.is_empty() && self.agent_ids.is_empty()
    }

    /// Why an agent is protected (`host dc-*`, `group Servers`, `agent_id …`), or `None`.
    pub fn reason(
        &self,
        agent_id: &str,
        hostname: Option<&str>,
        group: Option<&str>,
    ) -> Option<String> {
        let id = agent_id.trim().to_lowercase();
        if self.agent_ids.contains(&id) {
            return Some(format!("agent_id {agent_id}"));
        }
        if let Some(h) = hostname.filter(|h| !h.trim().is_empty())
            && let Some(p) = self.hosts.iter().find(|p| p.matches(h))
        {
            return Some(format!("host {}", p.as_str()));
        }
        if let Some(g) = group.filter(|g| !g.trim().is_empty()) {
            let g = g.trim();
            let first = short_name(g);
            if let Some(i) = self
                .groups
                .iter()
                .position(|m| m.matches(g) || m.matches(&first))
            {
                return Some(format!("group {}", self.groups[i]));
            }
        }
        None
    }

    pub fn protects(&self, agent_id: &str, hostname: Option<&str>, group: Option<&str>) -> bool {
        self.reason(agent_id, hostname, group).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_groups_and_ids_match_case_insensitively_on_full_name_and_first_label() {
        let cfg = ProtectConfig {
            hosts: vec!["dc-*".into(), "ceo-laptop".into()],
            groups: vec!["servers".into(), "東京*".into()],
            agent_ids: vec!["ABC-1".into()],
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("protect.txt");
        std::fs::write(&file, "# keep these\n\nZÜRICH-*\n").unwrap();
        let p = Protection::load(&cfg, Some(&file)).unwrap();
        assert!(p.protects("x", Some("DC-01.corp.example"), None));
        assert!(p.protects("x", Some("CEO-LAPTOP.corp.example"), None));
        assert!(p.protects("x", Some("zürich-pc-01"), None));
        assert!(p.protects("abc-1", None, None));
        assert!(p.protects("x", Some("ws-1"), Some("Servers")));
        assert!(p.protects("x", Some("ws-1"), Some("東京 laptops")));
        assert!(!p.protects("x", Some("ws-1"), Some("Workstations")));
        assert!(!p.protects("x", Some("ceo-laptop-2"), None));
        assert_eq!(
            p.reason("x", Some("dc-01"), None).as_deref(),
            Some("host dc-*")
        );
        assert!(Protection::load(&cfg, Some(&dir.path().join("missing"))).is_err());
    }
}
