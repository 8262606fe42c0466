//! A diagnostic as the text of a compile error: the message, then where (SQL line:column with
//! the line and a caret under the token, or migration file:line:column), then the fix.

use crate::diagnostic::Diagnostic;

/// Renders `d`; `sql` is the query text its location refers to (for a query diagnostic).
pub fn render(d: &Diagnostic, sql: Option<&str>) -> String {
    let mut out = d.message.clone();
    match (&d.span.file, d.span.location, sql) {
        (Some(file), location, _) => {
            // Relative to the crate, as cargo shows paths.
            let root = crate::driver::project::manifest_dir().ok();
            let shown = root
                .as_deref()
                .and_then(|r| file.strip_prefix(r).ok())
                .unwrap_or(file);
            out.push_str(&format!("\n = at {}", shown.display()));
            if let Some(l) = location {
                out.push_str(&format!(":{}:{}", l.line, l.column));
            }
        }
        (None, Some(l), Some(sql)) => {
            let line = sql.lines().nth(l.line as usize - 1).unwrap_or("");
            let number = l.line.to_string();
            let pad = " ".repeat(number.len());
            let before: String = line
                .chars()
                .take(l.column as usize - 1)
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            let width = sql
                .get(l.offset..l.offset + d.span.len.max(1))
                .map_or(1, |t| t.chars().take_while(|c| *c != '\n').count().max(1));
            out.push_str(&format!(
                "\n{pad}--> SQL line {}, column {}\n{pad} |\n{number} | {line}\n{pad} | {before}{}",
                l.line,
                l.column,
                "^".repeat(width)
            ));
        }
        _ => {}
    }
    if let Some(help) = &d.help {
        out.push_str(&format!("\n = help: {help}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_at_the_token_in_its_line() {
        let sql = "SELECT id,\n       titel FROM notes";
        let d = Diagnostic::error("no column `titel`")
            .with_help("did you mean `title`?")
            .at_offset(sql, sql.find("titel").unwrap(), 5);
        assert_eq!(
            render(&d, Some(sql)),
            "no column `titel`\n --> SQL line 2, column 8\n  |\n2 |        titel FROM notes\n  |        ^^^^^\n = help: did you mean `title`?"
        );
    }
}
