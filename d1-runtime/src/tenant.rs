//! One tenant's rows in a shared database (a shard of a pool): counted and deleted, for an
//! account deletion or a legal erasure request, and exported to SQL text and imported back
//! (see "Export and import" below).
//!
//! The rows are found the way a move finds them ([`crate::reshard::layout`]): every table
//! with the tenant column, and the rows of tables without it that reference those rows by a
//! foreign key (they belong to the tenant through its rows). They are deleted children
//! first.
//!
//! - A tenant of at most [`ONE_BATCH_ROWS`] rows is deleted in one batch: one transaction,
//!   so the tenant is either whole or gone.
//! - A larger one is fenced first (the triggers a move uses: every write to its rows is
//!   refused with [`crate::Error::TenantMoving`], which clients retry), then deleted in
//!   chunks of [`CHUNK_ROWS`] rows, each chunk one transaction that keeps the fence; the
//!   last lifts it. A crash leaves the tenant fenced and partly deleted; running the delete
//!   again finishes it.
//!
//! Either way [`delete`] then counts again and fails if any row of the tenant is left.
//!
//! # Export and import
//!
//! [`export`] writes the same rows as SQL text, and [`import`] writes them back into a
//! database at the same migration (the shard the pool routes the tenant to, say, after a
//! delete, or into another environment's pool). The text is one statement per line, so
//! that a line-based reader suffices (no SQL parser):
//!
//! ```text
//! -- d1kit tenant export, format 1
//! -- database: users
//! -- tenant column: user_id
//! -- tenant: text alice
//! -- migration: 5f0c…e1 0001_init.sql
//! -- migration: - 0002_wrangler_only.sql
//! -- rows: 2 notes
//! -- rows: 1 attachments
//! -- sha256: 9b1d…07
//! INSERT INTO "notes" ("id", "user_id", "body") VALUES (1, 'alice', 'two' || char(10) || 'lines');
//! INSERT INTO "notes" ("id", "user_id", "body") VALUES (2, 'alice', NULL);
//! INSERT INTO "attachments" ("id", "note_id", "data") VALUES (7, 1, X'00FF');
//! ```
//!
//! - **Header**: every line up to the first statement starts with `-- `. The first line
//!   names the format's version ([`EXPORT_FORMAT`]); then `key: value` lines: the database's
//!   configured name, the tenant column, the tenant (`text KEY`, `text-hex HEX` for a key
//!   with control characters, or `integer N`), each applied migration in the order
//!   `d1_migrations` lists them with the SHA-256 `d1kit_migrations` recorded for it (`-`:
//!   none recorded, as after `wrangler d1 migrations apply` alone), the rows per table, and
//!   last `sha256`: the SHA-256 of every other line of the file, each followed by `\n`
//!   (computed by this module's own SHA-256, so every build of d1-runtime writes and checks
//!   the same; a `\r` before a `\n` is ignored when checking). Unknown keys are ignored.
//! - **Body**: one `INSERT INTO "table" ("col", ..) VALUES (..);` per row and per line, the
//!   tables with the tenant column in the layout's order (parents first), then the rows of
//!   tables without it that reference the tenant's rows; each table's rows in rowid (or
//!   primary key) order. Generated columns are left out (SQLite computes them); the implicit
//!   rowid of a table without an `INTEGER PRIMARY KEY` is not kept.
//! - **Values** are literals, exact on every backend: `NULL`; integers in decimal (all of
//!   i64); reals in Rust's shortest round-trip form, always with a `.` or an exponent so that
//!   SQLite reads a REAL (`1.0`, `1e308`, `-0.0`), `9e999` / `-9e999` for ±infinity (SQLite
//!   stores no NaN: it becomes NULL); text quoted with `'` doubled, a control character (or
//!   U+2028/U+2029) written `char(N)` and concatenated with `||` (so a statement stays on
//!   one line), and text holding NUL, bytes that are not UTF-8 or many control characters
//!   written `CAST(X'..' AS TEXT)`; blobs `X'..'`. Rows are read through `typeof`, `hex` and
//!   `printf('%!.17g')`, so no value depends on a JSON number on the way out (the REST
//!   API's); reals rely on SQLite converting them exactly both ways, as the SQLite this
//!   crate bundles (3.54) does.
//!
//! An export is refused when one row's INSERT would be longer than D1 takes in one statement
//! ([`crate::migrate::MAX_STATEMENT_BYTES`]: a blob over about 50 KB, written in hex, is).
//! Each table is read [`EXPORT_PAGE_ROWS`] rows at a time; when every table's rows fit in
//! one page, every table is read in one batch (one transaction: a consistent snapshot),
//! otherwise page by page: export a large tenant while nothing writes to it.
//!
//! [`import`] checks before it writes: the file's checksum and every line's shape, the
//! database name, tenant column and tenant, each row of a table with the tenant column
//! carrying the tenant's value, the database's applied migrations against the file's (the
//! first difference named), and that the tenant has no rows there unless `replace` is asked
//! for. Its rows (and, with `replace`, the deletes of its present rows) go in one batch when
//! they fit ([`ONE_BATCH_ROWS`] rows and [`BATCH_BYTES`] of SQL): the tenant is imported
//! whole or not at all. A larger import fences the tenant as [`delete`] does, deletes its
//! present rows in chunks, inserts in chunks of at most [`CHUNK_ROWS`] rows and
//! [`BATCH_BYTES`], each one transaction keeping the fence, and the last lifts it; a crash
//! leaves the tenant fenced and partly imported, and importing again with `replace`
//! finishes it. The application's triggers fire on the inserts as on any other. A foreign
//! key from a row to a row later in the file (a table that references itself, a cycle) is
//! checked at the end of the batch that holds the row: in a chunked import it fails when the
//! two rows land in different chunks.

use crate::executor::{Executor, Query, Sql, Statement};
use crate::reshard::{ident, statement, Layout, Tenant};
use crate::{Error, FromRow, Result, Value, Values};
use std::borrow::Cow;
use std::marker::PhantomData;

/// The most rows deleted in one batch (one transaction): D1 runs a batch as one transaction,
/// which must finish within its time limit.
pub const ONE_BATCH_ROWS: u64 = 50_000;

/// Rows per chunk when a tenant is deleted in chunks.
pub const CHUNK_ROWS: u64 = 5_000;

/// How many of a tenant's rows one table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// The table.
    pub table: String,
    /// The tenant's rows in it.
    pub rows: u64,
}

/// Where a tenant's rows are, in the order they are deleted: the rows of tables without the
/// tenant column that reference the tenant's rows (by foreign key), then each table with the
/// column, children first.
struct Target {
    /// `(table, condition)`: `WHERE <condition>` selects the tenant's rows of the table, with
    /// `?1` bound to the tenant's value.
    tables: Vec<(String, String)>,
}

fn target(layout: &Layout) -> Target {
    let column = ident(&layout.tenant_column);
    let mut tables = Vec::new();
    // Rows of tables without the column that reference the tenant's rows: deleted before
    // the rows they reference.
    for d in &layout.dependents {
        let cols: Vec<String> = d.columns.iter().map(|c| ident(c)).collect();
        let parent: Vec<String> = d.parent_columns.iter().map(|c| ident(c)).collect();
        tables.push((
            d.table.clone(),
            format!(
                "({}) IN (SELECT {} FROM {} WHERE {column} = ?1)",
                cols.join(", "),
                parent.join(", "),
                ident(&d.parent)
            ),
        ));
    }
    for table in layout.tables.iter().rev() {
        tables.push((table.name.clone(), format!("{column} = ?1")));
    }
    Target { tables }
}

