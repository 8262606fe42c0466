#[derive(d1kit::Row)]
struct NoteWithTag {
    id: i64,
    tag_id: i64,
}

fn main() {
    let _ = d1kit::sql_as!(
        notes,
        NoteWithTag,
        "SELECT n.id, nt.tag_id FROM notes n LEFT JOIN note_tags nt ON nt.note_id = n.id"
    );
}
