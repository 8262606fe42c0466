//! Moves while the application serves its tenants: through the pool's directory (the
//! `directory` key), which every router reads ([`crate::route::router`]).
//!
//! Each tenant in the directory has a state: pinned (`0`, where `d1kit tenant move` put it,
//! or where a refused move left it), held (`1`, kept on a shard during a reshard, then moved
//! to where the new size routes it) or moving (`2`, refused with
//! [`crate::Error::TenantMoving`]). A reshard from `M` to `N` shards:
//! 1. [`begin`]: the directory records `N` as the next size and starts collecting: routers
//!    refuse tenants without a pin that the two sizes route apart. After [`crate::route::router::SETTLE_MS`],
//!    no router writes such a tenant on its old shard any more, so the plan sees them all.
//! 2. [`hold`]: every tenant that moves is held where it is (served there again), then
//!    [`end_collecting`]: tenants never seen (new users) go straight to their shard under `N`.
//! 3. Per wave of groups: [`fence`] on the source (a trigger per table refuses writes to the
//!    tenants: no write lands where the copy will not see it), [`mark_moving`], wait the
//!    settle time (every router now refuses the tenants), copy ([`super::move_tenants_via`]
//!    with [`Online`]: the tenants are held on the target once their copy is committed, then
//!    their fences and rows leave the source in one transaction).
//! 4. [`flip`]: once every tenant is where `N` routes it, `N` becomes the routing size and the
//!    holds that agree with it are dropped, in one transaction; [`lift`] removes the triggers.
//!
//! A crash anywhere leaves each tenant served whole from one shard, or refused until the
//! reshard is run again: never served from a shard that lacks its rows. Every write here is
//! idempotent, so each is sent again after a transient error.

use super::copy::{send, Statement};
use super::{ident, Layout, Move, Reroute, Tenant, MAX_PARAMS};
use crate::executor::{Executor, Sql};
use crate::route::router::FENCE_MESSAGE;
use crate::route::shard_for;
use crate::{Result, Value};
use std::collections::HashMap;

/// A tenant's state in `d1kit_directory`: pinned there on purpose.
pub const PINNED: i64 = 0;
/// Held there during a reshard; it moves to where the new size routes it.
pub const HELD: i64 = 1;
/// Being moved off that shard: refused until the move ends.
pub const MOVING: i64 = 2;

/// The fences of a source shard: the tenant column's values whose writes are refused.
const FENCES: &str = "CREATE TABLE IF NOT EXISTS d1kit_fence (value PRIMARY KEY) WITHOUT ROWID";

/// Lifts a tenant's fence (in the batch that deletes its rows, before them).
pub(crate) const UNFENCE: &str = "DELETE FROM d1kit_fence WHERE value = ?1";

const BUMP: &str = "UPDATE d1kit_routing SET generation = generation + 1";

fn run_sql(sql: &'static str, params: Vec<Value>) -> Statement {
    (sql, params)
}

/// Writes `state` and `shard` for each `(tenant key, shard)` and bumps the generation, in one
/// batch (one transaction).
async fn set_state<D: Executor + ?Sized>(
    directory: &D,
    tenants: &[(String, u32)],
    state: i64,
) -> Result<()> {
    let mut batch = Vec::new();
    for chunk in tenants.chunks(MAX_PARAMS / 2) {
        let marks: Vec<String> = (0..chunk.len())
            .map(|i| format!("(?{}, ?{}, {state})", 2 * i + 1, 2 * i + 2))
            .collect();
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(t, s)| [Value::Text(t.clone()), Value::Integer(i64::from(*s))])
            .collect();
        batch.push((
            super::statement(format!(
                "INSERT INTO d1kit_directory (tenant, shard, state) VALUES {} \
                 ON CONFLICT (tenant) DO UPDATE SET shard = excluded.shard, state = excluded.state",
                marks.join(", ")
            )),
            params,
        ));
    }
    batch.push(run_sql(BUMP, Vec::new()));
    send(directory, &batch).await
}

