//! The `/` filter for lists: a case-insensitive regular expression (or a
//! literal substring when the text is not a valid regex), `!` in front
//! inverts it. Matches are highlighted.

use ratatui::style::Style;
use ratatui::text::Span;
use regex::{Regex, RegexBuilder};

#[derive(Clone, Debug)]
pub struct Filter {
    pub text: String,
    regex: Regex,
    pub inverted: bool,
    /// The text did not compile as a regex and is matched literally.
    pub literal: bool,
}

impl Filter {
    /// Builds a filter from what the user typed; `None` for an empty filter.
    pub fn new(text: &str) -> Option<Self> {
        let (inverted, pattern) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if pattern.is_empty() {
            return None;
        }
        let build = |p: &str| {
            RegexBuilder::new(p)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
        };
        let (regex, literal) = match build(pattern) {
            Ok(r) => (r, false),
            Err(_) => (build(&regex::escape(pattern)).ok()?, true),
        };
        Some(Self {
            text: text.to_string(),
            regex,
            inverted,
            literal,
        })
    }

    /// Whether a row (all its searchable text) passes the filter.
    pub fn keeps(&self, row: &str) -> bool {
        self.regex.is_match(row) != self.inverted
    }

    /// Splits `text` into spans, matches in `hl`, the rest in `base`. An
    /// inverted filter highlights nothing (kept rows do not match).
    pub fn highlight<'a>(&self, text: &'a str, base: Style, hl: Style) -> Vec<Span<'a>> {
        if self.inverted {
            return vec![Span::styled(text, base)];
        }
        highlight_with(&self.regex, text, base, hl)
    }

    pub fn regex(&self) -> &Regex {
        &self.regex
    }
}

/// Splits `text` around the matches of `re`.
pub fn highlight_with<'a>(re: &Regex, text: &'a str, base: Style, hl: Style) -> Vec<Span<'a>> {
    let mut spans = Vec::new();
    let mut last = 0;
    for m in re.find_iter(text) {
        if m.start() == m.end() {
            continue;
        }
        if m.start() > last {
            spans.push(Span::styled(&text[last..m.start()], base));
        }
        spans.push(Span::styled(m.as_str(), hl));
        last = m.end();
    }
    if last < text.len() || spans.is_empty() {
        spans.push(Span::styled(&text[last..], base));
    }
    spans
}

/// Optional filter helper: highlight when a filter is set, plain otherwise.
/// The spans own their text, so they can outlive `text` (table cells).
pub fn spans(filter: Option<&Filter>, text: &str, base: Style, hl: Style) -> Vec<Span<'static>> {
    let spans = match filter {
        Some(f) => f.highlight(text, base, hl),
        None => vec![Span::styled(text, base)],
    };
    spans
        .into_iter()
        .map(|s| Span::styled(s.content.into_owned(), s.style))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    #[test]
    fn substring_regex_and_inversion() {
        let f = Filter::new("STORE").unwrap();
        assert!(f.keeps("embedded store ok"));
        assert!(!f.keeps("redis"));
        let r = Filter::new("^re(dis|play)").unwrap();
        assert!(!r.literal);
        assert!(r.keeps("redis down") && r.keeps("replay") && !r.keeps("a redis"));
        let inv = Filter::new("!store").unwrap();
        assert!(inv.inverted && !inv.keeps("store") && inv.keeps("redis"));
        assert!(Filter::new("").is_none() && Filter::new("!").is_none());
    }

    #[test]
    fn invalid_regex_falls_back_to_literal() {
        let f = Filter::new("a(b").unwrap();
        assert!(f.literal);
        assert!(f.keeps("xa(by") && !f.keeps("ab"));
    }

    #[test]
    fn matches_are_highlighted() {
        let f = Filter::new("or").unwrap();
        let hl = Style::default().add_modifier(Modifier::BOLD);
        let spans = f.highlight("store error", Style::default(), hl);
        let texts: Vec<_> = spans
            .iter()
            .map(|s| (s.content.as_ref(), s.style == hl))
            .collect();
        assert_eq!(
            texts,
            vec![("st", false), ("or", true), ("e err", false), ("or", true)]
        );
    }
}
