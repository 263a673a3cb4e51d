//! Retry decisions, kept pure so they can be tested without a network.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode};

/// What to do with a response status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Final: hand the response to the caller.
    Done,
    /// Try again after a delay.
    Retry,
    /// Refresh credentials, then try again (at most `http::MAX_REAUTHS` times per request).
    Reauthenticate,
}

/// Methods a server treats as idempotent: safe to send again when the outcome is unknown.
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
    )
}

/// 429 and the gateway-style 5xx are always retried: the request was not processed. A plain
/// 500 is retried only for idempotent methods, since a POST may have taken effect.
pub fn decide(status: StatusCode, method: &Method) -> Decision {
    match status.as_u16() {
        401 => Decision::Reauthenticate,
        429 | 502 | 503 | 504 => Decision::Retry,
        500 if is_idempotent(method) => Decision::Retry,
        _ => Decision::Done,
    }
}

fn header<'h>(headers: &'h HeaderMap, names: &[&str]) -> Option<&'h str> {
    names
        .iter()
        .find_map(|n| headers.get(*n))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = header(headers, &["retry-after"])?;
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate_parse(value)?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

fn httpdate_parse(value: &str) -> Option<SystemTime> {
    // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
    let ts = jiff::fmt::rfc2822::parse(value).ok()?;
    Some(SystemTime::from(ts.timestamp()))
}

/// Rate-limit state as vendors report it in response headers (`x-ratelimit-*`, and the
/// `x-rate-limit-*` spelling some documentation uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateHeaders {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Time until the window resets.
    pub reset: Option<Duration>,
}

pub fn rate_headers(headers: &HeaderMap, now: SystemTime) -> RateHeaders {
    let num = |names: &[&str]| header(headers, names).and_then(|v| v.parse::<u64>().ok());
    let reset = num(&["x-ratelimit-reset", "x-rate-limit-reset"])
        .map(Duration::from_secs)
        .or_else(|| {
            let date = header(
                headers,
                &["x-ratelimit-resetdate", "x-rate-limit-resetdate"],
            )?;
            let ts: jiff::Timestamp = date.parse().ok()?;
            Some(
                SystemTime::from(ts)
                    .duration_since(now)
                    .unwrap_or(Duration::ZERO),
            )
        });
    RateHeaders {
        limit: num(&["x-ratelimit-limit", "x-rate-limit-limit"]),
        remaining: num(&["x-ratelimit-remaining", "x-rate-limit-remaining"]),
        reset,
    }
}

/// How long the server asked us to wait, from `Retry-After` or the reset header.
pub fn server_delay(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    retry_after(headers, now).or_else(|| {
        let rh = rate_headers(headers, now);
        // A reset time only says when budget returns if the budget is spent.
        match rh.remaining {
            Some(0) | None => rh.reset,
            Some(_) => None,
        }
    })
}

/// The wait before the next attempt: the server's word when it gave one (never less than
/// our own backoff), capped at `max_wait`.
pub fn next_delay(backoff: Duration, server: Option<Duration>, max_wait: Duration) -> Duration {
    server.map_or(backoff, |s| s.max(backoff)).min(max_wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn decisions_by_status_and_method() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(
            decide(StatusCode::TOO_MANY_REQUESTS, &post),
            Decision::Retry
        );
        assert_eq!(
            decide(StatusCode::SERVICE_UNAVAILABLE, &post),
            Decision::Retry
        );
        assert_eq!(decide(StatusCode::BAD_GATEWAY, &get), Decision::Retry);
        assert_eq!(
            decide(StatusCode::INTERNAL_SERVER_ERROR, &get),
            Decision::Retry
        );
        assert_eq!(
            decide(StatusCode::INTERNAL_SERVER_ERROR, &post),
            Decision::Done
        );
        assert_eq!(
            decide(StatusCode::UNAUTHORIZED, &get),
            Decision::Reauthenticate
        );
        assert_eq!(decide(StatusCode::NOT_FOUND, &get), Decision::Done);
        assert_eq!(decide(StatusCode::BAD_REQUEST, &get), Decision::Done);
        assert_eq!(decide(StatusCode::FORBIDDEN, &get), Decision::Done);
        assert_eq!(decide(StatusCode::NO_CONTENT, &Method::PUT), Decision::Done);
    }

    #[test]
    fn retry_after_seconds_and_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06T08:49:37Z
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:47 GMT")]),
                now
            ),
            Some(Duration::from_secs(10))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn reset_headers_in_both_spellings() {
        let now = SystemTime::UNIX_EPOCH;
        let a = rate_headers(
            &headers(&[
                ("x-ratelimit-limit", "3000"),
                ("x-ratelimit-remaining", "2996"),
                ("x-ratelimit-reset", "3584"),
            ]),
            now,
        );
        assert_eq!(
            a,
            RateHeaders {
                limit: Some(3000),
                remaining: Some(2996),
                reset: Some(Duration::from_secs(3584))
            }
        );
        let b = rate_headers(
            &headers(&[
                ("X-Rate-Limit-Remaining", "0"),
                ("X-Rate-Limit-Reset", "12"),
            ]),
            now,
        );
        assert_eq!(b.remaining, Some(0));
        assert_eq!(b.reset, Some(Duration::from_secs(12)));
        let c = rate_headers(
            &headers(&[("x-ratelimit-resetdate", "1970-01-01T00:01:00Z")]),
            now,
        );
        assert_eq!(c.reset, Some(Duration::from_secs(60)));
    }

    #[test]
    fn server_delay_prefers_retry_after_then_spent_budget_reset() {
        let now = SystemTime::UNIX_EPOCH;
        let h = headers(&[("retry-after", "3"), ("x-ratelimit-reset", "50")]);
        assert_eq!(server_delay(&h, now), Some(Duration::from_secs(3)));
        let spent = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "50")]);
        assert_eq!(server_delay(&spent, now), Some(Duration::from_secs(50)));
        let left = headers(&[("x-ratelimit-remaining", "10"), ("x-ratelimit-reset", "50")]);
        assert_eq!(server_delay(&left, now), None);
    }

    #[test]
    fn next_delay_honours_server_and_cap() {
        let max = Duration::from_secs(60);
        let b = Duration::from_millis(400);
        assert_eq!(next_delay(b, None, max), b);
        assert_eq!(
            next_delay(b, Some(Duration::from_secs(5)), max),
            Duration::from_secs(5)
        );
        assert_eq!(next_delay(b, Some(Duration::ZERO), max), b);
        assert_eq!(next_delay(b, Some(Duration::from_secs(3600)), max), max);
    }
}
