//! Per-tenant metering, opt-in: what each tenant of a pool costs, counted where the queries
//! run.
//!
//! D1 bills rows read and rows written per database. In a pool, many tenants share one
//! database, and Cloudflare's analytics cannot tell them apart. A [`Meter`] can: wrap the
//! executor a request uses for a tenant with [`Meter::on`], and every query through it adds
//! its `rows_read` and `rows_written` (D1's own figures from the result's `meta`) to that
//! tenant's totals, in memory, in this isolate or process. Nothing is sent while queries
//! run. [`Meter::flush`] writes the totals, added to what earlier flushes wrote, to the table
//! `d1kit_usage` ([`Meter::SCHEMA`]) of a database of your choice, one row per tenant and
//! day, in one batch per 100 tenants: call it off the hot path (a Worker's
//! `ctx.wait_until`, a timer, a scheduled handler), as often as you like; a failed flush
//! keeps its totals for the next one. `d1kit usage` reads the table.
//!
//! ```
//! # #[cfg(feature = "local")]
//! # {
//! use d1_runtime::meter::Meter;
//! use d1_runtime::{block_on, Executor, Sql};
//!
//! static METER: Meter = Meter::new();
//!
//! let shard = d1_runtime::local::Database::open_in_memory()?;
//! let db = METER.on("alice", &shard);
//! block_on(db.all(Sql::<(i64,)>::new("SELECT 1", Vec::new())))?;
//! assert_eq!(METER.totals()[0].1.queries, 1);
//!
//! let usage = d1_runtime::local::Database::open_in_memory()?;
//! block_on(usage.run(Sql::<()>::new(Meter::SCHEMA, Vec::new())))?;
//! assert_eq!(block_on(METER.flush(&usage))?, 1);
//! assert!(METER.totals().is_empty());
//! # }
//! # Ok::<(), d1_runtime::Error>(())
//! ```
//!
//! What it costs: `all` and `first` go through [`Executor::all_meta`] (by default a
//! one-statement `batch`, the form every backend answers with D1's `meta`: on D1 still one
//! request; the local backend measures the statement instead), and one map update per
//! query. `cargo bench --bench meter` measures both against the unmetered executor on the
//! local backend.

use crate::executor::{Batch, Executor, Query, RawResults, Results, RunResult, Statement};
use crate::{Result, Sql, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One tenant's usage, as a [`Meter`] adds it up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Queries run (a batch counts each of its statements).
    pub queries: u64,
    /// Rows read, as D1 reports them.
    pub rows_read: u64,
    /// Rows written, as D1 reports them.
    pub rows_written: u64,
}

impl Usage {
    fn add(&mut self, other: Usage) {
        self.queries += other.queries;
        self.rows_read += other.rows_read;
        self.rows_written += other.rows_written;
    }
}

/// Per-tenant totals of rows read and written, kept in memory until [`Meter::flush`]. A
/// `static` is one per isolate (Workers) or process; it can be shared between threads.
#[derive(Debug, Default)]
pub struct Meter {
    totals: Mutex<BTreeMap<String, Usage>>,
}

/// Tenants per flush batch.
const FLUSH_BATCH: usize = 100;

impl Meter {
    /// The table the totals are flushed to: one row per tenant and day (UTC), the day's
    /// totals. Put it in a migration of the database you flush to, or run it once.
    pub const SCHEMA: &'static str = "CREATE TABLE IF NOT EXISTS d1kit_usage (tenant TEXT NOT NULL, day TEXT NOT NULL, queries INTEGER NOT NULL, rows_read INTEGER NOT NULL, rows_written INTEGER NOT NULL, PRIMARY KEY (tenant, day)) WITHOUT ROWID";

    /// An empty meter.
    pub const fn new() -> Meter {
        Meter {
            totals: Mutex::new(BTreeMap::new()),
        }
    }

