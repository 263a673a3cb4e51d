//! A plan's identity: a digest over its agent rows and their actions.
//!
//! Each row contributes `provider`, `agent_id` and the action it asks for (with the
//! destination for a relocate), so the same agents and actions give the same digest whatever
//! the file format, column order, row order, duplicates or the other columns (host names,
//! last-seen times) — and a plan with one agent more or another action gets a new one.

use sha2::{Digest, Sha256};

/// Hex characters kept from the SHA-256 (64 bits: a plan identity, not a security boundary).
pub const DIGEST_LEN: usize = 16;

/// One row of a plan as the digest sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DigestRow<'a> {
    pub provider: &'a str,
    pub agent_id: &'a str,
    /// The action key: `uninstall`, `remove`, `restore`, or `relocate` with its destination.
    pub action: &'a str,
}

/// The digest of a set of rows (order and duplicates do not matter).
pub fn plan_digest<'a>(rows: impl IntoIterator<Item = DigestRow<'a>>) -> String {
    let mut rows: Vec<DigestRow<'a>> = rows.into_iter().collect();
    rows.sort();
    rows.dedup();
    let mut h = Sha256::new();
    h.update(b"agentctl-plan-v1\n");
    for r in &rows {
        // Length-prefixed fields: no separator inside a value can make two plans collide.
        for field in [r.provider, r.agent_id, r.action] {
            h.update((field.len() as u64).to_le_bytes());
            h.update(field.as_bytes());
        }
    }
    let bytes = h.finalize();
    let mut hex = String::with_capacity(DIGEST_LEN);
    for b in bytes.iter().take(DIGEST_LEN / 2) {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

/// True for text that looks like a digest this module makes (for `runs show DIGEST`).
pub fn is_digest(text: &str) -> bool {
    text.len() == DIGEST_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row<'a>(p: &'a str, id: &'a str, a: &'a str) -> DigestRow<'a> {
        DigestRow {
            provider: p,
            agent_id: id,
            action: a,
        }
    }

    #[test]
    fn order_and_duplicates_do_not_matter_content_does() {
        let a = plan_digest([row("se", "1", "uninstall"), row("tg", "2", "uninstall")]);
        let b = plan_digest([
            row("tg", "2", "uninstall"),
            row("se", "1", "uninstall"),
            row("se", "1", "uninstall"),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.len(), DIGEST_LEN);
        assert!(is_digest(&a));
        assert_ne!(a, plan_digest([row("se", "1", "uninstall")]));
        assert_ne!(
            a,
            plan_digest([row("se", "1", "remove"), row("tg", "2", "uninstall")])
        );
        // Field boundaries are part of the identity.
        assert_ne!(
            plan_digest([row("se", "1x", "uninstall")]),
            plan_digest([row("se1", "x", "uninstall")])
        );
        assert!(!is_digest("plan.csv"));
    }
}
