//! `d1kit::rest` database management as the current API specification has it, against the D1
//! REST fake (`tests/d1-fake`): jurisdiction `us`, names with upper case, `GET …/database/{x}`
//! by name, paging that stops at a short page, a delete whose answer was lost, and the read
//! replication update (a `PUT`).

use d1_fake::{Failure, FakeD1, Options};
use d1kit::block_on;
use d1kit::rest::{Client, CreateOptions, ReadReplication, Retry, NO_SUCH_DATABASE};
use std::time::Duration;

fn client(fake: &FakeD1) -> Client {
    Client::new(fake.account_id(), fake.token())
        .with_base_url(fake.base_url())
        .with_retry(Retry {
            base_delay: Duration::from_millis(10),
            ..Retry::default()
        })
}

fn create(client: &Client, name: &str) -> String {
    block_on(client.create_database(name, &CreateOptions::default()))
        .unwrap()
        .uuid
}

#[test]
fn jurisdiction_us_and_upper_case_names_are_created() {
    let fake = FakeD1::start(Options::default());
    let client = client(&fake);
    let us = CreateOptions {
        location_hint: Some("enam".into()),
        jurisdiction: Some("us".into()),
    };
    let info = block_on(client.create_database("in-us", &us)).unwrap();
    assert_eq!(info.name, "in-us");

    let upper = create(&client, "Tenant-A");
    let found = block_on(client.find_database("Tenant-A")).unwrap().unwrap();
    assert_eq!(
        (found.uuid.as_str(), found.name.as_str()),
        (upper.as_str(), "Tenant-A")
    );
    assert!(block_on(client.find_database("tenant-a"))
        .unwrap()
        .is_none());
    assert_eq!(fake.databases().len(), 2);
}

#[test]
fn a_database_is_found_by_name_in_one_request() {
    let fake = FakeD1::start(Options::default());
    let client = client(&fake);
    for n in 0..25 {
        create(&client, &format!("app-{n:02}"));
    }
    fake.reset_stats();
    let found = block_on(client.find_database("app-07")).unwrap().unwrap();
    assert_eq!(found.name, "app-07");
    assert!(block_on(client.find_database("app-7")).unwrap().is_none());
    let stats = fake.stats();
    assert_eq!((stats.get, stats.list, stats.requests), (2, 0, 2));

    // What no database can be called is not asked about.
    for never in ["", "a b", "a/b", "-x"] {
        assert!(block_on(client.find_database(never)).unwrap().is_none());
        assert!(block_on(client.get_database(never)).unwrap().is_none());
    }
    assert_eq!(fake.stats().requests, 2);

    // By uuid or by name: the details, read replication included.
    let by_uuid = block_on(client.get_database(&found.uuid)).unwrap().unwrap();
    let by_name = block_on(client.get_database("app-07")).unwrap().unwrap();
    assert_eq!(by_uuid, by_name);
    assert_eq!(by_uuid.read_replication.as_deref(), Some("disabled"));
    let missing = "00000000-0000-4000-8000-000000000000";
    assert!(block_on(client.get_database(missing)).unwrap().is_none());

    // A name shaped like a uuid is looked for in the list (the API reads it as an id).
    let odd = "00000000-0000-4000-8000-00000000000a";
    let odd_uuid = fake.add_database(odd);
    fake.reset_stats();
    let found = block_on(client.find_database(odd)).unwrap().unwrap();
    assert_eq!((found.uuid, found.name.as_str()), (odd_uuid, odd));
    assert_eq!((fake.stats().get, fake.stats().list), (0, 1));
}