    /// `db`, with every query counted for `tenant`.
    pub fn on<'m, E: Executor>(&'m self, tenant: &str, db: E) -> Metered<'m, E> {
        Metered {
            meter: self,
            tenant: tenant.to_owned(),
            db,
        }
    }

    /// Adds one statement's figures to `tenant`'s totals.
    pub fn record(&self, tenant: &str, meta: &RunResult) {
        self.add(
            tenant,
            Usage {
                queries: 1,
                rows_read: meta.rows_read,
                rows_written: meta.rows_written,
            },
        );
    }

    fn add(&self, tenant: &str, usage: Usage) {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        match totals.get_mut(tenant) {
            Some(total) => total.add(usage),
            None => {
                totals.insert(tenant.to_owned(), usage);
            }
        }
    }

    /// The totals not flushed yet, by tenant.
    pub fn totals(&self) -> Vec<(String, Usage)> {
        let totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        totals.iter().map(|(t, u)| (t.clone(), *u)).collect()
    }

    /// Takes the totals (the meter starts again from zero).
    pub fn take(&self) -> Vec<(String, Usage)> {
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *totals).into_iter().collect()
    }

    /// Adds the totals `taken` back (after a flush that failed).
    pub fn put_back(&self, taken: Vec<(String, Usage)>) {
        for (tenant, usage) in taken {
            self.add(&tenant, usage);
        }
    }

    /// Writes the totals to `d1kit_usage` in `db`, added to today's row of each tenant (UTC,
    /// the database's clock), and starts again from zero; returns the tenants written. On an
    /// error the totals not written are kept for the next flush (a batch is all or nothing,
    /// so none is counted twice).
    pub async fn flush<E: Executor + ?Sized>(&self, db: &E) -> Result<usize> {
        let taken = self.take();
        let mut written = 0;
        let mut chunks = taken.chunks(FLUSH_BATCH);
        for chunk in chunks.by_ref() {
            let statements: Vec<Sql<()>> = chunk
                .iter()
                .map(|(tenant, usage)| {
                    Sql::new(
                        "INSERT INTO d1kit_usage (tenant, day, queries, rows_read, rows_written) \
                         VALUES (?1, date('now'), ?2, ?3, ?4) ON CONFLICT (tenant, day) DO UPDATE \
                         SET queries = queries + excluded.queries, \
                         rows_read = rows_read + excluded.rows_read, \
                         rows_written = rows_written + excluded.rows_written",
                        vec![
                            Value::from(tenant.as_str()),
                            count(usage.queries),
                            count(usage.rows_read),
                            count(usage.rows_written),
                        ],
                    )
                })
                .collect();
            if let Err(e) = db.batch(statements).await {
                self.put_back(chunk.to_vec());
                for rest in chunks.by_ref() {
                    self.put_back(rest.to_vec());
                }
                return Err(e);
            }
            written += chunk.len();
        }
        Ok(written)
    }
}

/// A count as a parameter: D1 takes integers up to 2^53 − 1.
fn count(n: u64) -> Value {
    Value::Integer(n.min((1 << 53) - 1) as i64)
}

/// An executor whose queries are counted for one tenant ([`Meter::on`]).
#[derive(Debug)]
pub struct Metered<'m, E> {
    meter: &'m Meter,
    tenant: String,
    db: E,
}

impl<E> Metered<'_, E> {
    /// The executor underneath.
    pub fn inner(&self) -> &E {
        &self.db
    }
}

/// A batch that also keeps each statement's `meta`.
struct Tap<B>(B);

impl<B: Batch> Batch for Tap<B> {
    type Output = (B::Output, Vec<RunResult>);
    fn into_statements(self) -> Vec<Statement> {
        self.0.into_statements()
    }
    fn decode(results: Vec<RawResults>) -> Result<Self::Output> {
        let metas = results.iter().map(|r| r.meta).collect();
        Ok((B::decode(results)?, metas))
    }
}

