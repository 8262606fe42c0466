//! Every macro form, run against the local backend: rows decoded into the generated and the
//! derived types, parameters bound, batch atomic.

use d1kit::local::{block_on, Database as Local};
use d1kit::{sql, sql_as, Database, Executor, Query, Row};

#[derive(Database)]
#[d1(name = "notes")]
struct Notes;

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

fn db() -> Local {
    let db = Local::open_in_memory().unwrap();
    let report = db.migrate_to::<Notes>().unwrap();
    assert_eq!(report.applied.len(), Notes::MIGRATIONS.len());
    db
}

fn seed(db: &Local) {
    block_on(async {
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
    })
}

#[test]
fn inline_sql_generates_the_row_type() {
    let db = db();
    seed(&db);
    let rows = block_on(
        sql!(
            notes,
            "SELECT id, title, pinned FROM notes WHERE owner_id = ?1 ORDER BY id",
            1
        )
        .all(&db),
    )
    .unwrap();
    assert_eq!(rows.len(), 3);
    let first = &rows[0];
    let (id, title, pinned): (i64, Option<String>, bool) =
        (first.id, first.title.clone(), first.pinned);
    assert_eq!((id, title.as_deref(), pinned), (1, Some("first"), true));
    assert_eq!(rows[1].title, None);
    let none = block_on(sql!(notes, "SELECT id FROM notes WHERE id = ?1", 99).first(&db)).unwrap();
    assert!(none.is_none());
}

#[test]
fn run_reports_changes_and_last_row_id() {
    let db = db();
    seed(&db);
    let res = block_on(sql!(notes, "DELETE FROM notes WHERE pinned = ?1", false).run(&db)).unwrap();
    assert_eq!(res.changes, 2);
    let res = block_on(
        sql!(
            notes,
            "INSERT INTO notes (owner_id, title) VALUES (?1, ?2) RETURNING id AS \"new_id!\"",
            1,
            "x"
        )
        .all(&db),
    )
    .unwrap();
    assert_eq!(res[0].new_id, 4);
}

#[test]
fn sql_as_decodes_into_the_derived_struct_by_name() {
    let db = db();
    seed(&db);
    let rows: Vec<NoteTitle> = block_on(
        sql_as!(
            notes,
            NoteTitle,
            "SELECT title, id FROM notes WHERE owner_id = ?1 ORDER BY id",
            1
        )
        .all(&db),
    )
    .unwrap();
    assert_eq!(
        rows[0],
        NoteTitle {
            id: 1,
            title: Some("first".into())
        }
    );
}

#[test]
fn derive_query_binds_fields_by_name() {
    let db = db();
    seed(&db);
    let rows = block_on(RecentNotes { owner: 1, limit: 2 }.all(&db)).unwrap();
    let ids: Vec<i64> = rows.iter().map(|r: &RecentNotesRow| r.id).collect();
    assert_eq!(ids, vec![3, 2]);
    let titles = block_on(db.all(TitlesOf { owner: &1 })).unwrap();
    assert_eq!(titles.len(), 3);
    assert!(titles.contains(&NoteTitle {
        id: 3,
        title: Some("third".into())
    }));
}

#[test]
fn batch_commits_together_or_rolls_every_statement_back() {
    let db = db();
    seed(&db);
    let (inserted, count) = block_on(db.batch((
        sql!(
            notes,
            "INSERT INTO notes (owner_id, title) VALUES (1, ?1)",
            "batched"
        ),
        sql!(notes, "SELECT count(*) AS n FROM notes"),
    )))
    .unwrap();
    assert_eq!(inserted.meta.changes, 1);
    assert_eq!(count.rows[0].n, 4);

    // The second statement breaks a foreign key: the first must not stay.
    let failed = block_on(db.batch((
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
    )));
    let err = failed.unwrap_err().to_string();
    assert!(err.contains("FOREIGN KEY"), "{err}");
    let n = block_on(
        sql!(
            notes,
            "SELECT count(*) AS n FROM notes WHERE title = 'lost'"
        )
        .first(&db),
    )
    .unwrap()
    .unwrap()
    .n;
    assert_eq!(n, 0, "the batch's first insert was rolled back");
}

#[test]
fn database_derive_embeds_migrations_and_routes_tenants() {
    assert_eq!(Notes::NAME, "notes");
    assert_eq!(Notes::SHARDS, 4);
    assert_eq!(Notes::MIGRATIONS[0].name, "0001_init.sql");
    assert_eq!(Notes::MIGRATIONS[0].checksum.len(), 64);
    assert_eq!(Notes::FINGERPRINT.len(), 64);
    let shard = Notes::shard_for("alice");
    assert!(shard < 4);
    assert_eq!(Notes::binding_for("alice"), format!("NOTES_{shard}"));
}
