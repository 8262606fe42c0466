fn main() {
    let _ = d1kit::sql!(notes, "SELECT id, titel FROM notes WHERE owner_id = ?1", 1);
}
