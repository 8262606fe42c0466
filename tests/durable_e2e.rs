//! End-to-end: `examples/durable` (one SQLite-backed Durable Object per user) built to wasm
//! and served by real workerd (npm wrangler's local mode), driven over HTTP on 127.0.0.1.
//! `scripts/e2e-worker.sh` builds it with two migrations, starts `wrangler dev`, and runs the
//! `durable_*` tests with `--ignored` and `D1KIT_E2E_URL` set; then, on the same state, it
//! rebuilds with a third migration (`durable_phase_upgraded`), a broken fourth
//! (`durable_phase_broken`) and the fourth fixed (`durable_phase_fixed`), restarting the
//! Worker each time. `D1KIT_E2E_MIGRATIONS` is the example's migrations directory as each
//! build embedded it.
//!
//! What the objects say is checked against what is independent of them: the migration names
//! are the directory's files, and the schema an object reports is compared with the schema
//! the same migrations build in a local SQLite here (no drift).

#[path = "common/worker_client.rs"]
mod worker_client;

use serde_json::{json, Value as Json};
use std::path::PathBuf;
use worker_client::Worker;

const MAX_SAFE: i64 = (1 << 53) - 1;
/// The users the upgrade phases follow from one build to the next.
const PHASE_USERS: usize = 40;

fn migrations_dir() -> PathBuf {
    std::env::var_os("D1KIT_E2E_MIGRATIONS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/durable/migrations")
        })
}

/// The migrations the running build embeds: the directory's `.sql` files, in order.
fn migration_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(migrations_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

/// The schema `migrations` build in a fresh SQLite, as the objects report theirs: `[type,
/// name, sql]`, sorted, without SQLite's own objects.
fn expected_schema(migrations: &[String]) -> Vec<Json> {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    for name in migrations {
        let sql = std::fs::read_to_string(migrations_dir().join(name)).unwrap();
        conn.execute_batch(&sql)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let mut stmt = conn
        .prepare(
            "SELECT type, name, coalesce(sql, '') FROM sqlite_schema \
             WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok(json!([
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?
            ]))
        })
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

/// A user's object's status, asserted to be at exactly `migrations`, with the schema they
/// build (no drift).
fn assert_at(worker: &Worker, user: &str, migrations: &[String]) {
    let status = worker.ok("GET", &format!("/users/{user}/admin/status"), None);
    assert_eq!(status["applied"], json!(migrations), "{user}: {status}");
    assert_eq!(status["pending"], json!([]), "{user}: {status}");
    assert_eq!(status["failed"], Json::Null, "{user}: {status}");
    assert_eq!(
        status["schema"],
        json!(expected_schema(migrations)),
        "{user}: the object's schema drifts from the migrations'"
    );
}

fn phase_user(i: usize) -> String {
    format!("phase-{i:02}")
}