/// Step 1: `shards` becomes the next size and routers refuse tenants the two sizes route
/// apart until they are held. Wait the settle time after it.
pub async fn begin<D: Executor + ?Sized>(directory: &D, shards: u32) -> Result<()> {
    send(
        directory,
        &[
            run_sql(
                "UPDATE d1kit_routing SET next_shards = ?1, collecting = 1",
                vec![Value::Integer(shards.into())],
            ),
            run_sql(BUMP, Vec::new()),
        ],
    )
    .await
}

/// Step 2: each tenant of `moves` held where it is (a tenant with rows on several shards,
/// split by writes after an earlier change of `shards`, is marked moving instead: it is
/// served again once whole).
pub async fn hold<D: Executor + ?Sized>(directory: &D, moves: &[Move]) -> Result<()> {
    let mut count: HashMap<&str, usize> = HashMap::new();
    for mv in moves {
        *count.entry(&mv.tenant.key).or_default() += 1;
    }
    let (split, whole): (Vec<&Move>, Vec<&Move>) =
        moves.iter().partition(|m| count[m.tenant.key.as_str()] > 1);
    let at = |ms: Vec<&Move>| -> Vec<(String, u32)> {
        ms.into_iter()
            .map(|m| (m.tenant.key.clone(), m.from))
            .collect()
    };
    set_state(directory, &at(whole), HELD).await?;
    set_state(directory, &at(split), MOVING).await
}

/// Step 2, after [`hold`]: routers send tenants without a pin to their shard under the next
/// size.
pub async fn end_collecting<D: Executor + ?Sized>(directory: &D) -> Result<()> {
    send(
        directory,
        &[
            run_sql("UPDATE d1kit_routing SET collecting = 0", Vec::new()),
            run_sql(BUMP, Vec::new()),
        ],
    )
    .await
}

/// Pins each `(tenant key, shard)` there on purpose ([`PINNED`]): a tenant without rows yet,
/// sent to a shard before it has any.
pub async fn pin<D: Executor + ?Sized>(directory: &D, tenants: &[(String, u32)]) -> Result<()> {
    set_state(directory, tenants, PINNED).await
}

/// Removes `tenant`'s entry from the directory (after its rows were deleted: a new account
/// with the same key is routed by its hash again), and bumps the generation so that routers
/// drop a cached pin. Refused while the tenant is being moved ([`MOVING`]).
pub async fn unpin<D: Executor + ?Sized>(directory: &D, tenant: &str) -> Result<()> {
    let state: Option<(i64,)> = directory
        .first(Sql::new(
            "SELECT state FROM d1kit_directory WHERE tenant = ?1",
            vec![Value::Text(tenant.to_owned())],
        ))
        .await?;
    match state {
        None => return Ok(()),
        Some((MOVING,)) => {
            return Err(crate::Error::TenantMoving {
                tenant: Some(tenant.to_owned()),
            })
        }
        Some(_) => {}
    }
    send(
        directory,
        &[
            (
                "DELETE FROM d1kit_directory WHERE tenant = ?1",
                vec![Value::Text(tenant.to_owned())],
            ),
            (BUMP, Vec::new()),
        ],
    )
    .await
}

/// The tenants pinned on purpose ([`PINNED`]): where a reshard leaves them.
pub async fn pins<D: Executor + ?Sized>(directory: &D) -> Result<HashMap<String, u32>> {
    let rows: Vec<(String, i64)> = directory
        .all(Sql::new(
            "SELECT tenant, shard FROM d1kit_directory WHERE state = 0",
            Vec::new(),
        ))
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, s)| Some((t, u32::try_from(s).ok()?)))
        .collect())
}

