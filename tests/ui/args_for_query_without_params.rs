fn main() {
    let _ = d1kit::sql!(notes, "SELECT id FROM notes", 1);
}
