//! Steps 1 to 4 of a move (see the parent module): the checks that can refuse it, the copy
//! with its record, the deletes, the record removed; and [`Reroute`], what a move tells the
//! routing between them.

use super::renumber::{Conflict, Renumbered};
use super::{
    ident, journal, query, statement, tuples, Layout, Move, Outcome, Refusal, Tenant, TenantTable,
    MAX_PARAMS,
};
use crate::executor::{Executor, Sql};
use crate::{Error, Result, Value};
use std::collections::BTreeMap;

/// The rows of each of `tenants` in each tenant table of `db`, in `layout`'s order: per
/// tenant, per table, its rows. One query per table for up to 100 tenants.
async fn rows_of<E: Executor>(
    db: &E,
    layout: &Layout,
    tenants: &[&Tenant],
) -> Result<Vec<Vec<Vec<Vec<Value>>>>> {
    let column = ident(&layout.tenant_column);
    let mut out = vec![vec![Vec::new(); layout.tables.len()]; tenants.len()];
    let index: BTreeMap<&str, usize> = tenants
        .iter()
        .enumerate()
        .map(|(i, t)| (t.key.as_str(), i))
        .collect();
    for (t, table) in layout.tables.iter().enumerate() {
        let columns: Vec<String> = table.columns.iter().map(|c| ident(c)).collect();
        // The tenant column, once more at the end, tells whose each row is.
        for chunk in tenants.chunks(MAX_PARAMS) {
            let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("?{n}")).collect();
            let rows: Vec<crate::row::Values> = db
                .all(query::<crate::row::Values>(
                    format!(
                        "SELECT {}, {column} FROM {} WHERE {column} IN ({})",
                        columns.join(", "),
                        ident(&table.name),
                        marks.join(", ")
                    ),
                    chunk.iter().map(|t| t.value.clone()).collect(),
                ))
                .await?;
            for mut row in rows.into_iter().map(|r| r.0) {
                let owner = row.pop().and_then(Tenant::from_value);
                if let Some(&i) = owner.as_ref().and_then(|o| index.get(o.key.as_str())) {
                    out[i][t].push(row);
                }
            }
        }
    }
    Ok(out)
}

/// The first keys of `rows` that `target` already holds in `table`, if any.
async fn conflicts<E: Executor>(
    target: &E,
    table: &TenantTable,
    rows: &[Vec<Value>],
) -> Result<Option<Refusal>> {
    for key in &table.keys {
        let found = held(target, table, key, rows, Some(5)).await?;
        if !found.is_empty() {
            let values = found
                .iter()
                .map(|k| {
                    let v: Vec<String> = k.iter().map(Value::to_string).collect();
                    if v.len() == 1 {
                        v[0].clone()
                    } else {
                        format!("({})", v.join(", "))
                    }
                })
                .collect();
            return Ok(Some(Refusal::KeyConflict {
                table: table.name.clone(),
                columns: key.clone(),
                values,
            }));
        }
    }
    Ok(None)
}

/// The values of `key` (columns of `table`) among `rows` that `target` already holds, at most
/// `limit` of them. A key over a generated column is not looked up (the copy's own check
/// covers it), and NULL is never equal to NULL: such keys cannot conflict.
async fn held<T: Executor>(
    target: &T,
    table: &TenantTable,
    key: &[String],
    rows: &[Vec<Value>],
    limit: Option<usize>,
) -> Result<Vec<Vec<Value>>> {
    let at: Vec<usize> = key
        .iter()
        .filter_map(|k| table.columns.iter().position(|c| c.eq_ignore_ascii_case(k)))
        .collect();
    if at.len() != key.len() {
        return Ok(Vec::new());
    }
    let values: Vec<Vec<Value>> = rows
        .iter()
        .map(|r| at.iter().map(|&i| r[i].clone()).collect::<Vec<_>>())
        .filter(|k| !k.iter().any(|v| matches!(v, Value::Null)))
        .collect();
    let per = (MAX_PARAMS / key.len()).max(1);
    let columns: Vec<String> = key.iter().map(|c| ident(c)).collect();
    let mut found = Vec::new();
    for chunk in values.chunks(per) {
        let (tuples, params) = tuples(chunk);
        let sql = format!(
            "SELECT {} FROM {} WHERE ({}) IN (VALUES {tuples}){}",
            columns.join(", "),
            ident(&table.name),
            columns.join(", "),
            limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default()
        );
        let hits: Vec<crate::row::Values> =
            target.all(query::<crate::row::Values>(sql, params)).await?;
        found.extend(hits.into_iter().map(|r| r.0));
        if limit.is_some_and(|n| found.len() >= n) {
            break;
        }
    }
    Ok(found)
}

