//! Progress on stderr, only when it is a terminal and not disabled.

use indicatif::{ProgressBar, ProgressStyle};

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
                "{prefix} [{bar:30}] {pos}/{len} {msg} [{elapsed}, eta {eta}]",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(message.to_string());
        Self(Some(bar))
    }

    /// Messages may carry vendor text: control characters are shown as escapes.
    pub fn set_message(&self, msg: String) {
        if let Some(b) = &self.0 {
            b.set_message(crate::sanitize::terminal_text(&msg).into_owned());
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
