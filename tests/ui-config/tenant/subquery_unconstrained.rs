fn main() {
    let _ = d1kit::sql!(
        "SELECT id FROM notes WHERE user_id = ?1 AND id IN (SELECT note_id FROM tags WHERE tag = ?2)",
        "u",
        "x"
    );
}
