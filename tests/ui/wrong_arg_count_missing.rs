fn main() {
    let _ = d1kit::sql!(
        notes,
        "SELECT id FROM notes WHERE owner_id = ?1 AND pinned = ?2",
        1
    );
}