/// Every key of `rows` that `target` already holds in `table`, per key of the table that has
/// any: what [`super::renumber::renumber`] gives new ids, with the first id free on both
/// shards for a key of one column.
async fn taken<S: Executor, T: Executor>(
    source: &S,
    target: &T,
    table: &TenantTable,
    rows: &[Vec<Value>],
) -> Result<Vec<Conflict>> {
    let mut out = Vec::new();
    for key in &table.keys {
        let found = held(target, table, key, rows, None).await?;
        if found.is_empty() {
            continue;
        }
        let mut next_free = 0;
        if let [column] = key.as_slice() {
            let column = ident(column);
            let high = largest(source, table, &column)
                .await?
                .max(largest(target, table, &column).await?);
            next_free = high.saturating_add(1);
        }
        out.push(Conflict {
            table: table.name.clone(),
            columns: key.clone(),
            values: found,
            next_free,
        });
    }
    Ok(out)
}

/// The largest integer `column` (quoted) of `table` holds in `db`, or its AUTOINCREMENT
/// sequence if higher: ids above it were never given there.
async fn largest<E: Executor>(db: &E, table: &TenantTable, column: &str) -> Result<i64> {
    let name = ident(&table.name);
    let (max,): (i64,) = db
        .first(query::<(i64,)>(
            format!(
                "SELECT coalesce(max({column}), 0) FROM {name} WHERE typeof({column}) = 'integer'"
            ),
            Vec::new(),
        ))
        .await?
        .unwrap_or((0,));
    let sequences: Option<(i64,)> = db
        .first(query::<(i64,)>(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_sequence'".to_owned(),
            Vec::new(),
        ))
        .await?;
    if sequences.is_none_or(|(n,)| n == 0) {
        return Ok(max);
    }
    let seq: Option<(i64,)> = db
        .first(query::<(i64,)>(
            "SELECT seq FROM sqlite_sequence WHERE name = ?1".to_owned(),
            vec![Value::Text(table.name.clone())],
        ))
        .await?;
    Ok(max.max(seq.map_or(0, |(s,)| s)))
}

/// Rows of tables without the tenant column that reference `tenant`'s rows in `source`.
async fn dependents<E: Executor>(
    source: &E,
    layout: &Layout,
    tenant: &Tenant,
) -> Result<Option<Refusal>> {
    for d in &layout.dependents {
        let cols: Vec<String> = d.columns.iter().map(|c| ident(c)).collect();
        let parent_cols: Vec<String> = d.parent_columns.iter().map(|c| ident(c)).collect();
        let sql = format!(
            "SELECT count(*) FROM {} WHERE ({}) IN (SELECT {} FROM {} WHERE {} = ?1)",
            ident(&d.table),
            cols.join(", "),
            parent_cols.join(", "),
            ident(&d.parent),
            ident(&layout.tenant_column)
        );
        let (rows,): (i64,) = source
            .first(query::<(i64,)>(sql, vec![tenant.value.clone()]))
            .await?
            .unwrap_or((0,));
        if rows > 0 {
            return Ok(Some(Refusal::Dependents {
                table: d.table.clone(),
                parent: d.parent.clone(),
                rows,
            }));
        }
    }
    Ok(None)
}

