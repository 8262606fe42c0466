//! The full-scan lint: a query whose plan reads every row of a table. D1 bills rows read, so a
//! scan of a table that grows with a tenant's data is a cost that grows with it.
//!
//! SQLite decides: the statement's `EXPLAIN QUERY PLAN` is read, and each `SCAN <table>` step
//! (with or without a covering index: every entry is still read) over a table of the schema is
//! reported, at the table's name in the SQL. Not reported: `SCAN CONSTANT ROW`, scans of CTEs
//! and subqueries (their own tables are reported through them), virtual tables (fts5 answers
//! MATCH from its index), and a plan that a top-level `LIMIT` stops early (no sort of all rows).

use crate::diagnostic::Diagnostic;
use crate::lex::{self, Token, TokenKind};
use crate::schema::Schema;
use rusqlite::Connection;

/// The steps of `text`'s plan that scan a whole table of `schema`, as warnings at the table's
/// name (`tokens` are `text`'s). Nothing when SQLite cannot plan it.
pub fn full_scans(
    conn: &Connection,
    schema: &Schema,
    text: &str,
    tokens: &[Token],
) -> Vec<Diagnostic> {
    let Ok(steps) = plan(conn, text) else {
        return Vec::new();
    };
    let sorts = steps.iter().any(|s| s.starts_with("USE TEMP B-TREE"));
    if !sorts && limited(text, tokens) {
        return Vec::new();
    }
    let mut out: Vec<Diagnostic> = Vec::new();
    for step in &steps {
        let Some(rest) = step.strip_prefix("SCAN ") else {
            continue;
        };
        let mut words = rest.split(' ');
        let Some(name) = words.next() else { continue };
        if rest.contains("VIRTUAL TABLE") {
            continue;
        }
        let index = rest
            .split_once(" USING COVERING INDEX ")
            .or_else(|| rest.split_once(" USING INDEX "))
            .map(|(_, i)| i);
        let Some((table, at)) = resolve(schema, text, tokens, name) else {
            continue;
        };
        if out
            .iter()
            .any(|d| d.message.contains(&format!("`{table}`")))
        {
            continue;
        }
        let through = index.map_or_else(String::new, |i| format!(", through its index `{i}`"));
        let mut d = Diagnostic::warning(format!(
            "this query reads every row of `{table}`{through} (SQLite's plan: SCAN {rest}); D1 bills every row read"
        ))
        .with_help(format!(
            "filter on an indexed column (a migration can `CREATE INDEX ... ON {table} (...)`), or allow it for this query (`sql!(#[allow(full_scan)] \"...\")`, `#[d1(allow(full_scan), ..)]`) or for the crate (`full_scan = \"allow\"` under [package.metadata.d1kit.lints])"
        ));
        // A table read through a view is not in the text: point at the statement.
        if let Some(t) = at.or(tokens.first()) {
            d = d.at_offset(text, t.start, t.end - t.start);
        }
        out.push(d);
    }
    out
}

/// The `detail` column of each step of `text`'s query plan.
fn plan(conn: &Connection, text: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}"))?;
    // Parameters stay unbound (NULL): the plan does not depend on their values.
    let mut rows = stmt.raw_query();
    let mut steps = Vec::new();
    while let Some(row) = rows.next()? {
        steps.push(row.get::<_, String>(3)?);
    }
    Ok(steps)
}

/// Whether `text` ends in a `LIMIT` outside any parentheses.
fn limited(text: &str, tokens: &[Token]) -> bool {
    let mut depth = 0i32;
    for t in tokens {
        match (t.kind, t.text(text)) {
            (TokenKind::Punct, "(") => depth += 1,
            (TokenKind::Punct, ")") => depth -= 1,
            _ if depth == 0 && t.is_word(text, "LIMIT") => return true,
            _ => {}
        }
    }
    false
}

/// The schema table a plan's `SCAN name` reads (the name may be an alias) and the token to
/// point at: the alias's table, or the table itself when it is named directly. `None` for
/// CTEs and subqueries.
fn resolve<'t>(
    schema: &Schema,
    text: &str,
    tokens: &'t [Token],
    name: &str,
) -> Option<(String, Option<&'t Token>)> {
    let is_table = |n: &str| {
        schema
            .tables
            .iter()
            .find(|t| t.name.eq_ignore_ascii_case(n))
            .map(|t| t.name.clone())
    };
    let word = |t: &Token| lex::unquote(t.text(text)).to_owned();
    // `FROM notes n`, `FROM notes AS n`: the word before the alias (skipping AS) is the table.
    for (i, t) in tokens.iter().enumerate() {
        if !word(t).eq_ignore_ascii_case(name) || i == 0 {
            continue;
        }
        let before = if tokens[i - 1].is_word(text, "AS") && i >= 2 {
            &tokens[i - 2]
        } else {
            &tokens[i - 1]
        };
        if let Some(table) = is_table(&word(before)) {
            if !word(before).eq_ignore_ascii_case(name) {
                return Some((table, Some(before)));
            }
        }
    }
    let table = is_table(name)?;
    let at = tokens.iter().find(|t| word(t).eq_ignore_ascii_case(name));
    Some((table, at))
}

