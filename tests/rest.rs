//! `d1kit::rest` against the D1 REST fake (`tests/d1-fake`, a real HTTP server over SQLite):
//! every typed-query form of `tests/macros.rs`, values checked like the Worker backend, retries
//! and 429s, database management, and per-tenant databases created on first use.

#[path = "common/forms.rs"]
mod forms;

use d1_fake::{Failure, FakeD1, Options};
use d1kit::rest::{Client, CreateOptions, Created, Retry, Tenants};
use d1kit::route::{DatabaseDirectory, MemoryDirectory, TableDirectory};
use d1kit::{block_on, sql, Database, Error, Sql, Value};
use forms::Notes;
use std::time::{Duration, Instant};

fn fake() -> FakeD1 {
    FakeD1::start(Options::default())
}

fn client(fake: &FakeD1) -> Client {
    Client::new(fake.account_id(), fake.token())
        .with_base_url(fake.base_url())
        .with_retry(Retry {
            base_delay: Duration::from_millis(10),
            ..Retry::default()
        })
}

/// A new, migrated and seeded database on the fake.
fn seeded(client: &Client, name: &str) -> d1kit::rest::Database {
    let info = block_on(client.create_database(name, &CreateOptions::default())).unwrap();
    let db = client.database(info.uuid);
    block_on(forms::setup(&db));
    db
}

#[test]
fn every_typed_query_form_runs_over_rest() {
    let fake = fake();
    let client = client(&fake);
    block_on(forms::inline_sql_generates_the_row_type(&seeded(
        &client, "f1",
    )));
    block_on(forms::run_reports_changes_and_last_row_id(&seeded(
        &client, "f2",
    )));
    block_on(forms::sql_as_decodes_into_the_derived_struct_by_name(
        &seeded(&client, "f3"),
    ));
    block_on(forms::derive_query_binds_fields_by_name(&seeded(
        &client, "f4",
    )));
    block_on(forms::batch_commits_together_or_rolls_every_statement_back(
        &seeded(&client, "f5"),
    ));
    block_on(forms::arguments_are_bound_in_order_past_the_tuple_limit(
        &seeded(&client, "f6"),
    ));
    block_on(forms::generated_rows_decode_by_position_at_any_width(
        &seeded(&client, "f7"),
    ));
    // A batch is one request: 1 create + setup (1 migrate read + 1 per migration + 4 inserts)
    // per database, and the forms' own statements; never one request per batch statement.
    let stats = fake.stats();
    assert_eq!(stats.create, 7);
    assert_eq!(stats.query, 0, "everything goes through /raw");
}