/// Attempts in all of one write that fails transiently (a 5xx, a lost connection). Deletes are
/// idempotent; a copy is sent again only once its record shows it was not applied.
const ATTEMPTS: u32 = 5;

/// `write`, again after a transient error: for idempotent writes only.
async fn again<T, F: std::future::Future<Output = Result<T>>>(
    mut write: impl FnMut() -> F,
) -> Result<T> {
    let mut attempt = 1;
    loop {
        match write().await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Whether `target` holds the record of `tenant`'s move (its copy is committed).
async fn recorded<T: Executor>(target: &T, tenant: &str) -> Result<bool> {
    Ok(journal(target, 0)
        .await?
        .iter()
        .any(|m| m.tenant.key == tenant))
}

const CREATE_JOURNAL: &str = "CREATE TABLE IF NOT EXISTS d1kit_moves (tenant TEXT PRIMARY KEY, value, from_shard INTEGER NOT NULL, to_shard INTEGER NOT NULL, moved_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)";

/// What a move tells the routing between its steps. Offline ([`Offline`]) it does nothing;
/// through a directory ([`super::online::Online`]) it routes a tenant to its target once the copy is
/// committed, before the source's rows are deleted, and serves a refused tenant again.
#[allow(async_fn_in_trait)] // not Send: workers-rs types are !Send
pub trait Reroute {
    /// Whether sources hold fences (see [`super::online`]) to lift as the tenants' rows are deleted.
    fn fenced(&self) -> bool;
    /// The copies of `moves` are committed on their target: route the tenants there.
    async fn copied(&self, moves: &[Move]) -> Result<()>;
    /// `moves` were refused: each tenant stays whole where it is, and is served there again.
    async fn refused(&self, moves: &[Move]) -> Result<()>;
}

/// Moves with the application stopped: nothing to tell the routing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Offline;

impl Reroute for Offline {
    fn fenced(&self) -> bool {
        false
    }
    async fn copied(&self, _: &[Move]) -> Result<()> {
        Ok(())
    }
    async fn refused(&self, _: &[Move]) -> Result<()> {
        Ok(())
    }
}

/// Moves `mv`'s tenant from `source` (shard `mv.from`) to `target` (shard `mv.to`), or
/// refuses and changes nothing. See the module's documentation for the steps.
pub async fn move_tenant<S: Executor, T: Executor>(
    layout: &Layout,
    mv: &Move,
    source: &S,
    target: &T,
) -> Result<Outcome> {
    let mut outcomes = move_tenants(layout, std::slice::from_ref(mv), source, target).await?;
    outcomes
        .pop()
        .ok_or_else(|| Error::Backend("a move gave no outcome".into()))
}

/// The most tenants [`move_tenants`] copies in one batch: each batch is a transaction, whose
/// commit (a sync to disk locally, a request over REST) costs more than its rows.
pub const GROUP: usize = 100;

/// Moves several tenants from `source` to `target` (every move of `moves` from the same shard
/// to the same shard) with the guarantees of [`move_tenant`], their copies in one batch and
/// their deletes in another. A tenant that must be refused is left out of the group; if the
/// target still refuses the group's copy, each tenant is moved alone to find which. The
/// outcomes are in `moves`' order.
pub async fn move_tenants<S: Executor, T: Executor>(
    layout: &Layout,
    moves: &[Move],
    source: &S,
    target: &T,
) -> Result<Vec<Outcome>> {
    move_tenants_via(layout, moves, source, target, &Offline, false).await
}

/// [`move_tenants`], telling `reroute` of each step; with `renumber`, a tenant whose integer
/// keys the target already holds gets new ones instead of being refused
/// ([`super::renumber`]: the foreign keys among its rows follow, and the outcome lists each
/// old → new id).
pub async fn move_tenants_via<S: Executor, T: Executor, R: Reroute>(
    layout: &Layout,
    moves: &[Move],
    source: &S,
    target: &T,
    reroute: &R,
    renumber: bool,
) -> Result<Vec<Outcome>> {
    let outcomes = copy_group(layout, moves, source, target, reroute, renumber).await?;
    let refused: Vec<Move> = moves
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Refused(_)))
        .map(|(m, _)| m.clone())
        .collect();
    if !refused.is_empty() {
        reroute.refused(&refused).await?;
    }
    Ok(outcomes)
}

