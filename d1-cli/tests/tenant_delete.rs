//! `d1kit tenant delete --remote` against the D1 REST fake (`tests/d1-fake`): a tenant of a
//! pool deleted from its shards (one batch for a small tenant; fenced chunks for a large one,
//! whose run is killed midway and rerun), and a tenant with its own database deleted with its
//! directory record. Every check is the test's own query on the fake's SQLite; the other
//! tenants' rows are compared by checksum.

mod common;

use common::{blocks, json, run};
use d1_fake::{FakeD1, Options};
use d1_runtime::route::shard_for;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str =
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, title TEXT NOT NULL);
CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes (id), tag TEXT NOT NULL);
CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
";

/// A crate `app` with a pool `users` of 2 shards (`tenant_column = "user_id"`), provisioned
/// and migrated on the fake.
fn pool(name: &str, fake: &FakeD1) -> (PathBuf, Vec<String>) {
    let dir = std::env::temp_dir().join(format!(
        "d1kit-cli-tenant-delete-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = 2\ntenant_column = \"user_id\"\ndatabase_name = \"users-{n}\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    std::fs::write(dir.join("migrations/0001_init.sql"), INIT).unwrap();
    for args in [&["provision", "--remote"][..], &["migrate", "--remote"]] {
        let (code, out, err) = run(&dir, args, Some(fake));
        assert_eq!(code, 0, "{out}{err}");
    }
    let mut shards: Vec<(String, String)> = blocks(&dir.join("wrangler.toml"))
        .into_iter()
        .map(|b| (b.binding.unwrap(), b.database_id.unwrap()))
        .collect();
    shards.sort();
    (dir, shards.into_iter().map(|(_, id)| id).collect())
}

/// `count` notes of `user` (ids from `first`), each with a tag, on shard `uuid`.
fn add_notes(fake: &FakeD1, uuid: &str, user: &str, first: i64, count: i64) {
    fake.with_connection(uuid, |c| {
        c.execute_batch("BEGIN").unwrap();
        let mut note = c
            .prepare("INSERT INTO notes (id, user_id, title) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut tag = c
            .prepare("INSERT INTO tags (note_id, tag) VALUES (?1, ?2)")
            .unwrap();
        for id in first..first + count {
            note.execute(rusqlite::params![
                id,
                user,
                format!("{user} 'note' #{id}\n")
            ])
            .unwrap();
            tag.execute(rusqlite::params![id, format!("t{}", id % 7)])
                .unwrap();
        }
        drop((note, tag));
        c.execute_batch("COMMIT").unwrap();
    })
    .unwrap();
}

/// The rows of `user` in every table of shard `uuid` (notes, and tags of its notes).
fn rows_of(fake: &FakeD1, uuid: &str, user: &str) -> (i64, i64) {
    fake.with_connection(uuid, |c| {
        let notes = c
            .query_row("SELECT count(*) FROM notes WHERE user_id = ?1", [user], |r| {
                r.get(0)
            })
            .unwrap();
        let tags = c
            .query_row(
                "SELECT count(*) FROM tags WHERE note_id IN (SELECT id FROM notes WHERE user_id = ?1)",
                [user],
                |r| r.get(0),
            )
            .unwrap();
        (notes, tags)
    })
    .unwrap()
}

/// A checksum of every row of shard `uuid` that is not `user`'s (notes, tags, settings).
fn others(fake: &FakeD1, uuid: &str, user: &str) -> String {
    fake.with_connection(uuid, |c| {
        let mut out = String::new();
        for sql in [
            "SELECT id || '|' || user_id || '|' || hex(title) FROM notes WHERE user_id <> ?1 ORDER BY id",
            "SELECT note_id || '|' || tag FROM tags WHERE note_id NOT IN (SELECT id FROM notes WHERE user_id = ?1) ORDER BY rowid",
            "SELECT k || '|' || hex(v) || ?1 FROM settings ORDER BY k",
        ] {
            let mut st = c.prepare(sql).unwrap();
            let rows = st.query_map([user], |r| r.get::<_, String>(0)).unwrap();
            for row in rows {
                out.push_str(&row.unwrap());
                out.push('\n');
            }
        }
        format!("{} rows, {:016x}", out.lines().count(), fnv(out.as_bytes()))
    })
    .unwrap()
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn populate(fake: &FakeD1, shards: &[String]) {
    for (n, uuid) in shards.iter().enumerate() {
        fake.with_connection(uuid, |c| {
            c.execute("INSERT INTO settings VALUES ('shard', ?1)", [n.to_string()])
                .unwrap()
        })
        .unwrap();
    }
    for i in 0..40 {
        let user = format!("u{i}");
        let n = shard_for(user.as_bytes(), 2) as usize;
        add_notes(fake, &shards[n], &user, i * 100, 1 + i % 4);
    }
}

#[test]
fn a_pool_tenant_is_deleted_over_the_api_and_the_others_keep_their_rows() {
    let fake = FakeD1::start(Options::default());
    let (dir, shards) = pool("small", &fake);
    populate(&fake, &shards);
    let victim = "u7";
    let home = shard_for(victim.as_bytes(), 2) as usize;
    // Rows left on the other shard too (an interrupted move): both go.
    add_notes(&fake, &shards[1 - home], victim, 90_000, 2);
    let before: Vec<String> = shards.iter().map(|s| others(&fake, s, victim)).collect();
    assert_eq!(rows_of(&fake, &shards[home], victim), (4, 4));

    let (code, plan) = json(
        &dir,
        &["tenant", "delete", victim, "--remote", "--dry-run"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["rows"], 12, "{plan}");
    assert_eq!(
        rows_of(&fake, &shards[home], victim),
        (4, 4),
        "a dry run deletes nothing"
    );

    let (code, done) = json(
        &dir,
        &["tenant", "delete", victim, "--remote", "--yes"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["rows"], 12, "{done}");
    for (n, uuid) in shards.iter().enumerate() {
        assert_eq!(rows_of(&fake, uuid, victim), (0, 0), "shard {n}");
        assert_eq!(
            others(&fake, uuid, victim),
            before[n],
            "shard {n}'s other rows"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_large_pool_tenant_whose_delete_is_killed_midway_is_finished_by_a_rerun() {
    let fake = FakeD1::start(Options::default());
    let (dir, shards) = pool("large", &fake);
    populate(&fake, &shards);
    let victim = "big";
    let home = shard_for(victim.as_bytes(), 2) as usize;
    // Over the 50,000 rows of one batch: fenced, then deleted 5,000 rows a request.
    add_notes(&fake, &shards[home], victim, 1_000_000, 30_000);
    let before: Vec<String> = shards.iter().map(|s| others(&fake, s, victim)).collect();
    assert_eq!(rows_of(&fake, &shards[home], victim), (30_000, 30_000));

    // Slow requests, and the command killed once some chunks are gone: a real crash.
    fake.set_latency(Duration::from_millis(150));
    let mut child = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .args(["tenant", "delete", victim, "--remote", "--yes"])
        .current_dir(&dir)
        .env("CLOUDFLARE_ACCOUNT_ID", fake.account_id())
        .env("CLOUDFLARE_API_TOKEN", fake.token())
        .env("D1KIT_API_URL", fake.base_url())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (notes, tags) = rows_of(&fake, &shards[home], victim);
        if notes + tags < 60_000 {
            break;
        }
        assert!(Instant::now() < deadline, "no chunk was deleted");
        assert!(
            child.try_wait().unwrap().is_none(),
            "it ended before a chunk went"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    fake.set_latency(Duration::ZERO);
    let (notes, tags) = rows_of(&fake, &shards[home], victim);
    assert!(notes + tags > 0, "killed midway: some rows are left");

    let (code, done) = json(
        &dir,
        &["tenant", "delete", victim, "--remote", "--yes"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["rows"], notes + tags, "{done}");
    for (n, uuid) in shards.iter().enumerate() {
        assert_eq!(rows_of(&fake, uuid, victim), (0, 0), "shard {n}");
        assert_eq!(
            others(&fake, uuid, victim),
            before[n],
            "shard {n}'s other rows"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The directory database of `rest::Tenants` on the fake, with tenants `alice` and `bob`,
/// each with a database of its own holding rows.
fn own_databases(fake: &FakeD1) -> (String, String, String) {
    let directory = fake.add_database("directory");
    let mut ids = Vec::new();
    for tenant in ["alice", "bob"] {
        let uuid = fake.add_database(&format!("users-{tenant}"));
        fake.with_connection(&uuid, |c| {
            c.execute_batch(INIT).unwrap();
            c.execute_batch(
                "CREATE TABLE d1_migrations (id INTEGER PRIMARY KEY, name TEXT, applied_at TEXT);
                 INSERT INTO d1_migrations (name) VALUES ('0001_init.sql');",
            )
            .unwrap();
        })
        .unwrap();
        add_notes(fake, &uuid, tenant, 1, 5);
        fake.with_connection(&directory, |c| {
            c.execute_batch(
                d1_runtime::route::TableDirectory::<d1_runtime::local::Database>::DATABASES_SCHEMA,
            )
            .unwrap();
            c.execute(
                "INSERT INTO d1kit_tenant_databases (tenant, database_id) VALUES (?1, ?2)",
                [tenant, uuid.as_str()],
            )
            .unwrap();
        })
        .unwrap();
        ids.push(uuid);
    }
    (directory, ids.remove(0), ids.remove(0))
}

fn record(fake: &FakeD1, directory: &str, tenant: &str) -> Option<String> {
    fake.with_connection(directory, |c| {
        c.query_row(
            "SELECT database_id FROM d1kit_tenant_databases WHERE tenant = ?1",
            [tenant],
            |r| r.get(0),
        )
        .ok()
    })
    .unwrap()
}

/// `d1kit tenant <command> <tenant> --tenants-in <directory> <extra>` against the fake.
fn own(
    dir: &Path,
    fake: &FakeD1,
    directory: &str,
    command: &str,
    tenant: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let mut args = vec!["tenant", command, tenant, "--tenants-in", directory];
    args.extend(extra);
    run(dir, &args, Some(fake))
}

/// [`own`] with `--format json`: its exit code and report.
fn own_json(
    dir: &Path,
    fake: &FakeD1,
    directory: &str,
    command: &str,
    tenant: &str,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let mut args = vec!["tenant", command, tenant, "--tenants-in", directory];
    args.extend(extra);
    json(dir, &args, Some(fake))
}

#[test]
fn a_tenant_with_its_own_database_is_deleted_with_its_record() {
    let fake = FakeD1::start(Options::default());
    let (dir, _) = pool("own", &fake);
    let (directory, alice, bob) = own_databases(&fake);
    let bob_before = others(&fake, &bob, "nobody");
    let exists = |uuid: &str| fake.databases().iter().any(|d| d.uuid == uuid);

    let (code, plan) = own_json(
        &dir,
        &fake,
        &directory,
        "delete",
        "alice",
        &["--remote", "--dry-run"],
    );
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["database_id"], alice.as_str(), "{plan}");
    assert_eq!(plan["rows"], 10, "{plan}");
    let tables: Vec<(String, u64)> = plan["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_owned(),
                t["rows"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tables,
        [
            ("notes".to_owned(), 5),
            ("settings".to_owned(), 0),
            ("tags".to_owned(), 5)
        ]
    );
    let (code, out, err) = own(&dir, &fake, &directory, "delete", "alice", &["--remote"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("stdin is not a terminal"), "{err}");
    assert!(exists(&alice) && record(&fake, &directory, "alice").is_some());

    // A crash after the record was marked: the rerun finishes, and says what it found.
    fake.with_connection(&directory, |c| {
        c.execute(
            "UPDATE d1kit_tenant_databases SET database_id = 'deleting:' || database_id WHERE tenant = 'alice'",
            [],
        )
        .unwrap()
    })
    .unwrap();
    let (code, out, err) = own(
        &dir,
        &fake,
        &directory,
        "delete",
        "alice",
        &["--remote", "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("deleted tenant `alice`"), "{out}");
    assert!(out.contains("marked as being deleted"), "{out}");
    assert!(!exists(&alice), "its database is gone");
    assert_eq!(
        record(&fake, &directory, "alice"),
        None,
        "its record is gone"
    );
    assert_eq!(
        others(&fake, &bob, "nobody"),
        bob_before,
        "bob is untouched"
    );
    assert_eq!(
        record(&fake, &directory, "bob").as_deref(),
        Some(bob.as_str())
    );

    // Again: nothing to do. A database created but never recorded is found by its name.
    let (code, out, err) = own(
        &dir,
        &fake,
        &directory,
        "delete",
        "alice",
        &["--remote", "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nothing to delete"), "{out}");
    let orphan = fake.add_database("users-carol");
    let (code, done) = own_json(
        &dir,
        &fake,
        &directory,
        "delete",
        "carol",
        &["--remote", "--yes"],
    );
    assert_eq!(code, 0, "{done}");
    assert_eq!(
        (done["database_id"].as_str(), done["recorded"].as_bool()),
        (Some(orphan.as_str()), Some(false))
    );
    assert!(!exists(&orphan));
    // Own databases live on Cloudflare only.
    let (code, _, err) = own(
        &dir,
        &fake,
        &directory,
        "delete",
        "bob",
        &["--local", "--yes"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("pass --remote"), "{err}");
    assert!(exists(&bob));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_tenant_with_its_own_database_is_exported_deleted_and_imported_back_whole() {
    let fake = FakeD1::start(Options::default());
    let (dir, _) = pool("own-round-trip", &fake);
    let (directory, alice, _) = own_databases(&fake);
    // Awkward values: NULL, every byte value, ±(2^53 − 1), quotes, newlines and NUL.
    fake.with_connection(&alice, |c| {
        let blob: Vec<u8> = (0..=255u8).collect();
        c.execute(
            "INSERT INTO notes (id, user_id, title) VALUES (9007199254740991, 'alice', ?1)",
            ["it's\n\"odd\"\0 text"],
        )
        .unwrap();
        c.execute(
            "INSERT INTO notes (id, user_id, title) VALUES (-9007199254740991, 'alice', '')",
            [],
        )
        .unwrap();
        c.execute(
            "INSERT INTO settings VALUES ('blob', CAST(?1 AS TEXT))",
            [&blob],
        )
        .unwrap();
    })
    .unwrap();
    let before = others(&fake, &alice, "nobody");
    let file = dir.join("alice.sql");
    let file_arg = file.to_str().unwrap();
    let (code, out, err) = own(
        &dir,
        &fake,
        &directory,
        "export",
        "alice",
        &["--remote", "-o", file_arg],
    );
    assert_eq!(code, 0, "{out}{err}");
    // The tenant has a database: an import is refused without --replace.
    let (code, _, err) = own(
        &dir,
        &fake,
        &directory,
        "import",
        "alice",
        &["--remote", file_arg, "--yes"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has a database already"), "{err}");

    let (code, out, err) = own(
        &dir,
        &fake,
        &directory,
        "delete",
        "alice",
        &["--remote", "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(record(&fake, &directory, "alice"), None);

    // A dump at another migration version is refused, and leaves nothing behind.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("0001_init.sql"), "{text}");
    let other = dir.join("other.sql");
    std::fs::write(&other, text.replace("0001_init.sql", "0002_later.sql")).unwrap();
    let (code, _, err) = own(
        &dir,
        &fake,
        &directory,
        "import",
        "alice",
        &["--remote", other.to_str().unwrap(), "--yes"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another migration version"), "{err}");
    assert!(err.contains("0002_later.sql"), "{err}");
    assert_eq!(record(&fake, &directory, "alice"), None);
    assert!(!fake.databases().iter().any(|d| d.name == "users-alice"));

    let (code, out, err) = own(
        &dir,
        &fake,
        &directory,
        "import",
        "alice",
        &["--remote", file_arg, "--yes"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("imported tenant `alice`"), "{out}");
    let back = record(&fake, &directory, "alice").expect("recorded again");
    assert_ne!(back, alice, "a new database");
    assert_eq!(
        others(&fake, &back, "nobody"),
        before,
        "every row is back, identical"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
