//! `d1kit::tenant::{export, import}` on the local backend: a tenant exported, deleted and
//! imported again has exactly the rows it had (awkward values included: NULLs, every byte
//! value, the integer and real extremes, text with quotes, newlines, NUL, non-ASCII and bytes
//! that are not UTF-8), checked table by table with the test's own queries; an import at
//! other migrations, over existing rows without `replace`, of a damaged file or of another
//! tenant's file is refused and writes nothing; a large import goes in fenced chunks, and one
//! stopped midway finishes when run again with `replace`.

#[allow(dead_code)] // each test uses one of its two stops
#[path = "common/stop.rs"]
mod stop;

use d1kit::local::{block_on, Database};
use d1kit::reshard::{self, layout, Layout, Tenant};
use d1kit::{tenant, Migration, Value};
use rusqlite::types::ValueRef;
use stop::StopsAt;

const M1: Migration = Migration {
    name: "0001_init.sql",
    sql: "",
    statements: &[
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, body TEXT, n INTEGER,
            r REAL, anything, data BLOB, parent_id INTEGER REFERENCES notes(id),
            shout TEXT GENERATED ALWAYS AS (upper(body)) VIRTUAL)",
        "CREATE TABLE comments (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL,
            note_id INTEGER NOT NULL REFERENCES notes(id), body TEXT)",
        "CREATE TABLE settings (tenant TEXT NOT NULL, key TEXT NOT NULL, value,
            PRIMARY KEY (tenant, key)) WITHOUT ROWID",
        // No tenant column: its rows are the tenant's through the note they reference.
        "CREATE TABLE attachments (id INTEGER PRIMARY KEY,
            note_id INTEGER NOT NULL REFERENCES notes(id), data BLOB)",
    ],
    checksum: "1111111111111111111111111111111111111111111111111111111111111111",
};

const M2: Migration = Migration {
    name: "0002_index.sql",
    sql: "",
    statements: &["CREATE INDEX notes_by_tenant ON notes (tenant)"],
    checksum: "2222222222222222222222222222222222222222222222222222222222222222",
};

const M3: Migration = Migration {
    name: "0003_later.sql",
    sql: "",
    statements: &["CREATE TABLE later (x)"],
    checksum: "3333333333333333333333333333333333333333333333333333333333333333",
};

/// The configured database name the files record.
const DB: &str = "app";

fn fresh(migrations: &[Migration]) -> Database {
    let db = Database::open_in_memory().unwrap();
    db.migrate(migrations).unwrap();
    db
}

fn exec(db: &Database, sql: &str) {
    db.connection().execute_batch(sql).unwrap();
}

/// A plain tenant: `notes` notes, each with a comment and an attachment, and 2 settings.
fn add_plain(db: &Database, tenant: &str, notes: u32) {
    exec(
        db,
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {notes})
             INSERT INTO notes (tenant, body, n, r) SELECT '{tenant}', 'note ' || i, i, i / 3.0 FROM n;
             INSERT INTO comments (tenant, note_id, body)
                 SELECT tenant, id, 'on ' || body FROM notes WHERE tenant = '{tenant}';
             INSERT INTO attachments (note_id, data)
                 SELECT id, randomblob(8) FROM notes WHERE tenant = '{tenant}';
             INSERT INTO settings VALUES ('{tenant}', 'a', 1), ('{tenant}', 'b', 'two');"
        ),
    );
}