/// Step 3: writes to `tenants`' rows on `source` refused from now on (a trigger per table and
/// operation, created once; a row per tenant in `d1kit_fence`).
pub async fn fence<S: Executor + ?Sized>(
    source: &S,
    layout: &Layout,
    tenants: &[&Tenant],
) -> Result<()> {
    let column = ident(&layout.tenant_column);
    let mut batch = vec![run_sql(FENCES, Vec::new())];
    for table in &layout.tables {
        for (op, when) in [
            ("INSERT", format!("NEW.{column}")),
            (
                "UPDATE",
                format!(
                    "OLD.{column}) OR EXISTS (SELECT 1 FROM d1kit_fence WHERE value = NEW.{column}"
                ),
            ),
            ("DELETE", format!("OLD.{column}")),
        ] {
            batch.push(run_sql(
                super::statement(format!(
                    "CREATE TRIGGER IF NOT EXISTS {} BEFORE {op} ON {} WHEN EXISTS (SELECT 1 FROM d1kit_fence WHERE value = {when}) BEGIN SELECT RAISE(ABORT, '{FENCE_MESSAGE}'); END",
                    ident(&format!("d1kit_fence_{}_{}", table.name, op.to_ascii_lowercase())),
                    ident(&table.name),
                )),
                Vec::new(),
            ));
        }
    }
    for chunk in tenants.chunks(MAX_PARAMS) {
        let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("(?{n})")).collect();
        batch.push((
            super::statement(format!(
                "INSERT OR IGNORE INTO d1kit_fence (value) VALUES {}",
                marks.join(", ")
            )),
            chunk
                .iter()
                .map(|t| t.value.clone())
                .collect::<Vec<Value>>(),
        ));
    }
    send(source, &batch).await
}

/// Step 3: `moves`' tenants refused by every router once the settle time has passed.
pub async fn mark_moving<D: Executor + ?Sized>(directory: &D, moves: &[Move]) -> Result<()> {
    let at: Vec<(String, u32)> = moves
        .iter()
        .map(|m| (m.tenant.key.clone(), m.from))
        .collect();
    set_state(directory, &at, MOVING).await
}

/// Step 4: when no tenant is held or moving on a shard other than where `shards` routes it,
/// `shards` becomes the routing size and the holds that agree with it are dropped, in one
/// transaction. Returns the tenants still held or moving elsewhere (then nothing changed).
pub async fn flip<D: Executor + ?Sized>(directory: &D, shards: u32) -> Result<Vec<String>> {
    let rows: Vec<(String, i64, i64)> = directory
        .all(Sql::new(
            "SELECT tenant, shard, state FROM d1kit_directory WHERE state <> 0",
            Vec::new(),
        ))
        .await?;
    let mut agree = Vec::new();
    let mut elsewhere = Vec::new();
    for (tenant, shard, state) in rows {
        let home = i64::from(shard_for(tenant.as_bytes(), shards));
        if state == HELD && shard == home {
            agree.push(Value::Text(tenant));
        } else {
            elsewhere.push(tenant);
        }
    }
    if !elsewhere.is_empty() {
        return Ok(elsewhere);
    }
    let mut batch = vec![run_sql(
        "UPDATE d1kit_routing SET shards = ?1, next_shards = NULL, collecting = 0",
        vec![Value::Integer(shards.into())],
    )];
    for chunk in agree.chunks(MAX_PARAMS) {
        let marks: Vec<String> = (1..=chunk.len()).map(|n| format!("?{n}")).collect();
        batch.push((
            super::statement(format!(
                "DELETE FROM d1kit_directory WHERE state = 1 AND tenant IN ({})",
                marks.join(", ")
            )),
            chunk.to_vec(),
        ));
    }
    batch.push(run_sql(BUMP, Vec::new()));
    send(directory, &batch).await?;
    Ok(Vec::new())
}

/// After the last move: the fence triggers dropped from `db` if it fences no tenant any more
/// (a crashed move's fence stays until the move is run again). Returns whether they went.
pub async fn lift<E: Executor + ?Sized>(db: &E, layout: &Layout) -> Result<bool> {
    let fenced: Option<(i64,)> = db
        .first(Sql::new(
            "SELECT count(*) FROM sqlite_master WHERE name = 'd1kit_fence'",
            Vec::new(),
        ))
        .await?;
    if fenced.is_none_or(|(n,)| n == 0) {
        return Ok(true);
    }
    let (left,): (i64,) = db
        .first(Sql::new("SELECT count(*) FROM d1kit_fence", Vec::new()))
        .await?
        .unwrap_or((0,));
    if left > 0 {
        return Ok(false);
    }
    let mut batch = Vec::new();
    for table in &layout.tables {
        for op in ["insert", "update", "delete"] {
            batch.push(run_sql(
                super::statement(format!(
                    "DROP TRIGGER IF EXISTS {}",
                    ident(&format!("d1kit_fence_{}_{op}", table.name))
                )),
                Vec::new(),
            ));
        }
    }
    batch.push(run_sql("DROP TABLE IF EXISTS d1kit_fence", Vec::new()));
    send(db, &batch).await?;
    Ok(true)
}

