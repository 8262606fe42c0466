//! Tenants moved between the shards of a local pool (`d1kit::reshard`) on real SQLite files:
//! a pool of 2,000 tenants resharded 4 → 7 → 3 → 4 with every tenant checked after each step,
//! the same with the process aborted at random points of the moves, and key conflicts.
//!
//! The schema: `accounts` (one row per tenant), `notes` (a self-reference and a cascade from
//! accounts), `tags` (WITHOUT ROWID, cascading from notes), all with the tenant column
//! `user_id`, and `plans`, a global table every shard holds its own copy of.

use d1kit::local::Database as Local;
use d1kit::reshard::{self, Layout, Outcome, Refusal};
use d1kit::route::shard_for;
use d1kit::{block_on, Batch, Executor, Query, Result, RunResult};
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

const SCHEMA: &str = "
CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO plans (id, name) VALUES (1, 'free'), (2, 'pro');
CREATE TABLE accounts (
  user_id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  plan_id INTEGER NOT NULL REFERENCES plans(id)
);
CREATE TABLE notes (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id TEXT NOT NULL REFERENCES accounts(user_id) ON DELETE CASCADE,
  parent_id INTEGER REFERENCES notes(id) ON DELETE CASCADE,
  title TEXT NOT NULL,
  body BLOB,
  score REAL
);
CREATE TABLE tags (
  note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL,
  tag TEXT NOT NULL,
  PRIMARY KEY (note_id, tag)
) WITHOUT ROWID;
";

const TENANTS: usize = 2000;

fn shard_file(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("shard-{i}.sqlite"))
}

fn open(dir: &Path, n: usize) -> Vec<Local> {
    (0..n)
        .map(|i| Local::open(shard_file(dir, i)).unwrap())
        .collect()
}

/// The schema, applied once per file.
fn migrate(db: &Local) {
    let fresh: i64 = db
        .connection()
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'plans'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    if fresh == 0 {
        db.connection().execute_batch(SCHEMA).unwrap();
    }
}

fn tenant(i: usize) -> String {
    format!("user-{i}")
}

/// 2,000 tenants on a pool of `shards`, each on its routed shard: an account, 1 to 4 notes
/// (one a child of another), and tags. Note ids are unique across the pool, as an
/// application that draws them globally would have them.
fn populate(dbs: &[Local], shards: u32) {
    for db in dbs {
        migrate(db);
    }
    for db in dbs {
        db.connection().execute_batch("BEGIN").unwrap();
    }
    for i in 0..TENANTS {
        let user = tenant(i);
        let db = dbs[shard_for(user.as_bytes(), shards) as usize].connection();
        db.execute(
            "INSERT INTO accounts (user_id, email, plan_id) VALUES (?1, ?2, ?3)",
            rusqlite::params![user, format!("{user}@example.com"), 1 + (i % 2) as i64],
        )
        .unwrap();
        for k in 0..(1 + i % 4) {
            let id = (i * 10 + k) as i64;
            let parent = (k > 0).then_some((i * 10) as i64);
            let body: Vec<u8> = (0..(i % 7) as u8 * 40).collect();
            db.execute(
                "INSERT INTO notes (id, user_id, parent_id, title, body, score) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![id, user, parent, format!("note {k} of {user}, 'quoted'"), body, i as f64 / 3.0],
            )
            .unwrap();
            for tag in ["a", "b"].iter().take(1 + k % 2) {
                db.execute(
                    "INSERT INTO tags (note_id, user_id, tag) VALUES (?1, ?2, ?3)",
                    rusqlite::params![id, user, tag],
                )
                .unwrap();
            }
        }
    }
    for db in dbs {
        db.connection().execute_batch("COMMIT").unwrap();
    }
}

/// Per tenant: the shards that hold any of its rows, and a checksum of all its rows.
fn snapshot(dbs: &[Local]) -> BTreeMap<String, (BTreeSet<usize>, u64)> {
    let mut rows: BTreeMap<String, (BTreeSet<usize>, Vec<String>)> = BTreeMap::new();
    for (i, db) in dbs.iter().enumerate() {
        for (table, sql) in [
            ("accounts", "SELECT user_id, quote(user_id) || quote(email) || quote(plan_id) FROM accounts"),
            ("notes", "SELECT user_id, quote(id) || quote(parent_id) || quote(title) || quote(body) || quote(score) FROM notes"),
            ("tags", "SELECT user_id, quote(note_id) || quote(tag) FROM tags"),
        ] {
            let mut st = db.connection().prepare(sql).unwrap();
            let found = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .unwrap();
            for row in found {
                let (user, text) = row.unwrap();
                let entry = rows.entry(user).or_default();
                entry.0.insert(i);
                entry.1.push(format!("{table}:{text}"));
            }
        }
    }
    rows.into_iter()
        .map(|(user, (shards, mut texts))| {
            texts.sort();
            let mut h = std::collections::hash_map::DefaultHasher::new();
            texts.hash(&mut h);
            (user, (shards, h.finish()))
        })
        .collect()
}

