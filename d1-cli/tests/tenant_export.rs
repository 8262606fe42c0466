//! `d1kit tenant export` and `d1kit tenant import` on a throwaway crate's local pool: a
//! tenant exported to a file (and to stdout), deleted, and imported back into the shard the
//! pool routes it to has exactly its rows again and no other tenant changed; importing over
//! its rows needs `--replace` (and a terminal or `--yes`), and a damaged file, another
//! tenant's file or a shard at other migrations is refused.

mod common;

use common::{blocks, run};
use d1_runtime::local::{wrangler_state_file, Database};
use d1_runtime::route::shard_for;
use serde_json::Value;
use std::path::{Path, PathBuf};

const TENANTS: usize = 40;

const INIT: &str = "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, title TEXT NOT NULL, body BLOB, score REAL);
CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
";

fn krate(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-export-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = 2\ntenant_column = \"user_id\"\ndatabase_name = \"users-{n}\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    std::fs::write(dir.join("migrations/0001_init.sql"), INIT).unwrap();
    dir
}

/// `d1kit config`, then `d1kit migrate --local`.
fn configure(dir: &Path) {
    let (code, out, err) = run(dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
}

/// Shard `n`'s local file.
fn shard_db(dir: &Path, n: usize) -> Database {
    let id = blocks(&dir.join("wrangler.toml"))
        .into_iter()
        .find(|b| b.binding.as_deref() == Some(&format!("USERS_{n}")))
        .and_then(|b| b.database_id)
        .unwrap_or_else(|| panic!("no block for shard {n}"));
    Database::open(wrangler_state_file(dir.join(".wrangler/state"), &id)).unwrap()
}

fn tenant(i: usize) -> String {
    format!("u{i}")
}

fn populate(dir: &Path) {
    for n in 0..2 {
        shard_db(dir, n)
            .connection()
            .execute(
                "INSERT INTO settings (k, v) VALUES ('shard', ?1)",
                [format!("shard {n}")],
            )
            .unwrap();
    }
    let all_bytes: Vec<u8> = (0..=255).collect();
    for i in 0..TENANTS {
        let user = tenant(i);
        let db = shard_db(dir, shard_for(user.as_bytes(), 2) as usize);
        for k in 0..(1 + i % 3) {
            db.connection()
                .execute(
                    "INSERT INTO notes (id, user_id, title, body, score) VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![
                        (i * 10 + k) as i64,
                        user,
                        format!("{user}'s note #{k},\nits \"second\" line, \u{0}, é"),
                        all_bytes,
                        0.1 + k as f64
                    ],
                )
                .unwrap();
        }
    }
}

/// A note, exactly: (shard, id, user, title bytes, body, score bits).
type Note = (usize, i64, String, Vec<u8>, Vec<u8>, u64);

