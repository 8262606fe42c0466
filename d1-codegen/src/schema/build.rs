//! Applies migrations to an in-memory SQLite, as D1 would, and reads the schema back from the catalog.

use super::*;
use crate::diagnostic::{Diagnostic, Diagnostics, Location};
use crate::lex;
use crate::lint::{self, Context};
use crate::migrations::MigrationSet;
use rusqlite::Connection;

/// An in-memory database with every migration applied.
pub struct Applied {
    /// The migrated database (the oracle queries are prepared against).
    pub conn: Connection,
    /// Warnings from the migrations (D1 rules, statements sqlparser cannot read).
    pub warnings: Vec<Diagnostic>,
}

/// Applies `set` in order to a fresh in-memory SQLite with foreign keys on (as on D1), each file
/// in one transaction (as wrangler does). A failing statement is reported with SQLite's message
/// at its file:line:column, and stops there, as `wrangler d1 migrations apply` does.
pub fn apply_migrations(set: &MigrationSet) -> Result<Applied, Diagnostics> {
    let conn = Connection::open_in_memory().map_err(|e| {
        Diagnostics(vec![Diagnostic::error(format!(
            "cannot open in-memory SQLite: {e}"
        ))])
    })?;
    let _ = conn.execute_batch("PRAGMA foreign_keys = ON;");
    let mut warnings = set.warnings.clone();
    for m in &set.migrations {
        let tokens = lex::tokenize(&m.sql);
        let mut errors = Vec::new();
        let statements = lex::split_tokens(&m.sql, &tokens);
        let mut runnable = Vec::new();
        for st in &statements {
            let st_tokens: Vec<_> = tokens
                .iter()
                .filter(|t| t.start >= st.start && t.end <= st.end)
                .copied()
                .collect();
            let verdict = lint::statement_rules(&m.sql, &st_tokens, Context::Migration);
            for d in verdict.diagnostics {
                let d = d.in_file(&m.path);
                if d.is_error() {
                    errors.push(d);
                } else {
                    warnings.push(d);
                }
            }
            if verdict.execute {
                runnable.push(st);
            }
        }
        if !errors.is_empty() {
            return Err(Diagnostics(errors));
        }
        // defer_foreign_keys only lasts for the transaction, which is the migration file.
        let _ = conn.execute_batch("BEGIN");
        for st in runnable {
            if let Err(e) = run_statement(&conn, st.text(&m.sql)) {
                let _ = conn.execute_batch("ROLLBACK");
                let (message, offset) = sqlite_message_pub(&e);
                let loc = Location::at(&m.sql, st.start + offset.unwrap_or(0));
                return Err(Diagnostics(vec![Diagnostic::error(format!(
                    "migration `{}` failed: {message}",
                    m.name
                ))
                .at(loc, 1)
                .in_file(&m.path)]));
            }
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "migration `{}` failed when committed: {}",
                m.name,
                sqlite_message_pub(&e).0
            ))
            .with_help("a deferred foreign key is violated at the end of the migration")
            .in_file(&m.path)]));
        }
    }
    Ok(Applied { conn, warnings })
}

fn run_statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

/// SQLite's message for `e` and, when SQLite knows it, the byte offset of the offending token.
pub fn sqlite_message_pub(e: &rusqlite::Error) -> (String, Option<usize>) {
    match e {
        rusqlite::Error::SqlInputError { msg, offset, .. } => {
            (msg.clone(), usize::try_from(*offset).ok())
        }
        rusqlite::Error::SqliteFailure(_, Some(msg)) => (msg.clone(), None),
        other => (other.to_string(), None),
    }
}

fn catalog_error(e: rusqlite::Error) -> Diagnostics {
    Diagnostics(vec![Diagnostic::error(format!(
        "cannot read the schema back from SQLite: {e}"
    ))])
}

/// Reads tables, virtual tables, views (columns as SQLite reports them; the analyzer types them
/// afterwards), indexes and triggers from the catalog of `conn`.
pub fn read_catalog(conn: &Connection) -> Result<Schema, Diagnostics> {
    let mut schema = Schema::default();
    let objects: Vec<(String, String, String, Option<String>)> = conn
        .prepare("SELECT type, name, tbl_name, sql FROM main.sqlite_schema ORDER BY rowid")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
        })
        .map_err(catalog_error)?;
    let list: Vec<(String, String, bool, bool)> = conn
        .prepare("SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main'")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
        })
        .map_err(catalog_error)?;
    for (kind, name, tbl_name, sql) in &objects {
        match kind.as_str() {
            "table" | "view" => {
                let (list_kind, without_rowid, strict) = list
                    .iter()
                    .find(|l| &l.0 == name)
                    .map(|l| (l.1.as_str(), l.2, l.3))
                    .unwrap_or(("table", false, false));
                let kind = match (kind.as_str(), list_kind) {
                    ("view", _) => TableKind::View,
                    (_, "virtual") => TableKind::Virtual {
                        module: virtual_module(sql.as_deref().unwrap_or("")),
                    },
                    (_, "shadow") => TableKind::Shadow,
                    _ => TableKind::Table,
                };
                schema.tables.push(
                    read_table(conn, name, kind, without_rowid, strict, sql.clone())
                        .map_err(catalog_error)?,
                );
            }
            "index" => schema.indexes.push(Index {
                name: name.clone(),
                table: tbl_name.clone(),
                columns: Vec::new(),
                unique: false,
                partial: false,
                origin: String::new(),
            }),
            "trigger" => schema.triggers.push(Trigger {
                name: name.clone(),
                table: tbl_name.clone(),
                sql: sql.clone().unwrap_or_default(),
            }),
            _ => {}
        }
    }
    read_indexes(conn, &mut schema).map_err(catalog_error)?;
    Ok(schema)
}

