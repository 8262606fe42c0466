// What a Durable Object's SQL accepts, checked like any database's: FTS5, the JSON
// functions, window functions, the allowed PRAGMAs, in `sql!`, `sql_as!` and
// `#[derive(Query)]`.
use d1kit::{Query, Row};

#[derive(Row)]
struct Hit {
    id: i64,
    title: String,
}

#[derive(Query)]
#[d1(sql = "SELECT id, title FROM notes WHERE id = :id")]
struct NoteById {
    id: i64,
}

fn main() {
    let _ = d1kit::sql!(
        "INSERT INTO notes (title, body, tags) VALUES (?1, ?2, json_array(?3)) RETURNING id",
        "groceries",
        "milk",
        "home"
    );
    let _ = d1kit::sql_as!(
        Hit,
        "SELECT n.id, n.title FROM notes_fts JOIN notes n ON n.id = notes_fts.rowid WHERE notes_fts MATCH ?1 ORDER BY bm25(notes_fts) LIMIT 20",
        "milk"
    );
    let _ = d1kit::sql!(
        "SELECT id, json_array_length(tags) AS tag_count, tags ->> '$[0]' AS first_tag, round(abs(id) / 3.0, 2) AS third, row_number() OVER (ORDER BY created_at) AS position FROM notes"
    );
    let _ = d1kit::sql!("SELECT value AS tag FROM notes, json_each(notes.tags) WHERE notes.id = ?1", 1);
    let _ = d1kit::sql!("PRAGMA table_info(notes)");
    let _ = d1kit::sql!("PRAGMA defer_foreign_keys = on");
    let _ = d1kit::sql!("PRAGMA optimize");
    let _ = NoteById { id: 1 };
}
