#[derive(d1kit::Query)]
#[d1(
    databse = "notes",
    sql = "SELECT id, title FROM notes WHERE owner_id = :owner"
)]
struct NotesOf {
    owner: i64,
}

fn main() {
    let _ = NotesOf { owner: 1 };
}