#[test]
fn values_follow_the_javascript_number_rules_both_ways() {
    let fake = fake();
    let client = client(&fake);
    let db = seeded(&client, "values");
    let safe = (1i64 << 53) - 1;
    let back = block_on(sql!(notes, "SELECT ?1 AS \"n: i64\"", safe).first(&db))
        .unwrap()
        .unwrap();
    assert_eq!(back.n, Some(safe));
    // Bound: 2^53 cannot cross as a JavaScript number, and nothing is sent.
    let before = fake.stats().raw;
    let err = block_on(sql!(notes, "SELECT ?1 AS \"n: i64\"", 1i64 << 53).first(&db))
        .expect_err("an error");
    assert!(matches!(err, Error::Bind { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("2^53"), "{err}");
    assert_eq!(fake.stats().raw, before);
    // Stored by other means, 2^53 + 1 comes back rounded by JavaScript: a decode error.
    let err = block_on(sql!(notes, "SELECT 9007199254740993 AS \"n: i64\"").first(&db))
        .expect_err("an error");
    assert!(
        matches!(err, Error::Decode { ref column, .. } if column == "n"),
        "{err}"
    );
    // REAL 1.0 arrives as JSON `1` and still decodes as f64; a BLOB result as bytes.
    let row = block_on(
        Sql::<(f64, Vec<u8>, Option<String>)>::new("SELECT 1.0, X'00ff10', NULL", Vec::new())
            .first(&db),
    )
    .unwrap()
    .unwrap();
    assert_eq!(row, (1.0, vec![0x00, 0xff, 0x10], None));
    // A BLOB parameter has no JSON form: an error that says what to do instead.
    let err =
        block_on(Sql::<(i64,)>::new("SELECT length(?1)", vec![Value::Blob(vec![1, 2])]).first(&db))
            .unwrap_err();
    assert!(err.to_string().contains("unhex"), "{err}");
    // SQLite's own words come back with the statement.
    let err = block_on(Sql::<()>::new("SELECT nope FROM notes", Vec::new()).run(&db)).unwrap_err();
    assert!(
        matches!(&err, Error::Query { message, sql } if message.contains("no such column") && sql.contains("nope")),
        "{err}"
    );
}

#[test]
fn transient_failures_are_retried_for_reads_and_only_on_request_for_writes() {
    let fake = fake();
    let client = client(&fake);
    let db = seeded(&client, "retry");
    fake.fail_next_requests(2, Failure::Transient);
    let n = block_on(sql!(notes, "SELECT count(*) AS n FROM notes").first(&db)).unwrap();
    assert_eq!(n.unwrap().n, 3);
    fake.fail_next_requests(1, Failure::BadGateway);
    let n = block_on(sql!(notes, "SELECT count(*) AS n FROM notes").first(&db)).unwrap();
    assert_eq!(n.unwrap().n, 3, "an HTML 502 is a transient failure too");

    // A write is not replayed by default (D1 may have applied it): the 500 is the answer.
    fake.fail_next_requests(1, Failure::Transient);
    let err = block_on(sql!(notes, "DELETE FROM notes WHERE id = ?1", 1).run(&db)).unwrap_err();
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err}");
    // ...unless the client says writes are safe to replay.
    let writes = client.clone().with_retry(Retry {
        writes: true,
        base_delay: Duration::from_millis(10),
        ..Retry::default()
    });
    fake.fail_next_requests(1, Failure::Transient);
    let res = block_on(
        sql!(notes, "DELETE FROM notes WHERE id = ?1", 1).run(&writes.database(db.uuid())),
    )
    .unwrap();
    assert_eq!(res.changes, 1);
    // Gives up after `attempts`.
    fake.fail_next_requests(10, Failure::Transient);
    let err =
        block_on(sql!(notes, "SELECT count(*) AS n FROM notes").first(&db)).expect_err("an error");
    assert!(matches!(err, Error::Api { status: 500, .. }), "{err}");
}

#[test]
fn a_429_is_honoured_by_every_clone_of_the_client() {
    let fake = fake();
    let client = client(&fake);
    let uuid = seeded(&client, "limited").uuid().to_owned();
    fake.fail_next_requests(
        1,
        Failure::RateLimited {
            retry_after_secs: 1,
        },
    );
    // Each thread queries through its own clone of the client.
    let count = |c: Client| {
        let db = c.database(uuid.as_str());
        let row = block_on(sql!(notes, "SELECT count(*) AS n FROM notes").first(&db)).unwrap();
        row.unwrap().n
    };
    let start = Instant::now();
    let (a, b) = std::thread::scope(|s| {
        // One clone is answered 429 (retry after 1 s)...
        let a = s.spawn(|| (count(client.clone()), start.elapsed()));
        while fake.stats().responses_429 == 0 {
            assert!(start.elapsed() < Duration::from_secs(10), "no 429 was sent");
            std::thread::sleep(Duration::from_millis(1));
        }
        // ...and another clone, asking during the pause with no 429 of its own, waits for the
        // pause to end too (the 200 ms let the first clone read its 429 and pause).
        std::thread::sleep(Duration::from_millis(200));
        let b = s.spawn(|| (count(client.clone()), start.elapsed()));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!((a.0, b.0), (3, 3));
    assert!(a.1 >= Duration::from_secs(1), "retry-after honoured: {a:?}");
    assert!(
        b.1 >= Duration::from_secs(1),
        "the other clone was held until the pause ended: {b:?}"
    );
    assert_eq!(fake.stats().responses_429, 1);
}

#[test]
fn databases_are_created_adopted_listed_across_pages_and_deleted() {
    let fake = fake();
    let client = client(&fake);
    for n in 0..25 {
        block_on(client.create_database(&format!("app-{n:02}"), &CreateOptions::default()))
            .unwrap();
    }
    let existing = fake.add_database("taken");
    let (info, how) = block_on(client.create_or_adopt("taken", &CreateOptions::default())).unwrap();
    assert_eq!(
        (info.uuid.as_str(), how),
        (existing.as_str(), Created::Adopted)
    );
    let err = block_on(client.create_database("taken", &CreateOptions::default())).unwrap_err();
    assert_eq!(err.api_code(), Some(d1kit::rest::NAME_TAKEN), "{err}");

    let all = block_on(client.list_databases(None)).unwrap();
    assert_eq!(all.len(), 26);
    let found = block_on(client.find_database("app-07")).unwrap().unwrap();
    assert_eq!(found.name, "app-07");
    assert!(block_on(client.find_database("app-7")).unwrap().is_none());
    block_on(client.delete_database(&found.uuid)).unwrap();
    assert_eq!(
        block_on(client.list_databases(Some("app-"))).unwrap().len(),
        24
    );

    let hinted = CreateOptions {
        location_hint: Some("weur".into()),
        jurisdiction: Some("eu".into()),
    };
    block_on(client.create_database("eu-one", &hinted)).unwrap();
    let bad = CreateOptions {
        location_hint: Some("mars".into()),
        jurisdiction: None,
    };
    let err = block_on(client.create_database("nowhere", &bad)).unwrap_err();
    assert!(matches!(err, Error::Api { status: 400, .. }), "{err}");
}

#[test]
fn a_wrong_token_is_a_clear_error_not_a_retry() {
    let fake = fake();
    let client = Client::new(fake.account_id(), "wrong").with_base_url(fake.base_url());
    let err = block_on(client.list_databases(None)).unwrap_err();
    assert!(matches!(err, Error::Api { status: 403, .. }), "{err}");
    assert!(err.to_string().contains("Authentication"), "{err}");
    assert_eq!(fake.stats().requests, 1);
}

fn tenants(fake: &FakeD1) -> Tenants<Notes, MemoryDirectory> {
    Tenants::new(client(fake), MemoryDirectory::new()).prefix("app-notes")
}

fn tables(fake: &FakeD1, uuid: &str) -> Vec<String> {
    fake.with_connection(uuid, |c| {
        let mut st = c
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<Vec<String>>>()
            .unwrap()
    })
    .unwrap()
}

#[test]
fn a_new_tenant_gets_a_migrated_database_and_comes_back_to_it() {
    let fake = fake();
    let tenants = tenants(&fake);
    let db = block_on(tenants.open("alice")).unwrap();
    let dbs = fake.databases();
    assert_eq!(dbs.len(), 1);
    assert_eq!(dbs[0].name, "app-notes-alice");
    assert_eq!(dbs[0].uuid, db.uuid());
    let names = tables(&fake, db.uuid());
    assert!(names.contains(&"notes".to_owned()) && names.contains(&"d1_migrations".to_owned()));
    let recorded = block_on(tenants.directory().database_of("alice")).unwrap();
    assert_eq!(recorded.as_deref(), Some(db.uuid()));
    // The typed queries run on it.
    block_on(forms::seed(&db));
    block_on(forms::inline_sql_generates_the_row_type(&db));
    block_on(forms::batch_commits_together_or_rolls_every_statement_back(
        &db,
    ));

    // Existing tenant: no new database, no new migration run.
    let creates = fake.stats().create;
    let again = block_on(tenants.open("alice")).unwrap();
    assert_eq!(again.uuid(), db.uuid());
    assert_eq!(fake.stats().create, creates);
    // A fresh process (empty cache) finds it in the directory.
    let other = Tenants::<Notes, _>::new(client(&fake), tenants.directory());
    let found = block_on(other.open("alice")).unwrap();
    assert_eq!(found.uuid(), db.uuid());
    assert_eq!(fake.databases().len(), 1);
}

#[test]
fn a_taken_name_is_adopted_and_migrated() {
    let fake = fake();
    let existing = fake.add_database("app-notes-bob");
    let tenants = tenants(&fake);
    let db = block_on(tenants.open("bob")).unwrap();
    assert_eq!(db.uuid(), existing);
    assert_eq!(fake.databases().len(), 1);
    assert!(tables(&fake, &existing).contains(&"notes".to_owned()));
}

#[test]
fn sixteen_concurrent_first_requests_make_one_database() {
    let fake = fake();
    fake.set_latency(Duration::from_millis(20));
    let tenants = tenants(&fake);
    let uuids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|_| s.spawn(|| block_on(tenants.open("carol")).unwrap().uuid().to_owned()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(uuids.iter().all(|u| *u == uuids[0]), "{uuids:?}");
    assert_eq!(fake.databases().len(), 1);
    assert_eq!(fake.stats().create, 1, "the other 15 waited for the first");

    // Two `Tenants` (each with its own client, one directory, as two processes would have)
    // racing from two threads: the name makes them meet.
    let directory = MemoryDirectory::new();
    let (a, b) = (
        Tenants::<Notes, _>::new(client(&fake), &directory).prefix("app-notes"),
        Tenants::<Notes, _>::new(client(&fake), &directory).prefix("app-notes"),
    );
    let (x, y) = std::thread::scope(|s| {
        let x = s.spawn(|| block_on(a.open("dave")).unwrap().uuid().to_owned());
        let y = s.spawn(|| block_on(b.open("dave")).unwrap().uuid().to_owned());
        (x.join().unwrap(), y.join().unwrap())
    });
    assert_eq!(x, y);
    assert_eq!(fake.databases().len(), 2);
}

#[test]
fn a_failed_migration_records_nothing_and_the_next_open_finishes_the_job() {
    let fake = fake();
    let tenants = tenants(&fake);
    fake.fail_next_query("CREATE TABLE notes", 1, "injected: disk I/O error");
    let err = block_on(tenants.open("erin")).unwrap_err().to_string();
    assert!(
        err.contains("0001_init.sql") && err.contains("injected") && err.contains("erin"),
        "{err}"
    );
    assert_eq!(
        block_on(tenants.directory().database_of("erin")).unwrap(),
        None
    );
    assert_eq!(
        fake.databases().len(),
        1,
        "the database was created, then left unrecorded"
    );

    let db = block_on(tenants.open("erin")).unwrap();
    assert_eq!(fake.databases().len(), 1, "the retry adopted it");
    assert!(tables(&fake, db.uuid()).contains(&"notes".to_owned()));
    let applied = block_on(d1kit::migrate::applied(&db)).unwrap();
    assert_eq!(applied.names.len(), Notes::MIGRATIONS.len());
    assert_eq!(
        block_on(tenants.directory().database_of("erin"))
            .unwrap()
            .as_deref(),
        Some(db.uuid())
    );
}

#[test]
fn the_directory_can_be_a_d1_table() {
    let fake = fake();
    let client = client(&fake);
    let home = client.database(
        block_on(client.create_database("directory", &CreateOptions::default()))
            .unwrap()
            .uuid,
    );
    let directory = TableDirectory::new(&home);
    block_on(directory.create_table()).unwrap();
    let tenants = Tenants::<Notes, _>::new(client.clone(), directory).prefix("app-notes");
    let db = block_on(tenants.open("frank")).unwrap();
    let row = block_on(
        Sql::<(String,)>::new(
            "SELECT database_id FROM d1kit_tenant_databases WHERE tenant = 'frank'",
            Vec::new(),
        )
        .first(&home),
    )
    .unwrap()
    .unwrap();
    assert_eq!(row.0, db.uuid());
    assert_eq!(Notes::NAME, "notes");
}

/// Every row of every table of database `uuid` on the fake, as text, for checksums.
fn content(fake: &FakeD1, uuid: &str) -> String {
    fake.with_connection(uuid, |c| {
        let mut out = String::new();
        for table in ["users", "notes"] {
            let mut st = c
                .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
                .unwrap();
            let n = st.column_count();
            let rows = st
                .query_map([], |r| {
                    (0..n)
                        .map(|i| {
                            r.get::<_, rusqlite::types::Value>(i)
                                .map(|v| format!("{v:?}"))
                        })
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .unwrap();
            for row in rows {
                out.push_str(&row.unwrap().join("|"));
                out.push('\n');
            }
        }
        out
    })
    .unwrap()
}

#[test]
fn a_tenant_is_deleted_with_its_database_and_record_and_a_rerun_finishes_the_job() {
    let fake = fake();
    let client = client(&fake);
    let home = client.database(
        block_on(client.create_database("directory", &CreateOptions::default()))
            .unwrap()
            .uuid,
    );
    let directory = TableDirectory::new(&home);
    block_on(directory.create_table()).unwrap();
    let tenants = Tenants::<Notes, _>::new(client.clone(), directory).prefix("app-notes");
    let mut uuids = Vec::new();
    for tenant in ["alice", "bob", "dave"] {
        let db = block_on(tenants.open(tenant)).unwrap();
        block_on(forms::seed(&db));
        uuids.push(db.uuid().to_owned());
    }
    let dave = content(&fake, &uuids[2]);
    assert!(dave.contains("first"), "{dave}");
    let another_process = || Tenants::<Notes, _>::new(client.clone(), TableDirectory::new(&home));

    // A crash right after the mark: the tenant is refused everywhere, its database kept.
    assert_eq!(
        block_on(tenants.directory().mark_deleting("alice")).unwrap(),
        Some(uuids[0].clone())
    );
    let err = block_on(another_process().open("alice")).err().unwrap();
    assert!(
        matches!(&err, Error::TenantDeleted { tenant } if tenant == "alice"),
        "{err}"
    );
    assert!(err.to_string().contains("being deleted"), "{err}");
    assert!(fake.databases().iter().any(|d| d.uuid == uuids[0]));
    // The rerun deletes the database, then the record.
    let done = block_on(tenants.delete("alice")).unwrap();
    assert_eq!(
        (done.database_id.as_deref(), done.recorded, done.deleted),
        (Some(uuids[0].as_str()), true, true)
    );
    assert!(!fake.databases().iter().any(|d| d.uuid == uuids[0]));
    assert_eq!(
        block_on(tenants.directory().database_of("alice")).unwrap(),
        None
    );

    // A crash after the database went, before the record did: the rerun removes the record.
    assert!(block_on(tenants.directory().mark_deleting("bob"))
        .unwrap()
        .is_some());
    block_on(client.delete_database(&uuids[1])).unwrap();
    let done = block_on(tenants.delete("bob")).unwrap();
    assert_eq!((done.recorded, done.deleted), (true, false));
    assert_eq!(
        block_on(tenants.directory().database_of("bob")).unwrap(),
        None
    );

    // A database created but never recorded (a first use that crashed) goes too.
    let orphan = fake.add_database("app-notes-carol");
    let done = block_on(tenants.delete("carol")).unwrap();
    assert_eq!(
        (done.database_id.as_deref(), done.recorded, done.deleted),
        (Some(orphan.as_str()), false, true)
    );
    // Nothing to delete: nothing done.
    let done = block_on(tenants.delete("nobody")).unwrap();
    assert_eq!(
        (done.database_id, done.recorded, done.deleted),
        (None, false, false)
    );

    // The other tenant is untouched; a deleted tenant that comes back starts empty.
    assert_eq!(content(&fake, &uuids[2]), dave);
    let names: Vec<String> = fake.databases().into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["directory", "app-notes-dave"]);
    let again = block_on(tenants.open("alice")).unwrap();
    assert_ne!(again.uuid(), uuids[0]);
    assert_eq!(content(&fake, again.uuid()), "");
}
