//! Making untrusted text safe where people look at it: spreadsheet cells and terminals.
//!
//! Vendor consoles hand back strings that anyone who can name a machine controls. Two places
//! would otherwise act on them:
//!
//! - **Spreadsheets** evaluate a CSV cell that starts with `=`, `+`, `-` or `@` (and, in some,
//!   a tab or carriage return) as a formula (OWASP "CSV injection"). [`csv_cell`] prefixes such
//!   a cell with an apostrophe; [`csv_uncell`] is its exact inverse, used by the plan reader.
//! - **Terminals** act on control characters: ESC sequences set the window title, write the
//!   clipboard (OSC 52) or clear the screen; C1 characters do the same on some terminals;
//!   bidirectional overrides reorder what is shown. [`terminal_text`] and [`terminal_cell`]
//!   replace them with a visible escape.
//!
//! ## The CSV scheme
//!
//! A cell is *neutralised* — written as `'` followed by the cell unchanged — when it
//!
//! 1. starts with `=`, `+`, `-`, `@`, a tab or a carriage return (OWASP's list), or
//! 2. starts with `'` (so a value that really starts with an apostrophe survives), or
//! 3. starts or ends with white space (so the plan reader, which trims hand-edited fields,
//!    gives such a value back byte for byte).
//!
//! The reader undoes exactly that and nothing else: a field is un-neutralised when it starts
//! with `'` AND the rest would itself be neutralised; then the rest is the value, untrimmed.
//! Any other field is taken as it is (the reader trims it). So `'-2` reads as `-2`, `''x` as
//! `'x`, but a hand-typed `'abc` stays `'abc` — the writer never produces it.

use std::borrow::Cow;

/// Whether [`csv_cell`] neutralises `value`.
pub fn needs_neutralising(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    matches!(first, '=' | '+' | '-' | '@' | '\t' | '\r' | '\'')
        || first.is_whitespace()
        || value.chars().next_back().is_some_and(char::is_whitespace)
}

/// A cell a spreadsheet shows as text: `'` + `value` when [`needs_neutralising`], else
/// `value` unchanged.
pub fn csv_cell(value: &str) -> Cow<'_, str> {
    if needs_neutralising(value) {
        let mut out = String::with_capacity(value.len() + 1);
        out.push('\'');
        out.push_str(value);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(value)
    }
}

/// The exact inverse of [`csv_cell`] for a field as read from a CSV file: `Some(value)` when
/// the field is a neutralised cell (its value must not be trimmed), `None` when the field is
/// not one and is to be read as it is.
pub fn csv_uncell(field: &str) -> Option<&str> {
    let rest = field.strip_prefix('\'')?;
    needs_neutralising(rest).then_some(rest)
}

/// A character a terminal may act on: C0 controls (including ESC), DEL, C1 controls, and the
/// bidirectional embedding / override / isolate characters that reorder what is shown.
fn is_dangerous(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}' | '\u{80}'..='\u{9f}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

fn push_escape(out: &mut String, c: char) {
    use std::fmt::Write;
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        }
    }
}

fn escape_where(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_dangerous(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_dangerous(c) && !keep(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Text for a terminal line or message: every control character except line feed and tab is
/// shown as an escape (`\x1b`, `\r`, `\u{009b}`, `\u{202e}`).
pub fn terminal_text(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c == '\n' || c == '\t')
}

/// Text for one table cell: like [`terminal_text`], and line feeds and tabs are escaped too
/// so a value cannot break or fake the table's layout.
pub fn terminal_cell(text: &str) -> Cow<'_, str> {
    escape_where(text, |_| false)
}

/// Escape log output: like [`terminal_text`], but when `colour` is on, the SGR colour
/// sequences (`ESC [ digits ; … m`) the log formatter itself writes are kept.
pub fn terminal_log(text: &str, colour: bool) -> Cow<'_, str> {
    if !colour {
        return terminal_text(text);
    }
    if !text
        .chars()
        .any(|c| is_dangerous(c) && c != '\n' && c != '\t')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\u{1b}' {
            let sgr_len = sgr_len(rest);
            if sgr_len > 0 {
                out.push_str(&rest[..sgr_len]);
                rest = &rest[sgr_len..];
                continue;
            }
        }
        if is_dangerous(c) && c != '\n' && c != '\t' {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// Length of an SGR sequence `ESC [ [0-9;]* m` at the start of `s`, else 0.
fn sgr_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    if bytes.len() < 3 || bytes[0] != 0x1b || bytes[1] != b'[' {
        return 0;
    }
    for (i, b) in bytes.iter().enumerate().skip(2) {
        match b {
            b'0'..=b'9' | b';' => continue,
            b'm' => return i + 1,
            _ => return 0,
        }
    }
    0
}

