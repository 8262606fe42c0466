fn main() {
    let _ = d1kit::sql!(
        tracker,
        "UPDATE issues SET estimate = ?1 WHERE id = ?2",
        "3.5",
        1
    );
}
