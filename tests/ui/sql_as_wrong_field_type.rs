#[derive(d1kit::Row)]
struct Note {
    id: i64,
    word_count: String,
}

fn main() {
    let _ = d1kit::sql_as!(notes, Note, "SELECT id, word_count FROM notes");
}
