struct NoteId(i64);

fn main() {
    let _ = NoteId(0).0;
    let _ = d1kit::sql!(notes, "SELECT id AS \"id: NoteId\" FROM notes");
}
