//! One error type for the whole compiler: what went wrong, where (SQL or migration file position), and how to fix it.

use std::fmt;
use std::path::PathBuf;

/// How serious a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing; compilation goes on.
    Warning,
    /// The statement or migration is rejected.
    Error,
}

/// A 1-based position in a piece of SQL text, plus its byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Location {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// 0-based byte offset into the text.
    pub offset: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to the text's end).
    pub fn at(text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() as u32 + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = text[line_start..offset].chars().count() as u32 + 1;
        Location {
            line,
            column,
            offset,
        }
    }

    /// The byte offset of a 1-based `line`/`column` (characters) in `text`, if it exists.
    pub fn from_line_column(text: &str, line: u64, column: u64) -> Option<Location> {
        if line == 0 || column == 0 {
            return None;
        }
        let mut start = 0usize;
        for _ in 1..line {
            start += text[start..].find('\n')? + 1;
        }
        let rest = &text[start..];
        let in_line = rest
            .char_indices()
            .nth(column as usize - 1)
            .map(|(i, _)| i)
            .or_else(|| (rest.chars().count() + 1 == column as usize).then_some(rest.len()))?;
        Some(Location::at(text, start + in_line))
    }

    /// This location shifted into a larger text where the fragment it was measured in starts at `base`.
    pub fn within(self, text: &str, base: usize) -> Location {
        Location::at(text, base + self.offset)
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Where a [`Diagnostic`] points.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Span {
    /// The migration file, when the SQL came from one; `None` for a query.
    pub file: Option<PathBuf>,
    /// Position of the offending token in the SQL (or file) text.
    pub location: Option<Location>,
    /// Length in bytes of the offending token, for carets (at least 1).
    pub len: usize,
}

/// One problem found in a migration or a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, one sentence, names in backticks.
    pub message: String,
    /// The fix, when there is one ("did you mean `title`?").
    pub help: Option<String>,
    /// Where.
    pub span: Span,
}

impl Diagnostic {
    /// An error with no location yet.
    pub fn error(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            help: None,
            span: Span::default(),
        }
    }

    /// A warning with no location yet.
    pub fn warning(message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(message)
        }
    }

    /// Adds the fix.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Points the diagnostic at `len` bytes starting at `location`.
    pub fn at(mut self, location: Location, len: usize) -> Self {
        self.span.location = Some(location);
        self.span.len = len.max(1);
        self
    }

    /// Points the diagnostic at byte `offset` of `text`.
    pub fn at_offset(self, text: &str, offset: usize, len: usize) -> Self {
        self.at(Location::at(text, offset), len)
    }

    /// Names the file the location is in.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.span.file = Some(file.into());
        self
    }

    /// Whether this diagnostic rejects the input.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The same diagnostic as an error (a lint the configuration denies).
    pub fn into_error(self) -> Self {
        Diagnostic {
            severity: Severity::Error,
            ..self
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.span.file {
            write!(f, "{}", file.display())?;
            if let Some(l) = self.span.location {
                write!(f, ":{}:{}", l.line, l.column)?;
            }
            f.write_str(": ")?;
        } else if let Some(l) = self.span.location {
            write!(f, "{}:{}: ", l.line, l.column)?;
        }
        f.write_str(&self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Several diagnostics reported together (all errors of one statement, one migration set...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

// Written out rather than derived with thiserror: its proc macro would be compiled and
// loaded in every build of a crate using d1kit's macros, for two impls.
impl std::error::Error for Diagnostic {}

impl std::error::Error for Diagnostics {}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl Diagnostics {
    /// The errors only.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
}

/// `"s"` unless `n` is 1, for messages that count things.
pub(crate) fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The closest of `candidates` to `name` (case-insensitive), if it is close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&lower, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d > 0 && *d <= (c.len().max(lower.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters() {
        let text = "SELECT\n  é, x\nFROM t";
        let l = Location::at(text, text.find('x').unwrap());
        assert_eq!((l.line, l.column), (2, 6));
        assert_eq!(Location::from_line_column(text, 2, 6), Some(l));
        assert_eq!(Location::from_line_column(text, 9, 1), None);
    }

    #[test]
    fn closest_finds_typos_only() {
        assert_eq!(closest("titel", ["title", "body"]), Some("title"));
        assert_eq!(closest("zzz", ["title", "body"]), None);
        assert_eq!(closest("title", ["title"]), None);
    }
}
