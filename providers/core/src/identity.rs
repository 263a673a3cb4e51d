//! Machine identity: when two agent registrations name the same machine.
//!
//! The one rule every cross-console feature and `--host` use:
//!
//! - **hostname**: host names compared case-insensitively with Unicode case folding
//!   (`ZÜRICH` = `zürich`) on their first DNS label (`TKY-LT-0042.corp.example` =
//!   `tky-lt-0042`). A name that is an IP address is compared whole.
//! - **netbios**: a first label of exactly [`NETBIOS_MAX`] characters matches a longer first
//!   label it is the prefix of (Windows truncates NetBIOS names to 15 characters, so one
//!   console may show `WORKSTATION-FIN` for `workstation-finance-01`).
//! - **mac** / **serial** (stronger, where both sides report them): a shared MAC address or
//!   hardware serial number. Those are compared by the binary's fleet module, which also
//!   ignores values shared by many machines.

use std::net::IpAddr;

/// NetBIOS computer names are at most 15 characters long.
pub const NETBIOS_MAX: usize = 15;

/// Which rule made two agents the same machine (the `match` column), strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchRule {
    Mac,
    Serial,
    Hostname,
    Netbios,
}

impl MatchRule {
    pub fn name(self) -> &'static str {
        match self {
            MatchRule::Mac => "mac",
            MatchRule::Serial => "serial",
            MatchRule::Hostname => "hostname",
            MatchRule::Netbios => "netbios",
        }
    }
}

impl std::fmt::Display for MatchRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A host name folded for comparison: trimmed, without a trailing root dot, Unicode
/// lower case.
pub fn fold(name: &str) -> String {
    name.trim().trim_end_matches('.').to_lowercase()
}

/// The first DNS label of a host name, folded: `TKY-LT-0042.corp.example` → `tky-lt-0042`.
/// An IP address is kept whole (its first "label" names nothing). Empty for an empty name.
pub fn short_name(name: &str) -> String {
    let folded = fold(name);
    if folded.parse::<IpAddr>().is_ok() {
        return folded;
    }
    match folded.split_once('.') {
        Some((first, _)) => first.to_string(),
        None => folded,
    }
}

/// The NetBIOS form of a folded first label: its first 15 characters, when it has at least
/// 15 (shorter names are their own NetBIOS name and match by `hostname` only).
pub fn netbios_prefix(short: &str) -> Option<&str> {
    let end = short
        .char_indices()
        .nth(NETBIOS_MAX)
        .map_or(short.len(), |(i, _)| i);
    (short.chars().count() >= NETBIOS_MAX).then_some(&short[..end])
}

/// Whether two folded first labels are the same machine by name, and by which rule.
pub fn short_names_match(a: &str, b: &str) -> Option<MatchRule> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a == b {
        return Some(MatchRule::Hostname);
    }
    let (short, long) = if a.chars().count() < b.chars().count() {
        (a, b)
    } else {
        (b, a)
    };
    (short.chars().count() == NETBIOS_MAX && long.starts_with(short)).then_some(MatchRule::Netbios)
}

/// Whether two host names are the same machine by name (first label, case-insensitive,
/// NetBIOS truncation), and by which rule.
pub fn names_match(a: &str, b: &str) -> Option<MatchRule> {
    short_names_match(&short_name(a), &short_name(b))
}

/// A MAC address in one form (`00:0c:29:9b:ab:65`) from the ways vendors write it
/// (`00-0C-29-9B-AB-65`, `000c.299b.ab65`, `000C299BAB65`). `None` for anything else and
/// for addresses that identify no machine (all zeros, broadcast, multicast).
pub fn normalize_mac(text: &str) -> Option<String> {
    // The twelve hex digits, separators (`:`, `-`, `.`) dropped; anything else refuses it.
    let mut hex = [0u8; 12];
    let mut n = 0;
    for b in text.trim().bytes() {
        if matches!(b, b':' | b'-' | b'.') {
            continue;
        }
        if !b.is_ascii_hexdigit() || n == hex.len() {
            return None;
        }
        hex[n] = b.to_ascii_lowercase();
        n += 1;
    }
    if n != hex.len() || hex == [b'0'; 12] {
        return None;
    }
    // Multicast (the first octet's low bit): not an interface address.
    let first = u8::from_str_radix(std::str::from_utf8(&hex[..2]).ok()?, 16).ok()?;
    if first & 1 == 1 {
        return None;
    }
    let mut out = String::with_capacity(17);
    for (i, pair) in hex.chunks(2).enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(pair[0]));
        out.push(char::from(pair[1]));
    }
    Some(out)
}

