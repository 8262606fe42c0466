//! `d1kit provision` on throwaway crates: `--remote` against d1-fake (an HTTP fake of the D1
//! REST API, reached through the hidden `D1KIT_API_URL`), `--local` on wrangler's state
//! directory, `--dry-run`; what ends in the wrangler file, what the account holds, exit codes.

mod common;

use common::{blocks, describe_database, run};
use d1_fake::{FakeD1, Options, RateLimit};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn krate(name: &str, manifest: &str, wrangler: (&str, &str)) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("d1kit-cli-provision-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(dir.join(wrangler.0), wrangler.1).unwrap();
    dir
}

/// A crate `app` with one database `users` of `shards` shards; `extra` goes into its
/// `[package.metadata.d1kit.databases.users]`.
fn pool(shards: u32, extra: &str) -> String {
    format!(
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit]\nenvironments = [\"staging\"]\n\n[package.metadata.d1kit.databases.users]\nshards = {shards}\n{extra}"
    )
}

/// The fake account's databases: name → uuid.
fn account(fake: &FakeD1) -> BTreeMap<String, String> {
    fake.databases()
        .into_iter()
        .map(|d| (d.name, d.uuid))
        .collect()
}

/// Every block of the file holds the id the account gives its name, or (for names the account
/// does not have) still its placeholder; returns how many hold a real id.
fn assert_ids_match(path: &Path, fake: &FakeD1) -> usize {
    let account = account(fake);
    let mut real = 0;
    for b in blocks(path) {
        let name = b.database_name.clone().unwrap();
        match account.get(&name) {
            Some(uuid) => {
                assert_eq!(b.database_id.as_ref(), Some(uuid), "{}", b.describe());
                real += 1;
            }
            // Not d1kit's (the jsonc case's own block), or not provisioned yet.
            None => assert!(
                b.has_placeholder_id() || b.binding.as_deref() == Some("SESSIONS"),
                "{}",
                b.describe()
            ),
        }
    }
    real
}