/// `tenant` with every awkward value, ids from 1000.
fn add_awkward(db: &Database, tenant: &str) {
    use rusqlite::types::Value as V;
    let c = db.connection();
    let all_bytes: Vec<u8> = (0..=255).collect();
    let notes: Vec<[V; 7]> = vec![
        [
            V::Integer(1000),
            V::Null,
            V::Null,
            V::Null,
            V::Null,
            V::Null,
            V::Null,
        ],
        [
            V::Integer(1001),
            V::Text("it's \"quoted\"\nline two\r\n\ttabbed; -- not a comment".into()),
            V::Integer((1 << 53) - 1),
            V::Real(0.1),
            V::Real(-0.0),
            V::Blob(all_bytes.clone()),
            // A reference forward, to a note written after this one.
            V::Integer(1004),
        ],
        [
            V::Integer(1002),
            V::Text("NUL \0 inside".into()),
            V::Integer(-(1 << 53) + 1),
            V::Real(-0.0),
            V::Real(1e308),
            V::Blob(Vec::new()),
            V::Null,
        ],
        [
            V::Integer(1003),
            V::Text("non-ASCII: é, 日本語, 🦀, \u{2028}, \u{7f}".into()),
            V::Integer(i64::MIN),
            V::Real(1e308),
            V::Real(f64::INFINITY),
            V::Blob(vec![0; 3]),
            V::Integer(1001),
        ],
        [
            V::Integer(1004),
            V::Text("\n".repeat(100)),
            V::Integer(i64::MAX),
            V::Real(f64::NEG_INFINITY),
            V::Text("text where anything goes".into()),
            V::Blob(all_bytes.iter().rev().copied().collect()),
            V::Null,
        ],
        [
            V::Integer(1005),
            V::Text(String::new()),
            V::Integer(0),
            V::Real(5e-324),
            V::Blob(vec![0]),
            V::Null,
            V::Null,
        ],
        [
            V::Integer(1006),
            V::Null,
            V::Integer(-1),
            V::Real(f64::MIN_POSITIVE),
            V::Integer(12_345_678_901_234_567),
            V::Null,
            V::Null,
        ],
    ];
    // One transaction, its foreign keys checked at the commit: a note references a later one.
    c.execute_batch("BEGIN; PRAGMA defer_foreign_keys = ON;")
        .unwrap();
    for [id, body, n, r, anything, data, parent] in notes {
        c.execute(
            "INSERT INTO notes (id, tenant, body, n, r, anything, data, parent_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            rusqlite::params![id, tenant, body, n, r, anything, data, parent],
        )
        .unwrap();
    }
    c.execute_batch("COMMIT").unwrap();
    // Text that is not UTF-8, as SQLite can hold it.
    c.execute(
        "INSERT INTO notes (id, tenant, body) VALUES (1007, ?1, CAST(X'FFFE41' AS TEXT))",
        [tenant],
    )
    .unwrap();
    exec(
        db,
        &format!(
            "INSERT INTO comments (tenant, note_id, body) VALUES
                ('{tenant}', 1001, 'a comment, with a comma (and parentheses)'),
                ('{tenant}', 1003, ''''''),
                ('{tenant}', 1003, NULL);
             INSERT INTO settings VALUES ('{tenant}', 'int', 9007199254740991),
                ('{tenant}', 'real', 0.1), ('{tenant}', 'null', NULL), ('{tenant}', 'blob', X'00FF'),
                ('{tenant}', 'quote''s key', 'v');
             INSERT INTO attachments (note_id, data) VALUES (1001, zeroblob(100)), (1004, X'');"
        ),
    );
}

