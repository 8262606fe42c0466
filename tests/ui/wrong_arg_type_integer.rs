fn main() {
    let owner = "alice";
    let _ = d1kit::sql!(notes, "SELECT id FROM notes WHERE owner_id = ?1", owner);
}
