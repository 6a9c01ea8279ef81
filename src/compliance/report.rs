//! A deployment's compliance as a report a person can hand to an auditor:
//! Markdown, JSON, or one self-contained HTML file (no script, no link to
//! anything outside it). Outside text (spec fields, paths, names, notes,
//! framework files) is escaped for the format.

use std::fmt::Write;

use super::eval::{ControlResult, ControlStatus, DeploymentResult, Outcome};
use crate::display::clean_line;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Md,
    Json,
    Html,
}

pub fn render(r: &DeploymentResult, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(r).unwrap_or_default();
            s.push('\n');
            s
        }
        Format::Md => markdown(r),
        Format::Html => html(r),
    }
}

/// A Markdown table cell or line: one line, with every character Markdown
/// acts on escaped (CommonMark lets any ASCII punctuation be escaped), and
/// what would act at the start of a line (a list item, a numbered item, a
/// thematic break) escaped there too, though our text always comes first.
fn md(s: &str) -> String {
    let text = clean_line(s);
    let mut out = String::with_capacity(text.len() + 8);
    // `1.` or `1)` at the start would number a list: escape its mark.
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    for (i, c) in text.char_indices() {
        let special = matches!(
            c,
            '\\' | '`'
                | '*'
                | '_'
                | '['
                | ']'
                | '('
                | ')'
                | '<'
                | '>'
                | '|'
                | '#'
                | '!'
                | '~'
                | '&'
                | '$'
                | '^'
                | '{'
                | '}'
        );
        let starts = (i == 0 && matches!(c, '-' | '+' | '='))
            || (digits > 0 && i == digits && matches!(c, '.' | ')'));
        if special || starts {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in clean_line(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn verdict(r: &DeploymentResult) -> &'static str {
    if r.compliant {
        "COMPLIANT"
    } else {
        "NOT COMPLIANT"
    }
}

/// What a control's status means in the report.
fn status_word(c: &ControlResult) -> &'static str {
    match (c.status, c.satisfied) {
        (ControlStatus::Manual, true) => "manual (evidence)",
        (ControlStatus::Manual, false) => "manual (no evidence)",
        (s, _) => s.as_str(),
    }
}

/// The lines under a control: issues, what each check read, evidence, waiver.
fn details(c: &ControlResult) -> Vec<String> {
    let mut out = Vec::new();
    for i in &c.issues {
        out.push(format!("Issue: {i}"));
    }
    if let Some(r) = &c.recommendation {
        out.push(format!("Recommendation: {r}"));
    }
    if let Some(n) = &c.needs {
        out.push(format!("Evidence needed: {n}"));
    }
    for k in &c.checks {
        let word = match &k.outcome {
            Outcome::Pass { detail } => format!("pass: {detail}"),
            Outcome::Fail { .. } => "fail".to_string(),
            Outcome::Undecided { reason } => format!("undecided: {reason}"),
        };
        out.push(format!(
            "Check {} {word} (read {} at {})",
            k.check, k.read, k.read_at
        ));
    }
    if let Some(e) = &c.evidence {
        out.push(format!(
            "Evidence: {} ({}) by {}, {} {}",
            e.record.link,
            e.record.note,
            e.record.by,
            if e.expired { "expired" } else { "expires" },
            e.expires
        ));
    }
    if let Some(w) = &c.waiver {
        out.push(format!(
            "Waiver: {} by {}, {} {}",
            w.record.reason,
            w.record.by,
            if w.expired { "expired" } else { "expires" },
            w.expires
        ));
    }
    out
}

fn markdown(r: &DeploymentResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Compliance report: {}\n", md(&r.deployment));
    let _ = writeln!(s, "**{}**, checked at {}.\n", verdict(r), md(&r.checked_at));
    let _ = writeln!(s, "| Framework | Status |\n| --- | --- |");
    for f in &r.frameworks {
        let _ = writeln!(s, "| {} | {} |", md(&f.name), f.status.as_str());
    }
    for f in &r.frameworks {
        let _ = writeln!(s, "\n## {}: {}\n", md(&f.name), f.status.as_str());
        if let Some(reason) = &f.reason {
            let _ = writeln!(s, "Not applicable: {}.", md(reason));
            continue;
        }
        let _ = writeln!(
            s,
            "| Control | Reference | Title | Status |\n| --- | --- | --- | --- |"
        );
        for c in &f.controls {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                md(&c.id),
                md(&c.reference),
                md(&c.title),
                status_word(c)
            );
        }
        for c in &f.controls {
            let lines = details(c);
            if c.status == ControlStatus::Pass && c.checks.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n### {} ({})\n", md(&c.id), status_word(c));
            for l in lines {
                let _ = writeln!(s, "- {}", md(&l));
            }
        }
    }
    if !r.recommendations.is_empty() {
        let _ = writeln!(s, "\n## Recommendations\n");
        for rec in &r.recommendations {
            let _ = writeln!(s, "- {}", md(rec));
        }
    }
    s
}

const CSS: &str = "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}\
table{border-collapse:collapse;width:100%;margin:1em 0}\
td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
.pass,.compliant,.waived{color:#11702a}.fail,.non_compliant{color:#b00020}\
.manual,.incomplete{color:#8a5a00}.not_applicable{color:#666}\
ul{margin:.2em 0}";

fn html(r: &DeploymentResult) -> String {
    let mut s = String::new();
    let title = format!("Compliance report: {}", html_escape(&r.deployment));
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{title}</h1>\n\
         <p><strong class=\"{}\">{}</strong>, checked at {}.</p>\n",
        if r.compliant {
            "compliant"
        } else {
            "non_compliant"
        },
        verdict(r),
        html_escape(&r.checked_at)
    );
    s.push_str("<table>\n<tr><th>Framework</th><th>Status</th></tr>\n");
    for f in &r.frameworks {
        let st = f.status.as_str();
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"{st}\">{st}</td></tr>",
            html_escape(&f.name)
        );
    }
    s.push_str("</table>\n");
    for f in &r.frameworks {
        let st = f.status.as_str();
        let _ = writeln!(
            s,
            "<h2>{}: <span class=\"{st}\">{st}</span></h2>",
            html_escape(&f.name)
        );
        if let Some(reason) = &f.reason {
            let _ = writeln!(s, "<p>Not applicable: {}.</p>", html_escape(reason));
            continue;
        }
        s.push_str(
            "<table>\n<tr><th>Control</th><th>Reference</th><th>Title</th><th>Status</th><th>Details</th></tr>\n",
        );
        for c in &f.controls {
            let class = c.status.as_str();
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td><ul>",
                html_escape(&c.id),
                html_escape(&c.reference),
                html_escape(&c.title),
                status_word(c)
            );
            for l in details(c) {
                let _ = write!(s, "<li>{}</li>", html_escape(&l));
            }
            s.push_str("</ul></td></tr>\n");
        }
        s.push_str("</table>\n");
    }
    if !r.recommendations.is_empty() {
        s.push_str("<h2>Recommendations</h2>\n<ul>\n");
        for rec in &r.recommendations {
            let _ = writeln!(s, "<li>{}</li>", html_escape(rec));
        }
        s.push_str("</ul>\n");
    }
    s.push_str("</body>\n</html>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_cannot_become_markup() {
        assert_eq!(
            html_escape("<script>x</script>&\"'"),
            "&lt;script&gt;x&lt;/script&gt;&amp;&quot;&#39;"
        );
        assert_eq!(
            md("a|b [x](y) *z* ~s~ &amp; `c`"),
            "a\\|b \\[x\\]\\(y\\) \\*z\\* \\~s\\~ \\&amp; \\`c\\`"
        );
        assert_eq!(md("- a"), "\\- a");
        assert_eq!(md("12. a"), "12\\. a");
        assert_eq!(md("3) a-b"), "3\\) a-b");
        // A newline cannot start a row or a heading of its own.
        assert!(!md("a\n# b").contains('\n'));
        assert!(!html_escape("a\n<b>").contains('\n'));
    }
}