/// Per table, the test's own digest of `tenant`'s rows (every column, generated ones
/// included; each value by its type and exact bytes; attachments through their note).
fn digests(db: &Database, tenant: &str) -> Vec<(&'static str, usize, u64)> {
    let c = db.connection();
    let mut out = Vec::new();
    for (table, sql) in [
        ("notes", "SELECT * FROM notes WHERE tenant = ?1 ORDER BY id"),
        ("comments", "SELECT * FROM comments WHERE tenant = ?1 ORDER BY id"),
        ("settings", "SELECT * FROM settings WHERE tenant = ?1 ORDER BY key"),
        (
            "attachments",
            "SELECT * FROM attachments WHERE note_id IN (SELECT id FROM notes WHERE tenant = ?1) ORDER BY id",
        ),
    ] {
        let mut st = c.prepare(sql).unwrap();
        let width = st.column_count();
        let mut rows = st.query([tenant]).unwrap();
        let (mut n, mut hash) = (0, 0xcbf2_9ce4_8422_2325_u64);
        let mut feed = |bytes: &[u8]| {
            for b in bytes {
                hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
            }
        };
        while let Some(row) = rows.next().unwrap() {
            n += 1;
            for i in 0..width {
                match row.get_ref(i).unwrap() {
                    ValueRef::Null => feed(b"N"),
                    ValueRef::Integer(v) => {
                        feed(b"I");
                        feed(&v.to_le_bytes())
                    }
                    ValueRef::Real(v) => {
                        feed(b"R");
                        feed(&v.to_bits().to_le_bytes())
                    }
                    ValueRef::Text(t) => {
                        feed(b"T");
                        feed(&t.len().to_le_bytes());
                        feed(t)
                    }
                    ValueRef::Blob(b) => {
                        feed(b"B");
                        feed(&b.len().to_le_bytes());
                        feed(b)
                    }
                }
            }
        }
        out.push((table, n, hash));
    }
    out
}

fn count(db: &Database, sql: &str) -> i64 {
    db.connection().query_row(sql, [], |r| r.get(0)).unwrap()
}

fn tenant(key: &str) -> Tenant {
    Tenant {
        key: key.to_owned(),
        value: Value::Text(key.to_owned()),
    }
}

fn three_tenants() -> (Database, Layout) {
    let db = fresh(&[M1, M2]);
    add_plain(&db, "alice", 5);
    add_awkward(&db, "bob");
    add_plain(&db, "carol", 5);
    let layout = block_on(layout(&db, "tenant")).unwrap();
    (db, layout)
}

