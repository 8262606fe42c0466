//! The cascade-drop lint: a migration that drops a table other tables reference with an
//! `ON DELETE` action.
//!
//! D1 enforces foreign keys and ignores `PRAGMA foreign_keys = OFF`, and `DROP TABLE` first
//! deletes every row of the table. So the table rebuild that drizzle-kit and Prisma generate
//! (create `__new_t`, copy, `DROP TABLE t`, rename) deletes every row of each child declared
//! `ON DELETE CASCADE`, and nulls or resets the column of each `SET NULL` or `SET DEFAULT`
//! child. `PRAGMA defer_foreign_keys = on` defers only the checks, not these actions. A
//! `RESTRICT` child makes the drop fail as soon as it has a row that references the table.
//! On the empty database the macros migrate, nothing shows: the lint reads the schema as it
//! is just before each `DROP TABLE` (`pragma_foreign_key_list` of every other table).

use crate::diagnostic::Diagnostic;
use crate::lex::{self, Token, TokenKind};
use rusqlite::Connection;

/// The table a `DROP TABLE [IF EXISTS] [schema.]name` statement drops, with the byte offset
/// and length of its name in `sql`; `None` for any other statement.
pub fn dropped_table(sql: &str, tokens: &[Token]) -> Option<(String, usize, usize)> {
    let word = |i: usize, w: &str| {
        tokens
            .get(i)
            .is_some_and(|t| t.kind == TokenKind::Word && t.text(sql).eq_ignore_ascii_case(w))
    };
    if !(word(0, "DROP") && word(1, "TABLE")) {
        return None;
    }
    let mut i = if word(2, "IF") && word(3, "EXISTS") {
        4
    } else {
        2
    };
    // `main.t`: the name is after the dot.
    if tokens.get(i + 1).is_some_and(|t| t.text(sql) == ".") {
        i += 2;
    }
    let t = tokens.get(i)?;
    matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent).then(|| {
        (
            lex::unquote(t.text(sql)).to_owned(),
            t.start,
            t.end - t.start,
        )
    })
}

/// A foreign key of another table that acts when rows of the dropped table are deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The referencing (child) table.
    pub table: String,
    /// Its referencing columns, in key order.
    pub columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, `SET DEFAULT` or `RESTRICT`.
    pub on_delete: String,
}

/// The foreign keys of tables other than `parent` that reference it with an `ON DELETE` action
/// other than `NO ACTION` (which D1's deferred checks let a rebuild satisfy), in `conn`'s
/// current schema.
pub fn references(conn: &Connection, parent: &str) -> Vec<Reference> {
    let sql = "SELECT m.name, f.id, f.\"from\", upper(f.on_delete) \
               FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f \
               WHERE m.type = 'table' AND f.\"table\" = ?1 COLLATE NOCASE \
                 AND m.name <> ?1 COLLATE NOCASE AND upper(f.on_delete) <> 'NO ACTION' \
               ORDER BY m.name, f.id, f.seq";
    let Ok(mut stmt) = conn.prepare(sql) else {
        return Vec::new();
    };
    let rows = stmt.query_map([parent], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
        ))
    });
    let mut out: Vec<(i64, Reference)> = Vec::new();
    for (table, id, column, on_delete) in rows.into_iter().flatten().flatten() {
        match out.last_mut() {
            Some((last_id, r)) if *last_id == id && r.table == table => r.columns.push(column),
            _ => out.push((
                id,
                Reference {
                    table,
                    columns: vec![column],
                    on_delete,
                },
            )),
        }
    }
    out.into_iter().map(|(_, r)| r).collect()
}

