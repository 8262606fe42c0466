//! d1kit's local backend against raw rusqlite prepared statements, in the same run:
//! 100,000 point selects and 100,000 inserts in batches of 100. Prints the overhead ratio
//! (target: d1kit ≤ 1.10 × rusqlite). Run: `cargo bench --bench local`.

use d1kit::local::{block_on, Database as Local};
use d1kit::{sql, Database, Executor};
use std::time::{Duration, Instant};

#[derive(Database)]
#[d1(name = "notes")]
struct Notes;

const N: i64 = 100_000;
const BATCH: i64 = 100;
const ROUNDS: usize = 5;

#[derive(Debug)]
struct NoteRow {
    id: i64,
    title: Option<String>,
    body: String,
}

fn fresh() -> Local {
    let db = Local::open_in_memory().unwrap();
    db.migrate_to::<Notes>().unwrap();
    db.connection()
        .execute(
            "INSERT INTO users (id, email) VALUES (1, 'a@example.com')",
            [],
        )
        .unwrap();
    db
}

fn d1kit_inserts(db: &Local) -> Duration {
    let start = Instant::now();
    for b in 0..N / BATCH {
        let batch: Vec<_> = (0..BATCH)
            .map(|i| {
                sql!(
                    notes,
                    "INSERT INTO notes (owner_id, title, body) VALUES (?1, ?2, ?3)",
                    1,
                    format!("note {}", b * BATCH + i),
                    "body"
                )
            })
            .collect();
        block_on(db.batch(batch)).unwrap();
    }
    start.elapsed()
}

fn rusqlite_inserts(db: &Local) -> Duration {
    let conn = db.connection();
    let start = Instant::now();
    for b in 0..N / BATCH {
        let tx = conn.unchecked_transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached("INSERT INTO notes (owner_id, title, body) VALUES (?1, ?2, ?3)")
                .unwrap();
            for i in 0..BATCH {
                stmt.execute(rusqlite::params![
                    1,
                    format!("note {}", b * BATCH + i),
                    "body"
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    start.elapsed()
}

fn d1kit_selects(db: &Local) -> (Duration, usize) {
    let start = Instant::now();
    let mut bytes = 0;
    for id in 1..=N {
        let row =
            block_on(sql!(notes, "SELECT id, title, body FROM notes WHERE id = ?1", id).first(db))
                .unwrap()
                .unwrap();
        bytes += row.body.len() + row.title.map_or(0, |t| t.len()) + row.id as usize % 2;
    }
    (start.elapsed(), bytes)
}

fn rusqlite_selects(db: &Local) -> (Duration, usize) {
    let conn = db.connection();
    let mut stmt = conn
        .prepare("SELECT id, title, body FROM notes WHERE id = ?1")
        .unwrap();
    let start = Instant::now();
    let mut bytes = 0;
    for id in 1..=N {
        let row = stmt
            .query_row([id], |r| {
                Ok(NoteRow {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .unwrap();
        bytes += row.body.len() + row.title.map_or(0, |t| t.len()) + row.id as usize % 2;
    }
    (start.elapsed(), bytes)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `d` and `r`, `d` first when `d_first`; returns their results as `(d, r)`.
fn in_order<T>(d_first: bool, d: impl FnOnce() -> T, r: impl FnOnce() -> T) -> (T, T) {
    if d_first {
        let d = d();
        (d, r())
    } else {
        let r = r();
        (d(), r)
    }
}

fn main() {
    // `cargo test --benches` runs bench targets with --bench absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        println!("local backend bench: run with `cargo bench --bench local`");
        return;
    }
    let (mut di, mut ri, mut ds, mut rs) = (vec![], vec![], vec![], vec![]);
    for round in 0..ROUNDS {
        // Interleaved, each on a fresh database, so drift on a shared machine hits both; which
        // side goes first alternates, so neither always reads caches the other has warmed.
        let (a, b) = (fresh(), fresh());
        let d1kit_first = round % 2 == 0;
        let (d, r) = in_order(d1kit_first, || d1kit_inserts(&a), || rusqlite_inserts(&b));
        di.push(d);
        ri.push(r);
        let ((t, x), (u, y)) = in_order(d1kit_first, || d1kit_selects(&a), || rusqlite_selects(&b));
        ds.push(t);
        rs.push(u);
        assert_eq!(x, y, "both read the same rows");
    }
    let (di, ri, ds, rs) = (median(di), median(ri), median(ds), median(rs));
    let per = |d: Duration| d.as_nanos() as f64 / N as f64 / 1000.0;
    println!(
        "{N} inserts in batches of {BATCH}: d1kit {:.2} µs/row, rusqlite {:.2} µs/row, ratio {:.3}",
        per(di),
        per(ri),
        di.as_secs_f64() / ri.as_secs_f64()
    );
    println!(
        "{N} point selects:              d1kit {:.2} µs/row, rusqlite {:.2} µs/row, ratio {:.3}",
        per(ds),
        per(rs),
        ds.as_secs_f64() / rs.as_secs_f64()
    );
}