/// The tenant's rows in each table (tables without any left out), in the order a delete
/// removes them.
pub async fn rows<E: Executor + ?Sized>(
    db: &E,
    layout: &Layout,
    tenant: &Tenant,
) -> Result<Vec<TableRows>> {
    let mut out: Vec<TableRows> = Vec::new();
    for (table, condition) in target(layout).tables {
        let (n,): (i64,) = db
            .first(Sql::<(i64,)>::new(
                statement(format!(
                    "SELECT count(*) FROM {} WHERE {condition}",
                    ident(&table)
                )),
                vec![tenant.value.clone()],
            ))
            .await?
            .unwrap_or((0,));
        if n > 0 {
            match out.iter_mut().find(|t| t.table == table) {
                Some(t) => t.rows += n as u64,
                None => out.push(TableRows {
                    table,
                    rows: n as u64,
                }),
            }
        }
    }
    Ok(out)
}

/// Rows per table of a database of its own (one tenant's, [`crate::rest::Tenants`]'s): every
/// table but wrangler's and d1kit's migration records and SQLite's and D1's own, by name.
/// Two requests: the table names, then every count in one statement.
pub async fn database_rows<E: Executor + ?Sized>(db: &E) -> Result<Vec<TableRows>> {
    let tables = db
        .all(Sql::<(String,)>::new(
            "SELECT name FROM sqlite_schema WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' \
             AND name NOT IN ('d1_migrations', 'd1kit_migrations') ORDER BY name",
            Vec::new(),
        ))
        .await?;
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    // The names as literals, not parameters: a database may have more tables than D1 takes
    // parameters (100).
    let sql = tables
        .iter()
        .map(|(t,)| {
            format!(
                "SELECT '{}', count(*) FROM {}",
                t.replace('\'', "''"),
                ident(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let counts = db.all(owned::<(String, i64)>(sql, Vec::new())).await?;
    Ok(counts
        .into_iter()
        .map(|(table, rows)| TableRows {
            table,
            rows: rows.max(0) as u64,
        })
        .collect())
}

/// Deletes every row of `tenant` from `db` (see the module's documentation) and returns what
/// was deleted per table. Running it again after a crash finishes the job; on a database
/// without the tenant's rows it deletes nothing. Errors if a row of the tenant is left
/// afterwards (a write that raced the delete: run it again).
pub async fn delete<E: Executor + ?Sized>(
    db: &E,
    layout: &Layout,
    tenant: &Tenant,
) -> Result<Vec<TableRows>> {
    let found = rows(db, layout, tenant).await?;
    let total: u64 = found.iter().map(|t| t.rows).sum();
    let fenced = is_fenced(db, tenant).await?;
    if total == 0 && !fenced {
        return Ok(found);
    }
    let target = target(layout);
    let value = vec![tenant.value.clone()];
    if total <= ONE_BATCH_ROWS {
        let mut batch = vec![Sql::<()>::new("PRAGMA defer_foreign_keys = ON", Vec::new())];
        if fenced {
            batch.push(unfence(&value));
        }
        batch.extend(deletes(&target, &[], &value, None));
        db.batch(batch).await?;
    } else {
        if !fenced {
            crate::reshard::online::fence(db, layout, &[tenant]).await?;
        }
        delete_in_chunks(db, layout, tenant, false).await?;
    }
    crate::reshard::online::lift(db, layout).await?;
    let left = rows(db, layout, tenant).await?;
    if !left.is_empty() {
        let list: Vec<String> = left
            .iter()
            .map(|t| format!("{} in `{}`", t.rows, t.table))
            .collect();
        return Err(Error::Backend(format!(
            "tenant `{}` still has rows after the delete ({}): a write raced it; run the delete again",
            tenant.key,
            list.join(", ")
        )));
    }
    Ok(found)
}

/// The statements deleting the tenant's rows (`value`: its value, bound as `?1`), in
/// `target`'s order; with `limit`, at most that many rows a table, each found by its `keys`
/// (one per table of `target`, see [`row_key`]).
fn deletes(target: &Target, keys: &[String], value: &[Value], limit: Option<u64>) -> Vec<Sql<()>> {
    target
        .tables
        .iter()
        .enumerate()
        .map(|(i, (table, condition))| {
            let sql = match (limit, keys.get(i)) {
                (Some(n), Some(key)) => format!(
                    "DELETE FROM {t} WHERE ({key}) IN (SELECT {key} FROM {t} WHERE {condition} LIMIT {n})",
                    t = ident(table),
                ),
                _ => format!("DELETE FROM {} WHERE {condition}", ident(table)),
            };
            Sql::<()>::new(statement(sql), value.to_vec())
        })
        .collect()
}

/// Lifts the tenant's fence (in the batch that deletes or writes its rows, before them).
fn unfence(value: &[Value]) -> Sql<()> {
    Sql::<()>::new(crate::reshard::online::UNFENCE, value.to_vec())
}

/// Fences the tenant again (at the end of a chunk's batch).
fn refence(value: &[Value]) -> Sql<()> {
    Sql::<()>::new(
        "INSERT OR IGNORE INTO d1kit_fence (value) VALUES (?1)",
        value.to_vec(),
    )
}

/// Deletes the rows of a fenced tenant in chunks of [`CHUNK_ROWS`] rows, each chunk one
/// transaction that keeps the fence; the last lifts it unless `keep_fence` (an import
/// writes the tenant's rows next). Returns how many batches it sent.
async fn delete_in_chunks<E: Executor + ?Sized>(
    db: &E,
    layout: &Layout,
    tenant: &Tenant,
    keep_fence: bool,
) -> Result<usize> {
    let target = target(layout);
    let value = vec![tenant.value.clone()];
    let mut keys = Vec::new();
    for (table, _) in &target.tables {
        keys.push(row_key(db, layout, table).await?);
    }
    let mut batches = 0;
    loop {
        let left: u64 = rows(db, layout, tenant).await?.iter().map(|t| t.rows).sum();
        // Each chunk lifts the fence, deletes and fences again, in one transaction: the
        // fence refuses the delete too, and must hold between chunks.
        let mut batch = vec![
            Sql::<()>::new("PRAGMA defer_foreign_keys = ON", Vec::new()),
            unfence(&value),
        ];
        let last = left <= CHUNK_ROWS;
        batch.extend(deletes(
            &target,
            &keys,
            &value,
            (!last).then_some(CHUNK_ROWS),
        ));
        if !last || keep_fence {
            batch.push(refence(&value));
        }
        db.batch(batch).await?;
        batches += 1;
        if last {
            return Ok(batches);
        }
    }
}

/// Whether an earlier delete (or move) left `tenant` fenced on `db`.
async fn is_fenced<E: Executor + ?Sized>(db: &E, tenant: &Tenant) -> Result<bool> {
    let table: Option<(i64,)> = db
        .first(Sql::<(i64,)>::new(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'd1kit_fence'",
            Vec::new(),
        ))
        .await?;
    if table.is_none_or(|(n,)| n == 0) {
        return Ok(false);
    }
    let fenced: Option<(i64,)> = db
        .first(Sql::<(i64,)>::new(
            "SELECT count(*) FROM d1kit_fence WHERE value = ?1",
            vec![tenant.value.clone()],
        ))
        .await?;
    Ok(fenced.is_some_and(|(n,)| n > 0))
}

/// What identifies a row of `table` for a chunked delete: its rowid, or for a table without
/// one, its primary key's columns (a comma-separated list).
async fn row_key<E: Executor + ?Sized>(db: &E, layout: &Layout, table: &str) -> Result<String> {
    let without_rowid: Option<(i64,)> = db
        .first(Sql::<(i64,)>::new(
            "SELECT wr FROM pragma_table_list WHERE name = ?1 AND schema = 'main'",
            vec![Value::Text(table.to_owned())],
        ))
        .await?;
    if without_rowid.is_some_and(|(wr,)| wr == 1) {
        if let Some(pk) = layout
            .tables
            .iter()
            .find(|t| t.name == table)
            .and_then(|t| t.keys.first())
        {
            let cols: Vec<String> = pk.iter().map(|c| ident(c)).collect();
            return Ok(cols.join(", "));
        }
    }
    Ok("rowid".to_string())
}

// ---------------------------------------------------------------------------------------
// Export and import (see the module's documentation for the format).

/// The version of the export format [`export`] writes and [`import`] reads.
pub const EXPORT_FORMAT: u32 = 1;

/// The first line of an export.
const FIRST_LINE: &str = "-- d1kit tenant export, format 1";

/// Rows of one table an export reads with one query.
pub const EXPORT_PAGE_ROWS: usize = 500;

/// The most SQL text one batch of an import sends (d1kit's choice, well within what D1 takes
/// in one request, and short enough to commit within its time limit).
pub const BATCH_BYTES: usize = 5_000_000;

/// Text with more `||` parts than this is written `CAST(X'..' AS TEXT)`.
const MAX_TEXT_PARTS: usize = 64;

/// A statement whose text is built at run time and sent once (a page's SELECT, a row's
/// INSERT): owned, unlike [`statement`]'s texts, which are kept for the life of the process.
struct Owned<R>(Statement, PhantomData<fn() -> R>);

impl<R: FromRow> Query for Owned<R> {
    type Row = R;
    fn into_statement(self) -> Statement {
        self.0
    }
}

fn owned<R>(sql: String, params: Vec<Value>) -> Owned<R> {
    Owned(
        Statement {
            sql: Cow::Owned(sql),
            params,
        },
        PhantomData,
    )
}

/// A statement of the tenant's tables, into an import's batch.
fn into_owned(q: Sql<()>) -> Owned<()> {
    Owned(q.into_statement(), PhantomData)
}

/// One table an export reads: a table with the tenant column, or one without it whose rows
/// reference the tenant's rows.
struct Source {
    table: String,
    /// `WHERE (<condition>)` selects the tenant's rows, `?1` bound to its value.
    condition: String,
    /// The columns written (generated ones left out).
    columns: Vec<String>,
    /// What orders its rows for paging: `rowid`, or the columns of a WITHOUT ROWID table's
    /// primary key (already quoted).
    key: Vec<String>,
    /// Whether the table has the tenant column.
    tenant_table: bool,
}

/// The tables whose rows are the tenant's, in the order an import writes them: the layout's
/// tables (parents first), then the tables without the column that reference them (one
/// entry per table, its foreign keys into tenant tables joined with `OR`).
async fn sources<E: Executor + ?Sized>(db: &E, layout: &Layout) -> Result<Vec<Source>> {
    let column = ident(&layout.tenant_column);
    let mut out: Vec<Source> = Vec::new();
    for table in &layout.tables {
        out.push(Source {
            table: table.name.clone(),
            condition: format!("{column} = ?1"),
            columns: table.columns.clone(),
            key: order_key(db, &table.name).await?,
            tenant_table: true,
        });
    }
    for d in &layout.dependents {
        let cols: Vec<String> = d.columns.iter().map(|c| ident(c)).collect();
        let parent: Vec<String> = d.parent_columns.iter().map(|c| ident(c)).collect();
        let condition = format!(
            "({}) IN (SELECT {} FROM {} WHERE {column} = ?1)",
            cols.join(", "),
            parent.join(", "),
            ident(&d.parent)
        );
        if let Some(s) = out
            .iter_mut()
            .find(|s| !s.tenant_table && s.table == d.table)
        {
            s.condition = format!("{} OR {condition}", s.condition);
            continue;
        }
        let columns: Vec<(String, i64)> = db
            .all(Sql::<(String, i64)>::new(
                "SELECT name, hidden FROM pragma_table_xinfo(?1)",
                vec![Value::Text(d.table.clone())],
            ))
            .await?;
        out.push(Source {
            table: d.table.clone(),
            condition,
            columns: columns
                .into_iter()
                .filter(|(_, hidden)| *hidden == 0)
                .map(|(c, _)| c)
                .collect(),
            key: order_key(db, &d.table).await?,
            tenant_table: false,
        });
    }
    Ok(out)
}

/// `rowid`, or for a WITHOUT ROWID table its primary key's columns, quoted.
async fn order_key<E: Executor + ?Sized>(db: &E, table: &str) -> Result<Vec<String>> {
    let without_rowid: Option<(i64,)> = db
        .first(Sql::<(i64,)>::new(
            "SELECT wr FROM pragma_table_list WHERE name = ?1 AND schema = 'main'",
            vec![Value::Text(table.to_owned())],
        ))
        .await?;
    if without_rowid.is_some_and(|(wr,)| wr == 1) {
        let pk: Vec<(String,)> = db
            .all(Sql::<(String,)>::new(
                "SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk",
                vec![Value::Text(table.to_owned())],
            ))
            .await?;
        if !pk.is_empty() {
            return Ok(pk.into_iter().map(|(c,)| ident(&c)).collect());
        }
    }
    Ok(vec!["rowid".to_string()])
}

/// A value as an export reads it: text as bytes, which need not be UTF-8.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Null,
    Integer(i64),
    Real(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

/// What a page's SELECT returns for expression `x`: its storage class and exact value as
/// text (`n`; `i` and the digits; `r` and 17 significant digits; `t` or `b` and the hex of
/// its bytes), read the same on every backend.
fn tagged(x: &str) -> String {
    format!(
        "CASE typeof({x}) WHEN 'null' THEN 'n' WHEN 'integer' THEN 'i' || {x} \
         WHEN 'real' THEN 'r' || printf('%!.17g', {x}) WHEN 'text' THEN 't' || hex({x}) \
         ELSE 'b' || hex({x}) END"
    )
}

/// The value [`tagged`] described; `real`: the real itself as the backend returned it,
/// which keeps the sign of `-0.0` (used when it agrees with the digits).
fn untag(tag: &Value, real: Option<&Value>) -> Result<Lit> {
    let bad = || {
        Error::Backend(format!(
            "tenant export: unexpected value {tag} from the database"
        ))
    };
    let Value::Text(tag) = tag else {
        return Err(bad());
    };
    let (kind, rest) = tag.split_at(tag.len().min(1));
    Ok(match kind {
        "n" => Lit::Null,
        "i" => Lit::Integer(rest.parse().map_err(|_| bad())?),
        "r" => {
            let digits: f64 = rest.parse().map_err(|_| bad())?;
            match real {
                Some(Value::Real(r)) if *r == digits => Lit::Real(*r),
                _ => Lit::Real(digits),
            }
        }
        "t" => Lit::Text(unhex(rest).ok_or_else(bad)?),
        "b" => Lit::Blob(unhex(rest).ok_or_else(bad)?),
        _ => return Err(bad()),
    })
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Whether `c` is written `char(N)` rather than inside quotes: a control character (C0,
/// DEL, C1) or a Unicode line or paragraph separator, which would break the line in some
/// reader, or act on a terminal.
fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `v` as an SQL literal that reads back as exactly `v`, on one line.
fn literal(v: &Lit) -> String {
    match v {
        Lit::Null => "NULL".to_string(),
        Lit::Integer(i) => i.to_string(),
        Lit::Real(r) if r.is_nan() => "NULL".to_string(),
        Lit::Real(r) if r.is_infinite() => if *r > 0.0 { "9e999" } else { "-9e999" }.to_string(),
        Lit::Real(r) => {
            // Shortest round-trip digits; `{:?}` always writes a `.` or an exponent.
            let text = format!("{r:?}");
            debug_assert!(text.contains(['.', 'e']));
            text
        }
        Lit::Text(bytes) => text_literal(bytes),
        Lit::Blob(bytes) => format!("X'{}'", hex(bytes)),
    }
}

/// Text as a literal: quoted, control characters as `char(N)` joined with `||`, or
/// `CAST(X'..' AS TEXT)` for text with NUL, bytes that are not UTF-8 or many parts.
fn text_literal(bytes: &[u8]) -> String {
    let raw = || format!("CAST(X'{}' AS TEXT)", hex(bytes));
    let Ok(text) = std::str::from_utf8(bytes) else {
        return raw();
    };
    if text.contains('\0') {
        return raw();
    }
    if !text.contains(is_control) {
        return format!("'{}'", text.replace('\'', "''"));
    }
    let mut parts: Vec<String> = Vec::new();
    let mut quoted = String::new();
    let mut codes: Vec<String> = Vec::new();
    for c in text.chars() {
        if is_control(c) {
            if !quoted.is_empty() {
                parts.push(format!("'{}'", quoted.replace('\'', "''")));
                quoted.clear();
            }
            codes.push(u32::from(c).to_string());
            // SQL functions take at most 32 arguments on D1.
            if codes.len() == 32 {
                parts.push(format!("char({})", codes.join(", ")));
                codes.clear();
            }
        } else {
            if !codes.is_empty() {
                parts.push(format!("char({})", codes.join(", ")));
                codes.clear();
            }
            quoted.push(c);
        }
    }
    if !codes.is_empty() {
        parts.push(format!("char({})", codes.join(", ")));
    }
    if !quoted.is_empty() {
        parts.push(format!("'{}'", quoted.replace('\'', "''")));
    }
    if parts.len() > MAX_TEXT_PARTS {
        return raw();
    }
    parts.join(" || ")
}

/// The tenant's value as a literal (what every row of a tenant table holds in the column).
fn tenant_literal(tenant: &Tenant) -> Result<String> {
    match &tenant.value {
        Value::Text(s) => Ok(text_literal(s.as_bytes())),
        Value::Integer(i) => Ok(i.to_string()),
        other => Err(Error::Backend(format!(
            "tenant `{}`: a tenant's value is text or an integer, not {}",
            tenant.key,
            other.kind()
        ))),
    }
}

/// Refuses a name that would break a header line or a statement's line.
fn one_line(what: &str, name: &str) -> Result<()> {
    if name.contains(is_control) {
        return Err(Error::Backend(format!(
            "tenant export: {what} {name:?} has a control character, which the export's lines cannot hold"
        )));
    }
    Ok(())
}

/// The SELECT of one page of `source`'s rows: its key's tags, then per column its tag and
/// (for a real) the real itself; after the row whose key is `after`.
fn page_sql(source: &Source, after: Option<&[Lit]>) -> String {
    let mut select = Vec::new();
    for (i, k) in source.key.iter().enumerate() {
        select.push(format!("{} AS k{i}", tagged(k)));
    }
    for (i, c) in source.columns.iter().enumerate() {
        let c = ident(c);
        select.push(format!("{} AS t{i}", tagged(&c)));
        select.push(format!(
            "CASE WHEN typeof({c}) = 'real' THEN {c} END AS r{i}"
        ));
    }
    let mut sql = format!(
        "SELECT {} FROM {} WHERE ({})",
        select.join(", "),
        ident(&source.table),
        source.condition
    );
    if let Some(after) = after {
        let values: Vec<String> = after.iter().map(literal).collect();
        if source.key.len() == 1 {
            sql.push_str(&format!(" AND {} > {}", source.key[0], values[0]));
        } else {
            sql.push_str(&format!(
                " AND ({}) > ({})",
                source.key.join(", "),
                values.join(", ")
            ));
        }
    }
    sql.push_str(&format!(
        " ORDER BY {} LIMIT {EXPORT_PAGE_ROWS}",
        source.key.join(", ")
    ));
    sql
}

/// Appends one page's rows of `source` to `body` as INSERT lines; returns the key of its
/// last row.
fn write_page(
    source: &Source,
    rows: &[Values],
    body: &mut Vec<String>,
) -> Result<Option<Vec<Lit>>> {
    let columns: Vec<String> = source.columns.iter().map(|c| ident(c)).collect();
    let head = format!(
        "INSERT INTO {} ({}) VALUES (",
        ident(&source.table),
        columns.join(", ")
    );
    let width = source.key.len() + 2 * source.columns.len();
    let mut last = None;
    for Values(row) in rows {
        if row.len() != width {
            return Err(Error::Backend(format!(
                "tenant export: `{}`: a row of {} values, {width} expected",
                source.table,
                row.len()
            )));
        }
        let (key, cells) = row.split_at(source.key.len());
        let key: Vec<Lit> = key.iter().map(|k| untag(k, None)).collect::<Result<_>>()?;
        let values: Vec<String> = cells
            .chunks(2)
            .map(|pair| untag(&pair[0], pair.get(1)).map(|v| literal(&v)))
            .collect::<Result<_>>()?;
        let line = format!("{head}{});", values.join(", "));
        if line.len() > crate::migrate::MAX_STATEMENT_BYTES {
            let shown: Vec<String> = key.iter().map(literal).collect();
            return Err(Error::Backend(format!(
                "tenant export: the row of `{}` with {} = {} would be an INSERT of {} bytes, over D1's limit of {} for one statement; d1kit cannot export it (values are written as literals, a blob in hex at twice its size)",
                source.table,
                source.key.join(", "),
                shown.join(", "),
                line.len(),
                crate::migrate::MAX_STATEMENT_BYTES
            )));
        }
        body.push(line);
        last = Some(key);
    }
    Ok(last)
}

/// Writes every row of `tenant` in `db` (see [`rows`]) as the text of an export: a header
/// (`database`: the configured name it is recorded under, the tenant, the migrations `db`
/// has applied, the rows per table, a checksum), then one INSERT per row, parents first.
/// The format is the module's documentation. A tenant without rows gives a file without
/// statements.
pub async fn export<E: Executor + ?Sized>(
    db: &E,
    database: &str,
    layout: &Layout,
    tenant: &Tenant,
) -> Result<String> {
    one_line("the database name", database)?;
    one_line("the tenant column", &layout.tenant_column)?;
    tenant_literal(tenant)?;
    let applied = crate::migrate::read_applied(db).await?;
    let sources = sources(db, layout).await?;
    for s in &sources {
        one_line("the table name", &s.table)?;
        for c in &s.columns {
            one_line("the column name", c)?;
        }
    }
    for name in &applied.names {
        one_line("the migration name", name)?;
    }
    let value = vec![tenant.value.clone()];
    // Every table's first page in one batch: one transaction, so a tenant whose tables fit
    // in a page is read as one consistent snapshot.
    let first: Vec<Owned<Values>> = sources
        .iter()
        .map(|s| owned(page_sql(s, None), value.clone()))
        .collect();
    let pages = if first.is_empty() {
        Vec::new()
    } else {
        db.batch(first).await?
    };
    let mut body: Vec<String> = Vec::new();
    let mut tables: Vec<TableRows> = Vec::new();
    for (source, page) in sources.iter().zip(pages) {
        let before = body.len();
        let mut rows = page.rows;
        loop {
            let full = rows.len() >= EXPORT_PAGE_ROWS;
            let last = write_page(source, &rows, &mut body)?;
            match last {
                Some(key) if full => {
                    rows = db
                        .all(owned::<Values>(page_sql(source, Some(&key)), value.clone()))
                        .await?;
                }
                _ => break,
            }
        }
        let n = (body.len() - before) as u64;
        if n > 0 {
            tables.push(TableRows {
                table: source.table.clone(),
                rows: n,
            });
        }
    }
    let mut header = vec![
        FIRST_LINE.to_string(),
        format!("-- database: {database}"),
        format!("-- tenant column: {}", layout.tenant_column),
        format!("-- tenant: {}", tenant_header(tenant)?),
    ];
    for name in &applied.names {
        let sum = applied.checksums.get(name).map_or("-", String::as_str);
        header.push(format!("-- migration: {sum} {name}"));
    }
    for t in &tables {
        header.push(format!("-- rows: {} {}", t.rows, t.table));
    }
    let mut sha = Sha256::new();
    for line in header.iter().chain(&body) {
        sha.update(line.as_bytes());
        sha.update(b"\n");
    }
    header.push(format!("-- sha256: {}", sha.hex()));
    let mut out = String::with_capacity(
        header
            .iter()
            .chain(&body)
            .map(|l| l.len() + 1)
            .sum::<usize>(),
    );
    for line in header.iter().chain(&body) {
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// The header's `tenant:` value: `text KEY`, `text-hex HEX` or `integer N`.
fn tenant_header(tenant: &Tenant) -> Result<String> {
    match &tenant.value {
        Value::Text(s) if !s.contains(is_control) => Ok(format!("text {s}")),
        Value::Text(s) => Ok(format!("text-hex {}", hex(s.as_bytes()))),
        Value::Integer(i) => Ok(format!("integer {i}")),
        _ => tenant_literal(tenant),
    }
}

/// A migration an export's database had applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedMigration {
    /// Its name, as `d1_migrations` records it.
    pub name: String,
    /// The SHA-256 `d1kit_migrations` recorded for it (`None`: none recorded).
    pub sha256: Option<String>,
}

/// One statement of an export's body.
#[derive(Debug, Clone)]
struct Line<'a> {
    /// The line's number in the file (1-based).
    number: usize,
    /// The statement.
    sql: &'a str,
    table: String,
    columns: Vec<String>,
    values: Vec<&'a str>,
}

/// An export read back and checked ([`read`]): its header, and its statements.
#[derive(Debug, Clone)]
pub struct ExportFile<'a> {
    /// The format's version ([`EXPORT_FORMAT`]).
    pub format: u32,
    /// The configured name of the database it was exported from.
    pub database: String,
    /// The tenant column.
    pub tenant_column: String,
    /// The tenant: its key, and its value (text or integer).
    pub tenant: Tenant,
    /// The migrations its database had applied, in order.
    pub migrations: Vec<ExportedMigration>,
    /// Its rows per table, in the order they are written.
    pub tables: Vec<TableRows>,
    /// The checksum the file carries (and matches).
    pub sha256: String,
    lines: Vec<Line<'a>>,
}

impl ExportFile<'_> {
    /// How many rows (statements) it holds.
    pub fn rows(&self) -> u64 {
        self.lines.len() as u64
    }

    /// The bytes of SQL its statements send.
    pub fn bytes(&self) -> usize {
        self.lines.iter().map(|l| l.sql.len()).sum()
    }
}

fn damaged(why: impl std::fmt::Display) -> Error {
    Error::Backend(format!(
        "tenant import: the file is not a usable d1kit tenant export: {why}"
    ))
}

/// Reads an export's text: its header, its checksum (which must match: a changed character
/// anywhere is refused) and the shape of every statement. Changes nothing anywhere.
pub fn read(text: &str) -> Result<ExportFile<'_>> {
    let mut lines: Vec<&str> = text.split('\n').collect();
    if lines.last() == Some(&"") {
        lines.pop();
    }
    let lines: Vec<&str> = lines
        .into_iter()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    match lines.first() {
        Some(&FIRST_LINE) => {}
        Some(first) if first.starts_with("-- d1kit tenant export, format ") => {
            return Err(damaged(format!(
                "it is in {}, this d1kit reads format {EXPORT_FORMAT}",
                &first[3..].trim_start_matches("d1kit tenant export, ")
            )))
        }
        _ => return Err(damaged(format!("its first line is not `{FIRST_LINE}`"))),
    }
    let header_len = lines.iter().take_while(|l| l.starts_with("-- ")).count();
    let (mut database, mut column, mut tenant, mut sha256) = (None, None, None, None);
    let mut migrations = Vec::new();
    let mut declared: Vec<TableRows> = Vec::new();
    let mut sha = Sha256::new();
    for (i, line) in lines.iter().enumerate() {
        if i < header_len {
            if let Some(sum) = line.strip_prefix("-- sha256: ") {
                sha256 = Some(sum.to_string());
                continue;
            }
        }
        sha.update(line.as_bytes());
        sha.update(b"\n");
    }
    let Some(sha256) = sha256 else {
        return Err(damaged("its header has no `sha256` line"));
    };
    if sha.hex() != sha256.to_ascii_lowercase() {
        return Err(damaged(
            "its checksum does not match its content (sha256): it was changed or cut short after the export",
        ));
    }
    for (i, line) in lines[1..header_len].iter().enumerate() {
        let bad = |what: &str| damaged(format!("line {}: {what}", i + 2));
        let Some((key, value)) = line[3..].split_once(": ") else {
            return Err(bad("a header line without `key: value`"));
        };
        match key {
            "database" => database = Some(value.to_string()),
            "tenant column" => column = Some(value.to_string()),
            "tenant" => {
                let t = if let Some(key) = value.strip_prefix("text ") {
                    Tenant {
                        key: key.to_string(),
                        value: Value::Text(key.to_string()),
                    }
                } else if let Some(hexed) = value.strip_prefix("text-hex ") {
                    let key = unhex(hexed)
                        .and_then(|b| String::from_utf8(b).ok())
                        .ok_or_else(|| bad("the tenant's hex is not UTF-8 text"))?;
                    Tenant {
                        key: key.clone(),
                        value: Value::Text(key),
                    }
                } else if let Some(n) = value.strip_prefix("integer ") {
                    let n: i64 = n.parse().map_err(|_| bad("the tenant is not an integer"))?;
                    Tenant {
                        key: n.to_string(),
                        value: Value::Integer(n),
                    }
                } else {
                    return Err(bad("the tenant is neither `text` nor `integer`"));
                };
                tenant = Some(t);
            }
            "migration" => {
                let (sum, name) = value
                    .split_once(' ')
                    .ok_or_else(|| bad("a migration without a name"))?;
                migrations.push(ExportedMigration {
                    name: name.to_string(),
                    sha256: (sum != "-").then(|| sum.to_string()),
                });
            }
            "rows" => {
                let (n, table) = value
                    .split_once(' ')
                    .ok_or_else(|| bad("`rows` without a table"))?;
                declared.push(TableRows {
                    table: table.to_string(),
                    rows: n.parse().map_err(|_| bad("`rows` is not a number"))?,
                });
            }
            _ => {}
        }
    }
    let (Some(database), Some(tenant_column), Some(tenant)) = (database, column, tenant) else {
        return Err(damaged(
            "its header lacks the database, the tenant column or the tenant",
        ));
    };
    let mut body = Vec::with_capacity(lines.len() - header_len);
    let mut tables: Vec<TableRows> = Vec::new();
    for (i, sql) in lines.iter().enumerate().skip(header_len) {
        let Some((table, columns, values)) = parse_insert(sql) else {
            return Err(damaged(format!(
                "line {}: not an `INSERT INTO \"table\" (..) VALUES (..);` of one row",
                i + 1
            )));
        };
        if columns.len() != values.len() {
            return Err(damaged(format!(
                "line {}: {} columns and {} values",
                i + 1,
                columns.len(),
                values.len()
            )));
        }
        match tables.last_mut() {
            Some(t) if t.table == table => t.rows += 1,
            _ => tables.push(TableRows {
                table: table.clone(),
                rows: 1,
            }),
        }
        body.push(Line {
            number: i + 1,
            sql,
            table,
            columns,
            values,
        });
    }
    if tables != declared {
        return Err(damaged(
            "its statements do not hold the rows per table its header lists",
        ));
    }
    Ok(ExportFile {
        format: EXPORT_FORMAT,
        database,
        tenant_column,
        tenant,
        migrations,
        tables,
        sha256,
        lines: body,
    })
}

/// `"name"` at the start of `s`: the name, and what follows.
fn parse_ident(s: &str) -> Option<(String, &str)> {
    let s = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            out.push(c);
        } else if s[i + 1..].starts_with('"') {
            out.push('"');
            chars.next();
        } else {
            return Some((out, &s[i + 1..]));
        }
    }
    None
}

/// The table, columns and value literals of a line as [`export`] writes it.
fn parse_insert(line: &str) -> Option<(String, Vec<String>, Vec<&str>)> {
    let rest = line.strip_prefix("INSERT INTO ")?;
    let (table, rest) = parse_ident(rest)?;
    let mut rest = rest.strip_prefix(" (")?;
    let mut columns = Vec::new();
    loop {
        let (column, after) = parse_ident(rest)?;
        columns.push(column);
        if let Some(after) = after.strip_prefix(", ") {
            rest = after;
        } else {
            rest = after.strip_prefix(") VALUES (")?;
            break;
        }
    }
    let values = split_values(rest.strip_suffix(");")?)?;
    Some((table, columns, values))
}

/// The comma-separated literals of a VALUES list (commas inside quotes or parentheses kept).
fn split_values(s: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut start) = (0usize, false, 0);
    for (i, b) in s.bytes().enumerate() {
        if quoted {
            // `''` inside a string closes and opens it again: the same thing.
            quoted = b != b'\'';
            continue;
        }
        match b {
            b'\'' => quoted = true,
            b'(' => depth += 1,
            b')' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted || depth != 0 {
        return None;
    }
    out.push(s[start..].trim());
    Some(out)
}

/// What [`import`] will do, every check passed: the file, the tenant's rows already in the
/// database (deleted first, with `replace`), and how it is written.
#[derive(Debug, Clone)]
pub struct ImportPlan<'a> {
    /// The file, read and checked.
    pub file: ExportFile<'a>,
    /// The tenant's rows in the database now, per table (see [`rows`]).
    pub existing: Vec<TableRows>,
    /// Whether an earlier import or delete left the tenant fenced (it was stopped midway).
    pub fenced: bool,
    /// Whether it is written in one batch (one transaction); else fenced and in chunks.
    pub one_batch: bool,
}

/// What [`import`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Rows written per table, in the order they were written.
    pub inserted: Vec<TableRows>,
    /// The tenant's rows deleted first (with `replace`), per table.
    pub deleted: Vec<TableRows>,
    /// Batches (transactions) sent.
    pub batches: usize,
    /// Whether the tenant was fenced and written in chunks.
    pub chunked: bool,
}

/// The first difference between the migrations `db` has applied and the file's, if any.
fn migrations_differ(file: &[ExportedMigration], db: &crate::migrate::Applied) -> Option<String> {
    let mut why = Vec::new();
    let lacking: Vec<String> = file
        .iter()
        .filter(|m| !db.names.contains(&m.name))
        .map(|m| format!("`{}`", m.name))
        .collect();
    if !lacking.is_empty() {
        why.push(format!(
            "the database has not applied {} (the file's database had)",
            lacking.join(", ")
        ));
    }
    let extra: Vec<String> = db
        .names
        .iter()
        .filter(|n| !file.iter().any(|m| &m.name == *n))
        .map(|n| format!("`{n}`"))
        .collect();
    if !extra.is_empty() {
        why.push(format!(
            "the database has applied {}, which the file's database had not",
            extra.join(", ")
        ));
    }
    for m in file {
        if let (Some(theirs), Some(ours)) = (&m.sha256, db.checksums.get(&m.name)) {
            if !theirs.eq_ignore_ascii_case(ours) {
                why.push(format!(
                    "migration `{}` differs (sha256 {} in the file, {} in the database)",
                    m.name, theirs, ours
                ));
            }
        }
    }
    if why.is_empty() && file.iter().map(|m| &m.name).ne(db.names.iter()) {
        why.push("the same migrations were applied in another order".to_string());
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Every check [`import`] makes, changing nothing: the file ([`read`]), that it is
/// `database`'s and `tenant`'s, that every row of a table with the tenant column carries
/// the tenant's value and every table is one of the tenant's here, that `db` has applied the
/// same migrations, and that the tenant has no rows in `db` unless `replace`.
pub async fn plan_import<'a, E: Executor + ?Sized>(
    db: &E,
    database: &str,
    layout: &Layout,
    tenant: &Tenant,
    text: &'a str,
    replace: bool,
) -> Result<ImportPlan<'a>> {
    let refuse = |why: String| Error::Backend(format!("tenant import: {why}"));
    let file = read(text)?;
    if file.database != database {
        return Err(refuse(format!(
            "the file was exported from database `{}`, not `{database}`",
            file.database
        )));
    }
    if !file
        .tenant_column
        .eq_ignore_ascii_case(&layout.tenant_column)
    {
        return Err(refuse(format!(
            "the file's tenant column is `{}`, this database's `{}`",
            file.tenant_column, layout.tenant_column
        )));
    }
    if file.tenant.key != tenant.key {
        return Err(refuse(format!(
            "the file holds tenant `{}`, not `{}`",
            file.tenant.key.escape_debug(),
            tenant.key.escape_debug()
        )));
    }
    if file.tenant.value != tenant.value {
        return Err(refuse(format!(
            "the file holds tenant `{}` as {}, not as {}",
            file.tenant.key.escape_debug(),
            file.tenant.value.kind().to_ascii_lowercase(),
            tenant.value.kind().to_ascii_lowercase()
        )));
    }
    let expected = tenant_literal(tenant)?;
    let dependents: Vec<&str> = layout.dependents.iter().map(|d| d.table.as_str()).collect();
    for line in &file.lines {
        if let Some(table) = layout.tables.iter().find(|t| t.name == line.table) {
            let at = line
                .columns
                .iter()
                .position(|c| c.eq_ignore_ascii_case(&layout.tenant_column));
            if at.map(|i| line.values[i]) != Some(expected.as_str()) {
                return Err(refuse(format!(
                    "line {} writes a row of `{}` that is not tenant `{}`'s",
                    line.number,
                    table.name,
                    tenant.key.escape_debug()
                )));
            }
        } else if !dependents.contains(&line.table.as_str()) {
            return Err(refuse(format!(
                "line {} writes to `{}`, which holds no rows of tenants in this database",
                line.number, line.table
            )));
        }
        if line.sql.len() > crate::migrate::MAX_STATEMENT_BYTES {
            return Err(refuse(format!(
                "line {} is {} bytes, over D1's limit of {} for one statement",
                line.number,
                line.sql.len(),
                crate::migrate::MAX_STATEMENT_BYTES
            )));
        }
    }
    let applied = crate::migrate::read_applied(db).await?;
    if let Some(why) = migrations_differ(&file.migrations, &applied) {
        return Err(refuse(format!(
            "the database's migrations are not the file's: {why}; import into a database at the file's migrations (or export again from one at this database's)"
        )));
    }
    let existing = rows(db, layout, tenant).await?;
    let fenced = is_fenced(db, tenant).await?;
    let present: u64 = existing.iter().map(|t| t.rows).sum();
    if present > 0 && !replace {
        let list: Vec<String> = existing
            .iter()
            .map(|t| format!("{} in `{}`", t.rows, t.table))
            .collect();
        let midway = if fenced {
            " (it is fenced: an earlier import or delete stopped midway)"
        } else {
            ""
        };
        return Err(refuse(format!(
            "tenant `{}` already has rows in this database{midway}: {}; import with replace (`--replace`) to delete them first",
            tenant.key.escape_debug(),
            list.join(", ")
        )));
    }
    let deleting = if replace { present } else { 0 };
    let one_batch = deleting + file.rows() <= ONE_BATCH_ROWS && file.bytes() <= BATCH_BYTES;
    Ok(ImportPlan {
        file,
        existing,
        fenced,
        one_batch,
    })
}

/// A batch's error, saying it was the import's and that the batch left nothing.
fn importing(e: Error, tenant: &Tenant, what: &str) -> Error {
    let what = format!("importing tenant `{}` ({what})", tenant.key.escape_debug());
    match e {
        Error::Query { message, sql } => Error::Query {
            message: format!("{what}: {message}"),
            sql,
        },
        other => other.context(&what),
    }
}

/// Writes the rows of an export (`text`, see the module's documentation) into `db`, after
/// every check of [`plan_import`]. With `replace`, the tenant's rows in `db` are deleted
/// first (in the same transaction when everything fits one batch). Running it again with
/// `replace` after a crash finishes a chunked import. Afterwards the tenant's rows are
/// counted: an error if they are not the file's (a write raced the import).
pub async fn import<E: Executor + ?Sized>(
    db: &E,
    database: &str,
    layout: &Layout,
    tenant: &Tenant,
    text: &str,
    replace: bool,
) -> Result<ImportReport> {
    let plan = plan_import(db, database, layout, tenant, text, replace).await?;
    let value = vec![tenant.value.clone()];
    let deleting = replace && !plan.existing.is_empty();
    let mut report = ImportReport {
        inserted: plan.file.tables.clone(),
        deleted: if deleting {
            plan.existing.clone()
        } else {
            Vec::new()
        },
        batches: 0,
        chunked: !plan.one_batch,
    };
    let lines = &plan.file.lines;
    if plan.one_batch {
        let mut batch: Vec<Owned<()>> = vec![into_owned(Sql::new(
            "PRAGMA defer_foreign_keys = ON",
            Vec::new(),
        ))];
        if plan.fenced {
            batch.push(into_owned(unfence(&value)));
        }
        if deleting {
            batch.extend(
                deletes(&target(layout), &[], &value, None)
                    .into_iter()
                    .map(into_owned),
            );
        }
        batch.extend(lines.iter().map(|l| owned(l.sql.to_string(), Vec::new())));
        db.batch(batch)
            .await
            .map_err(|e| importing(e, tenant, "one batch; nothing of it was written"))?;
        report.batches = 1;
        if plan.fenced {
            crate::reshard::online::lift(db, layout).await?;
        }
    } else {
        if !plan.fenced {
            crate::reshard::online::fence(db, layout, &[tenant]).await?;
        }
        if deleting {
            report.batches += delete_in_chunks(db, layout, tenant, true).await?;
        }
        let mut chunks: Vec<&[Line<'_>]> = Vec::new();
        let (mut from, mut bytes) = (0, 0);
        for (i, line) in lines.iter().enumerate() {
            if i > from && (i - from >= CHUNK_ROWS as usize || bytes + line.sql.len() > BATCH_BYTES)
            {
                chunks.push(&lines[from..i]);
                (from, bytes) = (i, 0);
            }
            bytes += line.sql.len();
        }
        chunks.push(&lines[from..]);
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let last = i + 1 == count;
            // Each chunk lifts the fence, writes and fences again, in one transaction: the
            // fence refuses the inserts too, and must hold between chunks.
            let mut batch: Vec<Owned<()>> = vec![
                into_owned(Sql::new("PRAGMA defer_foreign_keys = ON", Vec::new())),
                into_owned(unfence(&value)),
            ];
            batch.extend(chunk.iter().map(|l| owned(l.sql.to_string(), Vec::new())));
            if !last {
                batch.push(into_owned(refence(&value)));
            }
            db.batch(batch).await.map_err(|e| {
                importing(
                    e,
                    tenant,
                    &format!(
                        "chunk {} of {count}; the tenant stays fenced, partly written: import again with replace to finish",
                        i + 1
                    ),
                )
            })?;
            report.batches += 1;
        }
        crate::reshard::online::lift(db, layout).await?;
    }
    // Counted again: the tenant's rows are the file's.
    let mut found = Vec::new();
    for source in sources(db, layout).await? {
        let (n,): (i64,) = db
            .first(owned::<(i64,)>(
                format!(
                    "SELECT count(*) FROM {} WHERE ({})",
                    ident(&source.table),
                    source.condition
                ),
                value.clone(),
            ))
            .await?
            .unwrap_or((0,));
        if n > 0 {
            found.push(TableRows {
                table: source.table,
                rows: n as u64,
            });
        }
    }
    let mut want = plan.file.tables.clone();
    want.sort_by(|a, b| a.table.cmp(&b.table));
    found.sort_by(|a, b| a.table.cmp(&b.table));
    if found != want {
        let list = |t: &[TableRows]| -> String {
            let l: Vec<String> = t
                .iter()
                .map(|t| format!("{} {}", t.table, t.rows))
                .collect();
            if l.is_empty() {
                "none".to_string()
            } else {
                l.join(", ")
            }
        };
        return Err(Error::Backend(format!(
            "tenant import: tenant `{}` has other rows than the file after the import ({} here, {} in the file): a write raced the import; check the tenant, or import again with replace",
            tenant.key.escape_debug(),
            list(&found),
            list(&want)
        )));
    }
    Ok(report)
}

/// The export's checksum: SHA-256 in lower-case hex.
struct Sha256(sha2::Sha256);

impl Sha256 {
    fn new() -> Sha256 {
        Sha256(sha2::Digest::new())
    }

    fn update(&mut self, data: &[u8]) {
        sha2::Digest::update(&mut self.0, data);
    }

    fn hex(self) -> String {
        sha2::Digest::finalize(self.0)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(all(test, feature = "local"))]
mod tests {
    use super::*;
    use rusqlite::types::ValueRef;

    /// `literal(v)` evaluated by SQLite, as a [`Lit`].
    fn read_back(c: &rusqlite::Connection, v: &Lit) -> Lit {
        c.query_row(&format!("SELECT {}", literal(v)), [], |r| {
            Ok(match r.get_ref(0)? {
                ValueRef::Null => Lit::Null,
                ValueRef::Integer(i) => Lit::Integer(i),
                ValueRef::Real(f) => Lit::Real(f),
                ValueRef::Text(t) => Lit::Text(t.to_vec()),
                ValueRef::Blob(b) => Lit::Blob(b.to_vec()),
            })
        })
        .unwrap()
    }

    /// Equal to the bit: reals by their bits (so -0.0 is not 0.0), the rest by value.
    fn same(a: &Lit, b: &Lit) -> bool {
        match (a, b) {
            (Lit::Real(x), Lit::Real(y)) => x.to_bits() == y.to_bits(),
            _ => a == b,
        }
    }

    #[test]
    fn tenant_literals_read_back_exactly() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let mut values = vec![
            Lit::Null,
            Lit::Integer(0),
            Lit::Integer(i64::MIN),
            Lit::Integer(i64::MAX),
            Lit::Integer((1 << 53) - 1),
            Lit::Integer(-(1 << 53) + 1),
            Lit::Real(0.1),
            Lit::Real(-0.0),
            Lit::Real(1.0),
            Lit::Real(1e308),
            Lit::Real(f64::MAX),
            Lit::Real(f64::MIN_POSITIVE),
            Lit::Real(5e-324),
            Lit::Real(1e16),
            Lit::Real(123456789012345680000.0),
            Lit::Real(f64::INFINITY),
            Lit::Real(f64::NEG_INFINITY),
            Lit::Text(Vec::new()),
            Lit::Text(b"it's \"quoted\"".to_vec()),
            Lit::Text(b"two\nlines\r\n\tand a tab, \x7f, \x1b[31m".to_vec()),
            Lit::Text("non-ASCII: é, 日本, 🦀, \u{2028}".as_bytes().to_vec()),
            Lit::Text(b"a\0NUL".to_vec()),
            Lit::Text(vec![0xff, 0xfe, b'x']),
            Lit::Text("\n".repeat(40).into_bytes()),
            Lit::Text("x\n".repeat(100).into_bytes()),
            Lit::Text("'\n'".repeat(10).into_bytes()),
            Lit::Blob(Vec::new()),
            Lit::Blob((0..=255).collect()),
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            values.push(Lit::Real(f64::from_bits(seed)));
            values.push(Lit::Integer(seed as i64));
        }
        for v in &values {
            let lit = literal(v);
            assert!(!lit.contains(['\n', '\r', '\0']), "{lit}");
            let back = read_back(&c, v);
            let want = match v {
                Lit::Real(r) if r.is_nan() => Lit::Null,
                other => other.clone(),
            };
            assert!(
                same(&back, &want),
                "{lit}: read back as {back:?}, not {want:?}"
            );
        }
        assert_eq!(literal(&Lit::Real(1.0)), "1.0");
        assert_eq!(literal(&Lit::Real(f64::NEG_INFINITY)), "-9e999");
        assert_eq!(
            literal(&Lit::Text(b"a\nb's".to_vec())),
            "'a' || char(10) || 'b''s'"
        );
        assert_eq!(literal(&Lit::Text(b"\0".to_vec())), "CAST(X'00' AS TEXT)");
    }

    #[test]
    fn tenant_values_come_back_through_their_tags() {
        let c = crate::local::Database::open_in_memory().unwrap();
        c.connection()
            .execute_batch(
                "CREATE TABLE t (k INTEGER PRIMARY KEY, v);
                 INSERT INTO t VALUES (1, -0.0), (2, 0.1), (3, 9e999), (4, 'a' || char(0) || 'b'),
                     (5, CAST(X'FF00' AS TEXT)), (6, X'00FF'), (7, NULL), (8, -9223372036854775808),
                     (9, 1e308), (10, -9e999);",
            )
            .unwrap();
        let rows: Vec<Values> = crate::block_on(c.all(owned::<Values>(
            format!(
                "SELECT {}, CASE WHEN typeof(v) = 'real' THEN v END FROM t ORDER BY k",
                tagged("v")
            ),
            Vec::new(),
        )))
        .unwrap();
        let got: Vec<Lit> = rows
            .iter()
            .map(|Values(r)| untag(&r[0], r.get(1)).unwrap())
            .collect();
        let want = [
            Lit::Real(-0.0),
            Lit::Real(0.1),
            Lit::Real(f64::INFINITY),
            Lit::Text(b"a\0b".to_vec()),
            Lit::Text(vec![0xff, 0]),
            Lit::Blob(vec![0, 0xff]),
            Lit::Null,
            Lit::Integer(i64::MIN),
            Lit::Real(1e308),
            Lit::Real(f64::NEG_INFINITY),
        ];
        for (g, w) in got.iter().zip(&want) {
            assert!(same(g, w), "{g:?} != {w:?}");
        }
        // A real that a JSON number brought back one step off: the digits win.
        let off = Value::Real(f64::from_bits(0.1f64.to_bits() + 1));
        assert!(same(
            &untag(&Value::Text("r0.10000000000000001".into()), Some(&off)).unwrap(),
            &Lit::Real(0.1)
        ));
    }

    #[test]
    fn tenant_export_lines_split_into_their_values() {
        let line = "INSERT INTO \"we\"\"ird\" (\"a\", \"b, c\", \"d\") VALUES ('x, (y)' || char(10) || '''', CAST(X'00' AS TEXT), -9e999);";
        let (table, columns, values) = parse_insert(line).unwrap();
        assert_eq!(table, "we\"ird");
        assert_eq!(columns, ["a", "b, c", "d"]);
        assert_eq!(
            values,
            [
                "'x, (y)' || char(10) || ''''",
                "CAST(X'00' AS TEXT)",
                "-9e999"
            ]
        );
        assert!(parse_insert("INSERT INTO \"t\" (\"a\") VALUES ('open);").is_none());
        assert!(parse_insert("DELETE FROM \"t\";").is_none());
    }

    fn sample() -> String {
        let body = "INSERT INTO \"notes\" (\"id\", \"owner\") VALUES (1, 'al''ice');\n";
        let header = [
            FIRST_LINE,
            "-- database: users",
            "-- tenant column: owner",
            "-- tenant: text al'ice",
            "-- migration: - 0001_init.sql",
            "-- rows: 1 notes",
        ];
        let mut sha = Sha256::new();
        for l in header {
            sha.update(l.as_bytes());
            sha.update(b"\n");
        }
        sha.update(body.as_bytes());
        format!("{}\n-- sha256: {}\n{body}", header.join("\n"), sha.hex())
    }

    #[test]
    fn tenant_export_files_are_read_and_damage_is_refused() {
        let text = sample();
        let file = read(&text).unwrap();
        assert_eq!(file.database, "users");
        assert_eq!(file.tenant.value, Value::Text("al'ice".into()));
        assert_eq!(
            file.migrations,
            [ExportedMigration {
                name: "0001_init.sql".into(),
                sha256: None
            }]
        );
        assert_eq!(file.rows(), 1);
        // Line endings rewritten to CRLF: still the same file.
        let crlf = text.replace('\n', "\r\n");
        assert_eq!(read(&crlf).unwrap().rows(), 1);
        // One character changed, anywhere: refused.
        for (from, to) in [("(1, ", "(2, "), ("database: users", "database: usera")] {
            let err = read(&text.replacen(from, to, 1)).unwrap_err().to_string();
            assert!(err.contains("checksum does not match"), "{err}");
        }
        let cut = &text[..text.len() - 5];
        assert!(read(cut).unwrap_err().to_string().contains("checksum"));
        let newer = text.replace("format 1", "format 2");
        assert!(read(&newer).unwrap_err().to_string().contains("format 2"));
        assert!(read("SELECT 1;").is_err());
    }
}
