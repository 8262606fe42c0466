//! Applies migrations to an in-memory SQLite, as D1 would, and reads the schema back from the catalog.

use super::drops::{dropped_table, references, CascadeDrop};
use super::*;
use crate::diagnostic::{Diagnostic, Diagnostics, Location, Span};
use crate::lex;
use crate::migrations::MigrationSet;
use crate::rules::{self, Context, Engine};
use rusqlite::Connection;

/// How long one migration statement may run while the schema is built.
pub const STATEMENT_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// An in-memory database with every migration applied.
pub struct Applied {
    /// The migrated database (the oracle queries are prepared against).
    pub conn: Connection,
    /// Warnings from the migrations (file naming, D1's rules).
    pub warnings: Vec<Diagnostic>,
    /// Each `DROP TABLE` of a table that others reference with an `ON DELETE` action (the
    /// cascade-drop lint reports them).
    pub cascade_drops: Vec<CascadeDrop>,
}

/// Applies `set` in order to a fresh in-memory SQLite with foreign keys on (as on D1), each file
/// in one transaction (as wrangler does). A failing statement is reported with SQLite's message
/// at its file:line:column, and stops there, as `wrangler d1 migrations apply` does.
pub fn apply_migrations(set: &MigrationSet) -> Result<Applied, Diagnostics> {
    apply_migrations_within(set, STATEMENT_BUDGET)
}

/// [`apply_migrations`] with `budget` as the longest one statement may run before it is stopped.
pub fn apply_migrations_within(
    set: &MigrationSet,
    budget: std::time::Duration,
) -> Result<Applied, Diagnostics> {
    apply_migrations_on(set, budget, Engine::D1)
}

/// [`apply_migrations_within`] for a database that `engine` runs (the rules' messages name it).
pub fn apply_migrations_on(
    set: &MigrationSet,
    budget: std::time::Duration,
    engine: Engine,
) -> Result<Applied, Diagnostics> {
    let mut conn = Connection::open_in_memory().map_err(|e| {
        Diagnostics(vec![Diagnostic::error(format!(
            "cannot open in-memory SQLite: {e}"
        ))])
    })?;
    // A statement that never ends (a recursive CTE without its stop condition) must not hang
    // the compiler: each statement gets a wall-clock budget.
    let deadline = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let watch = deadline.clone();
    let _ = conn.progress_handler(
        10_000,
        Some(move || {
            watch
                .lock()
                .map(|d| d.is_some_and(|d| std::time::Instant::now() > d))
                .unwrap_or(false)
        }),
    );
    let _ = conn.execute_batch("PRAGMA foreign_keys = ON;");
    let mut warnings = set.warnings.clone();
    let mut cascade_drops = Vec::new();
    for m in &set.migrations {
        let tokens = lex::tokenize(&m.sql);
        let mut errors = Vec::new();
        let statements = lex::split_tokens(&m.sql, &tokens);
        let mut runnable = Vec::new();
        for st in &statements {
            let st_tokens = lex::tokens_within(&tokens, st);
            let verdict = rules::statement_rules(&m.sql, st_tokens, Context::Migration, engine);
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
            // Before the DROP runs, while the children it would act on are still listed.
            if let Some((table, start, len)) =
                dropped_table(&m.sql, lex::tokens_within(&tokens, st))
            {
                for reference in references(&conn, &table) {
                    cascade_drops.push(CascadeDrop {
                        parent: table.clone(),
                        reference,
                        span: Span {
                            file: Some(m.path.clone()),
                            location: Some(Location::at(&m.sql, start)),
                            len: len.max(1),
                        },
                    });
                }
            }
            if let Ok(mut d) = deadline.lock() {
                *d = Some(std::time::Instant::now() + budget);
            }
            let result = run_statement(&conn, st.text(&m.sql));
            if let Ok(mut d) = deadline.lock() {
                *d = None;
            }
            if let Err(e) = result {
                let (message, offset) = sqlite_error_parts(&e);
                let statement = st.text(&m.sql);
                let missing = missing_table(&message);
                // Before the rollback, so the tables this migration created count too.
                let tables = missing.map(|_| existing_tables(&conn)).unwrap_or_default();
                let _ = conn.execute_batch("ROLLBACK");
                // SQLite gives no offset for an unknown table here: point at its name.
                let offset = offset.or_else(|| {
                    let name = missing?;
                    lex::tokenize(statement)
                        .iter()
                        .find(|t| lex::unquote(t.text(statement)).eq_ignore_ascii_case(name))
                        .map(|t| t.start)
                });
                let loc = Location::at(&m.sql, st.start + offset.unwrap_or(0));
                let (message, help) = if message == "interrupted" {
                    (
                        format!("migration `{}`: a statement ran for more than {:?} on the empty schema database and was stopped", m.name, budget),
                        Some("does it loop forever (a recursive CTE without a stop condition)?".to_owned()),
                    )
                } else if let Some(name) = missing {
                    (
                        format!("migration `{}` failed: no table `{name}`", m.name),
                        crate::diagnostic::closest(name, tables.iter().map(String::as_str))
                            .map_or_else(
                                || Some("no earlier statement creates it".to_owned()),
                                |s| Some(format!("did you mean `{s}`?")),
                            ),
                    )
                } else {
                    (format!("migration `{}` failed: {message}", m.name), None)
                };
                let mut d = Diagnostic::error(message).at(loc, 1).in_file(&m.path);
                if let Some(h) = help {
                    d = d.with_help(h);
                }
                return Err(Diagnostics(vec![d]));
            }
        }
        if let Err(e) = conn.execute_batch("COMMIT") {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(Diagnostics(vec![Diagnostic::error(format!(
                "migration `{}` failed when committed: {}",
                m.name,
                sqlite_error_parts(&e).0
            ))
            .with_help("a deferred foreign key is violated at the end of the migration")
            .in_file(&m.path)]));
        }
    }
    Ok(Applied {
        conn,
        warnings,
        cascade_drops,
    })
}

