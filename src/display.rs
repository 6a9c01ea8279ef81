//! The one display boundary for text that came from outside: user names,
//! user agents, event details, secret paths and metadata, anything another
//! producer wrote. Before such text reaches a terminal (a CLI printer, a
//! pane, an error message) it goes through [`clean`], [`clean_line`] or the
//! [`Untrusted`] / [`UntrustedLines`] wrappers, which show every character a
//! terminal would act on as a visible escape instead of passing it raw:
//!
//! - C0 controls (`\x1b`, `\x07`, ... and `\r`), DEL (`\x7f`);
//! - C1 controls U+0080–U+009F (`\u{9b}`, the one-byte CSI);
//! - bidirectional controls U+202A–U+202E, U+2066–U+2069, U+200E, U+200F
//!   and U+061C (`\u{202e}`), the "Trojan Source" reordering.
//!
//! Nothing is deleted: the analyst sees that something was there. The
//! one-line forms (table cells, one-line printers) also show `\n` and `\t`
//! as escapes, so a newline in a user agent cannot fake a row; the
//! multi-line forms keep newlines and tabs for fields shown as lines.
//!
//! JSON output does not come here: serde's escaping keeps it exact.

use std::borrow::Cow;
use std::fmt::{self, Write};

/// Whether `c` is a character a terminal acts on (a control or a
/// bidirectional control), newline and tab included.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\0'..='\x1f'
        | '\x7f'
        | '\u{80}'..='\u{9f}'
        | '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
    )
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Newlines and tabs kept (a field shown as lines).
    Lines,
    /// Everything escaped, newlines and tabs too (a table cell, one line).
    Line,
}

fn escapes(c: char, mode: Mode) -> bool {
    match c {
        '\n' | '\t' => mode == Mode::Line,
        c => is_unsafe(c),
    }
}

/// The first byte offset of a character to escape, if any.
fn first(s: &str, mode: Mode) -> Option<usize> {
    // Printable ASCII is the common case: one pass over the bytes.
    let b = s.as_bytes();
    let ascii_end = b
        .iter()
        .position(|&x| !(0x20..0x7f).contains(&x))
        .unwrap_or(b.len());
    if ascii_end == b.len() {
        return None;
    }
    s[ascii_end..]
        .char_indices()
        .find(|&(_, c)| escapes(c, mode))
        .map(|(i, _)| ascii_end + i)
}

fn escape(c: char, out: &mut impl Write) -> fmt::Result {
    match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\0'..='\x1f' | '\x7f' => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    }
}

fn write_clean(s: &str, mode: Mode, out: &mut impl Write) -> fmt::Result {
    let mut rest = s;
    while let Some(i) = first(rest, mode) {
        out.write_str(&rest[..i])?;
        let c = rest[i..].chars().next().unwrap_or_default();
        escape(c, out)?;
        rest = &rest[i + c.len_utf8()..];
    }
    out.write_str(rest)
}

fn clean_with(s: &str, mode: Mode) -> Cow<'_, str> {
    if first(s, mode).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let _ = write_clean(s, mode, &mut out);
    Cow::Owned(out)
}

/// `s` with controls and bidirectional controls shown as escapes; newlines
/// and tabs are kept (for a field shown as lines). Borrows when there is
/// nothing to escape.
pub fn clean(s: &str) -> Cow<'_, str> {
    clean_with(s, Mode::Lines)
}

/// `s` on one line: like [`clean`], and newlines and tabs escaped too (for
/// table cells and one-line printers). Borrows when there is nothing to escape.
pub fn clean_line(s: &str) -> Cow<'_, str> {
    clean_with(s, Mode::Line)
}

/// Outside text for `format!`: shown on one line ([`clean_line`]). Width,
/// fill and alignment (`{:<16}`) apply to the escaped text.
#[derive(Clone, Copy, Debug)]
pub struct Untrusted<'a>(pub &'a str);

/// Report lines that mix our words with outside text, each shown on one line
/// (a newline inside a package name cannot fake a row), joined by newlines.
pub fn clean_lines<S: AsRef<str>>(lines: &[S]) -> String {
    lines
        .iter()
        .map(|l| clean_line(l.as_ref()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Outside text for `format!`, newlines and tabs kept ([`clean`]).
#[derive(Clone, Copy, Debug)]
pub struct UntrustedLines<'a>(pub &'a str);

fn display(s: &str, mode: Mode, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if f.width().is_none() && f.precision().is_none() {
        return write_clean(s, mode, f);
    }
    f.pad(&clean_with(s, mode))
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self.0, Mode::Line, f)
    }
}

