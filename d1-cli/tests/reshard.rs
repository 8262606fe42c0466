//! `d1kit reshard --local` on a throwaway crate, along the path a user follows: a pool of 2
//! shards holding 300 tenants grows to 3 (config, migrate, reshard), then shrinks back to 2,
//! where `d1kit config` keeps the retired shard's block until reshard has drained it. Once with
//! the ids `d1kit provision --remote` would have written, once with d1kit's placeholders (a
//! local-only crate, whose retired shard is kept for its local data).

mod common;

use common::{blocks, run};
use d1_runtime::local::{wrangler_state_file, Database};
use d1_runtime::route::shard_for;
use serde_json::Value;
use std::path::{Path, PathBuf};

const TENANTS: usize = 300;

const INIT: &str =
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL, title TEXT NOT NULL);
CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT NOT NULL);
";

fn manifest(shards: u32) -> String {
    format!(
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = {shards}\ntenant_column = \"user_id\"\ndatabase_name = \"users-{{n}}\"\n"
    )
}

fn krate(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("d1kit-cli-reshard-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest(2)).unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    std::fs::write(dir.join("migrations/0001_init.sql"), INIT).unwrap();
    dir
}

/// The id `d1kit provision --remote` would have written for shard `n`.
fn real_id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// `d1kit config` (then, with `provisioned`, every placeholder id replaced by a real one, as
/// provisioning does), then `d1kit migrate --local`.
fn configure(dir: &Path, provisioned: bool) {
    let (code, out, err) = run(dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    let path = dir.join("wrangler.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for b in blocks(&path) {
        let (Some(binding), Some(id)) = (b.binding, b.database_id) else {
            continue;
        };
        let Some(n) = binding
            .strip_prefix("USERS_")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue; // the directory
        };
        if provisioned {
            text = text.replace(&id, &real_id(n));
        }
    }
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = run(dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
}

/// Shard `n`'s local file, by the id its block holds (remembered in the crate's `ids` file
/// once seen, so that a released shard can still be read).
fn shard_db(dir: &Path, n: usize) -> Database {
    let ids = dir.join("ids");
    let mut known: Vec<String> = std::fs::read_to_string(&ids)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    for b in blocks(&dir.join("wrangler.toml")) {
        let (Some(binding), Some(id)) = (b.binding, b.database_id) else {
            continue;
        };
        let line = format!("{binding} {id}");
        if !known.contains(&line) {
            known.push(line);
        }
    }
    std::fs::write(&ids, known.join("\n")).unwrap();
    let prefix = format!("USERS_{n} ");
    let id = known
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no id for shard {n}"))
        .to_string();
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
    for i in 0..TENANTS {
        let user = tenant(i);
        let db = shard_db(dir, shard_for(user.as_bytes(), 2) as usize);
        for k in 0..(1 + i % 3) {
            db.connection()
                .execute(
                    "INSERT INTO notes (id, user_id, title) VALUES (?1, ?2, ?3)",
                    rusqlite::params![(i * 10 + k) as i64, user, format!("{user} #{k}")],
                )
                .unwrap();
        }
    }
}

/// Per tenant, the shards holding its notes and how many it has there.
fn placement(dir: &Path, shards: usize) -> Vec<(String, usize, i64)> {
    let mut out = Vec::new();
    for n in 0..shards {
        let db = shard_db(dir, n);
        let mut st = db
            .connection()
            .prepare("SELECT user_id, count(*) FROM notes GROUP BY user_id ORDER BY user_id")
            .unwrap();
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .unwrap();
        for row in rows {
            let (user, count) = row.unwrap();
            out.push((user, n, count));
        }
    }
    out.sort();
    out
}

fn assert_routed(dir: &Path, files: usize, shards: u32) {
    let placed = placement(dir, files);
    assert_eq!(placed.len(), TENANTS, "a tenant is missing or split");
    for (user, n, count) in placed {
        assert_eq!(n as u32, shard_for(user.as_bytes(), shards), "{user}");
        let i: usize = user[1..].parse().unwrap();
        assert_eq!(count as usize, 1 + i % 3, "{user}'s notes");
    }
}

fn settings(dir: &Path, n: usize) -> Vec<String> {
    let db = shard_db(dir, n);
    let mut st = db.connection().prepare("SELECT v FROM settings").unwrap();
    st.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// `d1kit <args> --format json` in `dir`, without the fake.
fn json(dir: &Path, args: &[&str]) -> (i32, Value) {
    common::json(dir, args, None)
}

fn bindings(dir: &Path) -> Vec<String> {
    blocks(&dir.join("wrangler.toml"))
        .into_iter()
        .filter_map(|b| b.binding)
        .collect()
}

#[test]
fn a_provisioned_pool_grows_and_shrinks_along_the_users_path() {
    grow_and_shrink("provisioned", true);
}

#[test]
fn a_local_pool_grows_and_shrinks_along_the_users_path() {
    grow_and_shrink("local", false);
}

fn grow_and_shrink(name: &str, provisioned: bool) {
    let dir = krate(name);
    configure(&dir, provisioned);
    populate(&dir);
    assert_routed(&dir, 2, 2);

    // Grow to 3 shards: cargo build (d1kit config) writes the new block, provision, migrate.
    std::fs::write(dir.join("Cargo.toml"), manifest(3)).unwrap();
    configure(&dir, provisioned);

    // The plan changes nothing.
    let (code, plan) = json(&dir, &["reshard", "--local", "--dry-run"]);
    assert_eq!(code, 0, "{plan}");
    let planned = plan["moves"].as_array().unwrap().len();
    assert!(
        planned > TENANTS / 5 && planned < TENANTS / 2,
        "{planned} moves for 2 → 3"
    );
    assert_eq!(placement(&dir, 3).len(), TENANTS);
    assert_routed(&dir, 2, 2);

    // `d1kit status` counts, per shard, the tenants that belong elsewhere.
    let (code, status) = json(&dir, &["status", "--local"]);
    assert_eq!(code, 1, "misplaced tenants need attention: {status}");
    assert_eq!(status["totals"]["misplaced_tenants"], planned);
    let (_, text, _) = run(&dir, &["status", "--local"], None);
    assert!(
        text.contains("belong on other shards (run `d1kit reshard`)"),
        "{text}"
    );

    // Without a terminal to confirm on, --yes is required.
    let (code, _, err) = run(&dir, &["reshard", "--local"], None);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--yes"), "{err}");

    let (code, report) = json(&dir, &["reshard", "--local", "--yes"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["tenants_moved"], planned);
    assert_eq!(report["refused"].as_array().unwrap().len(), 0);
    assert_routed(&dir, 3, 3);
    assert_eq!(settings(&dir, 0), ["shard 0"]);
    assert_eq!(settings(&dir, 1), ["shard 1"]);
    assert!(
        settings(&dir, 2).is_empty(),
        "a global table's rows never move"
    );

    // A second run moves nothing, and status finds every tenant at home.
    let (code, again) = json(&dir, &["reshard", "--local", "--yes"]);
    assert_eq!(code, 0);
    assert_eq!(again["tenants_moved"], 0);
    let (code, status) = json(&dir, &["status", "--local"]);
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["totals"]["misplaced_tenants"], 0);

    // Shrink back to 2: the retired shard's block stays until reshard drains it.
    std::fs::write(dir.join("Cargo.toml"), manifest(2)).unwrap();
    let (code, out, err) = run(&dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("kept the [[d1_databases]] block `USERS_2`"),
        "{err}"
    );
    assert_eq!(bindings(&dir), ["USERS_0", "USERS_1", "USERS_2"]);

    let (code, out, err) = run(&dir, &["reshard", "--local", "--yes"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("offline"), "{err}");
    assert!(
        out.contains("tenants in") && out.contains("retired"),
        "{out}"
    );
    assert!(out.contains("released USERS_2"), "{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("tenants moved,") && last.contains("rows in") && last.contains("rows/s"),
        "{last}"
    );
    assert_eq!(bindings(&dir), ["USERS_0", "USERS_1"]);
    assert_routed(&dir, 3, 2);
    assert_eq!(settings(&dir, 2), Vec::<String>::new());

    // Without a directory, one tenant cannot be moved off its hash's shard.
    let (code, _, err) = run(
        &dir,
        &[
            "tenant",
            "move",
            "u1",
            "--local",
            "--to-shard",
            "0",
            "--yes",
        ],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no directory"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pool_without_a_tenant_column_is_refused() {
    let dir = krate("no-column");
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\nshards = 2\n",
    )
    .unwrap();
    let (code, out, err) = run(&dir, &["reshard", "--local", "--dry-run"], None);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("has no `tenant_column`"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The manifest of a pool of `shards` with a directory, `users_directory` (binding `DIR`).
fn manifest_with_directory(shards: u32) -> String {
    format!(
        "{}directory = \"users_directory\"\n\n[package.metadata.d1kit.databases.users_directory]\nbinding = \"DIR\"\nmigrations = \"migrations_dir\"\n",
        manifest(shards)
    )
}

/// The directory's local file.
fn directory_db(dir: &Path) -> Database {
    let id = blocks(&dir.join("wrangler.toml"))
        .into_iter()
        .find(|b| b.binding.as_deref() == Some("DIR"))
        .and_then(|b| b.database_id)
        .expect("a block for DIR");
    Database::open(wrangler_state_file(dir.join(".wrangler/state"), &id)).unwrap()
}

#[test]
fn a_pool_with_a_directory_reshards_online() {
    let dir = krate("online");
    std::fs::create_dir_all(dir.join("migrations_dir")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest_with_directory(2)).unwrap();
    configure(&dir, false);
    populate(&dir);
    let routing = |dir: &Path| {
        let s =
            d1_runtime::block_on(d1_runtime::route::router::snapshot(&directory_db(dir))).unwrap();
        (s.shards, s.next, s.pinned)
    };
    assert_eq!(routing(&dir), (2, None, false), "migrate records the size");

    // Grown to 3: migrate keeps routing over 2 (the tenants are there) and says what to run.
    std::fs::write(dir.join("Cargo.toml"), manifest_with_directory(3)).unwrap();
    let (code, out, err) = run(&dir, &["config"], None);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&dir, &["migrate", "--local"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("still routed over 2: run `d1kit reshard --database users`"),
        "{err}"
    );
    assert_eq!(routing(&dir).0, 2);

    let (code, out, err) = run(
        &dir,
        &[
            "reshard",
            "--local",
            "--yes",
            "--database",
            "users",
            "--settle",
            "20",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(err.contains("online through the directory DIR"), "{err}");
    assert!(!err.contains("offline"), "{err}");
    assert_routed(&dir, 3, 3);
    assert_eq!(
        routing(&dir),
        (3, None, false),
        "routing flipped, no pin left"
    );
    // No fence is left behind on any shard.
    for n in 0..3 {
        let fences: i64 = shard_db(&dir, n)
            .connection()
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name LIKE 'd1kit_fence%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(fences, 0, "shard {n}");
    }
    // A second run moves nothing.
    let (code, again) = json(
        &dir,
        &[
            "reshard",
            "--local",
            "--yes",
            "--database",
            "users",
            "--settle",
            "20",
        ],
    );
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["tenants_moved"], 0);

    // One tenant, located, then moved to another shard and pinned there.
    let locate = |who: &str| {
        json(
            &dir,
            &["tenant", "locate", who, "--local", "--database", "users"],
        )
    };
    let home = shard_for(b"u5", 3);
    let (code, at) = locate("u5");
    assert_eq!(code, 0, "{at}");
    assert_eq!(
        (at["shard"].as_u64(), at["pinned"].as_bool()),
        (Some(home.into()), Some(false))
    );
    assert_eq!(at["rows"][0]["shard"], home);
    let to = (home + 1) % 3;
    let to_arg = to.to_string();
    let moving = [
        "tenant",
        "move",
        "u5",
        "--local",
        "--database",
        "users",
        "--to-shard",
        &to_arg,
    ];
    let (code, _, err) = run(&dir, &moving, None);
    assert_eq!(code, 2, "no terminal to confirm on: {err}");
    let mut yes = moving.to_vec();
    yes.extend(["--yes", "--settle", "20"]);
    let (code, out, err) = run(&dir, &yes, None);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("moved `u5`: USERS_{home} -> USERS_{to}, 3 rows")),
        "{out}"
    );
    let (_, at) = locate("u5");
    assert_eq!(
        (at["shard"].as_u64(), at["pinned"].as_bool()),
        (Some(to.into()), Some(true))
    );
    assert_eq!(at["rows"].as_array().unwrap().len(), 1);
    assert_eq!(at["rows"][0]["shard"], to);
    let placed = placement(&dir, 3);
    assert_eq!(placed.len(), TENANTS, "a tenant is missing or split");
    for (user, n, _) in placed {
        let expected = if user == "u5" {
            to
        } else {
            shard_for(user.as_bytes(), 3)
        };
        assert_eq!(n as u32, expected, "{user}");
    }

    // A key the target holds refuses the move: the tenant stays whole, pinned where it is.
    let home = shard_for(b"u7", 3);
    let to = (home + 1) % 3;
    shard_db(&dir, to as usize)
        .connection()
        .execute(
            "INSERT INTO notes (id, user_id, title) VALUES (70, 'intruder', 'x')",
            [],
        )
        .unwrap();
    let to_arg = to.to_string();
    let (code, out, err) = run(
        &dir,
        &[
            "tenant",
            "move",
            "u7",
            "--local",
            "--database",
            "users",
            "--to-shard",
            &to_arg,
            "--yes",
            "--settle",
            "20",
        ],
        None,
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("not moved, it stays whole") && out.contains("(id) = 70"),
        "{out}"
    );
    let (_, at) = locate("u7");
    assert_eq!(
        (at["shard"].as_u64(), at["pinned"].as_bool()),
        (Some(home.into()), Some(true))
    );
    assert_eq!(at["rows"][0]["rows"], 2, "both notes of u7 are still there");

    // With --renumber it moves: note 70 gets the first id free on both shards.
    let (code, out, err) = run(
        &dir,
        &[
            "tenant",
            "move",
            "u7",
            "--local",
            "--database",
            "users",
            "--to-shard",
            &to_arg,
            "--yes",
            "--settle",
            "20",
            "--renumber",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("renumbered notes.id: 70 -> "), "{out}");
    let (_, at) = locate("u7");
    assert_eq!(
        (at["shard"].as_u64(), at["pinned"].as_bool()),
        (Some(to.into()), Some(true))
    );
    assert_eq!(at["rows"][0]["rows"], 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `d1kit tenant delete` on a pool with a directory: a dry run counts and deletes nothing,
/// no terminal and no --yes refuses, then every row of the tenant goes (and its pin), no other
/// tenant's rows change, and a second run finds nothing to delete.
#[test]
fn a_tenant_is_deleted_from_the_pool_with_its_pin() {
    let dir = krate("delete");
    std::fs::create_dir_all(dir.join("migrations_dir")).unwrap();
    std::fs::write(dir.join("Cargo.toml"), manifest_with_directory(2)).unwrap();
    configure(&dir, false);
    populate(&dir);
    // u5 (3 notes) pinned on the shard its hash does not name.
    let victim = tenant(5);
    let other = 1 - shard_for(victim.as_bytes(), 2);
    let (code, out, err) = run(
        &dir,
        &[
            "tenant",
            "move",
            &victim,
            "--to-shard",
            &other.to_string(),
            "--local",
            "--yes",
            "--settle",
            "0",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    let before = placement(&dir, 2);
    let rest: Vec<_> = before
        .iter()
        .filter(|(u, _, _)| *u != victim)
        .cloned()
        .collect();
    assert!(before.contains(&(victim.clone(), other as usize, 3)));

    let (code, plan) = json(&dir, &["tenant", "delete", &victim, "--local", "--dry-run"]);
    assert_eq!(code, 0, "{plan}");
    assert_eq!(plan["rows"], 3, "{plan}");
    assert_eq!(plan["shards"][0]["tables"][0]["table"], "notes", "{plan}");
    assert_eq!(placement(&dir, 2), before, "a dry run deletes nothing");

    let (code, out, err) = run(&dir, &["tenant", "delete", &victim, "--local"], None);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("stdin is not a terminal"), "{err}");
    assert_eq!(placement(&dir, 2), before);

    let (code, done) = json(&dir, &["tenant", "delete", &victim, "--local", "--yes"]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["rows"], 3, "{done}");
    assert_eq!(placement(&dir, 2), rest, "only the tenant's rows went");
    let (pins,): (i64,) = directory_db(&dir)
        .connection()
        .query_row(
            "SELECT count(*) FROM d1kit_directory WHERE tenant = ?1",
            [&victim],
            |r| Ok((r.get(0)?,)),
        )
        .unwrap();
    assert_eq!(pins, 0, "its pin went too");

    let (code, out, err) = run(
        &dir,
        &["tenant", "delete", &victim, "--local", "--yes"],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("no rows, nothing to delete"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