impl<E: Executor> Executor for Metered<'_, E> {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        Ok(self.all_meta(q).await?.rows)
    }

    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        Ok(self.all_meta(q).await?.rows.into_iter().next())
    }

    async fn all_meta<Q: Query>(&self, q: Q) -> Result<Results<Q::Row>> {
        let results = self.db.all_meta(q).await?;
        self.meter.record(&self.tenant, &results.meta);
        Ok(results)
    }

    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        let meta = self.db.run(q).await?;
        self.meter.record(&self.tenant, &meta);
        Ok(meta)
    }

    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        let (out, metas) = self.db.batch(Tap(b)).await?;
        for meta in &metas {
            self.meter.record(&self.tenant, meta);
        }
        Ok(out)
    }
}

#[cfg(all(test, feature = "local"))]
mod tests {
    use super::*;
    use crate::block_on;
    use crate::local::Database;

    fn shard() -> Database {
        let db = Database::open_in_memory().unwrap();
        db.connection()
            .execute_batch(
                "CREATE TABLE notes (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, body TEXT);
                 INSERT INTO notes (tenant, body) VALUES ('a', 'x'), ('a', 'y'), ('b', 'z');",
            )
            .unwrap();
        db
    }

    #[test]
    fn each_tenant_is_counted_with_the_backends_figures() {
        let meter = Meter::new();
        let db = shard();
        let a = meter.on("a", &db);
        let rows = block_on(a.all(Sql::<(String,)>::new(
            "SELECT body FROM notes WHERE tenant = ?1",
            vec![Value::from("a")],
        )))
        .unwrap();
        assert_eq!(rows.len(), 2);
        let written = block_on(a.run(Sql::<()>::new(
            "INSERT INTO notes (tenant, body) VALUES ('a', 'w')",
            Vec::new(),
        )))
        .unwrap();
        assert_eq!(written.rows_written, 1);
        let b = meter.on("b", &db);
        let first = block_on(b.first(Sql::<(String,)>::new(
            "SELECT body FROM notes WHERE tenant = 'b'",
            Vec::new(),
        )))
        .unwrap();
        assert_eq!(first, Some(("z".to_owned(),)));
        block_on(b.batch((
            Sql::<()>::new("UPDATE notes SET body = 'q' WHERE tenant = 'b'", Vec::new()),
            Sql::<()>::new("DELETE FROM notes WHERE tenant = 'b'", Vec::new()),
        )))
        .unwrap();

        let totals = meter.totals();
        assert_eq!(totals.len(), 2);
        let (ta, ua) = &totals[0];
        assert_eq!(ta, "a");
        assert_eq!((ua.queries, ua.rows_written), (2, 1));
        // A full scan of 3 rows returning 2: read, as the local backend estimates it.
        assert!(ua.rows_read >= 2, "{ua:?}");
        let (tb, ub) = &totals[1];
        assert_eq!(tb, "b");
        assert_eq!((ub.queries, ub.rows_written), (3, 2));
    }

    #[test]
    fn a_flush_adds_to_the_days_row_and_a_failed_one_keeps_the_totals() {
        let meter = Meter::new();
        meter.record(
            "a",
            &RunResult {
                rows_read: 10,
                rows_written: 2,
                ..RunResult::default()
            },
        );
        let usage = Database::open_in_memory().unwrap();
        // No table yet: the flush fails and keeps everything.
        assert!(block_on(meter.flush(&usage)).is_err());
        assert_eq!(meter.totals()[0].1.rows_read, 10);
        block_on(usage.run(Sql::<()>::new(Meter::SCHEMA, Vec::new()))).unwrap();
        assert_eq!(block_on(meter.flush(&usage)).unwrap(), 1);
        assert!(meter.totals().is_empty());
        meter.record(
            "a",
            &RunResult {
                rows_read: 5,
                ..RunResult::default()
            },
        );
        for i in 0..250 {
            meter.record(&format!("t{i:03}"), &RunResult::default());
        }
        assert_eq!(block_on(meter.flush(&usage)).unwrap(), 251);
        let (queries, read, written): (i64, i64, i64) = usage
            .connection()
            .query_row(
                "SELECT queries, rows_read, rows_written FROM d1kit_usage WHERE tenant = 'a' AND day = date('now')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((queries, read, written), (2, 15, 2));
        let rows: i64 = usage
            .connection()
            .query_row("SELECT count(*) FROM d1kit_usage", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 251);
    }
}
