//! Client-side request quotas (`rate_limit = "5/s, 14/min, 350/30min"`), all held at once.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::time::Instant;

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
            // A longer window would only make a run wait for years (and overflow clocks).
            let max_window = Duration::from_secs(31 * 86_400);
            if unit.saturating_mul(u32::try_from(count).unwrap_or(u32::MAX)) > max_window {
                return Err(format!("'{part}': the window is longer than 31 days"));
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

/// Holds every quota of a [`RateLimitSpec`] at once, as sliding windows: a request may start
/// whenever each window has room, so a run spends a window's whole allowance as soon as it
/// needs it (5 requests in the first second, 14 in the first minute for `5/s, 14/min`)
/// instead of spacing requests evenly, and no window of any length ever holds more than its
/// quota.
///
/// A request counts against a window from the moment it starts until `window` after it
/// finished (when its [`Permit`] is dropped). The server sees a request somewhere between
/// those two instants, so however the network delays requests, no window the server
/// measures holds more than the quota either: a server-enforced quota never answers 429.
/// The price is one round trip per window (a `5/s` quota runs at 5 per `1 s + latency`).
#[derive(Clone, Default)]
pub struct Limiter {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes waiters when a request finishes (its window slot then gets an end time).
    finished: Notify,
    /// Where the end times of recent requests are kept between runs (see
    /// [`Limiter::remembered`]).
    memory: Option<PathBuf>,
}

struct State {
    windows: Vec<Window>,
    /// Requests started and not yet finished; they count against every window.
    in_flight: u32,
}

struct Window {
    quota: QuotaSpec,
    /// When the most recent requests finished, oldest first (at most `quota.requests`).
    ended: VecDeque<Instant>,
}

impl Window {
    /// Forget requests that finished a whole window ago.
    fn expire(&mut self, now: Instant) {
        while self
            .ended
            .front()
            .is_some_and(|t| *t + self.quota.window <= now)
        {
            self.ended.pop_front();
        }
    }

    fn used(&self, in_flight: u32) -> usize {
        self.ended.len() + in_flight as usize
    }
}

/// How much later than its abandonment a request dropped in flight is assumed to reach the
/// server (its bytes may already be on the way).
pub const ABANDONED_GRACE: Duration = Duration::from_secs(1);

/// One request's place in every window. Call [`Permit::finished`] when the response (or a
/// failure) arrived: the request's window time starts then. A permit dropped without it
/// belongs to a request abandoned in flight, which may still reach the server: its window
/// time starts [`ABANDONED_GRACE`] later.
pub struct Permit {
    shared: Option<Arc<Shared>>,
}

impl Permit {
    pub fn finished(mut self) {
        if let Some(shared) = self.shared.take() {
            release(&shared, Instant::now());
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            release(&shared, Instant::now() + ABANDONED_GRACE);
        }
    }
}

fn release(shared: &Shared, now: Instant) {
    let remembered = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.in_flight = state.in_flight.saturating_sub(1);
        for w in &mut state.windows {
            // Keep the times in order (an abandoned request's end lies ahead).
            let at = w.ended.back().map_or(now, |last| now.max(*last));
            w.ended.push_back(at);
            while w.ended.len() > w.quota.requests as usize {
                w.ended.pop_front();
            }
        }
        shared.memory.as_ref().map(|_| state.longest_record())
    };
    shared.finished.notify_waiters();
    if let (Some(path), Some(ends)) = (&shared.memory, remembered) {
        save(path, &ends);
    }
}

impl State {
    /// The end times of the window that keeps the most of them.
    fn longest_record(&self) -> Vec<Instant> {
        self.windows
            .iter()
            .max_by_key(|w| w.ended.len())
            .map(|w| w.ended.iter().copied().collect())
            .unwrap_or_default()
    }
}

/// Wall-clock milliseconds of `at` (an instant of this process's clock).
fn to_unix_ms(at: Instant) -> i64 {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    if at >= now {
        wall + (at - now).as_millis() as i64
    } else {
        wall - (now - at).as_millis() as i64
    }
}