/// The routing side of a move through a directory (see the module's documentation): a
/// tenant whose copy is committed is routed to its target (held there when that is where the
/// pool's size routes it, pinned there otherwise: `d1kit tenant move`); a refused one is
/// pinned where it is and its fence lifted.
#[derive(Debug)]
pub struct Online<'a, D: ?Sized, S: ?Sized> {
    /// The pool's directory database.
    pub directory: &'a D,
    /// The source shard (its fences are lifted for refused tenants).
    pub source: &'a S,
    /// The pool's size once the reshard is over.
    pub shards: u32,
}

impl<D: Executor + ?Sized, S: Executor + ?Sized> Reroute for Online<'_, D, S> {
    fn fenced(&self) -> bool {
        true
    }

    async fn copied(&self, moves: &[Move]) -> Result<()> {
        let (held, pinned): (Vec<&Move>, Vec<&Move>) = moves
            .iter()
            .partition(|m| m.to == shard_for(m.tenant.key.as_bytes(), self.shards));
        let at = |ms: Vec<&Move>| -> Vec<(String, u32)> {
            ms.into_iter()
                .map(|m| (m.tenant.key.clone(), m.to))
                .collect()
        };
        set_state(self.directory, &at(held), HELD).await?;
        if !pinned.is_empty() {
            set_state(self.directory, &at(pinned), PINNED).await?;
        }
        Ok(())
    }

    async fn refused(&self, moves: &[Move]) -> Result<()> {
        let at: Vec<(String, u32)> = moves
            .iter()
            .map(|m| (m.tenant.key.clone(), m.from))
            .collect();
        set_state(self.directory, &at, PINNED).await?;
        let lifts: Vec<Statement> = moves
            .iter()
            .map(|m| run_sql(UNFENCE, vec![m.tenant.value.clone()]))
            .collect();
        send(self.source, &lifts).await
    }
}

/// How [`run`] waits, how many groups share one wait, and whether keys are renumbered.
pub struct Settle<'a> {
    /// Blocks for the settle time: longer than any router's TTL
    /// ([`crate::route::router::SETTLE_MS`] for routers with the default TTL).
    pub wait: &'a dyn Fn(),
    /// Groups of moves ([`super::GROUP`] tenants each) fenced and marked before one wait: a
    /// tenant is refused for the wait plus the copies of its wave.
    pub wave: usize,
    /// Give a tenant whose integer keys the target holds new ones instead of refusing it
    /// ([`super::move_tenants_via`]).
    pub renumber: bool,
}

