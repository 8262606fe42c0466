//! Every macro form as a generic async function over any [`Executor`]: `tests/macros.rs` runs
//! them on the local backend, `tests/rest.rs` over the REST API (against the D1 fake), so both
//! backends pass the same queries with the same expectations.

#![allow(dead_code)] // each test crate uses the forms it runs

use d1kit::{sql, sql_as, Database, Executor, Query, Row};

#[derive(Database)]
#[d1(name = "notes")]
pub struct Notes;

#[derive(Row, Debug, PartialEq)]
struct NoteTitle {
    id: i64,
    title: Option<String>,
}

#[derive(Query)]
#[d1(
    database = "notes",
    sql = "SELECT id, title, pinned FROM notes WHERE owner_id = :owner ORDER BY id DESC LIMIT :limit"
)]
struct RecentNotes {
    owner: i64,
    limit: i64,
}

#[derive(Query)]
#[d1(database = "notes", sql = "SELECT id, title FROM notes WHERE owner_id = :owner", row = NoteTitle)]
struct TitlesOf<'a> {
    owner: &'a i64,
}

/// Applies the notes schema (through the shared, executor-generic migrator) and seeds one user
/// with three notes.
pub async fn setup<E: Executor>(db: &E) {
    let report = d1kit::migrate::migrate(db, Notes::MIGRATIONS)
        .await
        .unwrap();
    assert_eq!(report.applied.len(), Notes::MIGRATIONS.len());
    seed(db).await;
}

/// One user with three notes (first pinned, second untitled).
pub async fn seed<E: Executor>(db: &E) {
    sql!(
        notes,
        "INSERT INTO users (id, email) VALUES (?1, ?2)",
        1,
        "a@example.com"
    )
    .run(db)
    .await
    .unwrap();
    for (title, pinned) in [(Some("first"), true), (None, false), (Some("third"), false)] {
        sql!(
            notes,
            "INSERT INTO notes (owner_id, title, pinned) VALUES (1, ?1, ?2)",
            title,
            pinned
        )
        .run(db)
        .await
        .unwrap();
    }
}

pub async fn inline_sql_generates_the_row_type<E: Executor>(db: &E) {
    let rows = sql!(
        notes,
        "SELECT id, title, pinned FROM notes WHERE owner_id = ?1 ORDER BY id",
        1
    )
    .all(db)
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    let first = &rows[0];
    let (id, title, pinned): (i64, Option<String>, bool) =
        (first.id, first.title.clone(), first.pinned);
    assert_eq!((id, title.as_deref(), pinned), (1, Some("first"), true));
    assert_eq!(rows[1].title, None);
    let none = sql!(notes, "SELECT id FROM notes WHERE id = ?1", 99)
        .first(db)
        .await
        .unwrap();
    assert!(none.is_none());
}

pub async fn run_reports_changes_and_last_row_id<E: Executor>(db: &E) {
    let res = sql!(notes, "DELETE FROM notes WHERE pinned = ?1", false)
        .run(db)
        .await
        .unwrap();
    assert_eq!(res.changes, 2);
    let res = sql!(
        notes,
        "INSERT INTO notes (owner_id, title) VALUES (?1, ?2) RETURNING id AS \"new_id!\"",
        1,
        "x"
    )
    .all(db)
    .await
    .unwrap();
    assert_eq!(res[0].new_id, 4);
    let res = sql!(notes, "INSERT INTO notes (owner_id, title) VALUES (1, 'y')")
        .run(db)
        .await
        .unwrap();
    assert_eq!((res.changes, res.last_row_id), (1, 5));
}

pub async fn sql_as_decodes_into_the_derived_struct_by_name<E: Executor>(db: &E) {
    let rows: Vec<NoteTitle> = sql_as!(
        notes,
        NoteTitle,
        "SELECT title, id FROM notes WHERE owner_id = ?1 ORDER BY id",
        1
    )
    .all(db)
    .await
    .unwrap();
    assert_eq!(
        rows[0],
        NoteTitle {
            id: 1,
            title: Some("first".into())
        }
    );
}

pub async fn derive_query_binds_fields_by_name<E: Executor>(db: &E) {
    let rows = RecentNotes { owner: 1, limit: 2 }.all(db).await.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r: &RecentNotesRow| r.id).collect();
    assert_eq!(ids, vec![3, 2]);
    let titles = db.all(TitlesOf { owner: &1 }).await.unwrap();
    assert_eq!(titles.len(), 3);
    assert!(titles.contains(&NoteTitle {
        id: 3,
        title: Some("third".into())
    }));
}

pub async fn batch_commits_together_or_rolls_every_statement_back<E: Executor>(db: &E) {
    let (inserted, count) = db
        .batch((
            sql!(
                notes,
                "INSERT INTO notes (owner_id, title) VALUES (1, ?1)",
                "batched"
            ),
            sql!(notes, "SELECT count(*) AS n FROM notes"),
        ))
        .await
        .unwrap();
    assert_eq!(inserted.meta.changes, 1);
    assert_eq!(count.rows[0].n, 4);

    // The second statement breaks a foreign key: the first must not stay.
    let failed = db
        .batch((
            sql!(
                notes,
                "INSERT INTO notes (owner_id, title) VALUES (1, ?1)",
                "lost"
            ),
            sql!(
                notes,
                "INSERT INTO notes (owner_id, title) VALUES (?1, ?2)",
                42,
                "no such owner"
            ),
        ))
        .await;
    let err = failed.unwrap_err().to_string();
    assert!(err.contains("FOREIGN KEY"), "{err}");
    let n = sql!(
        notes,
        "SELECT count(*) AS n FROM notes WHERE title = 'lost'"
    )
    .first(db)
    .await
    .unwrap()
    .unwrap()
    .n;
    assert_eq!(n, 0, "the batch's first insert was rolled back");
}

/// Arguments are bound in order however many there are: 12 (the most `sql!` keeps as written
/// until the query runs) and 14 (converted to values where the query is built), each with
/// every other argument a value no note has.
pub async fn arguments_are_bound_in_order_past_the_tuple_limit<E: Executor>(db: &E) {
    let twelve = sql!(
        notes,
        "SELECT id FROM notes WHERE owner_id = ?1 AND id IN (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ORDER BY id",
        1, 90, 3, 91, 92, 93, 94, 95, 96, 1, 97, 98
    );
    let ids: Vec<i64> = twelve.all(db).await.unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, [1, 3]);

    let fourteen = sql!(
        notes,
        "SELECT id, ?14 AS last FROM notes WHERE owner_id = ?1 AND id IN (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ORDER BY id",
        1, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 2, 100, "fourteenth"
    );
    let rows = fourteen.all(db).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, 2);
    assert_eq!(rows[0].last, Some(d1kit::Value::Text("fourteenth".into())));
}
