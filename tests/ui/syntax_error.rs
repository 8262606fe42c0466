fn main() {
    let _ = d1kit::sql!(
        notes,
        "SELECT id, title FROM notes WHERE owner_id = ?1 ORDER id",
        1
    );
}
