fn main() {
    let _ = d1kit::sql!(notes, "SELECT id AS \"id: NoteId\" FROM notes");
}
