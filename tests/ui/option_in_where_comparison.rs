fn main() {
    let title: Option<&str> = None;
    let _ = d1kit::sql!(notes, "SELECT id FROM notes WHERE title = ?1", title);
}
