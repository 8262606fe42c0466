use d1kit::local::{block_on, Database as Local};
use d1kit::{Database, Executor, Row};

#[derive(Database)]
#[d1(name = "notes")]
struct Notes;

#[derive(Row, Debug, PartialEq)]
struct Note {
    id: i64,
    title: Option<String>,
    pinned: bool,
}

fn main() {
    let db = Local::open_in_memory().unwrap();
    db.migrate_to::<Notes>().unwrap();
    let rows: Vec<Note> = block_on(db.all(d1kit::sql_as!(
        notes,
        Note,
        "SELECT pinned, title, id FROM notes WHERE owner_id = ?1",
        1
    )))
    .unwrap();
    assert!(rows.is_empty());
}
