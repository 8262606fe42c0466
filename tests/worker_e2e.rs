//! End-to-end: `examples/worker` built to wasm and served by real workerd (npm wrangler's
//! local mode), driven over HTTP on 127.0.0.1. `scripts/e2e-worker.sh` builds it, migrates
//! the four shards and the directory, starts `wrangler dev`, then runs `worker_end_to_end`
//! with `--ignored` and `D1KIT_E2E_URL` / `D1KIT_E2E_STATE` set; then grows the pool to five
//! shards, serves the new build, and runs `worker_reshard` (with `D1KIT_BIN` and
//! `D1KIT_E2E_MANIFEST`: the `d1kit` binary and the Worker's Cargo.toml).
//!
//! What the Worker says is checked against what is independent of it: the shard each user
//! lands on is `d1kit::route::shard_for` computed here, natively, and the rows are read back
//! from the shards' SQLite files under wrangler's state directory.

#[path = "common/worker_client.rs"]
mod worker_client;

use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use worker_client::Worker;

const SHARDS: u32 = 4;
const MAX_SAFE: i64 = (1 << 53) - 1;

/// The SQLite file wrangler keeps shard `n` in (its `database_id` in wrangler.toml ends in n).
fn shard_file(n: u32) -> PathBuf {
    let state = std::env::var("D1KIT_E2E_STATE").expect("D1KIT_E2E_STATE is not set");
    d1kit::local::wrangler_state_file(state, &format!("00000000-0000-0000-0000-{n:012}"))
}

/// `SELECT` on shard `n`'s file, read-only, beside the running workerd.
fn read_shard<T>(
    n: u32,
    sql: &str,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let path = shard_file(n);
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt.query_map([], row).unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

fn shard_of(user: &str) -> u32 {
    d1kit::route::shard_for(user.as_bytes(), SHARDS)
}

#[test]
#[ignore = "needs the Worker running in workerd: scripts/e2e-worker.sh"]
fn worker_end_to_end() {
    let worker = Worker::from_env();
    routing_and_isolation(&worker);
    pins_override_the_hash(&worker);
    exact_values(&worker);
    atomic_batch(&worker);
    sessions(&worker);
}

/// 40 users, 1 to 3 notes each: each lands on the shard `shard_for` predicts (checked in
/// the shard files), sees exactly their own notes, and the fan-out sees everyone.
fn routing_and_isolation(worker: &Worker) {
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for i in 0..40 {
        let user = format!("user-{i}");
        for k in 0..=(i % 3) {
            let title = format!("note {k} of {user}");
            let body = if k == 0 {
                Json::Null
            } else {
                json!(format!("body {k}"))
            };
            let reply = worker.ok(
                "POST",
                &format!("/users/{user}/notes"),
                Some(json!({ "title": title, "body": body })),
            );
            assert_eq!(reply["shard"], json!(shard_of(&user)), "{user}: {reply}");
            expected.entry(user.clone()).or_default().push(title);
        }
    }

    // The shard files hold exactly the users the hash sends there.
    let mut used = 0;
    for n in 0..SHARDS {
        let owners: BTreeSet<String> =
            read_shard(n, "SELECT DISTINCT owner FROM notes", |r| r.get(0))
                .into_iter()
                .collect();
        let predicted: BTreeSet<String> = expected
            .keys()
            .filter(|u| shard_of(u) == n)
            .cloned()
            .collect();
        assert_eq!(
            owners, predicted,
            "shard {n} holds other users than shard_for predicts"
        );
        used += usize::from(!owners.is_empty());
    }
    assert_eq!(used, SHARDS as usize, "40 users should reach all 4 shards");

    // Each user sees their notes, in order, and nobody else's (several share a shard).
    for (user, titles) in &expected {
        let reply = worker.ok("GET", &format!("/users/{user}/notes"), None);
        let seen: Vec<&str> = reply["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap())
            .collect();
        assert_eq!(seen, *titles, "{user} sees other notes: {reply}");
        let first = &reply["notes"][0];
        assert!(
            first["body"].is_null(),
            "a NULL body comes back as null: {first}"
        );
        assert!(first["id"].is_i64(), "{first}");
    }

    // The fan-out runs on all four shards and merges: every user, with their count.
    let reply = worker.ok("GET", "/admin/notes-per-user", None);
    let counted: BTreeMap<String, usize> = reply["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["owner"].as_str().unwrap().to_owned(),
                u["notes"].as_u64().unwrap() as usize,
            )
        })
        .collect();
    let wanted: BTreeMap<String, usize> =
        expected.iter().map(|(u, t)| (u.clone(), t.len())).collect();
    assert_eq!(counted, wanted);
}

