//! `d1kit migrate`, `d1kit status` and `d1kit drift` on throwaway crates: a local fleet of
//! wrangler's state files (an environment sharing the ids, `--database-id`), dry runs, a second
//! run, a migration wrangler applied alone, an edited migration, a column added by hand, JSON
//! reports, a canary that fails, and `--remote` against d1-fake after `d1kit provision`.

mod common;

use common::{blocks, json, run};
use d1_fake::{FakeD1, Options};
use d1_runtime::local::{wrangler_state_file, Database};
use serde_json::Value;
use std::path::{Path, PathBuf};

const INIT: &str =
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, title TEXT);\n";
const INDEX: &str = "CREATE INDEX notes_owner ON notes (owner);\n";
const TAGS: &str =
    "CREATE TABLE tags (note_id INTEGER NOT NULL REFERENCES notes (id), tag TEXT NOT NULL);\n";

/// wrangler's `d1_migrations`, as `wrangler d1 migrations apply` creates it.
const WRANGLER_TABLE: &str = "CREATE TABLE IF NOT EXISTS d1_migrations(
\t\tid         INTEGER PRIMARY KEY AUTOINCREMENT,
\t\tname       TEXT UNIQUE,
\t\tapplied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);";

/// A crate `app` with one database `users` of `shards` shards named `users-{n}` (so the top
/// level and `[env.staging]` bind the same databases), three migrations, and a wrangler.toml
/// holding only the Worker's name.
fn krate(name: &str, shards: u32) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-migrate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"app\"\n\n[package.metadata.d1kit]\nenvironments = [\"staging\"]\n\n[package.metadata.d1kit.databases.users]\nshards = {shards}\ndatabase_name = \"users-{{n}}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    for (file, sql) in [
        ("0001_init.sql", INIT),
        ("0002_owner_index.sql", INDEX),
        ("0003_tags.sql", TAGS),
    ] {
        std::fs::write(dir.join("migrations").join(file), sql).unwrap();
    }
    dir
}

/// The ids of the top-level blocks of the crate's wrangler.toml, by binding, in file order.
fn ids(dir: &Path) -> Vec<(String, String)> {
    blocks(&dir.join("wrangler.toml"))
        .into_iter()
        .filter(|b| b.env.is_none())
        .map(|b| (b.binding.unwrap(), b.database_id.unwrap()))
        .collect()
}

/// The summary line of a report: its last.
fn summary(out: &str) -> &str {
    out.lines().last().unwrap_or_default()
}

/// [`krate`] with its wrangler file written by `d1kit config`, and the top level's ids.
fn configured(name: &str, shards: u32) -> (PathBuf, Vec<(String, String)>) {
    let dir = krate(name, shards);
    let (code, out, err) = run(&dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    let ids = ids(&dir);
    assert_eq!(ids.len(), shards as usize);
    (dir, ids)
}

/// The local database of `id`, as `wrangler dev --local` finds it.
fn local(dir: &Path, id: &str) -> Database {
    let path = wrangler_state_file(dir.join(".wrangler/state"), id);
    assert!(path.is_file(), "{}", path.display());
    Database::open(path).unwrap()
}

/// `d1_migrations`' names, in order.
fn applied(db: &Database) -> Vec<String> {
    let conn = db.connection();
    let mut st = conn
        .prepare("SELECT name FROM d1_migrations ORDER BY id")
        .unwrap();
    let names = st.query_map([], |r| r.get(0)).unwrap();
    names.map(Result::unwrap).collect()
}

const ALL: [&str; 3] = ["0001_init.sql", "0002_owner_index.sql", "0003_tags.sql"];

/// The row of `label` in a text table.
fn row<'a>(out: &'a str, label: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{label} ")))
        .unwrap_or_else(|| panic!("no row {label}: {out}"))
}

/// The database of a JSON report with `label`.
fn entry<'a>(report: &'a Value, label: &str) -> &'a Value {
    report["databases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["label"] == label)
        .unwrap_or_else(|| panic!("no {label}: {report}"))
}

