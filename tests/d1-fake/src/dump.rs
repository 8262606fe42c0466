//! The SQL dump an export produces, as D1's own `dumpSql` writes it.
//!
//! `PRAGMA defer_foreign_keys=TRUE;`, then each table in `sqlite_schema` order (its `CREATE
//! TABLE`, then one `INSERT INTO "t" ("a","b") VALUES(…);` per row), then the indexes,
//! triggers and views; `sqlite_*` and `_cf_*` tables are skipped, except `sqlite_sequence`
//! (`DELETE FROM sqlite_sequence;` and its rows). Lines are joined by `\n`. Values are exact:
//! integers in full, reals in the shortest form that reads back as the same REAL, text quoted
//! with `''` (with `replace(…, char(10))` for newlines, as SQLite's shell does, and
//! `CAST(X'…' AS TEXT)` for text holding a NUL or invalid UTF-8), BLOBs as `X'…'`.

use std::fmt::Write as _;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

/// A dump, or why it could not be made (the export's `error`).
pub(crate) type Dump = Result<String, String>;

/// `dump_options` of an export.
#[derive(Clone, Debug, Default)]
pub(crate) struct DumpOptions {
    pub(crate) no_data: bool,
    pub(crate) no_schema: bool,
    /// Only these tables (and the indexes, triggers and views of these names, as D1 filters
    /// them); empty: all.
    pub(crate) tables: Vec<String>,
}

const VIRTUAL_TABLES: &str = "D1 Export error: cannot export databases with Virtual Tables (fts5)";

/// The dump of `conn`'s database.
pub(crate) fn dump(conn: &Connection, options: &DumpOptions) -> Dump {
    dump_sql(conn, options).map_err(|e| match e {
        Failure::Sql(e) => format!("D1 Export error: {e}"),
        Failure::D1(message) => message,
    })
}

enum Failure {
    Sql(rusqlite::Error),
    D1(String),
}

impl From<rusqlite::Error> for Failure {
    fn from(e: rusqlite::Error) -> Self {
        Failure::Sql(e)
    }
}

fn dump_sql(conn: &Connection, options: &DumpOptions) -> Result<String, Failure> {
    let tables: Vec<(String, String)> = {
        let mut statement = conn.prepare(
            "SELECT name, sql FROM sqlite_schema AS o WHERE type == 'table' AND sql NOT NULL \
             ORDER BY tbl_name = 'sqlite_sequence', rowid",
        )?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let missing: Vec<&str> = options
        .tables
        .iter()
        .filter(|wanted| !tables.iter().any(|(name, _)| name == *wanted))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Failure::D1(format!(
            "D1 Export error: no such table: {}",
            missing.join(", ")
        )));
    }
    let wanted = |name: &str| options.tables.is_empty() || options.tables.iter().any(|t| t == name);

    let mut lines = vec!["PRAGMA defer_foreign_keys=TRUE;".to_owned()];
    for (table, sql) in &tables {
        if !wanted(table) {
            continue;
        }
        if table == "sqlite_sequence" {
            if !options.no_schema {
                lines.push("DELETE FROM sqlite_sequence;".to_owned());
            }
        } else if table.starts_with("sqlite_stat") {
            if !options.no_schema {
                lines.push("ANALYZE sqlite_schema;".to_owned());
            }
        } else if sql.starts_with("CREATE VIRTUAL TABLE") {
            return Err(Failure::D1(VIRTUAL_TABLES.to_owned()));
        } else if table.starts_with("_cf_") || table.starts_with("sqlite_") {
            continue;
        } else if !options.no_schema {
            // SQLite's shell (and D1) add IF NOT EXISTS to a table created with a quoted name.
            if sql.starts_with("CREATE TABLE \"") || sql.starts_with("CREATE TABLE '") {
                lines.push(format!("CREATE TABLE IF NOT EXISTS {};", &sql[13..]));
            } else {
                lines.push(format!("{sql};"));
            }
        }
        if options.no_data {
            continue;
        }
        dump_rows(conn, table, &mut lines)?;
    }
    if !options.no_schema {
        let mut statement = conn.prepare(
            "SELECT name, sql FROM sqlite_schema AS o WHERE sql NOT NULL \
             AND type IN ('index', 'trigger', 'view') ORDER BY type COLLATE NOCASE, rowid",
        )?;
        let rows = statement.query_map([], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (name, sql) = row?;
            if wanted(&name) {
                lines.push(format!("{sql};"));
            }
        }
    }
    Ok(lines.join("\n"))
}

