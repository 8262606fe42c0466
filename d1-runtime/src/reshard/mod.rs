//! Tenants moved between the databases of a pool, without loss: what `d1kit reshard` and
//! `d1kit tenant move` run, on any [`Executor`].
//!
//! A pool scopes tenants by a column (`tenant_column`): every table that has the column holds
//! rows of many tenants, and each tenant belongs on the shard the configuration routes it to
//! ([`crate::route::shard_for`], unless pinned). [`plan`] finds the tenants in the data itself
//! (the distinct values of the column in each shard) and lists the moves that bring each to
//! its shard; [`move_tenant`] makes one.
//!
//! A move never loses, duplicates or splits a tenant, whatever moment the process dies:
//! 1. Everything that can refuse the move is checked first, changing nothing: a key of a
//!    moving row (primary key or UNIQUE) that the target already holds, and rows of tables
//!    without the tenant column that reference the tenant's rows (they would stay behind).
//! 2. One batch on the target (one transaction): the tenant's rows, parents first, with every
//!    value as it is (primary keys included), and a record of the move in [`JOURNAL`]. Either
//!    the target has all of it, or nothing.
//! 3. One batch on the source: the tenant's rows deleted, children first.
//! 4. The record removed from the target.
//!
//! A run that dies after 2 leaves the record: the next [`plan`] finds it and its
//! [`Plan::unfinished`] move is finished ([`finish`]: steps 3 and 4) before anything else.
//! A run that dies before 2 committed changed nothing. Tables without the tenant column
//! belong to their shard and are never read or written.

use crate::executor::{Executor, Sql};
use crate::route::shard_for;
use crate::{Error, Result, Value};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;
pub mod renumber;

pub mod online;

/// The table, on the shard a tenant moves to, that records the move until it is complete.
pub const JOURNAL: &str = "d1kit_moves";

/// The most values one statement binds (D1's limit).
const MAX_PARAMS: usize = 100;

/// A table whose rows belong to tenants: it has the tenant column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantTable {
    /// Its name.
    pub name: String,
    /// The columns a row is copied by (generated columns left out: SQLite computes them).
    pub columns: Vec<String>,
    /// Its keys: the primary key and each UNIQUE index over plain columns.
    pub keys: Vec<Vec<String>>,
}

/// A foreign key from a table without the tenant column to a tenant table: the rows it
/// references cannot move without leaving these behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependent {
    /// The referencing table (no tenant column).
    pub table: String,
    /// Its referencing columns.
    pub columns: Vec<String>,
    /// The referenced tenant table.
    pub parent: String,
    /// The referenced columns.
    pub parent_columns: Vec<String>,
}

/// What moves in a database: its tenant tables, parents before children, and the tables that
/// would keep references to moving rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The tenant column.
    pub tenant_column: String,
    /// The tables that have it, each after the tables its foreign keys reference.
    pub tables: Vec<TenantTable>,
    /// Foreign keys into tenant tables from tables that lack the column.
    pub dependents: Vec<Dependent>,
}

/// One tenant: its key as routing sees it, and the value its rows hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    /// The key the application routes by (`shard_for(key)`): the text, or an integer's digits.
    pub key: String,
    /// The value of the tenant column (text or integer).
    pub value: Value,
}

impl Tenant {
    fn from_value(value: Value) -> Option<Tenant> {
        let key = match &value {
            Value::Text(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            _ => return None,
        };
        Some(Tenant { key, value })
    }
}

/// A move of one tenant's rows from one shard to another.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// The tenant.
    pub tenant: Tenant,
    /// Where its rows are.
    pub from: u32,
    /// Where they belong.
    pub to: u32,
}

/// The work that brings every tenant to its shard.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// Moves an earlier run committed on the target and did not finish: finished first.
    pub unfinished: Vec<Move>,
    /// The moves to make, by tenant key.
    pub moves: Vec<Move>,
    /// Per shard: how many tenants it holds now.
    pub tenants: Vec<usize>,
    /// Values of the tenant column that are no tenant key (NULL, a real, a blob): their rows
    /// stay where they are. `(shard, table, value as SQL shows it)`.
    pub strays: Vec<(u32, String, String)>,
}

