fn main() {
    let _ = d1kit::sql!(notes, "SELECT id FROM notes ORDER BY id LIMIT ?1", 2.5);
}