/// Every note of every shard.
fn notes(dir: &Path) -> Vec<Note> {
    let mut out = Vec::new();
    for n in 0..2 {
        let db = shard_db(dir, n);
        let mut st = db
            .connection()
            .prepare("SELECT id, user_id, CAST(title AS BLOB), body, score FROM notes ORDER BY id")
            .unwrap();
        let rows = st
            .query_map([], |r| {
                Ok((
                    n,
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, f64>(4)?.to_bits(),
                ))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// `d1kit <args> --format json` in `dir`, without the fake.
fn json(dir: &Path, args: &[&str]) -> (i32, Value) {
    common::json(dir, args, None)
}

#[test]
fn a_tenant_is_exported_deleted_and_imported_back_through_the_cli() {
    let dir = krate("round-trip");
    configure(&dir);
    populate(&dir);
    let victim = tenant(5); // 3 notes
    let file = dir.join("u5.sql");
    let file_arg = file.to_str().unwrap();
    let before = notes(&dir);
    let others: Vec<_> = before.iter().filter(|n| n.2 != victim).cloned().collect();
    assert_eq!(before.iter().filter(|n| n.2 == victim).count(), 3);

    let (code, out, err) = run(
        &dir,
        &["tenant", "export", &victim, "--local", "-o", file_arg],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("exported tenant `u5` of `users`") && out.contains("3 rows (notes 3)"),
        "{out}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("-- d1kit tenant export, format 1\n-- database: users\n"),
        "{text}"
    );
    assert!(
        text.contains("-- tenant: text u5\n-- migration: "),
        "{text}"
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("INSERT INTO \"notes\""))
            .count(),
        3
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
    }
    // To stdout: the same text, the summary on stderr.
    let (code, out, err) = run(&dir, &["tenant", "export", &victim, "--local"], None);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, text);
    assert!(err.contains("to stdout"), "{err}");
    let (code, report) = json(
        &dir,
        &["tenant", "export", &victim, "--local", "-o", file_arg],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rows"], 3, "{report}");
    assert_eq!(report["sha256"].as_str().unwrap().len(), 64, "{report}");
    let (code, out, err) = run(&dir, &["tenant", "export", "nobody", "--local"], None);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("has no rows in `users`"), "{err}");

    // Over its own rows: refused without --replace, and --replace asks.
    let (code, out, err) = run(
        &dir,
        &["tenant", "import", &victim, file_arg, "--local"],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("already has rows") && err.contains("--replace"),
        "{err}"
    );
    let (code, out, err) = run(
        &dir,
        &[
            "tenant",
            "import",
            &victim,
            file_arg,
            "--local",
            "--replace",
        ],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("stdin is not a terminal"), "{err}");
    assert_eq!(notes(&dir), before);

    let (code, out, err) = run(
        &dir,
        &["tenant", "delete", &victim, "--local", "--yes"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(notes(&dir), others);

    let (code, plan) = json(
        &dir,
        &[
            "tenant",
            "import",
            &victim,
            file_arg,
            "--local",
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{plan}");
    assert_eq!(
        (plan["rows"].as_u64(), plan["one_batch"].as_bool()),
        (Some(3), Some(true)),
        "{plan}"
    );
    assert_eq!(
        plan["shard"].as_u64(),
        Some(u64::from(shard_for(victim.as_bytes(), 2))),
        "the shard the pool routes it to: {plan}"
    );
    assert_eq!(notes(&dir), others, "a dry run writes nothing");

    let (code, done) = json(&dir, &["tenant", "import", &victim, file_arg, "--local"]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(
        (done["rows"].as_u64(), done["batches"].as_u64()),
        (Some(3), Some(1)),
        "{done}"
    );
    assert_eq!(
        notes(&dir),
        before,
        "every row exactly as it was, on its shard"
    );

    let (code, out, err) = run(
        &dir,
        &[
            "tenant",
            "import",
            &victim,
            file_arg,
            "--local",
            "--replace",
            "--yes",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("imported tenant `u5`") && out.contains("replacing 3 rows"),
        "{out}"
    );
    assert_eq!(notes(&dir), before);

    // Another tenant's file, a damaged one, a shard at other migrations: refused.
    let (code, out, err) = run(
        &dir,
        &["tenant", "import", "u6", file_arg, "--local", "--replace"],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("holds tenant `u5`, not `u6`"), "{err}");
    let damaged = dir.join("damaged.sql");
    let changed = text.replacen("VALUES (50, ", "VALUES (59, ", 1);
    assert_ne!(changed, text);
    std::fs::write(&damaged, changed).unwrap();
    let (code, out, err) = run(
        &dir,
        &[
            "tenant",
            "import",
            &victim,
            damaged.to_str().unwrap(),
            "--local",
            "--replace",
            "--yes",
        ],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("checksum does not match"), "{err}");
    std::fs::write(
        dir.join("migrations/0002_more.sql"),
        "CREATE TABLE more (x);\n",
    )
    .unwrap();
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(
        &dir,
        &[
            "tenant",
            "import",
            &victim,
            file_arg,
            "--local",
            "--replace",
            "--yes",
        ],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("`0002_more.sql`"), "{err}");
    assert_eq!(notes(&dir), before);
    let _ = std::fs::remove_dir_all(&dir);
}
