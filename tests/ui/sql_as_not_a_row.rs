struct Note {
    id: i64,
}

fn main() {
    let _ = Note { id: 0 }.id;
    let _ = d1kit::sql_as!(notes, Note, "SELECT id FROM notes");
}
