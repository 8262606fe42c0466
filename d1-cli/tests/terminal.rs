//! What the fleet commands print of names read from databases and files (tenant labels of a
//! directory, migration names a database recorded, objects of a live schema) reaches the
//! terminal escaped: no escape sequence takes effect, no newline forges a row.

mod common;

use common::run;
use d1_runtime::local::{wrangler_state_file, Database};
use std::path::PathBuf;

/// A crate with one database and one migration, and a directory database (`directory-db`)
/// recording three tenants: `alice`, one whose label is an OSC sequence (sets the terminal's
/// title), one whose label holds a newline and a forged row.
fn fleet(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("d1kit-cli-terminal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nmigrations = \"migrations\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    std::fs::write(
        dir.join("migrations/0001_init.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY);\n",
    )
    .unwrap();
    let path = wrangler_state_file(dir.join(".wrangler/state"), "directory-db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    Database::open(&path)
        .unwrap()
        .connection()
        .execute_batch(
            "CREATE TABLE d1kit_tenant_databases (tenant TEXT PRIMARY KEY, database_id TEXT NOT NULL, created_at TEXT);
             INSERT INTO d1kit_tenant_databases VALUES
               ('alice', 'db-alice', NULL),
               ('evil' || char(27) || ']0;pwned' || char(7), 'db-evil', NULL),
               ('mallory' || char(10) || 'bob  db-bob  1/1  0  up to date', 'db-mallory', NULL);",
        )
        .unwrap();
    dir
}

/// Neither escape nor BEL in `text`; the escaped labels are.
fn escaped(text: &str) {
    assert!(
        !text.contains('\x1b') && !text.contains('\x07'),
        "raw control characters: {text:?}"
    );
}

#[test]
fn labels_and_names_from_databases_are_escaped() {
    let dir = fleet("labels");
    let tenants = ["--local", "--tenants-in", "directory-db"];
    let (code, out, err) = run(&dir, &[&["migrate"][..], &tenants].concat(), None);
    assert_eq!(code, 0, "{out}{err}");
    escaped(&out);
    escaped(&err);
    // A header, a row per tenant, the summary: no forged row.
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(out.contains("evil\\u{1b}]0;pwned\\u{7}  "), "{out}");
    assert!(out.contains("mallory\\nbob  db-bob  1/1"), "{out}");

    // A migration a database recorded, its name an escape sequence (clears the screen).
    let path = wrangler_state_file(dir.join(".wrangler/state"), "db-alice");
    let alice = Database::open(&path).unwrap();
    alice
        .connection()
        .execute_batch(
            "INSERT INTO d1_migrations (name) VALUES ('0009_' || char(27) || '[2J' || char(10) || 'x.sql');
             CREATE TABLE \"t\x1b[2J\nmallory: forged\" (a);",
        )
        .unwrap();
    let (code, out, err) = run(&dir, &[&["status"][..], &tenants].concat(), None);
    assert_eq!(code, 1, "{out}{err}");
    escaped(&out);
    escaped(&err);
    assert_eq!(out.lines().count(), 5, "{out}");
    assert!(out.contains("unknown: 0009_\\u{1b}[2J\\nx.sql"), "{out}");
    let (code, out, err) = run(&dir, &[&["migrate"][..], &tenants].concat(), None);
    assert_eq!(code, 0, "{out}{err}");
    escaped(&out);
    assert!(
        out.contains("alice: has applied 1 migration that the migrations directory lacks (left alone): 0009_\\u{1b}[2J\\nx.sql\n"),
        "{out}"
    );
    // The live schema's object names, in drift's lines.
    let (code, out, err) = run(&dir, &[&["drift"][..], &tenants].concat(), None);
    assert_eq!(code, 1, "{out}{err}");
    escaped(&out);
    assert!(
        out.contains("alice: table `t\\u{1b}[2J\\nmallory: forged` is not in the migrations\n"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