#[test]
fn listing_stops_at_a_short_page_whatever_total_count_says() {
    // `total_count` counts every database of the account, not only those `name=` matches.
    let fake = FakeD1::start(Options {
        total_count_ignores_name: true,
        ..Options::default()
    });
    let client = client(&fake);
    for n in 0..25 {
        fake.add_database(&format!("app-{n:02}"));
    }
    fake.add_database("other");
    let some = block_on(client.list_databases(Some("app-0"))).unwrap();
    assert_eq!(some.len(), 10);
    assert_eq!(fake.stats().list, 1, "one short page: nothing more to ask");
    assert!(block_on(client.list_databases(Some("nope")))
        .unwrap()
        .is_empty());
    assert_eq!(fake.stats().list, 2);
    assert_eq!(block_on(client.list_databases(None)).unwrap().len(), 26);
    assert_eq!(fake.stats().list, 3);
}

#[test]
fn listing_reads_every_page_of_a_server_that_pages_by_fewer() {
    // The server lowers `per_page=1000` to 10: a page of 10 is full, not the last.
    let fake = FakeD1::start(Options {
        max_per_page: 10,
        ..Options::default()
    });
    let client = client(&fake);
    for n in 0..25 {
        fake.add_database(&format!("app-{n:02}"));
    }
    let all = block_on(client.list_databases(None)).unwrap();
    let names: Vec<String> = all.into_iter().map(|d| d.name).collect();
    let expected: Vec<String> = (0..25).map(|n| format!("app-{n:02}")).collect();
    assert_eq!(names, expected);
    assert_eq!(fake.stats().list, 3);
    // Exactly full pages: one more, empty, page says it is over.
    for n in 25..30 {
        fake.add_database(&format!("app-{n:02}"));
    }
    assert_eq!(
        block_on(client.list_databases(Some("app-"))).unwrap().len(),
        30
    );
    assert_eq!(fake.stats().list, 7);
}

#[test]
fn a_delete_whose_answer_was_lost_succeeds_on_its_retry() {
    let fake = FakeD1::start(Options::default());
    let client = client(&fake);
    let uuid = create(&client, "doomed");
    // The fake deletes, then answers 500; the retry gets 7404: the delete happened.
    fake.fail_next_requests(1, Failure::TransientAfterEffect);
    block_on(client.delete_database(&uuid)).unwrap();
    assert!(fake.databases().is_empty());
    assert_eq!((fake.stats().delete, fake.stats().responses_5xx), (2, 1));

    // A 7404 at the first attempt: there was no such database.
    let err = block_on(client.delete_database(&uuid)).unwrap_err();
    assert_eq!(err.api_code(), Some(NO_SUCH_DATABASE), "{err}");
    assert!(err.to_string().contains("could not be found"), "{err}");
    // ...and after a 429 too: a rate-limited request has no effect.
    fake.fail_next_requests(
        1,
        Failure::RateLimited {
            retry_after_secs: 0,
        },
    );
    let err = block_on(client.delete_database(&uuid)).unwrap_err();
    assert_eq!(err.api_code(), Some(NO_SUCH_DATABASE), "{err}");

    // A 500 before the effect: the retry deletes.
    let uuid = create(&client, "doomed-too");
    fake.fail_next_requests(1, Failure::Transient);
    block_on(client.delete_database(&uuid)).unwrap();
    assert!(fake.databases().is_empty());
    assert_eq!(fake.stats().delete, 7);
}

#[test]
fn read_replication_is_set_with_a_put() {
    let fake = FakeD1::start(Options::default());
    let client = client(&fake);
    let uuid = create(&client, "replicated");
    let info = block_on(client.set_read_replication(&uuid, ReadReplication::Auto)).unwrap();
    assert_eq!(
        (info.uuid.as_str(), info.name.as_str()),
        (uuid.as_str(), "replicated")
    );
    assert_eq!(info.read_replication.as_deref(), Some("auto"));
    let got = block_on(client.get_database(&uuid)).unwrap().unwrap();
    assert_eq!(got.read_replication.as_deref(), Some("auto"));
    assert_eq!(fake.stats().update, 1);

    // Retried after a transient failure (setting a mode twice is setting it once).
    fake.fail_next_requests(1, Failure::Transient);
    let info = block_on(client.set_read_replication(&uuid, ReadReplication::Disabled)).unwrap();
    assert_eq!(info.read_replication.as_deref(), Some("disabled"));
    assert_eq!(fake.stats().update, 3);

    let missing = "00000000-0000-4000-8000-000000000000";
    let err = block_on(client.set_read_replication(missing, ReadReplication::Auto)).unwrap_err();
    assert_eq!(err.api_code(), Some(NO_SUCH_DATABASE), "{err}");
    assert_eq!(ReadReplication::Auto.as_str(), "auto");
}