/// A writer for a terminal: everything written is passed through [`terminal_text`], so any
/// output format (CSV, JSON) printed on a terminal cannot drive it. Multi-byte characters
/// split across writes are held back until complete.
pub struct TerminalWriter<W: std::io::Write> {
    inner: W,
    pending: Vec<u8>,
}

impl<W: std::io::Write> TerminalWriter<W> {
    pub fn new(inner: W) -> Self {
        Self {
            inner,
            pending: Vec::new(),
        }
    }
}

impl<W: std::io::Write> std::io::Write for TerminalWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let data = std::mem::take(&mut self.pending);
        let mut rest: &[u8] = &data;
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.inner.write_all(terminal_text(text).as_bytes())?;
                    rest = &[];
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    // `good` is valid UTF-8 by construction.
                    let text = std::str::from_utf8(good).unwrap_or_default();
                    self.inner.write_all(terminal_text(text).as_bytes())?;
                    match e.error_len() {
                        // An incomplete sequence at the end: keep it for the next write.
                        None => {
                            self.pending.extend_from_slice(bad);
                            rest = &[];
                        }
                        // Invalid bytes: shown as escapes, never passed raw.
                        Some(n) => {
                            let mut shown = String::new();
                            for b in &bad[..n] {
                                shown.push_str(&format!("\\x{b:02x}"));
                            }
                            self.inner.write_all(shown.as_bytes())?;
                            rest = &bad[n..];
                        }
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            let mut shown = String::new();
            for b in &bytes {
                shown.push_str(&format!("\\x{b:02x}"));
            }
            self.inner.write_all(shown.as_bytes())?;
        }
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn formula_cells_are_neutralised_and_read_back() {
        for hostile in [
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'quoted",
            "''",
            "'",
            " lead",
            "trail ",
            "-",
        ] {
            let cell = csv_cell(hostile);
            assert!(cell.starts_with('\''), "{hostile:?} → {cell:?}");
            assert_eq!(csv_uncell(&cell), Some(hostile), "{hostile:?}");
        }
        for plain in [
            "host-01",
            "Müller-PC",
            "0f5e8a3c-1111",
            "a b",
            "",
            "1.5",
            "x=y",
        ] {
            assert_eq!(csv_cell(plain), plain);
            assert_eq!(csv_uncell(plain), None, "{plain:?} is read as it is");
        }
    }

    #[test]
    fn the_reader_undoes_only_what_the_writer_did() {
        // Never written by agentctl: taken as they are.
        assert_eq!(csv_uncell("'abc"), None);
        assert_eq!(csv_uncell("'1.5"), None);
        // Written for values starting with an apostrophe or a formula character.
        assert_eq!(csv_uncell("''abc"), Some("'abc"));
        assert_eq!(csv_uncell("'-1"), Some("-1"));
        assert_eq!(csv_uncell("' x "), Some(" x "));
    }

    #[test]
    fn terminal_text_escapes_controls_visibly() {
        assert_eq!(terminal_text("plain Müller 東京"), "plain Müller 東京");
        assert_eq!(
            terminal_text("a\u{1b}]52;c;aGk=\u{7}b"),
            "a\\x1b]52;c;aGk=\\x07b"
        );
        assert_eq!(terminal_text("x\u{1b}[2J\u{1b}[H"), "x\\x1b[2J\\x1b[H");
        assert_eq!(terminal_text("c1\u{9b}31m"), "c1\\u{009b}31m");
        assert_eq!(terminal_text("del\u{7f}"), "del\\x7f");
        assert_eq!(terminal_text("bidi\u{202e}cod.exe"), "bidi\\u{202e}cod.exe");
        assert_eq!(terminal_text("cr\rover"), "cr\\rover");
        assert_eq!(terminal_text("two\nlines\tok"), "two\nlines\tok");
        assert_eq!(terminal_cell("two\nlines\tno"), "two\\nlines\\tno");
    }

    #[test]
    fn log_keeps_only_plain_colour_sequences() {
        let line = "\u{1b}[2mDEBUG\u{1b}[0m host \u{1b}]0;pwned\u{7} \u{1b}[31m";
        assert_eq!(
            terminal_log(line, true),
            "\u{1b}[2mDEBUG\u{1b}[0m host \\x1b]0;pwned\\x07 \u{1b}[31m"
        );
        assert_eq!(
            terminal_log(line, false),
            "\\x1b[2mDEBUG\\x1b[0m host \\x1b]0;pwned\\x07 \\x1b[31m"
        );
    }

    #[test]
    fn terminal_writer_handles_split_characters() {
        let mut out = Vec::new();
        {
            let mut w = TerminalWriter::new(&mut out);
            let text = "é\u{9b}\u{202e}\u{1b}[2J ok\n".as_bytes();
            for chunk in text.chunks(1) {
                w.write_all(chunk).unwrap();
            }
            w.write_all(b"\xff end").unwrap();
            w.flush().unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "é\\u{009b}\\u{202e}\\x1b[2J ok\n\\xff end"
        );
    }
}
