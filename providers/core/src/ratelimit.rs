//! Client-side request quotas (`rate_limit = "5/s, 14/min, 350/30min"`), all held at once.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// One quota: at most `requests` in any window of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaSpec {
    pub requests: u32,
    pub window: Duration,
}

/// Parsed `rate_limit` value: no quotas (`off`) or several that must all hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimitSpec {
    pub quotas: Vec<QuotaSpec>,
}

impl RateLimitSpec {
    pub fn off() -> Self {
        Self::default()
    }

    pub fn is_off(&self) -> bool {
        self.quotas.is_empty()
    }

    /// Parse `"5/s, 14/min, 350/30min"`, `"3000/h"`, or `"off"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") || text.eq_ignore_ascii_case("none") {
            return Ok(Self::off());
        }
        let mut quotas = Vec::new();
        for part in text.split(',') {
            let part = part.trim();
            let (n, per) = part.split_once('/').ok_or_else(|| {
                format!("'{part}' is not of the form N/UNIT (e.g. 5/s, 350/30min)")
            })?;
            let requests: u32 = n
                .trim()
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("'{part}': '{}' is not a positive number", n.trim()))?;
            let per = per.trim();
            let digits = per.find(|c: char| !c.is_ascii_digit()).unwrap_or(per.len());
            let count: u64 = if digits == 0 {
                1
            } else {
                per[..digits]
                    .parse()
                    .map_err(|_| format!("'{part}': bad window"))?
            };
            let unit = match per[digits..].trim() {
                "ms" => Duration::from_millis(1),
                "s" | "sec" | "second" => Duration::from_secs(1),
                "m" | "min" | "minute" => Duration::from_secs(60),
                "h" | "hour" => Duration::from_secs(3600),
                "d" | "day" => Duration::from_secs(86_400),
                other => {
                    return Err(format!(
                        "'{part}': unknown unit '{other}' (use ms, s, min, h or d)"
                    ));
                }
            };
            if count == 0 {
                return Err(format!("'{part}': the window must be longer than zero"));
            }
            quotas.push(QuotaSpec {
                requests,
                window: unit
                    * u32::try_from(count).map_err(|_| format!("'{part}': window too long"))?,
            });
        }
        Ok(Self { quotas })
    }
}

/// Waits until every quota has room. Each quota is enforced as evenly spaced requests at
/// `(n − 1) / window` with no burst, which keeps any sliding window at or below `n`.
#[derive(Clone, Default)]
pub struct Limiter {
    limiters: Arc<Vec<DefaultDirectRateLimiter>>,
}

impl Limiter {
    pub fn new(spec: &RateLimitSpec) -> Self {
        let limiters = spec
            .quotas
            .iter()
            .map(|q| {
                let slots = q.requests.saturating_sub(1).max(1);
                let period = q.window / slots;
                let quota = Quota::with_period(period.max(Duration::from_nanos(1)))
                    .expect("non-zero period")
                    .allow_burst(NonZeroU32::MIN);
                RateLimiter::direct(quota)
            })
            .collect();
        Self {
            limiters: Arc::new(limiters),
        }
    }

    pub async fn acquire(&self) {
        for l in self.limiters.iter() {
            l.until_ready().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multi_window_quotas() {
        let spec = RateLimitSpec::parse("5/s, 14/min, 350/30min").unwrap();
        assert_eq!(
            spec.quotas,
            vec![
                QuotaSpec {
                    requests: 5,
                    window: Duration::from_secs(1)
                },
                QuotaSpec {
                    requests: 14,
                    window: Duration::from_secs(60)
                },
                QuotaSpec {
                    requests: 350,
                    window: Duration::from_secs(1800)
                },
            ]
        );
        assert!(RateLimitSpec::parse("off").unwrap().is_off());
        assert_eq!(
            RateLimitSpec::parse("3000/h").unwrap().quotas[0].window,
            Duration::from_secs(3600)
        );
        assert!(RateLimitSpec::parse("5 per second").is_err());
        assert!(RateLimitSpec::parse("0/s").is_err());
        assert!(
            RateLimitSpec::parse("5/fortnight")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(RateLimitSpec::parse("5/0min").is_err());
    }

    #[tokio::test]
    async fn limiter_spaces_requests() {
        let limiter = Limiter::new(&RateLimitSpec::parse("11/100ms").unwrap());
        let start = std::time::Instant::now();
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // 10 slots per 100 ms → 10 ms apart; six requests need at least 50 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(45),
            "{:?}",
            start.elapsed()
        );
    }
}
