//! Diagnostics for people: miette renders the SQL (or migration file) with a caret under the fault.

use d1_codegen::{Diagnostic, Diagnostics, Severity};
use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource, Report,
};
use serde_json::{json, Value};

/// `n thing` / `n things`.
pub fn count(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// Prints `d` to stderr; `source` is the query (name, text) when the diagnostic points into it.
pub fn eprint(d: &Diagnostic, source: Option<(&str, &str)>) {
    let mut m = MietteDiagnostic::new(d.message.clone()).with_severity(match d.severity {
        Severity::Error => miette::Severity::Error,
        Severity::Warning => miette::Severity::Warning,
    });
    if let Some(help) = &d.help {
        m = m.with_help(help.clone());
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
            m = m.with_label(LabeledSpan::at(loc.offset..loc.offset + len, "here"));
            report = Report::new(m);
            report = report.with_source_code(NamedSource::new(name, text));
        }
        (_, named) => {
            if let Some(file) = &d.span.file {
                let at = d
                    .span
                    .location
                    .map(|l| format!(":{}:{}", l.line, l.column))
                    .unwrap_or_default();
                m.message = format!("{}{at}: {}", shown(file), m.message);
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
        out = format!("{d}\n");
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