/// Why a tenant was not moved. It stays whole where it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// A moving row's key is already on the target.
    KeyConflict {
        /// The table.
        table: String,
        /// The key's columns.
        columns: Vec<String>,
        /// The key's values, as SQL shows them, of the first conflicts.
        values: Vec<String>,
    },
    /// Rows of a table without the tenant column reference the tenant's rows.
    Dependents {
        /// The referencing table.
        table: String,
        /// The referenced tenant table.
        parent: String,
        /// How many rows.
        rows: i64,
    },
    /// The target refused the copy (say, a foreign key into a table of its own that lacks
    /// the referenced row); nothing was written.
    Rejected(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::KeyConflict {
                table,
                columns,
                values,
            } => write!(
                f,
                "`{table}` on the target already holds ({}) = {}",
                columns.join(", "),
                values.join(", ")
            ),
            Refusal::Dependents {
                table,
                parent,
                rows,
            } => write!(
                f,
                "{rows} row{} of `{table}`, which has no tenant column, reference the tenant's rows of `{parent}`: they would be left behind",
                if *rows == 1 { "" } else { "s" }
            ),
            Refusal::Rejected(why) => write!(f, "the target refused the rows: {why}"),
        }
    }
}

/// What a move did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every row is on the target, none on the source.
    Moved {
        /// Rows moved, over every table.
        rows: u64,
    },
    /// Nothing changed; the tenant stays whole on the source.
    Refused(Refusal),
}

/// Quotes an identifier for SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A statement built at run time, as the `'static` text queries take. Each distinct text is
/// kept once for the life of the process; a run builds a few per table.
fn statement(sql: String) -> &'static str {
    static TEXTS: Mutex<Option<HashSet<&'static str>>> = Mutex::new(None);
    let mut texts = TEXTS.lock().unwrap_or_else(|e| e.into_inner());
    let texts = texts.get_or_insert_with(HashSet::new);
    if let Some(kept) = texts.get(sql.as_str()) {
        return kept;
    }
    let kept: &'static str = Box::leak(sql.into_boxed_str());
    texts.insert(kept);
    kept
}

fn query<R>(sql: String, params: Vec<Value>) -> Sql<R> {
    Sql::new(statement(sql), params)
}

/// The placeholder of value `v` bound as parameter `n`: a BLOB travels as hex text read back
/// with `unhex(?n)`, since the REST API cannot bind bytes (every backend reads it the same).
fn placeholder(n: usize, v: &Value) -> String {
    match v {
        Value::Blob(_) => format!("unhex(?{n})"),
        _ => format!("?{n}"),
    }
}

/// The value bound for [`placeholder`].
fn bound(v: &Value) -> Value {
    match v {
        Value::Blob(b) => Value::Text(b.iter().map(|x| format!("{x:02X}")).collect()),
        other => other.clone(),
    }
}

