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
use crate::{Result, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
pub mod renumber;

mod copy;
mod layout;
pub mod online;

pub use copy::{
    finish, finish_via, move_tenant, move_tenants, move_tenants_via, Offline, Reroute, GROUP,
};
pub use layout::layout;

/// The table, on the shard a tenant moves to, that records the move until it is complete.
pub const JOURNAL: &str = "d1kit_moves";

/// The most values one statement binds (D1's limit).
const MAX_PARAMS: usize = 100;

/// Tables, indexes and triggers d1kit, wrangler or the platform keep, never the application's:
/// `d1_migrations`, `sqlite_*`, `_cf_*` and every `d1kit_*` (migrations, the reshard journal
/// and fences, a directory's pins and routing). Never moved; `d1kit drift` ignores them.
pub(crate) fn is_internal(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower == "d1_migrations"
        || lower.starts_with("d1kit_")
        || lower.starts_with("sqlite_")
        || lower.starts_with("_cf_")
}

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
        /// Keys given new ids on the way (only when renumbering was asked for).
        renumbered: Vec<renumber::Renumbered>,
    },
    /// Nothing changed; the tenant stays whole on the source.
    Refused(Refusal),
}

/// Quotes an identifier for SQL.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A statement built at run time, as the `'static` text queries take. Each distinct text is
/// kept once for the life of the process; a run builds a few per table.
pub(crate) fn statement(sql: String) -> &'static str {
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

/// Where the tenant `key` has rows: per shard of `dbs` holding any, the tenant as its rows
/// spell it (text, or an integer when the key is an integer's digits) and how many rows.
pub async fn locate<E: Executor>(
    dbs: &[E],
    layout: &Layout,
    key: &str,
) -> Result<Vec<(u32, Tenant, u64)>> {
    let column = ident(&layout.tenant_column);
    let mut values = vec![Value::Text(key.to_owned())];
    if let Some(i) = key.parse::<i64>().ok().filter(|i| i.to_string() == key) {
        values.push(Value::Integer(i));
    }
    let mut found = Vec::new();
    for (i, db) in dbs.iter().enumerate() {
        for value in &values {
            let mut rows = 0u64;
            for table in &layout.tables {
                let (n,): (i64,) = db
                    .first(query::<(i64,)>(
                        format!(
                            "SELECT count(*) FROM {} WHERE {column} = ?1",
                            ident(&table.name)
                        ),
                        vec![value.clone()],
                    ))
                    .await?
                    .unwrap_or((0,));
                rows += n.max(0) as u64;
            }
            if rows > 0 {
                let tenant = Tenant {
                    key: key.to_owned(),
                    value: value.clone(),
                };
                found.push((i as u32, tenant, rows));
            }
        }
    }
    Ok(found)
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
    /// Per renumbered tenant, its keys' old and new ids.
    pub renumbered: Vec<(String, Vec<renumber::Renumbered>)>,
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
            Ok(Outcome::Moved { rows, renumbered }) => {
                if !renumbered.is_empty() {
                    self.renumbered.push((mv.tenant.key.clone(), renumbered));
                }
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