fn virtual_module(sql: &str) -> String {
    let tokens = lex::tokenize(sql);
    tokens
        .iter()
        .position(|t| t.is_word(sql, "USING"))
        .and_then(|i| tokens.get(i + 1))
        .map(|t| t.text(sql).to_ascii_lowercase())
        .unwrap_or_default()
}

fn read_table(
    conn: &Connection,
    name: &str,
    kind: TableKind,
    without_rowid: bool,
    strict: bool,
    sql: Option<String>,
) -> rusqlite::Result<Table> {
    struct Raw {
        name: String,
        decl: String,
        not_null: bool,
        default: Option<String>,
        pk: u32,
        hidden: i64,
    }
    let raw: Vec<Raw> = conn
        .prepare(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden FROM pragma_table_xinfo(?1)",
        )?
        .query_map([name], |r| {
            Ok(Raw {
                name: r.get(0)?,
                decl: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                not_null: r.get(2)?,
                default: r.get(3)?,
                pk: r.get(4)?,
                hidden: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let shape = TableShape {
        without_rowid,
        strict,
        pk_columns: raw.iter().filter(|c| c.pk > 0).count(),
    };
    let is_view = kind == TableKind::View;
    let columns = raw
        .into_iter()
        .map(|c| {
            // Older SQLite versions append the GENERATED clause to the type of generated columns.
            let decl = c
                .decl
                .split(" GENERATED ALWAYS")
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let mut col = Column::declared(&c.name, &decl, c.not_null, c.pk, &shape);
            if is_view {
                col.ty.nullable = true;
            }
            col.default = c.default;
            col.hidden = match c.hidden {
                1 => Hidden::Hidden,
                2 => Hidden::GeneratedVirtual,
                3 => Hidden::GeneratedStored,
                _ => Hidden::No,
            };
            col
        })
        .collect();
    let foreign_keys = if kind == TableKind::Table {
        read_foreign_keys(conn, name)?
    } else {
        Vec::new()
    };
    Ok(Table {
        name: name.to_string(),
        kind,
        columns,
        strict,
        without_rowid,
        foreign_keys,
        sql,
    })
}

fn read_foreign_keys(conn: &Connection, table: &str) -> rusqlite::Result<Vec<ForeignKey>> {
    let rows: Vec<(i64, String, String, Option<String>, String, String)> = conn
        .prepare("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq")?
        .query_map([table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out: Vec<(i64, ForeignKey)> = Vec::new();
    for (id, parent, from, to, on_update, on_delete) in rows {
        if out.last().is_none_or(|(last, _)| *last != id) {
            out.push((
                id,
                ForeignKey {
                    from: Vec::new(),
                    table: parent,
                    to: Vec::new(),
                    on_delete: FkAction::parse(&on_delete),
                    on_update: FkAction::parse(&on_update),
                },
            ));
        }
        if let Some((_, fk)) = out.last_mut() {
            fk.from.push(from);
            if let Some(to) = to {
                fk.to.push(to);
            }
        }
    }
    Ok(out.into_iter().map(|(_, fk)| fk).collect())
}

fn read_indexes(conn: &Connection, schema: &mut Schema) -> rusqlite::Result<()> {
    schema.indexes.clear();
    for t in 0..schema.tables.len() {
        if schema.tables[t].kind != TableKind::Table {
            continue;
        }
        let table = schema.tables[t].name.clone();
        let list: Vec<(String, bool, String, bool)> = conn
            .prepare("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1) ORDER BY seq DESC")?
            .query_map([&table], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (name, unique, origin, partial) in list {
            let columns: Vec<Option<String>> = conn
                .prepare("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")?
                .query_map([&name], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if unique && !partial && columns.len() == 1 {
                if let Some(Some(col)) = columns.first() {
                    if let Some(c) = schema.tables[t]
                        .columns
                        .iter_mut()
                        .find(|c| c.name.eq_ignore_ascii_case(col))
                    {
                        c.unique = true;
                    }
                }
            }
            schema.indexes.push(Index {
                name,
                table: table.clone(),
                columns,
                unique,
                partial,
                origin,
            });
        }
    }
    Ok(())
}
