//! Diagnostics for people: miette renders the SQL (or migration file) with a caret under the fault.

use d1_codegen::{Diagnostic, Diagnostics, Severity};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report,
};
use serde_json::{json, Value};
use std::borrow::Cow;

/// `text` safe to print on a terminal: every control character (newline, tab and carriage
/// return included, escape, the C1 controls) and every bidirectional-text control written as
/// an escape (`\n`, `\t`, `\u{1b}`), so that a name, label, path or message read from a
/// database, a file or the command line can neither run a terminal escape sequence nor begin a
/// line of its own (a forged table row). Every name, label and path the CLI prints goes
/// through it (the table printer [`crate::fleet::table`] does it for every cell).
pub fn escape(text: &str) -> Cow<'_, str> {
    escape_with(text, |_, _| false, &mut [])
}

/// [`escape`] for text whose lines d1kit wrote itself (a message, a list): newlines are kept,
/// every other control character is escaped.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    escape_with(text, |c, _| c == '\n', &mut [])
}

/// `text` cut to at most `max` characters, `…` in place of what is cut.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some(_) => {
            let (end, _) = text
                .char_indices()
                .nth(max.saturating_sub(1))
                .unwrap_or((text.len(), ' '));
            Cow::Owned(format!("{}…", &text[..end]))
        }
    }
}

/// Whether `c` must not reach a terminal as it is: a control character, a bidirectional-text
/// control (which reorders what is shown), a line or paragraph separator.
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// [`escape`], keeping the characters `keep(c, next)` accepts; `marks` are byte offsets into
/// `text` (on character boundaries), moved to the same places in the result.
fn escape_with<'t>(
    text: &'t str,
    keep: impl Fn(char, Option<char>) -> bool,
    marks: &mut [usize],
) -> Cow<'t, str> {
    let mut chars = text.char_indices().peekable();
    let mut out: Option<String> = None;
    let mut moved: Vec<Option<usize>> = vec![None; marks.len()];
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let escaped = unsafe_char(c) && !keep(c, next);
        if escaped && out.is_none() {
            out = Some(text[..i].to_string());
        }
        let Some(out) = out.as_mut() else { continue };
        for (m, new) in marks.iter().zip(moved.iter_mut()) {
            if *m == i {
                *new = Some(out.len());
            }
        }
        match c {
            _ if !escaped => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    let Some(out) = out else {
        return Cow::Borrowed(text);
    };
    // Offsets before the first escape stay; the end of the text moves to the end.
    for (m, new) in marks.iter_mut().zip(moved) {
        *m = new.unwrap_or(if *m >= text.len() { out.len() } else { *m });
    }
    Cow::Owned(out)
}

/// `n thing` / `n things`.
pub fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// Prints `d` to stderr; `source` is the query (name, text) when the diagnostic points into it.
/// The message, the help, the file's name and the text shown around the fault are escaped
/// ([`escape_lines`]: the lines stay, nothing else reaches the terminal raw).
pub fn eprint(d: &Diagnostic, source: Option<(&str, &str)>) {
    let mut m = MietteDiagnostic::new(escape_lines(&d.message)).with_severity(match d.severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    });
    if let Some(help) = &d.help {
        m = m.with_help(escape_lines(help));
    }
    // A diagnostic in a migration file points into that file; otherwise into the query.
    let text = match &d.span.file {
        Some(path) => std::fs::read_to_string(path).ok().map(|t| (shown(path), t)),
        None => source.map(|(n, s)| (n.to_string(), s.to_string())),
    };
    let mut report: Report;
    match (d.span.location, text) {
        (Some(loc), Some((name, text))) if loc.offset <= text.len() => {
            let len = d
                .span
                .len
                .min(text.len().saturating_sub(loc.offset))
                .max(usize::from(loc.offset < text.len()));
            // Lines and tabs (and the `\r` of a `\r\n`) as they are, the span moved with
            // the escapes before it.
            let mut span = [loc.offset, loc.offset + len];
            let text = escape_with(
                &text,
                |c, next| c == '\n' || c == '\t' || c == '\r' && next == Some('\n'),
                &mut span,
            )
            .into_owned();
            m = m.with_label(LabeledSpan::at(span[0]..span[1], "here"));
            report = Report::new(m);
            report = report.with_source_code(NamedSource::new(escape(&name), text));
        }
        (_, named) => {
            if let Some(file) = &d.span.file {
                let at = d
                    .span
                    .location
                    .map(|l| format!(":{}:{}", l.line, l.column))
                    .unwrap_or_default();
                m.message = format!("{}{at}: {}", escape(&shown(file)), m.message);
            }
            let _ = named;
            report = Report::new(m);
        }
    }
    let handler = if std::env::var_os("NO_COLOR").is_some()
        || !std::io::IsTerminal::is_terminal(&std::io::stderr())
    {
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
    } else {
        GraphicalReportHandler::new()
    };
    let mut out = String::new();
    if handler.render_report(&mut out, report.as_ref()).is_err() {
        out = format!("{}\n", escape_lines(&d.to_string()));
    }
    eprint!("{out}");
}

/// A file as a person reads it in a report: relative to the current directory when it is
/// inside it (as cargo and rustc print paths).
fn shown(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

/// The errors of `d` for programs: `{"errors": [{"message", "line"?, "column"?, "file"?}]}`,
/// each message followed by its help.
pub fn json_errors(d: &Diagnostics) -> Value {
    let list: Vec<Value> =
        d.0.iter()
            .filter(|d| d.is_error())
            .map(|d| {
                let mut message = d.message.clone();
                if let Some(help) = &d.help {
                    message = format!("{message}; {help}");
                }
                let mut o = json!({ "message": message });
                if let Some(l) = d.span.location {
                    o["line"] = json!(l.line);
                    o["column"] = json!(l.column);
                }
                if let Some(f) = &d.span.file {
                    o["file"] = json!(f.display().to_string());
                }
                o
            })
            .collect();
    json!({ "errors": list })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert!(matches!(escape("USERS_0 café"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\x1b]0;title\x07b\nc\rd\te\u{9b}f\u{202e}g"),
            "a\\u{1b}]0;title\\u{7}b\\nc\\rd\\te\\u{9b}f\\u{202e}g"
        );
        // Idempotent: what is escaped holds nothing more to escape.
        let once = escape("x\x1by\n").into_owned();
        assert_eq!(escape(&once), once);
        assert_eq!(
            escape_lines("one\x1b[2J\ntwo\r\n"),
            "one\\u{1b}[2J\ntwo\\r\n"
        );
    }

    #[test]
    fn offsets_move_with_the_escapes_before_them() {
        let text = "ab\x00cd\r\nef";
        let mut marks = [1, 2, 3, 5, text.len()];
        let out = escape_with(
            text,
            |c, next| c == '\n' || c == '\r' && next == Some('\n'),
            &mut marks,
        );
        assert_eq!(out, "ab\\u{0}cd\r\nef");
        assert_eq!(marks, [1, 2, 7, 9, out.len()]);
        assert_eq!(&out[marks[1]..marks[2]], "\\u{0}");
    }

    #[test]
    fn clip_cuts_at_characters() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ééééé", 4), "ééé…");
    }
}