#[test]
fn a_tenant_round_trips_exactly_through_export_delete_import() {
    let (db, layout) = three_tenants();
    let bob = digests(&db, "bob");
    let (alice, carol) = (digests(&db, "alice"), digests(&db, "carol"));
    assert_eq!(
        bob.iter().map(|(t, n, _)| (*t, *n)).collect::<Vec<_>>(),
        [
            ("notes", 8),
            ("comments", 3),
            ("settings", 5),
            ("attachments", 2)
        ]
    );

    let text = block_on(tenant::export(&db, DB, &layout, &tenant("bob"))).unwrap();
    assert!(
        text.starts_with("-- d1kit tenant export, format 1\n"),
        "{text}"
    );
    for line in [
        "-- database: app\n",
        "-- tenant column: tenant\n",
        "-- tenant: text bob\n",
        "-- migration: 1111111111111111111111111111111111111111111111111111111111111111 0001_init.sql\n",
        "-- migration: 2222222222222222222222222222222222222222222222222222222222222222 0002_index.sql\n",
        "-- rows: 8 notes\n",
        "-- rows: 2 attachments\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    // One statement per line, parents first, generated columns left out.
    let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("-- ")).collect();
    assert_eq!(body.len(), 18);
    assert!(body
        .iter()
        .all(|l| l.starts_with("INSERT INTO ") && l.ends_with(");")));
    let first = |table: &str| {
        body.iter()
            .position(|l| l.starts_with(&format!("INSERT INTO \"{table}\"")))
    };
    assert!(first("notes") < first("comments") && first("comments") < first("attachments"));
    assert!(!text.contains("shout"));
    assert!(text.contains("9223372036854775807, -9e999"), "{text}");
    assert!(text.contains("CAST(X'FFFE41' AS TEXT)"), "{text}");
    assert!(text.contains(", 0.1, -0.0, "), "{text}");

    let deleted = block_on(tenant::delete(&db, &layout, &tenant("bob"))).unwrap();
    assert_eq!(deleted.iter().map(|t| t.rows).sum::<u64>(), 18);
    assert!(digests(&db, "bob").iter().all(|(_, n, _)| *n == 0));

    let report = block_on(tenant::import(
        &db,
        DB,
        &layout,
        &tenant("bob"),
        &text,
        false,
    ))
    .unwrap();
    assert_eq!(report.batches, 1);
    assert!(!report.chunked && report.deleted.is_empty());
    assert_eq!(report.inserted.iter().map(|t| t.rows).sum::<u64>(), 18);
    assert_eq!(digests(&db, "bob"), bob, "every row exactly as it was");
    assert_eq!(
        (digests(&db, "alice"), digests(&db, "carol")),
        (alice, carol)
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
    // Exported again: the same file, byte for byte.
    let again = block_on(tenant::export(&db, DB, &layout, &tenant("bob"))).unwrap();
    assert_eq!(again, text);

    // Into another database at the same migrations (another shard, another environment).
    let other = fresh(&[M1, M2]);
    let other_layout = block_on(reshard::layout(&other, "tenant")).unwrap();
    block_on(tenant::import(
        &other,
        DB,
        &other_layout,
        &tenant("bob"),
        &text,
        false,
    ))
    .unwrap();
    assert_eq!(digests(&other, "bob"), bob);
}

#[test]
fn an_integer_tenant_round_trips_and_is_not_taken_for_text() {
    let db = Database::open_in_memory().unwrap();
    db.migrate(&[Migration {
        name: "0001_items.sql",
        sql: "",
        statements: &[
            "CREATE TABLE items (id INTEGER PRIMARY KEY, org INTEGER NOT NULL, name TEXT)",
        ],
        checksum: "abc",
    }])
    .unwrap();
    exec(
        &db,
        "INSERT INTO items (org, name) VALUES (42, 'a'), (42, 'b'), (7, 'c'), ('42', 'text 42 is 42 here');",
    );
    let layout = block_on(layout(&db, "org")).unwrap();
    let org = Tenant {
        key: "42".into(),
        value: Value::Integer(42),
    };
    let text = block_on(tenant::export(&db, DB, &layout, &org)).unwrap();
    assert!(text.contains("-- tenant: integer 42\n"), "{text}");
    assert!(text.contains("-- rows: 3 items\n"), "{text}");
    block_on(tenant::delete(&db, &layout, &org)).unwrap();
    let err = block_on(tenant::import(
        &db,
        DB,
        &layout,
        &tenant("42"),
        &text,
        false,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("as integer, not as text"), "{err}");
    block_on(tenant::import(&db, DB, &layout, &org, &text, false)).unwrap();
    assert_eq!(count(&db, "SELECT count(*) FROM items WHERE org = 42"), 3);
}

#[test]
fn an_import_at_other_migrations_is_refused_naming_the_migration() {
    let (db, layout) = three_tenants();
    let text = block_on(tenant::export(&db, DB, &layout, &tenant("bob"))).unwrap();
    let cases: [(&[Migration], &str); 3] = [
        (&[M1], "has not applied `0002_index.sql`"),
        (
            &[M1, M2, M3],
            "has applied `0003_later.sql`, which the file's database had not",
        ),
        (
            &[
                M1,
                Migration {
                    checksum: "edited",
                    ..M2
                },
            ],
            "migration `0002_index.sql` differs",
        ),
    ];
    for (migrations, why) in cases {
        let other = fresh(migrations);
        let other_layout = block_on(reshard::layout(&other, "tenant")).unwrap();
        let err = block_on(tenant::import(
            &other,
            DB,
            &other_layout,
            &tenant("bob"),
            &text,
            false,
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("migrations are not the file's") && err.contains(why),
            "{err}"
        );
        assert_eq!(
            count(&other, "SELECT count(*) FROM notes"),
            0,
            "nothing written"
        );
    }
}

#[test]
fn an_import_over_existing_rows_is_refused_without_replace_and_replaces_them_with_it() {
    let (db, layout) = three_tenants();
    let bob = digests(&db, "bob");
    let text = block_on(tenant::export(&db, DB, &layout, &tenant("bob"))).unwrap();
    // Bob changes after the export.
    exec(
        &db,
        "UPDATE notes SET body = 'edited' WHERE id = 1001;
         INSERT INTO notes (id, tenant, body) VALUES (2000, 'bob', 'written after the export');
         INSERT INTO attachments (note_id, data) VALUES (2000, X'01');",
    );
    let changed = digests(&db, "bob");
    assert_ne!(changed, bob);
    let err = block_on(tenant::import(
        &db,
        DB,
        &layout,
        &tenant("bob"),
        &text,
        false,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("already has rows")
            && err.contains("9 in `notes`")
            && err.contains("--replace"),
        "{err}"
    );
    assert_eq!(digests(&db, "bob"), changed, "nothing written");

    let plan = block_on(tenant::plan_import(
        &db,
        DB,
        &layout,
        &tenant("bob"),
        &text,
        true,
    ))
    .unwrap();
    assert!(plan.one_batch && !plan.fenced);
    assert_eq!(plan.file.rows(), 18);
    let report = block_on(tenant::import(
        &db,
        DB,
        &layout,
        &tenant("bob"),
        &text,
        true,
    ))
    .unwrap();
    assert_eq!(report.batches, 1, "deletes and inserts in one transaction");
    assert_eq!(report.deleted.iter().map(|t| t.rows).sum::<u64>(), 20);
    assert_eq!(digests(&db, "bob"), bob, "the file's rows, and only those");
    assert_eq!(
        count(&db, "SELECT count(*) FROM pragma_foreign_key_check"),
        0
    );
}

#[test]
fn a_damaged_or_foreign_file_is_refused_and_writes_nothing() {
    let (db, layout) = three_tenants();
    let text = block_on(tenant::export(&db, DB, &layout, &tenant("bob"))).unwrap();
    block_on(tenant::delete(&db, &layout, &tenant("bob"))).unwrap();
    let at = text.find("tabbed").unwrap();
    let damaged = format!("{}T{}", &text[..at], &text[at + 1..]);
    let refused = |file: &str, t: &Tenant, database: &str| {
        block_on(tenant::import(&db, database, &layout, t, file, false))
            .unwrap_err()
            .to_string()
    };
    let err = refused(&damaged, &tenant("bob"), DB);
    assert!(err.contains("checksum does not match"), "{err}");
    let err = refused(&text[..text.len() - 10], &tenant("bob"), DB);
    assert!(err.contains("checksum does not match"), "{err}");
    let err = refused(&text, &tenant("alice"), DB);
    assert!(err.contains("holds tenant `bob`, not `alice`"), "{err}");
    let err = refused(&text, &tenant("bob"), "other");
    assert!(
        err.contains("exported from database `app`, not `other`"),
        "{err}"
    );
    assert!(digests(&db, "bob").iter().all(|(_, n, _)| *n == 0));
}

#[test]
fn a_tenant_larger_than_a_page_is_read_page_by_page() {
    let db = fresh(&[M1, M2]);
    add_plain(&db, "alice", 3);
    add_plain(&db, "erin", 1234);
    // A WITHOUT ROWID table paged by its two-column key, text keys included.
    exec(
        &db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100)
         INSERT INTO settings SELECT 'erin', printf('k%05d', i), i * 0.5 FROM n;",
    );
    add_plain(&db, "zoe", 3);
    let layout = block_on(layout(&db, "tenant")).unwrap();
    let erin = digests(&db, "erin");
    assert_eq!(
        erin.iter().map(|(t, n, _)| (*t, *n)).collect::<Vec<_>>(),
        [
            ("notes", 1234),
            ("comments", 1234),
            ("settings", 1102),
            ("attachments", 1234)
        ]
    );
    const { assert!(1234 > tenant::EXPORT_PAGE_ROWS) };
    let text = block_on(tenant::export(&db, DB, &layout, &tenant("erin"))).unwrap();
    assert!(
        text.contains("-- rows: 1102 settings\n"),
        "every page, once"
    );
    block_on(tenant::delete(&db, &layout, &tenant("erin"))).unwrap();
    block_on(tenant::import(
        &db,
        DB,
        &layout,
        &tenant("erin"),
        &text,
        false,
    ))
    .unwrap();
    assert_eq!(digests(&db, "erin"), erin);
}

#[test]
fn a_large_import_goes_in_fenced_chunks_and_a_stopped_one_finishes_with_replace() {
    let db = fresh(&[M1, M2]);
    add_plain(&db, "alice", 3);
    // 70 notes of 40 KB each: 5.6 MB of SQL in hex, over one batch's limit.
    exec(
        &db,
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 70)
         INSERT INTO notes (tenant, body, data) SELECT 'big', 'note ' || i, randomblob(40000) FROM n;
         INSERT INTO comments (tenant, note_id, body) SELECT tenant, id, 'c' FROM notes WHERE tenant = 'big';",
    );
    let layout = block_on(layout(&db, "tenant")).unwrap();
    let big = digests(&db, "big");
    let alice = digests(&db, "alice");
    let text = block_on(tenant::export(&db, DB, &layout, &tenant("big"))).unwrap();
    assert!(text.len() > tenant::BATCH_BYTES);
    block_on(tenant::delete(&db, &layout, &tenant("big"))).unwrap();

    // Stopped at its fourth write (a batch of two reads, the fence, a chunk, the next):
    // fenced, one chunk written.
    let stopping = StopsAt::before(&db, 4);
    let err = block_on(tenant::import(
        &stopping,
        DB,
        &layout,
        &tenant("big"),
        &text,
        false,
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("stopped here"), "{err}");
    let written = count(&db, "SELECT count(*) FROM notes WHERE tenant = 'big'");
    assert!(written > 0 && written < 70, "partly written: {written}");
    // Meanwhile the tenant is refused (retryably), the others are served.
    let refused = db
        .connection()
        .execute(
            "INSERT INTO notes (tenant, body) VALUES ('big', 'late')",
            [],
        )
        .unwrap_err()
        .to_string();
    assert!(refused.contains("d1kit"), "{refused}");
    exec(&db, "UPDATE notes SET body = body WHERE tenant = 'alice'");
    assert_eq!(digests(&db, "alice"), alice);

    let err = block_on(tenant::import(
        &db,
        DB,
        &layout,
        &tenant("big"),
        &text,
        false,
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("already has rows") && err.contains("fenced"),
        "{err}"
    );
    let report = block_on(tenant::import(
        &db,
        DB,
        &layout,
        &tenant("big"),
        &text,
        true,
    ))
    .unwrap();
    assert!(report.chunked && report.batches >= 3, "{report:?}");
    assert_eq!(digests(&db, "big"), big);
    assert_eq!(digests(&db, "alice"), alice);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM sqlite_master WHERE name LIKE 'd1kit_fence%'"
        ),
        0,
        "the fence and its triggers are gone"
    );
    exec(
        &db,
        "INSERT INTO notes (tenant, body) VALUES ('big', 'served again')",
    );
}

#[test]
fn a_row_too_large_for_one_statement_is_refused_at_export() {
    let db = fresh(&[M1, M2]);
    exec(
        &db,
        "INSERT INTO notes (id, tenant, data) VALUES (1, 'dave', zeroblob(10)), (77, 'dave', zeroblob(60000));",
    );
    let layout = block_on(layout(&db, "tenant")).unwrap();
    let err = block_on(tenant::export(&db, DB, &layout, &tenant("dave")))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the row of `notes` with rowid = 77") && err.contains("over D1's limit"),
        "{err}"
    );
}
