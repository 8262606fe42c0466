#[derive(d1kit::Query)]
#[d1(
    database = "notes",
    sql = "SELECT id FROM notes WHERE owner_id = :owner"
)]
struct NotesOf(i64);

fn main() {
    let _ = NotesOf(1).0;
}
