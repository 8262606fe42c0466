fn main() {
    let _ = d1kit::sql!(note, "SELECT id FROM notes");
}