async fn copy_group<S: Executor, T: Executor, R: Reroute>(
    layout: &Layout,
    moves: &[Move],
    source: &S,
    target: &T,
    reroute: &R,
    renumber: bool,
) -> Result<Vec<Outcome>> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; moves.len()];
    let mut new_ids: Vec<Vec<Renumbered>> = vec![Vec::new(); moves.len()];
    // Ids given in this group, per table and column: the next tenant's start above them.
    let mut given: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut references = None;
    let tenants: Vec<&Tenant> = moves.iter().map(|m| &m.tenant).collect();
    let all_rows = rows_of(source, layout, &tenants).await?;
    // The keys of the whole group looked up at once; only when one is taken is each tenant
    // looked up alone, to find whose it is.
    let mut clear = true;
    for (t, table) in layout.tables.iter().enumerate() {
        let rows: Vec<Vec<Value>> = all_rows.iter().flat_map(|r| r[t].iter().cloned()).collect();
        if conflicts(target, table, &rows).await?.is_some() {
            clear = false;
            break;
        }
    }
    let mut accepted: Vec<(usize, TenantRows)> = Vec::new();
    for (i, (mv, rows)) in moves.iter().zip(all_rows).enumerate() {
        if let Some(r) = dependents(source, layout, &mv.tenant).await? {
            outcomes[i] = Some(Outcome::Refused(r));
            continue;
        }
        let mut refused = None;
        if !clear {
            for (table, rows) in layout.tables.iter().zip(&rows) {
                if let Some(r) = conflicts(target, table, rows).await? {
                    refused = Some(r);
                    break;
                }
            }
        }
        match refused {
            Some(Refusal::KeyConflict { .. }) if renumber => {
                let mut rows = rows;
                if references.is_none() {
                    references = Some(super::renumber::references(source, &layout.tables).await?);
                }
                let mut found = Vec::new();
                for (table, rows) in layout.tables.iter().zip(&rows) {
                    found.extend(taken(source, target, table, rows).await?);
                }
                for c in &mut found {
                    if let [column] = c.columns.as_slice() {
                        if let Some(&floor) = given.get(&(c.table.clone(), column.clone())) {
                            c.next_free = c.next_free.max(floor);
                        }
                    }
                }
                let refs = references.as_deref().unwrap_or_default();
                match super::renumber::renumber(&layout.tables, refs, &mut rows, &found) {
                    Ok(ids) => {
                        for id in &ids {
                            let floor = given
                                .entry((id.table.clone(), id.column.clone()))
                                .or_default();
                            *floor = (*floor).max(id.new.saturating_add(1));
                        }
                        new_ids[i] = ids;
                        accepted.push((i, rows));
                    }
                    Err(why) => {
                        outcomes[i] = Some(Outcome::Refused(Refusal::Rejected(format!(
                            "its keys cannot be renumbered: {why}"
                        ))))
                    }
                }
            }
            Some(r) => outcomes[i] = Some(Outcome::Refused(r)),
            None => accepted.push((i, rows)),
        }
    }
    if accepted.is_empty() {
        return Ok(outcomes.into_iter().flatten().collect());
    }
    // Batches of at most ROWS_PER_BATCH rows (a tenant larger than that goes alone).
    let mut batches: Vec<Vec<(usize, TenantRows)>> = vec![Vec::new()];
    let mut size = 0;
    for (i, rows) in accepted {
        let n: usize = rows.iter().map(Vec::len).sum();
        if size > 0 && size + n > ROWS_PER_BATCH {
            batches.push(Vec::new());
            size = 0;
        }
        size += n;
        if let Some(last) = batches.last_mut() {
            last.push((i, rows));
        }
    }
    for batch in batches.into_iter().filter(|b| !b.is_empty()) {
        let done = commit(layout, moves, batch, source, target, reroute, renumber).await?;
        for (i, outcome) in done {
            outcomes[i] = Some(match outcome {
                Outcome::Moved { rows, .. } => Outcome::Moved {
                    rows,
                    renumbered: std::mem::take(&mut new_ids[i]),
                },
                refused => refused,
            });
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// A tenant's rows, per tenant table in the layout's order.
type TenantRows = Vec<Vec<Vec<Value>>>;

/// The most rows one copy batch carries: more tenants wait for the next batch.
const ROWS_PER_BATCH: usize = 5_000;

/// Steps 2 to 4 for `accepted` (indexes into `moves`, with their rows): one batch copies them
/// with their records, then [`finish_via`]. A target that refuses the batch gets each tenant
/// alone, to find which one it refuses.
async fn commit<S: Executor, T: Executor, R: Reroute>(
    layout: &Layout,
    moves: &[Move],
    accepted: Vec<(usize, TenantRows)>,
    source: &S,
    target: &T,
    reroute: &R,
    renumber: bool,
) -> Result<Vec<(usize, Outcome)>> {
    // The statements as text and values, so that the batch can be sent again.
    let mut copy: Vec<(&'static str, Vec<Value>)> = vec![
        (CREATE_JOURNAL, Vec::new()),
        ("PRAGMA defer_foreign_keys = ON", Vec::new()),
    ];
    for (i, _) in &accepted {
        let mv = &moves[*i];
        copy.push((
            "INSERT INTO d1kit_moves (tenant, value, from_shard, to_shard) VALUES (?1, ?2, ?3, ?4)",
            vec![
                Value::Text(mv.tenant.key.clone()),
                mv.tenant.value.clone(),
                Value::Integer(mv.from.into()),
                Value::Integer(mv.to.into()),
            ],
        ));
    }
    let mut counts = Vec::with_capacity(accepted.len());
    for (table_index, table) in layout.tables.iter().enumerate() {
        let columns: Vec<String> = table.columns.iter().map(|c| ident(c)).collect();
        let per = (MAX_PARAMS / columns.len().max(1)).max(1);
        let rows: Vec<Vec<Value>> = accepted
            .iter()
            .flat_map(|(_, rows)| rows[table_index].iter().cloned())
            .collect();
        for chunk in rows.chunks(per) {
            let (tuples, params) = tuples(chunk);
            copy.push((
                statement(format!(
                    "INSERT INTO {} ({}) VALUES {tuples}",
                    ident(&table.name),
                    columns.join(", "),
                )),
                params,
            ));
        }
    }
    for (_, rows) in &accepted {
        counts.push(rows.iter().map(|t| t.len() as u64).sum::<u64>());
    }
    let mut attempt = 1;
    loop {
        let batch: Vec<Sql<()>> = copy
            .iter()
            .map(|(sql, params)| Sql::new(sql, params.clone()))
            .collect();
        let Err(e) = target.batch(batch).await else {
            break;
        };
        // A write that failed may still have been applied (a lost answer): the records say
        // (one batch: all of them or none).
        if recorded(target, &moves[accepted[0].0].tenant.key).await? {
            break;
        }
        match e {
            // The target said no (a constraint: a foreign key into a table it lacks the row
            // of, a CHECK, two moving tenants with one key...): nothing was written there.
            Error::Query { message, .. } if message.contains("constraint failed") => {
                if accepted.len() == 1 {
                    return Ok(vec![(
                        accepted[0].0,
                        Outcome::Refused(Refusal::Rejected(message)),
                    )]);
                }
                // Alone, each tenant finds out whether it is the one refused.
                let mut outcomes = Vec::new();
                for (i, _) in &accepted {
                    let alone = Box::pin(copy_group(
                        layout,
                        std::slice::from_ref(&moves[*i]),
                        source,
                        target,
                        reroute,
                        renumber,
                    ))
                    .await?;
                    outcomes.extend(alone.into_iter().next().map(|o| (*i, o)));
                }
                return Ok(outcomes);
            }
            e if e.is_transient() && attempt < ATTEMPTS => attempt += 1,
            e => return Err(e),
        }
    }
    let done: Vec<Move> = accepted.iter().map(|(i, _)| moves[*i].clone()).collect();
    finish_via(layout, &done, source, target, reroute).await?;
    Ok(accepted
        .iter()
        .zip(counts)
        .map(|((i, _), rows)| {
            let renumbered = Vec::new();
            (*i, Outcome::Moved { rows, renumbered })
        })
        .collect())
}

/// Steps 3 and 4 of moves whose copies are committed on `target` (all from `source`): the
/// tenants' rows deleted from `source` in one batch, then their records removed. Safe to run
/// again.
pub async fn finish<S: Executor, T: Executor>(
    layout: &Layout,
    moves: &[Move],
    source: &S,
    target: &T,
) -> Result<()> {
    finish_via(layout, moves, source, target, &Offline).await
}

/// [`finish`], routing the tenants to `target` first (and lifting their fences as their rows
/// are deleted) when `reroute` says so.
pub async fn finish_via<S: Executor, T: Executor, R: Reroute>(
    layout: &Layout,
    moves: &[Move],
    source: &S,
    target: &T,
    reroute: &R,
) -> Result<()> {
    reroute.copied(moves).await?;
    let column = ident(&layout.tenant_column);
    // One statement per table (and per 100 tenants), not per tenant: a table without an index
    // on the tenant column is scanned once per statement.
    let values: Vec<Value> = moves.iter().map(|m| m.tenant.value.clone()).collect();
    let within = |what: &str, values: &[Value]| -> Vec<(&'static str, Vec<Value>)> {
        values
            .chunks(MAX_PARAMS)
            .map(|chunk| {
                let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("?{n}")).collect();
                (
                    statement(format!("{what} IN ({})", marks.join(", "))),
                    chunk.to_vec(),
                )
            })
            .collect()
    };
    let mut deletes: Vec<(&'static str, Vec<Value>)> =
        vec![("PRAGMA defer_foreign_keys = ON", Vec::new())];
    if reroute.fenced() {
        // Lifted first, in the same transaction: the fence refuses the deletes too.
        deletes.extend(within("DELETE FROM d1kit_fence WHERE value", &values));
    }
    for table in layout.tables.iter().rev() {
        let what = format!("DELETE FROM {} WHERE {column}", ident(&table.name));
        deletes.extend(within(&what, &values));
    }
    let keys: Vec<Value> = moves
        .iter()
        .map(|m| Value::Text(m.tenant.key.clone()))
        .collect();
    let records = within("DELETE FROM d1kit_moves WHERE tenant", &keys);
    send(source, &deletes).await?;
    send(target, &records).await
}

/// A statement as text and values, so that a batch can be sent again.
pub(super) type Statement = (&'static str, Vec<Value>);

/// `statements` in one batch on `db`, sent again after a transient error: for idempotent
/// batches only.
pub(super) async fn send<E: Executor + ?Sized>(db: &E, statements: &[Statement]) -> Result<()> {
    again(|| {
        db.batch(
            statements
                .iter()
                .map(|(sql, params)| Sql::<()>::new(sql, params.clone()))
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map(drop)
}