/// Every row of `notes` in database `uuid`, as the test reads it from the fake's SQLite.
fn notes(fake: &FakeD1, uuid: &str) -> Vec<String> {
    fake.with_connection(uuid, |c| {
        c.prepare(
            "SELECT quote(id) || '|' || hex(body) || '|' || quote(data) FROM notes ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<String>>>()
        .unwrap()
    })
    .unwrap()
}

fn run(client: &Client, uuid: &str, sql: &'static str) {
    use d1kit::Executor;
    block_on(
        client
            .database(uuid)
            .run(d1kit::Sql::<()>::new(sql, Vec::new())),
    )
    .unwrap();
}

#[test]
fn a_database_is_exported_imported_and_restored_through_ds_own_api() {
    use d1kit::rest::{ExportOptions, RestorePoint};
    let fake = FakeD1::start(Options::default());
    let client = client(&fake);
    let source = create(&client, "source");
    run(
        &client,
        &source,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, data BLOB)",
    );
    run(
        &client,
        &source,
        "INSERT INTO notes VALUES (9007199254740991, 'it''s' || char(10) || 'two' || char(0) || 'nul', zeroblob(3)), (-9007199254740991, NULL, x'00ff80')",
    );
    let before = notes(&fake, &source);
    assert_eq!(before.len(), 2);

    // Export: polled, then downloaded from the signed URL without the token.
    fake.reset_stats();
    let dump = block_on(client.export(&source, &ExportOptions::default())).unwrap();
    let stats = fake.stats();
    assert!(stats.export >= 2 && stats.presigned == 1, "{stats:?}");
    assert!(String::from_utf8_lossy(&dump.sql).contains("CREATE TABLE"));
    assert!(!dump.bookmark.is_empty() && dump.filename.ends_with(".sql"));

    // Import into another database: the same rows.
    let copy = create(&client, "copy");
    let imported = block_on(client.import(&copy, &dump.sql)).unwrap();
    assert!(imported.final_bookmark.is_some(), "{imported:?}");
    assert_eq!(notes(&fake, &copy), before);
    // A file that fails is an error naming the SQL error, and leaves nothing.
    let err = block_on(client.import(&copy, b"INSERT INTO nowhere VALUES (1);")).unwrap_err();
    assert!(err.to_string().contains("no such table: nowhere"), "{err}");
    assert_eq!(notes(&fake, &copy), before);

    // Time Travel: a bookmark, a destructive change, a restore, its undo.
    let bookmark = block_on(client.bookmark(&source, None)).unwrap();
    run(&client, &source, "DELETE FROM notes");
    assert!(notes(&fake, &source).is_empty());
    let restored =
        block_on(client.restore(&source, &RestorePoint::Bookmark(bookmark.clone()))).unwrap();
    assert_eq!(restored.bookmark, bookmark);
    assert_eq!(notes(&fake, &source), before, "every row is back");
    block_on(client.restore(&source, &RestorePoint::Bookmark(restored.previous_bookmark))).unwrap();
    assert!(
        notes(&fake, &source).is_empty(),
        "the undo brings the deletion back"
    );
    // A time outside the window is the API's error, named.
    let err = block_on(client.restore(
        &source,
        &RestorePoint::Timestamp("2001-01-01T00:00:00Z".into()),
    ))
    .unwrap_err();
    assert!(
        matches!(err, d1kit::Error::Api { status: 400, .. }),
        "{err}"
    );
}