fn global(dbs: &[Local]) -> Vec<Vec<(i64, String)>> {
    dbs.iter()
        .map(|db| {
            let mut st = db
                .connection()
                .prepare("SELECT id, name FROM plans ORDER BY id")
                .unwrap();
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        })
        .collect()
}

fn layout(db: &impl Executor) -> Layout {
    block_on(reshard::layout(db, "user_id")).unwrap()
}

/// Every tenant has the rows it had, all on the shard `shards` routes it to.
fn assert_placed(before: &BTreeMap<String, (BTreeSet<usize>, u64)>, dbs: &[Local], shards: u32) {
    let after = snapshot(dbs);
    assert_eq!(after.len(), TENANTS, "tenants lost or invented");
    for (user, (_, sum)) in before {
        let (at, now) = &after[user];
        let routed = shard_for(user.as_bytes(), shards) as usize;
        assert_eq!(
            at,
            &BTreeSet::from([routed]),
            "{user} is on {at:?}, not {routed}"
        );
        assert_eq!(now, sum, "{user}'s rows changed");
    }
}

#[test]
fn the_layout_is_read_in_foreign_key_order() {
    let dir = temp("layout");
    let dbs = open(&dir, 1);
    migrate(&dbs[0]);
    let l = layout(&dbs[0]);
    let names: Vec<&str> = l.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["accounts", "notes", "tags"]);
    assert_eq!(l.tables[0].keys, [vec!["user_id"], vec!["email"]]);
    assert_eq!(l.tables[2].keys, [vec!["note_id", "tag"]]);
    assert!(l.dependents.is_empty());
}

