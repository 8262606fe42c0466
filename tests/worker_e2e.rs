//! End-to-end: `examples/worker` built to wasm and served by real workerd (npm wrangler's
//! local mode), driven over HTTP on 127.0.0.1. `scripts/e2e-worker.sh` builds it, migrates
//! the four shards, starts `wrangler dev`, then runs this test with `--ignored` and
//! `D1KIT_E2E_URL` / `D1KIT_E2E_STATE` set.
//!
//! What the Worker says is checked against what is independent of it: the shard each user
//! lands on is `d1kit::route::shard_for` computed here, natively, and the rows are read back
//! from the shards' SQLite files under wrangler's state directory.

use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const SHARDS: u32 = 4;
const MAX_SAFE: i64 = (1 << 53) - 1;

struct Worker {
    base: String,
    agent: ureq::Agent,
}

impl Worker {
    fn from_env() -> Worker {
        let base = std::env::var("D1KIT_E2E_URL")
            .expect("D1KIT_E2E_URL is not set: run scripts/e2e-worker.sh, which starts the Worker");
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Worker { base, agent }
    }

    fn send(&self, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        let url = format!("{}{path}", self.base);
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, Some(body)) => self.agent.post(&url).send_json(&body),
            (_, None) => self.agent.post(&url).send_empty(),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .unwrap_or_else(|e| panic!("{method} {path}: reading the body: {e}"));
        let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "error": text.clone() }));
        (status, json)
    }

    fn ok(&self, method: &str, path: &str, body: Option<Json>) -> Json {
        let (status, json) = self.send(method, path, body);
        assert_eq!(status, 200, "{method} {path} answered {status}: {json}");
        json
    }
}

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

/// A user pinned in the KV directory lands on the pinned shard, not the hashed one, and
/// reads back from there; a pin outside the pool is refused.
fn pins_override_the_hash(worker: &Worker) {
    let user = "pinned-user";
    let pinned = (shard_of(user) + 1) % SHARDS;
    worker.ok("POST", &format!("/admin/pin/{user}/{pinned}"), None);
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