#[test]
fn local_fleet_dry_run_migrate_then_up_to_date() {
    let dir = krate("local", 4);

    // Dry run before `d1kit config`: the fleet as config would write it, nothing created.
    let (code, out, err) = run(&dir, &["migrate", "--local", "--dry-run"], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("note: wrangler.toml is out of date; the fleet is taken as `d1kit config` (or `cargo build`) would leave it:"),
        "{err}"
    );
    assert!(out.starts_with("DATABASE  ID"), "{out}");
    assert!(row(&out, "USERS_3").contains("0 → 3"), "{out}");
    assert!(row(&out, "USERS_3").contains("pending"), "{out}");
    assert!(
        summary(&out).starts_with("4 pending, 0 up to date, 0 failed, 0 skipped in "),
        "{out}"
    );
    assert!(!dir.join(".wrangler").exists(), "a dry run creates no file");

    let (code, out, err) = run(&dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    let ids = ids(&dir);
    assert_eq!(ids.len(), 4);

    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("out of date"), "{err}");
    for (binding, id) in &ids {
        let r = row(&out, binding);
        assert!(r.contains(&id[..8]), "{r}");
        assert!(r.contains("0 → 3"), "{r}");
        assert!(r.contains("applied"), "{r}");
        assert_eq!(applied(&local(&dir, id)), ALL, "{binding}");
    }
    let last = summary(&out);
    assert!(
        last.starts_with("4 migrated, 0 up to date, 0 failed, 0 skipped in ")
            && last.ends_with(" databases/s)"),
        "{out}"
    );

    // [env.staging] binds the same databases (the same names, so the same ids): nothing left.
    let (code, out, err) = run(&dir, &["migrate", "--local", "--env", "staging"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).starts_with("0 migrated, 4 up to date, 0 failed, 0 skipped"),
        "{out}"
    );
    // One database named twice is migrated once (and reported once).
    let (code, report) = json(
        &dir,
        &[
            "migrate",
            "--local",
            "--database-id",
            &ids[0].1,
            &ids[1].1,
            "--database-id",
            &ids[0].1,
        ],
        None,
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["databases"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["databases"][0]["label"], ids[0].1.as_str());

    // A second run: up to date, a dry run agrees (exit 0), and the status table says so.
    let (code, report) = json(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["command"], "migrate");
    assert_eq!(report["mode"], "local");
    assert_eq!(report["dry_run"], false);
    assert_eq!(report["totals"]["databases"], 4);
    assert_eq!(report["totals"]["up_to_date"], 4);
    assert_eq!(report["totals"]["migrations_applied"], 0);
    let first = entry(&report, "USERS_0");
    assert_eq!(first["id"], ids[0].1.as_str());
    assert_eq!(first["database"], "users");
    assert_eq!(first["status"], "up to date");
    assert_eq!(
        (first["before"].as_u64(), first["after"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(first["attempts"], 1);
    assert!(first["error"].is_null() && first["skipped"] == false);
    for key in ["applied", "pending", "adopted", "unknown", "edited"] {
        assert_eq!(first[key], serde_json::json!([]), "{key}");
    }
    assert!(first["elapsed_ms"].is_number());
    let (code, out, err) = run(&dir, &["migrate", "--local", "--dry-run"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&dir, &["status", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("DATABASE  ID         APPLIED  PENDING  LAST APPLIED   STATUS"),
        "{out}"
    );
    let r = row(&out, "USERS_1");
    assert!(
        r.contains("3/3") && r.contains("0003_tags.sql") && r.contains("up to date"),
        "{r}"
    );
    assert!(
        out.contains("\n4 databases: 4 up to date, 0 behind, 0 edited, 0 with unknown migrations, 0 failed ("),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_migration_wrangler_applied_is_adopted_and_the_rest_applied() {
    let (dir, ids) = configured("wrangler", 2);
    // `wrangler d1 migrations apply --local` applied the first file: its table, its row, its
    // SQL; no d1kit_migrations.
    let path = wrangler_state_file(dir.join(".wrangler/state"), &ids[1].1);
    let db = Database::open(&path).unwrap();
    db.connection()
        .execute_batch(&format!(
            "{WRANGLER_TABLE}\n{INIT}INSERT INTO d1_migrations (name) VALUES ('0001_init.sql');"
        ))
        .unwrap();
    drop(db);

    let (code, report) = json(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{report}");
    let adopted = entry(&report, "USERS_1");
    assert_eq!(adopted["adopted"], serde_json::json!(["0001_init.sql"]));
    assert_eq!(
        adopted["applied"],
        serde_json::json!(["0002_owner_index.sql", "0003_tags.sql"])
    );
    assert_eq!(
        (adopted["before"].as_u64(), adopted["after"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(report["totals"]["migrations_adopted"], 1);
    assert_eq!(
        entry(&report, "USERS_0")["applied"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // wrangler's table keeps wrangler's rows and shape; each file has its checksum beside it.
    let db = local(&dir, &ids[1].1);
    assert_eq!(applied(&db), ALL);
    let checksums: i64 = db
        .connection()
        .query_row("SELECT count(*) FROM d1kit_migrations", [], |r| r.get(0))
        .unwrap();
    assert_eq!(checksums, 3);
    for (_, id) in &ids {
        let db = local(&dir, id);
        let columns: Vec<(String, String, bool, i64)> = db
            .connection()
            .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info('d1_migrations')")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            columns,
            [
                ("id".into(), "INTEGER".into(), false, 1),
                ("name".into(), "TEXT".into(), false, 0),
                ("applied_at".into(), "TIMESTAMP".into(), true, 0),
            ]
        );
    }
    // And in the text report, the summary counts it.
    let db = local(&dir, &ids[0].1);
    db.connection()
        .execute_batch("DELETE FROM d1kit_migrations WHERE name = '0003_tags.sql'")
        .unwrap();
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).ends_with("databases/s); 1 migration applied by wrangler adopted"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn edited_and_unknown_migrations_are_reported_with_the_database() {
    let (dir, ids) = configured("edited", 4);
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");

    // An applied migration edited afterwards: every database refuses it.
    std::fs::write(
        dir.join("migrations/0002_owner_index.sql"),
        "CREATE INDEX notes_owner ON notes (owner, id);\n",
    )
    .unwrap();
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 1, "{out}{err}");
    let r = row(&out, "USERS_2");
    assert!(
        r.contains("failed") && r.contains("edited: 0002_owner_index.sql"),
        "{r}"
    );
    assert!(
        out.contains("USERS_2: migration `0002_owner_index.sql` was edited after it was applied (recorded sha256 "),
        "{out}"
    );
    assert!(
        summary(&out).starts_with("0 migrated, 0 up to date, 4 failed"),
        "{out}"
    );
    // The dry run says so too, and so does status (exit 1).
    let (code, report) = json(&dir, &["migrate", "--local", "--dry-run"], None);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        entry(&report, "USERS_2")["edited"][0]["name"],
        "0002_owner_index.sql"
    );
    let (code, out, err) = run(&dir, &["status", "--local"], None);
    assert_eq!(code, 1, "{out}{err}");
    let r = row(&out, "USERS_2");
    assert!(
        r.contains("edited") && r.contains("edited: 0002_owner_index.sql"),
        "{r}"
    );
    std::fs::write(dir.join("migrations/0002_owner_index.sql"), INDEX).unwrap();
    let (code, out, err) = run(&dir, &["status", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");

    // A migration a newer program applied: status names it (exit 1); migrate leaves it alone.
    let db = local(&dir, &ids[3].1);
    db.connection()
        .execute_batch("INSERT INTO d1_migrations (name) VALUES ('0004_future.sql')")
        .unwrap();
    let (code, report) = json(&dir, &["status", "--local"], None);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["command"], "status");
    let e = entry(&report, "USERS_3");
    assert_eq!(e["status"], "unknown");
    assert_eq!(e["unknown"], serde_json::json!(["0004_future.sql"]));
    assert_eq!(e["last_applied"], "0004_future.sql");
    assert_eq!(e["applied"], 4);
    assert_eq!(entry(&report, "USERS_0")["status"], "up to date");
    assert_eq!(entry(&report, "USERS_0")["last_applied"], "0003_tags.sql");
    assert_eq!(report["totals"]["unknown"], 1);
    assert_eq!(report["totals"]["up_to_date"], 3);
    let (code, out, err) = run(&dir, &["status", "--local"], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        row(&out, "USERS_3").contains("unknown: 0004_future.sql"),
        "{out}"
    );
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("USERS_3: has applied 1 migration that the migrations directory lacks (left alone): 0004_future.sql"),
        "{out}"
    );

    // A database behind (a new migration) is `behind`, not a problem: exit 0.
    std::fs::write(
        dir.join("migrations/0005_more.sql"),
        "CREATE TABLE more (x INTEGER);\n",
    )
    .unwrap();
    let db = local(&dir, &ids[3].1);
    db.connection()
        .execute_batch("DELETE FROM d1_migrations WHERE name = '0004_future.sql'")
        .unwrap();
    let (code, out, err) = run(&dir, &["status", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    let r = row(&out, "USERS_0");
    assert!(r.contains("3/4") && r.contains("behind"), "{r}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn drift_names_the_database_and_the_object() {
    let (dir, ids) = configured("drift", 4);
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&dir, &["drift", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("4 databases compared: 0 drift (0 differences), 4 match the migrations' schema, 0 behind, 0 could not be read ("),
        "{out}"
    );

    // A column added by hand to one shard, an index dropped on another.
    local(&dir, &ids[2].1)
        .connection()
        .execute_batch("ALTER TABLE notes ADD COLUMN extra TEXT")
        .unwrap();
    local(&dir, &ids[0].1)
        .connection()
        .execute_batch("DROP INDEX notes_owner")
        .unwrap();
    let (code, out, err) = run(&dir, &["drift", "--local"], None);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("USERS_2: table `notes`, column `extra`: TEXT is not in the migrations\n"),
        "{out}"
    );
    assert!(
        out.contains("USERS_0: index `notes_owner` is missing (the migrations create it)\n"),
        "{out}"
    );
    assert!(
        !out.contains("USERS_1:") && !out.contains("USERS_3:"),
        "{out}"
    );
    assert!(
        out.contains("4 databases compared: 2 drift (2 differences), 2 match the migrations' schema, 0 behind, 0 could not be read ("),
        "{out}"
    );
    let (code, report) = json(&dir, &["drift", "--local"], None);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["command"], "drift");
    let d = &entry(&report, "USERS_2")["drift"];
    assert_eq!(d.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(d[0]["kind"], "column");
    assert_eq!(d[0]["name"], "notes");
    assert_eq!(d[0]["column"], "extra");
    assert_eq!(
        d[0]["message"],
        "table `notes`, column `extra`: TEXT is not in the migrations"
    );
    assert_eq!(entry(&report, "USERS_1")["drift"], serde_json::json!([]));
    assert_eq!(report["totals"]["drifting"], 2);
    assert_eq!(report["totals"]["differences"], 2);

    // A database never migrated (no file yet) is behind, not drifting: compared with the
    // schema of what it has applied (nothing); the file is not created.
    let (code, report) = json(
        &dir,
        &[
            "drift",
            "--local",
            "--database-id",
            "00000000-0000-0000-0000-00000000beef",
        ],
        None,
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["databases"][0]["drift"],
        serde_json::json!([]),
        "{report}"
    );
    assert_eq!(
        report["databases"][0]["pending"],
        serde_json::json!(["0001_init.sql", "0002_owner_index.sql", "0003_tags.sql"])
    );
    assert_eq!(report["totals"]["behind"], 1);
    let (_, out, _) = run(
        &dir,
        &[
            "drift",
            "--local",
            "--database-id",
            "00000000-0000-0000-0000-00000000beef",
        ],
        None,
    );
    assert!(
        out.contains("behind (run `d1kit migrate`): 3 migrations not applied yet"),
        "{out}"
    );
    assert!(!wrangler_state_file(
        dir.join(".wrangler/state"),
        "00000000-0000-0000-0000-00000000beef"
    )
    .exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_canary_stops_the_fleet() {
    let (dir, ids) = configured("canary", 4);
    // USERS_0 (the canary: the first database) has a `tags` table made by hand, so 0003 fails
    // there and only there.
    let path = wrangler_state_file(dir.join(".wrangler/state"), &ids[0].1);
    Database::open(&path)
        .unwrap()
        .connection()
        .execute_batch("CREATE TABLE tags (x)")
        .unwrap();

    let (code, out, err) = run(&dir, &["migrate", "--local", "--canary", "1"], None);
    assert_eq!(code, 1, "{out}{err}");
    let r = row(&out, "USERS_0");
    assert!(r.contains("0 → 2") && r.contains("failed"), "{r}");
    assert!(r.contains("migration `0003_tags.sql` failed"), "{r}");
    assert!(
        out.contains("\nUSERS_0: migration `0003_tags.sql` failed, nothing of it was applied: batch statement 1 of 3: table tags already exists"),
        "{out}"
    );
    for binding in ["USERS_1", "USERS_2", "USERS_3"] {
        assert!(row(&out, binding).contains("skipped"), "{out}");
    }
    assert!(
        summary(&out).starts_with("0 migrated, 0 up to date, 1 failed, 3 skipped in "),
        "{out}"
    );
    // The canary kept what it applied before the failure; the others were not touched.
    assert_eq!(applied(&local(&dir, &ids[0].1)), ALL[..2]);
    assert!(!wrangler_state_file(dir.join(".wrangler/state"), &ids[1].1).exists());

    // --fail-fast, one at a time: the same.
    let (code, report) = json(
        &dir,
        &["migrate", "--local", "--fail-fast", "--concurrency", "1"],
        None,
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["totals"]["failed"], 1);
    assert_eq!(report["totals"]["skipped"], 3);
    assert_eq!(entry(&report, "USERS_3")["skipped"], true);
    assert_eq!(entry(&report, "USERS_3")["attempts"], 0);

    // Without them, one failure stops only its database.
    let (code, report) = json(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["totals"]["migrated"], 3);
    assert_eq!(report["totals"]["failed"], 1);
    let failed = entry(&report, "USERS_0");
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["pending"], serde_json::json!(["0003_tags.sql"]));
    assert!(
        failed["error"].as_str().unwrap().contains("0003_tags.sql"),
        "{report}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn remote_fleet_provisioned_then_migrated_against_the_fake() {
    let dir = krate("remote", 4);
    let fake = FakeD1::start(Options::default());

    // Not provisioned yet: the placeholders are no databases.
    let (code, out, err) = run(&dir, &["migrate", "--remote"], Some(&fake));
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("4 blocks of the top level still hold d1kit's placeholder id, not a database on Cloudflare: [[d1_databases]] USERS_0 (line "),
        "{err}"
    );
    assert!(
        err.contains("run `d1kit provision --remote` first"),
        "{err}"
    );
    // Nor without the variables.
    let (code, _, err) = run(&dir, &["status", "--remote"], None);
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = run(&dir, &["provision", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    let ids = ids(&dir);
    assert_eq!(fake.databases().len(), 4);

    let (code, out, err) = run(&dir, &["migrate", "--remote", "--dry-run"], Some(&fake));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        summary(&out).starts_with("4 pending, 0 up to date"),
        "{out}"
    );
    let (code, report) = json(
        &dir,
        &["migrate", "--remote", "--concurrency", "2"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["mode"], "remote");
    assert_eq!(report["totals"]["migrated"], 4);
    assert_eq!(report["totals"]["migrations_applied"], 12);
    for (binding, id) in &ids {
        assert_eq!(entry(&report, binding)["id"], id.as_str());
        let names: Vec<String> = fake
            .with_connection(id, |c| {
                let mut st = c
                    .prepare("SELECT name FROM d1_migrations ORDER BY id")
                    .unwrap();
                let names = st.query_map([], |r| r.get(0)).unwrap();
                names.map(Result::unwrap).collect()
            })
            .unwrap();
        assert_eq!(names, ALL, "{binding}");
    }

    let (code, out, err) = run(&dir, &["status", "--remote"], Some(&fake));
    assert_eq!(code, 0, "{out}{err}");
    assert!(row(&out, "USERS_3").contains("3/3"), "{out}");
    assert!(
        out.contains(
            "4 databases: 4 up to date, 0 behind, 0 edited, 0 with unknown migrations, 0 failed ("
        ),
        "{out}"
    );
    // Drift over the API too.
    fake.with_connection(&ids[1].1, |c| {
        c.execute_batch("ALTER TABLE tags ADD COLUMN color TEXT")
    })
    .unwrap()
    .unwrap();
    let (code, out, err) = run(&dir, &["drift", "--remote"], Some(&fake));
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("USERS_1: table `tags`, column `color`: TEXT is not in the migrations\n"),
        "{out}"
    );
    // The second environment shares the databases: up to date.
    let (code, out, err) = run(
        &dir,
        &["migrate", "--remote", "--env", "staging"],
        Some(&fake),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        summary(&out).starts_with("0 migrated, 4 up to date"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let dir = krate("usage", 2);
    let (code, _, err) = run(&dir, &["migrate"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--remote"), "{err}");
    let (code, _, err) = run(&dir, &["status", "--local", "--remote"], None);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&dir, &["drift", "--local", "--concurrency", "0"], None);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&dir, &["migrate", "--local", "--env", "prod"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no environment `prod`"), "{err}");

    // --database-id with two configured databases needs --database.
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    std::fs::create_dir_all(dir.join("migrations/audit")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!("{manifest}\n[package.metadata.d1kit.databases.audit]\nmigrations = \"migrations/audit\"\n"),
    )
    .unwrap();
    let (code, report) = json(&dir, &["migrate", "--local", "--database-id", "x"], None);
    assert_eq!(code, 2, "{report}");
    assert!(
        report["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("2 databases are configured: --database-id needs --database NAME"),
        "{report}"
    );
    // An id with no local database is refused (a typo, or a short id as tables show it,
    // would start a new empty one), unless --create says to create it.
    let (code, _, err) = run(
        &dir,
        &[
            "migrate",
            "--local",
            "--database-id",
            "x",
            "--database",
            "users",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no local database has the id `x`"), "{err}");
    assert!(err.contains("pass --create"), "{err}");
    let (code, out, err) = run(&dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    let ids = ids(&dir);
    let (code, out, err) = run(&dir, &["migrate", "--local", "--database", "users"], None);
    assert_eq!(code, 0, "{out}{err}");
    let short: String = ids[0].1.chars().take(8).collect();
    let (code, _, err) = run(
        &dir,
        &[
            "migrate",
            "--local",
            "--database-id",
            &short,
            "--database",
            "users",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("did you mean `{}`?", ids[0].1)),
        "{err}"
    );
    let (code, out, err) = run(
        &dir,
        &[
            "migrate",
            "--local",
            "--database-id",
            "x",
            "--database",
            "users",
            "--create",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(row(&out, "x").contains("0 → 3"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tenants_in_migrates_every_database_a_directory_records() {
    let dir = krate("tenants-in", 1);
    let state = dir.join(".wrangler/state");
    // The directory's own database: the table rest::Tenants fills, three tenants recorded.
    let path = wrangler_state_file(&state, "directory-db");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let directory = Database::open(&path).unwrap();
    directory
        .connection()
        .execute_batch(
            "CREATE TABLE d1kit_tenant_databases (tenant TEXT PRIMARY KEY, database_id TEXT NOT NULL, created_at TEXT);
             INSERT INTO d1kit_tenant_databases VALUES ('alice', 'db-alice', NULL), ('bob', 'db-bob', NULL), ('carol', 'db-carol', NULL);",
        )
        .unwrap();
    let (code, report) = json(
        &dir,
        &["migrate", "--local", "--tenants-in", "directory-db"],
        None,
    );
    assert_eq!(code, 0, "{report}");
    for tenant in ["alice", "bob", "carol"] {
        assert_eq!(entry(&report, tenant)["id"], format!("db-{tenant}"));
        assert_eq!(applied(&local(&dir, &format!("db-{tenant}"))), ALL);
    }
    assert_eq!(report["databases"].as_array().unwrap().len(), 3);
    // A directory that is not there is a clear error, not an empty fleet.
    let (code, out, err) = run(&dir, &["migrate", "--local", "--tenants-in", "nope"], None);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--tenants-in nope"), "{err}");
}

/// A migration D1 would refuse (a COMMIT or ROLLBACK inside it, ATTACH) is refused at its
/// file:line by migrate, status and drift before any database is read or written.
#[test]
fn statements_d1_refuses_in_migrations_are_refused_before_anything_runs() {
    let attached = std::env::temp_dir().join(format!("d1kit-attached-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&attached);
    for (name, sql, says) in [
        (
            "commit",
            "CREATE TABLE part_a (x);\nCOMMIT;\nCREATE TABLE part_b (y);\n".to_string(),
            "0004_bad.sql:2: `COMMIT`",
        ),
        (
            "rollback",
            "CREATE TABLE part_a (x);\n\nROLLBACK;\n".to_string(),
            "0004_bad.sql:3: `ROLLBACK`",
        ),
        (
            "attach",
            format!("ATTACH DATABASE '{}' AS x;\n", attached.display()),
            "0004_bad.sql:1: `ATTACH`",
        ),
    ] {
        let (dir, ids) = configured(&format!("refused-{name}"), 1);
        let (code, out, err) = run(&dir, &["migrate", "--local"], None);
        assert_eq!(code, 0, "{out}{err}");
        std::fs::write(dir.join("migrations/0004_bad.sql"), &sql).unwrap();
        for command in ["migrate", "status", "drift"] {
            let (code, out, err) = run(&dir, &[command, "--local"], None);
            assert_eq!(code, 2, "{command} {name}: {out}{err}");
            assert!(err.contains(says), "{command} {name}: {err}");
        }
        let db = local(&dir, &ids[0].1);
        let tables: i64 = db
            .connection()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'part_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 0, "{name}: nothing of it ran");
        assert!(!applied(&db).iter().any(|m| m == "0004_bad.sql"), "{name}");
        assert!(!attached.exists(), "ATTACH created {}", attached.display());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Run out of file descriptors (`ulimit -n 48`, 120 shards, `--concurrency 120`), a fleet
/// migration does not fail with SQLite's bare "unable to open database file": running out is
/// transient and tried again; a database that still cannot be opened says why and what to do.
#[cfg(unix)]
#[test]
fn running_out_of_file_descriptors_is_retried_and_explained() {
    let (dir, ids) = configured("emfile", 120);
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 48 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_d1kit"))
        .args([
            "migrate",
            "--local",
            "--concurrency",
            "120",
            "--format",
            "json",
        ])
        .current_dir(&dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let databases = report["databases"].as_array().unwrap();
    assert_eq!(databases.len(), 120);
    let mut retried = 0;
    for d in databases {
        retried += usize::from(d["attempts"].as_u64().unwrap_or(0) > 1);
        if let Some(error) = d["error"].as_str() {
            assert!(
                error.contains("out of file descriptors: lower --concurrency"),
                "{error}"
            );
        }
    }
    assert!(
        retried > 0,
        "the limit was never met: the test proves nothing"
    );
    // Whatever could not open now opens with fewer at once.
    let (code, out, err) = run(&dir, &["migrate", "--local", "--concurrency", "4"], None);
    assert_eq!(code, 0, "{out}{err}");
    for (_, id) in &ids {
        assert_eq!(applied(&local(&dir, id)).len(), 3);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An applied migration checked out with CRLF line endings (git's autocrlf) is not an edit; a
/// migration added with a number below the last applied one is applied with a warning.
#[test]
fn line_endings_are_no_edit_and_out_of_order_migrations_are_named() {
    let (dir, ids) = configured("order", 1);
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    let init = dir.join("migrations/0001_init.sql");
    std::fs::write(&init, INIT.replace('\n', "\r\n")).unwrap();
    let (code, status) = json(&dir, &["status", "--local"], None);
    assert_eq!(code, 0, "CRLF alone is no edit: {status}");
    assert_eq!(status["totals"]["edited"], 0, "{status}");

    std::fs::write(
        dir.join("migrations/0000_early.sql"),
        "CREATE TABLE early (x);\n",
    )
    .unwrap();
    let (_, text, _) = run(&dir, &["status", "--local"], None);
    assert!(
        text.contains("out of order: `0000_early.sql` (applies after newer ones)"),
        "{text}"
    );
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("`0000_early.sql` applied after migrations that sort later were applied"),
        "{out}"
    );
    assert!(applied(&local(&dir, &ids[0].1)).contains(&"0000_early.sql".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}