/// `(?1, ?2, ..), (..)` for `rows`, each value's [`placeholder`], and the values bound.
fn tuples(rows: &[Vec<Value>]) -> (String, Vec<Value>) {
    let mut n = 0;
    let mut params = Vec::new();
    let text: Vec<String> = rows
        .iter()
        .map(|row| {
            let marks: Vec<String> = row
                .iter()
                .map(|v| {
                    n += 1;
                    params.push(bound(v));
                    placeholder(n, v)
                })
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    (text.join(", "), params)
}

/// One column of a foreign key, as `pragma_foreign_key_list` gives it: the key's id, the
/// referencing column, the referenced column (`None`: the parent's primary key), the parent.
type ForeignKeyPart = (i64, String, Option<String>, String);

/// Reads what moves in `db`: the tables with `tenant_column` in foreign-key order, and the
/// foreign keys into them from tables without it.
pub async fn layout<E: Executor>(db: &E, tenant_column: &str) -> Result<Layout> {
    let names: Vec<(String,)> = db
        .all(Sql::<(String,)>::new(
            "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name",
            Vec::<Value>::new(),
        ))
        .await?;
    let mut tables = Vec::new();
    let mut others = Vec::new();
    let mut foreign: BTreeMap<String, Vec<ForeignKeyPart>> = BTreeMap::new();
    for (name,) in names.into_iter().filter(|(n,)| !crate::fleet::ignored(n)) {
        let columns: Vec<(String, i64, i64)> = db
            .all(Sql::<(String, i64, i64)>::new(
                "SELECT name, hidden, pk FROM pragma_table_xinfo(?1)",
                vec![Value::Text(name.clone())],
            ))
            .await?;
        let keys: Vec<ForeignKeyPart> = db
            .all(Sql::<ForeignKeyPart>::new(
                "SELECT id, \"from\", \"to\", \"table\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
                vec![Value::Text(name.clone())],
            ))
            .await?;
        foreign.insert(name.clone(), keys);
        if !columns
            .iter()
            .any(|(c, hidden, _)| *hidden == 0 && c.eq_ignore_ascii_case(tenant_column))
        {
            others.push(name);
            continue;
        }
        let mut pk: Vec<(i64, String)> = columns
            .iter()
            .filter(|(_, _, pk)| *pk > 0)
            .map(|(c, _, pk)| (*pk, c.clone()))
            .collect();
        pk.sort();
        let mut table_keys = Vec::new();
        if !pk.is_empty() {
            table_keys.push(pk.into_iter().map(|(_, c)| c).collect::<Vec<_>>());
        }
        let indexes: Vec<(String,)> = db
            .all(Sql::<(String,)>::new(
                "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 AND origin <> 'pk'",
                vec![Value::Text(name.clone())],
            ))
            .await?;
        for (index,) in indexes {
            let cols: Vec<(Option<String>,)> = db
                .all(Sql::<(Option<String>,)>::new(
                    "SELECT name FROM pragma_index_info(?1) ORDER BY seqno",
                    vec![Value::Text(index)],
                ))
                .await?;
            // An index over an expression: a conflict there fails the copy as a whole.
            if let Some(cols) = cols.into_iter().map(|(c,)| c).collect::<Option<Vec<_>>>() {
                if !table_keys.contains(&cols) {
                    table_keys.push(cols);
                }
            }
        }
        tables.push(TenantTable {
            name,
            columns: columns
                .into_iter()
                .filter(|(_, hidden, _)| *hidden == 0)
                .map(|(c, _, _)| c)
                .collect(),
            keys: table_keys,
        });
    }
    let tenant_names: BTreeSet<String> =
        tables.iter().map(|t| t.name.to_ascii_lowercase()).collect();
    // Parents first: a table comes after every tenant table its foreign keys reference.
    let mut ordered: Vec<TenantTable> = Vec::new();
    let mut left = tables;
    while !left.is_empty() {
        let placed: BTreeSet<String> = ordered
            .iter()
            .map(|t| t.name.to_ascii_lowercase())
            .collect();
        let ready = left.iter().position(|t| {
            foreign[&t.name].iter().all(|(_, _, _, parent)| {
                let p = parent.to_ascii_lowercase();
                p == t.name.to_ascii_lowercase()
                    || !tenant_names.contains(&p)
                    || placed.contains(&p)
            })
        });
        // A cycle of foreign keys: any order does, the copy defers its checks to the commit.
        ordered.push(left.remove(ready.unwrap_or(0)));
    }
    let mut dependents = Vec::new();
    for table in others {
        let mut by_id: BTreeMap<i64, Dependent> = BTreeMap::new();
        for (id, from, to, parent) in &foreign[&table] {
            let Some(p) = ordered.iter().find(|t| t.name.eq_ignore_ascii_case(parent)) else {
                continue;
            };
            let d = by_id.entry(*id).or_insert_with(|| Dependent {
                table: table.clone(),
                columns: Vec::new(),
                parent: p.name.clone(),
                parent_columns: Vec::new(),
            });
            d.columns.push(from.clone());
            // `REFERENCES parent` alone names the parent's primary key.
            let to = to.clone().or_else(|| {
                p.keys
                    .first()
                    .and_then(|k| k.get(d.parent_columns.len()).cloned())
            });
            d.parent_columns.push(to.unwrap_or_else(|| "rowid".into()));
        }
        dependents.extend(by_id.into_values());
    }
    Ok(Layout {
        tenant_column: tenant_column.to_string(),
        tables: ordered,
        dependents,
    })
}

/// The tenants whose rows `db` holds, by key, and the values of the tenant column that are no
/// tenant (`(table, value)`).
pub async fn tenants<E: Executor>(
    db: &E,
    layout: &Layout,
) -> Result<(BTreeMap<String, Tenant>, Vec<(String, String)>)> {
    let mut found = BTreeMap::new();
    let mut strays = Vec::new();
    let column = ident(&layout.tenant_column);
    for table in &layout.tables {
        let rows: Vec<(Value,)> = db
            .all(query::<(Value,)>(
                format!("SELECT DISTINCT {column} FROM {}", ident(&table.name)),
                Vec::new(),
            ))
            .await?;
        for (value,) in rows {
            match Tenant::from_value(value.clone()) {
                Some(t) => {
                    found.entry(t.key.clone()).or_insert(t);
                }
                None => strays.push((table.name.clone(), value.to_string())),
            }
        }
    }
    Ok((found, strays))
}

/// The moves an earlier run recorded on `db` (shard `to`) and did not finish.
pub async fn journal<E: Executor>(db: &E, to: u32) -> Result<Vec<Move>> {
    let exists: Option<(i64,)> = db
        .first(Sql::<(i64,)>::new(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            vec![Value::Text(JOURNAL.into())],
        ))
        .await?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Value, i64)> = db
        .all(Sql::<(String, Value, i64)>::new(
            "SELECT tenant, value, from_shard FROM d1kit_moves ORDER BY tenant",
            Vec::<Value>::new(),
        ))
        .await?;
    Ok(rows
        .into_iter()
        .map(|(key, value, from)| Move {
            tenant: Tenant { key, value },
            from: u32::try_from(from).unwrap_or(u32::MAX),
            to,
        })
        .collect())
}

/// Where `tenant` belongs: its pin when it has one, else its hash over `shards`.
pub fn destination(tenant: &str, shards: u32, pin: Option<u32>) -> u32 {
    pin.unwrap_or_else(|| shard_for(tenant.as_bytes(), shards))
}

/// The plan for a pool whose shard `i` is `dbs[i]`: the first `shards` are the pool the
/// configuration routes to, any further ones are retired and drained. `pin` gives a tenant's
/// pinned shard, if any.
pub async fn plan<E: Executor>(
    dbs: &[E],
    shards: u32,
    layout: &Layout,
    pin: impl Fn(&str) -> Option<u32>,
) -> Result<Plan> {
    let mut out = Plan::default();
    for (i, db) in dbs.iter().enumerate() {
        let here = i as u32;
        out.unfinished.extend(journal(db, here).await?);
        let (found, strays) = tenants(db, layout).await?;
        out.tenants.push(found.len());
        out.strays
            .extend(strays.into_iter().map(|(t, v)| (here, t, v)));
        for (key, tenant) in found {
            let to = destination(&key, shards, pin(&key));
            if to != here {
                out.moves.push(Move {
                    tenant,
                    from: here,
                    to,
                });
            }
        }
    }
    // A tenant whose unfinished move is finished first is planned from where it is now.
    let unfinished: HashSet<(String, u32)> = out
        .unfinished
        .iter()
        .map(|m| (m.tenant.key.clone(), m.from))
        .collect();
    out.moves
        .retain(|m| !unfinished.contains(&(m.tenant.key.clone(), m.from)));
    out.moves
        .sort_by(|a, b| a.tenant.key.cmp(&b.tenant.key).then(a.from.cmp(&b.from)));
    Ok(out)
}

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
        let at: Vec<usize> = key
            .iter()
            .filter_map(|k| table.columns.iter().position(|c| c.eq_ignore_ascii_case(k)))
            .collect();
        if at.len() != key.len() {
            continue; // a key over a generated column: the copy's own check covers it
        }
        // NULL is never equal to NULL: such keys cannot conflict.
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
                "SELECT {} FROM {} WHERE ({}) IN (VALUES {tuples}) LIMIT 5",
                columns.join(", "),
                ident(&table.name),
                columns.join(", "),
            );
            let hits: Vec<crate::row::Values> =
                target.all(query::<crate::row::Values>(sql, params)).await?;
            found.extend(hits.into_iter().map(|r| {
                let v: Vec<String> = r.0.iter().map(Value::to_string).collect();
                if v.len() == 1 {
                    v[0].clone()
                } else {
                    format!("({})", v.join(", "))
                }
            }));
            if found.len() >= 5 {
                break;
            }
        }
        if !found.is_empty() {
            return Ok(Some(Refusal::KeyConflict {
                table: table.name.clone(),
                columns: key.clone(),
                values: found,
            }));
        }
    }
    Ok(None)
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
/// through a directory ([`online::Online`]) it routes a tenant to its target once the copy is
/// committed, before the source's rows are deleted, and serves a refused tenant again.
#[allow(async_fn_in_trait)] // not Send: workers-rs types are !Send
pub trait Reroute {
    /// Whether sources hold fences (see [`online`]) to lift as the tenants' rows are deleted.
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
pub const GROUP: usize = 32;

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
    move_tenants_via(layout, moves, source, target, &Offline).await
}

