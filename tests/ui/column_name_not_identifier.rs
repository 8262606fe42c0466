fn main() {
    let _ = d1kit::sql!(notes, "SELECT id AS \"note id\" FROM notes");
}
