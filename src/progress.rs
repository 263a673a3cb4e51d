//! Progress on stderr, only when it is a terminal and not disabled.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use crate::app::App;

pub struct Progress(Option<ProgressBar>);

impl Progress {
    pub fn spinner(app: &App, message: &str) -> Self {
        if !app.progress_enabled() {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
                .expect("valid template"),
        );
        bar.set_prefix(message.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Self(Some(bar))
    }

    pub fn bar(app: &App, total: u64, message: &str) -> Self {
        if !app.progress_enabled() {
            return Self(None);
        }
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed}, {rate}, eta {true_eta}]",
            )
            .expect("valid template")
            .progress_chars("=> ")
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&rate_text(s.pos(), s.elapsed()));
            })
            .with_key(
                "true_eta",
                |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&eta_text(s.pos(), s.len().unwrap_or(0), s.elapsed()));
                },
            ),
        );
        bar.set_prefix(message.to_string());
        // Redraw every second so elapsed time and ETA move while requests wait on quotas.
        bar.enable_steady_tick(std::time::Duration::from_secs(1));
        Self(Some(bar))
    }

    /// A count per provider for listings: `se-apjc 1200 ✓, sa 400…` (✓ = finished).
    pub fn set_counts(&self, counts: &[(String, u64, bool)]) {
        if self.0.is_some() {
            let text: Vec<String> = counts
                .iter()
                .map(|(name, n, done)| format!("{name} {n}{}", if *done { " ✓" } else { "…" }))
                .collect();
            self.set_message(format!("agents read: {}", text.join(", ")));
        }
    }

    /// Messages may carry vendor text: control characters are shown as escapes.
    pub fn set_message(&self, msg: String) {
        if let Some(b) = &self.0 {
            b.set_message(crate::sanitize::terminal_text(&msg).into_owned());
        }
    }

    /// Run `f` with the progress line cleared (for printing to the same terminal).
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(b) => b.suspend(f),
            None => f(),
        }
    }

    pub fn inc(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

/// Items per second over the whole run so far: `12.5/s`.
pub fn rate_text(done: u64, elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if done == 0 || secs <= 0.0 {
        return "-/s".into();
    }
    let rate = done as f64 / secs;
    if rate >= 10.0 {
        format!("{rate:.0}/s")
    } else {
        format!("{rate:.1}/s")
    }
}

/// Time left at the average rate so far (not a decaying estimate, which reads 0 s while a
/// run waits on a quota): `1m 10s`; `-` before the first item is done.
pub fn eta_text(done: u64, total: u64, elapsed: std::time::Duration) -> String {
    if done == 0 || elapsed.is_zero() {
        return "-".into();
    }
    let left = total.saturating_sub(done);
    let secs = (left as f64 * elapsed.as_secs_f64() / done as f64).round() as u64;
    match secs {
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn eta_uses_the_average_rate_so_far() {
        // 100 of 800 in 10 s: 700 left at 10/s = 70 s.
        assert_eq!(eta_text(100, 800, Duration::from_secs(10)), "1m 10s");
        assert_eq!(eta_text(0, 800, Duration::from_secs(10)), "-");
        assert_eq!(eta_text(800, 800, Duration::from_secs(10)), "0s");
        assert_eq!(eta_text(1, 1000, Duration::from_secs(10)), "2h 46m");
        assert_eq!(rate_text(100, Duration::from_secs(10)), "10/s");
        assert_eq!(rate_text(5, Duration::from_secs(2)), "2.5/s");
        assert_eq!(rate_text(0, Duration::from_secs(2)), "-/s");
    }
}
