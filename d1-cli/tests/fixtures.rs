//! `d1kit check --format json` on the fixture projects of `tests/fixtures/` (migrations in
//! drizzle-kit's and Prisma's formats): each `queries/NN_name.sql` must print exactly the JSON
//! committed beside it in `NN_name.json`, written by hand from docs/TYPING.md; a `.json` of the
//! form `{"errors": [{"message": ..}]}` means the statement must be rejected with that message.
//! The warnings the project's migrations deserve are listed in its `migration-warnings.txt`
//! (the start of each message, one per line, in order); each query may add full-scan warnings
//! and nothing else.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `d1kit check --format json` of `statement` (`--file path` or `--sql text`).
fn check(migrations: &Path, statement: [&std::ffi::OsStr; 2]) -> (bool, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .args(["check", "--format", "json", "--migrations"])
        .arg(migrations)
        .args(statement)
        .output()
        .expect("run d1kit");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        out.status.success(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The warning lines of `d1kit check`'s stderr.
fn warnings(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once('⚠'))
        .map(|(_, w)| w.trim().to_owned())
        .collect()
}

fn project(dir: &Path) -> (usize, usize, Vec<String>) {
    let migrations = dir.join("migrations");
    let (ok, _, stderr) = check(&migrations, ["--sql".as_ref(), "SELECT 1 AS one".as_ref()]);
    assert!(ok, "{}: {stderr}", dir.display());
    let from_migrations = warnings(&stderr);
    let expected: Vec<String> = std::fs::read_to_string(dir.join("migration-warnings.txt"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    assert!(
        from_migrations.len() == expected.len()
            && from_migrations
                .iter()
                .zip(&expected)
                .all(|(got, want)| got.starts_with(want.as_str())),
        "{}: the migrations' warnings are\n{from_migrations:#?}\nnot\n{expected:#?}",
        dir.display()
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("queries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let (mut valid, mut invalid, mut failures) = (0, 0, Vec::new());
    for sql in files {
        let name = sql.file_stem().unwrap().to_string_lossy().into_owned();
        let want: Value =
            serde_json::from_str(&std::fs::read_to_string(sql.with_extension("json")).unwrap())
                .unwrap_or_else(|e| panic!("{name}.json: {e}"));
        let (ok, got, stderr) = check(&migrations, ["--file".as_ref(), sql.as_os_str()]);
        if let Some(errors) = want.get("errors").and_then(Value::as_array) {
            invalid += 1;
            if ok {
                failures.push(format!("{name}: accepted, want errors {errors:?}"));
                continue;
            }
            let messages: Vec<&str> = got["errors"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| e["message"].as_str()).collect())
                .unwrap_or_default();
            for e in errors {
                let m = e["message"].as_str().unwrap_or("");
                if !messages.iter().any(|g| g.contains(m)) {
                    failures.push(format!("{name}: no error contains {m:?}: {messages:?}"));
                }
            }
        } else {
            valid += 1;
            if !ok || got != want {
                failures.push(format!("{name}:\n   want {want}\n    got {got} {stderr}"));
            } else if warnings(&stderr)
                .iter()
                .filter(|w| !from_migrations.contains(w))
                .any(|w| !w.starts_with("this query reads every row of"))
            {
                // Full-scan warnings are the lint doing its job (tested in tests/config.rs);
                // any other warning about the query is unexpected.
                failures.push(format!("{name}: warnings: {stderr}"));
            }
        }
    }
    (valid, invalid, failures)
}

#[test]
fn fixture_projects_give_the_expected_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("queries").is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 2,
        "want two fixture projects under {}",
        root.display()
    );
    let mut all = Vec::new();
    for dir in &dirs {
        let (valid, invalid, failures) = project(dir);
        println!(
            "{}: {valid} queries, {invalid} rejections",
            dir.file_name().unwrap().to_string_lossy()
        );
        // Exact, so that a case deleted by mistake is noticed: update when adding cases.
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let expected = match name.as_str() {
            "drizzle-saas" => (58, 9),
            "prisma-shop" => (54, 9),
            other => panic!("a new fixture `{other}`: add its counts here"),
        };
        assert_eq!(
            (valid, invalid),
            expected,
            "{}: queries, rejections",
            dir.display()
        );
        all.extend(failures);
    }
    assert!(
        all.is_empty(),
        "{} failures:\n{}",
        all.len(),
        all.join("\n")
    );
}

#[test]
fn rejected_statement_exits_1_with_located_errors() {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("migrations/0001_init.sql"),
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT);\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .args([
            "check",
            "--format",
            "json",
            "--sql",
            "SELECT id,\n  titel FROM notes",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &json["errors"][0];
    assert!(
        e["message"].as_str().unwrap().contains("no column `titel`"),
        "{json}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `title`?"),
        "{json}"
    );
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(2), Some(3))
    );

    // Text output shows the SQL with a caret, for people.
    let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .args(["check", "--sql", "SELECT id,\n  titel FROM notes"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("titel FROM notes") && stderr.contains("did you mean `title`?"),
        "{stderr}"
    );
    assert!(stderr.contains('^') || stderr.contains('─'), "{stderr}");

    // And a valid statement prints its signature.
    let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .args([
            "check",
            "--sql",
            "SELECT id, title FROM notes WHERE id = :id",
        ])
        .current_dir(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        stdout.contains("?1 :id: i64") && stdout.contains("title  Option<String>"),
        "{stdout}"
    );
}

/// The tenant lint through `d1kit check`: the column comes from the crate's Cargo.toml (here
/// `tests/ui-config/tenant`, the UI tests' shared-database project) or `--tenant-column`, and
/// `--cross-tenant` turns it off, as the macros do.
#[test]
fn tenant_column_from_config_or_flag() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ui-config/tenant");
    let run = |dir: &Path, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
            .current_dir(dir)
            .args(["check", "--format", "json"])
            .args(args)
            .output()
            .expect("run d1kit");
        let json: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.success(), json)
    };
    let unscoped = "SELECT id FROM notes WHERE id = ?";
    let (ok, json) = run(&project, &["--sql", unscoped]);
    assert!(!ok, "{json}");
    let e = &json["errors"][0];
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("query on `notes` does not constrain the tenant column `user_id`; add `AND notes.user_id = ?`"),
        "{json}"
    );
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(1), Some(16))
    );
    assert!(run(&project, &["--sql", unscoped, "--cross-tenant"]).0);
    assert!(
        run(
            &project,
            &["--sql", "SELECT id FROM notes WHERE user_id = ?"]
        )
        .0
    );
    // --migrations reads no configuration: the column is given by flag, or not checked.
    let migrations = project.join("migrations");
    let m = migrations.to_str().unwrap();
    assert!(run(&project, &["--migrations", m, "--sql", unscoped]).0);
    assert!(
        !run(
            &project,
            &[
                "--migrations",
                m,
                "--tenant-column",
                "user_id",
                "--sql",
                unscoped
            ]
        )
        .0
    );
}