/// Brings every tenant of the pool `dbs` to its shard under `shards` while the application
/// serves them, through `directory` (see the module's documentation), one group of moves at
/// a time. `each` is told of every move as it ends. Once no move failed, `shards` becomes
/// the routing size and the fences are lifted.
pub async fn run<E: Executor, D: Executor>(
    dbs: &[E],
    shards: u32,
    layout: &Layout,
    directory: &D,
    settle: &Settle<'_>,
    mut each: impl FnMut(&Move),
) -> Result<super::Report> {
    let routing = crate::route::router::snapshot(directory).await?;
    if routing.shards != shards || routing.next.is_some() {
        begin(directory, shards).await?;
        (settle.wait)();
    }
    let pinned = pins(directory).await?;
    let plan = super::plan(dbs, shards, layout, |k| pinned.get(k).copied()).await?;
    hold(directory, &plan.moves).await?;
    end_collecting(directory).await?;
    let mut report = super::Report {
        shards: vec![super::ShardReport::default(); dbs.len()],
        ..super::Report::default()
    };
    let at = |i: u32| dbs.get(i as usize);
    let (parallel, split) = super::groups(&plan.unfinished);
    for group in parallel.into_iter().chain(split) {
        let (Some(source), Some(target)) = (at(group[0].from), at(group[0].to)) else {
            for mv in group {
                report
                    .failed
                    .push((mv, "its shard is not in the pool".into()));
            }
            continue;
        };
        let online = Online {
            directory,
            source,
            shards,
        };
        let result = super::finish_via(layout, &group, source, target, &online).await;
        for mv in group {
            each(&mv);
            match &result {
                Ok(()) => report.finished.push(mv),
                Err(e) => report.failed.push((mv, e.to_string())),
            }
        }
    }
    let (parallel, split) = super::groups(&plan.moves);
    let waves: Vec<Vec<Vec<Move>>> = parallel
        .chunks(settle.wave.max(1))
        .map(<[Vec<Move>]>::to_vec)
        .chain(split.into_iter().map(|g| vec![g]))
        .collect();
    for wave in waves {
        let mut ready = Vec::new();
        for group in wave {
            let (Some(source), Some(_)) = (at(group[0].from), at(group[0].to)) else {
                for mv in group {
                    report.record(mv.clone(), Err("its shard is not in the pool".into()));
                    each(&mv);
                }
                continue;
            };
            let tenants: Vec<&Tenant> = group.iter().map(|m| &m.tenant).collect();
            match fence(source, layout, &tenants).await {
                Ok(()) => ready.push(group),
                Err(e) => {
                    for mv in group {
                        report.record(mv.clone(), Err(e.to_string()));
                        each(&mv);
                    }
                }
            }
        }
        let marking: Vec<Move> = ready.iter().flatten().cloned().collect();
        if marking.is_empty() {
            continue;
        }
        mark_moving(directory, &marking).await?;
        (settle.wait)();
        for group in ready {
            let (source, target) = (&dbs[group[0].from as usize], &dbs[group[0].to as usize]);
            let online = Online {
                directory,
                source,
                shards,
            };
            let outcomes =
                super::move_tenants_via(layout, &group, source, target, &online, settle.renumber)
                    .await;
            for (i, mv) in group.into_iter().enumerate() {
                each(&mv);
                let outcome = match &outcomes {
                    Ok(o) => o
                        .get(i)
                        .cloned()
                        .ok_or_else(|| "a move gave no outcome".to_string()),
                    Err(e) => Err(e.to_string()),
                };
                report.record(mv, outcome);
            }
        }
    }
    if report.failed.is_empty() {
        let left = flip(directory, shards).await?;
        if !left.is_empty() {
            return Err(crate::Error::Backend(format!(
                "the directory still holds {} tenant(s) away from their shard (first: `{}`): run the reshard again",
                left.len(),
                left[0]
            )));
        }
        for db in dbs {
            lift(db, layout).await?;
        }
    }
    Ok(report)
}

/// Moves one tenant while the application serves it (`d1kit tenant move`): fenced on its
/// source, marked moving, `wait` (the settle time), copied, then pinned on `mv.to` (held
/// there when that is where `shards` routes it anyway) and deleted from the source. Refused,
/// it stays whole and pinned where it is. `settle.wave` is not used.
pub async fn move_one<S: Executor, T: Executor, D: Executor>(
    layout: &Layout,
    mv: &Move,
    source: &S,
    target: &T,
    directory: &D,
    shards: u32,
    settle: &Settle<'_>,
) -> Result<super::Outcome> {
    fence(source, layout, &[&mv.tenant]).await?;
    mark_moving(directory, std::slice::from_ref(mv)).await?;
    (settle.wait)();
    let online = Online {
        directory,
        source,
        shards,
    };
    let mut outcomes = super::move_tenants_via(
        layout,
        std::slice::from_ref(mv),
        source,
        target,
        &online,
        settle.renumber,
    )
    .await?;
    lift(source, layout).await?;
    outcomes
        .pop()
        .ok_or_else(|| crate::Error::Backend("a move gave no outcome".into()))
}
