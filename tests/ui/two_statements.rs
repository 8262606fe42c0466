fn main() {
    let _ = d1kit::sql!(
        notes,
        "DELETE FROM notes WHERE id = ?1; DELETE FROM note_tags WHERE note_id = ?1",
        1
    );
}
