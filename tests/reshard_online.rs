//! An online reshard (`d1kit::reshard::online`) of a local pool on real SQLite files, through
//! a directory database, while reader and writer threads use the pool as an application
//! would: each request routed by a `Router` (its own TTL), then one statement or one batch on
//! the shard it names, retried when refused with `Error::TenantMoving`.
//!
//! Each tenant has an account whose `notes` counter a write raises in the same transaction
//! that adds a note, so a reader that saw part of a tenant (the account without its notes,
//! or notes without the account) sees the counter disagree. Checked: no reader ever sees a
//! tenant partial or missing, every acknowledged write is there at the end, and every tenant
//! sits on exactly the shard the new size routes it to.

use d1kit::local::Database as Local;
use d1kit::reshard::{self, online};
use d1kit::route::router::{self, Router};
use d1kit::route::shard_for;
use d1kit::{block_on, Error, Executor, Sql, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCHEMA: &str = "
CREATE TABLE accounts (user_id TEXT PRIMARY KEY, notes INTEGER NOT NULL);
CREATE TABLE notes (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES accounts(user_id) ON DELETE CASCADE,
  body TEXT NOT NULL
);
CREATE INDEX notes_user ON notes (user_id);
";

const TENANTS: usize = 400;
/// Routers trust what they read this long; the mover waits `SETTLE_MS` after each mark.
const TTL_MS: u64 = 40;
const SETTLE_MS: u64 = 400;

fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.sqlite"))
}

fn shard(dir: &Path, i: usize) -> Local {
    Local::open(file(dir, &format!("shard-{i}"))).unwrap()
}

fn directory(dir: &Path) -> Local {
    Local::open(file(dir, "directory")).unwrap()
}

fn user(i: usize) -> String {
    format!("user-{i}")
}

fn now_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

/// One write: a note added and the tenant's counter raised, in one transaction, on the shard
/// the router names; a tenant seen for the first time gets its account in the same batch.
fn write(
    dir: &Path,
    router: &Router,
    start: Instant,
    tenant: &str,
    note: &str,
) -> d1kit::Result<()> {
    let directory = directory(dir);
    let at = block_on(router.shard(&directory, tenant, now_ms(start)))?;
    let db = shard(dir, at as usize);
    let t = || Value::from(tenant);
    block_on(db.batch((
        Sql::<()>::new(
            "INSERT INTO accounts (user_id, notes) VALUES (?1, 0) ON CONFLICT DO NOTHING",
            vec![t()],
        ),
        Sql::<()>::new(
            "INSERT INTO notes (id, user_id, body) VALUES (?1, ?2, 'written online')",
            vec![Value::from(note), t()],
        ),
        Sql::<()>::new(
            "UPDATE accounts SET notes = notes + 1 WHERE user_id = ?1",
            vec![t()],
        ),
    )))
    .map(drop)
}

/// One read, one statement: the tenant's counter and its notes as the shard has them.
fn read(
    dir: &Path,
    router: &Router,
    start: Instant,
    tenant: &str,
) -> d1kit::Result<(Option<i64>, i64)> {
    let directory = directory(dir);
    let at = block_on(router.shard(&directory, tenant, now_ms(start)))?;
    let db = shard(dir, at as usize);
    let row = block_on(db.first(Sql::<(Option<i64>, i64)>::new(
        "SELECT (SELECT notes FROM accounts WHERE user_id = ?1), (SELECT count(*) FROM notes WHERE user_id = ?1)",
        vec![Value::from(tenant)],
    )))?;
    Ok(row.unwrap_or((None, 0)))
}

