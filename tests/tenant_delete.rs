//! `d1kit::tenant::delete` on the local backend: every row of one tenant leaves (its tables,
//! children first, and the rows of tables without the tenant column that reference them),
//! no other tenant's rows change, and a delete stopped midway finishes when run again.

#[allow(dead_code)] // each test uses one of its two stops
#[path = "common/stop.rs"]
mod stop;

use d1kit::local::{block_on, Database};
use d1kit::reshard::{layout, Tenant};
use d1kit::{tenant, Value};
use stop::StopsAt;

const SCHEMA: &str = "
    CREATE TABLE notes (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, body TEXT);
    CREATE TABLE comments (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,
        note_id INTEGER NOT NULL REFERENCES notes(id), body TEXT);
    CREATE TABLE settings (tenant TEXT NOT NULL, key TEXT NOT NULL, value,
        PRIMARY KEY (tenant, key)) WITHOUT ROWID;
    -- No tenant column: its rows belong to a tenant through the note they reference.
    CREATE TABLE attachments (id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL REFERENCES notes(id),
        data BLOB);
";

fn exec(db: &Database, sql: &str) {
    db.connection().execute_batch(sql).unwrap();
}

/// `notes` notes for `tenant`, each with a comment and an attachment, and 3 settings.
fn add_tenant(db: &Database, tenant: &str, notes: u32) {
    exec(
        db,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {notes})
             INSERT INTO notes (tenant, body) SELECT '{tenant}', 'note ' || i FROM n;
             INSERT INTO comments (tenant, note_id, body)
                 SELECT tenant, id, 'on ' || body FROM notes WHERE tenant = '{tenant}';
             INSERT INTO attachments (note_id, data)
                 SELECT id, randomblob(8) FROM notes WHERE tenant = '{tenant}';
             INSERT INTO settings VALUES ('{tenant}', 'a', 1), ('{tenant}', 'b', 'two'), ('{tenant}', 'c', NULL);"
        ),
    );
}

/// The test's own count of `tenant`'s rows in each table (attachments through their note).
fn counts(db: &Database, tenant: &str) -> [i64; 4] {
    let c = db.connection();
    let one = |sql: &str| -> i64 { c.query_row(sql, [tenant], |r| r.get(0)).unwrap() };
    [
        one("SELECT count(*) FROM notes WHERE tenant = ?1"),
        one("SELECT count(*) FROM comments WHERE tenant = ?1"),
        one("SELECT count(*) FROM settings WHERE tenant = ?1"),
        one("SELECT count(*) FROM attachments WHERE note_id IN (SELECT id FROM notes WHERE tenant = ?1)"),
    ]
}

/// A checksum of every row of every other tenant (and of attachments not the tenant's).
fn others(db: &Database, tenant: &str) -> String {
    let c = db.connection();
    let mut out = String::new();
    for sql in [
        "SELECT id || tenant || body FROM notes WHERE tenant <> ?1 ORDER BY id",
        "SELECT id || tenant || note_id || body FROM comments WHERE tenant <> ?1 ORDER BY id",
        "SELECT tenant || key || quote(value) FROM settings WHERE tenant <> ?1 ORDER BY tenant, key",
        "SELECT id || note_id || hex(data) FROM attachments WHERE note_id NOT IN (SELECT id FROM notes WHERE tenant = ?1) ORDER BY id",
    ] {
        let mut st = c.prepare(sql).unwrap();
        let rows = st.query_map([tenant], |r| r.get::<_, String>(0)).unwrap();
        for r in rows {
            out.push_str(&r.unwrap());
            out.push('\n');
        }
    }
    format!("{:x}", md5_like(&out))
}

