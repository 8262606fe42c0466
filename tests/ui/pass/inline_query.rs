// sql! rows are typed by docs/TYPING.md; run against the local backend.
use d1kit::local::{block_on, Database as Local};
use d1kit::{Database, Executor};

#[derive(Database)]
#[d1(name = "notes")]
struct Notes;

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
        let title: Option<&str> = Some("first");
        d1kit::sql!(
            notes,
            "INSERT INTO notes (owner_id, title, pinned) VALUES (?1, ?2, ?3)",
            1,
            title,
            true
        )
        .run(&db)
        .await
        .unwrap();
        let rows = d1kit::sql!(
            notes,
            "SELECT id, title, pinned, word_count, score, created_at FROM notes WHERE owner_id = ?1 LIMIT ?2",
            1,
            10
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
        let n = db
            .first(d1kit::sql!(notes, "SELECT count(*) AS n FROM notes"))
            .await
            .unwrap()
            .unwrap()
            .n;
        let _: i64 = n;
        assert_eq!(n, 1);
    });
}
