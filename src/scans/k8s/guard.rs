//! What a document must not do before it is handed to the YAML parser: one
//! pass over libyaml's events, which stops as soon as the document goes too
//! far and never builds what the document describes.
//!
//! - Nesting deeper than the parser's own limit ([`MAX_DEPTH`]). libyaml's
//!   scanner spends time in proportion to the nesting on every token, so
//!   deeply nested flow collections take time quadratic in their size
//!   before the parser refuses them (100 KB of `[{a: ` took 5 s).
//! - Aliases that expand the document to more than ten times the nodes it
//!   writes (plus [`ALIAS_ALLOWANCE`]). serde_yaml_ng limits how many aliases
//!   it expands, not what they expand to: 34 KB of `a: &a [x, x, ...]` and
//!   `b: [*a, *a, ...]` became ten million values (640 MB). Kubernetes
//!   refuses such documents too (CVE-2019-11253).

use std::collections::HashMap;

use super::yaml11::{Event, Parser};

/// How deep a document may nest: serde_yaml_ng's own limit.
pub const MAX_DEPTH: usize = 128;

/// Nodes that aliases may add beyond ten times the nodes a document writes.
pub const ALIAS_ALLOWANCE: usize = 10_000;

/// Why the first document of `doc` is refused, and the 0-based line where it
/// went too far; `None` when it may be parsed (a syntax error is left to the
/// parser, which says more about it).
pub fn refused(doc: &str) -> Option<(usize, String)> {
    let mut parser = Parser::new(doc.as_bytes())?;
    // Nodes as written, and as the aliases expand them.
    let (mut written, mut expanded) = (0usize, 0usize);
    // The open collections: their anchor and `expanded` where they started.
    let mut open: Vec<(Option<String>, usize)> = Vec::new();
    // The expanded size of each anchored node.
    let mut sizes: HashMap<String, usize> = HashMap::new();
    while let Some((event, line)) = parser.next() {
        match event {
            Event::Scalar { anchor, .. } => {
                written += 1;
                expanded = expanded.saturating_add(1);
                if let Some(a) = anchor {
                    sizes.insert(a, 1);
                }
            }
            Event::Start { anchor, .. } => {
                written += 1;
                open.push((anchor, expanded));
                expanded = expanded.saturating_add(1);
                if open.len() > MAX_DEPTH {
                    return Some((line, format!("nested deeper than {MAX_DEPTH} levels")));
                }
            }
            Event::Close => {
                if let Some((Some(a), start)) = open.pop() {
                    sizes.insert(a, expanded - start);
                }
            }
            Event::Alias(name) => {
                written += 1;
                let size = sizes.get(&name).copied().unwrap_or(1);
                expanded = expanded.saturating_add(size);
            }
            Event::End => return None,
            Event::Other => {}
        }
        if expanded > written.saturating_mul(10).saturating_add(ALIAS_ALLOWANCE) {
            return Some((
                line,
                format!(
                    "its aliases expand it to more than ten times its size \
                     ({expanded} nodes from {written})"
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_depth_limit_is_the_parsers() {
        let nested = |d: usize| format!("a:\n  {}x{}\n", "[".repeat(d), "]".repeat(d));
        let at_limit = nested(MAX_DEPTH - 1);
        assert_eq!(refused(&at_limit), None);
        assert!(serde_yaml_ng::from_str::<Value>(&at_limit).is_ok());
        let past = nested(MAX_DEPTH);
        assert_eq!(
            refused(&past),
            Some((1, "nested deeper than 128 levels".into()))
        );
        assert!(serde_yaml_ng::from_str::<Value>(&past).is_err());
    }

    #[test]
    fn aliases_may_repeat_a_document_but_not_multiply_it() {
        // Defaults merged into every container: a few times the size.
        let mut doc = String::from("defaults: &d {cpu: 1, memory: 2Gi, privileged: no}\nc:\n");
        for i in 0..200 {
            doc.push_str(&format!("  - {{name: c{i}, limits: *d}}\n"));
        }
        assert_eq!(refused(&doc), None);
        assert!(serde_yaml_ng::from_str::<Value>(&doc).is_ok());
        // 10,000 values behind an anchor, repeated 100 times: a million.
        let wide = format!(
            "kind: Pod\na: &a [{}]\nb: [{}]\n",
            vec!["x"; 10_000].join(", "),
            vec!["*a"; 100].join(", ")
        );
        let (line, reason) = refused(&wide).expect("refused");
        assert_eq!(line, 2);
        assert!(reason.starts_with("its aliases expand it"), "{reason}");
        // An alias of an alias counts all that it expands to.
        let nested = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n";
        assert_eq!(refused(nested).map(|(line, _)| line), Some(3));
    }
}