/// A stable 64-bit FNV-1a hash (enough to tell row sets apart in a test).
fn md5_like(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

fn tenant(key: &str) -> Tenant {
    Tenant {
        key: key.to_owned(),
        value: Value::Text(key.to_owned()),
    }
}

fn fresh() -> Database {
    let db = Database::open_in_memory().unwrap();
    exec(&db, SCHEMA);
    db
}

#[test]
fn a_tenant_is_deleted_whole_in_one_batch_and_nothing_else_changes() {
    let db = fresh();
    for t in ["alice", "bob", "carol"] {
        add_tenant(&db, t, 40);
    }
    let before = others(&db, "bob");
    let layout = block_on(layout(&db, "tenant")).unwrap();
    let found = block_on(tenant::rows(&db, &layout, &tenant("bob"))).unwrap();
    let shown: Vec<(&str, u64)> = found.iter().map(|t| (t.table.as_str(), t.rows)).collect();
    // Children first: the attachments (no tenant column) before the notes they reference.
    assert_eq!(
        shown,
        [
            ("attachments", 40),
            ("settings", 3),
            ("comments", 40),
            ("notes", 40)
        ]
    );
    let deleted = block_on(tenant::delete(&db, &layout, &tenant("bob"))).unwrap();
    assert_eq!(deleted, found);
    assert_eq!(counts(&db, "bob"), [0; 4]);
    assert_eq!(others(&db, "bob"), before, "no other tenant's rows changed");
    assert_eq!(counts(&db, "alice"), [40, 40, 3, 40]);
    // Again: nothing to delete, no error.
    assert!(block_on(tenant::delete(&db, &layout, &tenant("bob")))
        .unwrap()
        .is_empty());
    let (fk,): (i64,) =
        (db.connection()
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                Ok((r.get(0)?,))
            }))
        .unwrap();
    assert_eq!(fk, 0, "no dangling reference left");
}

#[test]
fn a_large_tenant_is_fenced_deleted_in_chunks_and_a_stopped_delete_finishes_when_run_again() {
    let db = fresh();
    add_tenant(&db, "small", 30);
    // 3 × 17,000 + 3 rows: over the one-batch limit.
    add_tenant(&db, "big", 17_000);
    add_tenant(&db, "other", 30);
    assert!(counts(&db, "big").iter().sum::<i64>() as u64 > tenant::ONE_BATCH_ROWS);
    let before = others(&db, "big");
    let layout = block_on(layout(&db, "tenant")).unwrap();

    // Stopped after the fence and two chunks.
    let stopping = StopsAt::after(&db, 3);
    let err = block_on(tenant::delete(&stopping, &layout, &tenant("big"))).unwrap_err();
    assert!(err.to_string().contains("stopped here"), "{err}");
    let left = counts(&db, "big");
    assert!(
        left.iter().sum::<i64>() > 0 && left[0] < 17_000,
        "partly deleted: {left:?}"
    );
    // Meanwhile the tenant is refused (retryable), and the others are served.
    let refused = db
        .connection()
        .execute(
            "INSERT INTO notes (tenant, body) VALUES ('big', 'late')",
            [],
        )
        .unwrap_err()
        .to_string();
    assert!(refused.contains("d1kit"), "{refused}");
    exec(&db, "INSERT INTO notes (tenant, body) VALUES ('other', 'still served'); DELETE FROM notes WHERE body = 'still served';");
    assert_eq!(others(&db, "big"), before);

    let deleted = block_on(tenant::delete(&db, &layout, &tenant("big"))).unwrap();
    assert_eq!(
        deleted.iter().map(|t| t.rows as i64).sum::<i64>(),
        left.iter().sum::<i64>()
    );
    assert_eq!(counts(&db, "big"), [0; 4]);
    assert_eq!(others(&db, "big"), before, "no other tenant's rows changed");
    // The fence and its triggers are gone: the key can be used again.
    exec(
        &db,
        "INSERT INTO notes (tenant, body) VALUES ('big', 'a new account');",
    );
    let (triggers,): (i64,) = db
        .connection()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'd1kit_fence%'",
            [],
            |r| Ok((r.get(0)?,)),
        )
        .unwrap();
    assert_eq!(triggers, 0);
}
