//! `d1kit check` on input that used to crash it or to be reported without a place: statements
//! nested deeper than SQLite allows, a result name longer than a format width, a file without
//! end (`/dev/zero`) or too large, a NUL byte, invalid UTF-8, and control characters in names.

mod common;

use common::run;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A crate laid out as the README says: Cargo.toml naming one database, its migrations.
fn krate(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[package.metadata.d1kit.databases.users]\nmigrations = \"migrations\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("migrations/0001_init.sql"),
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n",
    )
    .unwrap();
    dir
}

/// `d1kit check --format json <args>`: exit code and the JSON printed.
fn json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", "--format", "json"];
    all.extend(args);
    let (code, out, err) = run(dir, &all, None);
    let value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    (code, value)
}

/// The one error of a `{"errors"}` report: message, line, column.
fn error(report: &Value) -> (String, u64, u64) {
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{report}");
    let e = &errors[0];
    (
        e["message"].as_str().unwrap().to_string(),
        e["line"].as_u64().unwrap_or(0),
        e["column"].as_u64().unwrap_or(0),
    )
}

/// The deep inputs that aborted `d1kit check` with a stack overflow (exit 134), and those that
/// got SQLite's bare `Recursion limit` at column 1: each an error (exit 1) naming the limit and
/// where the nesting starts.
#[test]
fn deep_statements_are_errors_naming_the_limit_and_the_place() {
    let dir = krate("deep");
    let cases = [
        (
            format!("SELECT {} AS x", vec!["1"; 10_000].join("+")),
            "SQLite's limit of 1000 levels",
        ),
        (
            format!("SELECT {} AS x", vec!["'a'"; 12_000].join("||")),
            "SQLite's limit of 1000 levels",
        ),
        (
            format!("SELECT {}1{} AS x", "(".repeat(10_000), ")".repeat(10_000)),
            "at most 2500 levels",
        ),
        (
            format!("SELECT {}1 AS x", "NOT ".repeat(20_000)),
            "at most 2500 levels",
        ),
        (
            format!(
                "SELECT {}1{} AS x",
                "(SELECT ".repeat(3_000),
                ")".repeat(3_000)
            ),
            "at most 2500 levels",
        ),
    ];
    for (sql, limit) in &cases {
        let file = dir.join("deep.sql");
        std::fs::write(&file, format!("-- deep\n{sql}\n")).unwrap();
        let (code, report) = json(&dir, &["--file", file.to_str().unwrap()]);
        assert_eq!(code, 1, "{report}");
        let (message, line, column) = error(&report);
        assert!(message.contains(limit), "{message}");
        assert_eq!((line, column), (2, 8), "{message}");
    }
    // As people read it: the message, and the place in the query.
    let (code, _, err) = run(&dir, &["check", "--sql", &cases[0].0], None);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("this expression nests deeper than SQLite's limit of 1000 levels"),
        "{err}"
    );
    assert!(err.contains("[<sql>:1:8]"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A result name of 65,536 characters panicked the table (`{:width$}` over 65,535): it is cut
/// with `…`; JSON gives it whole.
#[test]
fn a_very_long_result_name_is_cut_in_the_table() {
    let dir = krate("long-name");
    let long = "a".repeat(65_536);
    let sql = format!("SELECT id AS \"{long}\", email FROM users WHERE id = ?1");
    let (code, out, err) = run(&dir, &["check", "--sql", &sql], None);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "SELECT statement", "{out}");
    let cut = format!("  {}…  i64", "a".repeat(63));
    assert!(lines.contains(&cut.as_str()), "{out:.300}");
    assert!(
        lines.contains(&format!("  email{}  String", " ".repeat(59)).as_str()),
        "{out:.300}"
    );
    let (code, report) = json(&dir, &["--sql", &sql]);
    assert_eq!(code, 0, "{report:.300}");
    assert_eq!(report["columns"][0]["name"].as_str(), Some(long.as_str()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--file /dev/zero` read without end; a file larger than D1's statement limit and a margin
/// is refused without reading it all.
#[test]
fn a_file_too_large_is_refused_unread() {
    let dir = krate("large");
    let big = dir.join("big.sql");
    std::fs::write(&big, format!("SELECT 1 AS x -- {}", "x".repeat(200_000))).unwrap();
    let mut files = vec![big.to_str().unwrap().to_string()];
    if Path::new("/dev/zero").exists() {
        files.push("/dev/zero".to_string());
    }
    for file in &files {
        let (code, report) = json(&dir, &["--file", file]);
        assert_eq!(code, 1, "{report}");
        let (message, _, _) = error(&report);
        assert!(
            message.contains(&format!("`{file}` is too large"))
                && message.contains("at most 165536 bytes")
                && message.contains("100000 bytes"),
            "{message}"
        );
    }
    // Just over 100 KB of statement is read, and rejected for its size.
    std::fs::write(&big, format!("SELECT 1 AS x -- {}", "x".repeat(100_000))).unwrap();
    let (code, report) = json(&dir, &["--file", big.to_str().unwrap()]);
    assert_eq!(code, 1, "{report}");
    assert!(error(&report).0.contains("over 100 KB"), "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A NUL byte inside a string literal got SQLite's `unrecognized token: "'a"`: it is named, with
/// its line and column.
#[test]
fn a_nul_byte_is_named_where_it_is() {
    let dir = krate("nul");
    let file = dir.join("nul.sql");
    std::fs::write(&file, "SELECT id,\n  'a\0b' AS x FROM users").unwrap();
    let (code, report) = json(&dir, &["--file", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{report}");
    let (message, line, column) = error(&report);
    assert!(message.contains("NUL byte"), "{message}");
    assert_eq!((line, column), (2, 5), "{message}");
    // Text: the NUL shown escaped under the caret, not sent to the terminal.
    let (code, _, err) = run(&dir, &["check", "--file", file.to_str().unwrap()], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nul.sql:2:5]"), "{err}");
    assert!(err.contains("'a\\u{0}b'") && !err.contains('\0'), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Invalid UTF-8 in `--file` had no line or column.
#[test]
fn invalid_utf8_is_located() {
    let dir = krate("utf8");
    let file = dir.join("latin1.sql");
    std::fs::write(&file, b"SELECT id,\n  'caf\xe9' AS x FROM users").unwrap();
    let (code, report) = json(&dir, &["--file", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{report}");
    let (message, line, column) = error(&report);
    assert!(
        message.contains("is not valid UTF-8: invalid byte 0xe9"),
        "{message}"
    );
    assert_eq!((line, column), (2, 7), "{message}");
    let (code, _, err) = run(&dir, &["check", "--file", file.to_str().unwrap()], None);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("latin1.sql:2:7]"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Control characters in a name reach neither stdout nor stderr: an escape sequence in an
/// alias, and one in an unknown table's name, are printed escaped.
#[test]
fn control_characters_in_names_are_escaped() {
    let dir = krate("control");
    let sql = "SELECT id AS \"a\x1b[31mred\nforged  i64\" FROM users WHERE id = ?1";
    let (code, out, err) = run(&dir, &["check", "--sql", sql], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("  a\\u{1b}[31mred\\nforged  i64  i64\n"),
        "{out}"
    );
    assert!(!out.contains('\x1b') && out.lines().count() == 5, "{out}");
    let sql = "SELECT id FROM \"us\x1b]0;pwned\x07ers\"";
    let (code, _, err) = run(&dir, &["check", "--sql", sql], None);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err}");
    assert!(err.contains("us\\u{1b}]0;pwned\\u{7}ers"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
