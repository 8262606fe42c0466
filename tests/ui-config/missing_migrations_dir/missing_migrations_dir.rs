fn main() {
    let _ = d1kit::sql!(notes, "SELECT 1 AS one");
}