/// A hardware serial number in one form (trimmed, upper case), or `None` when it is empty or
/// one of the placeholders firmware ships instead of a serial.
pub fn normalize_serial(text: &str) -> Option<String> {
    let s = text.trim().to_uppercase();
    const PLACEHOLDERS: &[&str] = &[
        "",
        "0",
        "NONE",
        "N/A",
        "NA",
        "NULL",
        "UNKNOWN",
        "DEFAULT STRING",
        "TO BE FILLED BY O.E.M.",
        "SYSTEM SERIAL NUMBER",
        "0123456789",
        "123456789",
        "CHASSIS SERIAL NUMBER",
        "NOT SPECIFIED",
        "NOT APPLICABLE",
    ];
    if PLACEHOLDERS.contains(&s.as_str()) || s.chars().all(|c| c == '0') {
        return None;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_label_case_insensitive_unicode() {
        assert_eq!(short_name("TKY-LT-0042.corp.example"), "tky-lt-0042");
        assert_eq!(short_name(" ZÜRICH-PC. "), "zürich-pc");
        assert_eq!(
            names_match("ZÜRICH-PC.corp", "zürich-pc"),
            Some(MatchRule::Hostname)
        );
        assert_eq!(
            names_match("東京-LT-0001", "東京-lt-0001.example.jp"),
            Some(MatchRule::Hostname)
        );
        assert_eq!(
            names_match("JOSÉ-MBP", "josé-mbp"),
            Some(MatchRule::Hostname)
        );
        assert_eq!(names_match("tky-lt-0042", "tky-lt-0043"), None);
        assert_eq!(names_match("", ""), None);
        // IP addresses are not cut at the first dot.
        assert_eq!(short_name("10.0.0.5"), "10.0.0.5");
        assert_eq!(names_match("10.0.0.5", "10.0.0.6"), None);
    }

    #[test]
    fn netbios_truncation_matches_only_at_fifteen_characters() {
        assert_eq!(
            names_match("WORKSTATION-FIN", "workstation-finance-01.corp"),
            Some(MatchRule::Netbios)
        );
        assert_eq!(
            names_match("workstation-finance-01", "WORKSTATION-FIN"),
            Some(MatchRule::Netbios)
        );
        // 14 characters is a whole name, not a truncation.
        assert_eq!(
            names_match("WORKSTATION-FI", "workstation-finance-01"),
            None
        );
        // Two long names sharing 15 characters are different machines.
        assert_eq!(
            names_match("workstation-finance-01", "workstation-finance-02"),
            None
        );
        // Counted in characters, not bytes.
        assert_eq!(
            names_match("ÜBERWACHUNG-SRV", "überwachung-srv-01"),
            Some(MatchRule::Netbios)
        );
        assert_eq!(
            netbios_prefix("überwachung-srv-01"),
            Some("überwachung-srv")
        );
        assert_eq!(netbios_prefix("short"), None);
    }

    #[test]
    fn macs_and_serials_normalise() {
        assert_eq!(
            normalize_mac("00-0C-29-9B-AB-65").as_deref(),
            Some("00:0c:29:9b:ab:65")
        );
        assert_eq!(
            normalize_mac("000c.299b.ab65").as_deref(),
            Some("00:0c:29:9b:ab:65")
        );
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac("ff:ff:ff:ff:ff:ff"), None);
        assert_eq!(normalize_mac("01:00:5e:00:00:01"), None);
        assert_eq!(normalize_mac("not a mac"), None);
        // The same answers as the plain definition (filter, check, lower-case, join).
        let plain = |text: &str| -> Option<String> {
            let hex: String = text
                .trim()
                .chars()
                .filter(|c| !matches!(c, ':' | '-' | '.'))
                .collect();
            if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            let hex = hex.to_ascii_lowercase();
            let first = u8::from_str_radix(&hex[0..2], 16).ok()?;
            if hex == "000000000000" || first & 1 == 1 {
                return None;
            }
            let pairs: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
            Some(pairs.join(":"))
        };
        for text in [
            "",
            " ",
            "AA:BB:CC:DD:EE:F0",
            " aa-bb-cc-dd-ee-f0\t",
            "aabb.ccdd.eef0",
            "aabbccddeef",
            "aabbccddeef00",
            "aa:bb:cc:dd:ee:fg",
            "aa:bb:cc:dd:ee:f\u{e9}",
            "\u{ff10}a:bb:cc:dd:ee:f0",
            "02:00:00:00:00:00",
            "03:00:00:00:00:00",
            "::::aabbccddeef0::",
            "a a:bb:cc:dd:ee:f0",
            "000000000000",
            "000000000001",
        ] {
            assert_eq!(normalize_mac(text), plain(text), "{text:?}");
        }
        assert_eq!(normalize_serial(" pf3abc12 ").as_deref(), Some("PF3ABC12"));
        assert_eq!(normalize_serial("To be filled by O.E.M."), None);
        assert_eq!(normalize_serial("0000000"), None);
    }

    #[test]
    fn host_patterns_follow_the_identity_rule() {
        use crate::HostPattern;
        let p = HostPattern::new("tky-lt-0042");
        assert!(p.matches("TKY-LT-0042.corp.example"));
        assert!(p.matches("tky-lt-0042"));
        assert!(!p.matches("tky-lt-00421"));
        assert!(HostPattern::new("TKY-LT-0042.corp.example").matches("tky-lt-0042"));
        assert!(HostPattern::new("zürich-pc").matches("ZÜRICH-PC.example.ch"));
        assert!(HostPattern::new("WORKSTATION-FIN").matches("workstation-finance-01"));
        assert_eq!(
            HostPattern::new("workstation-finance-01").literal_prefix(),
            "workstation-fin"
        );
        // Globs: whole name or first label, case-insensitive.
        let g = HostPattern::new("LAB-0?");
        assert!(g.matches("lab-01.corp.example"));
        assert!(g.matches("LAB-02"));
        assert!(!g.matches("lab-100"));
        assert!(HostPattern::new("*.corp.example").matches("X.CORP.EXAMPLE"));
        assert!(HostPattern::new("büro-*").matches("BÜRO-PC-7"));
        assert_eq!(HostPattern::new("büro-*").literal_prefix(), "büro-");
        assert_eq!(HostPattern::new("büro-pc-7").exact(), None);
    }
}