fn titles(worker: &Worker, user: &str) -> Vec<String> {
    let notes = worker.ok("GET", &format!("/users/{user}/notes"), None);
    notes["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_forty_users_each_see_only_their_own_notes() {
    let worker = Worker::from_env();
    let users: Vec<String> = (0..40).map(|i| format!("user-{i:02}")).collect();
    for (i, user) in users.iter().enumerate() {
        for k in 0..=(i % 3) {
            let added = worker.ok(
                "POST",
                &format!("/users/{user}/notes"),
                Some(json!({ "title": format!("{user} note {k}"), "body": "private" })),
            );
            assert!(added["id"].as_i64().is_some(), "{added}");
        }
    }
    for (i, user) in users.iter().enumerate() {
        let want: Vec<String> = (0..=(i % 3)).map(|k| format!("{user} note {k}")).collect();
        assert_eq!(titles(&worker, user), want, "{user} sees only their notes");
    }
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_integers_and_every_byte_round_trip_and_2_53_is_refused() {
    let worker = Worker::from_env();
    let user = "values";
    let every_byte: String = (0..=255u8).map(|b| format!("{b:02x}")).collect();
    for (n, r) in [(MAX_SAFE, 0.5), (-MAX_SAFE, -1e300), (0, 0.1)] {
        worker.ok(
            "POST",
            &format!("/users/{user}/samples"),
            Some(json!({ "n": n.to_string(), "r": r, "data": every_byte })),
        );
    }
    let samples = worker.ok("GET", &format!("/users/{user}/samples"), None);
    let got: Vec<(String, f64, String)> = samples["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["n"].as_str().unwrap().to_owned(),
                s["r"].as_f64().unwrap(),
                s["data"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (MAX_SAFE.to_string(), 0.5, every_byte.clone()),
            ((-MAX_SAFE).to_string(), -1e300, every_byte.clone()),
            ("0".to_owned(), 0.1, every_byte.clone()),
        ]
    );
    // ±2^53 cannot cross JavaScript exactly: refused at the bind, naming the parameter.
    for n in [1i64 << 53, -(1i64 << 53)] {
        let (status, body) = worker.send(
            "POST",
            &format!("/users/{user}/samples"),
            Some(json!({ "n": n.to_string(), "r": 0, "data": "00" })),
        );
        assert_eq!(status, 400, "{n}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("parameter 1"),
            "{body}"
        );
    }
    // Stored by SQL itself, 2^53 + 1 cannot be read back exactly: an error naming the column.
    worker.ok("POST", &format!("/users/{user}/samples/beyond-2-53"), None);
    let (status, body) = worker.send("GET", &format!("/users/{user}/samples"), None);
    assert_eq!(status, 500, "{body}");
    assert!(body["error"].as_str().unwrap().contains("`n`"), "{body}");
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_a_failing_batch_leaves_nothing() {
    let worker = Worker::from_env();
    let user = "batch";
    worker.ok(
        "POST",
        &format!("/users/{user}/notes"),
        Some(json!({ "title": "before" })),
    );
    let (status, body) = worker.send(
        "POST",
        &format!("/users/{user}/notes/batch-then-fail"),
        None,
    );
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap().contains("UNIQUE"), "{body}");
    assert_eq!(
        titles(&worker, user),
        ["before"],
        "the batch's first insert is not kept"
    );
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_objects_report_their_migrations_and_no_drift() {
    let worker = Worker::from_env();
    let migrations = migration_names();
    assert!(migrations.len() >= 2, "{migrations:?}");
    for user in ["status-a", "status-b"] {
        assert_at(&worker, user, &migrations);
    }
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_phase_seed() {
    let worker = Worker::from_env();
    let migrations = migration_names();
    for i in 0..PHASE_USERS {
        let user = phase_user(i);
        worker.ok(
            "POST",
            &format!("/users/{user}/notes"),
            Some(json!({ "title": format!("{user} kept") })),
        );
        assert_at(&worker, &user, &migrations);
    }
}

/// Every phase user's object, restarted on a new build: migrated at its next request, its
/// note kept.
fn assert_every_user_migrated() {
    let worker = Worker::from_env();
    let migrations = migration_names();
    for i in 0..PHASE_USERS {
        let user = phase_user(i);
        assert_eq!(
            titles(&worker, &user),
            [format!("{user} kept")],
            "{user}'s data is kept"
        );
        assert_at(&worker, &user, &migrations);
    }
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_phase_upgraded() {
    assert_every_user_migrated();
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_phase_broken() {
    let worker = Worker::from_env();
    let migrations = migration_names();
    let (good, broken) = migrations.split_at(migrations.len() - 1);
    let broken = &broken[0];
    for i in 0..PHASE_USERS {
        let user = phase_user(i);
        let (status, body) = worker.send("GET", &format!("/users/{user}/notes"), None);
        assert_eq!(status, 500, "{user}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(broken.as_str()),
            "{user}: the error names {broken}: {error}"
        );
        let report = worker.ok("GET", &format!("/users/{user}/admin/status"), None);
        assert_eq!(
            report["applied"],
            json!(good),
            "{user} stays at its last good version"
        );
        assert_eq!(report["failed"]["migration"], broken.as_str(), "{report}");
        assert_eq!(
            report["schema"],
            json!(expected_schema(good)),
            "{user}: nothing of {broken} stays"
        );
    }
}

#[test]
#[ignore = "needs the Worker running: scripts/e2e-worker.sh"]
fn durable_phase_fixed() {
    assert_every_user_migrated();
}