#[test]
fn a_pool_grows_and_shrinks_without_loss() {
    let dir = temp("resize");
    let mut dbs = open(&dir, 4);
    populate(&dbs, 4);
    let before = snapshot(&dbs);
    let plans = global(&dbs[..1])[0].clone();
    assert_eq!(before.len(), TENANTS);
    let l = layout(&dbs[0]);
    for (from, to) in [(4, 7), (7, 3), (3, 4)] {
        let n = from.max(to);
        dbs = open(&dir, n);
        for db in &dbs {
            migrate(db);
        }
        let report = block_on(reshard::run(&dbs, to as u32, &l, |_| None, |_| {})).unwrap();
        assert!(
            report.refused.is_empty() && report.failed.is_empty(),
            "{report:?}"
        );
        // Jump hashing moves the fewest: growing N → M moves about (M - N) / M of the
        // tenants, shrinking only those of the retired shards.
        let expected = (TENANTS * (n - from.min(to))) / n;
        let moved = report.moved.len();
        assert!(
            moved.abs_diff(expected) < TENANTS / 20,
            "{from} → {to}: {moved} moved"
        );
        assert_eq!(
            report.shards.iter().map(|s| s.tenants_in).sum::<usize>(),
            moved
        );
        assert_placed(&before, &dbs, to as u32);
        // The global table is every shard's own, untouched (a new shard has the migration's).
        for rows in global(&dbs) {
            assert_eq!(rows, plans);
        }
        // A second run moves nothing.
        let again = block_on(reshard::run(&dbs, to as u32, &l, |_| None, |_| {})).unwrap();
        assert!(
            again.moved.is_empty() && again.finished.is_empty(),
            "{again:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn colliding_keys_are_refused_and_the_tenant_stays_whole() {
    let dir = temp("conflict");
    let dbs = open(&dir, 2);
    for db in &dbs {
        migrate(db);
    }
    // Two tenants, each alone on its shard with note id 5: "alice" belongs on shard 1.
    let (alice, bob) = tenants_on(2);
    for (db, user) in [(&dbs[0], &alice), (&dbs[1], &bob)] {
        db.connection()
            .execute_batch(&format!(
                "INSERT INTO accounts VALUES ('{user}', '{user}@x', 1);
                 INSERT INTO notes (id, user_id, title) VALUES (5, '{user}', 'five');
                 INSERT INTO tags VALUES (5, '{user}', 'a');"
            ))
            .unwrap();
    }
    let before = snapshot(&dbs);
    let l = layout(&dbs[0]);
    let report = block_on(reshard::run(&dbs, 2, &l, |_| None, |_| {})).unwrap();
    assert!(report.moved.is_empty(), "{report:?}");
    let [(mv, refusal)] = &report.refused[..] else {
        panic!("{report:?}")
    };
    assert_eq!(
        (mv.tenant.key.as_str(), mv.from, mv.to),
        (alice.as_str(), 0, 1)
    );
    assert_eq!(
        refusal,
        &Refusal::KeyConflict {
            table: "notes".into(),
            columns: vec!["id".into()],
            values: vec!["5".into()],
        }
    );
    assert_eq!(
        refusal.to_string(),
        "`notes` on the target already holds (id) = 5"
    );
    // Nothing changed: alice is whole on shard 0, readable there.
    assert_eq!(snapshot(&dbs), before);
    let count: i64 = dbs[1]
        .connection()
        .query_row("SELECT count(*) FROM d1kit_moves", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(count, 0);
}

#[test]
fn colliding_keys_are_renumbered_when_asked_and_joins_hold() {
    let dir = temp("renumber");
    let dbs = open(&dir, 2);
    for db in &dbs {
        migrate(db);
    }
    // alice (shard 0, belongs on 1): note 5 and its child 6, both tagged; bob holds note 5
    // on shard 1.
    let (alice, bob) = tenants_on(2);
    dbs[0]
        .connection()
        .execute_batch(&format!(
            "INSERT INTO accounts VALUES ('{alice}', '{alice}@x', 1);
             INSERT INTO notes (id, user_id, title) VALUES (5, '{alice}', 'parent');
             INSERT INTO notes (id, user_id, parent_id, title) VALUES (6, '{alice}', 5, 'child');
             INSERT INTO tags VALUES (5, '{alice}', 'a'), (6, '{alice}', 'b');"
        ))
        .unwrap();
    dbs[1]
        .connection()
        .execute_batch(&format!(
            "INSERT INTO accounts VALUES ('{bob}', '{bob}@x', 1);
             INSERT INTO notes (id, user_id, title) VALUES (5, '{bob}', 'five');
             INSERT INTO tags VALUES (5, '{bob}', 'a');"
        ))
        .unwrap();
    let bob_before = snapshot(&dbs)[&bob].clone();
    let l = layout(&dbs[0]);
    let mv = move_of(&alice, 0, 1);
    let outcomes = block_on(reshard::move_tenants_via(
        &l,
        std::slice::from_ref(&mv),
        &dbs[0],
        &dbs[1],
        &reshard::Offline,
        true,
    ))
    .unwrap();
    let [Outcome::Moved { rows, renumbered }] = &outcomes[..] else {
        panic!("{outcomes:?}")
    };
    assert_eq!(*rows, 5);
    // Above every id either shard holds or its sequence gave: 7. The tag's key (note_id, tag),
    // taken too, follows its note.
    let ids: Vec<(&str, &str, i64, i64)> = renumbered
        .iter()
        .map(|r| (r.table.as_str(), r.column.as_str(), r.old, r.new))
        .collect();
    assert_eq!(ids, [("notes", "id", 5, 7), ("tags", "note_id", 5, 7)]);
    // The joins hold on the target: the child points at its parent's new id, the tags follow.
    let joined: Vec<(String, Option<String>, String)> = {
        let c = dbs[1].connection();
        let mut st = c
            .prepare(
                "SELECT n.title, p.title, group_concat(t.tag) FROM notes n
                 LEFT JOIN notes p ON p.id = n.parent_id
                 JOIN tags t ON t.note_id = n.id AND t.user_id = n.user_id
                 WHERE n.user_id = ?1 GROUP BY n.id ORDER BY n.id",
            )
            .unwrap();
        st.query_map([&alice], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    assert_eq!(
        joined,
        [
            (
                "child".to_string(),
                Some("parent".to_string()),
                "b".to_string()
            ),
            ("parent".to_string(), None, "a".to_string()),
        ]
    );
    let problems: i64 = dbs[1]
        .connection()
        .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(problems, 0);
    let after = snapshot(&dbs);
    assert_eq!(
        after[&alice].0,
        BTreeSet::from([1]),
        "alice left shard 0 whole"
    );
    assert_eq!(after[&bob], bob_before, "bob is untouched");
}

#[test]
fn rows_that_would_be_left_behind_refuse_the_move() {
    let dir = temp("dependents");
    let dbs = open(&dir, 2);
    for db in &dbs {
        migrate(db);
        db.connection()
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS shares (note_id INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE, link TEXT NOT NULL)",
            )
            .unwrap();
    }
    let (alice, _) = tenants_on(2);
    dbs[0]
        .connection()
        .execute_batch(&format!(
            "INSERT INTO accounts VALUES ('{alice}', 'a@x', 1);
             INSERT INTO notes (id, user_id, title) VALUES (7, '{alice}', 'shared');
             INSERT INTO shares VALUES (7, 'https://example.com/7');"
        ))
        .unwrap();
    let l = layout(&dbs[0]);
    assert_eq!(l.dependents.len(), 1);
    let outcome = block_on(reshard::move_tenant(
        &l,
        &move_of(&alice, 0, 1),
        &dbs[0],
        &dbs[1],
    ))
    .unwrap();
    let Outcome::Refused(Refusal::Dependents {
        table,
        parent,
        rows,
    }) = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        (table.as_str(), parent.as_str(), rows),
        ("shares", "notes", 1)
    );
    let shares: i64 = dbs[0]
        .connection()
        .query_row("SELECT count(*) FROM shares", [], |r| r.get(0))
        .unwrap();
    assert_eq!(shares, 1);
}

/// Two tenant keys: the first routes to shard 1 of 2 (so it moves off shard 0), the second
/// to shard 1 too.
fn tenants_on(shards: u32) -> (String, String) {
    let mut on_one = (0..)
        .map(tenant)
        .filter(|t| shard_for(t.as_bytes(), shards) == 1);
    (on_one.next().unwrap(), on_one.next().unwrap())
}

/// The move of text tenant `key` from shard `from` to `to`.
fn move_of(key: &str, from: u32, to: u32) -> reshard::Move {
    reshard::Move {
        tenant: reshard::Tenant {
            key: key.to_string(),
            value: d1kit::Value::Text(key.to_string()),
        },
        from,
        to,
    }
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-reshard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---- Crashes: a child process aborted at a chosen operation of the moves. ----

/// Writes run by the child so far (every batch and `run`, on any shard): each move writes
/// three times (the copy with its record, the delete, the record's removal).
static WRITES: AtomicU64 = AtomicU64::new(0);

/// What a [`Faulty`] database does wrong.
enum Fault {
    /// The process aborts when the pool's `n`-th write has ended (after it ran: committed, and
    /// nothing more), so that every window of a move is reached.
    AbortAfterWrite(u64),
    /// The answer to the first write is lost: it ran, and the caller hears a 500 (what a
    /// dropped connection after D1 committed looks like). Set once it happened.
    LoseFirstAnswer(std::cell::Cell<bool>),
}

/// The local database, with a [`Fault`] on its writes (`batch` and `run`).
struct Faulty {
    db: Local,
    fault: Fault,
}

impl Faulty {
    fn wrote<T>(&self, result: Result<T>) -> Result<T> {
        match &self.fault {
            Fault::AbortAfterWrite(n) => {
                if WRITES.fetch_add(1, Ordering::SeqCst) + 1 == *n {
                    std::process::abort();
                }
                result
            }
            Fault::LoseFirstAnswer(lost) if result.is_ok() && !lost.replace(true) => {
                Err(d1kit::Error::Api {
                    status: 500,
                    code: Some(7500),
                    message: "internal error".into(),
                })
            }
            Fault::LoseFirstAnswer(_) => result,
        }
    }
}

impl Executor for Faulty {
    async fn all<Q: Query>(&self, q: Q) -> Result<Vec<Q::Row>> {
        self.db.all(q).await
    }
    async fn first<Q: Query>(&self, q: Q) -> Result<Option<Q::Row>> {
        self.db.first(q).await
    }
    async fn run<Q: Query>(&self, q: Q) -> Result<RunResult> {
        self.wrote(self.db.run(q).await)
    }
    async fn batch<B: Batch>(&self, b: B) -> Result<B::Output> {
        self.wrote(self.db.batch(b).await)
    }
}

#[test]
#[ignore = "run by reshard_survives_aborts as its aborted child"]
fn aborted_child() {
    let Ok(dir) = std::env::var("D1KIT_RESHARD_DIR") else {
        return;
    };
    let abort_at: u64 = std::env::var("D1KIT_RESHARD_ABORT_AT")
        .unwrap()
        .parse()
        .unwrap();
    let shards: u32 = std::env::var("D1KIT_RESHARD_SHARDS")
        .unwrap()
        .parse()
        .unwrap();
    let dbs: Vec<Faulty> = open(Path::new(&dir), 7)
        .into_iter()
        .map(|db| Faulty {
            db,
            fault: Fault::AbortAfterWrite(abort_at),
        })
        .collect();
    let l = block_on(reshard::layout(&dbs[0].db, "user_id")).unwrap();
    let report = block_on(reshard::run(&dbs, shards, &l, |_| None, |_| {})).unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
}

#[test]
fn reshard_survives_aborts() {
    let dir = temp("aborts");
    let dbs = open(&dir, 7);
    populate(&dbs[..4], 4);
    for db in &dbs {
        migrate(db);
    }
    let before = snapshot(&dbs);
    drop(dbs);
    // A 4 → 7 run makes about 860 moves in about 12 groups of one source and one target (up
    // to 100 tenants each), three writes each (the copies with their records, the deletes,
    // the records removed): each child is aborted after a seeded number of writes up to 6, so
    // all five die mid-run (30 writes at most, of about 36), each at some step of a group's
    // move.
    let seed: u64 = std::env::var("D1KIT_RESHARD_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let mut aborts = 0;
    let mut x = seed;
    for _ in 0..5 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let abort_at = 1 + (x >> 33) % 6;
        let out = Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "aborted_child", "--nocapture"])
            .env("D1KIT_RESHARD_DIR", &dir)
            .env("D1KIT_RESHARD_ABORT_AT", abort_at.to_string())
            .env("D1KIT_RESHARD_SHARDS", "7")
            .output()
            .unwrap();
        // SIGABRT, not a failed assertion.
        use std::os::unix::process::ExitStatusExt;
        if out.status.signal() == Some(6) {
            aborts += 1;
        } else {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Whatever the moment, no tenant is lost or duplicated: each is whole somewhere,
        // its rows on one shard, or on two only while its move is recorded.
        let dbs = open(&dir, 7);
        let now = snapshot(&dbs);
        assert_eq!(now.len(), TENANTS);
        let mid_move = now.values().filter(|(at, _)| at.len() > 1).count();
        eprintln!("aborted after write {abort_at}: {mid_move} tenant(s) copied, not yet deleted");
        for (user, (at, _)) in &now {
            if at.len() > 1 {
                let recorded: i64 = at
                    .iter()
                    .map(|&i| {
                        dbs[i]
                            .connection()
                            .query_row(
                                "SELECT count(*) FROM d1kit_moves WHERE tenant = ?1",
                                [user],
                                |r| r.get(0),
                            )
                            .unwrap_or(0)
                    })
                    .sum();
                assert_eq!(recorded, 1, "{user} is split over {at:?} with no record");
            }
        }
    }
    assert_eq!(
        aborts, 5,
        "every child run should have been aborted mid-run"
    );
    // Then a run to the end.
    let dbs = open(&dir, 7);
    let l = layout(&dbs[0]);
    let report = block_on(reshard::run(&dbs, 7, &l, |_| None, |_| {})).unwrap();
    assert!(
        report.refused.is_empty() && report.failed.is_empty(),
        "{report:?}"
    );
    assert_placed(&before, &dbs, 7);
    for db in &dbs {
        let left: i64 = db
            .connection()
            .query_row("SELECT count(*) FROM d1kit_moves", [], |r| r.get(0))
            .unwrap_or(0);
        assert_eq!(left, 0);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_copy_whose_answer_was_lost_is_not_sent_twice() {
    let dir = temp("lost");
    let dbs = open(&dir, 2);
    for db in &dbs {
        migrate(db);
    }
    let (alice, _) = tenants_on(2);
    dbs[0]
        .connection()
        .execute_batch(&format!(
            "INSERT INTO accounts VALUES ('{alice}', 'a@x', 1);
             INSERT INTO notes (id, user_id, title) VALUES (7, '{alice}', 'once');"
        ))
        .unwrap();
    let l = layout(&dbs[0]);
    let target = Faulty {
        db: Local::open(shard_file(&dir, 1)).unwrap(),
        fault: Fault::LoseFirstAnswer(std::cell::Cell::new(false)),
    };
    let outcome = block_on(reshard::move_tenant(
        &l,
        &move_of(&alice, 0, 1),
        &dbs[0],
        &target,
    ))
    .unwrap();
    assert_eq!(
        outcome,
        Outcome::Moved {
            rows: 2,
            renumbered: Vec::new()
        }
    );
    assert!(
        matches!(&target.fault, Fault::LoseFirstAnswer(lost) if lost.get()),
        "the first answer should have been lost"
    );
    let on = |i: usize, table: &str| -> i64 {
        dbs[i]
            .connection()
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(
        (on(0, "notes"), on(1, "notes"), on(1, "accounts")),
        (0, 1, 1)
    );
    assert_eq!(on(1, "d1kit_moves"), 0);
}