impl fmt::Display for UntrustedLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(self.0, Mode::Lines, f)
    }
}

// ------------------------------------------------------------------ look-alikes

/// The UTS 39 skeleton of `id`: two ids with the same skeleton look alike
/// (`аlice` with a Cyrillic `а` and `alice`).
pub fn skeleton(id: &str) -> String {
    unicode_security::skeleton(id).collect()
}

/// Whether `id` could pass for another name: it is not ASCII, and it mixes
/// scripts or is confusable with ASCII text (its skeleton is ASCII). Names
/// written in one script of their own (`Jürgen`, `山田`) are not marked.
pub fn looks_alike(id: &str) -> bool {
    use unicode_security::MixedScript;
    !id.is_ascii() && (!id.is_single_script() || skeleton(id).is_ascii())
}

/// The code points of `id` that are not ASCII, for a detail view:
/// `U+0430 at 1, U+202E at 4`.
pub fn code_points(id: &str) -> String {
    id.chars()
        .enumerate()
        .filter(|(_, c)| !c.is_ascii())
        .map(|(i, c)| format!("U+{:04X} at {i}", c as u32))
        .collect::<Vec<_>>()
        .join(", ")
}

// The property over generated text (no raw control out, clean text kept) is
// in tests/it/props.rs.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_become_visible_escapes() {
        assert_eq!(
            clean("eve\x1b]52;c;cHduZWQ=\x07\x1b[2J"),
            "eve\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J"
        );
        assert_eq!(clean("a\rb\x7fc\u{9b}2J"), "a\\rb\\x7fc\\u{9b}2J");
        assert_eq!(
            clean("adm\u{202e}nimda\u{2066}x"),
            "adm\\u{202e}nimda\\u{2066}x"
        );
        assert_eq!(
            clean("\u{200e}\u{200f}\u{61c}"),
            "\\u{200e}\\u{200f}\\u{61c}"
        );
        // Lines keep newlines and tabs; one line shows them.
        assert_eq!(clean("a\nb\tc"), "a\nb\tc");
        assert_eq!(clean_line("a\nb\tc\r"), "a\\nb\\tc\\r");
        // Other text passes as it is, non-ASCII and backslashes included.
        assert_eq!(clean("ünïcødé → ok \\x1b"), "ünïcødé → ok \\x1b");
    }

    #[test]
    fn look_alikes_are_told_apart_from_names_in_one_script() {
        // Cyrillic а, Greek ο, an all-Cyrillic "аррӏе", a hidden RLO.
        for id in [
            "\u{430}lice",
            "b\u{3bf}b",
            "\u{430}\u{440}\u{440}\u{4cf}\u{435}",
            "adm\u{202e}in",
        ] {
            assert!(looks_alike(id), "{id:?}");
        }
        for id in [
            "alice",
            "J\u{fc}rgen",
            "Jos\u{e9}",
            "\u{5c71}\u{7530}",
            "\u{43e}\u{43b}\u{44f}",
        ] {
            assert!(!looks_alike(id), "{id:?}");
        }
        assert_eq!(skeleton("\u{430}lice"), skeleton("alice"));
        assert_ne!(skeleton("bob"), skeleton("alice"));
        assert_eq!(code_points("\u{430}lice"), "U+0430 at 0");
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(clean("alice@example.com"), Cow::Borrowed(_)));
        assert!(matches!(
            clean_line("Mozilla/5.0 (X11; Linux) é"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(clean("two\nlines"), Cow::Borrowed(_)));
        assert!(matches!(clean_line("two\nlines"), Cow::Owned(_)));
    }

    #[test]
    fn the_wrappers_pad_the_escaped_text() {
        assert_eq!(format!("[{:<8}]", Untrusted("a\x1bb")), "[a\\x1bb  ]");
        assert_eq!(format!("[{}]", Untrusted("x\ny")), "[x\\ny]");
        assert_eq!(format!("[{}]", UntrustedLines("x\ny\x07")), "[x\ny\\x07]");
        assert_eq!(format!("{:>5}", Untrusted("ab")), "   ab");
    }
}
