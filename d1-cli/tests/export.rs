//! `d1kit export --all -o DIR --remote` against the D1 REST fake (`tests/d1-fake`, whose
//! export API dumps each database's SQLite and serves the dump at a signed URL): 200 tenant
//! databases recorded in a directory, under a rate limit that answers 429s, all exported; the
//! manifest's checksums verify (by `d1kit export verify` and by the test), each dump rebuilds
//! its database's rows, and a rerun after a lost and a damaged file exports just those two.

mod common;

use common::{json, run};
use d1_fake::{FakeD1, Options, RateLimit};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::time::Duration;

const TENANTS: usize = 200;
const INIT: &str =
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, data BLOB, score REAL);\n";

/// Every note of a database, as text.
fn notes(conn: &rusqlite::Connection) -> String {
    let mut st = conn
        .prepare("SELECT quote(id) || '|' || quote(body) || '|' || quote(data) || '|' || quote(score) FROM notes ORDER BY id")
        .unwrap();
    let rows: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows.join("\n")
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn two_hundred_tenant_databases_are_backed_up_through_429s_and_the_manifest_verifies() {
    let fake = FakeD1::start(Options {
        rate_limit: Some(RateLimit {
            requests: 60,
            per: Duration::from_secs(1),
        }),
        ..Options::default()
    });
    let dir = std::env::temp_dir().join(format!("d1kit-cli-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        "[package]\nname = \"app\"\n\n[package.metadata.d1kit.databases.users]\n",
    )
    .unwrap();
    std::fs::write(dir.join("wrangler.toml"), "name = \"app\"\n").unwrap();
    std::fs::write(dir.join("migrations/0001_init.sql"), INIT).unwrap();

    // A directory of 200 tenants, each with its own database and awkward rows.
    let directory = fake.add_database("directory");
    let mut tenants = Vec::new();
    for t in 0..TENANTS {
        let tenant = if t == 7 {
            "o'brien/7".to_owned()
        } else {
            format!("t{t:03}")
        };
        let uuid = fake.add_database(&format!("users-db-{t}"));
        fake.with_connection(&uuid, |c| {
            c.execute_batch(INIT).unwrap();
            let blob: Vec<u8> = (0..=255u8).collect();
            for i in 0..3i64 {
                c.execute(
                    "INSERT INTO notes VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![
                        if i == 2 { 9_007_199_254_740_991 } else { i },
                        format!("tenant {t} 'note' {i}\nsecond line\0nul"),
                        if i == 1 { None } else { Some(blob.clone()) },
                        0.1 + i as f64,
                    ],
                )
                .unwrap();
            }
        })
        .unwrap();
        fake.with_connection(&directory, |c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS d1kit_tenant_databases (tenant TEXT PRIMARY KEY, database_id TEXT NOT NULL, created_at TEXT)",
            )
            .unwrap();
            c.execute(
                "INSERT INTO d1kit_tenant_databases (tenant, database_id) VALUES (?1, ?2)",
                [&tenant, &uuid],
            )
            .unwrap();
        })
        .unwrap();
        tenants.push((tenant, uuid));
    }

    let out = dir.join("backup");
    let args = [
        "export",
        "--remote",
        "--tenants-in",
        &directory,
        "-o",
        out.to_str().unwrap(),
        "--concurrency",
        "16",
    ];
    let (code, report) = json(&dir, &args, Some(&fake));
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["exported"], TENANTS, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let stats = fake.stats();
    assert!(
        stats.responses_429 > 0,
        "the rate limit answered 429s: {stats:?}"
    );
    assert!(
        stats.export >= 2 * TENANTS as u64,
        "started and polled: {stats:?}"
    );

    // The manifest: one entry per tenant, each file's checksum the test's own.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["databases"].as_array().unwrap();
    assert_eq!(entries.len(), TENANTS);
    for (tenant, uuid) in &tenants {
        let entry = entries
            .iter()
            .find(|e| e["id"] == uuid.as_str())
            .unwrap_or_else(|| panic!("{tenant} is not in the manifest"));
        assert_eq!(entry["label"], tenant.as_str());
        let file = out.join(entry["file"].as_str().unwrap());
        assert_eq!(entry["sha256"], sha256(&file), "{tenant}");
        assert!(!entry["bookmark"].as_str().unwrap().is_empty());
    }
    // Each dump rebuilds its database's rows exactly.
    for (tenant, uuid) in tenants.iter().step_by(23).chain([&tenants[7]]) {
        let entry = entries.iter().find(|e| e["id"] == uuid.as_str()).unwrap();
        let sql = std::fs::read_to_string(out.join(entry["file"].as_str().unwrap())).unwrap();
        let copy = rusqlite::Connection::open_in_memory().unwrap();
        copy.execute_batch(&sql)
            .unwrap_or_else(|e| panic!("{tenant}: {e}"));
        let original = fake.with_connection(uuid, notes).unwrap();
        assert_eq!(notes(&copy), original, "{tenant}");
        assert!(original.contains("9007199254740991"), "{original}");
    }
    let (code, stdout, stderr) = run(&dir, &["export", "verify", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("200 of 200 files match the manifest"),
        "{stdout}"
    );

    // A lost file and a damaged one: verify says so, and a rerun exports just those.
    let lost = out.join(entries[3]["file"].as_str().unwrap());
    let damaged = out.join(entries[150]["file"].as_str().unwrap());
    std::fs::remove_file(&lost).unwrap();
    std::fs::write(&damaged, "DROP TABLE notes;").unwrap();
    let (code, stdout, _) = run(&dir, &["export", "verify", out.to_str().unwrap()], None);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("198 of 200 files match"), "{stdout}");
    fake.reset_stats();
    let (code, report) = json(&dir, &args, Some(&fake));
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (report["exported"].as_u64(), report["kept"].as_u64()),
        (Some(2), Some(198)),
        "{report}"
    );
    let (code, stdout, _) = run(&dir, &["export", "verify", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