fn from_unix_ms(ms: i64) -> Instant {
    let now = Instant::now();
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let delta = Duration::from_millis(ms.abs_diff(wall));
    if ms >= wall {
        now + delta
    } else {
        now.checked_sub(delta).unwrap_or(now)
    }
}

/// Write the end times (wall-clock milliseconds, one per line) next to `path` and move the
/// file into place, so a reader never sees half of it. Failures only cost the memory.
fn save(path: &std::path::Path, ends: &[Instant]) {
    let text: String = ends
        .iter()
        .map(|t| format!("{}\n", to_unix_ms(*t)))
        .collect();
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&tmp, text))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        tracing::debug!("cannot keep request times in {}: {e}", path.display());
        let _ = std::fs::remove_file(&tmp);
    }
}

fn load(path: &std::path::Path) -> Vec<Instant> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut ends: Vec<Instant> = text
        .lines()
        .filter_map(|l| l.trim().parse::<i64>().ok())
        .map(from_unix_ms)
        .collect();
    ends.sort();
    ends
}

impl Limiter {
    pub fn new(spec: &RateLimitSpec) -> Self {
        Self::build(spec, None)
    }

    /// A limiter that remembers when its recent requests ended in the file `path` (read now,
    /// rewritten after every request), so the next run starts with what this one spent: a
    /// `stale` listing followed at once by an `uninstall` of the same key stays inside the
    /// quota together, as the server counts them. Without it a new run would assume a fresh
    /// allowance.
    pub fn remembered(spec: &RateLimitSpec, path: PathBuf) -> Self {
        Self::build(spec, Some(path))
    }

    fn build(spec: &RateLimitSpec, memory: Option<PathBuf>) -> Self {
        if spec.is_off() {
            return Self { shared: None };
        }
        let earlier = memory.as_deref().map(load).unwrap_or_default();
        let windows = spec
            .quotas
            .iter()
            .map(|q| {
                let keep = earlier.len().saturating_sub(q.requests as usize);
                let mut w = Window {
                    quota: *q,
                    ended: earlier[keep..].iter().copied().collect(),
                };
                w.expire(Instant::now());
                w
            })
            .collect();
        Self {
            shared: Some(Arc::new(Shared {
                state: Mutex::new(State {
                    windows,
                    in_flight: 0,
                }),
                finished: Notify::new(),
                memory,
            })),
        }
    }

