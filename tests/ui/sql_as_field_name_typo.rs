#[derive(d1kit::Row)]
struct Note {
    id: i64,
    titel: Option<String>,
}

fn main() {
    let _ = d1kit::sql_as!(notes, Note, "SELECT id, title FROM notes");
}
