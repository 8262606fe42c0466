//! What per-tenant metering (`d1kit::meter`) costs a query, side by side with the same query
//! unmetered, in one run on the local backend: a point read (`first`) and a one-row write
//! (`run`), each over 10,000 tenants, plus the statements each sends (metering adds none:
//! a metered read is the same statement, sent as a one-statement batch to get D1's `meta`).
//!
//! Run: `cargo bench --bench meter`. Prints nanoseconds per query, statements per query, and
//! the ratio metered / unmetered.

use d1kit::local::Database as Local;
use d1kit::meter::Meter;
use d1kit::{block_on, Batch, Executor, Query, Result, Results, RunResult, Sql, Value};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Instant;

const QUERIES: usize = 200_000;
const TENANTS: usize = 10_000;

/// The database, counting the requests it gets (a batch is one).
struct Counting {
    db: Local,
    requests: Cell<usize>,
}

impl Executor for Counting {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        self.requests.set(self.requests.get() + 1);
        self.db.all(q).await
    }
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        self.requests.set(self.requests.get() + 1);
        self.db.first(q).await
    }
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        self.requests.set(self.requests.get() + 1);
        self.db.run(q).await
    }
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        self.requests.set(self.requests.get() + 1);
        self.db.batch(b).await
    }
    async fn all_meta<Q: Query>(&self, q: Q) -> Result<Results<Q::Row>> {
        self.requests.set(self.requests.get() + 1);
        self.db.all_meta(q).await
    }
}

fn read(db: &impl Executor, tenant: &str) {
    let row = block_on(db.first(Sql::<(i64, String)>::new(
        "SELECT id, body FROM notes WHERE tenant = ?1 AND id = ?2",
        vec![Value::from(tenant), Value::from(1i64)],
    )))
    .unwrap();
    black_box(row);
}

fn write(db: &impl Executor, tenant: &str, i: usize) {
    block_on(db.run(Sql::<()>::new(
        "UPDATE notes SET body = ?3 WHERE tenant = ?1 AND id = ?2",
        vec![
            Value::from(tenant),
            Value::from(1i64),
            Value::from(i as i64),
        ],
    )))
    .unwrap();
}

/// (ns per query, requests per query) of `f` over `QUERIES` queries.
fn measure(db: &Counting, mut f: impl FnMut(usize)) -> (f64, f64) {
    db.requests.set(0);
    let start = Instant::now();
    for i in 0..QUERIES {
        f(i);
    }
    (
        start.elapsed().as_nanos() as f64 / QUERIES as f64,
        db.requests.get() as f64 / QUERIES as f64,
    )
}

fn main() {
    let db = Counting {
        db: Local::open_in_memory().unwrap(),
        requests: Cell::new(0),
    };
    db.db
        .connection()
        .execute_batch(
            "CREATE TABLE notes (tenant TEXT NOT NULL, id INTEGER NOT NULL, body TEXT, PRIMARY KEY (tenant, id)) WITHOUT ROWID",
        )
        .unwrap();
    let tenants: Vec<String> = (0..TENANTS).map(|i| format!("user-{i}")).collect();
    for t in &tenants {
        db.db
            .connection()
            .execute("INSERT INTO notes VALUES (?1, 1, 'hello')", [t.as_str()])
            .unwrap();
    }
    let meter = Meter::new();
    let tenant = |i: usize| tenants[i % TENANTS].as_str();

    let (plain_read, plain_read_q) = measure(&db, |i| read(&db, tenant(i)));
    let (metered_read, metered_read_q) =
        measure(&db, |i| read(&meter.on(tenant(i), &db), tenant(i)));
    let (plain_write, plain_write_q) = measure(&db, |i| write(&db, tenant(i), i));
    let (metered_write, metered_write_q) =
        measure(&db, |i| write(&meter.on(tenant(i), &db), tenant(i), i));
    let totals = meter.totals();
    assert_eq!(totals.len(), TENANTS);
    let queries: u64 = totals.iter().map(|(_, u)| u.queries).sum();
    assert_eq!(queries as usize, 2 * QUERIES);

    println!("{QUERIES} queries over {TENANTS} tenants, local backend (in memory)");
    println!(
        "point read:  unmetered {plain_read:>8.0} ns, {plain_read_q:.2} requests/query; metered {metered_read:>8.0} ns, {metered_read_q:.2} requests/query; ratio {:.2}",
        metered_read / plain_read
    );
    println!(
        "one-row write: unmetered {plain_write:>8.0} ns, {plain_write_q:.2} requests/query; metered {metered_write:>8.0} ns, {metered_write_q:.2} requests/query; ratio {:.2}",
        metered_write / plain_write
    );
    let start = Instant::now();
    let usage = Local::open_in_memory().unwrap();
    block_on(usage.run(Sql::<()>::new(Meter::SCHEMA, Vec::new()))).unwrap();
    let flushed = block_on(meter.flush(&usage)).unwrap();
    println!(
        "flush of {flushed} tenants' totals: {:.1} ms ({} batches of 100 upserts), off the hot path",
        start.elapsed().as_secs_f64() * 1000.0,
        flushed.div_ceil(100)
    );
}
