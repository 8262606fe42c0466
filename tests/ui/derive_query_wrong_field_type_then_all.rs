// A field whose type does not fit its parameter is one error, at the field: running the
// query adds none.
use d1kit::Query;

#[derive(d1kit::Query)]
#[d1(
    database = "notes",
    sql = "SELECT id, title FROM notes WHERE owner_id = :owner"
)]
struct NotesOf {
    owner: String,
}

fn main() {
    let db = d1kit::local::Database::open_in_memory().unwrap();
    let _ = d1kit::local::block_on(
        NotesOf {
            owner: String::new(),
        }
        .all(&db),
    );
}
