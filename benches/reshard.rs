//! How fast `d1kit::reshard` moves rows, side by side with its floor, in one run:
//! - local: a pool of 4 SQLite files holding 2,000 tenants (50,000 rows in three tables with
//!   foreign keys) grown to 5, against moving the same tenants' rows with plain rusqlite
//!   (`ATTACH` the target, `INSERT INTO t SELECT ... WHERE user_id IN (...)` per table, the
//!   deletes, one transaction per shard pair): the fastest way to move them on this machine.
//!   Goal: d1kit within 2x.
//! - over the REST fake: 120 tenants grown from 2 to 3 databases under a rate limit of 20
//!   requests a second and 20 ms of latency, against the time the limit allows for the requests
//!   made (requests / 20 s). Goal: within 1.2x.
//!
//! Run: `cargo bench --bench reshard`. Prints both ratios.

use d1_fake::{FakeD1, Options as FakeOptions, RateLimit};
use d1kit::local::Database as Local;
use d1kit::reshard;
use d1kit::route::shard_for;
use d1kit::{block_on, Executor, Sql, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SCHEMA: &str = "
CREATE TABLE accounts (user_id TEXT PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES accounts(user_id) ON DELETE CASCADE, title TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE, user_id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (note_id, tag)) WITHOUT ROWID;
";
const TENANTS: usize = 2000;
/// Notes per tenant; each with one tag: 1 + 2 × 12 rows a tenant, 50,000 in all.
const NOTES: usize = 12;

fn pool(dir: &Path, n: usize) -> Vec<PathBuf> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let files: Vec<PathBuf> = (0..n).map(|i| dir.join(format!("s{i}.sqlite"))).collect();
    let conns: Vec<rusqlite::Connection> = files
        .iter()
        .map(|f| {
            let c = rusqlite::Connection::open(f).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c.execute_batch("BEGIN").unwrap();
            c
        })
        .collect();
    for t in 0..TENANTS {
        let user = format!("user-{t}");
        let c = &conns[shard_for(user.as_bytes(), 4) as usize];
        c.execute(
            "INSERT INTO accounts VALUES (?1, ?2)",
            [&user, &format!("{user}@example.com")],
        )
        .unwrap();
        for k in 0..NOTES {
            let id = (t * NOTES + k) as i64;
            c.execute(
                "INSERT INTO notes VALUES (?1, ?2, ?3, 'a body of some length, as notes have')",
                rusqlite::params![id, user, format!("note {k}")],
            )
            .unwrap();
            c.execute(
                "INSERT INTO tags VALUES (?1, ?2, 'x')",
                rusqlite::params![id, user],
            )
            .unwrap();
        }
    }
    for c in &conns {
        c.execute_batch("COMMIT").unwrap();
    }
    files
}

/// The tenants that move from 4 to 5 shards, by source shard.
fn moving() -> Vec<Vec<String>> {
    let mut out = vec![Vec::new(); 4];
    for t in 0..TENANTS {
        let user = format!("user-{t}");
        if shard_for(user.as_bytes(), 5) == 4 {
            out[shard_for(user.as_bytes(), 4) as usize].push(user);
        }
    }
    out
}

fn rows(files: &[PathBuf]) -> i64 {
    files
        .iter()
        .map(|f| {
            let c = rusqlite::Connection::open(f).unwrap();
            ["accounts", "notes", "tags"]
                .iter()
                .map(|t| {
                    c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| {
                        r.get::<_, i64>(0)
                    })
                    .unwrap()
                })
                .sum::<i64>()
        })
        .sum()
}

fn floor(dir: &Path) -> (Duration, i64) {
    let files = pool(dir, 5);
    let target = rusqlite::Connection::open(&files[4]).unwrap();
    let before = rows(&files[4..]);
    let start = Instant::now();
    for (i, users) in moving().iter().enumerate() {
        target
            .execute("ATTACH ?1 AS src", [files[i].to_str().unwrap()])
            .unwrap();
        let list = users
            .iter()
            .map(|u| format!("'{u}'"))
            .collect::<Vec<_>>()
            .join(", ");
        target
            .execute_batch(&format!(
                "BEGIN;
                 INSERT INTO main.accounts SELECT * FROM src.accounts WHERE user_id IN ({list});
                 INSERT INTO main.notes SELECT * FROM src.notes WHERE user_id IN ({list});
                 INSERT INTO main.tags SELECT * FROM src.tags WHERE user_id IN ({list});
                 DELETE FROM src.tags WHERE user_id IN ({list});
                 DELETE FROM src.notes WHERE user_id IN ({list});
                 DELETE FROM src.accounts WHERE user_id IN ({list});
                 COMMIT;"
            ))
            .unwrap();
        target.execute("DETACH src", []).unwrap();
    }
    (start.elapsed(), rows(&files[4..]) - before)
}

