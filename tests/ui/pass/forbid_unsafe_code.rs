#![forbid(unsafe_code)]
// What the macros generate compiles in a crate that forbids unsafe code: the rows of `sql!` and
// `#[derive(Query)]` (laid out for d1-runtime's `ColumnLayout`), `sql_as!` into a
// `#[derive(Row)]` struct, and `#[derive(Database)]`.
use d1kit::local::{block_on, Database as Local};
use d1kit::{Database, Executor, Query, Row};

#[derive(Database)]
#[d1(name = "notes")]
struct Notes;

#[derive(Row, Debug, PartialEq)]
struct Note {
    id: i64,
    title: Option<String>,
    pinned: bool,
}

#[derive(Query)]
#[d1(
    database = "notes",
    sql = "SELECT id, title, word_count FROM notes WHERE owner_id = :owner ORDER BY id LIMIT :limit"
)]
struct NotesOf {
    owner: i64,
    limit: i64,
}

fn main() {
    let db = Local::open_in_memory().unwrap();
    db.migrate_to::<Notes>().unwrap();
    block_on(async {
        d1kit::sql!(
            notes,
            "INSERT INTO users (id, email) VALUES (?1, ?2)",
            1,
            "a@example.com"
        )
        .run(&db)
        .await
        .unwrap();
        d1kit::sql!(
            notes,
            "INSERT INTO notes (owner_id, title, pinned) VALUES (?1, ?2, ?3)",
            1,
            "first",
            true
        )
        .run(&db)
        .await
        .unwrap();

        let rows = d1kit::sql!(
            notes,
            "SELECT id, title, pinned, word_count, score, created_at FROM notes WHERE owner_id = ?1",
            1
        )
        .all(&db)
        .await
        .unwrap();
        let r = &rows[0];
        let _: (i64, &Option<String>, bool, i64, Option<f64>, &String) = (
            r.id,
            &r.title,
            r.pinned,
            r.word_count,
            r.score,
            &r.created_at,
        );
        assert_eq!(r.title.as_deref(), Some("first"));

        let notes: Vec<Note> = db
            .all(d1kit::sql_as!(
                notes,
                Note,
                "SELECT id, title, pinned FROM notes WHERE owner_id = ?1",
                1
            ))
            .await
            .unwrap();
        assert_eq!(
            notes,
            [Note {
                id: r.id,
                title: Some("first".into()),
                pinned: true,
            }]
        );

        let of: Vec<NotesOfRow> = db
            .all(NotesOf {
                owner: 1,
                limit: 10,
            })
            .await
            .unwrap();
        let _: (i64, &Option<String>, i64) = (of[0].id, &of[0].title, of[0].word_count);
        assert_eq!(of.len(), 1);
    });
}