#[test]
fn remote_provisions_64_shards_in_every_environment() {
    // One name per shard, shared by the top level and [env.staging]: 64 databases, 128 blocks.
    let wrangler = "# The app's Worker.\nname = \"app\" # keep me\n";
    let dir = krate(
        "pool64",
        &pool(64, "database_name = \"users-{n}\"\n"),
        ("wrangler.toml", wrangler),
    );
    let path = dir.join("wrangler.toml");
    let fake = FakeD1::start(Options::default());

    let (code, out, err) = run(
        &dir,
        &["provision", "--remote", "--location-hint", "weur"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("updated wrangler.toml to match Cargo.toml first (as `d1kit config` does):\n  + [[d1_databases]] USERS_0"),
        "{out}"
    );
    assert!(
        out.contains("creating 64 databases (0 already provisioned):"),
        "{out}"
    );
    let uuid = &account(&fake)["users-7"];
    assert!(
        out.contains(&format!(
            "[ 8/64] created users-7 = {uuid} → USERS_7, env.staging USERS_7\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("created 64, adopted 0, already provisioned 0\nwrangler.toml: ids written into 128 blocks\n"),
        "{out}"
    );
    assert_eq!(fake.databases().len(), 64);
    assert_eq!(fake.stats().create, 64);
    assert_eq!(assert_ids_match(&path, &fake), 128);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(wrangler), "{text}");

    // What cargo build runs finds nothing to change: real ids are kept.
    let (code, out, _) = run(&dir, &["config", "--check"], None);
    assert_eq!((code, out.as_str()), (0, "wrangler.toml is up to date\n"));

    // Again: nothing to create, no request, no credentials needed.
    let (code, out, err) = run(&dir, &["provision", "--remote"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "nothing to create: every d1kit block of wrangler.toml has its database's id (already provisioned 64)\n"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    assert_eq!(fake.stats().create, 64);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_adopts_an_existing_database_and_counts_provisioned_ones() {
    let dir = krate("adopt", &pool(3, ""), ("wrangler.toml", "name = \"app\"\n"));
    let path = dir.join("wrangler.toml");
    let fake = FakeD1::start(Options::default());
    let existing = fake.add_database("app-users-1");

    // Only `app-staging-*` are left once the top level is done.
    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("adopted app-users-1 = {existing} → USERS_1\n")),
        "{out}"
    );
    assert!(
        out.contains("created 5, adopted 1, already provisioned 0"),
        "{out}"
    );
    assert_eq!(fake.databases().len(), 6);
    assert_eq!(assert_ids_match(&path, &fake), 6);

    // Another shard: only it is created.
    std::fs::write(dir.join("Cargo.toml"), pool(4, "")).unwrap();
    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created 2, adopted 0, already provisioned 6"),
        "{out}"
    );
    assert_eq!(assert_ids_match(&path, &fake), 8);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_stops_at_the_account_limit_and_keeps_the_ids_created() {
    let dir = krate(
        "limit",
        &pool(16, "database_name = \"users-{n}\"\n"),
        ("wrangler.toml", "name = \"app\"\n"),
    );
    let path = dir.join("wrangler.toml");
    let fake = FakeD1::start(Options {
        database_limit: 10,
        ..Options::default()
    });
    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("[10/16] created users-9")
            && out.ends_with("created 10, adopted 0, already provisioned 0\n"),
        "{out}"
    );
    assert!(
        err.contains("the Cloudflare account has reached its limit of D1 databases (error 7406)")
            && err.contains("while creating `users-10`: 6 databases not created"),
        "{err}"
    );
    assert!(
        err.contains("the ids of the 10 provisioned before are in wrangler.toml"),
        "{err}"
    );
    // The ten created are in the file, in both scopes; the six others still wait.
    assert_eq!(fake.databases().len(), 10);
    assert_eq!(assert_ids_match(&path, &fake), 20);
    let waiting = blocks(&path)
        .iter()
        .filter(|b| b.has_placeholder_id())
        .count();
    assert_eq!(waiting, 12);
    let (code, out, _) = run(&dir, &["config", "--check"], None);
    assert_eq!(code, 0, "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_under_a_rate_limit_retries_and_completes() {
    let dir = krate(
        "ratelimit",
        &pool(12, "database_name = \"users-{n}\"\n"),
        ("wrangler.toml", "name = \"app\"\n"),
    );
    let fake = FakeD1::start(Options {
        rate_limit: Some(RateLimit {
            requests: 5,
            per: Duration::from_secs(1),
        }),
        ..Options::default()
    });
    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created 12, adopted 0"), "{out}");
    assert!(fake.stats().responses_429 > 0, "{:?}", fake.stats());
    assert_eq!(fake.databases().len(), 12);
    assert_eq!(assert_ids_match(&dir.join("wrangler.toml"), &fake), 24);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_writes_ids_into_jsonc_keeping_comments() {
    let jsonc = "// The app.\n{\n  \"name\": \"app\", // its name\n  \"d1_databases\": [\n    // sessions are not d1kit's\n    { \"binding\": \"SESSIONS\", \"database_name\": \"sessions\", \"database_id\": \"5e551045-0000-4000-8000-000000000000\" }\n  ]\n}\n";
    let manifest = "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = 2\n\n[package.metadata.d1kit.databases.audit]\nlocation_hint = \"weur\"\njurisdiction = \"eu\"\n";
    let dir = krate("jsonc", manifest, ("wrangler.jsonc", jsonc));
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    let path = dir.join("wrangler.jsonc");
    let fake = FakeD1::start(Options::default());

    // --database: only that database's blocks.
    let (code, out, err) = run(
        &dir,
        &["provision", "--remote", "--database", "audit"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created 1, adopted 0, already provisioned 0"),
        "{out}"
    );
    assert_eq!(account(&fake).keys().collect::<Vec<_>>(), ["app-audit"]);
    let (code, out, err) = run(
        &dir,
        &["provision", "--remote", "--location-hint", "apac"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("created 2, adopted 0, already provisioned 1"),
        "{out}"
    );
    // Where they were made: the database's configuration, else (and over it) the flags.
    let account = account(&fake);
    let audit = describe_database(&fake, &account["app-audit"]);
    let place = |d: &serde_json::Value| {
        let field = |k: &str| d.get(k).and_then(|v| v.as_str()).map(str::to_string);
        (field("running_in_region"), field("jurisdiction"))
    };
    assert_eq!(
        place(&audit),
        (Some("WEUR".into()), Some("eu".into())),
        "{audit}"
    );
    let users = describe_database(&fake, &account["app-users-1"]);
    assert_eq!(place(&users), (Some("APAC".into()), None), "{users}");
    assert_eq!(assert_ids_match(&path, &fake), 3);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("// The app.\n{\n  \"name\": \"app\", // its name\n  \"d1_databases\": [\n    // sessions are not d1kit's\n    { \"binding\": \"SESSIONS\", \"database_name\": \"sessions\", \"database_id\": \"5e551045-0000-4000-8000-000000000000\" },\n"),
        "{text}"
    );
    let (code, out, _) = run(&dir, &["config", "--check"], None);
    assert_eq!((code, out.as_str()), (0, "wrangler.jsonc is up to date\n"));

    let (code, _, err) = run(
        &dir,
        &["provision", "--remote", "--database", "user"],
        Some(&fake),
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no database `user` in [package.metadata.d1kit.databases]"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_without_credentials_names_the_variables() {
    let dir = krate("noenv", &pool(2, ""), ("wrangler.toml", "name = \"app\"\n"));
    let (code, _, err) = run(&dir, &["provision", "--remote"], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN are not set"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .args(["provision", "--remote"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("CLOUDFLARE_ACCOUNT_ID", "0123")
        .env("CLOUDFLARE_API_TOKEN", " ")
        .env_remove("D1KIT_API_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("CLOUDFLARE_API_TOKEN is not set"), "{err}");
    assert!(!err.contains("CLOUDFLARE_ACCOUNT_ID and"), "{err}");

    // A wrong token: the API's refusal, and nothing written.
    let fake = FakeD1::start(Options::default());
    let before = std::fs::read_to_string(dir.join("wrangler.toml")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_d1kit"))
        .args(["provision", "--remote"])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .env("CLOUDFLARE_ACCOUNT_ID", fake.account_id())
        .env("CLOUDFLARE_API_TOKEN", "wrong")
        .env("D1KIT_API_URL", fake.base_url())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("creating D1 database `app-users-0` failed: Cloudflare API: "),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("wrangler.toml")).unwrap(),
        before
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dry_run_changes_nothing() {
    let wrangler = "name = \"app\"\n";
    let dir = krate("dry", &pool(2, ""), ("wrangler.toml", wrangler));
    let path = dir.join("wrangler.toml");
    let fake = FakeD1::start(Options::default());

    let (code, out, err) = run(&dir, &["provision", "--remote", "--dry-run"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("wrangler.toml is out of date; `d1kit config` would first change:\n  + [[d1_databases]] USERS_0"),
        "{out}"
    );
    assert!(
        out.contains("would create 4 databases (adopting any that already exists by its name) and write each id into wrangler.toml (lines as `d1kit config` would leave it):\n  app-users-0 → [[d1_databases]] USERS_0 (line 3)\n"),
        "{out}"
    );
    assert!(
        out.contains("  app-staging-users-1 → [[env.staging.d1_databases]] USERS_1 (line 21)\nalready provisioned 0\n"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), wrangler);
    assert_eq!(fake.stats().requests, 0);

    let (code, out, err) = run(&dir, &["provision", "--local", "--dry-run"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("would create  .wrangler/state/v3/d1/miniflare-D1DatabaseObject/"),
        "{out}"
    );
    assert!(out.ends_with("would create 4 files, 0 already there (wrangler --local --persist-to .wrangler/state)\n"), "{out}");
    assert!(!dir.join(".wrangler").exists());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), wrangler);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn local_creates_the_files_wrangler_dev_reads() {
    // USERS_0 was provisioned (the id of a test vector in docs/D1.md, Local state files); the
    // rest have placeholders.
    let wrangler = "name = \"app\"\n\n[[d1_databases]]\nbinding = \"USERS_0\"\ndatabase_name = \"app-users-0\"\ndatabase_id = \"00000000-0000-0000-0000-000000000001\"\n";
    let dir = krate("local", &pool(2, ""), ("wrangler.toml", wrangler));
    let path = dir.join("wrangler.toml");
    let (code, out, err) = run(&dir, &["provision", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    let state = dir.join(".wrangler/state/v3/d1/miniflare-D1DatabaseObject");
    let vector =
        state.join("a36f84ea60804f30bb0c7f7cad9f5336a6cca0165abdab8b9241d93dbf0b6006.sqlite");
    assert!(
        out.contains(&format!(
            "created       .wrangler/state/v3/d1/miniflare-D1DatabaseObject/{}: USERS_0 (id 00000000-0000-0000-0000-000000000001)\n",
            vector.file_name().unwrap().to_string_lossy()
        )),
        "{out}"
    );
    assert!(
        out.ends_with(
            "created 4 files, 0 already there (wrangler --local --persist-to .wrangler/state)\n"
        ),
        "{out}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let blocks = blocks(&path);
    assert_eq!(blocks.len(), 4);
    for b in &blocks {
        let file = d1_runtime::local::wrangler_state_file(
            dir.join(".wrangler/state"),
            b.database_id.as_deref().unwrap(),
        );
        // A real SQLite database, empty.
        let bytes = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            bytes.starts_with(b"SQLite format 3\0"),
            "{}",
            file.display()
        );
        let db = d1_runtime::local::Database::open(&file).unwrap();
        let tables: i64 = db
            .connection()
            .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
    assert!(vector.is_file());
    // The placeholders stay: --local changes no id.
    assert_eq!(blocks.iter().filter(|b| b.has_placeholder_id()).count(), 3);

    // Existing files are left alone.
    let db = d1_runtime::local::Database::open(&vector).unwrap();
    db.connection()
        .execute_batch("CREATE TABLE kept (x)")
        .unwrap();
    drop(db);
    let (code, out, err) = run(&dir, &["provision", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out.matches("\nexists ").count() + usize::from(out.starts_with("exists ")),
        4,
        "{out}"
    );
    assert!(
        out.ends_with(
            "created 0 files, 4 already there (wrangler --local --persist-to .wrangler/state)\n"
        ),
        "{out}"
    );
    let db = d1_runtime::local::Database::open(&vector).unwrap();
    db.connection().execute_batch("SELECT x FROM kept").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);

    // --persist-to, as wrangler takes it; --database, one database's blocks.
    let (code, out, err) = run(
        &dir,
        &[
            "provision",
            "--local",
            "--persist-to",
            "state",
            "--database",
            "users",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("created 4 files, 0 already there (wrangler --local --persist-to state)\n"),
        "{out}"
    );
    assert!(dir
        .join("state/v3/d1/miniflare-D1DatabaseObject")
        .join(vector.file_name().unwrap())
        .is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn needs_a_target_and_a_wrangler_file() {
    let dir = krate("usage", &pool(2, ""), ("other.txt", ""));
    let (code, _, err) = run(&dir, &["provision"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--remote"), "{err}");
    let (code, _, err) = run(&dir, &["provision", "--remote", "--local"], None);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(
        &dir,
        &["provision", "--local", "--location-hint", "weur"],
        None,
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&dir, &["provision", "--local"], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no wrangler file (wrangler.json, wrangler.jsonc, wrangler.toml) in `.`, and none configured (`package.metadata.d1kit.wrangler`): nothing to provision"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn remote_writes_ids_through_a_symlink_keeping_mode_and_line_endings() {
    use std::os::unix::fs::PermissionsExt;
    let dir = krate(
        "symlink",
        &pool(2, ""),
        ("deploy.toml", "\u{feff}name = \"app\" # keep me\r\n"),
    );
    let real = dir.join("deploy.toml");
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("wrangler.toml");
    std::os::unix::fs::symlink("deploy.toml", &link).unwrap();
    let fake = FakeD1::start(Options::default());

    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("wrangler.toml: ids written into 4 blocks"),
        "{out}"
    );
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(assert_ids_match(&real, &fake), 4);
    let meta = std::fs::metadata(&real).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&real).unwrap();
    assert!(
        text.starts_with("\u{feff}name = \"app\" # keep me\r\n"),
        "{text:?}"
    );
    assert!(
        text.match_indices('\n')
            .all(|(i, _)| text.as_bytes()[i - 1] == b'\r'),
        "{text:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