/// The warning for dropping `parent` while `r` references it, located by the caller.
pub fn diagnostic(parent: &str, r: &Reference) -> Diagnostic {
    let columns = r
        .columns
        .iter()
        .map(|c| format!("`{}.{c}`", r.table))
        .collect::<Vec<_>>()
        .join(", ");
    let what = match r.on_delete.as_str() {
        "CASCADE" => format!(
            "deletes every row of `{}` that references it ({columns} is ON DELETE CASCADE)",
            r.table
        ),
        "SET NULL" => format!("sets {columns} to NULL in every row of `{}` (ON DELETE SET NULL)", r.table),
        "SET DEFAULT" => format!(
            "resets {columns} to its default in every row of `{}` (ON DELETE SET DEFAULT)",
            r.table
        ),
        _ => format!(
            "fails on D1 as soon as a row of `{}` references it ({columns} is ON DELETE {}, which deferred checks do not postpone)",
            r.table, r.on_delete
        ),
    };
    Diagnostic::warning(format!(
        "dropping `{parent}` {what}: D1 enforces foreign keys, and neither `PRAGMA foreign_keys = OFF` nor `defer_foreign_keys` stops it"
    ))
    .with_help(format!(
        "change `{parent}` with ALTER TABLE instead of rebuilding it, or copy `{}`'s rows aside before the DROP and back once the new `{parent}` is in place; or allow it with `cascade_drop = \"allow\"` under [package.metadata.d1kit.lints]",
        r.table
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dropped(sql: &str) -> Option<String> {
        dropped_table(sql, &lex::tokenize(sql)).map(|(name, start, len)| {
            assert_eq!(lex::unquote(&sql[start..start + len]), name);
            name
        })
    }

    #[test]
    fn finds_the_dropped_table() {
        assert_eq!(dropped("DROP TABLE notes").as_deref(), Some("notes"));
        assert_eq!(
            dropped("drop table if exists `Order`;").as_deref(),
            Some("Order")
        );
        assert_eq!(
            dropped("DROP TABLE main.\"users\"").as_deref(),
            Some("users")
        );
        assert_eq!(dropped("DROP INDEX notes_idx"), None);
        assert_eq!(dropped("DROP VIEW v"), None);
        assert_eq!(dropped("DELETE FROM notes"), None);
        assert_eq!(dropped("DROP TABLE"), None);
    }

    #[test]
    fn lists_the_children_that_act_on_delete() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE p (id INTEGER PRIMARY KEY, a INT, b INT, UNIQUE (a, b));
             CREATE TABLE cascades (id INTEGER PRIMARY KEY, p_id INT REFERENCES p(id) ON DELETE CASCADE);
             CREATE TABLE nulls (x INT, y INT, FOREIGN KEY (x, y) REFERENCES P(a, b) ON DELETE SET NULL);
             CREATE TABLE restricts (p_id INT REFERENCES p ON DELETE RESTRICT);
             CREATE TABLE plain (p_id INT REFERENCES p);
             CREATE TABLE own (id INTEGER PRIMARY KEY, parent INT REFERENCES own ON DELETE CASCADE);",
        )
        .unwrap();
        let refs = references(&conn, "p");
        let summary: Vec<(&str, Vec<&str>, &str)> = refs
            .iter()
            .map(|r| {
                let columns = r.columns.iter().map(String::as_str).collect();
                (r.table.as_str(), columns, r.on_delete.as_str())
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("cascades", vec!["p_id"], "CASCADE"),
                ("nulls", vec!["x", "y"], "SET NULL"),
                ("restricts", vec!["p_id"], "RESTRICT"),
            ]
        );
        // A table that references itself is dropped with its rows: nothing to warn about.
        assert!(references(&conn, "own").is_empty());
        assert!(diagnostic("p", &refs[0])
            .message
            .starts_with("dropping `p` deletes every row of `cascades` that references it (`cascades.p_id` is ON DELETE CASCADE)"));
        assert!(diagnostic("p", &refs[1])
            .message
            .starts_with("dropping `p` sets `nulls.x`, `nulls.y` to NULL in every row of `nulls`"));
        assert!(diagnostic("p", &refs[2])
            .message
            .contains("fails on D1 as soon as a row of `restricts` references it"));
    }
}