/// A user pinned in the pool's directory lands on the pinned shard, not the hashed one, and
/// reads back from there (once the Worker's router has read the directory again: within its
/// 2 s); a pin outside the pool is refused.
fn pins_override_the_hash(worker: &Worker) {
    let user = "pinned-user";
    let pinned = (shard_of(user) + 1) % SHARDS;
    worker.ok("POST", &format!("/admin/pin/{user}/{pinned}"), None);
    std::thread::sleep(std::time::Duration::from_millis(2_100));
    let reply = worker.ok(
        "POST",
        &format!("/users/{user}/notes"),
        Some(json!({ "title": "pinned note" })),
    );
    assert_eq!(reply["shard"], json!(pinned), "{reply}");
    for n in 0..SHARDS {
        let here: Vec<i64> = read_shard(
            n,
            "SELECT count(*) FROM notes WHERE owner = 'pinned-user'",
            |r| r.get(0),
        );
        assert_eq!(
            here,
            vec![i64::from(n == pinned)],
            "shard {n}: the pinned user's note is misplaced"
        );
    }
    let reply = worker.ok("GET", &format!("/users/{user}/notes"), None);
    assert_eq!(reply["notes"][0]["title"], json!("pinned note"), "{reply}");
    let (status, _) = worker.send("POST", &format!("/admin/pin/{user}/{SHARDS}"), None);
    assert_eq!(status, 422);
}

