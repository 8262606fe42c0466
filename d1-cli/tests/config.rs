//! `d1kit config [--check]` on throwaway crates: the exit status CI relies on (0 up to date or
//! written, 1 out of date with `--check`, 2 an error) and what it prints.

use std::path::{Path, PathBuf};
use std::process::Command;

fn krate(name: &str, manifest: &str, wrangler: Option<&str>) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    if let Some(w) = wrangler {
        std::fs::write(dir.join("wrangler.toml"), w).unwrap();
    }
    dir
}

/// (exit code, stdout, stderr) of `d1kit config <args>` run in `dir`.
fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    d1kit(dir, "config", args)
}

/// (exit code, stdout, stderr) of `d1kit <command> <args>` run in `dir`.
fn d1kit(dir: &Path, command: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .arg(command)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run d1kit");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const POOL: &str =
    "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = 2\n";

#[test]
fn check_fails_until_config_writes_the_file() {
    let wrangler = "name = \"app\" # keep me\n";
    let dir = krate("check", POOL, Some(wrangler));
    let path = dir.join("wrangler.toml");

    let (code, out, err) = run(&dir, &["--check"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("wrangler.toml is out of date: 2 blocks to change"),
        "{out}"
    );
    assert!(
        out.contains("  + [[d1_databases]] USERS_0: database_name = \"app-users-0\""),
        "{out}"
    );
    assert!(out.contains("  + [[d1_databases]] USERS_1"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        wrangler,
        "--check wrote"
    );

    let (code, out, err) = run(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("updated wrangler.toml:"), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with(wrangler) && text.contains("binding = \"USERS_1\""),
        "{text}"
    );

    let (code, out, _) = run(&dir, &["--check"]);
    assert_eq!((code, out.as_str()), (0, "wrangler.toml is up to date\n"));

    // Back to one database: USERS_0 and USERS_1 go, USERS comes.
    std::fs::write(
        dir.join("Cargo.toml"),
        POOL.replace("shards = 2", "shards = 1"),
    )
    .unwrap();
    let (code, out, _) = run(&dir, &["--check"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("  - [[d1_databases]] USERS_0 (line 3): no longer configured"),
        "{out}"
    );
    assert!(
        out.contains("  + [[d1_databases]] USERS: database_name = \"app-users\""),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn manifest_path_and_no_wrangler_file() {
    let dir = krate("path", POOL, None);
    let elsewhere = std::env::temp_dir();
    let manifest = dir.join("Cargo.toml");
    let (code, out, err) = run(
        &elsewhere,
        &["--check", "--manifest-path", manifest.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("no wrangler file (wrangler.json, wrangler.jsonc, wrangler.toml)"),
        "{out}"
    );
    std::fs::write(dir.join("wrangler.toml"), "").unwrap();
    let (code, out, _) = run(
        &elsewhere,
        &["--check", "--manifest-path", manifest.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    let (code, _, err) = run(
        &elsewhere,
        &["--check", "--manifest-path", "nowhere/Cargo.toml"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no Cargo.toml at `nowhere/Cargo.toml`"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn errors_exit_2_naming_the_key_or_the_block() {
    // A bad configuration key.
    let dir = krate(
        "badkey",
        &POOL.replace("shards = 2", "shards = 0"),
        Some(""),
    );
    let (code, _, err) = run(&dir, &["--check"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`package.metadata.d1kit.databases.users.shards` must be at least 1"),
        "{err}"
    );
    assert!(err.contains("Cargo.toml:5:10"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();

    // A missing migrations directory.
    let dir = krate(
        "nomigrations",
        &format!("{POOL}migrations = \"db\"\n"),
        Some(""),
    );
    let (code, _, err) = run(&dir, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("`db` of `package.metadata.d1kit.databases.users.migrations` does not exist"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // A block d1kit does not own: an error, and the file is left as it was.
    let theirs = "name = \"app\"\n\n[[d1_databases]]\nbinding = \"USERS_0\"\ndatabase_name = \"prod\"\ndatabase_id = \"real\"\n";
    let dir = krate("conflict", POOL, Some(theirs));
    let (code, _, err) = run(&dir, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("[[d1_databases]] block `USERS_0` was not written by d1kit"),
        "{err}"
    );
    assert!(err.contains("wrangler.toml:3:1"), "{err}");
    assert!(
        err.contains("`package.metadata.d1kit.databases.users.database_name` (not set)"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("wrangler.toml")).unwrap(),
        theirs
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `d1kit check` in `dir` (its Cargo.toml configuration): (exit code, stdout, stderr).
fn check(dir: &Path, args: &[&str]) -> (i32, String, String) {
    d1kit(dir, "check", args)
}

/// The first error of `d1kit check --format json`'s output: message, file, line, column.
fn first_error(out: &str) -> (String, Option<String>, Option<u64>, Option<u64>) {
    let v: serde_json::Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let e = &v["errors"][0];
    (
        e["message"].as_str().unwrap_or_default().to_owned(),
        e["file"].as_str().map(str::to_owned),
        e["line"].as_u64(),
        e["column"].as_u64(),
    )
}

#[test]
fn check_warns_of_full_scans_and_denies_them_when_configured() {
    let schema =
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT);\n";
    let scan = "SELECT id FROM users WHERE name = ?1";

    // Default: a warning on stderr, the signature as usual.
    let dir = krate("scan-warn", "[package]\nname = \"app\"\n", None);
    std::fs::write(dir.join("migrations/0001_init.sql"), schema).unwrap();
    let (code, out, err) = check(&dir, &["--sql", scan, "--format", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"kind\":\"select\""), "{out}");
    assert!(err.contains("reads every row of `users`"), "{err}");
    // An indexed lookup says nothing.
    let (code, _, err) = check(&dir, &["--sql", "SELECT id FROM users WHERE email = ?1"]);
    assert_eq!((code, err.as_str()), (0, ""));

    // `full_scan = "deny"`: rejected, with a line and column in the JSON.
    let manifest =
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.lints]\nfull_scan = \"deny\"\n";
    let dir = krate("scan-deny", manifest, None);
    std::fs::write(dir.join("migrations/0001_init.sql"), schema).unwrap();
    let (code, out, _) = check(&dir, &["--sql", scan, "--format", "json"]);
    assert_eq!(code, 1, "{out}");
    let (message, _, line, column) = first_error(&out);
    assert!(message.contains("reads every row of `users`"), "{out}");
    assert_eq!((line, column), (Some(1), Some(16)), "{out}");

    // `allow`: silent.
    let manifest =
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.lints]\nfull_scan = \"allow\"\n";
    let dir = krate("scan-allow", manifest, None);
    std::fs::write(dir.join("migrations/0001_init.sql"), schema).unwrap();
    let (code, _, err) = check(&dir, &["--sql", scan]);
    assert_eq!((code, err.as_str()), (0, ""));
}

#[test]
fn check_warns_of_cascading_drops_and_denies_them_when_configured() {
    let init = "CREATE TABLE users (id INTEGER PRIMARY KEY);\nCREATE TABLE notes (id INTEGER PRIMARY KEY, owner_id INT REFERENCES users(id) ON DELETE CASCADE);\n";
    let rebuild = "CREATE TABLE users_new (id INTEGER PRIMARY KEY, name TEXT);\nINSERT INTO users_new (id) SELECT id FROM users;\nDROP TABLE users;\nALTER TABLE users_new RENAME TO users;\n";
    let query = [
        "--sql",
        "SELECT id FROM notes WHERE id = ?1",
        "--format",
        "json",
    ];
    let project = |name: &str, lints: &str| {
        let manifest = format!("[package]\nname = \"app\"\n{lints}");
        let dir = krate(name, &manifest, None);
        std::fs::write(dir.join("migrations/0001_init.sql"), init).unwrap();
        std::fs::write(dir.join("migrations/0002_rebuild.sql"), rebuild).unwrap();
        dir
    };

    // Default: the query's signature, and a warning at the DROP in its file.
    let (code, out, err) = check(&project("cascade-warn", ""), &query);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"kind\":\"select\""), "{out}");
    assert!(
        err.contains("dropping `users` deletes every row of `notes`"),
        "{err}"
    );
    assert!(err.contains("0002_rebuild.sql:3:12"), "{err}");

    // `deny`: rejected, the error naming the migration file, line and column.
    let dir = project(
        "cascade-deny",
        "\n[package.metadata.d1kit.lints]\ncascade_drop = \"deny\"\n",
    );
    let (code, out, _) = check(&dir, &query);
    assert_eq!(code, 1, "{out}");
    let (message, file, line, column) = first_error(&out);
    assert!(
        message.starts_with("dropping `users` deletes every row of `notes`"),
        "{out}"
    );
    assert!(
        file.is_some_and(|f| f.ends_with("0002_rebuild.sql")),
        "{out}"
    );
    assert_eq!((line, column), (Some(3), Some(12)), "{out}");

    // `allow`: silent.
    let dir = project(
        "cascade-allow",
        "\n[package.metadata.d1kit.lints]\ncascade_drop = \"allow\"\n",
    );
    let (code, _, err) = check(&dir, &query);
    assert_eq!((code, err.as_str()), (0, ""));
}

/// Whether every line break of `text` is `\r\n`.
fn all_crlf(text: &str) -> bool {
    text.match_indices('\n')
        .all(|(i, _)| i > 0 && text.as_bytes()[i - 1] == b'\r')
}

#[test]
fn config_keeps_line_endings_and_the_bom() {
    // Saved by a Windows editor: `\r\n` and a BOM. d1kit's lines get `\r\n` too.
    let toml = "\u{feff}# keep me\r\nname = \"app\"\r\n";
    let dir = krate("crlf", POOL, Some(toml));
    let path = dir.join("wrangler.toml");
    let (code, out, err) = run(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(toml), "{text:?}");
    assert!(text.contains("binding = \"USERS_1\"\r\n"), "{text:?}");
    assert!(all_crlf(&text), "{text:?}");
    let (code, out, _) = run(&dir, &["--check"]);
    assert_eq!((code, out.as_str()), (0, "wrangler.toml is up to date\n"));

    // JSONC: no mixed endings either.
    std::fs::remove_file(&path).unwrap();
    let jsonc = "\u{feff}{\r\n  // the app\r\n  \"name\": \"app\",\r\n}\r\n";
    std::fs::write(dir.join("wrangler.jsonc"), jsonc).unwrap();
    let (code, out, err) = run(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let text = std::fs::read_to_string(dir.join("wrangler.jsonc")).unwrap();
    assert!(
        text.starts_with("\u{feff}{\r\n  // the app\r\n  \"name\": \"app\",\r\n"),
        "{text:?}"
    );
    assert!(text.contains("\"binding\": \"USERS_1\",\r\n"), "{text:?}");
    assert!(all_crlf(&text), "{text:?}");
    let (code, out, _) = run(&dir, &["--check"]);
    assert_eq!((code, out.as_str()), (0, "wrangler.jsonc is up to date\n"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_wrangler_key_must_name_a_wrangler_file() {
    for (value, says) in [
        ("Cargo.toml", "`package.metadata.d1kit.wrangler` = `Cargo.toml` names a Cargo.toml, not a wrangler file"),
        ("wrangler.yaml", "`package.metadata.d1kit.wrangler` = `wrangler.yaml` is not a wrangler file: wrangler reads `.toml`, `.json` and `.jsonc` files"),
        ("migrations/wrangler.toml", "`package.metadata.d1kit.wrangler` = `migrations/wrangler.toml` is inside the migrations directory of database `users` (`migrations`)"),
    ] {
        let manifest = format!("{POOL}\n[package.metadata.d1kit]\nwrangler = \"{value}\"\n");
        let dir = krate("wrangler-key", &manifest, None);
        for args in [&[][..], &["--check"][..]] {
            let (code, out, err) = run(&dir, args);
            assert_eq!(code, 2, "{value}: {out}{err}");
            assert!(err.contains(says), "{value}: {err}");
            // At the key: line 8 of Cargo.toml.
            assert!(err.contains("Cargo.toml:8:12"), "{value}: {err}");
        }
        assert_eq!(
            std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(),
            manifest
        );
        assert!(!dir.join("migrations/wrangler.toml").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn config_writes_through_a_symlink_keeping_the_mode() {
        let dir = krate("symlink", POOL, None);
        std::fs::create_dir_all(dir.join("deploy")).unwrap();
        let real = dir.join("deploy/wrangler.toml");
        std::fs::write(&real, "name = \"app\"\n").unwrap();
        set_mode(&real, 0o600);
        let link = dir.join("wrangler.toml");
        std::os::unix::fs::symlink("deploy/wrangler.toml", &link).unwrap();

        let (code, out, err) = run(&dir, &[]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.starts_with("updated wrangler.toml:"), "{out}");
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        let text = std::fs::read_to_string(&real).unwrap();
        assert!(text.contains("binding = \"USERS_1\""), "{text}");
        assert_eq!(mode(&real), 0o600);
        let (code, out, _) = run(&dir, &["--check"]);
        assert_eq!((code, out.as_str()), (0, "wrangler.toml is up to date\n"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_refuses_a_read_only_file() {
        let wrangler = "name = \"app\"\n";
        let dir = krate("readonly", POOL, Some(wrangler));
        let path = dir.join("wrangler.toml");
        set_mode(&path, 0o444);
        let (code, out, err) = run(&dir, &[]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(
            err.contains("wrangler.toml` is read-only: d1kit does not overwrite it"),
            "{err}"
        );
        assert!(err.contains("make `wrangler.toml` writable"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), wrangler);
        assert_eq!(mode(&path), 0o444);
        // `--check` only reads it.
        let (code, out, _) = run(&dir, &["--check"]);
        assert_eq!(code, 1, "{out}");
        set_mode(&path, 0o644);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_names_the_directory_it_cannot_write() {
        let manifest =
            format!("{POOL}\n[package.metadata.d1kit]\nwrangler = \"deploy/wrangler.toml\"\n");
        let dir = krate("rodir", &manifest, None);
        let deploy = dir.join("deploy");
        std::fs::create_dir_all(&deploy).unwrap();
        std::fs::write(deploy.join("wrangler.toml"), "name = \"app\"\n").unwrap();
        set_mode(&deploy, 0o555);
        // Root writes in a read-only directory: nothing to see then.
        let probe = deploy.join("probe");
        if std::fs::write(&probe, "").is_ok() {
            let _ = std::fs::remove_file(&probe);
        } else {
            let (code, out, err) = run(&dir, &[]);
            assert_eq!(code, 2, "{out}{err}");
            assert!(
                err.contains("cannot create the temporary file `.wrangler.toml.d1kit-"),
                "{err}"
            );
            assert!(
                err.contains(&format!("in `{}` to update", deploy.display())),
                "{err}"
            );
            assert!(err.contains("that directory must be writable"), "{err}");
        }
        set_mode(&deploy, 0o755);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
