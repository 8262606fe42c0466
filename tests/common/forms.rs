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
    // A generated row prints like a derived `Debug` (a user's first `dbg!(row)`).
    assert_eq!(
        format!("{first:?}"),
        r#"Row { id: 1, title: Some("first"), pinned: true }"#
    );
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

/// A type of the test's own, read through an `AS "name: Type"` override.
#[derive(Debug, PartialEq)]
pub struct Shouted(String);

impl d1kit::Decode for Shouted {
    fn decode(value: d1kit::Value) -> Result<Self, String> {
        String::decode(value).map(|s| Shouted(s.to_uppercase()))
    }
}

/// Generated rows decode by position whatever their shape: up to 32 columns of d1kit's own
/// types they share generic decoding code (the row is laid out as a `ColumnsN` struct), a
/// wider row or one with an `AS "name: Type"` override gets a function of its own; both give
/// every field its column, in order, and a wrong-typed value is an error naming the column.
pub async fn generated_rows_decode_by_position_at_any_width<E: Executor>(db: &E) {
    // 32 columns of mixed sizes (i64, Option<String>, Option<f64>, bool, String), so a field
    // read from the wrong place or at the wrong offset shows.
    let wide = sql!(
        notes,
        "SELECT id AS a1, title AS a2, score AS a3, pinned AS a4, body AS a5,
                id + 1 AS a6, title AS a7, score AS a8, pinned AS a9, body AS a10,
                id + 2 AS a11, title AS a12, score AS a13, pinned AS a14, body AS a15,
                id + 3 AS a16, title AS a17, score AS a18, pinned AS a19, body AS a20,
                id + 4 AS a21, title AS a22, score AS a23, pinned AS a24, body AS a25,
                id + 5 AS a26, title AS a27, score AS a28, pinned AS a29, body AS a30,
                id + 6 AS a31, owner_id AS a32
         FROM notes WHERE id = 1"
    )
    .first(db)
    .await
    .unwrap()
    .unwrap();
    let title = Some("first".to_owned());
    assert_eq!(
        (wide.a1, &wide.a2, wide.a3, wide.a4, wide.a5.as_str()),
        (1, &title, None, true, "")
    );
    assert_eq!((wide.a16, &wide.a17, wide.a19), (4, &title, true));
    assert_eq!((wide.a26, &wide.a27, wide.a29), (6, &title, true));
    assert_eq!((wide.a31, wide.a32), (7, 1));

    // 33 columns: past the widest `ColumnsN`.
    let wider = sql!(
        notes,
        "SELECT 1 AS b1, 2 AS b2, 3 AS b3, 4 AS b4, 5 AS b5, 6 AS b6, 7 AS b7, 8 AS b8,
                9 AS b9, 10 AS b10, 11 AS b11, 12 AS b12, 13 AS b13, 14 AS b14, 15 AS b15,
                16 AS b16, 17 AS b17, 18 AS b18, 19 AS b19, 20 AS b20, 21 AS b21, 22 AS b22,
                23 AS b23, 24 AS b24, 25 AS b25, 26 AS b26, 27 AS b27, 28 AS b28, 29 AS b29,
                30 AS b30, 31 AS b31, 32 AS b32, title AS b33
         FROM notes WHERE id = 3"
    )
    .first(db)
    .await
    .unwrap()
    .unwrap();
    assert_eq!((wider.b1, wider.b17, wider.b32), (1, 17, 32));
    assert_eq!(wider.b33.as_deref(), Some("third"));

    // An override to a type of the user's own.
    let shouted = sql!(
        notes,
        "SELECT id, title AS \"title: Shouted\" FROM notes WHERE id = 3"
    )
    .first(db)
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        (shouted.id, shouted.title),
        (3, Some(Shouted("THIRD".into())))
    );

    // A value the declared type does not hold (SQLite keeps 'many' as TEXT in an INT column):
    // decoding it is an error naming the column, on either path.
    sql!(
        notes,
        "INSERT INTO notes (id, owner_id, word_count) VALUES (50, 1, 'many')"
    )
    .run(db)
    .await
    .unwrap();
    let err = sql!(notes, "SELECT id, word_count FROM notes WHERE id = 50")
        .first(db)
        .await
        .expect_err("a decode error");
    assert!(
        matches!(err, d1kit::Error::Decode { ref column, .. } if column == "word_count"),
        "{err}"
    );
    let err = sql!(
        notes,
        r#"SELECT id, word_count AS "n: i64" FROM notes WHERE id = 50"#
    )
    .first(db)
    .await
    .expect_err("a decode error");
    assert!(
        matches!(err, d1kit::Error::Decode { ref column, .. } if column == "n"),
        "{err}"
    );
}
