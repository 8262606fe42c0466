fn main() {
    let _ = d1kit::sql!(notes, "SELECT id FROM notes WHERE title = ?1", 42);
}
