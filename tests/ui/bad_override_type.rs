fn main() {
    let _ = d1kit::sql!(notes, "SELECT id AS \"id: i64)\" FROM notes");
}