/// The table SQLite's "no such table: main.x" names, without the schema prefix users never
/// wrote.
pub(crate) fn missing_table(message: &str) -> Option<&str> {
    let name = message.strip_prefix("no such table: ")?;
    Some(name.strip_prefix("main.").unwrap_or(name))
}

/// The tables the migrations applied so far have created (for a did-you-mean).
fn existing_tables(conn: &Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')")
        .and_then(|mut st| {
            st.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .unwrap_or_default()
}

fn run_statement(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

/// SQLite's message for `e` and, when SQLite knows it, the byte offset of the offending token.
pub fn sqlite_error_parts(e: &rusqlite::Error) -> (String, Option<usize>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::Migration;

    fn apply(files: &[(&str, &str)]) -> Result<Schema, Diagnostics> {
        let set = MigrationSet::from_migrations(
            files.iter().map(|(n, s)| Migration::new(*n, *s)).collect(),
        );
        let applied = apply_migrations(&set)?;
        read_catalog(&applied.conn)
    }

    #[test]
    fn a_failing_statement_is_reported_at_file_line_column() {
        let err = apply(&[
            (
                "0001_init.sql",
                "CREATE TABLE a (id INTEGER PRIMARY KEY);\n",
            ),
            (
                "0002_bad.sql",
                "-- adds b\nCREATE TABLE b (x);\nINSERT INTO b (y) VALUES (1);\n",
            ),
        ])
        .unwrap_err();
        let d = &err.0[0];
        assert!(
            d.message.contains("0002_bad.sql") && d.message.contains("no column named y"),
            "{d}"
        );
        let loc = d.span.location.unwrap();
        // SQLite gives no offset for this error: the statement's start.
        assert_eq!((loc.line, loc.column), (3, 1), "{d}");
        assert_eq!(
            d.span.file.as_deref(),
            Some(std::path::Path::new("0002_bad.sql"))
        );
    }

    #[test]
    fn an_unknown_table_is_named_as_written_at_its_name() {
        let err = apply(&[
            (
                "0001_init.sql",
                "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
            ),
            (
                "0002_index.sql",
                "-- lookups\nCREATE INDEX users_email ON \"user\" (email);\n",
            ),
        ])
        .unwrap_err();
        let d = &err.0[0];
        // Not SQLite's "no such table: main.user".
        assert_eq!(
            d.message,
            "migration `0002_index.sql` failed: no table `user`"
        );
        assert_eq!(d.help.as_deref(), Some("did you mean `users`?"));
        let loc = d.span.location.unwrap();
        assert_eq!((loc.line, loc.column), (2, 29), "{d}");

        let err = apply(&[("0001_view.sql", "CREATE VIEW v AS SELECT 1;\nCREATE TRIGGER t AFTER INSERT ON nothing_like_it BEGIN SELECT 1; END;")]).unwrap_err();
        assert_eq!(
            err.0[0].help.as_deref(),
            Some("no earlier statement creates it")
        );
    }

    #[test]
    fn a_statement_that_never_ends_is_stopped() {
        let err = apply(&[(
            "0001_loop.sql",
            "CREATE TABLE t (x);\nINSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c;",
        )])
        .unwrap_err();
        assert!(err.0[0].message.contains("was stopped"), "{err}");
    }

    #[test]
    fn catalog_model() {
        let schema = apply(&[(
            "0001_init.sql",
            "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
             CREATE TABLE notes (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               title TEXT, slug TEXT GENERATED ALWAYS AS (lower(title)) VIRTUAL, body TEXT DEFAULT '');
             CREATE TABLE kv (k TEXT PRIMARY KEY, v ANY) STRICT, WITHOUT ROWID;
             CREATE TABLE tagged (name TEXT PRIMARY KEY);
             CREATE VIRTUAL TABLE notes_fts USING fts5(title, body, content='notes', content_rowid='id');
             CREATE TRIGGER IF NOT EXISTS notes_ai AFTER INSERT ON notes BEGIN
               INSERT INTO notes_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
             END;",
        )])
        .unwrap();
        let notes = schema.table("NOTES").unwrap();
        assert!(notes.column("id").unwrap().rowid_alias);
        assert!(!notes.column("id").unwrap().ty.nullable);
        assert_eq!(
            notes.column("slug").unwrap().hidden,
            Hidden::GeneratedVirtual
        );
        assert_eq!(notes.column("body").unwrap().default.as_deref(), Some("''"));
        assert_eq!(notes.foreign_keys[0].on_delete, FkAction::Cascade);
        assert_eq!(notes.foreign_keys[0].table, "users");
        assert!(
            schema
                .table("users")
                .unwrap()
                .column("email")
                .unwrap()
                .unique
        );
        let kv = schema.table("kv").unwrap();
        assert!(kv.strict && kv.without_rowid);
        assert!(
            !kv.column("k").unwrap().ty.nullable,
            "WITHOUT ROWID primary key"
        );
        assert_eq!(kv.column("v").unwrap().ty.ty, crate::types::SqlType::Value);
        assert!(
            schema
                .table("tagged")
                .unwrap()
                .column("name")
                .unwrap()
                .ty
                .nullable,
            "TEXT PRIMARY KEY of a rowid table"
        );
        let fts = schema.table("notes_fts").unwrap();
        assert_eq!(
            fts.kind,
            TableKind::Virtual {
                module: "fts5".into()
            }
        );
        let hidden: Vec<&str> = fts
            .columns
            .iter()
            .filter(|c| c.hidden == Hidden::Hidden)
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(hidden, ["notes_fts", "rank"]);
        assert_eq!(fts.star_columns().count(), 2);
        assert_eq!(schema.triggers[0].name, "notes_ai");
    }

    #[test]
    fn prisma_rebuild_and_foreign_keys_off_load() {
        let schema = apply(&[
            ("0001_init.sql", "CREATE TABLE \"User\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"name\" TEXT);\nCREATE TABLE \"Post\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"userId\" INTEGER NOT NULL REFERENCES \"User\"(\"id\"));\nINSERT INTO \"User\" VALUES (1, 'a');\nINSERT INTO \"Post\" VALUES (1, 1);"),
            ("0002_rebuild.sql", "PRAGMA defer_foreign_keys=ON;\nPRAGMA foreign_keys=OFF;\nCREATE TABLE \"new_User\" (\"id\" INTEGER NOT NULL PRIMARY KEY, \"name\" TEXT NOT NULL DEFAULT '');\nINSERT INTO \"new_User\" (\"id\", \"name\") SELECT \"id\", coalesce(\"name\", '') FROM \"User\";\nDROP TABLE \"User\";\nALTER TABLE \"new_User\" RENAME TO \"User\";\nPRAGMA foreign_keys=ON;\nPRAGMA defer_foreign_keys=OFF;"),
        ])
        .unwrap();
        assert!(
            !schema
                .table("User")
                .unwrap()
                .column("name")
                .unwrap()
                .ty
                .nullable
        );
    }
}