/// [`move_tenants`], telling `reroute` of each step.
pub async fn move_tenants_via<S: Executor, T: Executor, R: Reroute>(
    layout: &Layout,
    moves: &[Move],
    source: &S,
    target: &T,
    reroute: &R,
) -> Result<Vec<Outcome>> {
    let outcomes = copy_group(layout, moves, source, target, reroute).await?;
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
) -> Result<Vec<Outcome>> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; moves.len()];
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
    let mut accepted: Vec<(usize, Vec<Vec<Vec<Value>>>)> = Vec::new();
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
            Some(r) => outcomes[i] = Some(Outcome::Refused(r)),
            None => accepted.push((i, rows)),
        }
    }
    if accepted.is_empty() {
        return Ok(outcomes.into_iter().flatten().collect());
    }
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
                    outcomes[accepted[0].0] = Some(Outcome::Refused(Refusal::Rejected(message)));
                    return Ok(outcomes.into_iter().flatten().collect());
                }
                // Alone, each tenant finds out whether it is the one refused.
                for (i, _) in &accepted {
                    let alone = Box::pin(copy_group(
                        layout,
                        std::slice::from_ref(&moves[*i]),
                        source,
                        target,
                        reroute,
                    ))
                    .await?;
                    outcomes[*i] = alone.into_iter().next();
                }
                return Ok(outcomes.into_iter().flatten().collect());
            }
            e if e.is_transient() && attempt < ATTEMPTS => attempt += 1,
            e => return Err(e),
        }
    }
    let done: Vec<Move> = accepted.iter().map(|(i, _)| moves[*i].clone()).collect();
    finish_via(layout, &done, source, target, reroute).await?;
    for ((i, _), rows) in accepted.iter().zip(counts) {
        outcomes[*i] = Some(Outcome::Moved { rows });
    }
    Ok(outcomes.into_iter().flatten().collect())
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
    let mut deletes: Vec<(&'static str, Vec<Value>)> =
        vec![("PRAGMA defer_foreign_keys = ON", Vec::new())];
    if reroute.fenced() {
        // Lifted first, in the same transaction: the fence refuses the deletes too.
        for mv in moves {
            deletes.push((online::UNFENCE, vec![mv.tenant.value.clone()]));
        }
    }
    for mv in moves {
        for table in layout.tables.iter().rev() {
            deletes.push((
                statement(format!(
                    "DELETE FROM {} WHERE {column} = ?1",
                    ident(&table.name)
                )),
                vec![mv.tenant.value.clone()],
            ));
        }
    }
    let records: Vec<(&'static str, Vec<Value>)> = moves
        .iter()
        .map(|mv| {
            (
                "DELETE FROM d1kit_moves WHERE tenant = ?1",
                vec![Value::Text(mv.tenant.key.clone())],
            )
        })
        .collect();
    let batch = |statements: &[(&'static str, Vec<Value>)]| {
        statements
            .iter()
            .map(|(sql, params)| Sql::<()>::new(sql, params.clone()))
            .collect::<Vec<_>>()
    };
    again(|| source.batch(batch(&deletes))).await?;
    again(|| target.batch(batch(&records))).await?;
    Ok(())
}

/// What happened to one shard in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardReport {
    /// Tenants moved onto it.
    pub tenants_in: usize,
    /// Tenants moved off it.
    pub tenants_out: usize,
    /// Rows moved onto it.
    pub rows_in: u64,
    /// Rows moved off it.
    pub rows_out: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Per shard, by index.
    pub shards: Vec<ShardReport>,
    /// Unfinished moves of an earlier run that this one finished.
    pub finished: Vec<Move>,
    /// Moves made, with the rows each moved.
    pub moved: Vec<(Move, u64)>,
    /// Moves refused: each tenant stays whole where it was.
    pub refused: Vec<(Move, Refusal)>,
    /// Moves that failed with an error: each tenant stays whole on one shard (a rerun
    /// resumes).
    pub failed: Vec<(Move, String)>,
}

impl Report {
    /// Adds what happened to `mv`: moved (counted per shard), refused, or failed.
    pub fn record(&mut self, mv: Move, outcome: std::result::Result<Outcome, String>) {
        match outcome {
            Ok(Outcome::Moved { rows }) => {
                let (from, to) = (mv.from as usize, mv.to as usize);
                if let Some(s) = self.shards.get_mut(from) {
                    s.tenants_out += 1;
                    s.rows_out += rows;
                }
                if let Some(s) = self.shards.get_mut(to) {
                    s.tenants_in += 1;
                    s.rows_in += rows;
                }
                self.moved.push((mv, rows));
            }
            Ok(Outcome::Refused(r)) => self.refused.push((mv, r)),
            Err(e) => self.failed.push((mv, e)),
        }
    }

    /// Rows moved in all.
    pub fn rows(&self) -> u64 {
        self.moved.iter().map(|(_, n)| n).sum()
    }
}

/// `moves` in groups [`move_tenants`] takes: same source and target, at most [`GROUP`]
/// tenants each, which may run at once. Then the moves of tenants with rows on several shards
/// (split by writes after a change of `shards`), each group of one, to run after the others
/// and one after the other: they share a target and a record.
pub fn groups(moves: &[Move]) -> (Vec<Vec<Move>>, Vec<Vec<Move>>) {
    let mut per_tenant: BTreeMap<&str, usize> = BTreeMap::new();
    for mv in moves {
        *per_tenant.entry(mv.tenant.key.as_str()).or_default() += 1;
    }
    let mut by_pair: BTreeMap<(u32, u32), Vec<Move>> = BTreeMap::new();
    let mut split = Vec::new();
    for mv in moves {
        if per_tenant[mv.tenant.key.as_str()] > 1 {
            split.push(vec![mv.clone()]);
        } else {
            by_pair
                .entry((mv.from, mv.to))
                .or_default()
                .push(mv.clone());
        }
    }
    let parallel = by_pair
        .into_values()
        .flat_map(|moves| {
            moves
                .chunks(GROUP)
                .map(<[Move]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect();
    (parallel, split)
}

/// Brings every tenant of the pool `dbs` to its shard (see [`plan`]), one group of moves at a
/// time ([`groups`]): unfinished moves first, then the plan. `each` is told of every move as it ends. A refused
/// or failed move is reported and the run goes on with the others.
pub async fn run<E: Executor>(
    dbs: &[E],
    shards: u32,
    layout: &Layout,
    pin: impl Fn(&str) -> Option<u32>,
    mut each: impl FnMut(&Move),
) -> Result<Report> {
    let plan = plan(dbs, shards, layout, pin).await?;
    let mut report = Report {
        shards: vec![ShardReport::default(); dbs.len()],
        ..Report::default()
    };
    let at = |i: u32| dbs.get(i as usize);
    let (parallel, split) = groups(&plan.unfinished);
    for group in parallel.into_iter().chain(split) {
        let first = &group[0];
        let result = match (at(first.from), at(first.to)) {
            (Some(source), Some(target)) => finish(layout, &group, source, target)
                .await
                .map_err(|e| e.to_string()),
            _ => Err(format!(
                "shard {} of its record is not in the pool",
                first.from
            )),
        };
        for mv in group {
            match &result {
                Ok(()) => report.finished.push(mv.clone()),
                Err(e) => report.failed.push((mv.clone(), e.clone())),
            }
            each(&mv);
        }
    }
    let (parallel, split) = groups(&plan.moves);
    for group in parallel.into_iter().chain(split) {
        let first = &group[0];
        let (Some(source), Some(target)) = (at(first.from), at(first.to)) else {
            for mv in group {
                report
                    .failed
                    .push((mv.clone(), format!("shard {} is not in the pool", mv.to)));
                each(&mv);
            }
            continue;
        };
        match move_tenants(layout, &group, source, target).await {
            Ok(outcomes) => {
                for (mv, outcome) in group.into_iter().zip(outcomes) {
                    report.record(mv.clone(), Ok(outcome));
                    each(&mv);
                }
            }
            Err(e) => {
                for mv in group {
                    report.record(mv.clone(), Err(e.to_string()));
                    each(&mv);
                }
            }
        }
    }
    Ok(report)
}
