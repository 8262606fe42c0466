//! `d1kit migrate --remote --bookmarks FILE` and `d1kit restore --remote` against the D1
//! REST fake (`tests/d1-fake`, whose Time Travel keeps real snapshots): 20 databases migrated
//! with a migration that deletes rows, restored from the bookmarks taken before it (every row
//! back), then the restore undone from its undo file (the migrated state back). Times outside
//! the retention window are refused before anything is restored.

mod common;

use common::{blocks, json, run};
use d1_fake::{FakeD1, Options};
use d1_runtime::rest::{Client, Retry};
use d1_runtime::{block_on, Executor, Sql, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SHARDS: usize = 20;
const INIT: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, data BLOB);\n";
/// A migration that loses data: half the notes, and a column.
const PURGE: &str = "DELETE FROM notes WHERE id % 2 = 0;\nALTER TABLE notes DROP COLUMN data;\n";

fn krate(fake: &FakeD1) -> (PathBuf, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-restore-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = {SHARDS}\ndatabase_name = \"users-{{n}}\"\n"),
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    std::fs::write(dir.join("migrations/0001_init.sql"), INIT).unwrap();
    for args in [&["provision", "--remote"][..], &["migrate", "--remote"]] {
        let (code, out, err) = run(&dir, args, Some(fake));
        assert_eq!(code, 0, "{out}{err}");
    }
    let ids = blocks(&dir.join("wrangler.toml"))
        .into_iter()
        .map(|b| b.database_id.unwrap())
        .collect();
    (dir, ids)
}

/// Every row of database `id`, as text (through the fake's own SQLite).
fn content(fake: &FakeD1, id: &str) -> String {
    fake.with_connection(id, |c| {
        let columns: Vec<String> = c
            .prepare("SELECT name FROM pragma_table_info('notes')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let sql = format!(
            "SELECT {} FROM notes ORDER BY id",
            columns
                .iter()
                .map(|c| format!("quote({c})"))
                .collect::<Vec<_>>()
                .join(" || '|' || ")
        );
        let rows: Vec<String> = c
            .prepare(&sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let applied: i64 = c
            .query_row("SELECT count(*) FROM d1_migrations", [], |r| r.get(0))
            .unwrap();
        format!("{applied} applied; {}", rows.join("\n"))
    })
    .unwrap()
}

fn bookmarks_of(report: &serde_json::Value) -> usize {
    report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["bookmark"].as_str().is_some_and(|b| !b.is_empty()))
        .count()
}

fn write_file(path: &Path, taken_at: &str, ids: &[String]) {
    let databases: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!({"database": "users", "label": id, "id": id, "bookmark": "00000001-00000002-00000003-0a83ea2fceebc654de0640c422be4653", "taken_at": taken_at}))
        .collect();
    std::fs::write(
        path,
        serde_json::json!({"version": 1, "databases": databases}).to_string(),
    )
    .unwrap();
}

/// `d1kit restore <args>` against the fake.
fn restore(dir: &Path, fake: &FakeD1, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["restore"];
    all.extend(args);
    run(dir, &all, Some(fake))
}