#[test]
fn an_online_reshard_serves_every_tenant_whole_and_keeps_every_write() {
    let dir = std::env::temp_dir().join(format!("d1kit-online-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Four shards and the directory, with two notes per tenant written where 4 shards route.
    for i in 0..5 {
        shard(&dir, i).connection().execute_batch(SCHEMA).unwrap();
    }
    block_on(router::set_up(&directory(&dir), 4)).unwrap();
    let start = Instant::now();
    let setup = Router::with_ttl(TTL_MS);
    for i in 0..TENANTS {
        for n in 0..2 {
            write(
                &dir,
                &setup,
                start,
                &user(i),
                &format!("{}-seed-{n}", user(i)),
            )
            .unwrap();
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let (reads, refusals, bad) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::<String>::new())),
    );
    let mut threads = Vec::new();
    for w in 0..2 {
        let (dir, stop, acknowledged, refusals) = (
            dir.clone(),
            stop.clone(),
            acknowledged.clone(),
            refusals.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let router = Router::with_ttl(TTL_MS);
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                // Mostly existing tenants; every tenth write a tenant new to the pool.
                let tenant = if k.is_multiple_of(10) {
                    format!("new-{w}-{k}")
                } else {
                    user((k * 7919 + w * 104_729) % TENANTS)
                };
                let note = format!("{tenant}-w{w}-{k}");
                match write(&dir, &router, start, &tenant, &note) {
                    Ok(()) => acknowledged.lock().unwrap().push((tenant, note)),
                    Err(Error::TenantMoving { .. }) => {
                        refusals.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("a write failed: {e}"),
                }
            }
        }));
    }
    for r in 0..2 {
        let (dir, stop, acknowledged, reads, refusals, bad) = (
            dir.clone(),
            stop.clone(),
            acknowledged.clone(),
            reads.clone(),
            refusals.clone(),
            bad.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let router = Router::with_ttl(TTL_MS);
            // The tenants that move: where a routing mistake would show.
            let movers: Vec<String> = (0..TENANTS)
                .map(user)
                .filter(|t| shard_for(t.as_bytes(), 4) != shard_for(t.as_bytes(), 5))
                .collect();
            let mut k = r;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let tenant = movers[(k * 31) % movers.len()].clone();
                // Every write acknowledged before the read began must be seen by it.
                let floor = acknowledged
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(t, _)| *t == tenant)
                    .count() as i64
                    + 2;
                match read(&dir, &router, start, &tenant) {
                    Ok((Some(counter), notes)) if counter == notes && notes >= floor => {
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(seen) => bad.lock().unwrap().push(format!(
                        "{tenant}: saw {seen:?}, at least {floor} acknowledged"
                    )),
                    Err(Error::TenantMoving { .. }) => {
                        refusals.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => panic!("a read failed: {e}"),
                }
            }
        }));
    }

    // The reshard, 4 → 5, while they run.
    std::thread::sleep(Duration::from_millis(200));
    let dbs: Vec<Local> = (0..5).map(|i| shard(&dir, i)).collect();
    let layout = block_on(reshard::layout(&dbs[0], "user_id")).unwrap();
    let wait = || std::thread::sleep(Duration::from_millis(SETTLE_MS));
    let settle = online::Settle {
        wait: &wait,
        wave: 2,
        renumber: false,
    };
    let report = block_on(online::run(
        &dbs,
        5,
        &layout,
        &directory(&dir),
        &settle,
        |_| {},
    ))
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }

    let bad = bad.lock().unwrap();
    assert!(bad.is_empty(), "{} bad reads, first: {}", bad.len(), bad[0]);
    assert!(
        report.failed.is_empty() && report.refused.is_empty(),
        "{report:?}"
    );
    assert!(
        report.moved.len() > TENANTS / 10,
        "about a fifth of the tenants move: {}",
        report.moved.len()
    );
    let reads = reads.load(Ordering::Relaxed);
    assert!(reads > 100, "the readers ran: {reads} reads");
    eprintln!(
        "{} tenants moved; {reads} whole reads, {} refusals while moving, {} writes acknowledged",
        report.moved.len(),
        refusals.load(Ordering::Relaxed),
        acknowledged.lock().unwrap().len()
    );

    // The routing now hashes over 5 with no pin left, and every note sits on its tenant's
    // shard under 5, nowhere else.
    let snapshot = block_on(router::snapshot(&directory(&dir))).unwrap();
    assert_eq!(
        (snapshot.shards, snapshot.next, snapshot.pinned),
        (5, None, false)
    );
    let mut placed: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, db) in dbs.iter().enumerate() {
        let notes: Vec<(String, String)> =
            block_on(db.all(Sql::new("SELECT user_id, id FROM notes", Vec::new()))).unwrap();
        for (tenant, id) in notes {
            placed.entry(tenant).or_default().push((i, id));
        }
        let left: Vec<(String,)> = block_on(db.all(Sql::new(
            "SELECT name FROM sqlite_master WHERE name LIKE 'd1kit_fence%'",
            Vec::new(),
        )))
        .unwrap();
        assert!(left.is_empty(), "shard {i} keeps its fences: {left:?}");
    }
    for (tenant, notes) in &placed {
        let home = shard_for(tenant.as_bytes(), 5) as usize;
        assert!(
            notes.iter().all(|(i, _)| *i == home),
            "{tenant} is not whole on shard {home}: {notes:?}"
        );
    }
    for (tenant, note) in acknowledged.lock().unwrap().iter() {
        assert!(
            placed
                .get(tenant)
                .is_some_and(|n| n.iter().any(|(_, id)| id == note)),
            "acknowledged write {note} of {tenant} is missing"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
