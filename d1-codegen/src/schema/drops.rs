//! What a `DROP TABLE` does to the tables that reference the dropped one: read from the schema
//! as it is just before the DROP runs, while the migrations are applied. The cascade-drop lint
//! ([`crate::lint::cascade`]) reports these facts at the level the configuration sets.

use crate::diagnostic::Span;
use crate::lex::{self, Token, TokenKind};
use rusqlite::Connection;

/// One table a migration drops while another table references it with an `ON DELETE` action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CascadeDrop {
    /// The dropped (parent) table.
    pub parent: String,
    /// The foreign key that acts on the drop.
    pub reference: Reference,
    /// The dropped table's name in the `DROP TABLE` statement, in its migration file.
    pub span: Span,
}

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
}
