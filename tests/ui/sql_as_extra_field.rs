#[derive(d1kit::Row)]
struct Note {
    id: i64,
    title: Option<String>,
    pinned: bool,
}

fn main() {
    let _ = d1kit::sql_as!(notes, Note, "SELECT id, title FROM notes");
}
