//! Cargo rebuilds a crate when its migrations change: a small crate is built, then a migration
//! that breaks one of its queries is added (the build must fail and say why), removed (the
//! build passes again), and an applied migration is edited (the build fails again).
//!
//! The fixture builds in its own target directory (target/rebuild-fixture) so it never waits
//! on the lock of the build running this test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn build(dir: &Path, target: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .env_remove("D1KIT_MANIFEST_DIR")
        .output()
        .expect("cargo runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn adding_editing_and_removing_migrations_rebuilds() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = root.join("target/rebuild-fixture");
    let dir = target.join("crate");
    let _ = std::fs::remove_dir_all(&dir);
    let root_str = root.display().to_string();
    write(
        &dir.join("Cargo.toml"),
        &format!(
            r#"[package]
name = "rebuild-fixture"
version = "0.0.0"
edition = "2021"
publish = false

[workspace]

[dependencies]
d1kit = {{ path = "{root_str}" }}

[build-dependencies]
d1-codegen = {{ path = "{root_str}/d1-codegen" }}
"#
        ),
    );
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    write(
        &dir.join("build.rs"),
        "fn main() { d1_codegen::build::configure().unwrap_or_else(|e| panic!(\"{e}\")); }\n",
    );
    write(
        &dir.join("src/main.rs"),
        "fn main() {\n    let q = d1kit::sql!(\"SELECT id, title FROM notes WHERE id = ?1\", 1);\n    println!(\"{q:?}\");\n}\n",
    );
    let init = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL);\n";
    write(&dir.join("migrations/0001_init.sql"), init);

    let (ok, err) = build(&dir, &target);
    assert!(ok, "the fixture must build at first:\n{err}");

    // Added: a migration that drops the column the query reads.
    let breaking = dir.join("migrations/0002_drop_title.sql");
    write(&breaking, "ALTER TABLE notes DROP COLUMN title;\n");
    let (ok, err) = build(&dir, &target);
    assert!(!ok, "adding a breaking migration must fail the build");
    assert!(
        err.contains("no column `title`") || err.contains("no such column: title"),
        "{err}"
    );

    // Removed: the build passes again.
    std::fs::remove_file(&breaking).unwrap();
    let (ok, err) = build(&dir, &target);
    assert!(
        ok,
        "removing the migration must make the build pass again:\n{err}"
    );

    // Edited: the applied migration now names the column differently.
    write(
        &dir.join("migrations/0001_init.sql"),
        &init.replace("title", "heading"),
    );
    let (ok, err) = build(&dir, &target);
    assert!(!ok, "editing a migration must rebuild and fail");
    assert!(
        err.contains("did you mean") || err.contains("title"),
        "{err}"
    );
}