fn dump_rows(conn: &Connection, table: &str, lines: &mut Vec<String>) -> Result<(), Failure> {
    let columns: Vec<String> = {
        let mut statement = conn.prepare(&format!("PRAGMA table_info={}", escape_id(table)))?;
        let rows = statement.query_map([], |row| row.get::<_, String>(1))?;
        rows.collect::<Result<_, _>>()?
    };
    let names: Vec<String> = columns.iter().map(|c| escape_id(c)).collect();
    let mut statement = conn.prepare(&format!(
        "SELECT {} FROM {};",
        names.join(", "),
        escape_id(table)
    ))?;
    let column_list = names.join(",");
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let mut line = format!("INSERT INTO {} ({column_list}) VALUES(", escape_id(table));
        for i in 0..columns.len() {
            if i > 0 {
                line.push(',');
            }
            push_literal(&mut line, row.get_ref(i)?);
        }
        line.push_str(");");
        lines.push(line);
    }
    Ok(())
}

/// `"name"`, with `"` doubled.
fn escape_id(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// A value as an SQL literal that reads back as exactly the same value.
fn push_literal(out: &mut String, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => out.push_str("NULL"),
        ValueRef::Integer(i) => out.push_str(&i.to_string()),
        ValueRef::Real(f) if f.is_nan() => out.push_str("NULL"),
        ValueRef::Real(f) if f.is_infinite() => {
            out.push_str(if f > 0.0 { "1e999" } else { "-1e999" });
        }
        // `{:?}` writes the shortest digits that read back as `f`, with a `.0` or an exponent,
        // so SQLite reads a REAL back (never an INTEGER).
        ValueRef::Real(f) => out.push_str(&format!("{f:?}")),
        ValueRef::Text(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => push_text(out, text),
            _ => {
                out.push_str("CAST(");
                push_hex(out, bytes);
                out.push_str(" AS TEXT)");
            }
        },
        ValueRef::Blob(bytes) => push_hex(out, bytes),
    }
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    out.push_str("X'");
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push('\'');
}

/// SQLite's shell's `output_quoted_escaped_string`, as D1 ports it: `'…'` with `'` doubled,
/// newlines and carriage returns replaced by placeholders put back with `replace()`.
fn push_text(out: &mut String, text: &str) {
    let has_newline = text.contains('\n');
    let has_return = text.contains('\r');
    if !has_newline && !has_return {
        out.push('\'');
        out.push_str(&text.replace('\'', "''"));
        out.push('\'');
        return;
    }
    let newline = unused(text, "\\n", "\\012");
    let carriage = unused(text, "\\r", "\\015");
    let escaped = text
        .replace('\'', "''")
        .replace('\n', &newline)
        .replace('\r', &carriage);
    let mut literal = format!("'{escaped}'");
    if has_return {
        literal = format!("replace({literal},'{carriage}',char(13))");
    }
    if has_newline {
        literal = format!("replace({literal},'{newline}',char(10))");
    }
    out.push_str(&literal);
}

/// A placeholder that does not occur in `text`.
fn unused(text: &str, primary: &str, secondary: &str) -> String {
    if !text.contains(primary) {
        return primary.to_owned();
    }
    if !text.contains(secondary) {
        return secondary.to_owned();
    }
    (0..)
        .map(|i| format!("({primary}{i})"))
        .find(|candidate| !text.contains(candidate.as_str()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(conn: &Connection, sql: &str) -> String {
        let mut out = String::new();
        conn.query_row(sql, [], |row| {
            push_literal(&mut out, row.get_ref(0)?);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn literals_read_back_as_the_same_value() {
        let conn = Connection::open_in_memory().unwrap();
        for sql in [
            "SELECT 0.1",
            "SELECT 1.0",
            "SELECT -2.5e-300",
            "SELECT 1e300",
            "SELECT 9007199254740993",
            "SELECT -9223372036854775808",
            "SELECT 'it''s'",
            "SELECT 'a' || char(10) || 'b\\n' || char(13)",
            "SELECT 'nul' || char(0) || 'x'",
            "SELECT X'00ff10'",
            "SELECT NULL",
            "SELECT 1e999",
        ] {
            let text = literal(&conn, sql);
            let same: bool = conn
                .query_row(
                    &format!(
                        "SELECT typeof(a) = typeof(b) AND a IS b FROM (SELECT ({}) AS a, ({text}) AS b)",
                        &sql[7..]
                    ),
                    [],
                    |row| row.get(0),
                )
                .unwrap();
            assert!(same, "{sql} -> {text}");
        }
        assert_eq!(literal(&conn, "SELECT 1.0"), "1.0");
        assert_eq!(
            literal(&conn, "SELECT 'a' || char(10) || 'b'"),
            "replace('a\\nb','\\n',char(10))"
        );
    }
}
