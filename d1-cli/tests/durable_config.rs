//! A crate with a Durable Object database (`durable_object = "UserNotes"`) beside a D1
//! database: `d1kit config` writes the class binding and its `new_sqlite_classes` migration;
//! `provision`, `migrate`, `status` and `drift` (local and remote) work on the D1 database
//! alone and skip the durable one with a note, without failing, also when it is the only one
//! selected; naming durable databases by `--database-id` is an error.

mod common;

use common::{blocks, json, run};
use d1_fake::{FakeD1, Options};
use std::path::PathBuf;

const NOTE: &str = "note: skipped database `notes`: a Durable Object database (`UserNotes`), one per user, reached by its objects lazily; see the README";

/// A crate `app` with a D1 database `users` and a Durable Object database `notes`, each with
/// one migration, and a wrangler.toml holding only the Worker's name.
fn krate(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-durable-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for db in ["users", "notes"] {
        std::fs::create_dir_all(dir.join("migrations").join(db)).unwrap();
        std::fs::write(
            dir.join("migrations").join(db).join("0001_init.sql"),
            format!("CREATE TABLE {db} (id INTEGER PRIMARY KEY, title TEXT);\n"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nmigrations = \"migrations/users\"\n\n[package.metadata.d1kit.databases.notes]\nmigrations = \"migrations/notes\"\ndurable_object = \"UserNotes\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    dir
}

#[test]
fn config_writes_the_class_and_the_fleet_commands_skip_it() {
    let dir = krate("local");
    let (code, out, err) = run(&dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("+ [[durable_objects.bindings]] NOTES: class_name = \"UserNotes\""),
        "{out}"
    );
    assert!(
        out.contains("+ [[migrations]] d1kit-UserNotes: new_sqlite_classes = [\"UserNotes\"]"),
        "{out}"
    );
    let text = std::fs::read_to_string(dir.join("wrangler.toml")).unwrap();
    assert!(
        text.contains(
            "[[durable_objects.bindings]]\nname = \"NOTES\"\nclass_name = \"UserNotes\"\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "[[migrations]]\ntag = \"d1kit-UserNotes\"\nnew_sqlite_classes = [\"UserNotes\"]\n"
        ),
        "{text}"
    );
    // Only the D1 database has a [[d1_databases]] block.
    let bindings: Vec<String> = blocks(&dir.join("wrangler.toml"))
        .into_iter()
        .filter_map(|b| b.binding)
        .collect();
    assert_eq!(bindings, ["USERS"]);
    let (code, out, err) = run(&dir, &["config", "--check"], None);
    assert_eq!(code, 0, "a second run changes nothing: {out}{err}");

    let (code, out, err) = run(&dir, &["provision", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(NOTE), "{err}");
    assert!(err.contains("nothing to provision here"), "{err}");

    // The D1 database alone is reached: one database each time.
    for (command, verb, summary) in [
        ("migrate", "migrate", "1 migrated, 0 up to date"),
        ("status", "inspect", "1 database: 1 up to date"),
        ("drift", "compare", "1 database compared"),
    ] {
        let (code, out, err) = run(&dir, &[command, "--local"], None);
        assert_eq!(code, 0, "{command}: {out}{err}");
        assert!(err.contains(NOTE), "{command}: {err}");
        assert!(
            err.contains(&format!("nothing to {verb} here")),
            "{command}: {err}"
        );
        assert!(out.contains(summary), "{command}: {out}");
    }
    let (code, report) = json(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{report}");
    let databases = report["databases"].as_array().unwrap();
    assert_eq!(databases.len(), 1, "{report}");
    assert_eq!(databases[0]["database"], "users", "{report}");

    // The durable database alone: a note, nothing to do, no failure.
    let (code, out, err) = run(&dir, &["migrate", "--local", "--database", "notes"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(NOTE), "{err}");
    assert!(out.contains("0 migrated"), "{out}");
    let (code, out, err) = run(&dir, &["provision", "--local", "--database", "notes"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(NOTE), "{err}");

    // Its objects have no ids to name.
    let (code, out, err) = run(
        &dir,
        &[
            "migrate",
            "--local",
            "--database",
            "notes",
            "--database-id",
            "x",
        ],
        None,
    );
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(
            "database `notes` is a Durable Object database (`durable_object = \"UserNotes\"`)"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_provision_and_migrate_reach_only_the_d1_database() {
    let dir = krate("remote");
    let fake = FakeD1::start(Options::default());
    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains(NOTE), "{err}");
    assert!(out.contains("created 1, adopted 0"), "{out}");
    assert!(out.contains("app-users"), "{out}");
    assert!(!out.contains("notes"), "{out}");
    let (code, report) = json(&dir, &["migrate", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{report}");
    let databases = report["databases"].as_array().unwrap();
    assert_eq!(databases.len(), 1, "{report}");
    assert_eq!(databases[0]["database"], "users", "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