#[cfg(test)]
mod tests {
    use crate::lint::check;
    use crate::lint::Level;
    use crate::migrations::{Migration, MigrationSet};
    use crate::{Analyzer, Checks};

    const SCHEMA: &str = "
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
        CREATE TABLE notes (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL REFERENCES users(id),
                            title TEXT, body TEXT NOT NULL DEFAULT '');
        CREATE INDEX notes_owner ON notes (owner_id);
        CREATE VIEW titled AS SELECT id, title FROM notes WHERE title IS NOT NULL;
        CREATE VIRTUAL TABLE notes_fts USING fts5(title, body);
    ";

    fn analyzer() -> Analyzer {
        let set = MigrationSet::from_migrations(vec![Migration::new("0001_init.sql", SCHEMA)]);
        Analyzer::from_migrations(&set).unwrap()
    }

    /// The full-scan warnings of `sql`: (message, line, column).
    fn scans(a: &Analyzer, sql: &str) -> Vec<(String, u32, u32)> {
        let checks = Checks {
            full_scan: Level::Warn,
            ..Checks::default()
        };
        let sig = check(a, sql, checks).unwrap();
        sig.warnings
            .into_iter()
            .filter(|w| w.message.contains("D1 bills every row read"))
            .map(|w| {
                let l = w.span.location.expect("located");
                (w.message, l.line, l.column)
            })
            .collect()
    }

    #[test]
    fn whole_table_reads_are_reported_at_the_table() {
        let a = analyzer();
        let s = scans(&a, "SELECT id FROM notes WHERE title = ?");
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(
            s[0].0
                .starts_with("this query reads every row of `notes` (SQLite's plan: SCAN notes)"),
            "{s:?}"
        );
        assert_eq!((s[0].1, s[0].2), (1, 16));

        // Through an alias, on the second line: the table's name is pointed at.
        let s = scans(&a, "SELECT n.id\nFROM notes AS n WHERE n.body LIKE ?");
        assert_eq!((s[0].1, s[0].2), (2, 6), "{s:?}");
        assert!(s[0].0.contains("`notes`"), "{s:?}");

        // count(*) reads every entry of an index: still every row billed.
        let s = scans(&a, "SELECT count(*) AS n FROM notes");
        assert!(
            s[0].0
                .contains("every row of `notes`, through its index `notes_owner`"),
            "{s:?}"
        );

        // UPDATE and DELETE scan too.
        assert_eq!(
            scans(&a, "UPDATE notes SET title = ?1 WHERE body = ?2").len(),
            1
        );
        assert_eq!(scans(&a, "DELETE FROM notes WHERE title IS NULL").len(), 1);
        // A view's table is named, pointed at the statement.
        let s = scans(&a, "SELECT id FROM titled");
        assert!(s[0].0.contains("`notes`"), "{s:?}");
    }

    #[test]
    fn indexed_lookups_and_bounded_reads_are_not() {
        let a = analyzer();
        for sql in [
            "SELECT id FROM notes WHERE id = ?",
            "SELECT id FROM notes WHERE owner_id = ?",
            "SELECT n.id, u.email FROM notes n JOIN users u ON u.id = n.owner_id WHERE n.owner_id = ?",
            "SELECT id FROM users WHERE email = ?",
            "INSERT INTO notes (owner_id, title) VALUES (?1, ?2)",
            "SELECT 1 AS one",
            "WITH mine AS (SELECT id FROM notes WHERE owner_id = ?) SELECT id FROM mine",
            "SELECT rowid AS id FROM notes_fts WHERE notes_fts MATCH ?",
            // A LIMIT with no sort stops early.
            "SELECT id FROM notes LIMIT 10",
        ] {
            assert_eq!(scans(&a, sql), Vec::new(), "{sql}");
        }
        // A LIMIT after sorting every row does not.
        assert_eq!(
            scans(&a, "SELECT id FROM notes ORDER BY title LIMIT 10").len(),
            1
        );
    }

    #[test]
    fn deny_makes_it_an_error_and_allow_skips_it() {
        let a = analyzer();
        let sql = "SELECT id FROM notes WHERE title = ?";
        let deny = Checks {
            full_scan: Level::Deny,
            ..Checks::default()
        };
        let err = check(&a, sql, deny).unwrap_err();
        assert!(err.0[0].is_error(), "{err}");
        assert!(err.0[0]
            .help
            .as_deref()
            .unwrap()
            .contains("full_scan = \"allow\""));
        let sig = check(&a, sql, Checks::default()).unwrap();
        assert!(sig.warnings.is_empty(), "{:?}", sig.warnings);
    }
}