/// Integers up to ±(2^53 - 1), reals and every byte value round-trip exactly; ±2^53 and
/// beyond are refused when bound, and a stored 2^53 + 1 is refused when decoded.
fn exact_values(worker: &Worker) {
    let user = "exact";
    let all_bytes: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
    let samples = [
        (0, 0.0, String::new()),
        (-1, -0.25, "00".to_owned()),
        (MAX_SAFE, 1e300, all_bytes.clone()),
        (-MAX_SAFE, f64::MIN_POSITIVE, "ff00ff".to_owned()),
        (1 << 40, 1.5, "deadbeef".to_owned()),
    ];
    for (n, r, data) in &samples {
        worker.ok(
            "POST",
            &format!("/users/{user}/samples"),
            Some(json!({ "n": n.to_string(), "r": r, "data": data })),
        );
    }
    let reply = worker.ok("GET", &format!("/users/{user}/samples"), None);
    let got: Vec<(i64, f64, String)> = reply["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["n"].as_str().unwrap().parse().unwrap(),
                s["r"].as_f64().unwrap(),
                s["data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, samples.to_vec());
    // And in the shard file, with SQLite's own types: INTEGER, REAL and BLOB.
    let stored: Vec<(i64, String, String, Vec<u8>)> = read_shard(
        shard_of(user),
        "SELECT n, typeof(r), typeof(data), data FROM samples WHERE owner = 'exact' ORDER BY id",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    );
    assert_eq!(stored[2].0, MAX_SAFE);
    assert!(
        stored.iter().all(|s| s.1 == "real" && s.2 == "blob"),
        "{stored:?}"
    );
    assert_eq!(stored[2].3, (0..=255u8).collect::<Vec<_>>());

    for n in [1i64 << 53, -(1i64 << 53), i64::MAX, i64::MIN] {
        let (status, reply) = worker.send(
            "POST",
            &format!("/users/{user}/samples"),
            Some(json!({ "n": n.to_string(), "r": 0.0, "data": "" })),
        );
        let error = reply["error"].as_str().unwrap_or_default();
        assert_eq!(status, 400, "{n} must be refused: {reply}");
        assert!(
            error.contains("parameter 2") && error.contains("2^53"),
            "{error}"
        );
    }
    assert_eq!(
        read_shard(
            shard_of(user),
            "SELECT count(*) FROM samples WHERE owner = 'exact'",
            |r| r.get::<_, i64>(0)
        ),
        vec![5]
    );

    let beyond = "beyond";
    worker.ok(
        "POST",
        &format!("/users/{beyond}/samples/beyond-2-53"),
        None,
    );
    let (status, reply) = worker.send("GET", &format!("/users/{beyond}/samples"), None);
    let error = reply["error"].as_str().unwrap_or_default();
    assert_eq!(status, 500, "{reply}");
    assert!(
        error.contains("column `n`") && error.contains("2^53"),
        "{error}"
    );
}

/// A batch whose second statement fails leaves nothing of the first.
fn atomic_batch(worker: &Worker) {
    let user = "batcher";
    worker.ok(
        "POST",
        &format!("/users/{user}/notes"),
        Some(json!({ "title": "before" })),
    );
    let (status, reply) = worker.send(
        "POST",
        &format!("/users/{user}/notes/batch-then-fail"),
        None,
    );
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap_or_default()
            .contains("NOT NULL"),
        "{reply}"
    );
    let reply = worker.ok("GET", &format!("/users/{user}/notes"), None);
    assert_eq!(reply["notes"].as_array().unwrap().len(), 1, "{reply}");
    let kept: Vec<i64> = read_shard(
        shard_of(user),
        "SELECT count(*) FROM notes WHERE title LIKE 'kept only%'",
        |r| r.get(0),
    );
    assert_eq!(
        kept,
        vec![0],
        "the batch's first insert survived its rollback"
    );
}

/// A session returns a bookmark, and a request that starts from it works and returns one.
fn sessions(worker: &Worker) {
    let user = "user-1";
    let reply = worker.ok("GET", &format!("/users/{user}/session"), None);
    assert_eq!(reply["count"], json!(2), "{reply}");
    let bookmark = reply["bookmark"].as_str().unwrap_or_default().to_owned();
    assert!(!bookmark.is_empty(), "no bookmark: {reply}");
    let reply = worker.ok(
        "GET",
        &format!("/users/{user}/session?bookmark={bookmark}"),
        None,
    );
    assert_eq!(reply["count"], json!(2), "{reply}");
    let next = reply["bookmark"].as_str().unwrap_or_default();
    assert!(
        !next.is_empty() && next >= bookmark.as_str(),
        "{bookmark} then {next}"
    );
}

/// One user's note titles as the Worker returns them; `None` when it did not answer 200 (a
/// user being moved is refused with 503, and a request that meets `d1kit reshard`'s write
/// transaction on the shard file fails: both are tried again).
fn titles(worker: &Worker, user: &str) -> Option<BTreeSet<String>> {
    let (status, reply) = worker.send("GET", &format!("/users/{user}/notes"), None);
    (status == 200).then(|| {
        reply["notes"]
            .as_array()
            .map(|notes| {
                notes
                    .iter()
                    .filter_map(|n| n["title"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// The id the wrangler file gives the block bound as `binding`.
fn database_id(binding: &str) -> String {
    let manifest = std::env::var("D1KIT_E2E_MANIFEST").expect("D1KIT_E2E_MANIFEST is not set");
    let wrangler = PathBuf::from(manifest).with_file_name("wrangler.toml");
    let text = std::fs::read_to_string(&wrangler).unwrap();
    let block = text
        .split("[[d1_databases]]")
        .find(|b| b.contains(&format!("binding = \"{binding}\"")))
        .unwrap_or_else(|| panic!("no block for {binding} in {}", wrangler.display()));
    let id = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("database_id = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no database_id for {binding}"));
    id.to_owned()
}

/// The pool grown from 4 to 5 shards (the Worker already serves the 5-shard build, routing
/// over 4 as its directory says) by `d1kit reshard --local --renumber` while two writers add
/// notes to 40 users and two readers read them back through the Worker. No read ever misses a
/// note acknowledged before it began, every acknowledged note is there at the end, each
/// user's notes sit on the one shard 5 shards route them to, and the directory routes over 5.
#[test]
#[ignore = "needs the 5-shard Worker running in workerd: scripts/e2e-worker.sh"]
fn worker_reshard() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    let worker = Arc::new(Worker::from_env());
    let users: Vec<String> = (0..40).map(|i| format!("user-{i}")).collect();
    let movers = users
        .iter()
        .filter(|u| {
            d1kit::route::shard_for(u.as_bytes(), 4) != d1kit::route::shard_for(u.as_bytes(), 5)
        })
        .count();
    assert!(
        movers >= 4,
        "only {movers} of the 40 users move: the test would prove little"
    );
    // What each user has before: acknowledged already.
    let acked: Arc<Mutex<BTreeMap<String, BTreeSet<String>>>> = Arc::default();
    for user in &users {
        let seen = titles(&worker, user).expect("the 5-shard Worker answers");
        assert!(!seen.is_empty(), "{user} has notes from the first test");
        acked.lock().unwrap().insert(user.clone(), seen);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (reads, retried) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let missing: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut threads = Vec::new();
    for w in 0..2 {
        let (worker, users, acked, stop, retried) = (
            worker.clone(),
            users.clone(),
            acked.clone(),
            stop.clone(),
            retried.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let user = &users[(k * 7 + w * 13) % users.len()];
                let title = format!("online {w}-{k}");
                let (status, _) = worker.send(
                    "POST",
                    &format!("/users/{user}/notes"),
                    Some(json!({ "title": title })),
                );
                if status == 200 {
                    acked
                        .lock()
                        .unwrap()
                        .get_mut(user.as_str())
                        .unwrap()
                        .insert(title);
                } else {
                    // Not acknowledged (it may still have been written: never counted).
                    retried.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }));
    }
    for r in 0..2 {
        let (worker, users, acked, stop, reads, retried, missing) = (
            worker.clone(),
            users.clone(),
            acked.clone(),
            stop.clone(),
            reads.clone(),
            retried.clone(),
            missing.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut k = r;
            while !stop.load(Ordering::Relaxed) {
                k += 1;
                let user = &users[(k * 11) % users.len()];
                let before = acked.lock().unwrap()[user.as_str()].clone();
                match titles(&worker, user) {
                    Some(seen) => {
                        reads.fetch_add(1, Ordering::Relaxed);
                        let lost: Vec<&String> = before.difference(&seen).collect();
                        if !lost.is_empty() {
                            missing
                                .lock()
                                .unwrap()
                                .push(format!("{user}: {lost:?} missing"));
                        }
                    }
                    None => {
                        retried.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }));
    }

    std::thread::sleep(Duration::from_secs(1));
    let bin = std::env::var("D1KIT_BIN").expect("D1KIT_BIN is not set");
    let manifest = std::env::var("D1KIT_E2E_MANIFEST").unwrap();
    let state = std::env::var("D1KIT_E2E_STATE").unwrap();
    let start = Instant::now();
    let out = std::process::Command::new(bin)
        .args([
            "reshard",
            "--local",
            "--yes",
            "--renumber",
            "--persist-to",
            &state,
        ])
        .args(["--manifest-path", &manifest])
        .output()
        .unwrap();
    let took = start.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{stderr}{stdout}");
    assert!(out.status.success(), "d1kit reshard failed");
    assert!(
        stderr.contains("online through the directory ROUTING"),
        "{stderr}"
    );
    let reads = reads.load(Ordering::Relaxed);
    eprintln!(
        "reshard took {:.1} s; {reads} reads, {} requests tried again, {} notes acknowledged",
        took.as_secs_f64(),
        retried.load(Ordering::Relaxed),
        acked
            .lock()
            .unwrap()
            .values()
            .map(BTreeSet::len)
            .sum::<usize>()
    );
    let missing = missing.lock().unwrap();
    assert!(
        missing.is_empty(),
        "{} reads missed notes: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(reads > 40, "the readers ran: {reads}");

    // Every acknowledged note is there, through the Worker and in the files, on the one shard
    // five shards route its user to.
    let acked = acked.lock().unwrap();
    for (user, titles_acked) in acked.iter() {
        let seen = (0..50)
            .find_map(|_| {
                titles(&worker, user).or_else(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    None
                })
            })
            .unwrap_or_else(|| panic!("{user} is not served after the reshard"));
        assert!(
            titles_acked.is_subset(&seen),
            "{user}: {:?} missing",
            titles_acked.difference(&seen)
        );
    }
    let state = std::env::var("D1KIT_E2E_STATE").unwrap();
    for n in 0..5u32 {
        let path = d1kit::local::wrangler_state_file(&state, &database_id(&format!("USERS_{n}")));
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut st = conn.prepare("SELECT DISTINCT owner FROM notes").unwrap();
        let owners: Vec<String> = st
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        for owner in owners.iter().filter(|o| o.starts_with("user-")) {
            assert_eq!(
                d1kit::route::shard_for(owner.as_bytes(), 5),
                n,
                "{owner}'s notes are on shard {n}"
            );
        }
    }
    let routing = d1kit::local::wrangler_state_file(&state, &database_id("ROUTING"));
    let conn =
        rusqlite::Connection::open_with_flags(&routing, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let shards: i64 = conn
        .query_row("SELECT shards FROM d1kit_routing", [], |r| r.get(0))
        .unwrap();
    assert_eq!(shards, 5, "the directory routes over 5 shards");
}