fn d1kit(dir: &Path) -> (Duration, i64) {
    let files = pool(dir, 5);
    let dbs: Vec<Local> = files.iter().map(|f| Local::open(f).unwrap()).collect();
    let layout = block_on(reshard::layout(&dbs[0], "user_id")).unwrap();
    let start = Instant::now();
    let report = block_on(reshard::run(&dbs, 5, &layout, |_| None, |_| {})).unwrap();
    let elapsed = start.elapsed();
    assert!(report.refused.is_empty() && report.failed.is_empty());
    (elapsed, report.rows() as i64)
}

fn rest() -> (Duration, Duration, u64) {
    const LIMIT: usize = 20;
    let fake = FakeD1::start(FakeOptions {
        latency: Duration::from_millis(20),
        ..FakeOptions::default()
    });
    let client = d1kit::rest::Client::new(fake.account_id(), fake.token())
        .with_base_url(fake.base_url())
        .with_request_budget(LIMIT as u32, Duration::from_secs(1));
    let dbs: Vec<d1kit::rest::Database> = (0..3)
        .map(|n| client.database(fake.add_database(&format!("s-{n}"))))
        .collect();
    for db in &dbs {
        let schema: Vec<Sql<()>> = SCHEMA
            .split(';')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                Sql::new(
                    Box::leak(s.to_string().into_boxed_str()),
                    Vec::<Value>::new(),
                )
            })
            .collect();
        block_on(db.batch(schema)).unwrap();
    }
    for t in 0..120 {
        let user = format!("user-{t}");
        let db = &dbs[shard_for(user.as_bytes(), 2) as usize];
        let mut batch: Vec<Sql<()>> = vec![Sql::new(
            "INSERT INTO accounts VALUES (?1, ?2)",
            vec![user.clone().into(), format!("{user}@x").into()],
        )];
        for k in 0..3 {
            let id = Value::Integer((t * 10 + k) as i64);
            batch.push(Sql::new(
                "INSERT INTO notes VALUES (?1, ?2, 'n', 'b')",
                vec![id.clone(), user.clone().into()],
            ));
            batch.push(Sql::new(
                "INSERT INTO tags VALUES (?1, ?2, 'x')",
                vec![id, user.clone().into()],
            ));
        }
        block_on(db.batch(batch)).unwrap();
    }
    let layout = block_on(reshard::layout(&dbs[0], "user_id")).unwrap();
    // A fresh window, then the limit.
    std::thread::sleep(Duration::from_secs(1));
    fake.set_rate_limit(Some(RateLimit {
        requests: LIMIT,
        per: Duration::from_secs(1),
    }));
    fake.reset_stats();
    let start = Instant::now();
    let report = block_on(reshard::run(&dbs, 3, &layout, |_| None, |_| {})).unwrap();
    let elapsed = start.elapsed();
    assert!(report.refused.is_empty() && report.failed.is_empty());
    let requests = fake.stats().requests;
    let bound = Duration::from_secs_f64(requests as f64 / LIMIT as f64);
    (elapsed, bound, requests)
}

fn main() {
    let dir = std::env::temp_dir().join(format!("d1kit-bench-reshard-{}", std::process::id()));
    // Alternate which side goes first; keep the median of 3 rounds each.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut moved = 0;
    for round in 0..3 {
        let (a, b) = if round % 2 == 0 {
            let a = d1kit(&dir.join("d"));
            (a, floor(&dir.join("f")))
        } else {
            let b = floor(&dir.join("f"));
            (d1kit(&dir.join("d")), b)
        };
        assert_eq!(a.1, b.1, "both sides move the same rows");
        moved = a.1;
        ours.push(a.0);
        theirs.push(b.0);
    }
    ours.sort();
    theirs.sort();
    let (ours, theirs) = (ours[1], theirs[1]);
    let rate = |d: Duration| moved as f64 / d.as_secs_f64();
    println!(
        "local, 4 -> 5 shards, {moved} rows of {} tenants moved (median of 3):",
        moving().iter().map(Vec::len).sum::<usize>()
    );
    println!(
        "  d1kit::reshard:                {:8.1} ms  {:>10.0} rows/s",
        ours.as_secs_f64() * 1e3,
        rate(ours)
    );
    println!(
        "  rusqlite INSERT..SELECT floor: {:8.1} ms  {:>10.0} rows/s",
        theirs.as_secs_f64() * 1e3,
        rate(theirs)
    );
    println!(
        "  ratio: {:.2} (goal <= 2)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    let (elapsed, bound, requests) = rest();
    println!("REST fake, 2 -> 3 databases, 120 tenants, 20 requests/s, 20 ms latency:");
    println!(
        "  {requests} requests in {:.2} s; the limit allows them in {:.2} s: ratio {:.2} (goal <= 1.2)",
        elapsed.as_secs_f64(),
        bound.as_secs_f64(),
        elapsed.as_secs_f64() / bound.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
