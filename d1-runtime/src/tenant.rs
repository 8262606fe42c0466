//! One tenant's rows in a shared database (a shard of a pool): counted and deleted, for an
//! account deletion or a legal erasure request.
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

use crate::executor::{Executor, Sql};
use crate::reshard::{ident, statement, Layout, Tenant};
use crate::{Error, Result, Value};

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
    let mut keys = Vec::new();
    if total > ONE_BATCH_ROWS {
        for (table, _) in &target.tables {
            keys.push(row_key(db, layout, table).await?);
        }
    }
    let deletes = |limit: Option<u64>| -> Vec<Sql<()>> {
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
                Sql::<()>::new(statement(sql), value.clone())
            })
            .collect()
    };
    let unfence = || Sql::<()>::new(crate::reshard::online::UNFENCE, value.clone());
    if total <= ONE_BATCH_ROWS {
        let mut batch = vec![Sql::<()>::new("PRAGMA defer_foreign_keys = ON", Vec::new())];
        if fenced {
            batch.push(unfence());
        }
        batch.extend(deletes(None));
        db.batch(batch).await?;
    } else {
        if !fenced {
            crate::reshard::online::fence(db, layout, &[tenant]).await?;
        }
        loop {
            let left: u64 = rows(db, layout, tenant).await?.iter().map(|t| t.rows).sum();
            // Each chunk lifts the fence, deletes and fences again, in one transaction: the
            // fence refuses the delete too, and must hold between chunks.
            let mut batch = vec![
                Sql::<()>::new("PRAGMA defer_foreign_keys = ON", Vec::new()),
                unfence(),
            ];
            if left <= CHUNK_ROWS {
                batch.extend(deletes(None));
                db.batch(batch).await?;
                break;
            }
            batch.extend(deletes(Some(CHUNK_ROWS)));
            batch.push(Sql::<()>::new(
                "INSERT OR IGNORE INTO d1kit_fence (value) VALUES (?1)",
                value.clone(),
            ));
            db.batch(batch).await?;
        }
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
