fn main() {
    let _ = d1kit::sql!(notes, "SELECT id, title FROM note WHERE owner_id = ?1", 1);
}
