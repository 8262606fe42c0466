fn main() {
    let _ = d1kit::sql!(notes, "SELECT x.id FROM notes n");
}
