fn main() {
    let _ = d1kit::sql!(notes, "SELECT id FROM notes WHERE word_count > ?1", true);
}
