fn main() {
    let _ = d1kit::sql!(
        tracker,
        "SELECT id, title FROM issues WHERE state = ?1",
        "open"
    );
}
