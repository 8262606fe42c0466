fn main() {
    let _ = d1kit::sql!(notes, "SELECT id, substr() AS head FROM notes");
}
