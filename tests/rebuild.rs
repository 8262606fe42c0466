//! Cargo rebuilds a crate when its migrations change: a small crate is built, then a migration
//! that breaks one of its queries is added (the build must fail and say why), removed (the
//! build passes again), and an applied migration is edited (the build fails again).
//!
//! The macros keep their analyses between builds (`target/<profile>/.d1kit/`); every step
//! above runs with that memo warm, so each also shows it is never used where the migrations
//! changed. The last steps show the same for the configuration, and that a damaged memo is
//! ignored.
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
    // Memo files of earlier runs (another build of d1kit) would be counted below.
    let _ = std::fs::remove_dir_all(target.join("debug/.d1kit"));
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
    let memo = memo_text(&target);
    assert!(
        memo.contains("SELECT id, title FROM notes WHERE id = ?1"),
        "the analysis is kept for the next build:\n{memo}"
    );

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
    // The error names the column the query reads and where; the query's own line (which also
    // says `title`) is not enough.
    assert!(
        err.contains("error: no column `title`") && err.contains("--> SQL line 1, column 12"),
        "the build must fail on the column the edit renamed:\n{err}"
    );

    // The configuration is part of what an analysis depends on: a query that reads every row
    // builds under the default `full_scan = "warn"`, and fails once Cargo.toml denies scans,
    // although its analysis was kept.
    write(&dir.join("migrations/0001_init.sql"), init);
    write(
        &dir.join("src/main.rs"),
        "fn main() {\n    let q = d1kit::sql!(\"SELECT id FROM notes WHERE title = ?1\", \"x\");\n    println!(\"{q:?}\");\n}\n",
    );
    let (ok, err) = build(&dir, &target);
    assert!(ok, "a full scan is only a warning by default:\n{err}");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    write(
        &dir.join("Cargo.toml"),
        &format!("{manifest}\n[package.metadata.d1kit.lints]\nfull_scan = \"deny\"\n"),
    );
    let (ok, err) = build(&dir, &target);
    assert!(!ok, "denying full scans must fail the build");
    assert!(err.contains("reads every row of `notes`"), "{err}");

    // A damaged memo is read past: the kept analysis now says the parameter is an integer,
    // which would reject the `"x"` argument, but the line fails its checksum and the query is
    // analysed again.
    write(&dir.join("Cargo.toml"), &manifest);
    let mut damaged = 0;
    for file in memo_files(&target) {
        let text = std::fs::read_to_string(&file).unwrap();
        let edited = text.replace(
            r#""index":1,"name":null,"ty":{"ty":"Text","#,
            r#""index":1,"name":null,"ty":{"ty":"Integer","#,
        );
        damaged += usize::from(edited != text);
        std::fs::write(&file, edited).unwrap();
    }
    assert_eq!(damaged, 1, "the query's kept analysis is found");
    let (ok, err) = build(&dir, &target);
    assert!(ok, "a damaged memo must not change the build:\n{err}");

    // A nested layout (drizzle-kit 1.0, Prisma) through `migrations_pattern`: a new folder, its
    // removal and an edit inside a folder are seen like files of a flat directory.
    std::fs::remove_file(dir.join("migrations/0001_init.sql")).unwrap();
    write(&dir.join("migrations/0001_init/migration.sql"), init);
    write(&dir.join("migrations/0001_init/snapshot.json"), "{}");
    write(
        &dir.join("Cargo.toml"),
        &format!("{manifest}\n[package.metadata.d1kit.databases.db]\nmigrations_pattern = \"migrations/*/migration.sql\"\n"),
    );
    let (ok, err) = build(&dir, &target);
    assert!(ok, "the nested layout must build:\n{err}");
    let folder = dir.join("migrations/0002_drop_title");
    write(
        &folder.join("migration.sql"),
        "ALTER TABLE notes DROP COLUMN title;\n",
    );
    let (ok, err) = build(&dir, &target);
    assert!(!ok, "adding a migration folder must rebuild and fail");
    assert!(err.contains("no column `title`"), "{err}");
    std::fs::remove_dir_all(&folder).unwrap();
    let (ok, err) = build(&dir, &target);
    assert!(
        ok,
        "removing the folder must make the build pass again:\n{err}"
    );
    write(
        &dir.join("migrations/0001_init/migration.sql"),
        &init.replace("title", "heading"),
    );
    let (ok, err) = build(&dir, &target);
    assert!(!ok, "editing a nested migration must rebuild and fail");
    assert!(err.contains("no column `title`"), "{err}");
}

fn memo_files(target: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(target.join("debug/.d1kit"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn memo_text(target: &Path) -> String {
    memo_files(target)
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect()
}
