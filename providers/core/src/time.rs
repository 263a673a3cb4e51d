//! Timestamps as vendors send them, and the stale rule.

use jiff::{Timestamp, civil::DateTime, tz::TimeZone};

const DAY_SECS: i64 = 86_400;

/// Parse a vendor timestamp: RFC 3339 with `Z` or an offset, with or without fractional
/// seconds; a timestamp without any offset is read as UTC (several APIs omit it).
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Some(ts);
    }
    // "2026-10-01 12:00:00" or "2026-10-01T12:00:00" with no offset: UTC.
    let normalized = text.replacen(' ', "T", 1);
    if let Ok(ts) = normalized.parse::<Timestamp>() {
        return Some(ts);
    }
    normalized
        .parse::<DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned(TimeZone::UTC).ok())
        .map(|z| z.timestamp())
}

/// Whole days from `earlier` to `later`, rounded down; 0 when `earlier` is in the future.
pub fn whole_days_between(earlier: Timestamp, later: Timestamp) -> i64 {
    let secs = later.as_second() - earlier.as_second();
    if secs <= 0 { 0 } else { secs / DAY_SECS }
}

/// The instant before which an agent counts as stale: `now − days × 24 h`, or the earliest
/// representable instant when that is before it (`--days 4294967295`: nothing is stale).
pub fn stale_cutoff(now: Timestamp, days: u32) -> Timestamp {
    now.checked_sub(jiff::SignedDuration::from_secs(i64::from(days) * DAY_SECS))
        .unwrap_or(Timestamp::MIN)
}

/// SPEC's rule: stale when the last-seen time is known and strictly older than the cutoff.
pub fn is_stale(last_seen: Option<Timestamp>, cutoff: Timestamp) -> bool {
    matches!(last_seen, Some(seen) if seen < cutoff)
}

/// RFC 3339 in UTC, keeping fractional seconds only when there are any.
pub fn format_timestamp(ts: Timestamp) -> String {
    ts.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_vendor_shapes() {
        assert_eq!(
            parse_timestamp("2026-10-01T12:00:00Z"),
            Some(ts("2026-10-01T12:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2026-10-01T12:00:00.123456Z"),
            Some(ts("2026-10-01T12:00:00.123456Z"))
        );
        assert_eq!(
            parse_timestamp("2026-10-01T14:00:00+02:00"),
            Some(ts("2026-10-01T12:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2026-10-01T12:00:00"),
            Some(ts("2026-10-01T12:00:00Z"))
        );
        assert_eq!(
            parse_timestamp("2026-10-01 12:00:00"),
            Some(ts("2026-10-01T12:00:00Z"))
        );
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(parse_timestamp("   "), None);
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn formats_utc_with_fraction_only_when_present() {
        assert_eq!(
            format_timestamp(ts("2026-10-01T14:00:00+02:00")),
            "2026-10-01T12:00:00Z"
        );
        assert_eq!(
            format_timestamp(ts("2026-10-01T12:00:00.5Z")),
            "2026-10-01T12:00:00.5Z"
        );
    }

    #[test]
    fn stale_boundary_is_exactly_n_days() {
        let now = ts("2026-11-23T12:00:00Z");
        let cutoff = stale_cutoff(now, 30);
        assert_eq!(cutoff, ts("2026-10-24T12:00:00Z"));
        // Exactly 30 × 24 h ago: not older than the cutoff, so not stale.
        assert!(!is_stale(Some(ts("2026-10-24T12:00:00Z")), cutoff));
        // One second more: stale (the original script would have needed 31 whole days).
        assert!(is_stale(Some(ts("2026-10-24T11:59:59Z")), cutoff));
        assert!(is_stale(Some(ts("2026-10-24T11:59:59.999Z")), cutoff));
        assert!(!is_stale(None, cutoff));
        assert!(!is_stale(Some(ts("2026-11-30T00:00:00Z")), cutoff));
        // --days 0: everything seen before now.
        assert!(is_stale(
            Some(ts("2026-11-23T11:59:59Z")),
            stale_cutoff(now, 0)
        ));
    }

    #[test]
    fn cutoff_keeps_subsecond_precision() {
        let now = ts("2026-11-23T12:00:00.750Z");
        assert_eq!(stale_cutoff(now, 1), ts("2026-11-22T12:00:00.750Z"));
    }

    #[test]
    fn whole_days_round_down() {
        let now = ts("2026-11-23T12:00:00Z");
        assert_eq!(whole_days_between(ts("2026-11-16T12:00:01Z"), now), 6);
        assert_eq!(whole_days_between(ts("2026-11-16T12:00:00Z"), now), 7);
        assert_eq!(whole_days_between(ts("2026-11-24T00:00:00Z"), now), 0);
    }
}
