fn main() {
    let _ = d1kit::sql!(tracker, "SELECT id, title FROM notes");
}
