#[derive(d1kit::Query)]
#[d1(
    database = "notes",
    sql = "SELECT id, title FROM notes WHERE owner_id = :owner"
)]
struct NotesOf {
    owner: String,
}

fn main() {
    let _ = NotesOf {
        owner: String::new(),
    };
}