    /// Wait until every window has room, and take a place in each.
    pub async fn acquire(&self) -> Permit {
        let Some(shared) = &self.shared else {
            return Permit { shared: None };
        };
        loop {
            // Register for "a request finished" before looking, so no wake-up is lost.
            let finished = shared.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let wake = {
                let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let in_flight = state.in_flight;
                let mut wake: Option<Instant> = None;
                let mut blocked = false;
                for w in &mut state.windows {
                    w.expire(now);
                    if w.used(in_flight) >= w.quota.requests as usize {
                        blocked = true;
                        // Room returns when the oldest finished request leaves the window;
                        // with none finished yet, when an in-flight request finishes.
                        if let Some(first) = w.ended.front() {
                            let at = *first + w.quota.window;
                            wake = Some(wake.map_or(at, |x| x.max(at)));
                        }
                    }
                }
                if !blocked {
                    state.in_flight += 1;
                    return Permit {
                        shared: Some(shared.clone()),
                    };
                }
                wake
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = &mut finished => {}
                    }
                }
                None => finished.await,
            }
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
        assert!(
            RateLimitSpec::parse("2/4000000d")
                .unwrap_err()
                .contains("31 days")
        );
        assert!(RateLimitSpec::parse("2/18446744073709551615d").is_err());
        assert!(RateLimitSpec::parse("1/31d").is_ok());
    }

    /// Start times (since `t0`) of `n` requests that each take `latency`, `concurrency` at a
    /// time, under `spec`; with the paused clock the times are exact.
    async fn run(spec: &str, n: usize, concurrency: usize, latency: Duration) -> Vec<Duration> {
        let limiter = Limiter::new(&RateLimitSpec::parse(spec).unwrap());
        let t0 = Instant::now();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (limiter, starts, next) = (limiter.clone(), starts.clone(), next.clone());
                tokio::spawn(async move {
                    while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < n {
                        let permit = limiter.acquire().await;
                        starts.lock().unwrap().push(t0.elapsed());
                        tokio::time::sleep(latency).await;
                        permit.finished();
                    }
                })
            })
            .collect();
        for w in workers {
            w.await.unwrap();
        }
        let mut starts = Arc::try_unwrap(starts).unwrap().into_inner().unwrap();
        starts.sort();
        starts
    }

    /// The most requests any window of `window` saw, counting each at `at(start)`.
    fn busiest(times: &[Duration], window: Duration) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| **t < times[i] + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_s_whole_allowance_is_available_at_once() {
        // Secure Access: 5 in the first second, 14 in the first minute, the 15th a minute on.
        let starts = run("5/s, 14/min, 350/30min", 15, 8, Duration::ZERO).await;
        let secs: Vec<u64> = starts.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 60]);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_hold_their_place_until_a_window_after_they_finish() {
        // 2 per second, requests taking 300 ms: a request's window starts when it ends, so
        // the next pair starts 1.3 s after the first.
        let starts = run("2/s", 4, 4, Duration::from_millis(300)).await;
        assert_eq!(
            starts,
            [0, 0, 1300, 1300].map(Duration::from_millis).to_vec()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_run_never_exceeds_any_window_and_keeps_pace() {
        let latency = Duration::from_millis(30);
        let starts = run("5/s, 14/min, 350/30min", 400, 8, latency).await;
        // Each request reaches the server somewhere in [start, start + latency]: the worst
        // case for a window is counting every request at its start and at its end.
        let ends: Vec<Duration> = starts.iter().map(|s| *s + latency).collect();
        for (quota, window) in [(5, 1), (14, 60), (350, 1800)] {
            let w = Duration::from_secs(window);
            assert!(busiest(&starts, w) <= quota, "{quota}/{window}s");
            assert!(busiest(&ends, w) <= quota, "{quota}/{window}s");
        }
        // 350 in the first 30 minutes (14 per minute, the last window partly), then the
        // remaining 50 from the minute windows after the 30-minute window reopens.
        let last = *starts.last().unwrap();
        assert!(last >= Duration::from_secs(1800), "{last:?}");
        assert!(last < Duration::from_secs(1800 + 4 * 61), "{last:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_abandoned_in_flight_counts_a_grace_period_longer() {
        let limiter = Limiter::new(&RateLimitSpec::parse("1/s").unwrap());
        let t0 = Instant::now();
        drop(limiter.acquire().await);
        limiter.acquire().await.finished();
        assert_eq!(t0.elapsed(), Duration::from_secs(1) + ABANDONED_GRACE);
    }

    #[tokio::test]
    async fn the_next_run_starts_with_what_this_one_spent() {
        let dir = std::env::temp_dir().join(format!("agentctl-quota-{}", std::process::id()));
        let path = dir.join("sa.times");
        let _ = std::fs::remove_file(&path);
        let spec = RateLimitSpec::parse("3/2s, 100/h").unwrap();
        let first = Limiter::remembered(&spec, path.clone());
        for _ in 0..3 {
            first.acquire().await.finished();
        }
        drop(first);
        // A second run (a new limiter from the same file) has no room left in the 2 s
        // window: its first request waits for the oldest of the three to leave it.
        let second = Limiter::remembered(&spec, path.clone());
        let t0 = std::time::Instant::now();
        second.acquire().await.finished();
        let waited = t0.elapsed();
        assert!(waited >= Duration::from_millis(1500), "{waited:?}");
        assert_eq!(load(&path).len(), 4);
        // Without the memory, a limiter starts with the whole allowance.
        let t0 = std::time::Instant::now();
        Limiter::new(&spec).acquire().await.finished();
        assert!(t0.elapsed() < Duration::from_millis(500));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(start_paused = true)]
    async fn no_quota_never_waits() {
        let starts = run("off", 50, 4, Duration::from_millis(10)).await;
        assert_eq!(starts.last(), Some(&Duration::from_millis(120)));
    }
}