#[test]
fn a_destructive_fleet_migration_is_restored_from_its_bookmarks_and_the_restore_undone() {
    let fake = FakeD1::start(Options::default());
    let (dir, ids) = krate(&fake);
    assert_eq!(ids.len(), SHARDS);
    // Rows written through the API, as an application would (the fake's history sees them).
    let client = Client::new(fake.account_id(), fake.token())
        .with_base_url(fake.base_url())
        .with_retry(Retry {
            base_delay: Duration::from_millis(10),
            ..Retry::default()
        });
    for (n, id) in ids.iter().enumerate() {
        let db = client.database(id.clone());
        for i in 0..6i64 {
            block_on(db.run(Sql::<()>::new(
                "INSERT INTO notes (id, body, data) VALUES (?1, ?2, unhex(?3))",
                vec![
                    Value::from(i),
                    Value::from(format!("shard {n} note {i}: 'quoted'\nline")),
                    Value::from(format!("00ff{i:02x}")),
                ],
            )))
            .unwrap();
        }
    }
    let before: Vec<String> = ids.iter().map(|id| content(&fake, id)).collect();
    assert!(before[0].starts_with("1 applied; ") && before[0].matches("note").count() == 6);

    std::fs::write(dir.join("migrations/0002_purge.sql"), PURGE).unwrap();
    let file = dir.join("bookmarks.json");
    let (code, report) = json(
        &dir,
        &["migrate", "--remote", "--bookmarks", file.to_str().unwrap()],
        Some(&fake),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(bookmarks_of(&report), SHARDS, "{report}");
    let migrated: Vec<String> = ids.iter().map(|id| content(&fake, id)).collect();
    for (b, m) in before.iter().zip(&migrated) {
        assert!(
            m.starts_with("2 applied; ") && m.matches("note").count() == 3,
            "{m}"
        );
        assert_ne!(b, m);
    }

    // A dry run restores nothing.
    let (code, plan) = json(
        &dir,
        &[
            "restore",
            "--remote",
            "--bookmarks",
            file.to_str().unwrap(),
            "--dry-run",
        ],
        Some(&fake),
    );
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["databases"].as_array().unwrap().len(), SHARDS);
    assert_eq!(content(&fake, &ids[0]), migrated[0]);
    // Not on a terminal, without --yes: refused.
    let (code, _, err) = run(
        &dir,
        &["restore", "--remote", "--bookmarks", file.to_str().unwrap()],
        Some(&fake),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("stdin is not a terminal"), "{err}");

    let undo = dir.join("undo.json");
    let (code, out, err) = restore(
        &dir,
        &fake,
        &[
            "--remote",
            "--bookmarks",
            file.to_str().unwrap(),
            "--undo",
            undo.to_str().unwrap(),
            "--yes",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{SHARDS} databases restored, 0 failed")),
        "{out}"
    );
    assert!(
        out.contains("to undo: d1kit restore --remote --bookmarks"),
        "{out}"
    );
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            content(&fake, id),
            before[n],
            "database {n}: every row is back"
        );
    }

    // The undo file brings the migrated state back.
    let (code, report) = json(
        &dir,
        &[
            "restore",
            "--remote",
            "--bookmarks",
            undo.to_str().unwrap(),
            "--yes",
        ],
        Some(&fake),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["restored"], SHARDS, "{report}");
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(
            content(&fake, id),
            migrated[n],
            "database {n}: migrated again"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn points_outside_the_retention_window_are_refused_before_anything_is_restored() {
    let fake = FakeD1::start(Options::default());
    let dir = std::env::temp_dir().join(format!("d1kit-cli-restore-window-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let id = fake.add_database("old");
    let old = dir.join("old.json");
    write_file(&old, "2020-01-01T00:00:00Z", std::slice::from_ref(&id));
    let (code, out, err) = restore(
        &dir,
        &fake,
        &["--remote", "--bookmarks", old.to_str().unwrap(), "--yes"],
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("outside Time Travel's 30-day window"), "{err}");
    let (code, _, err) = restore(
        &dir,
        &fake,
        &[
            "--remote",
            "--database-id",
            &id,
            "--timestamp",
            "2020-01-01T00:00:00+02:00",
            "--yes",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--timestamp 2020-01-01T00:00:00+02:00 is"),
        "{err}"
    );
    let (code, _, err) = restore(
        &dir,
        &fake,
        &[
            "--remote",
            "--database-id",
            &id,
            "--timestamp",
            "yesterday",
            "--yes",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not an RFC 3339 time"), "{err}");
    // A damaged file names what is wrong.
    std::fs::write(&old, "{\"version\": 1, \"databases\": [{\"id\": 3}]}").unwrap();
    let (code, _, err) = restore(
        &dir,
        &fake,
        &["--remote", "--bookmarks", old.to_str().unwrap(), "--yes"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("databases[0] has no `database`"), "{err}");
    assert_eq!(fake.stats().time_travel, 0, "nothing was asked of the API");
    let _ = std::fs::remove_dir_all(&dir);
}
