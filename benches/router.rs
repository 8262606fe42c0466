//! What routing through a pool's directory costs a request, side by side with the hash alone,
//! in one run: a `Router` over a local directory database in the steady state (no pin, no
//! move: no query, the routing row read once per TTL), then with 1,000 pins (one lookup per
//! tenant, then cached until the directory changes).
//!
//! Run: `cargo bench --bench router`. Prints nanoseconds per request, queries per request,
//! and the ratio to the hash alone.

use d1kit::local::Database as Local;
use d1kit::route::router::{self, Router};
use d1kit::route::shard_for;
use d1kit::{block_on, Batch, Executor, Query, Result, RunResult, Sql, Value};
use std::cell::Cell;
use std::hint::black_box;
use std::time::Instant;

const REQUESTS: usize = 1_000_000;
const TENANTS: usize = 10_000;

/// The directory, counting the statements it runs.
struct Counting {
    db: Local,
    statements: Cell<usize>,
}

impl Executor for Counting {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        self.statements.set(self.statements.get() + 1);
        self.db.all(q).await
    }
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        self.statements.set(self.statements.get() + 1);
        self.db.first(q).await
    }
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        self.statements.set(self.statements.get() + 1);
        self.db.run(q).await
    }
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        self.statements.set(self.statements.get() + 1);
        self.db.batch(b).await
    }
}

fn tenants() -> Vec<String> {
    (0..TENANTS).map(|i| format!("user-{i}")).collect()
}

/// Nanoseconds per request and statements per request over `REQUESTS` requests, a simulated
/// clock advancing 1 µs per request (so the 2 s TTL expires once).
fn routed(directory: &Counting, keys: &[String]) -> (f64, f64) {
    let router = Router::new();
    directory.statements.set(0);
    let start = Instant::now();
    for i in 0..REQUESTS {
        let key = &keys[i % keys.len()];
        let now_ms = (i / 1000) as u64;
        black_box(block_on(router.shard(directory, key, now_ms)).unwrap());
    }
    let ns = start.elapsed().as_nanos() as f64 / REQUESTS as f64;
    (ns, directory.statements.get() as f64 / REQUESTS as f64)
}

fn main() {
    let keys = tenants();
    let start = Instant::now();
    for i in 0..REQUESTS {
        black_box(shard_for(keys[i % keys.len()].as_bytes(), 4));
    }
    let hash = start.elapsed().as_nanos() as f64 / REQUESTS as f64;

    let directory = Counting {
        db: Local::open_in_memory().unwrap(),
        statements: Cell::new(0),
    };
    block_on(router::set_up(&directory.db, 4)).unwrap();
    let (steady, steady_q) = routed(&directory, &keys);

    for key in keys.iter().take(1000) {
        block_on(directory.db.run(Sql::<()>::new(
            "INSERT INTO d1kit_directory (tenant, shard, state) VALUES (?1, 1, 0)",
            vec![Value::from(key.as_str())],
        )))
        .unwrap();
    }
    let (pinned, pinned_q) = routed(&directory, &keys);

    println!("routing {REQUESTS} requests over {TENANTS} tenants of a 4-shard pool:");
    println!("  hash alone (shard_for):            {hash:8.1} ns/request");
    println!(
        "  Router, no pins (steady state):    {steady:8.1} ns/request, {steady_q:.6} queries/request ({:.1}x the hash)",
        steady / hash
    );
    println!(
        "  Router, 1,000 pins:                {pinned:8.1} ns/request, {pinned_q:.6} queries/request ({:.1}x the hash)",
        pinned / hash
    );
}
